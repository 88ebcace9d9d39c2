r"""Backpropagation through time for the vanilla RNN, derived entry by entry with SymPy.

Model (column vectors, :math:`t = 1..T`):

.. math::
    a_t = U x_t + W s_{t-1} + b,\quad s_t = f(a_t),\quad z_t = V s_t + c,\quad
    \hat y_t = \operatorname{softmax}(z_t),\quad E = \sum_t E_t.

Every gradient is obtained by ``sympy.diff`` of the index-level model followed by collapsing the
Kronecker deltas; nothing below types a gradient in.  :func:`kernel` then converts the index-level
results into matrix expressions over the rows of all time steps and batch items stacked together,
which is what :mod:`rnnmath.codegen` prints as NumPy.
"""
from __future__ import annotations

from functools import cache

import sympy as sp
from sympy.tensor.array.expressions import convert_array_to_matrix, convert_indexed_to_array

from ._index import collapse
from .latex import times
from .steps import Derivation, Step

T, D, H, K = sp.symbols("T D H K", integer=True, positive=True)
t = sp.Symbol("t", integer=True, positive=True)
p, q, g, h, k = sp.symbols("p q g h k", integer=True, positive=True)
# Summation dummies of the model's own sums, never used as free indices (a clash would silently
# turn W[q, g] into W[q, q]).
i_, j_, l_ = sp.symbols("i j l", integer=True, positive=True)

U, W, V = sp.IndexedBase("U"), sp.IndexedBase("W"), sp.IndexedBase("V")
b, c = sp.IndexedBase("b"), sp.IndexedBase("c")
x, s, a = sp.IndexedBase("x"), sp.IndexedBase("s"), sp.IndexedBase("a")
token = sp.IndexedBase(r"\iota")                 # token id of step t, for one-hot inputs
delta_o = sp.IndexedBase(r"\delta^{o}")          # dE/dz_t, from the softmax derivation
delta = sp.IndexedBase(r"\delta")                # dE/da_t, the BPTT error signal
ds = sp.IndexedBase(r"\bar{s}")                  # dE/ds_t, total derivative
f = sp.Function("f")
fprime = sp.Function(r"\phi'")


def a_entry(tt, row):
    """Pre-activation entry :math:`a_{t,row}`."""
    return (sp.Sum(U[row, i_] * x[tt, i_], (i_, 1, D)) + sp.Sum(W[row, j_] * s[tt - 1, j_], (j_, 1, H))
            + b[row])


def z_entry(tt, row):
    """Logit entry :math:`z_{t,row}`."""
    return sp.Sum(V[row, l_] * s[tt, l_], (l_, 1, H)) + c[row]


def _label(text: str) -> sp.Symbol:
    return sp.Symbol(text)


def _eq(lhs, rhs) -> sp.Eq:
    """An equation kept as written (a scalar label may stand for a matrix)."""
    return sp.Eq(lhs, rhs, evaluate=False)


def _with_fprime(expr: sp.Basic) -> sp.Basic:
    """Write phi'(a) for SymPy's Derivative(f(a), a) and Subs(Derivative(f(xi), xi), xi, a)."""
    expr = expr.replace(lambda e: isinstance(e, sp.Subs) and e.expr.has(f),
                        lambda e: fprime(*e.point))
    return expr.replace(lambda e: isinstance(e, sp.Derivative) and e.expr.func == f,
                        lambda e: fprime(*e.expr.args))


def _param_gradient(param, row_range, col_range, entry, inner, inner_range, signal):
    """Sum over time of ``signal[t, inner] * d entry(t, inner) / d param[p, q]``, collapsed."""
    bounds = {p: row_range, inner: inner_range}
    if col_range is not None:
        bounds[q] = col_range
    target = param[p, q] if col_range is not None else param[p]
    local = collapse(sp.diff(entry(t, inner), target), bounds)
    per_step = collapse(sp.Sum(signal[t, inner] * local, (inner, *inner_range)), bounds)
    return local, per_step


