r"""Small example networks for the documentation's checks, and a one-line error report.

The derivation pages check every formula on a concrete network. Building it takes a dozen lines
that teach nothing, so the pages take it from here and keep only the check itself in view::

    >>> from rnnmath.examples import example, report
    >>> net = example(seed=7, T=4, D=3, H=3, K=4, x=[0, 2, 1, 2], y=[3, 0, 0, 1])
    >>> net.states.shape, net.delta_o.shape          # s_0..s_T, and delta^o_1..delta^o_T
    ((5, 3), (4, 4))
    >>> report(net.grads.dV, net.fd("V"))
    worst relative error: 9e-11

NumPy only (through :mod:`rnnmath`'s own functions); nothing here is needed to use the package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .gradients import rnn_forward, rnn_gradients, rnn_loss
from .numeric import numerical_gradient, relative_error

__all__ = ["Example", "example", "report", "worst"]

ROUNDING = 1e-13  # below this, two float64 computations of one formula differ by rounding only


def worst(computed, reference) -> float:
    r"""The largest elementwise relative error :math:`|a-b| / \max(|a|, |b|)` of two arrays."""
    return float(np.max(relative_error(computed, reference)))


def report(computed, reference, below: float = 1e-7) -> None:
    """Print the worst relative error of ``computed`` against ``reference``, to one digit.

    The check fails (``AssertionError``) unless the error is below ``below``: the printed number
    tells the reader how close the formula came, the assertion keeps the page honest. Errors
    below ``1e-13`` are float64 rounding, whose exact size differs between machines; they are
    reported as such rather than as a number that would make the page's doctest flaky.

    >>> report([1.0, 2.0], [1.0, 2.0 + 4e-12])
    worst relative error: 2e-12
    >>> report([1.0, 3.0], [1.0, 3.0 * (1 + 2e-16)])
    worst relative error: < 1e-13 (rounding)
    >>> report([1.0], [1.1])
    Traceback (most recent call last):
    ...
    AssertionError: worst relative error 9.1e-02 is not below 1e-07
    """
    err = worst(computed, reference)
    if not err < below:
        raise AssertionError(f"worst relative error {err:.1e} is not below {below:.0e}")
    if err < ROUNDING:
        print(f"worst relative error: < {ROUNDING:.0e} (rounding)")
    else:
        print(f"worst relative error: {err:.0e}")


@dataclass(frozen=True)
class Example:
    """A vanilla RNN with its data: what every check on the derivation pages starts from.

    Indices follow the formulas: ``states[t]`` is :math:`s_t` for ``t = 0..T``, and row ``t - 1``
    of ``x``, ``y``, ``probs`` and ``delta_o`` belongs to step :math:`t`.
    """

    x: Any                       # (T,) token ids or (T, D) rows
    y: Any                       # (T,) class ids
    params: dict = field(repr=False)
    activation: str = "tanh"

    def loss(self, **params) -> float:
        """:math:`E` as a function of the parameters (the others fixed at ``self.params``)."""
        return rnn_loss(self.x, self.y, **{**self.params, **params}, activation=self.activation)

    def fd(self, name: str) -> np.ndarray:
        """Finite-difference gradient of :math:`E` with respect to one parameter."""
        return numerical_gradient(self.loss, self.params, name)

    @cached_property
    def forward(self):
        return rnn_forward(self.x, **self.params, activation=self.activation)

    @property
    def states(self) -> np.ndarray:
        """(T + 1, H): :math:`s_0, \\dots, s_T`."""
        return self.forward.states

    @property
    def probs(self) -> np.ndarray:
        """(T, K): :math:`\\hat y_1, \\dots, \\hat y_T`."""
        return self.forward.probs

    @property
    def labels(self) -> np.ndarray:
        """(T, K): the one-hot label rows :math:`y_t`."""
        return np.eye(self.probs.shape[1])[np.asarray(self.y)]

    @property
    def delta_o(self) -> np.ndarray:
        """(T, K): :math:`\\delta^{o}_t = \\hat y_t - y_t`, from the Softmax page (one-hot labels)."""
        return self.probs - self.labels

    @cached_property
    def grads(self):
        """What the generated code returns: :func:`rnnmath.rnn_gradients`."""
        return rnn_gradients(self.x, self.y, **self.params, activation=self.activation)

    def __getattr__(self, name):
        # U, W, V, b, c, s0 read as attributes: net.W is net.params["W"].
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(name)


def example(seed: int, T: int, D: int, H: int, K: int, *, w: float = 0.5, x=None, y=None,
            activation: str = "tanh") -> Example:
    """A random network and sequence, drawn in a fixed order so a page's numbers are stable.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    T, D, H, K : int
        Steps, input size, hidden units, classes.
    w : float
        Scale of the recurrent weights (a smaller ``w`` contracts, a larger one expands).
    x : sequence of int, or "dense"
        Token ids; ``"dense"`` draws normal input rows ``(T, D)`` after the parameters.
    y : sequence of int
        Class ids, one per step.
    activation : {"tanh", "relu"}
    """
    if x is None or y is None:
        raise ValueError(f"x and y: expected the sequence's token ids and class ids, got "
                         f"x={x!r}, y={y!r}")
    rng = np.random.default_rng(seed)
    params = dict(U=rng.normal(size=(H, D)), W=w * rng.normal(size=(H, H)),
                  V=rng.normal(size=(K, H)), b=0.1 * rng.normal(size=H),
                  c=0.1 * rng.normal(size=K), s0=0.5 * rng.normal(size=H))
    if isinstance(x, str) and x == "dense":
        x = rng.normal(size=(T, D))
    return Example(x, list(y), params, activation)
