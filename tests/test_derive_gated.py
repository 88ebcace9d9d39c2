"""Exact proof for the LSTM and the GRU: on an unrolled instance with symbolic entries, sympy.diff
of the loss equals the derived closed forms, entry by entry, for every parameter and initial
state.

The instance has T = 2 steps, H = 2, D = 2, K = 2, and every weight, bias, initial state, input
and label is its own symbol.  The sigmoid and tanh are undefined functions ``S`` and ``Th`` whose
derivatives are declared as ``S (1 - S)`` and ``1 - Th**2``, so the proof holds whatever SymPy
knows about them.  The closed forms are not typed here: they are the derivation steps of
:mod:`rnnmath.derive.lstm` and :mod:`rnnmath.derive.gru` (recursion, gate errors, stacking,
parameter gradients), evaluated on the instance.

All entries at once: every parameter entry theta_j is read as theta_j + epsilon v_j with its own
symbol v_j, and sympy.diff of the loss with respect to epsilon, at epsilon = 0, is
sum_j v_j dE/dtheta_j.  The closed forms must give the same polynomial in the v_j, which is the
claim for each entry separately.

Two losses:

* ``E = sum_t sum_k d_{t,k} z_{t,k}`` with symbols ``d``.  By the chain rule, the gradient of any
  loss ``sum_t l_t(z_t)`` is this one's at ``d = dl_t/dz_t``, so one proof covers every output
  loss; the closed forms read ``d`` as the output error delta^o.  Every entry of every parameter.
* The softmax cross-entropy itself, with delta^o taken from the cross-entropy derivation ("general"
  step, any label rows): every entry of V and c, so the output error is wired as derived.

Comparisons only expand, never simplify: both sides become sparse polynomials over the integers.
Every function application of the instance (S, Th, exp, and the identity ``Id`` that wraps each
state so it is computed once) becomes a fresh symbol, the same one on both sides, and so does
each softmax denominator 1 / sum_k exp(z_{t,k}).  Equal polynomials in those symbols stay equal
when the symbols are given their values, so agreement is a proof; a mistake shows up as a
difference in the coefficient of the v_j of the entry it affects.
"""
import itertools

import pytest
import sympy as sp
from sympy.polys.rings import ring

from rnnmath.derive import derivations, gru, lstm, rnn, softmax
from rnnmath.derive.softmax import cross_entropy
from rnnmath.derive.softmax import y as y1
from rnnmath.derive.softmax import yhat as yhat1

T, D, H, K = 2, 2, 2, 2
SIZES = {rnn.T: T, rnn.D: D, rnn.H: H, rnn.K: K}


class S(sp.Function):
    """The sigmoid, left undefined but for its derivative."""

    def fdiff(self, argindex=1):
        return self * (1 - self)


class Th(sp.Function):
    """tanh, left undefined but for its derivative."""

    def fdiff(self, argindex=1):
        return 1 - self ** 2


class Id(sp.Function):
    """The identity, kept unevaluated: a state computed once appears as one atom everywhere it is
    read, instead of being multiplied out again in every product that reads it."""

    def fdiff(self, argindex=1):
        return sp.S.One


ACT = {lstm.sigmoid: S, sp.tanh: Th}


def mat(name, rows, cols):
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}"))


def vec(name, rows):
    return sp.Matrix(rows, 1, lambda i, _: sp.Symbol(f"{name}_{i}"))


def blocks(v, n):
    return [v[i * H:(i + 1) * H, :] for i in range(n)]


# -- the unrolled instances ----------------------------------------------------------------------
EPS = sp.Symbol("epsilon")


def common(G, shift):
    """Symbolic parameters; ``shift`` maps an entry to what the forward pass reads instead."""
    def sym(m):
        return m.applyfunc(lambda e: shift.get(e, e))

    base = dict(weight_ih=mat("Wi", G * H, D), weight_hh=mat("Wh", G * H, H),
                bias_ih=vec("bi", G * H), bias_hh=vec("bh", G * H), V=mat("V", K, H),
                c=vec("c", K), h0=vec("h0", H), x=mat("x", T, D), y=mat("y", T, K),
                d=mat("d", T, K))
    if G == 4:
        base["c0"] = vec("C0", H)
    return base, {k: sym(v) for k, v in base.items()}