@cache
def output_layer() -> Derivation:
    """Gradients of ``V`` and ``c``: they only see step ``t``."""
    local_v, dv = _param_gradient(V, (1, K), (1, H), z_entry, k, (1, K), delta_o)
    local_c, dc = _param_gradient(c, (1, K), None, z_entry, k, (1, K), delta_o)
    dv_lhs = _label(r"\frac{\partial E}{\partial V_{p q}}")
    dc_lhs = _label(r"\frac{\partial E}{\partial c_{p}}")
    return Derivation("rnn.output", "Output layer: V and c", (
        Step("logits", r"Logits of step $t$; $V$ and $c$ are shared by all steps.",
             sp.Eq(sp.Symbol("z_{t k}"), z_entry(t, k))),
        Step("local_v", r"Local derivative of a logit with respect to one entry of $V$.",
             sp.Eq(_label(r"\frac{\partial z_{t k}}{\partial V_{p q}}"), local_v)),
        Step("dV", r"Chain rule through every logit $z_{t,k}$ of every step, where "
             r"$\delta^{o}_{t}=\partial E_t/\partial z_t$ comes from the softmax derivation.",
             sp.Eq(dv_lhs, sp.Sum(dv, (t, 1, T))), result=True),
        Step("dc", r"The same with $\partial z_{t,k}/\partial c_p = [k = p]$.",
             sp.Eq(dc_lhs, sp.Sum(dc, (t, 1, T))), result=True),
    ))


@cache
def hidden_layer() -> Derivation:
    """The BPTT recursion and the gradients of ``W``, ``U``, ``b`` and ``s_0``."""
    # dE/ds_{t,q}: s_t reaches E through z_t (immediate) and through a_{t+1} (recurrent).
    through_z = collapse(sp.Sum(delta_o[t, k] * sp.diff(z_entry(t, k), s[t, q]), (k, 1, K)),
                         {q: (1, H), k: (1, K)})
    through_a = collapse(sp.Sum(delta[t + 1, g] * sp.diff(a_entry(t + 1, g), s[t, q]), (g, 1, H)),
                         {q: (1, H), g: (1, H)})
    a_sym = sp.Symbol("a_{t q}")
    local_f = sp.diff(f(a_sym), a_sym)                     # phi'(a), kept abstract here
    recursion = _with_fprime(local_f.subs(a_sym, a[t, q])) * (through_z + through_a)

    local_w, dw = _param_gradient(W, (1, H), (1, H), a_entry, h, (1, H), delta)
    local_u, du = _param_gradient(U, (1, H), (1, D), a_entry, h, (1, H), delta)
    _, db = _param_gradient(b, (1, H), None, a_entry, h, (1, H), delta)
    one_hot = du.subs(x[t, q], sp.KroneckerDelta(q, token[t]))
    ds0 = collapse(sp.Sum(delta[1, g] * sp.diff(a_entry(1, g), s[0, q]), (g, 1, H)),
                   {q: (1, H), g: (1, H)})
    return Derivation("rnn.hidden", "Hidden layer: backpropagation through time", (
        Step("total", r"$s_t$ influences $E$ twice: through the logits $z_t$ of its own step and "
             r"through the next pre-activation $a_{t+1}$. The total derivative adds both paths.",
             sp.Eq(_label(r"\frac{\partial E}{\partial s_{t q}}"), through_z + through_a)),
        Step("delta", r"Through $s_t = \phi(a_t)$ elementwise; $\delta_{T+1} = 0$ starts the "
             r"recursion at the last step.",
             sp.Eq(_label(r"\delta_{t q} = \frac{\partial E}{\partial a_{t q}}"), recursion),
             result=True),
        Step("local_w", r"Immediate derivative of a pre-activation with respect to $W$ "
             r"($s_{t-1}$ held fixed: the recursion already carries the indirect paths).",
             sp.Eq(_label(r"\frac{\partial^{+} a_{t h}}{\partial W_{p q}}"), local_w)),
        Step("dW", r"Sum the error signal of every step against the previous state.",
             sp.Eq(_label(r"\frac{\partial E}{\partial W_{p q}}"), sp.Sum(dw, (t, 1, T))),
             result=True),
        Step("local_u", r"Immediate derivative with respect to $U$.",
             sp.Eq(_label(r"\frac{\partial^{+} a_{t h}}{\partial U_{p q}}"), local_u)),
        Step("dU", r"The same against the input of each step.",
             sp.Eq(_label(r"\frac{\partial E}{\partial U_{p q}}"), sp.Sum(du, (t, 1, T))),
             result=True),
        Step("dU_one_hot", r"With one-hot inputs $x_{t,q} = [q = \iota_t]$, column $\iota_t$ of "
             r"$\partial E/\partial U$ receives $\delta_t$ and no other column does.",
             sp.Eq(_label(r"\frac{\partial E}{\partial U_{p q}}"), sp.Sum(one_hot, (t, 1, T))),
             result=True),
        Step("db", r"The bias sees every step with coefficient one.",
             sp.Eq(_label(r"\frac{\partial E}{\partial b_{p}}"), sp.Sum(db, (t, 1, T))),
             result=True),
        Step("ds0", r"The initial state only feeds $a_1$.",
             sp.Eq(_label(r"\frac{\partial E}{\partial s_{0 q}}"), ds0), result=True),
    ))


