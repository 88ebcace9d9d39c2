"""The vector forms shown on the site equal the index-level results they were read off, entry by
entry, on explicit sizes; and the Jacobian-product form equals the recursion numerically."""
import itertools

import numpy as np
import pytest
import sympy as sp

from rnnmath import rnn_forward, rnn_gradients
from rnnmath.derive import derivations, rnn

T, D, H, K = 3, 2, 2, 3
SIZES = {rnn.T: T, rnn.D: D, rnn.H: H, rnn.K: K}


def table(name, rows, cols):
    return [[sp.Symbol(f"{name}_{r}_{c}") for c in range(cols)] for r in range(rows)]


U, W, V = (sp.Matrix(table(n, *shape)) for n, shape in (("U", (H, D)), ("W", (H, H)), ("V", (K, H))))
# Per-step quantities, rows indexed by time 0..T+1 (0 is s_0, T+1 is the zero delta).
S, X = table("s", T + 2, H), table("x", T + 2, D)
DO, DL, FP = table("do", T + 2, K), table("dl", T + 1, H) + [[0] * H], table("fp", T + 2, H)


def index_value(expr, **free):
    """An index-level expression at concrete indices (1-based, as in the derivation)."""
    expr = expr.subs(SIZES).subs({getattr(rnn, k): v for k, v in free.items()}).doit()
    cells = {rnn.U: U, rnn.W: W, rnn.V: V}

    def entry(a):
        i = [int(v) for v in a.indices]
        if a.base in cells:
            return cells[a.base][i[0] - 1, i[1] - 1]
        return {rnn.s: S, rnn.x: X, rnn.delta_o: DO, rnn.delta: DL}[a.base][i[0]][i[1] - 1]

    expr = expr.replace(lambda a: isinstance(a, sp.Function) and a.func == rnn.fprime,
                        lambda a: FP_at[a.args[0]])
    return expr.replace(lambda a: isinstance(a, sp.Indexed), entry)


FP_at = {}  # f'(a_{t,q}) symbols keyed by the index-level argument a[t, q]
for t_, q_ in itertools.product(range(1, T + 2), range(1, H + 1)):
    FP_at[rnn.a[t_, q_]] = FP[t_][q_ - 1]


def col(rows, t):
    return sp.Matrix(rows[t])


def vector_value(expr, t):
    """A vector-form expression at step t, with every vector symbol made explicit."""
    names = {rnn.v_do: col(DO, t), rnn.v_s: col(S, t), rnn.v_sp: col(S, t - 1),
             rnn.v_x: col(X, t), rnn.v_d: col(DL, t), rnn.v_dn: col(DL, t + 1),
             rnn.v_d1: col(DL, 1), rnn.v_fp: col(FP, t), rnn.MW: W, rnn.MV: V, rnn.MU: U}
    return sp.Matrix(expr.subs(names).doit())


def vector_total(expr):
    if isinstance(expr, sp.Sum):
        return sum((vector_value(expr.function, t) for t in range(1, T + 1)), sp.zeros(*vector_value(expr.function, 1).shape))
    return vector_value(expr, 1)


PAIRS = [("dV", "rnn.output"), ("dc", "rnn.output"), ("dW", "rnn.hidden"),
         ("dU", "rnn.hidden"), ("db", "rnn.hidden"), ("ds0", "rnn.hidden")]


@pytest.mark.parametrize("step,index_key", PAIRS, ids=[p[0] for p in PAIRS])
def test_vector_form_equals_index_form(step, index_key):
    index = derivations()[index_key][step].expr.rhs
    vector = vector_total(derivations()["rnn.vector"][step].expr.rhs)
    for r, c in itertools.product(range(vector.shape[0]), range(vector.shape[1])):
        free = {"p": r + 1, "q": c + 1} if vector.shape[1] > 1 else {("q" if step == "ds0" else "p"): r + 1}
        assert sp.expand(vector[r, c] - index_value(index, **free)) == 0, (step, r, c)


@pytest.mark.parametrize("t", range(1, T + 1))
def test_vector_recursion_equals_index_recursion(t):
    index = derivations()["rnn.hidden"]["delta"].expr.rhs
    vector = vector_value(derivations()["rnn.vector"]["delta"].expr.rhs, t)
    for q in range(H):
        assert sp.expand(vector[q] - index_value(index, t=t, q=q + 1)) == 0


def test_jacobian_matrix_equals_its_entries():
    entry = derivations()["rnn.jacobian"]["entry"].expr.rhs
    t = 2
    matrix = sp.diag(*FP[t]) * W
    for q, r in itertools.product(range(H), range(H)):
        value = entry.subs(SIZES).subs({rnn.t: t, rnn.q: q + 1, sp.Symbol("r", integer=True, positive=True): r + 1})
        value = index_value(value)
        assert sp.expand(matrix[q, r] - value) == 0


def test_sum_of_jacobian_products_equals_the_recursion():
    """dW = sum_t sum_k (dE_t/ds_t) (prod_j diag(f'_j) W) d+s_k/dW, computed literally."""
    rng = np.random.default_rng(0)
    Tn, Hn, Dn, Kn = 5, 3, 4, 3
    Un, Wn, Vn = rng.normal(size=(Hn, Dn)), rng.normal(size=(Hn, Hn)), rng.normal(size=(Kn, Hn))
    x, y = rng.integers(0, Dn, Tn), rng.integers(0, Kn, Tn)
    out = rnn_forward(x, Un, Wn, Vn)
    s, p = out.states, out.probs
    fprime = 1 - s**2
    dW = np.zeros((Hn, Hn))
    for t in range(1, Tn + 1):
        dE_ds = Vn.T @ (p[t - 1] - np.eye(Kn)[y[t - 1]])        # dE_t/ds_t
        for k in range(1, t + 1):
            prod = np.eye(Hn)
            for j in range(t, k, -1):                          # ds_t/ds_k, left to right
                prod = prod @ (np.diag(fprime[j]) @ Wn)
            row = dE_ds @ prod                                 # dE_t/ds_k
            dW += np.outer(row * fprime[k], s[k - 1])          # through d+s_k/dW
    assert np.allclose(dW, rnn_gradients(x, y, Un, Wn, Vn).dW, rtol=1e-12, atol=1e-14)