def finish(inst, used):
    """Logits, the two losses and the table of function applications."""
    logits = [None] + [used["V"] * inst["hs"][t] + used["c"] for t in range(1, T + 1)]
    inst["logits"] = logits
    inst["linear"] = sum(inst["d"][t - 1, k] * logits[t][k]
                         for t in range(1, T + 1) for k in range(K))
    ce = sp.S(0)
    for t in range(1, T + 1):
        lse = sp.log(sum(sp.exp(zk) for zk in logits[t]))
        ce += -sum(inst["y"][t - 1, k] * (logits[t][k] - lse) for k in range(K))
    inst["cross_entropy"] = ce
    # xreplace works from the top: an application is swapped whole, arguments included.
    found = {a for a in sp.preorder_traversal(ce) if isinstance(a, (S, Th, Id, sp.exp))}
    atoms = {a: sp.Symbol(f"u{n}") for n, a in enumerate(sorted(found, key=sp.default_sort_key))}
    # 1 / sum_k e^{z_tk}, the softmax denominators, as symbols too (both sides divide by them).
    inverse = {1 / sum(sp.exp(zk) for zk in logits[t]).xreplace(atoms): sp.Symbol(f"w{t}")
               for t in range(1, T + 1)}
    inst["atomize"] = lambda e: e.xreplace(atoms).xreplace(inverse)
    inst["symbols"] = set(atoms.values()) | set(inverse.values())
    return inst


def build_lstm(shift=None):
    """The unrolled LSTM; with ``shift``, the forward pass reads the shifted parameters."""
    inst, used = common(4, shift or {})
    hs, cs, gates = [used["h0"]], [used["c0"]], [None]
    for t in range(1, T + 1):
        A = (used["weight_ih"] * inst["x"][t - 1, :].T + used["bias_ih"]
             + used["weight_hh"] * hs[-1] + used["bias_hh"])
        a = dict(zip(lstm.GATES, blocks(A, 4)))
        g = {n: a[n].applyfunc(Th if n == "g" else S) for n in lstm.GATES}
        cs.append((g["f"].multiply_elementwise(cs[-1])
                   + g["i"].multiply_elementwise(g["g"])).applyfunc(Id))
        hs.append(g["o"].multiply_elementwise(cs[-1].applyfunc(Th)).applyfunc(Id))
        gates.append(g)
    inst.update(hs=hs, cs=cs, gates=gates)
    return finish(inst, used)


def build_gru(shift=None):
    """The unrolled GRU; with ``shift``, the forward pass reads the shifted parameters."""
    inst, used = common(3, shift or {})
    hs, gates, etas = [used["h0"]], [None], [None]
    for t in range(1, T + 1):
        xi = dict(zip(gru.GATES, blocks(used["weight_ih"] * inst["x"][t - 1, :].T
                                        + used["bias_ih"], 3)))
        eta = dict(zip(gru.GATES, blocks(used["weight_hh"] * hs[-1] + used["bias_hh"], 3)))
        r = (xi["r"] + eta["r"]).applyfunc(S)
        z = (xi["z"] + eta["z"]).applyfunc(S)
        n = (xi["n"] + r.multiply_elementwise(eta["n"])).applyfunc(Th)
        hs.append(((sp.ones(H, 1) - z).multiply_elementwise(n)
                   + z.multiply_elementwise(hs[-1])).applyfunc(Id))
        gates.append({"r": r, "z": z, "n": n})
        etas.append(eta)
    inst.update(hs=hs, gates=gates, etas=etas)
    return finish(inst, used)


BUILD = {"lstm": build_lstm, "gru": build_gru}