# ---------------------------------------------------------------------------------------------
# Vector forms.  Each is read off the index-level result above; tests/test_derive_rnn.py proves
# every one equal to its index form, entry by entry, on explicit sizes.
# ---------------------------------------------------------------------------------------------
def vec(name: str, rows) -> sp.MatrixSymbol:
    """A column vector symbol (``rows`` x 1) as it is printed on the site."""
    return sp.MatrixSymbol(name, rows, 1)


MW, MU, MV = sp.MatrixSymbol("W", H, H), sp.MatrixSymbol("U", H, D), sp.MatrixSymbol("V", K, H)
v_do, v_s, v_sp = vec(r"\delta^{o}_{t}", K), vec("s_{t}", H), vec("s_{t-1}", H)
v_x, v_d, v_dn, v_d1 = vec("x_{t}", D), vec(r"\delta_{t}", H), vec(r"\delta_{t+1}", H), vec(r"\delta_{1}", H)
v_fp = vec(r"\phi'_{t}", H)  # phi'(a_t), elementwise


@cache
def vector_forms() -> Derivation:
    """The results of :func:`output_layer` and :func:`hidden_layer` as vector formulas."""
    def grad(name):
        return _label(r"\frac{\partial E}{\partial " + name + "}")

    return Derivation("rnn.vector", "BPTT in vector form", (
        Step("dV", r"Output weights: an outer product per step.",
             _eq(grad("V"), sp.Sum(v_do * v_sp.T.subs(v_sp, v_s), (t, 1, T))), result=True),
        Step("dc", r"Output bias.", _eq(grad("c"), sp.Sum(v_do, (t, 1, T))), result=True),
        Step("delta", r"The error signal, from $t = T$ down to $1$ with $\delta_{T+1} = 0$; "
             r"$\odot$ is the elementwise product and $\phi'_t = \phi'(a_t)$.",
             _eq(_label(r"\delta_{t}"), sp.HadamardProduct(v_fp, MV.T * v_do + MW.T * v_dn)),
             result=True),
        Step("dW", r"Recurrent weights: each error signal against the state it multiplied.",
             _eq(grad("W"), sp.Sum(v_d * v_sp.T, (t, 1, T))), result=True),
        Step("dU", r"Input weights: each error signal against its input.",
             _eq(grad("U"), sp.Sum(v_d * v_x.T, (t, 1, T))), result=True),
        Step("db", r"Hidden bias.", _eq(grad("b"), sp.Sum(v_d, (t, 1, T))), result=True),
        Step("ds0", r"Initial state.", _eq(grad("s_{0}"), MW.T * v_d1), result=True),
    ))


