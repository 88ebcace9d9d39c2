r"""The public RNN functions: validate once, normalise shapes, call the generated kernels.

Model (column vectors, :math:`t = 1..T`, loss summed over time and batch):

.. math::
    a_t = U x_t + W s_{t-1} + b,\quad s_t = f(a_t),\quad z_t = V s_t + c,\quad
    \hat y_t = \operatorname{softmax}(z_t),\quad E = -\sum_t \sum_k y_{t,k}\log \hat y_{t,k}.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import _generated as gen
from . import cells
from . import heads
from . import validate as check

ACTIVATIONS = ("tanh", "relu")
OUTPUTS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class RNNForward:
    """What the forward pass computed.

    Attributes
    ----------
    states : (T + 1, H) or (T + 1, B, H) float
        :math:`s_0, \\dots, s_T`; ``states[t]`` is :math:`s_t`.
    logits : (T, K) or (T, B, K) float
        :math:`z_1, \\dots, z_T`.
    probs : (T, K) or (T, B, K) float
        :math:`\\hat y_1, \\dots, \\hat y_T`.
    loss : float or None
        :math:`E`, when labels were given.
    """

    states: np.ndarray
    logits: np.ndarray
    probs: np.ndarray
    loss: float | None = None

    @property
    def final(self) -> dict:
        """``{"s": s_T}``: the state to start the next chunk from."""
        return {"s": self.states[-1]}


@dataclass(frozen=True)
class RNNGradients:
    """Loss and the gradient of every parameter, each with its parameter's shape.

    Attributes
    ----------
    loss : float
    dU, dW, dV, db, dc, ds0 : ndarray
        Shaped like ``U``, ``W``, ``V``, ``b``, ``c``, ``s0``.
    final : dict of str to (H,) or (B, H) float
        ``{"s": s_T}``, the final state (to carry into the next chunk without a second pass).
    dx : (T, D) or (T, B, D) float, or None
        Gradient with respect to dense inputs; None for token ids.
    """

    loss: float
    dU: np.ndarray
    dW: np.ndarray
    dV: np.ndarray
    db: np.ndarray
    dc: np.ndarray
    ds0: np.ndarray
    final: dict | None = None
    dx: np.ndarray | None = None

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{"U": dU, "W": dW, ...}``, keyed like the parameters (handy for gradient_check)."""
        return {"U": self.dU, "W": self.dW, "V": self.dV, "b": self.db, "c": self.dc,
                "s0": self.ds0}


class _Problem(NamedTuple):
    """The validated arguments (a named tuple: built once per call, cheaply)."""

    x: np.ndarray
    ids: bool
    batched: bool
    U: np.ndarray
    W: np.ndarray
    V: np.ndarray
    b: np.ndarray
    c: np.ndarray
    s0: np.ndarray           # (H,) or (B, H); (H,) is shared by a batch
    activation: str
    squares: tuple           # sums of squared entries of U, W, V, c: bounds for the results


def _prepare(x, U, W, V, b, c, s0, activation) -> _Problem:
    """The validated arguments; the caller holds :func:`check.quiet` (the weights are tested
    by dot products, whose squares may overflow)."""
    W, W2 = check.measured_matrix("W", W)
    H = W.shape[0]
    if W.shape != (H, H):
        raise ValueError(f"W: expected a square (H, H) matrix, got shape {W.shape}")
    U, U2 = check.measured_matrix("U", U, rows=H)
    V, V2 = check.measured_matrix("V", V, cols=H)
    D, K = U.shape[1], V.shape[0]
    b = check.vector("b", b, H)
    c_given = c is not None
    c = check.vector("c", c, K)
    x, ids, batched = check.sequence("x", x, D, "D = U.shape[1]")
    s0 = check.initial_state("s0", s0, H, x.shape[1] if batched else None)
    activation = check.choice("activation", activation, ACTIVATIONS)
    squares = (U2, W2, V2, check.sum_of_squares(c) if c_given else 0.0)
    return _Problem(x, ids, batched, U, W, V, b, c, s0, activation, squares)


