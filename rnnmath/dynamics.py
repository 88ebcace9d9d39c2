r"""Vanishing and exploding gradients: the norms of the state-to-state Jacobian products.

One step of the network, as a function of the previous state, has the Jacobian
:math:`J_j = \partial s_j/\partial s_{j-1} = \operatorname{diag}(f'(a_j))\, W`, and the chain rule
strings them together:

.. math::
    \frac{\partial s_t}{\partial s_k} = J_t J_{t-1} \cdots J_{k+1}, \qquad
    \Bigl\lVert \frac{\partial s_t}{\partial s_k} \Bigr\rVert
    \le \prod_{j=k+1}^{t} \lVert \operatorname{diag}(f'_j)\rVert \, \lVert W\rVert.

Every term that carries a loss :math:`E_t` back to the state :math:`s_k` passes through this
product, so its norm says how much of the gradient survives :math:`t - k` steps.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import validate as check
from .gradients import rnn_forward

__all__ = ["state_jacobian_norms"]

def _ord(value):
    if isinstance(value, str) and value == "fro":
        return value
    if (not isinstance(value, (bool, str)) and isinstance(value, numbers.Real)
            and value in (1, 2, np.inf)):
        return value
    raise ValueError(f"ord: expected one of 2, 'fro', 1, numpy.inf, got {value!r}")


def state_jacobian_norms(x, U, W, b=None, s0=None, *, activation="tanh", ord=2) -> np.ndarray:
    r"""Norms of every state-to-state Jacobian :math:`\partial s_t/\partial s_k`, :math:`k \le t`.

    Runs the network forward on one sequence, forms
    :math:`J_j = \operatorname{diag}(f'(a_j))\,W` for :math:`j = 1..T` from the stored states
    (:math:`f' = 1 - s^2` for tanh; :math:`[s > 0]` for relu, 0 at the kink as everywhere in this
    package) and multiplies them out, one lag :math:`t - k` at a time, for all :math:`t` at once.

    Parameters
    ----------
    x : (T,) int or (T, D) float
        One sequence: token ids (one-hot inputs, ``D = U.shape[1]``) or dense input rows. For a
        batch, call once per sequence: each sequence has its own Jacobians.
    U : (H, D) float
    W : (H, H) float
    b : (H,) float, optional
        Zeros if omitted.
    s0 : (H,) float, optional
        Initial state; zeros if omitted.
    activation : {"tanh", "relu"}
    ord : {2, "fro", 1, numpy.inf}
        The matrix norm, as in :func:`numpy.linalg.norm`; 2 is the spectral norm (largest
        singular value).

    Returns
    -------
    (T + 1, T + 1) float64
        Entry ``[t, k]`` is :math:`\lVert \partial s_t/\partial s_k\rVert` for
        :math:`0 \le k \le t \le T`; row ``t`` reads the states that :math:`s_t` depends on.
        The diagonal is the norm of the identity (1, or :math:`\sqrt H` for ``"fro"``). Entries
        above the diagonal are NaN: :math:`s_t` does not depend on later states, and NaN keeps
        "no dependence" apart from a product that has vanished to exactly 0 (a relu network
        whose units all switched off). The last row, ``out[T, T - lag]``, is the decay of the
        last state's sensitivity with the lag.

    Notes
    -----
    The products are rescaled by powers of two as they are formed (exactly, no rounding), so
    they neither overflow nor underflow: a norm beyond the float64 range is returned as ``inf``
    or ``0``, never NaN. Cost: :math:`T(T+1)/2` products of :math:`H \times H` matrices and as
    many norms; with ``ord=2`` each norm is a singular value decomposition, which dominates for
    large :math:`H`. ``"fro"``, 1 and ``inf`` are much cheaper.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[0.5, 0.0], [0.0, 0.25]])
    >>> N = state_jacobian_norms([0, 0, 0], np.zeros((2, 1)), W, activation="relu",
    ...                          s0=np.ones(2))
    >>> N                                     # relu' = 1 on the positive states: N[t, k] = 0.5^(t-k)
    array([[1.   ,   nan,   nan,   nan],
           [0.5  , 1.   ,   nan,   nan],
           [0.25 , 0.5  , 1.   ,   nan],
           [0.125, 0.25 , 0.5  , 1.   ]])
    """
    ord = _ord(ord)
    W = check.finite_matrix("W", W)
    H = W.shape[0]
    if W.shape != (H, H):
        raise ValueError(f"W: expected a square (H, H) matrix, got shape {W.shape}")
    if s0 is not None and np.shape(s0) != (H,):
        raise ValueError(f"s0: expected shape ({H},) (one sequence), got shape {np.shape(s0)}")
    # The forward pass validates x, U, b, s0 and activation; its output layer is not used.
    states = rnn_forward(x, U, W, np.zeros((1, H)), b, None, s0, activation=activation).states
    if states.ndim != 2:
        raise ValueError(f"x: expected one sequence, (T,) ids or (T, D) rows, got shape "
                         f"{np.shape(x)}; call once per sequence of a batch")
    T = states.shape[0] - 1
    S = states[1:]
    fprime = 1.0 - S**2 if activation == "tanh" else (S > 0).astype(np.float64)
    J = fprime[:, :, None] * W[None]             # J[j - 1] = ds_j/ds_{j-1} = diag(f'_j) W

    out = np.full((T + 1, T + 1), np.nan)
    out[np.diag_indices(T + 1)] = np.linalg.norm(np.eye(H), ord)
    P = np.broadcast_to(np.eye(H), (T + 1, H, H))  # lag 0: P[i] = ds_i/ds_i
    exponent = np.zeros(T + 1, dtype=np.int64)     # P's true value is P * 2**exponent
    with np.errstate(over="ignore", under="ignore"):
        for lag in range(1, T + 1):
            # P[i] = ds_{lag+i}/ds_i: extend ds_t/ds_{t-lag+1} by J_{t-lag+1}, all t at once.
            P = P[1:] @ J[:T - lag + 1]
            _, e = np.frexp(np.abs(P).max(axis=(1, 2)))
            P = np.ldexp(P, -e[:, None, None])
            exponent = exponent[1:] + e
            t = np.arange(lag, T + 1)
            out[t, t - lag] = np.ldexp(np.linalg.norm(P, ord, axis=(1, 2)), exponent)
    return out
