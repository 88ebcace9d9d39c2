"""Exact proof: on an unrolled instance with symbolic entries, sympy.diff of the fully expanded loss
equals the derived closed forms, entry by entry, for every parameter.

The activation is an undefined function ``f`` whose derivative is another undefined function
``fp``, so one proof covers every differentiable activation.  The closed forms are not typed here:
they are the derivation steps of :mod:`rnnmath.derive.rnn` and :mod:`rnnmath.derive.softmax`,
evaluated on the instance.
"""
import itertools
from functools import lru_cache

import pytest
import sympy as sp

from rnnmath.derive import outputs, rnn, softmax
from rnnmath.derive.softmax import cross_entropy
from rnnmath.derive.softmax import y as y1
from rnnmath.derive.softmax import yhat as yhat1

T, D, H, K = 3, 2, 2, 3


class fp(sp.Function):
    """f', left undefined."""


class f(sp.Function):
    """An arbitrary differentiable activation."""

    def fdiff(self, argindex=1):
        return fp(self.args[0])


def mat(name, rows, cols):
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}"))


def build(output="softmax"):
    """Parameters, inputs, labels, unrolled states and the expanded loss.

    ``"sigmoid+mask"``: sigmoid outputs with binary cross-entropy (its derived log-free form),
    each step weighted by a symbolic m_t.
    """
    U, W, V = mat("U", H, D), mat("W", H, H), mat("V", K, H)
    b, c, s0 = mat("b", H, 1), mat("c", K, 1), mat("s0", H, 1)
    x, y = mat("x", T, D), mat("y", T, K)
    states, logits, loss = [s0], [], sp.S(0)
    for t in range(T):
        a = U * x[t, :].T + W * states[-1] + b
        states.append(a.applyfunc(f))
        z = V * states[-1] + c
        logits.append(z)
        if output == "softmax":
            lse = sp.log(sum(sp.exp(zk) for zk in z))
            loss += -sum(y[t, k] * (z[k] - lse) for k in range(K))
        else:
            stable = outputs.sigmoid_cross_entropy()["stable"].expr.rhs
            loss += masks[t] * sum(stable.subs({outputs.z: z[k], outputs.y: y[t, k]})
                                   for k in range(K))
    return dict(U=U, W=W, V=V, b=b, c=c, s0=s0, x=x, y=y, states=states, logits=logits,
                loss=loss, output=output)


masks = sp.symbols(f"m_1:{T + 1}", positive=True)


@pytest.fixture(scope="module")
def instance():
    return build()


def closed_forms(inst):
    """Evaluate the derivation's result steps on the instance (1-based time as in the math)."""
    general = cross_entropy()["general"].expr.rhs            # dE_t/dz_j for one step
    sizes = {rnn.T: T, rnn.D: D, rnn.H: H, rnn.K: K}
    states, logits, y = inst["states"], inst["logits"], inst["y"]

    def delta_o(t, k):
        z = logits[t - 1]
        if inst["output"] != "softmax":  # m_t (yhat - y), yhat = e^z / (1 + e^z) = sigmoid(z)
            masked = outputs.step_mask()["gradient"].expr.rhs.subs(
                sp.Symbol(r"\delta^{o}_{t}"), outputs.sigmoid_cross_entropy()["result"].expr.rhs)
            return masked.subs({outputs.m: masks[t - 1], outputs.y: y[t - 1, k - 1],
                                outputs.yhat: sp.exp(z[k - 1]) / (1 + sp.exp(z[k - 1]))})
        total = sum(sp.exp(zk) for zk in z)
        e = general.subs({softmax.j: k, softmax.K: K}).doit()
        e = e.replace(lambda a: isinstance(a, sp.Indexed) and a.base == yhat1,
                      lambda a: sp.exp(z[int(a.indices[0]) - 1]) / total)
        e = e.replace(lambda a: isinstance(a, sp.Indexed) and a.base == y1,
                      lambda a: y[t - 1, int(a.indices[0]) - 1])
        return e

    # delta_{t,q} from the derived recursion, t = T..1, with delta_{T+1} = 0.
    recursion = rnn.hidden_layer()["delta"].expr.rhs
    deltas = {T + 1: [sp.S(0)] * H}
    for t in range(T, 0, -1):
        a_t = inst["U"] * inst["x"][t - 1, :].T + inst["W"] * states[t - 1] + inst["b"]
        deltas[t] = [evaluate(recursion.subs({rnn.t: t, rnn.q: q + 1}), inst, sizes, deltas,
                              delta_o, a_t) for q in range(H)]
    return lambda key, subs: evaluate(key.subs(subs), inst, sizes, deltas, delta_o, None)