@cache
def jacobian_products() -> Derivation:
    r"""The recursion unrolled: :math:`\partial s_j/\partial s_{j-1} = \operatorname{diag}(\phi'(a_j))W`."""
    r_ = sp.Symbol("r", integer=True, positive=True)
    a_j = a_entry(t, q)
    state = f(a_j)
    step = collapse(sp.diff(state, s[t - 1, r_]), {q: (1, H), r_: (1, H)})
    step = _with_fprime(step.subs(a_j, a[t, q]))
    jac = _label(r"\frac{\partial s_{j}}{\partial s_{j-1}}")
    # a chain a = b = c, its middle a product of labels in the order written
    total = _eq(_label(r"\frac{\partial E}{\partial W}"), times(
        _label(r"\sum_{t=1}^{T}\sum_{\tau=1}^{t}\frac{\partial E_t}{\partial s_t}"),
        _label(r"\left(\prod_{j=\tau+1}^{t}\frac{\partial s_j}{\partial s_{j-1}}\right)"),
        _label(r"\frac{\partial^{+} s_\tau}{\partial W}")))
    return Derivation("rnn.jacobian", "BPTT as a sum of Jacobian products", (
        Step("entry", r"Differentiate $s_{t,q} = \phi(a_{t,q})$ with respect to $s_{t-1,r}$.",
             _eq(_label(r"\frac{\partial s_{t q}}{\partial s_{t-1, r}}"), step)),
        Step("jacobian", r"As a matrix: scale row $q$ of $W$ by $\phi'(a_{t,q})$.",
             _eq(jac, sp.MatrixSymbol(r"\operatorname{diag}(\phi'_{j})", H, H) * MW), result=True),
        Step("sum_of_products", r"Unrolling $\delta_t$ gives one term per pair $\tau \le t$: how "
             r"$E_t$ reaches $W$ through the state $s_\tau$. Here "
             r"$\partial^{+} s_\tau/\partial W$ is the immediate derivative, with $s_{\tau-1}$ held "
             r"fixed, and $\partial E_t/\partial s_t = V^{T}\delta^{o}_t$.",
             _eq(total, _label(r"\sum_{t=1}^{T}\delta_{t}\,s_{t-1}^{T}")), result=True),
    )).fit_a_phone()


@cache
def truncated() -> Derivation:
    """Truncated BPTT: each E_t sends its error back through at most k earlier steps."""
    hoisted = sp.HadamardProduct(v_fp, MV.T * v_do)
    d0, dj, dj1 = (vec(n, H) for n in (r"\delta^{(0)}_{t}", r"\delta^{(j)}_{t}", r"\delta^{(j-1)}_{t+1}"))
    tilde = _label(r"\tilde\delta_{t}")
    j_ = sp.Symbol("j", integer=True)
    kk = sp.Symbol(r"\kappa", integer=True, nonnegative=True)  # truncation length
    return Derivation("rnn.truncated", "Truncated BPTT", (
        Step("lag0", r"Lag 0: the error of $E_t$ at its own step (the non-recurrent part of "
             r"$\delta_t$).", _eq(d0, hoisted)),
        Step("lagj", r"Lag $j$: the error of $E_{t+j}$ carried back $j$ steps (the recurrent part "
             r"of $\delta_t$ applied to lag $j-1$).",
             _eq(dj, sp.HadamardProduct(v_fp, MW.T * dj1))),
        Step("truncated", r"Keep lags $0..\kappa$ ($\kappa+1$ terms per $E_t$) and use $\tilde\delta_t$ "
             r"in place of $\delta_t$ in $\partial E/\partial W$, $U$, $b$, $s_0$. With "
             r"$\kappa \ge T-1$ nothing is dropped: this is full BPTT.",
             _eq(tilde, sp.Sum(_label(r"\delta^{(j)}_{t}"), (j_, 0, sp.Min(kk, T - t)))), result=True),
    ))