def _labels(y, prob: _Problem, output: str) -> np.ndarray:
    """Class ids (T, ...) as intp, or label rows (T, ..., K) as float64."""
    return check.labels(y, prob.V.shape[0], prob.x, prob.batched,
                        upper=1.0 if output == "sigmoid" else None)[0]


def _mask(mask, prob: _Problem):
    """Step weights as (T, ..., 1), or None; booleans are 1 and 0."""
    return heads.mask_weights(mask, prob.x.shape[:2] if prob.batched else prob.x.shape[:1])


def _forward(prob: _Problem):
    """The cell's forward pass and the logits: (cell, CellForward, Z)."""
    cell = cells.rnn(prob.activation)
    _check_projection(prob, cell)
    # s0 was validated by _prepare: straight to the kernels, no second conversion.
    fw = cell._run(prob.x if prob.batched else prob.x[:, None], prob.ids, prob.batched,
                   {"U": prob.U, "W": prob.W, "b": prob.b}, {"s": prob.s0})
    return cell, fw, heads.logits(fw.outputs, prob.V, prob.c)


def _check_projection(prob: _Problem, cell) -> None:
    """Dense inputs: U x_t + b must be finite, since tanh turns an overflowed sum into a finite,
    wrong state (a partial sum past float64 makes tanh(5) come out as tanh(inf) = 1).

    Token ids need no check: U x_t + b is then one addition U[:, i] + b, which overflows only
    when the exact sum is beyond float64, where tanh is +-1 and tanh' is 0 to the last bit (the
    overflowed input gives exactly those), and relu's inf state is caught with the states.
    Dense: bounded by max|U| max|x| D + max|b| first, so ordinary inputs cost four reductions."""
    if prob.ids:
        return
    with check.quiet():  # the bound itself may overflow: then the projection is computed
        scale = _max_abs(prob.U) * _max_abs(prob.x)
        if scale * prob.U.shape[1] + _max_abs(prob.b) < 1e300:
            return
        P = cell.kernels._project(prob.x, prob.ids, prob.U) + prob.b
    check.finite_result("input projections U x_t + b", P, first=1)


def _max_abs(a) -> float:
    """max |a| (0 for no entries) from two reductions, without an |a| copy of the array."""
    return max(a.max(initial=0.0), -a.min(initial=0.0))


# Bounds below this leave eight orders of magnitude for rounding before float64 overflows.
_SAFE = 1e300


def _results_finite(prob: _Problem, S, loss, DO, delta) -> bool:
    r"""True when every result of :func:`rnn_gradients` is finite, from three sums of squares.

    The states S, dE/dz and :math:`\delta_t = \partial E/\partial a_t` are read (a sum of
    squares is not finite when an entry is not).  Everything else is a sum over the n = T B
    rows of products of tested arrays and validated weights, so Cauchy-Schwarz bounds every
    entry by a product of square roots of sums of squares (written :math:`|A|^2`), without
    reading it: :math:`z_t = V s_t + c` by :math:`|S| |V| + |c|`; dW by :math:`|\delta| |S|`;
    dU by :math:`|\delta| |X|`, with :math:`|X|^2 = n` for one-hot rows; db by
    :math:`\sqrt{n} |\delta|`; ds0 (:math:`\delta_1 W`, summed over a batch) by
    :math:`\sqrt{n} |\delta| |W|`; dx by :math:`|\delta| |U|`; dV by :math:`|DO| |S|`; dc by
    :math:`\sqrt{n} |DO|`.  Three dot products instead of a reduction over every result: at
    workload A's size the number of NumPy calls, not the bytes, is the cost.

    False: something overflowed, or a bound is too large to decide; the caller then tests each
    result exactly."""
    ss = check.sum_of_squares
    U2, W2, V2, c2 = prob.squares
    n = delta.shape[0] * delta.shape[1]  # delta: (T, B, H)
    S2, DO2, delta2 = ss(S), ss(DO), ss(delta)
    X2 = n if prob.ids else ss(prob.x)
    sqrt = math.sqrt
    return (sqrt(delta2) * sqrt(max(S2, X2, n * max(W2, 1.0), 0.0 if prob.ids else U2)) < _SAFE
            and sqrt(DO2) * sqrt(max(S2, n)) < _SAFE
            and sqrt(S2) * sqrt(V2) + sqrt(c2) < _SAFE
            and math.isfinite(loss))


