"""Assemble :mod:`rnnmath._generated` from the derivation steps.

Each ``{...}`` hole of the template is filled by :func:`rnnmath.codegen.numpy_expr` from a SymPy
expression taken from a derivation step; the template only supplies the loops, the allocation and
the names.  Terms are split by whether they contain the recurrent quantity (``s_{t-1}`` forward,
``delta_{t+1}`` backward): the rest is computed for all steps at once before the loop.
"""
from __future__ import annotations

import sympy as sp

from .index import Ctx, numpy_expr, numpy_inplace
from ..derive import rnn
from ..derive.activation import ACTIVATIONS, activation
from ..derive.activation import a as a_sym
from ..derive.activation import s as s_sym
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
    hidden, output = rnn.hidden_layer(), rnn.output_layer()
    pre = rnn.a_entry(t, q)
    hoisted_a, recurrent_a = _split(pre, rnn.s)
    one_hot = hoisted_a.replace(  # x[t, i] = [i = iota_t]
        lambda e: isinstance(e, sp.Indexed) and e.base == rnn.x,
        lambda e: sp.KroneckerDelta(e.indices[1], rnn.token[e.indices[0]]))
    ids_hoisted = rnn.collapse(one_hot, {q: (1, rnn.H), rnn.token[t]: (1, rnn.D)})
    # delta_t = f'_t * (immediate + recurrent): the product distributes, so the immediate part
    # (lag 0 of the truncated form) is computed for all steps before the loop.
    hoisted_d, recurrent_d = _split(hidden["total"].expr.rhs, rnn.delta)
    loop = Ctx(_params({(F_, 0): "ft", (rnn.delta, 1): "dn"}), t, prefix="")
    out = {
        # Products over all steps are 2-D: (T*B, .) rows, one BLAS call each.
        "projection_dense": numpy_inplace(hoisted_a, Ctx(_params({(rnn.x, 0): "_rows(X)"}), t),
                                          "P", " " * 4, fresh=True),
        "projection_ids": numpy_expr(ids_hoisted, Ctx(_params(), t), ROWQ),
        "logits": numpy_inplace(rnn.z_entry(t, q), Ctx(_params({(rnn.s, 0): "_rows(S[1:])"}), t),
                                "Z", " " * 4, fresh=True),
        "delta_o": numpy_expr(_in_rows(cross_entropy()["general"].expr.rhs),
                              Ctx({(Y_, 0): "Y", (YH_, 0): "Yhat"}, t), ("t", softmax.j)),
        "lag0": numpy_inplace(F_[t, q] * hoisted_d,
                              Ctx(_params({(F_, 0): "_rows(F)", (rnn.delta_o, 0): "_rows(DO)"}), t),
                              "DL", " " * 4, fresh=True),
        "step": numpy_inplace(F_[t, q] * recurrent_d, loop, "buf", " " * 12),
        "lag": numpy_inplace(F_[t, q] * recurrent_d,
                             Ctx(_params({(F_, 0): "F2[:-j * n]", (rnn.delta, 1): "Dj[n:]"}), t),
                             "Dj", " " * 8, fresh=True),
        "dV": numpy_expr(output["dV"].expr.rhs,
                         Ctx(_params({(rnn.delta_o, 0): "DO2", (rnn.s, 0): "S2"}), t), PQ),
        "dc": numpy_expr(output["dc"].expr.rhs, Ctx(_params({(rnn.delta_o, 0): "DO2"}), t), (p,)),
        "dW": numpy_expr(hidden["dW"].expr.rhs,
                         Ctx(_params({(rnn.delta, 0): "DL2", (rnn.s, -1): "S_prev2"}), t), PQ),
        "dU_dense": numpy_expr(hidden["dU"].expr.rhs,
                               Ctx(_params({(rnn.delta, 0): "DL2", (rnn.x, 0): "X2"}), t), PQ),
        "dU_ids": numpy_expr(hidden["dU_one_hot"].expr.rhs,
                             Ctx(_params({(rnn.delta, 0): "DL2"}), t, ids="ids.ravel()"), PQ),
        "db": numpy_expr(hidden["db"].expr.rhs, Ctx(_params({(rnn.delta, 0): "DL2"}), t), (p,)),
        "ds0": numpy_expr(hidden["ds0"].expr.rhs, Ctx(_params({(rnn.delta, 1): "DL[0]"}), t), ROWQ),
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
    for name, f in ACTIVATIONS.items():
        state = f.subs(a_sym, P_[t, q] + recurrent_a)
        out[f"forward_{name}"] = numpy_inplace(
            state, Ctx(_params({(P_, 0): "pt", (rnn.s, -1): "prev"}), t,
                       contiguous={"W.T": "W_T"}, prefix=""), "st", " " * 8)
        fprime = activation(name)["in_state"].expr.rhs.subs(s_sym, rnn.s[t, q])
        out[f"fprime_{name}"] = numpy_expr(fprime, Ctx({(rnn.s, 0): "S[1:]"}, t), ROWQ)
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


def _scatter_rows(A, ids, depth):
    """Rows of ``A`` added into rows ``ids`` of a (depth, A.shape[1]) zero array."""
    if len(ids) * depth <= 16384:  # short: one product with the one-hot matrix is fastest
        one_hot = np.zeros((len(ids), depth))
        one_hot[np.arange(len(ids)), ids] = 1.0
        return one_hot.T @ A
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    out = np.zeros((depth, A.shape[1]))
    out[ids[starts]] = np.add.reduceat(A[order], starts, axis=0)
    return out
'''

BODY = '''

def projection_dense(X, U, b):
    """Input part of the pre-activation, all steps at once: (T, ..., D) -> (T, ..., H)."""
    {projection_dense}
    return P.reshape(X.shape[:-1] + (U.shape[0],))


def projection_ids(ids, U, b):
    """The same for one-hot inputs given as token ids (T, ...): a column gather."""
    return {projection_ids}
{forward}

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
{backward}

def parameter_gradients(S, DO, DL, W):
    """Gradients that do not depend on the input encoding: dV, dc, dW, db, ds0."""
    S2, S_prev2, DO2, DL2 = _rows(S[1:]), _rows(S[:-1]), _rows(DO), _rows(DL)
    return {dV}, {dc}, {dW}, {db}, {ds0}


def input_gradient_dense(X, DL):
    """dU for dense inputs X (T, ..., D)."""
    X2, DL2 = _rows(X), _rows(DL)
    return {dU_dense}


def input_gradient_ids(ids, DL, D):
    """dU for token ids (T, ...): column ids[t] receives delta_t."""
    DL2 = _rows(DL)
    return {dU_ids}
'''

FORWARD = '''

def forward_{name}(P, W, s0):
    """States s_0..s_T for hoisted input projections P (T, ..., H) and s0 (..., H)."""
    S = np.empty((P.shape[0] + 1,) + P.shape[1:])
    S[0] = s0
    W_T = np.ascontiguousarray(W.T)
    dot, {func} = np.dot, np.{func}  # local names: the loop calls them T times
    prev = S[0]
    for st, pt in zip(S[1:], P):  # s_t and the hoisted input part of a_t, t = 1..T
        {forward}
        prev = st
    return S
'''

FPRIME = '''

def fprime_{name}(S):
    """f'(a_t) for t = 1..T, read off the stored states s_1..s_T."""
    return {fprime}
'''

BACKWARD = '''

def backward(F, DO, W, V, truncate=None):
    """delta_t = dE/da_t for t = 1..T, (T, ..., H), from F = f'(a_t) and DO = dE_t/dz_t.

    ``truncate=k`` keeps k + 1 terms per E_t; None or k >= T - 1 is full BPTT.
    """
    T = DO.shape[0]
    {lag0}
    DL = DL.reshape(F.shape)
    if truncate is None or truncate >= T - 1:
        buf = np.empty_like(DL[0])
        dot = np.dot
        # t = T-1 down to 1: dl is delta_t (lag 0 so far), dn is delta_{{t+1}}, ft is f'_t.
        for dl, dn, ft in zip(DL[-2::-1], DL[:0:-1], F[-2::-1]):
            {step}
            dl += buf
        return DL
    # Truncated: lag j carries E_{{t+j}} back to step t, for all steps of one lag at once.
    n = DL[0].size // DL.shape[-1]  # rows per step
    DL2, F2 = _rows(DL), _rows(F)
    Dj = DL2
    for j in range(1, truncate + 1):
        {lag}
        DL2[:-j * n] += Dj
    return DL
'''


def render() -> str:
    f = _formulas()
    funcs = {"tanh": "tanh", "relu": "maximum"}
    forward = "".join(FORWARD.format(name=n, forward=f[f"forward_{n}"], func=funcs[n])
                      for n in ACTIVATIONS)
    backward = "".join(FPRIME.format(name=n, fprime=f[f"fprime_{n}"]) for n in ACTIVATIONS)
    backward += BACKWARD.format(**f)
    return HEADER + BODY.format(forward=forward, backward=backward, **f)
