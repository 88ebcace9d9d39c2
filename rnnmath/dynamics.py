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
import sys

import numpy as np

from . import _generated as gen
from . import validate as check

__all__ = ["state_jacobian_norms"]

MAX_TABLE_BYTES = 2**28  # the full table of T = 5792 steps; beyond it, last_only=True


def _ord(value):
    if isinstance(value, str) and value == "fro":
        return value
    if (not isinstance(value, (bool, str)) and isinstance(value, numbers.Real)
            and value in (1, 2, np.inf)):
        return value
    raise ValueError(f"ord: expected one of 2, 'fro', 1, numpy.inf, got {check._short(value)}")


def _fprime(x, U, W, b, s0, activation) -> np.ndarray:
    r"""f'(a_1..a_T) (T, H) of one sequence, from a forward pass kept in range by powers of two.

    The state is carried as :math:`s_t = m_t 2^{e_t}` with :math:`\max|m_t| < 1`; ``W`` as
    :math:`W_m 2^{e_W}`. Then :math:`a_t = 2^{e_{t-1} + e_W}(W_m m_{t-1} + 2^{-e_{t-1}-e_W}
    P_t)` never overflows: relu keeps its sign pattern (all that :math:`f'` needs) however far
    the states grow past float64, and tanh sees :math:`\pm\infty`, not NaN, for a huge
    :math:`a_t`.
    """
    H = W.shape[0]
    U = check.finite_matrix("U", U, rows=H)
    b = check.vector("b", b, H)
    x, ids, batched = check.sequence("x", x, U.shape[1], "D = U.shape[1]")
    if batched:
        raise ValueError(f"x: expected one sequence, (T,) ids or (T, D) rows, got shape "
                         f"{x.shape}; call once per sequence of a batch")
    if s0 is not None and check.as_array("s0", s0).shape != (H,):
        raise ValueError(f"s0: expected shape ({H},) (one sequence), got shape "
                         f"{np.shape(s0)}")
    s0 = check.initial_state("s0", s0, H, None)
    with check.quiet():
        P = gen.projection_ids(x, U, b) if ids else gen.projection_dense(x, U, b)
    check.finite_result("input projections U x_t + b", P, first=1)
    Wm, eW = _split(W)
    m, e = _split(s0)
    F = np.empty((len(P), H))
    with check.quiet():  # ldexp of a huge exponent gives inf for tanh, underflow gives 0
        for t, pt in enumerate(P):
            a = Wm @ m + np.ldexp(pt, -(e + eW))
            if activation == "relu":
                F[t] = a > 0
                m, e = _split(np.maximum(a, 0.0), e + eW)
            else:
                s = np.tanh(np.ldexp(a, e + eW))
                F[t] = 1.0 - s * s
                m, e = _split(s)
    return F


def _split(v, exponent=0):
    """(m, e) with v * 2**exponent = m * 2**e exactly and max|m| < 1 (m = 0, e = 0 for v = 0)."""
    _, e = np.frexp(np.max(np.abs(v), initial=0.0))
    return np.ldexp(v, -int(e)), exponent + int(e)


