r"""How far a gradient travels back in time, and what clipping does to it, derived with SymPy.

:func:`state_jacobian` differentiates the index-level recurrence through two steps and reads off
the product of one-step Jacobians :math:`\operatorname{diag}(\phi'_j) W` that every long-range
gradient term passes through, then specialises the one-step Jacobian to tanh and relu.
:func:`clipping` writes the two clipping rules and derives what the global-norm rule does to the
norm and to the direction of a gradient. ``tests/test_dynamics.py`` and ``tests/test_clip.py``
prove the derived entries equal their matrix forms on explicit sizes.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from ._index import collapse
from .activation import activation
from .activation import s as s_of_f
from .rnn import (D, H, U, W, _eq, _label, _with_fprime, a, a_entry, b, f, fprime, i_, j_, q, s,
                  t, x)
from .steps import Derivation, Step

r_ = sp.Symbol("r", integer=True, positive=True)
m_ = sp.Symbol("m", integer=True, positive=True)   # summation dummy of the earlier step


def _a_before(row):
    """:math:`a_{t-1,row}` written with its own dummy, as a function of :math:`s_{t-2}`."""
    return (sp.Sum(U[row, i_] * x[t - 1, i_], (i_, 1, D))
            + sp.Sum(W[row, m_] * s[t - 2, m_], (m_, 1, H)) + b[row])


@cache
def state_jacobian() -> Derivation:
    r"""Two steps of the chain rule, the product :math:`\partial s_t/\partial s_k`, its bound,
    and the one-step Jacobian of tanh and relu."""
    # s_{t,q} with s_{t-1} = f(a_{t-1}) spelled out, differentiated with respect to s_{t-2,r}.
    def a_now(earlier):
        """:math:`a_{t,q}` with the previous state's entries given by ``earlier(j)``."""
        return (sp.Sum(U[q, i_] * x[t, i_], (i_, 1, D))
                + sp.Sum(W[q, j_] * earlier(j_), (j_, 1, H)) + b[q])

    outer = a_now(lambda j: f(_a_before(j)))
    two = collapse(sp.diff(f(outer), s[t - 2, r_]), {q: (1, H), r_: (1, H)})
    two = _with_fprime(two)
    two = two.xreplace({_a_before(j_): a[t - 1, j_]})   # structural: j is bound here
    two = two.xreplace({a_now(lambda j: f(a[t - 1, j])): a[t, q]})
    if two.has(s) or two.has(x):
        raise AssertionError(f"pre-activations not recognised in {two}")

    one = collapse(sp.diff(f(a_entry(t, q)), s[t - 1, r_]), {q: (1, H), r_: (1, H)})
    one = _with_fprime(one.subs(a_entry(t, q), a[t, q]))
    s_tq = sp.Symbol("s_{t q}")
    fprime_of = {name: activation(name)["in_state"].expr.rhs.subs(s_of_f, s_tq)
                 for name in ("tanh", "relu")}
    fp_a = fprime(a[t, q])
    entry_lhs = _label(r"\frac{\partial s_{t q}}{\partial s_{t-1, r}}")

    jac = sp.MatrixSymbol(r"\operatorname{diag}(\phi'_{j})", H, H) * sp.MatrixSymbol("W", H, H)
    # chains a = b = c of labels: written by hand, broken by the printer where too wide
    product = _eq(_label(r"\frac{\partial s_{t}}{\partial s_{\tau}}"),
                  _label(r"\prod_{j=\tau+1}^{t}\operatorname{diag}(\phi'_{j})\,W"))
    bound = sp.Le(_label(r"\Bigl\lVert \frac{\partial s_{t}}{\partial s_{\tau}} \Bigr\rVert"),
                  _label(r"\prod_{j=\tau+1}^{t} \lVert\operatorname{diag}(\phi'_{j})\rVert\,"
                         r"\lVert W\rVert"), evaluate=False)
    return Derivation("dynamics", "Jacobian products across time", (
        Step("two_steps", r"Differentiate $s_{t,q}$ with respect to the state two steps back, "
             r"$s_{t-2,r}$: the chain rule passes through every unit $j$ of $s_{t-1}$.",
             _eq(_label(r"\frac{\partial s_{t q}}{\partial s_{t-2, r}}"), two), result=True),
        Step("product", r"That is entry $(q, r)$ of the product of two one-step Jacobians "
             r"$\operatorname{diag}(\phi'_{j}) W$. Each further step back multiplies by one more "
             r"factor on the right, and for $\tau = t$ the empty product is the identity.",
             _eq(product, _label(r"J_{t} J_{t-1} \cdots J_{\tau+1},\quad J_{j} = "
                                 + sp.latex(jac))), result=True),
        Step("bound", r"Norms are submultiplicative, so each factor can shrink or stretch the "
             r"product by at most its own norm.",
             sp.Le(bound, _label(r"\bigl(\max\lvert \phi'\rvert\,\lVert W\rVert\bigr)^{t-\tau}"),
                   evaluate=False),
             result=True),
        Step("tanh", r"With $\tanh$, $\phi'(a_{t,q}) = 1 - s_{t,q}^2 \in (0, 1]$: row $q$ of $W$ "
             r"is shrunk by how far unit $q$ is from saturating at $\pm 1$.",
             _eq(entry_lhs, one.subs(fp_a, fprime_of["tanh"])), result=True),
        Step("relu", r"With relu, $\phi'$ is 1 or 0: the row of $W$ is kept for a unit that is on "
             r"and zeroed for a unit that is off, so the product is a product of masked copies "
             r"of $W$.",
             _eq(entry_lhs, sp.piecewise_fold(one.subs(fp_a, fprime_of["relu"]))), result=True),
    )).fit_a_phone()


