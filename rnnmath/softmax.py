r"""Softmax and its Jacobian, from the generated kernels (see :mod:`rnnmath.derive.softmax`)."""
from __future__ import annotations

import numpy as np

from . import _generated as gen
from . import validate as check
from .validate import real_array


def softmax(z) -> np.ndarray:
    r"""Softmax over the last axis, stable for large logits.

    Parameters
    ----------
    z : (..., K) float

    Returns
    -------
    (..., K) float
        Non-negative rows summing to one.

    Examples
    --------
    >>> softmax([0.0, 0.0])
    array([0.5, 0.5])
    >>> softmax([1e4, 0.0])  # no overflow
    array([1., 0.])
    """
    z = real_array("z", z)
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"z: expected at least one logit along the last axis, got shape {z.shape}")
    with check.quiet():  # z - max(z) may overflow to -inf, whose exp is the right 0
        return check.finite_result("softmax(z)", gen.softmax(z), first=None)


def softmax_jacobian(z) -> np.ndarray:
    r"""The Jacobian :math:`\partial\hat y_i/\partial z_j = \hat y_i(\delta_{ij}-\hat y_j)`.

    Parameters
    ----------
    z : (..., K) float

    Returns
    -------
    (..., K, K) float
        ``J[..., i, j]``; symmetric, rows sum to zero.

    Examples
    --------
    >>> softmax_jacobian([0.0, 0.0])
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    return gen.softmax_jacobian(softmax(z))