def rnn_forward(x, U, W, V, b=None, c=None, s0=None, *, activation="tanh", output="softmax",
                y=None, mask=None) -> RNNForward:
    """Run the RNN forward and return states, logits, probabilities (and the loss if ``y``).

    Parameters
    ----------
    x : (T,) or (T, B) int, or (T, D) or (T, B, D) float
        Token ids (one-hot inputs with ``D = U.shape[1]``) or dense input rows.
    U : (H, D) float
    W : (H, H) float
    V : (K, H) float
    b : (H,) float, optional
    c : (K,) float, optional
    s0 : (H,) or (B, H) float, optional
        Initial state; zeros if omitted.
    activation : {"tanh", "relu"}
    output : {"softmax", "sigmoid"}
        Probabilities over K exclusive classes, or K independent yes/no probabilities.
    y, mask : optional
        Labels and step weights as in :func:`rnn_gradients`; with ``y``, ``loss`` is filled in.

    Returns
    -------
    RNNForward

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> U, W, V = rng.normal(size=(3, 4)), rng.normal(size=(3, 3)), rng.normal(size=(5, 3))
    >>> out = rnn_forward([0, 3, 1], U, W, V)
    >>> out.states.shape, out.probs.shape
    ((4, 3), (3, 5))
    >>> np.allclose(out.probs.sum(axis=-1), 1)
    True
    """
    with check.quiet():  # the weights' sums of squares may overflow: then each entry is tested
        prob = _prepare(x, U, W, V, b, c, s0, activation)
    output = check.choice("output", output, OUTPUTS)
    M = _mask(mask, prob)
    _, fw, Z = _forward(prob)
    loss = None
    with check.quiet():  # Z - max(Z) may overflow to -inf: exp gives the right 0
        Yhat = gen.softmax(Z) if output == "softmax" else gen._sigmoid(Z)
    if y is not None:
        loss, _ = heads.loss_and_error(Z, _labels(y, prob, output), M, output)
    return RNNForward(fw.states["s"], Z, Yhat, loss)


def rnn_loss(x, y, U, W, V, b=None, c=None, s0=None, *, activation="tanh", output="softmax",
             mask=None) -> float:
    """The loss :math:`E` alone (arguments as in :func:`rnn_gradients`).

    Examples
    --------
    >>> import numpy as np
    >>> U, W, V = np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((4, 2))
    >>> print(f"{rnn_loss([0, 1], [2, 3], U, W, V):.6f}")  # uniform guesses: 2 log 4
    2.772589
    """
    return rnn_forward(x, U, W, V, b, c, s0, activation=activation, output=output,
                       y=check.required("y", y),
                       mask=mask).loss


