"""Assemble :mod:`rnnmath._generated`: the output layers and losses, from their derivation steps.

Each ``{...}`` hole is printed by :func:`rnnmath.codegen.index.numpy_expr` from a SymPy expression
taken from a derivation step (softmax, cross-entropy, sigmoid outputs, step masks); the text
around it supplies names and allocation.  The recurrent cells are not here: their kernels are laid
out from the cell descriptions by :mod:`rnnmath.codegen.kernels`.
"""
from __future__ import annotations

import sympy as sp

from .index import Ctx, numpy_expr, numpy_inplace
from ..derive import rnn
from ..derive import outputs, softmax
from ..derive.softmax import cross_entropy, jacobian
from ..derive.softmax import y as y1
from ..derive.softmax import yhat as yhat1

t, q, p = rnn.t, rnn.q, rnn.p
ROWQ, PQ = ("t", q), (p, q)
P_, G_, F_, Y_, YH_, M_ = (sp.IndexedBase(n) for n in ("P", "G", "F", "Y", "Yhat", "M"))


def _split(expr: sp.Expr, recurrent: sp.IndexedBase):
    """(terms without ``recurrent``, terms with it)."""
    terms = sp.Add.make_args(sp.expand(expr))
    inner = sp.Add(*[e for e in terms if e.has(recurrent)])
    return sp.Add(*[e for e in terms if not e.has(recurrent)]), inner


def _params(extra=None):
    """Parameters keep their names; ``extra`` maps time-indexed bases to array expressions."""
    arrays = {(base, None): str(base) for base in (rnn.U, rnn.W, rnn.V, rnn.b, rnn.c)}
    arrays.update(extra or {})
    return arrays


def _in_rows(expr):
    """A per-step softmax formula with a row index: y[k] -> Y[t, k], yhat[j] -> Yhat[t, j]."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in (y1, yhat1),
                        lambda e: {y1: Y_, yhat1: YH_}[e.base][t, e.indices[0]])


def _formulas() -> dict[str, str]:
    pre = rnn.a_entry(t, q)
    hoisted_a, recurrent_a = _split(pre, rnn.s)
    one_hot = hoisted_a.replace(  # x[t, i] = [i = iota_t]
        lambda e: isinstance(e, sp.Indexed) and e.base == rnn.x,
        lambda e: sp.KroneckerDelta(e.indices[1], rnn.token[e.indices[0]]))
    ids_hoisted = rnn.collapse(one_hot, {q: (1, rnn.H), rnn.token[t]: (1, rnn.D)})
    out = {
        # Products over all steps are 2-D: (T*B, .) rows, one BLAS call each.
        "projection_dense": numpy_inplace(hoisted_a, Ctx(_params({(rnn.x, 0): "_rows(X)"}), t),
                                          "P", " " * 4, fresh=True),
        "projection_ids": numpy_expr(ids_hoisted, Ctx(_params(), t), ROWQ),
        "logits": numpy_inplace(rnn.z_entry(t, q), Ctx(_params({(rnn.s, 0): "_rows(S[1:])"}), t),
                                "Z", " " * 4, fresh=True),
        "delta_o": numpy_expr(_in_rows(cross_entropy()["general"].expr.rhs),
                              Ctx({(Y_, 0): "Y", (YH_, 0): "Yhat"}, t), ("t", softmax.j)),
    }
    # Class ids as labels: y_j = [j = iota_t] in the normalised step, times the step weight.
    j = softmax.j
    normalised = cross_entropy()["normalised"].expr.rhs.subs(y1[j], sp.KroneckerDelta(j, rnn.token[t]))
    out["delta_o_ids"] = numpy_inplace(
        M_[t, j] * _in_rows(normalised),
        Ctx({(YH_, 0): "Yhat", (M_, 0): "M"}, t, ids="labels"), "DO", " " * 4, fresh=True)
    # Sigmoid outputs: the derived scalar result, one class of one step, laid over rows (t, k).
    k = softmax.k
    per_entry = {outputs.yhat: YH_[t, k], outputs.y: Y_[t, k], outputs.m: M_[t, k]}
    sig_delta = outputs.step_mask()["gradient"].expr.rhs.subs(
        sp.Symbol(r"\delta^{o}_{t}"), outputs.sigmoid_cross_entropy()["result"].expr.rhs)
    out["sigmoid_delta_o"] = numpy_expr(sig_delta.subs(per_entry),
                                        Ctx({(Y_, 0): "Y", (YH_, 0): "Yhat", (M_, 0): "M"}, t),
                                        ("t", k))
    # The losses, in the forms derive.outputs proves equal to the definitions: every term >= 0.
    sig_loss = outputs.sigmoid_cross_entropy()["evaluated"].expr.rhs
    Z_ = sp.IndexedBase("Z")
    out["sigmoid_loss"] = numpy_expr(M_[t, k] * sig_loss.subs({outputs.z: Z_[t, k],
                                                               outputs.y: Y_[t, k]}),
                                     Ctx({(Z_, 0): "Z", (Y_, 0): "Y", (M_, 0): "M"}, t), ("t", k))
    ce = outputs.stable_cross_entropy()["evaluated"].expr.rhs.function  # one class's term
    U_, R_ = sp.IndexedBase("shifted"), sp.IndexedBase("rest")
    per_class = ce.subs({sp.Symbol("y_{k}", real=True): Y_[t, k],
                         sp.Symbol("u_{k}", real=True): U_[t, k],
                         sp.Symbol("r", real=True): R_[t, k]})  # rest: (T, ..., 1), broadcast
    out["softmax_loss"] = numpy_expr(per_class, Ctx({(Y_, 0): "Y", (U_, 0): "shifted",
                                                     (R_, 0): "rest"}, t), ("t", k))
    out["softmax_loss_ids"] = numpy_expr(
        M_[t, k] * per_class.subs({Y_[t, k]: 1, U_[t, k]: sp.IndexedBase("picked")[t, k]}),
        Ctx({(M_, 0): "M", (sp.IndexedBase("picked"), 0): "picked", (R_, 0): "rest"}, t), ("t", k))
    i, j = softmax.i, softmax.j
    out["softmax_jacobian"] = numpy_expr(
        jacobian()["jacobian"].expr.rhs,
        Ctx({(yhat1, i): ("Yhat[..., :, None]", ("t", i, "*")),
             (yhat1, j): ("Yhat[..., None, :]", ("t", "*", j)),
             (sp.KroneckerDelta, None): "np.eye(Yhat.shape[-1])"}, t), ("t", i, j))
    return out


HEADER = '''\
"""Generated by rnnmath.codegen from the derivations in rnnmath.derive -- do not edit.

