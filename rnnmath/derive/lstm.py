r"""LSTM backpropagation through time, derived entry by entry with SymPy.

Model (PyTorch's ``nn.LSTM`` layout, column vectors, :math:`t = 1..T`, gates stacked i, f, g, o):

.. math::
    A_t = W^{ih} x_t + b^{ih} + W^{hh} h_{t-1} + b^{hh} = (a^i_t; a^f_t; a^g_t; a^o_t),\\
    i_t = \sigma(a^i_t),\ f_t = \sigma(a^f_t),\ g_t = \tanh(a^g_t),\ o_t = \sigma(a^o_t),\\
    C_t = f_t \odot C_{t-1} + i_t \odot g_t,\quad h_t = o_t \odot \tanh(C_t),\quad
    z_t = V h_t + c.

The cell state is written :math:`C_t` (PyTorch's ``c_t``) so that :math:`c` stays the output
bias of the vanilla model.  Every gradient is ``sympy.diff`` of these index-level equations
followed by :func:`~rnnmath.derive._index.collapse`; the results are then written with the stored
gate outputs (:math:`\sigma(a^f_t) = f_t`, ...), which is what the generated code reads.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from ._index import collapse
from .rnn import D, H, K, T, _eq, _label, _param_gradient, delta_o, k, q, t, token, x
from .rnn import V, c
from .rnn import j_, l_
from .steps import Derivation, Step


class sigmoid(sp.Function):
    r"""The logistic function :math:`\sigma(a) = 1/(1 + e^{-a})`, with :math:`\sigma' = \sigma(1-\sigma)`.

    :mod:`rnnmath.codegen` prints it as ``_sigmoid(...)``, which the generated module defines.
    """

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _latex(self, printer, exp=None):
        out = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return out if exp is None else f"{out}^{{{exp}}}"


# Stacked row index of the weights (1..G H); also the dummy of sums over stacked rows.
m = sp.Symbol("m", integer=True, positive=True)

# PyTorch's parameter names; the GRU uses the same ones.
Wih, Whh = sp.IndexedBase("W^{ih}"), sp.IndexedBase("W^{hh}")
bih, bhh = sp.IndexedBase("b^{ih}"), sp.IndexedBase("b^{hh}")
h = sp.IndexedBase("h")
hbar = sp.IndexedBase(r"\bar{h}")                # dE/dh_t with C_t held fixed (total otherwise)

C = sp.IndexedBase("C")                          # cell state
Cbar = sp.IndexedBase(r"\bar{C}")                # dE/dC_t, total derivative
A = sp.IndexedBase("A")                          # stacked pre-activation (4H rows)
Abar = sp.IndexedBase(r"\bar{A}")                # dE/dA_t, the stacked gate error

GATES = ("i", "f", "g", "o")                     # PyTorch's order of the row blocks
ACT = {"i": sigmoid, "f": sigmoid, "g": sp.tanh, "o": sigmoid}
gate = {n: sp.IndexedBase(n) for n in GATES}                      # gate outputs
pre = {n: sp.IndexedBase(f"a^{{{n}}}") for n in GATES}            # gate pre-activations
pre_bar = {n: sp.IndexedBase(rf"\bar{{a}}^{{{n}}}") for n in GATES}  # dE/da^n
G = len(GATES)


# ---------------------------------------------------------------------------------------------
# Helpers shared with the GRU
# ---------------------------------------------------------------------------------------------
def as_functions(expr, gates, pres, acts):
    """Gate outputs written as functions of their pre-activations: ``f[t, q] -> sigmoid(a^f[t, q])``."""
    lookup = {gates[n]: n for n in gates}
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in lookup,
                        lambda e: acts[lookup[e.base]](pres[lookup[e.base]][e.indices]))


def in_gates(expr, gates, pres, acts):
    """The reverse: ``sigmoid(a^f[t, q]) -> f[t, q]``, the form the generated code reads."""
    lookup = {pres[n]: n for n in pres}

    def is_gate(e):
        return (isinstance(e, sp.Function) and len(e.args) == 1
                and isinstance(e.args[0], sp.Indexed) and e.args[0].base in lookup
                and e.func == acts[lookup[e.args[0].base]])

    return expr.replace(is_gate, lambda e: gates[lookup[e.args[0].base]][e.args[0].indices])


def tidy(expr, signals):
    """Collect an expanded linear form by its error signals and factor each coefficient.

    ``h o - h o tanh(C)^2`` becomes ``h o (1 - tanh(C)^2)``: the same expression, grouped as the
    generated code multiplies it.
    """
    return sp.collect(sp.expand(expr), list(signals), func=sp.factor_terms)


def chain(signal, outputs, wrt, bounds, inner, size):
    """``sum_inner signal[inner] * d outputs(inner) / d wrt``, collapsed."""
    return collapse(sp.Sum(signal(inner) * sp.diff(outputs(inner), wrt), (inner, 1, size)),
                    bounds)


def split(expr, recurrent):
    """(terms without any of ``recurrent``, terms with one)."""
    terms = sp.Add.make_args(sp.expand(expr))
    inner = [e for e in terms if any(e.has(r) for r in recurrent)]
    outer = [e for e in terms if not any(e.has(r) for r in recurrent)]
    return sp.Add(*outer), sp.Add(*inner)


def grad_label(name: str):
    return _label(r"\frac{\partial E}{\partial " + name + "}")


# ---------------------------------------------------------------------------------------------
# The model, one entry at a time
# ---------------------------------------------------------------------------------------------
def A_entry(tt, row):
    """Stacked pre-activation entry :math:`A_{t,row}`, ``row`` in 1..4H."""
    return (sp.Sum(Wih[row, l_] * x[tt, l_], (l_, 1, D)) + bih[row]
            + sp.Sum(Whh[row, j_] * h[tt - 1, j_], (j_, 1, H)) + bhh[row])


def z_entry(tt, row):
    """Logit entry :math:`z_{t,row}` (the vanilla output layer, reading :math:`h_t`)."""
    return sp.Sum(V[row, j_] * h[tt, j_], (j_, 1, H)) + c[row]


def cell_entry(tt, row):
    """:math:`C_{t,row} = f_{t,row} C_{t-1,row} + i_{t,row} g_{t,row}` (gate outputs)."""
    return gate["f"][tt, row] * C[tt - 1, row] + gate["i"][tt, row] * gate["g"][tt, row]


def hidden_entry(tt, row):
    """:math:`h_{t,row} = o_{t,row}\\tanh(C_{t,row})`."""
    return gate["o"][tt, row] * sp.tanh(C[tt, row])


def fn(expr):
    return as_functions(expr, gate, pre, ACT)


def state(expr):
    return in_gates(expr, gate, pre, ACT)


QH = {q: (1, H)}


@cache
def forward() -> Derivation:
    """The forward equations, in PyTorch's layout."""
    blocks = sp.Tuple(*(pre[n][t, q] for n in GATES))
    rows = sp.Tuple(*(A[t, i * H + q] for i in range(G)))
    gates = sp.Tuple(*(gate[n][t, q] for n in GATES))
    return Derivation("lstm.forward", "LSTM forward pass", (
        Step("preactivation", r"All four gates at once: row $m$ of `weight_ih` $W^{ih}$ "
             r"($4H \times D$) and `weight_hh` $W^{hh}$ ($4H\times H$), as PyTorch stacks them.",
             sp.Eq(A[t, m], A_entry(t, m))),
        Step("blocks", r"The row blocks, in PyTorch's order: input gate $i$, forget gate $f$, "
             r"candidate $g$, output gate $o$.", _eq(blocks, rows)),
        Step("gates", r"Sigmoid for the three gates, $\tanh$ for the candidate.",
             _eq(gates, sp.Tuple(*(fn(gate[n][t, q]) for n in GATES)))),
        Step("cell", r"The forget gate scales the previous cell state; the input gate scales "
             r"the candidate.", sp.Eq(C[t, q], cell_entry(t, q))),
        Step("hidden", r"The output gate scales the squashed cell state.",
             sp.Eq(h[t, q], hidden_entry(t, q))),
        Step("logits", r"The output layer of the vanilla model, reading $h_t$.",
             sp.Eq(sp.Symbol("z_{t k}"), z_entry(t, k))),
    )).fit_a_phone()


