r"""Finite differences for checking gradients, on any scalar function of named arrays.

The check is the public counterpart of CS231n's ``eval_numerical_gradient``: perturb one entry at
a time by :math:`\pm h`, take the central difference and compare with the analytic gradient through
the relative error :math:`|a-n| / \max(|a|, |n|, \text{tiny})`.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

TINY = 1e-300  # only guards 0/0: both gradients exactly zero count as agreement


def relative_error(a, b, tiny: float = TINY) -> np.ndarray:
    r"""Elementwise :math:`|a-b| / \max(|a|, |b|, tiny)`.

    Examples
    --------
    >>> print(f"{float(relative_error(2.0, 2.5)):.2f}")
    0.20
    >>> float(relative_error(0.0, 0.0))
    0.0
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), tiny)


def numerical_gradient(f: Callable[..., float], params: Mapping[str, np.ndarray], name: str,
                       h: float = 1e-3, progress: bool = False) -> np.ndarray:
    r"""Central differences of ``f(**params)`` with respect to ``params[name]``.

    Uses the fourth-order central stencil
    :math:`(8(f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h`, whose truncation error is
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
    """
    if name not in params:
        raise ValueError(f"name: expected one of {sorted(params)}, got {name!r}")
    if not h > 0:
        raise ValueError(f"h: expected a positive step, got {h!r}")
    # C order: the flat view below must alias the array f sees (a Fortran array would copy).
    work = {k: np.array(v, dtype=float, order="C") for k, v in params.items()}
    x = work[name]
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for n in range(flat.size):
        keep = flat[n]
        values = []
        for step in (2 * h, h, -h, -2 * h):
            flat[n] = keep + step
            # No float() here: an f that computes in extended precision keeps its digits.
            values.append(f(**work))
        flat[n] = keep
        # Differences first: equal values (an entry f ignores) give exactly zero.
        out[n] = (8 * (values[1] - values[2]) - (values[0] - values[3])) / (12 * h)
        if progress and (n + 1) % max(1, flat.size // 20) == 0:
            print(f"\r{name}: {n + 1}/{flat.size}", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return grad


@dataclass(frozen=True)
class GradientCheck(Mapping):
    """Worst relative error per parameter; a read-only mapping ``name -> float``.

    Attributes
    ----------
    errors : dict of str to float
    worst : float
        The largest of ``errors``.
    """

    errors: dict

    def __getitem__(self, name):
        return self.errors[name]

    def __iter__(self):
        return iter(self.errors)

    def __len__(self):
        return len(self.errors)

    @property
    def worst(self) -> float:
        return max(self.errors.values())

    def __str__(self):
        width = max(len(k) for k in self.errors)
        rows = [f"{k:<{width}}  {v:.1e}" for k, v in self.errors.items()]
        return "worst relative error per parameter\n" + "\n".join(rows)


def gradient_check(f: Callable[..., float], params: Mapping[str, np.ndarray],
                   grads: Mapping[str, np.ndarray], *, h: float = 1e-3,
                   tiny: float = TINY, progress: bool = False) -> GradientCheck:
    """Compare analytic ``grads`` with central differences of ``f(**params)``.

    Parameters
    ----------
    f : callable
        ``f(**params) -> float``, the scalar being differentiated.
    params : mapping of str to array
        Point at which to check.
    grads : mapping of str to array
        Analytic gradients to check, a subset of ``params``' names, same shapes.
    h, tiny, progress
        See :func:`numerical_gradient` and :func:`relative_error`.

    Returns
    -------
    GradientCheck
        ``check[name]`` is the worst entrywise relative error of that parameter.

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
    """
    errors = {}
    for name, g in grads.items():
        if name not in params:
            raise ValueError(f"grads: expected names among {sorted(params)}, got {name!r}")
        g = np.asarray(g, dtype=float)
        if g.shape != np.shape(params[name]):
            raise ValueError(f"grads[{name!r}]: expected shape {np.shape(params[name])}, "
                             f"got {g.shape}")
        num = numerical_gradient(f, params, name, h=h, progress=progress)
        errors[name] = float(relative_error(g, num, tiny).max(initial=0.0))
    return GradientCheck(errors)
