r"""Output layers as composable pieces: logits :math:`z_t = V h_t + c`, a loss, and its gradients.

Each head reads what a cell outputs at every step (``fw.outputs``, (T, H) or (T, B, H)) and
returns the loss, the gradients of its own parameters ``V`` and ``c`` and ``doutputs`` =
:math:`\partial E/\partial h_t`, which is what :meth:`rnnmath.cells.Cell.backward` takes:

>>> import numpy as np
>>> from rnnmath import cells, heads
>>> rng = np.random.default_rng(0)
>>> cell = cells.rnn()
>>> params = {"U": rng.normal(size=(4, 3)), "W": 0.5 * rng.normal(size=(4, 4))}
>>> V = rng.normal(size=(3, 4))
>>> fw = cell.forward([0, 2, 1], params)
>>> out = heads.softmax_cross_entropy(fw.outputs, [1, 0, 2], V)
>>> g = cell.backward(fw, out.doutputs)
>>> sorted(g.params), out.params["V"].shape
(['U', 'W', 'b'], (3, 4))

Steps are weighted by an optional ``mask`` (float weights >= 0 or booleans): :math:`E = \sum_t m_t
E_t`, 0 for steps without a target.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _generated as gen
from . import validate as check


@dataclass(frozen=True)
class HeadResult:
    r"""Loss and gradients of an output layer.

    Attributes
    ----------
    loss : float
        :math:`E`, summed over steps (and batch items), steps weighted by the mask.
    doutputs : (T, H) or (T, B, H) float
        :math:`\partial E/\partial h_t`, shaped like the outputs it read.
    params : dict of str to ndarray
        ``{"V": (K, H), "c": (K,)}``.
    logits, probs : (T, K) or (T, B, K) float
    """

    loss: float
    doutputs: np.ndarray
    params: dict
    logits: np.ndarray
    probs: np.ndarray


def mask_weights(mask, steps: tuple) -> np.ndarray | None:
    """Step weights as (T, ..., 1) float, or None.  Booleans are 1 and 0."""
    if mask is None:
        return None
    m = check.real_array("mask", mask, bool_ok=True)  # True/False: weights 1 and 0
    if m.shape != steps:
        raise ValueError(f"mask: expected shape {steps} (one weight per step"
                         f"{' and batch item' if len(steps) == 2 else ''}), got shape {m.shape}")
    if np.any(m < 0):
        raise ValueError(f"mask: expected non-negative weights, got {m.min()}")
    return m[..., None]


def loss_and_error(Z, Y, M, output: str):
    """(loss, dE/dz) of the chosen output layer, steps weighted by M; Y ids or label rows.

    Checked: a loss or an error that overflowed raises FloatingPointError naming it and its step.
    """
    with check.quiet():  # huge masks or label rows: the checks name what overflowed
        loss, DO = _loss_kernel(Z, Y, M, output)
    return _check_loss(loss, DO)


def _loss_kernel(Z, Y, M, output: str):
    if Y.dtype.kind == "i" and output == "softmax":
        return gen.softmax_cross_entropy_ids(Z, Y, 1.0 if M is None else M)
    if Y.dtype.kind == "i":
        Y = np.eye(Z.shape[-1])[Y]
    if output == "sigmoid":
        return gen.sigmoid_cross_entropy(Z, Y, 1.0 if M is None else M)[1:]
    # Softmax cross-entropy is linear in the label row: weighting E_t by m_t is scaling y_t.
    return gen.softmax_cross_entropy(Z, Y if M is None else M * Y)[1:]


def logits(outputs: np.ndarray, V: np.ndarray, c: np.ndarray) -> np.ndarray:
    """:math:`z_t = V h_t + c` for every step, one 2-D product (checked for overflow)."""
    with check.quiet():
        Z = _logits(outputs, V, c)
    return _check_logits(Z)


def _logits(outputs, V, c):
    """The logits unchecked, for a caller that checks all its results at once."""
    Z = outputs.reshape(-1, outputs.shape[-1]) @ V.T
    Z += c
    return Z.reshape(outputs.shape[:-1] + (V.shape[0],))


def _check_logits(Z):
    """Overflowed logits raise FloatingPointError naming the step."""
    return check.finite_result("logits z_t", Z, first=1)


def _check_loss(loss, DO):
    """(loss, dE/dz), or FloatingPointError naming what overflowed and its step."""
    return check.finite_result("loss", loss), check.finite_result("dE/dz_t", DO, first=1)


def backward(outputs, DO, V):
    """(doutputs, dV, dc) from dE/dz: one product each over all steps."""
    DO2, O2 = DO.reshape(-1, DO.shape[-1]), outputs.reshape(-1, outputs.shape[-1])
    return (DO2 @ V).reshape(outputs.shape), DO2.T @ O2, DO2.sum(axis=0)


def _head(outputs, y, V, c, mask, output) -> HeadResult:
    outputs = check.real_array("outputs", outputs)
    if outputs.ndim not in (2, 3):
        raise ValueError(f"outputs: expected shape (T, H) or (T, B, H), got shape {outputs.shape}")
    V = check.finite_matrix("V", V, cols=outputs.shape[-1])
    c = check.vector("c", c, V.shape[0])
    batched = outputs.ndim == 3
    Y = check.labels(y, V.shape[0], outputs[..., 0], batched,
                     upper=1.0 if output == "sigmoid" else None)[0]
    M = mask_weights(mask, outputs.shape[:-1])
    Z = logits(outputs, V, c)
    loss, DO = loss_and_error(Z, Y, M, output)
    du, dV, dc = backward(outputs, DO, V)
    with check.quiet():  # Z - max(Z) may overflow to -inf: exp gives the right 0
        probs = gen.softmax(Z) if output == "softmax" else gen._sigmoid(Z)
    return HeadResult(loss, du, {"V": dV, "c": dc}, Z, probs)


def softmax_cross_entropy(outputs, y, V, c=None, *, mask=None) -> HeadResult:
    r"""Softmax over :math:`z_t = V h_t + c` with cross-entropy.

    Parameters
    ----------
    outputs : (T, H) or (T, B, H) float
        What the cell outputs at every step (``fw.outputs``).
    y : (T,) or (T, B) int, or (T, K) or (T, B, K) float
        Class ids or non-negative label rows.
    V : (K, H) float
    c : (K,) float, optional
    mask : (T,) or (T, B) float >= 0 or bool, optional
        Step weights; None weighs every step by 1.

    Returns
    -------
    HeadResult
    """
    return _head(outputs, y, V, c, mask, "softmax")


def sigmoid_cross_entropy(outputs, y, V, c=None, *, mask=None) -> HeadResult:
    r"""K independent sigmoids over :math:`z_t = V h_t + c` with binary cross-entropy.

    Parameters
    ----------
    outputs : (T, H) or (T, B, H) float
    y : (T,) or (T, B) int, or (T, K) or (T, B, K) float in [0, 1]
    V : (K, H) float
    c : (K,) float, optional
    mask : (T,) or (T, B) float >= 0 or bool, optional

    Returns
    -------
    HeadResult
    """
    return _head(outputs, y, V, c, mask, "sigmoid")
