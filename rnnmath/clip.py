r"""Gradient clipping: bound the update computed from a gradient, after BPTT and before the step.

Two rules, both acting on a finished gradient result and never on the forward pass:

* :func:`clip_elementwise` clamps every entry to :math:`[-\ell, \ell]`,
  :math:`\hat g_i = \min(\ell, \max(-\ell, g_i))`. Entries are clamped independently, so the
  direction of the gradient changes whenever at least one entry is clamped.
* :func:`clip_global_norm` rescales all gradients together when their joint norm exceeds
  :math:`\theta`, :math:`\hat g = \min(1, \theta / \lVert g\rVert)\, g`. The direction is kept and
  :math:`\lVert \hat g\rVert = \min(\lVert g\rVert, \theta)`.

A gradient result is an :class:`~rnnmath.RNNGradients` (or another frozen dataclass result of this
package: every array field is a gradient, the other fields, such as ``loss``, are kept), or any
mapping of names to arrays (such as ``RNNGradients.as_dict()``). Every array is clipped, including
``ds0`` when present; drop it from a mapping to leave it out of the norm. The input is never
modified: the result holds new float64 arrays. Gradient checks always compare the *unclipped*
gradient with finite differences: clipping changes the update, not the derivative.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping

import numpy as np

from . import validate as check

__all__ = ["clip_elementwise", "clip_global_norm", "global_norm", "gradient_cosine"]


def _positive(name: str, value) -> float:
    """A finite real number > 0 (not a bool, not an array)."""
    return check.positive_number(name, value)


def _arrays(grads, name: str = "grads") -> dict:
    """``{field or key: finite float64 array}`` of a gradient result, validated once."""
    if dataclasses.is_dataclass(grads) and not isinstance(grads, type):
        items = {f.name: getattr(grads, f.name) for f in dataclasses.fields(grads)
                 if isinstance(getattr(grads, f.name), np.ndarray)}
        label = "{name}.{key}"
    elif isinstance(grads, Mapping):
        items, label = dict(grads), "{name}[{key!r}]"
    else:
        raise ValueError(f"{name}: expected an RNNGradients or a mapping of names to arrays, "
                         f"got {type(grads).__name__}")
    return {key: check.real_array(label.format(name=name, key=key), value)
            for key, value in items.items()}


def _rebuild(grads, arrays: dict):
    """A gradient result of the same kind as ``grads`` holding ``arrays``."""
    if dataclasses.is_dataclass(grads):
        return dataclasses.replace(grads, **arrays)
    if isinstance(grads, dict):         # dict and its subclasses keep their type and extras
        out = copy.copy(grads)
        out.update(arrays)
        return out
    return arrays                       # any other mapping: a plain dict


def global_norm(grads) -> float:
    r"""The norm of all gradients taken together, :math:`\sqrt{\sum_{\text{arrays}} \sum g^2}`.

    Parameters
    ----------
    grads : RNNGradients or mapping of str to array

    Returns
    -------
    float
        The 2-norm of every gradient entry, as if all arrays were one flat vector (the loss of an
        ``RNNGradients`` is not a gradient and is left out).

    Examples
    --------
    >>> import numpy as np
    >>> global_norm({"W": np.array([[3.0, 0.0]]), "b": np.array([4.0])})
    5.0
    """
    arrays = _arrays(grads)
    return _norm(arrays)


def _norm(arrays: dict) -> float:
    # Divide by the largest magnitude first, so squaring cannot overflow (an exploding gradient
    # of 1e160 still has a finite norm) or underflow.
    peak = max((float(np.max(np.abs(a), initial=0.0)) for a in arrays.values()), default=0.0)
    if peak == 0.0:
        return 0.0
    with check.quiet():  # a / peak may underflow to 0 for entries far below the largest
        ratio = float(np.sqrt(sum(float(np.vdot(a / peak, a / peak)) for a in arrays.values())))
        norm = peak * ratio
    if not np.isfinite(norm):  # only the last product can overflow: peak and ratio are finite
        raise FloatingPointError(f"global norm of the gradients is {peak:.3g} * {ratio:.3g}, "
                                 "beyond float64: scale the gradients down")
    return norm


def gradient_cosine(a, b) -> float:
    r"""Cosine of the angle between two gradient results, as flat vectors over shared names.

    :math:`\cos(a, b) = \langle a, b\rangle / (\lVert a\rVert \lVert b\rVert)`, summed over every
    array of both results. 1 means the same direction; a rescaled gradient has cosine 1 with the
    original, a clamped one usually less.

    Parameters
    ----------
    a, b : RNNGradients or mapping of str to array
        With the same names and shapes; neither may be all zeros.

    Returns
    -------
    float, in [-1, 1]

    Examples
    --------
    >>> import numpy as np
    >>> g = {"W": np.array([[1.0, 10.0]])}
    >>> gradient_cosine(g, {"W": 3 * g["W"]})
    1.0
    >>> round(gradient_cosine(g, {"W": np.clip(g["W"], -5, 5)}), 4)
    0.9952
    """
    a_arrays, b_arrays = _arrays(a, "a"), _arrays(b, "b")
    if a_arrays.keys() != b_arrays.keys():
        raise ValueError(f"b: expected the names of a, {sorted(a_arrays, key=str)}, "
                         f"got {sorted(b_arrays, key=str)}")
    for key, value in a_arrays.items():
        if b_arrays[key].shape != value.shape:
            raise ValueError(f"b[{key!r}]: expected shape {value.shape} as in a, "
                             f"got {b_arrays[key].shape}")
    na, nb = _norm(a_arrays), _norm(b_arrays)
    for name, n in (("a", na), ("b", nb)):
        if n == 0:
            raise ValueError(f"{name}: expected a nonzero gradient, got all zeros "
                             "(the angle is undefined)")
    # Scale each side by its norm first: no overflow for huge gradients, no underflow for tiny.
    dot = sum(float(np.vdot(a_arrays[k] / na, b_arrays[k] / nb)) for k in a_arrays)
    return min(1.0, max(-1.0, dot))


def clip_elementwise(grads, limit: float = 5.0):
    r"""Clamp every gradient entry to :math:`[-\ell, \ell]`: :math:`\min(\ell, \max(-\ell, g_i))`.

    The rule of the classic character-level RNN scripts (``np.clip(d, -5, 5, out=d)`` for every
    parameter). Each entry is clamped on its own, so once any entry exceeds the limit the result
    points in a different direction from the gradient.

    Parameters
    ----------
    grads : RNNGradients or mapping of str to array
        The gradient result to clip; it is not modified.
    limit : float > 0
        :math:`\ell`, the largest magnitude an entry may keep.

    Returns
    -------
    RNNGradients or mapping
        The same kind of object with new float64 arrays; the loss of an ``RNNGradients`` is
        unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> g = {"W": np.array([[7.0, -0.5], [-12.0, 2.0]]), "b": np.array([0.1, 5.5])}
    >>> clipped = clip_elementwise(g, limit=5.0)
    >>> clipped["W"]
    array([[ 5. , -0.5],
           [-5. ,  2. ]])
    >>> clipped["b"], g["b"]                  # a new array; the input is untouched
    (array([0.1, 5. ]), array([0.1, 5.5]))
    """
    limit = _positive("limit", limit)
    arrays = _arrays(grads)
    return _rebuild(grads, {k: np.clip(v, -limit, limit) for k, v in arrays.items()})


def clip_global_norm(grads, max_norm: float):
    r"""Rescale all gradients together so that their joint norm is at most :math:`\theta`.

    :math:`\hat g = \min(1, \theta/\lVert g\rVert)\, g`, with :math:`\lVert g\rVert` the
    :func:`global_norm` of every array. The direction is unchanged (cosine 1 with the input) and
    :math:`\lVert \hat g\rVert = \min(\lVert g\rVert, \theta)`. The scale is nudged down by a few
    units in the last place if rounding would otherwise leave the result a hair above
    :math:`\theta`, so ``global_norm(result) <= max_norm`` holds exactly in floating point.

    Parameters
    ----------
    grads : RNNGradients or mapping of str to array
        The gradient result to clip; it is not modified.
    max_norm : float > 0
        :math:`\theta`.

    Returns
    -------
    clipped : RNNGradients or mapping
        The same kind of object with new float64 arrays (copies when no clipping was needed);
        the loss of an ``RNNGradients`` is unchanged.
    norm : float
        :math:`\lVert g\rVert`, the global norm *before* clipping (log it: it shows when, and by
        how much, gradients explode).

    Examples
    --------
    >>> import numpy as np
    >>> g = {"W": np.array([[30.0, 0.0]]), "b": np.array([40.0])}
    >>> clipped, norm = clip_global_norm(g, max_norm=5.0)
    >>> norm
    50.0
    >>> clipped["W"], clipped["b"]            # scaled by 5 / 50, direction kept
    (array([[3., 0.]]), array([4.]))
    """
    max_norm = _positive("max_norm", max_norm)
    arrays = _arrays(grads)
    norm = _norm(arrays)
    if norm <= max_norm:
        return _rebuild(grads, {k: v.copy() for k, v in arrays.items()}), norm
    scale = max_norm / norm
    if scale == 0.0:  # the norm overflows the scale: no finite result points the same way
        raise ValueError(f"grads: expected a global norm a float64 scale can shrink to "
                         f"{max_norm!r}, got {norm!r}")
    scaled = {k: v * scale for k, v in arrays.items()}
    for _ in range(64):  # rounding can leave the product one or two ulps above max_norm
        if _norm(scaled) <= max_norm:
            break
        scale = float(np.nextafter(scale, 0.0))
        scaled = {k: v * scale for k, v in arrays.items()}
    return _rebuild(grads, scaled), norm
