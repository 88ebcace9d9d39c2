r"""Output layers other than softmax, and losses on a subset of steps.

* Sigmoid outputs with binary cross-entropy, for multi-label targets: every class is its own
  yes/no question, :math:`\hat y_k = \sigma(z_k)`.
* Softmax with binary cross-entropy (what seed 003 pairs): its gradient is *not*
  :math:`\hat y - y`.
* A step mask :math:`m_t \ge 0` weighting :math:`E = \sum_t m_t E_t` (many-to-one, encoder-decoder).
"""
from __future__ import annotations

from functools import cache

import sympy as sp
from sympy.codegen.cfunctions import log1p as _log1p

from .steps import Derivation, Step

z, y = sp.symbols("z y", real=True)
m = sp.Symbol("m_{t}", nonnegative=True)
yhat = sp.Symbol(r"\hat{y}", positive=True)
sigmoid = sp.Function("sigmoid")  # printed as _sigmoid; its definition is the first step


def _label(text: str) -> sp.Symbol:
    return sp.Symbol(text)


class log1p(_log1p):
    r""":math:`\log(1 + x)`, evaluated without forming :math:`1 + x` (which rounds away a tiny
    :math:`x`); shown as :math:`\log(1 + x)` on the site, printed as ``np.log1p``."""

    def _latex(self, printer):
        return rf"\log\left(1 + {printer._print(self.args[0])}\right)"


def _equal_on_both_sides_of_zero(a: sp.Expr, b: sp.Expr, var: sp.Symbol) -> bool:
    """``a == b`` for all real ``var``: checked symbolically for var > 0 and for var < 0 (where
    Max and Abs resolve), and at var = 0."""
    pos = sp.Symbol("p", positive=True)
    rewrite = lambda e: sp.expand_log(e.rewrite(sp.log), force=True)  # noqa: E731
    return all(sp.simplify(rewrite((a - b).subs(var, v))) == 0 for v in (pos, -pos, 0))


@cache
def sigmoid_cross_entropy() -> Derivation:
    r"""Derive :math:`\partial E/\partial z = \sigma(z) - y` for binary cross-entropy."""
    sig = 1 / (1 + sp.exp(-z))
    loss = -y * sp.log(sig) - (1 - y) * sp.log(1 - sig)
    raw = sp.simplify(sp.diff(loss, z))
    # Read the sigmoid back in: e^z = yhat / (1 - yhat).
    result = sp.simplify(raw.subs(sp.exp(z), yhat / (1 - yhat)))
    stable = sp.log(1 + sp.exp(z)) - y * z
    if sp.simplify(sp.expand_log(loss - stable, force=True)) != 0:  # never trust a rewrite
        raise AssertionError("the stable form of binary cross-entropy does not match")
    # Three terms, each >= 0 for y in [0, 1]: no cancellation, so a loss of 4e-18 (label 1,
    # logit 40) keeps its digits instead of rounding log(1 + e^40) - 40 to 0.
    evaluated = (1 - y) * sp.Max(z, 0) + y * sp.Max(-z, 0) + log1p(sp.exp(-sp.Abs(z)))
    if not _equal_on_both_sides_of_zero(stable, evaluated, z):
        raise AssertionError("the evaluated form of binary cross-entropy does not match")
    lhs = _label(r"\frac{\partial E}{\partial z_{k}}")
    return Derivation("sigmoid_bce", "Sigmoid outputs with binary cross-entropy", (
        Step("definition", r"Each class gets its own probability; rows need not sum to one.",
             sp.Eq(yhat, sig)),
        Step("loss", r"Binary cross-entropy of one class against a label $y \in [0, 1]$.",
             sp.Eq(_label("E_{k}"), loss)),
        Step("stable", r"The same loss without $\log$ of a tiny number: finite for every $z$ "
             r"for every $z$.", sp.Eq(_label("E_{k}"), stable)),
        Step("evaluated", r"How the generated code evaluates it: split $z$ into its positive and "
             r"negative parts, $\log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})$. Every term is "
             r"non-negative, so nothing cancels and a tiny loss keeps all its digits "
             r"(the last one via `log1p`).", sp.Eq(_label("E_{k}"), evaluated)),
        Step("derivative", r"Differentiate.", sp.Eq(lhs, raw)),
        Step("result", r"Substitute $e^{z} = \hat y/(1-\hat y)$: prediction minus label, class "
             r"by class, whatever the other classes do.", sp.Eq(lhs, result), result=True),
    )).fit_a_phone()