Regenerate with `python -m rnnmath.codegen` (or `make regen`); `python -m rnnmath.codegen --check`
fails when this file differs from what the derivations produce.  NumPy only: no SymPy at import.

Layout: arrays are (T, ...) with the time step first: (T, H) for one sequence, (T, B, H) for a
batch.  ``S`` holds s_0..s_T, so ``S[t]`` is s_t and ``S[1:]`` the states that produce outputs.
Products over all steps run on 2-D (T*B, .) views, one BLAS call each; inside the time loops every
statement writes into preallocated memory.  No input validation here: rnnmath.gradients does it.
"""
import numpy as np


def _sigmoid(Z):
    """1 / (1 + exp(-Z)) without overflow: exp of a non-positive number only (for Z < 0 it is
    e^Z / (1 + e^Z), exact to the last digit even where the result is tiny)."""
    e = np.exp(-np.abs(Z))
    out = np.where(Z >= 0, 1.0, e)
    out /= 1.0 + e
    return out


def _add_one_hot(A, ids, value):
    """A[..., ids[...]] += value, in place, for A (..., K) and integer ids (...)."""
    A.reshape(-1, A.shape[-1])[np.arange(ids.size), ids.ravel()] += value


def _rows(A):
    """(T, ..., n) as a (T*..., n) view."""
    return A.reshape(-1, A.shape[-1])


def _rest(E, shifted):
    """r: the sums of E's rows (..., K) without each row's maximum entry (shifted == 0 there),
    as (..., 1); that is the row sum minus one, without the rounding of forming 1 + r."""
    keep = np.ones(E.shape, dtype=bool)
    np.put_along_axis(keep, shifted.argmax(axis=-1)[..., None], False, axis=-1)
    return np.sum(E, axis=-1, keepdims=True, where=keep)
'''

BODY = '''

def projection_dense(X, U, b):
    """Input part of the pre-activation, all steps at once: (T, ..., D) -> (T, ..., H)."""
    {projection_dense}
    return P.reshape(X.shape[:-1] + (U.shape[0],))


def projection_ids(ids, U, b):
    """The same for one-hot inputs given as token ids (T, ...): a column gather."""
    return {projection_ids}

def logits(S, V, c):
    """z_t = V s_t + c for t = 1..T: (T, ..., K)."""
    {logits}
    return Z.reshape((S.shape[0] - 1,) + S.shape[1:-1] + (V.shape[0],))


def softmax(Z):
    """Softmax over the last axis; shifting by the row maximum leaves it unchanged."""
    e = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_jacobian(Yhat):
    """d yhat_i / d z_j for probabilities (..., K): (..., K, K)."""
    return {softmax_jacobian}


def softmax_cross_entropy(Z, Y):
    """Probabilities, summed loss and dE/dz for logits Z and label rows Y, both (T, ..., K).

    Shifting each row by its maximum leaves the softmax unchanged and keeps exp() finite.
    """
    shifted = Z - Z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=-1, keepdims=True)
    Yhat = e / total
    rest = _rest(e, shifted)
    loss = float(np.sum({softmax_loss}))
    DO = {delta_o}
    return Yhat, loss, DO


def softmax_cross_entropy_ids(Z, labels, M):
    """Summed loss and dE/dz for softmax outputs and class ids (T, ...), steps weighted by M.

    The same as softmax_cross_entropy with one-hot label rows, without building them.
    """
    shifted = Z - Z.max(axis=-1, keepdims=True)
    Yhat = np.exp(shifted)
    total = Yhat.sum(axis=-1, keepdims=True)
    rest = _rest(Yhat, shifted)
    Yhat /= total
    picked = _rows(shifted)[np.arange(labels.size), labels.ravel()].reshape(total.shape)
    loss = float(np.sum({softmax_loss_ids}))
    {delta_o_ids}
    return loss, DO


def sigmoid_cross_entropy(Z, Y, M):
    """Sigmoid probabilities, loss and dE/dz for binary cross-entropy, steps weighted by M.

    Z, Y: (T, ..., K); M: (T, ..., 1) or a scalar.  The loss is the evaluated form of
    derive.outputs: -y log s(z) - (1 - y) log(1 - s(z)) as three non-negative terms.
    """
    Yhat = _sigmoid(Z)
    loss = float(np.sum({sigmoid_loss}))
    DO = {sigmoid_delta_o}
    return Yhat, loss, DO
'''

def render() -> str:
    return HEADER + BODY.format(**_formulas())