# -- the derivation, evaluated on an instance ----------------------------------------------------
def ce_delta_o(inst, t, k):
    """dE_t/dz_{t,k} from the cross-entropy derivation ("general" step), on the instance."""
    z = inst["logits"][t]
    total = sum(sp.exp(zk) for zk in z)
    e = cross_entropy()["general"].expr.rhs.subs({softmax.j: k, softmax.K: K}).doit()
    e = e.replace(lambda a: isinstance(a, sp.Indexed) and a.base == yhat1,
                  lambda a: sp.exp(z[int(a.indices[0]) - 1]) / total)
    return e.replace(lambda a: isinstance(a, sp.Indexed) and a.base == y1,
                     lambda a: inst["y"][t - 1, int(a.indices[0]) - 1])


class Closed:
    """Index-level derivation formulas evaluated on an instance, as sparse polynomials in ``R``.

    Instance values (parameters, states, gates, output errors) enter with every function
    application as its atom symbol; ``table`` maps further bases (the recursion's signals) to
    lookups ``[t, row] -> polynomial``.
    """

    def __init__(self, inst, gate_bases, loss, R):
        self.inst, self.R, self.cache = inst, R, {}
        value = self.value
        self.table = {}
        for base, name in ((lstm.Wih, "weight_ih"), (lstm.Whh, "weight_hh"), (rnn.V, "V")):
            self.table[base] = lambda i, name=name: value(inst[name][i[0] - 1, i[1] - 1])
        for base, name in ((lstm.bih, "bias_ih"), (lstm.bhh, "bias_hh"), (rnn.c, "c")):
            self.table[base] = lambda i, name=name: value(inst[name][i[0] - 1])
        self.table[rnn.x] = lambda i: value(inst["x"][i[0] - 1, i[1] - 1])
        self.table[lstm.h] = lambda i: value(inst["hs"][i[0]][i[1] - 1])
        if loss == "linear":
            self.table[rnn.delta_o] = lambda i: value(inst["d"][i[0] - 1, i[1] - 1])
        else:
            self.table[rnn.delta_o] = lambda i: value(ce_delta_o(inst, *i))
        for n, base in gate_bases.items():
            # No gate follows the last step; its factor always meets a zero signal there.
            self.table[base] = (lambda i, n=n: value(inst["gates"][i[0]][n][i[1] - 1])
                                if i[0] <= T else R.zero)
        self.original = {lstm.C: lambda i: inst["cs"][i[0]][i[1] - 1]}
        self.table[lstm.C] = lambda i: value(self.original[lstm.C](i))

    def value(self, e):
        """An instance value as a polynomial (cached: states recur in many formulas)."""
        if e not in self.cache:
            self.cache[e] = self.R.from_expr(self.inst["atomize"](sp.sympify(e)))
        return self.cache[e]

    def __call__(self, expr, free):
        return self.walk(expr.subs(SIZES).subs(free).doit())

    def walk(self, e):
        R = self.R
        if e.is_Integer:
            return R(int(e))
        if isinstance(e, sp.Indexed):
            return self.table[e.base]([int(i) for i in e.indices])
        if isinstance(e, sp.Add):
            return sum((self.walk(a) for a in e.args), R.zero)
        if isinstance(e, sp.Mul):
            out = R.one
            for a in e.args:
                out *= self.walk(a)
            return out
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            return self.walk(e.base) ** int(e.exp)
        if isinstance(e, sp.Function) and type(e) in ACT:
            # A function of an instance entry (tanh(C[t, q])) is the instance's own atom.
            (arg,) = e.args
            inner = arg.replace(lambda a: isinstance(a, sp.Indexed),
                                lambda a: self.original[a.base]([int(i) for i in a.indices]))
            return self.value(ACT[type(e)](inner))
        raise TypeError(f"cannot evaluate {e!r} on the instance")


def stack(step_expr, piece):
    """A stacked signal from a stacking step (lhs: base[t, row(q)], rhs: its pieces at [t, q])."""
    rows = {}
    for q in range(1, H + 1):
        for left, right in zip(step_expr.lhs, step_expr.rhs):
            rows[int(left.indices[1].subs({rnn.q: q, rnn.H: H}))] = piece(right, q)
    return [rows[r] for r in range(1, len(rows) + 1)]