@cache
def stable_cross_entropy() -> Derivation:
    r"""Softmax cross-entropy as the generated code evaluates it: shifted by the row maximum,
    with :math:`\log\sum_j e^{z_j - \mu} = \log(1 + r)` evaluated as ``log1p(r)``."""
    K = 3  # the identities are proved for three classes, the maximum being the first
    zs, ys = sp.symbols(f"z_1:{K + 1}", real=True), sp.symbols(f"y_1:{K + 1}", nonnegative=True)
    mu, r, u, yk, E = sp.symbols(r"\mu r u_{k} y_{k} E", real=True)
    definition = -sum(yk_ * sp.log(sp.exp(zk) / sum(sp.exp(zj) for zj in zs))
                      for yk_, zk in zip(ys, zs))
    lse = sp.log(sum(sp.exp(zj) for zj in zs))
    shifted = mu + sp.log(sum(sp.exp(zj - mu) for zj in zs))
    rest = sum(sp.exp(zj - zs[0]) for zj in zs[1:])  # mu = z_1, the row maximum
    evaluated = sum(yk_ * (log1p(rest) - (zk - zs[0])) for yk_, zk in zip(ys, zs))
    checks = [
        sp.expand_log(definition - sum(yk_ * (lse - zk) for yk_, zk in zip(ys, zs)), force=True),
        sp.expand_log(sp.exp(lse) - sp.exp(shifted), force=True),   # shifting by any mu
        evaluated.rewrite(sp.log) - definition,
    ]
    if any(sp.simplify(sp.expand_log(sp.expand(c), force=True)) != 0 for c in checks):
        raise AssertionError("the stable form of softmax cross-entropy does not match")
    zk_, zj_ = sp.symbols("z_{k} z_{j}", real=True)
    sum_j = lambda e: sp.Sum(e, (sp.Symbol("j"), 1, sp.Symbol("K")))  # noqa: E731
    sum_k = lambda e: sp.Sum(e, (sp.Symbol("k"), 1, sp.Symbol("K")))  # noqa: E731
    return Derivation("stable_cross_entropy", "Softmax cross-entropy without lost digits", (
        Step("definition", r"Cross-entropy with $\log\hat y_k = z_k - \log\sum_j e^{z_j}$.",
             sp.Eq(E, sum_k(yk * (sp.log(sum_j(sp.exp(zj_))) - zk_)))),
        Step("shift", r"Subtract any $\mu$ from every logit: the softmax is unchanged. With "
             r"$\mu = \max_j z_j$ no exponential overflows.",
             sp.Eq(E, sum_k(yk * (sp.log(sum_j(sp.exp(zj_ - mu))) - (zk_ - mu))))),
        Step("evaluated", r"The maximum's own term is $e^0 = 1$; the others add up to "
             r"$r = \sum_{j \ne \arg\max} e^{z_j - \mu} \in [0, K - 1]$, which the code sums "
             r"without the 1. With $u_k = z_k - \mu \le 0$ every term is non-negative, and "
             r"$\log(1 + r)$ is `log1p(r)`: a confident prediction ($r \approx 10^{-13}$) keeps "
             r"its digits instead of rounding $1 + r$.",
             sp.Eq(E, sum_k(yk * (log1p(r) - u)))),
    ))


@cache
def softmax_binary_cross_entropy() -> Derivation:
    r"""Softmax followed by binary cross-entropy, K = 2: the gradient is not yhat - y."""
    z1, z2, y1, y2 = sp.symbols("z_1 z_2 y_1 y_2", real=True)
    p1 = sp.exp(z1) / (sp.exp(z1) + sp.exp(z2))
    p2 = 1 - p1
    loss = sum(-yk * sp.log(pk) - (1 - yk) * sp.log(1 - pk) for yk, pk in ((y1, p1), (y2, p2)))
    grad = sp.simplify(sp.diff(loss, z1))
    # With one-hot labels (y2 = 1 - y1) it is exactly twice the softmax cross-entropy gradient.
    one_hot = sp.simplify(grad.subs(y2, 1 - y1))
    p = sp.Symbol(r"\hat{y}_{1}")
    in_p = sp.simplify(one_hot.subs(z2, 0).subs(z1, sp.log(p / (1 - p))))
    lhs = _label(r"\frac{\partial E}{\partial z_{1}}")
    # Shown with the probabilities named (written out in z it is twice the column's width);
    # the substitution back must give the loss that was differentiated.
    q1, q2 = sp.symbols(r"\hat{y}_{1} \hat{y}_{2}", positive=True)
    shown = sum(-yk * sp.log(qk) - (1 - yk) * sp.log(1 - qk) for yk, qk in ((y1, q1), (y2, q2)))
    if sp.simplify(shown.subs({q1: p1, q2: p2}) - loss) != 0:
        raise AssertionError("the loss shown is not the loss differentiated")
    return Derivation("softmax_bce", "Softmax with binary cross-entropy (two classes)", (
        Step("loss", r"Binary cross-entropy summed over the classes of a softmax, with "
             r"$\hat y_1 = e^{z_1}/(e^{z_1} + e^{z_2})$ and $\hat y_2 = 1 - \hat y_1$.",
             sp.Eq(_label("E"), shown)),
        Step("gradient", r"Differentiate with respect to $z_1$.", sp.Eq(lhs, grad)),
        Step("one_hot", r"With $y_2 = 1 - y_1$ and $z_2 = 0$, in terms of $\hat y_1$: twice "
             r"$\hat y_1 - y_1$, and for $K > 2$ not even a multiple of it.",
             sp.Eq(lhs, in_p), result=True),
    )).fit_a_phone()


@cache
def step_mask() -> Derivation:
    r"""A weight per step: :math:`E = \sum_t m_t E_t`."""
    e_t, d_t = sp.symbols(r"E_{t} \delta^{o}_{t}")
    lhs = _label(r"\frac{\partial E}{\partial z_{t}}")
    return Derivation("mask", "A loss on some steps only", (
        Step("loss", r"Weight each step's loss; $m_t = 0$ for steps without a target.",
             sp.Eq(_label("E"), sp.Sum(m * e_t, (sp.Symbol("t"), 1, sp.Symbol("T"))))),
        Step("gradient", r"Only $E_t$ depends on $z_t$ directly, so its error is scaled by "
             r"$m_t$; the recursion for $\delta_t$ is unchanged and carries the scaled errors "
             r"back. For softmax outputs this is the same as scaling the label row by $m_t$, "
             r"since $E_t$ is linear in $y_t$.",
             sp.Eq(lhs, m * d_t), result=True),
    ))
