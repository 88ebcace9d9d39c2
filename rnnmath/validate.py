"""Input checks with messages that name the argument, what it got and what was expected.

Each check runs once per public call, never inside the time loop.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def _fail(name: str, got: str, expected: str):
    raise ValueError(f"{name}: expected {expected}, got {got}")


def _describe(arr: np.ndarray) -> str:
    return f"shape {arr.shape} {arr.dtype}"


def as_array(name: str, value) -> np.ndarray:
    """``np.asarray(value)``, with a message naming ``name`` for what NumPy cannot convert."""
    if type(value) is np.ndarray:  # the common case, before the duck-typed tests below
        return value
    if value is None:
        _fail(name, "None", "an array")
    # Duck-typed, so that PyTorch is never imported: a tensor that requires grad refuses
    # conversion with a message of its own.
    if getattr(value, "requires_grad", False) is True and hasattr(value, "detach"):
        _fail(name, f"a {type(value).__name__} that requires grad",
              "an array (call .detach() first, e.g. tensor.detach().cpu().numpy())")
    try:
        return np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as exc:  # ragged lists, GPU tensors, ...
        reason = str(exc).split("\n")[0]
        _fail(name, f"{type(value).__name__} that NumPy cannot convert ({reason})",
              "a rectangular array of numbers (nested lists of equal lengths)")


def finite_matrix(name: str, value, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    """A finite float64 matrix with at least one row and one column, optionally of a given
    shape."""
    arr = real_array(name, value)
    _matrix_shape(name, arr, rows, cols)
    return arr


def measured_matrix(name: str, value, rows: int | None = None,
                    cols: int | None = None) -> tuple[np.ndarray, float]:
    """:func:`finite_matrix` and the sum of its squared entries, for a caller that holds
    :func:`quiet` (the squares of huge entries may overflow).

    One dot product tests every entry, in half the time of ``isfinite(arr).all()`` at 10^4
    entries, and its value bounds products with the matrix without computing them (see
    :func:`rnnmath.gradients._results_finite`)."""
    arr = _float64(name, value)
    squares = sum_of_squares(arr)
    _finite(name, arr, squares)
    _matrix_shape(name, arr, rows, cols)
    return arr, squares


def _matrix_shape(name: str, arr: np.ndarray, rows: int | None, cols: int | None) -> None:
    if arr.ndim != 2:
        _fail(name, _describe(arr), "a 2-D matrix")
    if 0 in arr.shape:  # H, D or K = 0: no unit, input or class to compute with
        _fail(name, _describe(arr), "at least one row and one column (sizes >= 1)")
    if (rows is not None and arr.shape[0] != rows) or (cols is not None and arr.shape[1] != cols):
        want = f"({rows if rows is not None else '*'}, {cols if cols is not None else '*'})"
        _fail(name, _describe(arr), f"shape {want}")


def real_array(name: str, value, bool_ok: bool = False) -> np.ndarray:
    """``value`` as float64, refusing NaN, inf, complex and non-numeric input (and bool, unless
    ``bool_ok``: then False and True are the weights 0 and 1)."""
    arr = _float64(name, value, bool_ok)
    _finite(name, arr)
    return arr


_F64 = np.dtype(np.float64)


def _float64(name: str, value, bool_ok: bool = False) -> np.ndarray:
    """``value`` as a float64 array (real numbers only; bool too if ``bool_ok``)."""
    if type(value) is np.ndarray and value.dtype == _F64:  # the common case: nothing to convert
        return value
    arr = as_array(name, value)
    if arr.dtype.kind not in _REAL and not (bool_ok and arr.dtype.kind == "b"):
        # dtype.kind: cheaper than issubdtype, called per argument
        _fail(name, _describe(arr), "a real (float) array" + (" or bool" if bool_ok else ""))
    if arr.dtype != _F64:
        try:
            arr = arr.astype(np.float64)
        except OverflowError:  # Python ints beyond float64 arrive as dtype object, not here
            _fail(name, _describe(arr), "values in the float64 range")
    return arr


def _finite(name: str, arr: np.ndarray, squares: float | None = None) -> None:
    """Refuse a NaN or inf entry, naming it; ``squares``, the sum of squares if known, settles
    the ordinary case (finite) without another pass."""
    if (squares is None or not math.isfinite(squares)) and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        _fail(name, f"{arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}", "finite values only")


def sum_of_squares(arr: np.ndarray) -> float:
    """The sum of the squared entries of a float64 array, as one BLAS dot product.

    Not finite when an entry is NaN or +-inf: both factors of each product are the same entry,
    so no zero can hide one (NaN * NaN and inf * inf propagate), and squares are never
    negative, so no inf - inf.  Also inf when entries beyond about 1e154 square past float64:
    a false alarm that callers settle with an exact test.  The caller holds :func:`quiet`."""
    flat = arr.reshape(-1)  # a view of a contiguous array
    return float(np.dot(flat, flat))


def vector(name: str, value, size: int) -> np.ndarray:
    """A finite float64 vector of length ``size``, zeros if ``value`` is None."""
    if value is None:
        return np.zeros(size)
    arr = real_array(name, value)
    if arr.shape != (size,):
        _fail(name, _describe(arr), f"shape ({size},)")
    return arr


_REAL = "fiu"  # float, signed and unsigned integer; not bool, complex or object
_IDS = "iu"


def sequence(name: str, value, depth: int, what: str):
    """Inputs or labels as ``(array, ids, batched)``: ids as intp, rows as float64, shapes kept.

    ``what`` names the last axis in messages ("D = U.shape[1]", "K = V.shape[0]").
    """
    arr = as_array(name, value)
    if arr.ndim == 1 and arr.size == 0:  # [] has no dtype to tell ids from rows
        _fail(name, _describe(arr), "at least one time step (T >= 1)")
    if arr.dtype.kind not in _REAL:
        _fail(name, _describe(arr), f"integer ids (T,) / (T, B) or float rows (T, {what}) / "
                                    f"(T, B, {what})")
    ids = arr.dtype.kind in _IDS
    if ids:
        if arr.ndim not in (1, 2):
            _fail(name, _describe(arr), "integer ids of shape (T,) or (T, B)")
        batched = arr.ndim == 2
        if arr.size and not _ids_below(arr, depth):
            low, high = arr.min(), arr.max()
            _fail(name, f"id {low if low < 0 else high}", f"ids in [0, {depth}) ({what})")
        out = arr.astype(np.intp, copy=False)
    else:
        if arr.ndim not in (2, 3):
            _fail(name, _describe(arr), f"float rows of shape (T, {what}) or (T, B, {what}); "
                                        "token or class ids must be an integer array")
        batched = arr.ndim == 3
        if arr.shape[-1] != depth:
            _fail(name, _describe(arr), f"last axis of length {depth} ({what})")
        out = real_array(name, arr)
    if out.shape[0] == 0:
        _fail(name, _describe(arr), "at least one time step (T >= 1)")
    if batched and out.shape[1] == 0:
        _fail(name, _describe(arr), "at least one batch item (B >= 1)")
    return out, ids, batched


# Signed integer dtypes (native byte order) and their unsigned twins, for _ids_below; up to
# _SHORT ids it reads a list instead.
_SHORT = 256
_UNSIGNED = {np.dtype(f"i{n}"): np.dtype(f"u{n}") for n in (1, 2, 4, 8)}


def _ids_below(arr: np.ndarray, depth: int) -> bool:
    """0 <= every id < depth.

    A short sequence (one chunk of training) is read as a Python list: a NumPy reduction costs
    more to call than its data, 4-5 us each right after the kernels ran.  A long one takes one
    reduction: read as unsigned integers of the same width, a negative id is at least
    2^(bits - 1), so a largest entry below ``depth`` excludes both ends whenever
    ``depth <= 2^(bits - 1)``."""
    if arr.size <= _SHORT:
        values = arr.ravel().tolist()
        return min(values) >= 0 and max(values) < depth
    unsigned = _UNSIGNED.get(arr.dtype)
    if unsigned is not None and depth <= 1 << (8 * arr.itemsize - 1):
        arr = arr.view(unsigned)
    elif arr.dtype.kind == "i":  # narrow ids and many classes, or another byte order
        if np.minimum.reduce(arr, axis=None) < 0:
            return False
    # the ufunc's own reduction: ndarray.max adds a Python layer
    return bool(np.maximum.reduce(arr, axis=None) < depth)


def same_steps(x: np.ndarray, x_name: str, y: np.ndarray, y_name: str, y_batched: bool,
               x_batched: bool):
    """``x`` and ``y`` must agree on T and B (both batched or both not)."""
    if x_batched != y_batched:
        _fail(y_name, "a batched array" if y_batched else "an unbatched array",
              f"{'batched' if x_batched else 'unbatched'} labels to match {x_name}")
    n = 2 if x_batched else 1
    if x.shape[:n] != y.shape[:n]:
        if x_batched:
            _fail(y_name, f"T, B = {y.shape[:2]}", f"T, B = {x.shape[:2]} as in {x_name}")
        _fail(y_name, f"T = {y.shape[0]}", f"T = {x.shape[0]} steps as in {x_name}")


def labels(value, depth: int, x: np.ndarray, x_batched: bool, upper: float | None = None):
    """Labels ``y`` as ``(array, ids)``: class ids or non-negative label rows (at most ``upper``),
    with the time steps and batch items of the inputs ``x``."""
    y, ids, batched = sequence("y", value, depth, "K = V.shape[0]")
    same_steps(x, "x", y, "y", batched, x_batched)
    if ids:
        return y, ids
    checks = [(y < 0, "non-negative label rows")]
    if upper is not None:
        checks.append((y > upper, f"labels in [0, {upper:g}] for sigmoid outputs"))
    for bad, want in checks:
        if np.any(bad):
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            _fail("y", f"{y[where]} at index {where}", want)
    return y, ids


def initial_state(name: str, value, size: int, batch: int | None) -> np.ndarray:
    """An initial state: (size,), shared by a batch, or (batch, size) with one per sequence;
    zeros, one per sequence, if ``value`` is None.  ``batch`` is None for unbatched input."""
    if value is None:
        return np.zeros((size,) if batch is None else (batch, size))
    arr = real_array(name, value)
    if arr.shape != (size,) and (batch is None or arr.shape != (batch, size)):
        _fail(name, f"shape {arr.shape}", f"shape ({size},)" + ("" if batch is None
                                                                 else f" or ({batch}, {size})"))
    return arr


def truncate(value) -> int | None:
    """None (full BPTT) or a non-negative integer number of extra steps."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail("truncate", repr(value), "None or an integer >= 0")
    if value < 0:
        _fail("truncate", repr(value), "None or an integer >= 0")
    return int(value)


