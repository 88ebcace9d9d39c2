"""An independent RNN loss in extended precision, for finite differences below float64's noise.

Rounding of a float64 loss (about 1e-16 |E|) divided by the step swamps small gradient entries;
the same differences of this loss, in ``np.longdouble``, do not.
"""
import numpy as np


def reference_loss(x, y, U, W, V, b=None, c=None, s0=None, activation="tanh", output="softmax",
                   mask=None):
    """E for one unbatched or batched problem, step by step in extended precision."""
    ld = np.longdouble
    U, W, V = (np.asarray(m, dtype=ld) for m in (U, W, V))
    H, D, K = W.shape[0], U.shape[1], V.shape[0]
    b = np.zeros(H, ld) if b is None else np.asarray(b, ld)
    c = np.zeros(K, ld) if c is None else np.asarray(c, ld)
    x, y = np.asarray(x), np.asarray(y)
    X = np.eye(D, dtype=ld)[x] if np.issubdtype(x.dtype, np.integer) else x.astype(ld)
    Y = np.eye(K, dtype=ld)[y] if np.issubdtype(y.dtype, np.integer) else y.astype(ld)
    s = np.zeros(X.shape[1:-1] + (H,), ld) if s0 is None else np.asarray(s0, ld) + np.zeros(X.shape[1:-1] + (H,), ld)
    f = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0))
    weights = np.ones(X.shape[:-1], ld) if mask is None else np.asarray(mask, ld)
    loss = ld(0)
    for t in range(X.shape[0]):
        s = f(X[t] @ U.T + s @ W.T + b)
        z = s @ V.T + c
        if output == "softmax":
            m = z.max(axis=-1, keepdims=True)
            log_p = z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
            e_t = -(Y[t] * log_p).sum(axis=-1)
        else:  # binary cross-entropy of sigmoid outputs, written from its definition
            p = 1 / (1 + np.exp(-z))
            e_t = -(Y[t] * np.log(p) + (1 - Y[t]) * np.log(1 - p)).sum(axis=-1)
        loss += (weights[t] * e_t).sum()
    return loss