def lstm_closed(inst, loss, R):
    """The LSTM recursion of the derivation, run from t = T down to 1 on the instance."""
    cell = lstm.cell()
    ev = Closed(inst, lstm.gate, loss, R)
    hbar, Cbar, Abar, abar = {}, {T + 1: [R.zero] * H}, {T + 1: [R.zero] * (4 * H)}, {}
    ev.table.update({lstm.hbar: lambda i: hbar[i[0]][i[1] - 1],
                     lstm.Cbar: lambda i: Cbar[i[0]][i[1] - 1],
                     lstm.Abar: lambda i: Abar[i[0]][i[1] - 1]})
    ev.table.update({lstm.pre_bar[n]: (lambda i, n=n: abar[i[0]][n][i[1] - 1])
                     for n in lstm.GATES})
    for t in range(T, 0, -1):
        def at(name, t=t):
            return [ev(cell[name].expr.rhs, {rnn.t: t, rnn.q: q}) for q in range(1, H + 1)]
        hbar[t] = at("total_h")
        Cbar[t] = at("total_C")
        abar[t] = {n: at(f"gate_{n}") for n in lstm.GATES}
        Abar[t] = stack(cell["stack"].expr, lambda e, q, t=t: ev(e, {rnn.t: t, rnn.q: q}))
    return ev


def gru_closed(inst, loss, R):
    """The GRU recursion of the derivation, run from t = T down to 1 on the instance."""
    cell = gru.cell()
    ev = Closed(inst, gru.gate, loss, R)
    hbar, eta_bar, xi_bar = {T + 1: [R.zero] * H}, {T + 1: [R.zero] * (3 * H)}, {}
    gbar, abar = {}, {}
    ev.table.update({lstm.hbar: lambda i: hbar[i[0]][i[1] - 1],
                     gru.eta_bar: lambda i: eta_bar[i[0]][i[1] - 1],
                     gru.xi_bar: lambda i: xi_bar[i[0]][i[1] - 1],
                     gru.eta_g["n"]: lambda i: ev.value(inst["etas"][i[0]]["n"][i[1] - 1])})
    ev.table.update({gru.pre_bar[n]: (lambda i, n=n: abar[i[0]][n][i[1] - 1])
                     for n in gru.GATES})
    ev.table.update({gru.gate_bar[n]: (lambda i, n=n: gbar[i[0]][n][i[1] - 1])
                     for n in gru.GATES})
    for t in range(T, 0, -1):
        def at(name, t=t):
            return [ev(cell[name].expr.rhs, {rnn.t: t, rnn.q: q}) for q in range(1, H + 1)]
        hbar[t] = at("total_h")
        gbar[t], abar[t] = {}, {}
        for n in ("n", "z", "r"):  # in this order: r needs the candidate's error
            gbar[t][n] = at(f"bar_{n}")
            abar[t][n] = at(f"gate_{n}")
        for name, table in (("stack_input", xi_bar), ("stack_hidden", eta_bar)):
            table[t] = stack(cell[name].expr, lambda e, q, t=t: ev(e, {rnn.t: t, rnn.q: q}))
    return ev


# -- the proof -----------------------------------------------------------------------------------
CASES = {
    "lstm": [("weight_ih", "dW_ih", "matrix"), ("weight_hh", "dW_hh", "matrix"),
             ("bias_ih", "db_ih", "row"), ("bias_hh", "db_hh", "row"), ("V", "dV", "matrix"),
             ("c", "dc", "row"), ("h0", "dh0", "state"), ("c0", "dC0", "state")],
    "gru": [("weight_ih", "dW_ih", "matrix"), ("weight_hh", "dW_hh", "matrix"),
            ("bias_ih", "db_ih", "row"), ("bias_hh", "db_hh", "row"), ("V", "dV", "matrix"),
            ("c", "dc", "row"), ("h0", "dh0", "state")],
}


