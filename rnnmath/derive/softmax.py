r"""Softmax Jacobian and the softmax + cross-entropy gradient, for a general number of classes K."""
from __future__ import annotations

from functools import cache

import sympy as sp

from ._index import collapse
from .steps import Derivation, Step

K = sp.Symbol("K", integer=True, positive=True)
i, j, k = sp.symbols("i j k", integer=True, positive=True)
z = sp.IndexedBase("z")
y = sp.IndexedBase("y")
yhat = sp.IndexedBase(r"\hat{y}")
E = sp.Symbol("E")
BOUNDS = {i: (1, K), j: (1, K)}


def _softmax_entry(idx: sp.Symbol) -> sp.Expr:
    return sp.exp(z[idx]) / sp.Sum(sp.exp(z[k]), (k, 1, K))


@cache
def jacobian() -> Derivation:
    r"""Derive :math:`\partial\hat y_i/\partial z_j = \hat y_i([i = j] - \hat y_j)`."""
    definition = _softmax_entry(i)
    raw = sp.diff(definition, z[j])  # quotient rule, with the sum still unevaluated
    collapsed = collapse(raw, BOUNDS)
    # Read the softmax back in: e^{z_i} = yhat_i * sum and e^{z_j} = yhat_j * sum.
    total = sp.Sum(sp.exp(z[k]), (k, 1, K))
    in_yhat = sp.expand(sp.powsimp(collapsed, combine="exp", deep=True).subs(
        sp.exp(z[i] + z[j]), yhat[i] * yhat[j] * total**2).subs(
        sp.exp(z[i]), yhat[i] * total))
    result = sp.factor(in_yhat)
    lhs = sp.Derivative(yhat[i], z[j])
    return Derivation("softmax", "Softmax Jacobian", (
        Step("definition", r"Softmax of the logits $z\in\mathbb{R}^K$, entry $i$.",
             sp.Eq(yhat[i], definition)),
        Step("quotient_rule", r"Differentiate with respect to $z_j$ (quotient rule); "
             r"$[i = j]$ is the Iverson bracket.", sp.Eq(lhs, raw)),
        Step("collapse", r"Only the $k=j$ term of the sum depends on $z_j$.",
             sp.Eq(lhs, collapsed)),
        Step("jacobian", r"Recognise $\hat y_i$ and $\hat y_j$: one formula for $i=j$ and $i\neq j$.",
             sp.Eq(lhs, result), result=True),
    ))


@cache
def cross_entropy() -> Derivation:
    r"""Derive :math:`\partial E/\partial z_j = \hat y_j\sum_k y_k - y_j` for :math:`E=-\sum_k y_k\log\hat y_k`."""
    jac = jacobian()["jacobian"].expr.rhs  # yhat_i (delta_ij - yhat_j), reused with i -> k
    loss = -sp.Sum(y[k] * sp.log(yhat[k]), (k, 1, K))
    chain = sp.Sum(-y[k] / yhat[k] * jac.subs(i, k), (k, 1, K))
    general = sp.factor_terms(collapse(chain, BOUNDS))
    one_hot = general.subs(sp.Sum(y[k], (k, 1, K)), 1)
    lhs = sp.Derivative(E, z[j])
    return Derivation("cross_entropy", "Softmax followed by cross-entropy", (
        Step("loss", r"Cross-entropy of the prediction $\hat y$ against the label row $y$.",
             sp.Eq(E, loss)),
        Step("chain_rule", r"Chain rule through every $\hat y_k$, with the softmax Jacobian.",
             sp.Eq(lhs, chain)),
        Step("general", r"Collapse the Iverson bracket. This holds for any label row $y$, normalised or not.",
             sp.Eq(lhs, general), result=True),
        Step("normalised", r"When the label row sums to one ($\sum_k y_k = 1$: one-hot or soft "
             r"labels), the gradient is prediction minus label.",
             sp.Eq(lhs, one_hot), result=True),
    ))