@cache
def cell() -> Derivation:
    """Backward through one cell: the total derivatives and the four gate errors."""
    through_z = chain(lambda kk: delta_o[t, kk], lambda kk: z_entry(t, kk), h[t, q],
                      {q: (1, H), k: (1, K)}, k, K)
    through_A = chain(lambda mm: Abar[t + 1, mm], lambda mm: A_entry(t + 1, mm), h[t, q],
                      {q: (1, H), m: (1, G * H)}, m, G * H)
    total_h = through_z + through_A
    j = j_
    through_h = chain(lambda jj: hbar[t, jj], lambda jj: fn(hidden_entry(t, jj)), C[t, q],
                      {q: (1, H), j: (1, H)}, j, H)
    through_next = chain(lambda jj: Cbar[t + 1, jj], lambda jj: fn(cell_entry(t + 1, jj)), C[t, q],
                         {q: (1, H), j: (1, H)}, j, H)
    total_C = tidy(state(through_h + through_next), [hbar[t, q], Cbar[t + 1, q]])
    errors = {}
    for n in GATES:
        if n == "o":
            raw = chain(lambda jj: hbar[t, jj], lambda jj: fn(hidden_entry(t, jj)), pre[n][t, q],
                        {q: (1, H), j: (1, H)}, j, H)
        else:
            raw = chain(lambda jj: Cbar[t, jj], lambda jj: fn(cell_entry(t, jj)), pre[n][t, q],
                        {q: (1, H), j: (1, H)}, j, H)
        errors[n] = tidy(state(raw), [hbar[t, q], Cbar[t, q]])
    words = {"i": "The input gate reaches $E$ only through $C_t$.",
             "f": "The forget gate multiplies the previous cell state.",
             "g": r"The candidate: $\tanh' = 1 - \tanh^2$, read off the stored $g_t$.",
             "o": r"The output gate reaches $E$ only through $h_t$, with $C_t$ fixed."}
    steps = [
        Step("total_h", r"$h_t$ reaches $E$ through its logits $z_t$ and through all four "
             r"pre-activations $A_{t+1}$ of the next step. $\bar h_t$ holds $C_t$ fixed: the "
             r"path through the cell is counted in $\bar C_t$.",
             sp.Eq(_label(r"\bar{h}_{t q} = \frac{\partial E}{\partial h_{t q}}"), total_h),
             result=True),
        Step("total_C", r"$C_t$ reaches $E$ through $h_t = o_t \odot \tanh C_t$ and through the "
             r"next cell $C_{t+1} = f_{t+1}\odot C_t + \dots$; the total derivative adds both. "
             r"The recursion starts from $\bar A_{T+1} = 0$, $\bar C_{T+1} = 0$.",
             sp.Eq(_label(r"\bar{C}_{t q} = \frac{\partial E}{\partial C_{t q}}"), total_C),
             result=True),
    ]
    for n in GATES:
        steps.append(Step(f"gate_{n}", words[n] + " Written with the stored gate outputs.",
                          sp.Eq(_label(rf"\bar{{a}}^{{{n}}}_{{t q}} = \frac{{\partial E}}"
                                       rf"{{\partial a^{{{n}}}_{{t q}}}}"), errors[n]),
                          result=True))
    steps.append(Step("stack", r"Stacked in PyTorch's order, the gate errors form "
                      r"$\bar A_t = \partial E/\partial A_t$, which every weight gradient reads.",
                      _eq(sp.Tuple(*(Abar[t, i * H + q] for i in range(G))),
                          sp.Tuple(*(pre_bar[n][t, q] for n in GATES)))))
    return Derivation("lstm.cell", "LSTM: backward through one cell", tuple(steps)).fit_a_phone()


