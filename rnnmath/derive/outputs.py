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

from .steps import Derivation, Step

z, y = sp.symbols("z y", real=True)
m = sp.Symbol("m_{t}", nonnegative=True)
yhat = sp.Symbol(r"\hat{y}", positive=True)
sigmoid = sp.Function("sigmoid")  # printed as _sigmoid; its definition is the first step


def _label(text: str) -> sp.Symbol:
    return sp.Symbol(text)


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
    lhs = _label(r"\frac{\partial E}{\partial z_{k}}")
    return Derivation("sigmoid_bce", "Sigmoid outputs with binary cross-entropy", (
        Step("definition", r"Each class gets its own probability; rows need not sum to one.",
             sp.Eq(yhat, sig)),
        Step("loss", r"Binary cross-entropy of one class against a label $y \in [0, 1]$.",
             sp.Eq(_label("E_{k}"), loss)),
        Step("stable", r"The same loss without $\log$ of a tiny number: finite for every $z$ "
             r"(how the generated code evaluates it).", sp.Eq(_label("E_{k}"), stable)),
        Step("derivative", r"Differentiate.", sp.Eq(lhs, raw)),
        Step("result", r"Substitute $e^{z} = \hat y/(1-\hat y)$: prediction minus label, class "
             r"by class, whatever the other classes do.", sp.Eq(lhs, result), result=True),
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
    return Derivation("softmax_bce", "Softmax with binary cross-entropy (two classes)", (
        Step("loss", r"Binary cross-entropy summed over the classes of a softmax.",
             sp.Eq(_label("E"), loss)),
        Step("gradient", r"Differentiate with respect to $z_1$.", sp.Eq(lhs, grad)),
        Step("one_hot", r"With $y_2 = 1 - y_1$ and $z_2 = 0$, in terms of $\hat y_1$: twice "
             r"$\hat y_1 - y_1$, and for $K > 2$ not even a multiple of it.",
             sp.Eq(lhs, in_p), result=True),
    ))


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