def choice(name: str, value, options) -> str:
    """One of the strings ``options`` (an array or a number is refused, not compared)."""
    if not isinstance(value, str) or value not in options:
        _fail(name, _short(value), f"one of {sorted(options)}")
    return value


def positive_number(name: str, value) -> float:
    """A finite real number > 0 (not a bool, not an array, not complex)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(name, _short(value), "a finite number > 0")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        _fail(name, repr(value), "a finite number > 0")
    return value


def required(name: str, value):
    """``value``, which must not be None (labels for a loss: without them there is none)."""
    if value is None:
        _fail(name, "None", "labels: class ids (T,) / (T, B) or label rows (T, K) / (T, B, K)")
    return value


def flag(name: str, value) -> bool:
    """True or False (NumPy's bool too); not 0, 1, "yes" or an array."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, _short(value), "True or False")
    return bool(value)


def _short(value) -> str:
    """repr of an option, or its type and shape for an array."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else f"a {type(value).__name__}"


def quiet():
    """NumPy's floating-point warnings off, for a kernel whose results finite_result checks."""
    return np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore")


def all_finite(*arrays) -> bool:
    """True if every entry of every array (None skipped) is finite: one sum per array, no
    boolean copies.  The caller holds :func:`quiet`.

    A sum is finite only if all its terms are (NaN and inf propagate); a sum of finite terms
    that overflows gives False, and the caller's entry-by-entry checks then find nothing."""
    total = 0.0
    for a in arrays:
        if a is not None:
            total += np.add.reduce(a, axis=None)
    return math.isfinite(total)


def finite_result(name: str, value, first: int | None = 0, backward: bool = False):
    """Raise FloatingPointError if ``value`` (steps on axis 0, numbered from ``first``) is not
    finite, naming the quantity and the step where it stopped being finite: the first such step
    of a forward pass, the last of a backward pass (``backward``), which runs the other way.
    ``first=None``: no time axis (a parameter gradient), only the entry is named."""
    arr = np.asarray(value)
    finite = np.isfinite(arr)
    if finite.all():
        return value
    if arr.ndim == 0:
        raise FloatingPointError(f"{name} is {arr.item()}: float64 overflowed; scale the weights, "
                                 "inputs, labels or mask down")
    if first is None:
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise FloatingPointError(f"{name} is not finite (entry {where} is {arr[where]}): "
                                 "float64 overflowed; scale the weights or inputs down")
    steps = np.flatnonzero((~finite).reshape(arr.shape[0], -1).any(axis=1))
    step = int(steps[-1] if backward else steps[0])
    where = tuple(int(i) for i in np.argwhere(~finite[step])[0])
    raise FloatingPointError(
        f"{name} stopped being finite at step t = {step + first} (entry {where} is "
        f"{arr[step][where]}): float64 overflowed; scale the weights or inputs down")