def state_jacobian_norms(x, U, W, b=None, s0=None, *, activation="tanh", ord=2,
                         last_only=False, progress=False) -> np.ndarray:
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
    last_only : bool
        Only the last row, :math:`\lVert \partial s_T/\partial s_k\rVert` for
        :math:`k = 0..T`, as a (T + 1,) array: T products and O(T) memory instead of
        :math:`T^2/2` and :math:`O(T^2)`. Use it for long sequences.
    progress : bool
        Print a progress line to stderr (the full table of a long sequence takes a while).

    Returns
    -------
    (T + 1, T + 1) float64, or (T + 1,) with ``last_only``
        Entry ``[t, k]`` is :math:`\lVert \partial s_t/\partial s_k\rVert` for
        :math:`0 \le k \le t \le T`; row ``t`` reads the states that :math:`s_t` depends on.
        The diagonal is the norm of the identity (1, or :math:`\sqrt H` for ``"fro"``). Entries
        above the diagonal are NaN: :math:`s_t` does not depend on later states, and NaN keeps
        "no dependence" apart from a product that has vanished to exactly 0 (a relu network
        whose units all switched off). The last row, ``out[T, T - lag]``, is the decay of the
        last state's sensitivity with the lag.

    Raises
    ------
    ValueError
        For bad arguments, and when the full (T + 1, T + 1) table would exceed
        ``MAX_TABLE_BYTES`` (256 MB, T of about 5800): use ``last_only=True`` then.

    Notes
    -----
    The products are rescaled by powers of two as they are formed (exactly, no rounding), so
    they neither overflow nor underflow: a norm beyond the float64 range is returned as ``inf``
    or ``0``, never NaN. The forward pass that supplies :math:`f'(a_j)` is rescaled the same
    way, so a network whose states overflow float64 (relu, :math:`W = 10^6 I`) still gets the
    right derivative pattern, and an exploding product gives ``inf``, never a false 0. Cost:
    :math:`T(T+1)/2` products of :math:`H \times H` matrices and as many norms; with ``ord=2``
    each norm is a singular value decomposition, which dominates for large :math:`H`. ``"fro"``,
    1 and ``inf`` are much cheaper.

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
    last_only, progress = check.flag("last_only", last_only), check.flag("progress", progress)
    activation = check.choice("activation", activation, ("tanh", "relu"))
    W = check.finite_matrix("W", W)
    H = W.shape[0]
    if W.shape != (H, H):
        raise ValueError(f"W: expected a square (H, H) matrix, got shape {W.shape}")
    T = _steps(x)
    if not last_only and (T + 1) ** 2 * 8 > MAX_TABLE_BYTES:
        raise ValueError(f"x: T = {T} steps needs a ({T + 1}, {T + 1}) table of "
                         f"{(T + 1) ** 2 * 8 / 1e9:.1f} GB; expected at most "
                         f"{MAX_TABLE_BYTES / 1e6:.0f} MB: pass last_only=True for the norms "
                         "of ds_T/ds_k (O(T) memory), or split the sequence")
    F = _fprime(x, U, W, b, s0, activation)
    J = F[:, :, None] * W[None]                  # J[j - 1] = ds_j/ds_{j-1} = diag(f'_j) W
    identity = np.linalg.norm(np.eye(H), ord)
    if last_only:
        return _last_row(J, ord, identity, progress)

    out = np.full((T + 1, T + 1), np.nan)
    out[np.diag_indices(T + 1)] = identity
    P = np.broadcast_to(np.eye(H), (T + 1, H, H))  # lag 0: P[i] = ds_i/ds_i
    exponent = np.zeros(T + 1, dtype=np.int64)     # P's true value is P * 2**exponent
    with check.quiet():
        for lag in range(1, T + 1):
            # P[i] = ds_{lag+i}/ds_i: extend ds_t/ds_{t-lag+1} by J_{t-lag+1}, all t at once.
            P = P[1:] @ J[:T - lag + 1]
            _, e = np.frexp(np.abs(P).max(axis=(1, 2)))
            P = np.ldexp(P, -e[:, None, None])
            exponent = exponent[1:] + e
            t = np.arange(lag, T + 1)
            out[t, t - lag] = np.ldexp(np.linalg.norm(P, ord, axis=(1, 2)), exponent)
            if progress and (lag % max(1, T // 20) == 0 or lag == T):
                print(f"\rstate_jacobian_norms: lag {lag}/{T}", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return out


def _steps(x) -> int:
    """T of one sequence, read before any work is done (the table's size depends on it)."""
    arr = check.as_array("x", x)
    return int(arr.shape[0]) if arr.ndim else 0


def _last_row(J, ord, identity, progress) -> np.ndarray:
    """||ds_T/ds_k|| for k = 0..T: ds_T/ds_{k-1} = ds_T/ds_k J_k, from k = T down."""
    T, H = J.shape[0], J.shape[1]
    row = np.empty(T + 1)
    row[T] = identity
    Q, exponent = np.eye(H), 0
    with check.quiet():
        for k in range(T, 0, -1):
            Q, exponent = _split(Q @ J[k - 1], exponent)
            row[k - 1] = np.ldexp(np.linalg.norm(Q, ord), exponent)
            if progress and ((T - k + 1) % max(1, T // 20) == 0 or k == 1):
                print(f"\rstate_jacobian_norms: {T - k + 1}/{T}", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return row