def entries(matrix, kind):
    """(symbol, free-index values) for every entry of a parameter."""
    out = []
    for i, j in itertools.product(range(matrix.rows), range(matrix.cols)):
        free = ({rnn.p: i + 1, rnn.q: j + 1} if kind == "matrix"
                else {rnn.p: i + 1} if kind == "row" else {rnn.q: i + 1})
        out.append((matrix[i, j], free))
    return out


def direction(symbol):
    return sp.Symbol(f"v_{symbol}")


def prove(cell, loss, params):
    """Every entry of ``params`` at once: the derivative of E(theta + epsilon v) at epsilon = 0,
    with a symbol v_j per entry, is sum_j v_j dE/dtheta_j, a polynomial whose coefficient of v_j
    is the partial derivative of entry j.  Returns how many entries were compared."""
    base = BUILD[cell]()
    cases = [c for c in CASES[cell] if c[0] in params]
    shift = {sym: sym + EPS * direction(sym) for name, _, _ in cases for sym in base[name]}
    moved = BUILD[cell](shift)
    exact = base["atomize"](sp.diff(moved[loss], EPS).xreplace({EPS: 0}))
    unused = "y" if loss == "linear" else "d"
    gens = ({e for name, m in base.items() if isinstance(m, sp.MatrixBase) and name != unused
             for e in m} | base["symbols"] | {direction(sym) for sym in shift})
    gens = sorted(gens, key=str)
    R = ring(gens, sp.ZZ)[0]
    closed = (lstm_closed if cell == "lstm" else gru_closed)(base, loss, R)
    derived = []
    for name, step, kind in cases:
        rhs = derivations()[f"{cell}.hidden"][step].expr.rhs
        derived += [(direction(sym), closed(rhs, free)) for sym, free in entries(base[name], kind)]
    gap = R.from_expr(exact) - sum((R(v) * e for v, e in derived), R.zero)
    wrong = [str(v) for v, _ in derived if gap.degree(R(v)) > 0]
    assert gap == 0, f"{cell}: d E/d theta differs from the closed form for {wrong or gap}"
    return len(derived)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_entry_for_any_output_loss(cell):
    """Linear output loss with symbolic output errors d: every entry of every parameter."""
    G = {"lstm": 4, "gru": 3}[cell]
    states = 2 if cell == "lstm" else 1
    # weight_ih, weight_hh, bias_ih, bias_hh, V, c, h0 (and c0)
    every = G * H * D + G * H * H + 2 * G * H + K * H + K + states * H
    assert prove(cell, "linear", [name for name, _, _ in CASES[cell]]) == every


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_output_error_is_the_cross_entropy_one(cell):
    """With the softmax cross-entropy itself and delta^o from its derivation: V and c."""
    assert prove(cell, "cross_entropy", ["V", "c"]) == (K * H + K)


def _patched(derivation, name, rhs):
    """The derivation with step ``name`` given another right-hand side (restored on exit)."""
    class Patch:
        def __enter__(self):
            self.original = derivation.steps
            object.__setattr__(derivation, "steps", tuple(
                s if s.name != name else type(s)(s.name, s.caption, sp.Eq(s.expr.lhs, rhs),
                                                 s.result) for s in self.original))

        def __exit__(self, *exc):
            object.__setattr__(derivation, "steps", self.original)
    return Patch()


def test_a_wrong_closed_form_is_caught():
    """The proof can fail: without the cell path C-bar_{t+1} f_{t+1}, or with the GRU's
    hidden-side error taken equal to its input-side one (no r_t in the candidate block)."""
    lstm_cell = lstm.cell()
    no_cell_path = lstm_cell["total_C"].expr.rhs.subs(lstm.Cbar[rnn.t + 1, rnn.q], 0)
    with _patched(lstm_cell, "total_C", no_cell_path):
        with pytest.raises(AssertionError, match=r"v_Wh_\d\d"):
            prove("lstm", "linear", ["weight_hh"])
    gru_cell = gru.cell()
    with _patched(gru_cell, "stack_hidden", gru_cell["stack_input"].expr.rhs):
        with pytest.raises(AssertionError, match=r"v_bh_[45]"):
            prove("gru", "linear", ["bias_hh"])
