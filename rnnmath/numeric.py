r"""Finite differences for checking gradients, on any scalar function of named arrays.

The check is the public counterpart of CS231n's ``eval_numerical_gradient``: perturb one entry at
a time by :math:`\pm h`, take the central difference and compare with the analytic gradient through
the relative error :math:`|a-n| / \max(|a|, |n|, \text{tiny})`.
"""
from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from . import validate as check

TINY = 1e-300  # only guards 0/0: both gradients exactly zero count as agreement


def relative_error(a, b, tiny: float = TINY) -> np.ndarray:
    r"""Elementwise :math:`|a-b| / \max(|a|, |b|, tiny)`, in :math:`[0, 2]` for finite inputs.

    Overflow-safe: where :math:`|a - b|` exceeds the float64 range the quotient is formed as
    :math:`|a/m - b/m|` with :math:`m = \max(|a|, |b|)`, so ``relative_error(1e308, -1e308)`` is 2.
    NaN where ``a`` or ``b`` is NaN or infinite: an undefined or infinite gradient agrees with
    nothing, and NaN fails every ``<`` comparison.

    Parameters
    ----------
    a, b : float or array
        Real values of broadcastable shapes (complex is refused).
    tiny : float > 0
        Floor of the denominator; only matters where both values are (almost) zero.

    Examples
    --------
    >>> print(f"{float(relative_error(2.0, 2.5)):.2f}")
    0.20
    >>> float(relative_error(0.0, 0.0))
    0.0
    >>> float(relative_error(1e308, -1e308))
    2.0
    """
    tiny = check.positive_number("tiny", tiny)
    a, b = _real("a", a), _real("b", b)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        check._fail("b", f"shape {b.shape}", f"a shape that broadcasts with a's {a.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), tiny)
        out = np.abs(a - b) / scale
        overflow = np.isinf(out) & np.isfinite(a) & np.isfinite(b)
        if overflow.any():  # |a - b| > max float: divide first, then subtract
            out = np.where(overflow, np.abs(a / scale - b / scale), out)
    return np.where(np.isfinite(a) & np.isfinite(b), out, np.nan)


def _real(name: str, value) -> np.ndarray:
    """A float64 array that may hold NaN and inf (they are what the checks must catch)."""
    arr = check.as_array(name, value)
    if arr.dtype.kind not in "fiu":
        check._fail(name, f"dtype {arr.dtype}", "real numbers (complex, bool and objects "
                                                "are refused)")
    return arr.astype(np.float64, copy=False)


def _step(h) -> float:
    if isinstance(h, bool) or not isinstance(h, numbers.Real):
        check._fail("h", check._short(h), "a finite real step > 0")
    if not (math.isfinite(h) and h > 0):
        check._fail("h", repr(h), "a finite real step > 0")
    return float(h)


def _params(params) -> dict:
    """Copies of ``params`` as C-ordered finite float64 arrays."""
    if not isinstance(params, Mapping) or not params:
        check._fail("params", check._short(params) if not isinstance(params, Mapping)
                    else "an empty mapping", "a non-empty mapping of names to arrays")
    # C order: the flat views in numerical_gradient must alias the arrays f sees.
    return {k: np.array(check.real_array(f"params[{k!r}]", v), order="C")
            for k, v in params.items()}


def _value(f, work, name, n, step):
    """``f(**work)``, which must be a finite real scalar (float or longdouble kept as given)."""
    value = f(**work)
    where = f"params[{name!r}] entry {n} moved by {step:+g}"
    if value is None or not np.isrealobj(value) or np.ndim(value) != 0 or isinstance(value, str):
        check._fail("f", f"{check._short(value)} at {where}", "a real scalar return value")
    try:
        finite = bool(np.isfinite(value))
    except TypeError:  # an object NumPy does not know as a number
        check._fail("f", f"{type(value).__name__} at {where}", "a real scalar return value")
    if not finite:
        raise FloatingPointError(f"f returned {value} at {where}: the function is not finite "
                                 "there; try a smaller h")
    return value


def numerical_gradient(f: Callable[..., float], params: Mapping[str, np.ndarray], name: str,
                       h: float = 1e-3, progress: bool = False) -> np.ndarray:
    r"""Central differences of ``f(**params)`` with respect to ``params[name]``.

    Uses the fourth-order central stencil

    .. math::
        \begin{aligned}
        \tfrac{1}{12h}\bigl(&8 f(x+h) - 8 f(x-h) \\
        &- f(x+2h) + f(x-2h)\bigr),
        \end{aligned}

    whose truncation error is
    :math:`O(h^4)` rather than :math:`O(h^2)`; that allows a larger ``h`` and so less rounding
    noise (about :math:`\epsilon |f| / h`).  Entries much smaller than that noise cannot be
    resolved in float64: an ``f`` that computes in ``np.longdouble`` lowers the floor, and its
    value is used as returned.  ``params`` are copied, never modified.

    Parameters
    ----------
    f : callable
        ``f(**params) -> float``.
    params : mapping of str to array
    name : str
        Which parameter to differentiate.
    h : float
        Step; the default balances truncation against rounding for O(1) float64 inputs.
    progress : bool
        Print a progress line to stderr (useful for large parameters).

    Returns
    -------
    ndarray, float64, shape of ``params[name]``

    Raises
    ------
    ValueError
        For bad arguments, or an ``f`` that returns something other than a real scalar.
    FloatingPointError
        When ``f`` returns NaN or inf at a perturbed point, or a difference overflows.
    """
    if not callable(f):
        check._fail("f", check._short(f), "a callable f(**params) -> float")
    work = _params(params)
    if not isinstance(name, str) or name not in work:
        check._fail("name", check._short(name), f"one of {sorted(work)}")
    h, progress = _step(h), check.flag("progress", progress)
    x = work[name]
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for n in range(flat.size):
        keep = flat[n]
        values = []
        for step in (2 * h, h, -h, -2 * h):
            flat[n] = keep + step
            # No float() here: an f that computes in extended precision keeps its digits.
            values.append(_value(f, work, name, n, step))
        flat[n] = keep
        # Differences first: equal values (an entry f ignores) give exactly zero.
        with np.errstate(over="ignore", invalid="ignore"):
            out[n] = (8 * (values[1] - values[2]) - (values[0] - values[3])) / (12 * h)
        if not np.isfinite(out[n]):
            raise FloatingPointError(f"numerical gradient of params[{name!r}] entry {n} is "
                                     f"{out[n]}: f's differences overflow float64")
        if progress and (n + 1) % max(1, flat.size // 20) == 0:
            print(f"\r{name}: {n + 1}/{flat.size}", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return grad


@dataclass(frozen=True)
class GradientCheck(Mapping):
    """Worst relative error per parameter; a read-only mapping ``name -> float``.

    A NaN or inf in the analytic gradient, or a numerical gradient that could not be formed (``f``
    not finite near the point), is a failure: that parameter's error is NaN, ``worst`` is NaN,
    every comparison such as ``check.worst < 1e-7`` is False, and ``str()`` says why.

    Attributes
    ----------
    errors : dict of str to float
    notes : dict of str to str
        Why a parameter's error is NaN, for those that have one.
    worst : float
        The largest of ``errors``; NaN if any of them is NaN.
    """

    errors: dict
    notes: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.errors[name]

    def __iter__(self):
        return iter(self.errors)

    def __len__(self):
        return len(self.errors)

    @property
    def worst(self) -> float:
        if not self.errors:
            raise ValueError("errors: expected at least one parameter, got none")
        # np.max, not max(): Python's max keeps the first NaN only when it comes first.
        return float(np.max(np.array(list(self.errors.values()), dtype=float)))

    def __str__(self):
        if not self.errors:
            return "worst relative error per parameter: no parameters"
        width = max(len(k) for k in self.errors)
        rows = [f"{k:<{width}}  {v:.1e}" + (f"  ({self.notes[k]})" if k in self.notes else "")
                for k, v in self.errors.items()]
        return (f"worst relative error per parameter (worst {self.worst:.1e})\n"
                + "\n".join(rows))


def gradient_check(f: Callable[..., float], params: Mapping[str, np.ndarray],
                   grads: Mapping[str, np.ndarray], *, h: float = 1e-3,
                   tiny: float = TINY, progress: bool = False) -> GradientCheck:
    """Compare analytic ``grads`` with central differences of ``f(**params)``.

    Parameters
    ----------
    f : callable
        ``f(**params) -> float``, the scalar being differentiated.
    params : mapping of str to array
        Point at which to check: finite real arrays.
    grads : mapping of str to array
        Analytic gradients to check (at least one), a subset of ``params``' names, same shapes.
    h, tiny, progress
        See :func:`numerical_gradient` and :func:`relative_error`.

    Returns
    -------
    GradientCheck
        ``check[name]`` is the worst entrywise relative error of that parameter; NaN when either
        gradient has a NaN or inf (see :class:`GradientCheck`).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> f = lambda x: float(x @ A @ x)
    >>> x = np.array([0.5, -2.0])
    >>> check = gradient_check(f, {"x": x}, {"x": 2 * A @ x})
    >>> check.worst < 1e-9
    True
    >>> gradient_check(f, {"x": x}, {"x": A @ x})["x"]  # a wrong gradient: off by 2x
    0.5
    >>> bad = gradient_check(f, {"x": x}, {"x": [np.nan, 1.0]})  # never passes
    >>> bad.worst < 1e-9, bad.worst
    (False, nan)
    """
    if not callable(f):
        check._fail("f", check._short(f), "a callable f(**params) -> float")
    work = _params(params)
    if not isinstance(grads, Mapping) or not grads:
        check._fail("grads", "an empty mapping" if isinstance(grads, Mapping)
                    else check._short(grads), "a non-empty mapping of names to arrays")
    tiny = check.positive_number("tiny", tiny)
    h, progress = _step(h), check.flag("progress", progress)
    analytic = {}
    for name, g in grads.items():  # every argument up front, before the slow differences
        if name not in work:
            check._fail("grads", repr(name), f"names among {sorted(work)}")
        g = _real(f"grads[{name!r}]", g)
        if g.shape != work[name].shape:
            check._fail(f"grads[{name!r}]", f"shape {g.shape}", f"shape {work[name].shape}")
        analytic[name] = g
    errors, notes = {}, {}
    for name, g in analytic.items():
        if not np.isfinite(g).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
            errors[name] = math.nan
            notes[name] = f"analytic gradient is {g[where]} at index {where}"
            continue
        try:
            num = numerical_gradient(f, work, name, h=h, progress=progress)
        except FloatingPointError as exc:  # f not finite near the point: no comparison
            errors[name], notes[name] = math.nan, f"numerical gradient failed: {exc}"
            continue
        errors[name] = float(relative_error(g, num, tiny).max(initial=0.0))
    return GradientCheck(errors, notes)