def evaluate(expr, inst, sizes, deltas, delta_o, a_t):
    """Replace the derivation's indexed symbols by the instance's explicit entries."""
    expr = expr.subs(sizes).doit()
    table = {rnn.U: inst["U"], rnn.W: inst["W"], rnn.V: inst["V"]}

    def entry(a):
        base, idx = a.base, [int(i) for i in a.indices]
        if base in table:
            return table[base][idx[0] - 1, idx[1] - 1]
        if base == rnn.b:
            return inst["b"][idx[0] - 1]
        if base == rnn.c:
            return inst["c"][idx[0] - 1]
        if base == rnn.x:
            return inst["x"][idx[0] - 1, idx[1] - 1]
        if base == rnn.s:
            return inst["states"][idx[0]][idx[1] - 1]
        if base == rnn.a:
            return a_t[idx[1] - 1]
        if base == rnn.delta:
            return deltas[idx[0]][idx[1] - 1]
        if base == rnn.delta_o:
            return delta_o(idx[0], idx[1])
        raise KeyError(base)

    expr = expr.replace(lambda a: isinstance(a, sp.Indexed), entry)
    return expr.replace(lambda a: isinstance(a, sp.Function) and a.func == rnn.fprime,
                        lambda a: fp(*a.args))


def same(a, b) -> bool:
    """Exact equality: the expanded difference is the zero expression."""
    return sp.expand(a - b) == 0


CASES = [  # (parameter, derivation step, index shape)
    ("V", ("rnn.output", "dV"), (K, H)),
    ("c", ("rnn.output", "dc"), (K,)),
    ("W", ("rnn.hidden", "dW"), (H, H)),
    ("U", ("rnn.hidden", "dU"), (H, D)),
    ("b", ("rnn.hidden", "db"), (H,)),
    ("s0", ("rnn.hidden", "ds0"), (H,)),
]


@pytest.mark.parametrize("param,step,shape", CASES, ids=[c[0] for c in CASES])
def test_closed_form_equals_sympy_diff(instance, param, step, shape):
    from rnnmath.derive import derivations

    closed = closed_forms(instance)
    rhs = derivations()[step[0]][step[1]].expr.rhs
    free = [rnn.p, rnn.q] if len(shape) == 2 else ([rnn.q] if param == "s0" else [rnn.p])
    for idx in itertools.product(*(range(n) for n in shape)):
        symbol = instance[param][idx if len(shape) == 2 else (idx[0], 0)]
        exact = sp.diff(instance["loss"], symbol)
        derived = closed(rhs, {sym: i + 1 for sym, i in zip(free, idx)})
        assert same(exact, derived), f"d loss / d {symbol} differs from step {step}"


@pytest.mark.parametrize("param,step,shape", CASES, ids=[c[0] for c in CASES])
def test_sigmoid_outputs_with_step_masks(param, step, shape):
    """The same closed forms with delta^o_t = m_t (sigmoid(z_t) - y_t), any weights m_t."""
    test_closed_form_equals_sympy_diff(sigmoid_instance(), param, step, shape)


@lru_cache(maxsize=None)
def sigmoid_instance():
    return build("sigmoid+mask")


def test_a_wrong_closed_form_is_caught(instance):
    """The proof can fail: drop the recurrent term of the recursion and dW no longer matches."""
    exact = sp.diff(instance["loss"], instance["W"][0, 1])
    s, x = instance["states"], instance["x"]
    # Immediate terms only (what seed 003's chain keeps): delta_t without W^T delta_{t+1}.
    wrong = 0
    for t in range(1, T + 1):
        z = instance["logits"][t - 1]
        total = sum(sp.exp(zk) for zk in z)
        do = [sp.exp(z[k]) / total * sum(instance["y"][t - 1, :]) - instance["y"][t - 1, k]
              for k in range(K)]
        a = instance["U"] * x[t - 1, :].T + instance["W"] * s[t - 1] + instance["b"]
        wrong += fp(a[0]) * sum(instance["V"][k, 0] * do[k] for k in range(K)) * s[t - 1][1]
    assert not same(exact, wrong)
    # And not by accident of the expansion: they differ as numbers at a random point (tanh).
    point = {sym: sp.Rational(k % 7 - 3, 5) for k, sym in
             enumerate(sorted((exact - wrong).free_symbols, key=str))}
    gap = (exact - wrong).replace(f, sp.tanh).replace(fp, lambda u: 1 - sp.tanh(u) ** 2)
    assert abs(float(gap.subs(point).evalf())) > 1e-3