@cache
def hidden() -> Derivation:
    """Parameter and initial-state gradients from the stacked gate error."""
    stacked = (1, G * H)
    _, dwih = _param_gradient(Wih, stacked, (1, D), A_entry, m, stacked, Abar)
    _, dwhh = _param_gradient(Whh, stacked, (1, H), A_entry, m, stacked, Abar)
    _, dbih = _param_gradient(bih, stacked, None, A_entry, m, stacked, Abar)
    _, dbhh = _param_gradient(bhh, stacked, None, A_entry, m, stacked, Abar)
    _, dv = _param_gradient(V, (1, K), (1, H), z_entry, k, (1, K), delta_o)
    _, dc = _param_gradient(c, (1, K), None, z_entry, k, (1, K), delta_o)
    one_hot = dwih.subs(x[t, q], sp.KroneckerDelta(q, token[t]))
    dh0 = chain(lambda mm: Abar[1, mm], lambda mm: A_entry(1, mm), h[0, q],
                {q: (1, H), m: stacked}, m, G * H)
    dc0 = state(chain(lambda jj: Cbar[1, jj], lambda jj: fn(cell_entry(1, jj)), C[0, q],
                      {q: (1, H), j_: (1, H)}, j_, H))
    return Derivation("lstm.hidden", "LSTM: gradients of the parameters and initial states", (
        Step("dW_ih", r"Every step's stacked gate error against its input.",
             sp.Eq(grad_label("W^{ih}_{p q}"), sp.Sum(dwih, (t, 1, T))), result=True),
        Step("dW_ih_one_hot", r"With one-hot inputs $x_{t,q} = [q = \iota_t]$, column "
             r"$\iota_t$ receives $\bar A_t$.",
             sp.Eq(grad_label("W^{ih}_{p q}"), sp.Sum(one_hot, (t, 1, T))), result=True),
        Step("dW_hh", r"Against the previous hidden state, which the step multiplied.",
             sp.Eq(grad_label("W^{hh}_{p q}"), sp.Sum(dwhh, (t, 1, T))), result=True),
        Step("db_ih", r"Both biases enter every pre-activation with coefficient one, so their "
             r"gradients are equal.",
             sp.Eq(grad_label("b^{ih}_{p}"), sp.Sum(dbih, (t, 1, T))), result=True),
        Step("db_hh", r"The same sum.",
             sp.Eq(grad_label("b^{hh}_{p}"), sp.Sum(dbhh, (t, 1, T))), result=True),
        Step("dV", r"The output layer, as in the vanilla model, against $h_t$.",
             sp.Eq(grad_label("V_{p q}"), sp.Sum(dv, (t, 1, T))), result=True),
        Step("dc", r"The output bias.", sp.Eq(grad_label("c_{p}"), sp.Sum(dc, (t, 1, T))),
             result=True),
        Step("dh0", r"The initial hidden state feeds only the pre-activations of step 1.",
             sp.Eq(grad_label("h_{0 q}"), dh0), result=True),
        Step("dC0", r"The initial cell state feeds only $C_1$, through the forget gate.",
             sp.Eq(grad_label("C_{0 q}"), dc0), result=True),
    )).fit_a_phone()