@cache
def clipping() -> Derivation:
    r"""Elementwise and global-norm clipping, and what the second does to norm and direction."""
    n = sp.Symbol(r"\lVert g\rVert", positive=True)
    gamma = sp.Symbol(r"\gamma", positive=True)    # global-norm threshold
    lam = sp.Symbol(r"\lambda", positive=True)     # elementwise limit
    i, N = sp.symbols("i N", integer=True, positive=True)
    g = sp.IndexedBase("g", real=True)
    g_hat_i = sp.Symbol(r"\hat g_{i}")

    scale = sp.Min(1, gamma / n)
    # ||c g|| = c ||g|| for c > 0: SymPy takes c out of the square root of the sum of squares.
    c = sp.Symbol("c", positive=True)
    norm_cg = sp.simplify(sp.sqrt(sp.Sum((c * g[i]) ** 2, (i, 1, N))).doit()
                          / sp.sqrt(sp.Sum(g[i] ** 2, (i, 1, N))))
    assert norm_cg == c, norm_cg
    norm_hat = sp.Min(*(sp.expand(arg * n) for arg in scale.args))   # c ||g|| with c = min(...)
    cosine = sp.simplify(sp.Sum(c * g[i] * g[i], (i, 1, N))
                         / (sp.sqrt(sp.Sum((c * g[i]) ** 2, (i, 1, N)))
                            * sp.sqrt(sp.Sum(g[i] ** 2, (i, 1, N)))))
    return Derivation("clip", "Gradient clipping", (
        Step("elementwise", r"Elementwise clipping clamps every entry of every gradient to "
             r"$[-\lambda, \lambda]$, each entry on its own.",
             sp.Eq(g_hat_i, sp.Min(lam, sp.Max(-lam, g[i]))), result=True),
        Step("global", r"Global-norm clipping scales all gradients by one common factor, where "
             r"$\lVert g\rVert$ is the norm of every gradient entry taken together.",
             _eq(sp.MatrixSymbol(r"\hat g", N, 1), scale * sp.MatrixSymbol("g", N, 1)),
             result=True),
        Step("norm", r"A positive factor comes out of the norm, "
             r"$\lVert c g\rVert = c\lVert g\rVert$; with $c = \min(1, \gamma/\lVert g\rVert)$:",
             _eq(sp.Symbol(r"\lVert \hat g\rVert"), norm_hat), result=True),
        Step("cosine", r"The cosine of the angle between $c g$ and $g$, for any $c > 0$ and "
             r"$g \ne 0$: a positive rescaling never turns the gradient.",
             _eq(_label(r"\cos(c g, g) = \frac{\sum_{i} c g_{i} g_{i}}"
                        r"{\lVert c g\rVert \lVert g\rVert}"), cosine), result=True),
    ))


def derivations() -> list[Derivation]:
    """This module's derivations, in reading order, for :func:`rnnmath.derive.derivations`."""
    return [state_jacobian(), clipping()]
