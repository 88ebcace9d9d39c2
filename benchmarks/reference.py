"""A careful hand-written NumPy BPTT: the yardstick for the generated kernels.

Same model and outputs as :func:`rnnmath.rnn_gradients` (tanh, summed cross-entropy, optional
biases ``b``, ``c`` and initial state ``s0``), written the way one would write it by hand when
speed matters:

* the input projection ``U x_t + b`` is computed for all steps before the time loop (a row gather
  for token ids, one matrix product for dense inputs);
* the two time loops do one ``np.dot``, one add and one elementwise op per step, all writing into
  preallocated arrays with ``out=``, with the weights made contiguous in the orientation the loop
  multiplies by (``np.dot`` on contiguous operands goes straight to BLAS; ``@`` and
  ``np.matmul`` cost more per call, and so does a transposed view);
* an unbatched sequence is run as 1-D vectors (BLAS ``gemv``) rather than ``(1, H)`` rows;
* every product outside the time loops is one 2-D product over all ``T * B`` rows: NumPy's ``@``
  on a stacked ``(T, B, H)`` array runs ``T`` small products instead;
* every parameter gradient is one matrix product (or a sum) over all steps at once; ``dU`` for
  token ids is a one-hot matrix product for short sequences and a row-sorted ``np.add.reduceat``
  otherwise;
* truncated BPTT (``truncate=k``: each ``E_t`` is sent back through at most ``k`` earlier steps)
  is computed lag by lag, each lag for all steps at once (``k`` matrix products instead of
  ``T (k + 1)`` vector products).

No input validation: the benchmark hands it well-formed float64 arrays.
"""
from __future__ import annotations

import numpy as np


def forward(x, U, W, V, b=None, c=None, s0=None):
    """States ``s_0..s_T``, logits and probabilities, shaped like :func:`rnnmath.rnn_forward`'s."""
    S, Z = _states_logits(x, U, W, V, b, c, s0)
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    E /= E.sum(axis=-1, keepdims=True)
    return S, Z, E


def _states_logits(x, U, W, V, b, c, s0):
    x = np.asarray(x)
    ids = x.dtype.kind in "iu"
    H = W.shape[0]
    # Hoisted input projection, for every step at once.
    P = U.T[x] if ids else _fold(x, U.T)
    if b is not None:
        P += b
    T = P.shape[0]
    S = np.empty((T + 1,) + P.shape[1:])
    if s0 is None:
        S[0] = 0.0
    else:
        S[0] = s0
    Wt = np.ascontiguousarray(W.T)
    dot, tanh = np.dot, np.tanh
    buf = np.empty(P.shape[1:])
    for t in range(T):
        dot(S[t], Wt, out=buf)
        buf += P[t]
        tanh(buf, out=S[t + 1])
    Z = _fold(S[1:], V.T)
    if c is not None:
        Z += c
    return S, Z


def gradients(x, y, U, W, V, b=None, c=None, s0=None, truncate=None):
    """``(loss, dU, dW, dV, db, dc, ds0)`` for class-id labels ``y`` shaped like ``x``'s ids."""
    x = np.asarray(x)
    y = np.asarray(y)
    ids = x.dtype.kind in "iu"
    S, Z = _states_logits(x, U, W, V, b, c, s0)
    T = Z.shape[0]
    H, K = W.shape[0], V.shape[0]

    # Softmax cross-entropy against class ids; DO = yhat - onehot(y), computed in place.
    Z -= Z.max(axis=-1, keepdims=True)
    DO = np.exp(Z)
    total = DO.sum(axis=-1, keepdims=True)
    DO /= total
    DO2, Z2, y1 = DO.reshape(-1, K), Z.reshape(-1, K), y.ravel()
    rows = np.arange(y1.size)
    loss = float(np.log(total).sum() - Z2[rows, y1].sum())
    DO2[rows, y1] -= 1.0

    # Backward: delta_t = (V^T do_t + W^T delta_{t+1}) * (1 - s_t^2), for t = T..1.
    F = S[1:] * S[1:]
    np.subtract(1.0, F, out=F)
    DL = _fold(DO, V)
    if truncate is None or truncate >= T - 1:
        DL *= F
        dot = np.dot
        buf = np.empty(DL.shape[1:])
        for t in range(T - 2, -1, -1):
            dot(DL[t + 1], W, out=buf)
            buf *= F[t]
            DL[t] += buf
    else:
        DL *= F
        # (T*B, H) rows, n per step: one matrix product per lag.
        n = DL[0].size // H
        DL2, F2 = DL.reshape(-1, H), F.reshape(-1, H)
        Dj = DL2
        for j in range(1, truncate + 1):
            Dj = Dj[n:] @ W
            Dj *= F2[:-j * n]
            DL2[:-j * n] += Dj

    # Parameter gradients, each over all steps (and batch items) at once.
    S2, Sp2 = S[1:].reshape(-1, H), S[:-1].reshape(-1, H)
    DL2 = DL.reshape(-1, H)
    dV = DO2.T @ S2
    dc = DO2.sum(axis=0)
    dW = DL2.T @ Sp2
    db = DL2.sum(axis=0)
    ds0 = DL[0] @ W
    if ids:
        dU = _scatter_columns(DL2, x.ravel(), U.shape[1])
    else:
        dU = DL2.T @ x.reshape(-1, x.shape[-1])
    if s0 is not None and np.ndim(s0) == 1 and ds0.ndim == 2:
        ds0 = ds0.sum(axis=0)
    return loss, dU, dW, dV, db, dc, ds0


def _fold(A, M):
    """``A @ M`` for A of shape (..., m) as one 2-D matrix product (NumPy loops over the leading
    axes of a stacked ``@`` one small product at a time)."""
    return (A.reshape(-1, A.shape[-1]) @ M).reshape(A.shape[:-1] + (M.shape[-1],))


def _scatter_columns(DL2, ids, D):
    """dU[:, i] = sum of delta rows whose token id is i, as an (H, D) array."""
    n, H = DL2.shape
    if n * D <= 16 * 1024:
        # Short sequences: a one-hot matrix product is one BLAS call (measured faster than
        # sorting below about this size, slower above).
        onehot = np.zeros((n, D))
        onehot[np.arange(n), ids] = 1.0
        return DL2.T @ onehot
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    out = np.zeros((D, H))
    out[sorted_ids[starts]] = np.add.reduceat(DL2[order], starts, axis=0)
    return out.T