# ---------------------------------------------------------------------------------------------
# Truncated BPTT: the same recursion, split by how many steps an error has travelled
# ---------------------------------------------------------------------------------------------
def lag_base(base, lag: str):
    return sp.IndexedBase(f"{base.label}^{{({lag})}}")


def _relag(expr, mapping):
    """Replace time-shifted signals: ``{(base, shift): new_base}`` (shift 0 or 1)."""
    def hit(e):
        return (isinstance(e, sp.Indexed)
                and any(e.base == b and sp.expand(e.indices[0] - t) == s for b, s in mapping))

    def swap(e):
        s = int(sp.expand(e.indices[0] - t))
        return mapping[(e.base, s)][e.indices]

    return expr.replace(hit, swap)


@cache
def truncated() -> Derivation:
    """Lags: the part of the recursion that carries E_{t+j} back to step t."""
    cellv = cell()
    total_h, total_C = cellv["total_h"].expr.rhs, cellv["total_C"].expr.rhs
    lag0_h, rec_h = split(total_h, [Abar])           # without / with the next step's signal
    own_C, _ = split(total_C, [Cbar])
    h0_, C0_ = lag_base(hbar, "0"), lag_base(Cbar, "0")
    hj, Cj = lag_base(hbar, "j"), lag_base(Cbar, "j")
    Aj1, Cj1 = lag_base(Abar, "j-1"), lag_base(Cbar, "j-1")
    lag0_C = tidy(_relag(own_C, {(hbar, 0): h0_}), [h0_[t, q]])
    lagj_h = _relag(rec_h, {(Abar, 1): Aj1})
    lagj_C = tidy(_relag(total_C, {(hbar, 0): hj, (Cbar, 1): Cj1}), [hj[t, q], Cj1[t + 1, q]])
    kk = sp.Symbol(r"\kappa", integer=True, nonnegative=True)  # truncation length
    jj = sp.Symbol("j", integer=True, nonnegative=True)
    return Derivation("lstm.truncated", "LSTM: truncated BPTT", (
        Step("lag0_h", r"Lag 0: the error of $E_t$ at its own step, the part of $\bar h_t$ "
             r"without $\bar A_{t+1}$.", sp.Eq(h0_[t, q], lag0_h)),
        Step("lag0_C", r"Lag 0 of the cell: only the path through $h_t$.",
             sp.Eq(C0_[t, q], lag0_C)),
        Step("lagj_h", r"Lag $j \ge 1$: the error of $E_{t+j}$, carried back one more step "
             r"through the next pre-activations.", sp.Eq(hj[t, q], lagj_h)),
        Step("lagj_C", r"And through the next cell state. Each lag's gate errors "
             r"$\bar A^{(j)}_t$ follow from $\bar h^{(j)}_t$ and $\bar C^{(j)}_t$ by the gate "
             r"formulas, which are linear in them.", sp.Eq(Cj[t, q], lagj_C)),
        Step("truncated", r"Keep lags $0..\kappa$ ($\kappa + 1$ terms per $E_t$, counted in steps whether "
             r"the error travels through $h$ or through $C$). The gradients of $W^{ih}$, "
             r"$W^{hh}$, $b^{ih}$, $b^{hh}$, $h_0$ and $C_0$ use $\tilde A_t$ and "
             r"$\tilde C_1$; with $\kappa \ge T - 1$ nothing is dropped: full BPTT.",
             _eq(sp.Tuple(_label(r"\tilde{A}_{t}"), _label(r"\tilde{C}_{t}")),
                 sp.Tuple(sp.Sum(_label(r"\bar{A}^{(j)}_{t}"), (jj, 0, sp.Min(kk, T - t))),
                          sp.Sum(_label(r"\bar{C}^{(j)}_{t}"), (jj, 0, sp.Min(kk, T - t))))),
             result=True),
    )).fit_a_phone()


def derivations() -> list[Derivation]:
    return [forward(), cell(), hidden(), truncated()]