def rnn_gradients(x, y, U, W, V, b=None, c=None, s0=None, *, activation="tanh",
                  output="softmax", mask=None, truncate=None) -> RNNGradients:
    r"""Loss and exact gradients of the summed cross-entropy, by (truncated) BPTT.

    Parameters
    ----------
    x : (T,) or (T, B) int, or (T, D) or (T, B, D) float
        Token ids (one-hot inputs, ``D = U.shape[1]``) or dense input rows.
    y : (T,) or (T, B) int, or (T, K) or (T, B, K) float
        Class ids, or non-negative label rows.  Rows need not sum to one: the gradient of
        :math:`E_t` with respect to :math:`z_t` is :math:`(\sum_k y_{t,k})\hat y_t - y_t`.
    U : (H, D) float
    W : (H, H) float
    V : (K, H) float
    b : (H,) float, optional
        Zeros if omitted; ``db`` is returned either way.
    c : (K,) float, optional
    s0 : (H,) or (B, H) float, optional
        Initial state, zeros if omitted; ``ds0`` has the shape of ``s0`` ((H,) or (B, H) when
        omitted, one per sequence).
    activation : {"tanh", "relu"}
    output : {"softmax", "sigmoid"}
        ``"softmax"``: exclusive classes, cross-entropy.  ``"sigmoid"``: K independent
        probabilities with binary cross-entropy (multi-label; label rows in [0, 1]).
        Either way :math:`\partial E_t/\partial z_t` is prediction minus label (times the row
        sum of the labels, for softmax).
    mask : (T,) or (T, B) float >= 0 or bool, optional
        Step weights, :math:`E = \sum_t m_t E_t`: 0 for steps without a target (many-to-one,
        one-to-many, encoder-decoder); a bool mask is 0/1.  None weighs every step by 1.
    truncate : int >= 0, optional
        None for full BPTT.  ``k``: each :math:`E_t` sends its error back through at most ``k``
        earlier steps (k + 1 terms), the semantics of the classic ``bptt_truncate`` loop.
        ``k >= T - 1`` is full BPTT.

    Returns
    -------
    RNNGradients
        ``loss`` (summed over time and batch) and ``dU, dW, dV, db, dc, ds0``, float64.

    Examples
    --------
    >>> import numpy as np
    >>> from rnnmath import rnn_gradients, rnn_loss, gradient_check
    >>> rng = np.random.default_rng(1)
    >>> params = dict(U=rng.normal(size=(4, 3)), W=0.5 * rng.normal(size=(4, 4)),
    ...               V=rng.normal(size=(3, 4)), b=rng.normal(size=4), c=rng.normal(size=3),
    ...               s0=rng.normal(size=4))
    >>> x, y = [0, 2, 1, 1], [1, 0, 2, 2]
    >>> g = rnn_gradients(x, y, **params)
    >>> g.dW.shape == params["W"].shape
    True
    >>> check = gradient_check(lambda **p: rnn_loss(x, y, **p), params, g.as_dict())
    >>> check.worst < 1e-7
    True
    """
    # One floating-point switch for the whole call: on workload A the kernels take about
    # 0.25 ms and every NumPy call around them counts (docs/performance.md).  The pieces -- cell
    # forward, output head, cell backward with the head's upstream gradient -- are the cell's
    # generated kernels called directly on the validated arrays; their overflow checks are one
    # test at the end.
    with check.quiet():
        prob = _prepare(x, U, W, V, b, c, s0, activation)
        output = check.choice("output", output, OUTPUTS)
        Y = _labels(y, prob, output)
        M = _mask(mask, prob)
        k = check.truncate(truncate)
        cell = cells.rnn(prob.activation)
        _check_projection(prob, cell)
        xb = prob.x if prob.batched else prob.x[:, None]  # the kernels' (T, B, ...)
        (S,) = cell.kernels.forward(xb, prob.ids, prob.U, prob.W, prob.b, prob.s0)
        outputs = S[1:] if prob.batched else S[1:, 0]
        Z = heads._logits(outputs, prob.V, prob.c)
        loss, DO = heads._loss_kernel(Z, Y, M, output)
        du, dV, dc = heads.backward(outputs, DO, prob.V)
        g, dx, d0, signals = cell.kernels.backward(
            xb, prob.ids, S, prob.U, prob.W, prob.b, du if prob.batched else du[:, None], 0.0,
            truncate=k)
        ok = _results_finite(prob, S, loss, DO, signals["a"])
    grads = RNNGradients(loss, g["U"], g["W"], dV, g["b"], dc,
                         cells.state0_gradient(d0["s"], prob.s0.shape, prob.batched),
                         {"s": S[-1] if prob.batched else S[-1, 0]},
                         dx if (dx is None or prob.batched) else dx[:, 0])
    if not ok:
        # Something overflowed: the checks of the pieces, in their order, name the first.
        cell._check_forward({"s": S})
        heads._check_logits(Z)
        heads._check_loss(loss, DO)
        cell._check_backward(signals)
        named = [(f"d{name}", value) for name, value in grads.as_dict().items()]
        if grads.dx is not None:
            named.append(("gradient dx", grads.dx))
        for name, value in named:  # a product over steps can overflow though its factors not
            check.finite_result(name, value, first=None)
    return grads
