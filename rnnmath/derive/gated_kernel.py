"""Assemble :mod:`rnnmath._generated_gated` (LSTM and GRU kernels) from the derivation steps.

As in :mod:`rnnmath.derive.kernel`, every ``{...}`` hole of the templates is printed by
:func:`rnnmath.codegen.numpy_expr` from a SymPy expression taken from a derivation step of
:mod:`rnnmath.derive.lstm` or :mod:`rnnmath.derive.gru`; the templates supply the loops, the
allocation, the names and the slices of the stacked gate blocks.  Terms without the recurrent
signal are computed for all steps at once, outside the loops: the input projections of all gates,
the output layer's error ``DO @ V`` and every local gate factor.
"""
from __future__ import annotations

import sympy as sp

from ..codegen.index import Ctx, numpy_expr
from . import gru, lstm, rnn

t, q, p, m = rnn.t, rnn.q, rnn.p, lstm.m
ROWQ, ROWM, PQ = ("t", q), ("t", m), (p, q)
# Placeholders for hoisted arrays inside loop formulas.
P_, G_, K_ = (sp.IndexedBase(n) for n in ("P", "Gh", "K"))


def _coefficient(expr, signal):
    """(coefficient of ``signal`` in the linear form ``expr``, ``expr`` with it as ``K_``)."""
    coeff = sp.diff(expr, signal)  # kept as derived: products stay products
    if sp.expand(coeff).has(signal.base):
        raise ValueError(f"{expr} is not linear in {signal}")
    rest = sp.expand(expr - coeff * signal)
    return coeff, rest + signal * K_[t, q]


def _one_hot(expr, gates):
    """Input terms with one-hot inputs: x[t, l] = [l = iota_t], collapsed to a column gather."""
    one_hot = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == rnn.x,
                           lambda e: sp.KroneckerDelta(e.indices[1], rnn.token[e.indices[0]]))
    return rnn.collapse(one_hot, {m: (1, gates * rnn.H), rnn.token[t]: (1, rnn.D)})


def _params(extra=None):
    arrays = {(lstm.Wih, None): "weight_ih", (lstm.Whh, None): "weight_hh",
              (lstm.bih, None): "bias_ih", (lstm.bhh, None): "bias_hh",
              (rnn.V, None): "V", (rnn.c, None): "c"}
    arrays.update(extra or {})
    return arrays


def pr(expr, names, out=ROWQ, **kw):
    return numpy_expr(expr, Ctx(_params(names), t, **kw), out)


def _output_and_inputs(hidden, signal) -> dict[str, str]:
    """dV and dc; and a check that weight_ih's gradient is the vanilla input gradient.

    Both cells derive d E / d weight_ih as (stacked gate error)^T x, the form of the vanilla
    d E / d U = delta^T x.  The generated module therefore calls the vanilla kernels
    input_gradient_dense / input_gradient_ids, and rendering stops if the derivations disagree.
    """
    vanilla = rnn.hidden_layer()
    for gated, plain, kw in (("dW_ih", "dU", {}), ("dW_ih_one_hot", "dU_one_hot", {"ids": "i"})):
        mine = pr(hidden[gated].expr.rhs, {(signal, 0): "DL2", (rnn.x, 0): "X2"}, PQ, **kw)
        theirs = pr(vanilla[plain].expr.rhs, {(rnn.delta, 0): "DL2", (rnn.x, 0): "X2"}, PQ, **kw)
        if mine != theirs:
            raise AssertionError(f"{gated} prints as {mine}, not as the vanilla {plain}: {theirs}")
    return {
        "dV": pr(hidden["dV"].expr.rhs, {(rnn.delta_o, 0): "DO2", (lstm.h, 0): "H2"}, PQ),
        "dc": pr(hidden["dc"].expr.rhs, {(rnn.delta_o, 0): "DO2"}, (p,)),
    }


# ---------------------------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------------------------
SLICES = {0: "[..., :H]", 1: "[..., H:2 * H]", 2: "[..., 2 * H:3 * H]", 3: "[..., 3 * H:]"}


def _lstm() -> dict[str, str]:
    fwd, cell, hidden, trunc = lstm.forward(), lstm.cell(), lstm.hidden(), lstm.truncated()
    L = lstm
    hoisted, recurrent = L.split(fwd["preactivation"].expr.rhs, [L.h])
    out = {
        "projection_dense": pr(hoisted, {(rnn.x, 0): "_rows(X)"}, ROWM),
        "projection_ids": pr(_one_hot(hoisted, L.G), {}, ROWM),
        "preact": pr(P_[t, m] + recurrent, {(P_, 0): "P[t - 1]", (L.h, -1): "Hs[t - 1]"}, ROWM),
        "cell": pr(fwd["cell"].expr.rhs, {(L.C, 0): "Cs[t]", (L.C, -1): "Cs[t - 1]",
                                          **{(L.gate[n], 0): f"{n.upper()}[t - 1]" for n in L.GATES}}),
        "hidden": pr(fwd["hidden"].expr.rhs, {(L.C, 0): "Cs[t]", (L.gate["o"], 0): "O[t - 1]"}),
    }
    for i, n in enumerate(L.GATES):
        out[f"gate_{n}"] = pr(L.fn(L.gate[n][t, q]), {(L.pre[n], 0): "A" + SLICES[i]})
    # Backward: hoisted local factors, then the recursion.
    stored = {(L.C, 0): "Cs[1:]", (L.C, -1): "Cs[:-1]",
              **{(L.gate[n], 0): n.upper() for n in L.GATES}}
    total_h = cell["total_h"].expr.rhs
    lag0_h, rec_h = L.split(total_h, [L.Abar])
    out["lag0_h"] = pr(lag0_h, {(rnn.delta_o, 0): "_rows(DO)"})
    out["step_h"] = pr(G_[t, q] + rec_h, {(G_, 0): "Gh[t - 1]", (L.Abar, 1): "ab"})
    kc, step_C = _coefficient(cell["total_C"].expr.rhs, L.hbar[t, q])
    out["Kc"] = pr(kc, stored)
    out["step_C"] = pr(step_C, {(L.hbar, 0): "hb", (L.Cbar, 1): "cb", (L.gate["f"], 1): "Fn[t - 1]",
                                (K_, 0): "Kc[t - 1]"})
    for n in L.GATES:
        # The output gate reads h-bar, the other three C-bar: (full loop, lag loops) names.
        signal, (name, lag_name) = ((L.hbar[t, q], ("hb", "Hj")) if n == "o"
                                    else (L.Cbar[t, q], ("cb", "Cj")))
        coeff, product = _coefficient(cell[f"gate_{n}"].expr.rhs, signal)
        out[f"K{n}"] = pr(coeff, stored)
        out[f"err_{n}"] = pr(product, {(signal.base, 0): name, (K_, 0): f"K{n}[t - 1]"})
        out[f"lag_err_{n}"] = pr(product, {(signal.base, 0): lag_name, (K_, 0): f"K{n}[:-j]"})
        out[f"lag0_err_{n}"] = pr(product, {(signal.base, 0): lag_name, (K_, 0): f"K{n}"})
    h0_, hj = L.lag_base(L.hbar, "0"), L.lag_base(L.hbar, "j")
    cj1, aj1 = L.lag_base(L.Cbar, "j-1"), L.lag_base(L.Abar, "j-1")
    _, lag0_C = _coefficient(trunc["lag0_C"].expr.rhs, h0_[t, q])
    out["lag0_C"] = pr(lag0_C, {(h0_, 0): "Hj", (K_, 0): "Kc"})
    out["lagj_h"] = pr(trunc["lagj_h"].expr.rhs, {(aj1, 1): "Aj[1:]"})
    _, lagj_C = _coefficient(trunc["lagj_C"].expr.rhs, hj[t, q])
    out["lagj_C"] = pr(lagj_C, {(hj, 0): "Hj", (cj1, 1): "Cj[1:]", (L.gate["f"], 1): "Fn[:-j]",
                                (K_, 0): "Kc[:-j]"})
    out.update({
        "dW_hh": pr(hidden["dW_hh"].expr.rhs, {(L.Abar, 0): "AB2", (L.h, -1): "Hprev2"}, PQ),
        "db_ih": pr(hidden["db_ih"].expr.rhs, {(L.Abar, 0): "AB2"}, (p,)),
        "db_hh": pr(hidden["db_hh"].expr.rhs, {(L.Abar, 0): "AB2"}, (p,)),
        "dh0": pr(hidden["dh0"].expr.rhs, {(L.Abar, 1): "AB[0]"}),
        "dC0": pr(hidden["dC0"].expr.rhs, {(L.Cbar, 1): "CB1", (L.gate["f"], 1): "F[0]"}),
    })
    out.update(_output_and_inputs(hidden, L.Abar))
    return out


LSTM = '''

# -- LSTM (gates i, f, g, o stacked in PyTorch's order) ---------------------------------------

def lstm_projection_dense(X, weight_ih, bias_ih, bias_hh):
    """Input part of all four gates' pre-activations, all steps at once: (T, B, D) -> (T, B, 4H)."""
    return ({projection_dense}).reshape(X.shape[:-1] + (weight_ih.shape[0],))


def lstm_projection_ids(ids, weight_ih, bias_ih, bias_hh):
    """The same for one-hot inputs given as token ids (T, B): a column gather."""
    return {projection_ids}


def lstm_forward(P, weight_hh, h0, c0):
    """States h_0..h_T, cells C_0..C_T (T + 1, B, H) and gate outputs I, F, G, O (T, B, H)."""
    T, H = P.shape[0], h0.shape[-1]
    Hs = np.empty((T + 1,) + h0.shape)
    Cs = np.empty_like(Hs)
    Hs[0], Cs[0] = h0, c0
    I, F, G, O = (np.empty((T,) + h0.shape) for _ in range(4))
    for t in range(1, T + 1):
        A = {preact}
        I[t - 1] = {gate_i}
        F[t - 1] = {gate_f}
        G[t - 1] = {gate_g}
        O[t - 1] = {gate_o}
        Cs[t] = {cell}
        Hs[t] = {hidden}
    return Hs, Cs, I, F, G, O


def lstm_backward(Hs, Cs, I, F, G, O, DO, weight_hh, V, truncate=None):
    """Stacked gate errors dE/dA_t (T, B, 4H) and dE/dC_1 (B, H); ``truncate=k`` keeps k + 1 terms per E_t."""
    T = DO.shape[0]
    Gh = ({lag0_h}).reshape(DO.shape[:-1] + (V.shape[1],))
    Kc = {Kc}
    Ki = {Ki}
    Kf = {Kf}
    Kg = {Kg}
    Ko = {Ko}
    Fn = np.concatenate((F[1:], np.zeros_like(F[:1])))  # f_{{t+1}}; no step follows the last
    if truncate is None or truncate >= T - 1:
        AB = np.empty(Gh.shape[:-1] + (4 * Gh.shape[-1],))
        ab, cb = np.zeros_like(AB[0]), np.zeros_like(Gh[0])
        for t in range(T, 0, -1):
            hb = {step_h}
            cb = {step_C}
            ab = np.concatenate(({err_i}, {err_f}, {err_g}, {err_o}), axis=-1)
            AB[t - 1] = ab
        return AB, cb
    # Truncated: lag j carries E_{{t+j}} back to step t; all steps of one lag at once.
    Hj = Gh
    Cj = {lag0_C}
    Aj = np.concatenate(({lag0_err_i}, {lag0_err_f}, {lag0_err_g}, {lag0_err_o}), axis=-1)
    AB, CB = Aj.copy(), Cj.copy()
    for j in range(1, truncate + 1):
        Hj = {lagj_h}
        Cj = {lagj_C}
        Aj = np.concatenate(({lag_err_i}, {lag_err_f}, {lag_err_g}, {lag_err_o}), axis=-1)
        AB[:-j] += Aj
        CB[:-j] += Cj
    return AB, CB[0]


def lstm_parameter_gradients(Hs, F, DO, AB, CB1, weight_hh):
    """Gradients that do not depend on the input encoding: weight_hh, bias_ih, bias_hh, V, c, h0, c0."""
    H, K = Hs.shape[-1], DO.shape[-1]
    H2, Hprev2 = Hs[1:].reshape(-1, H), Hs[:-1].reshape(-1, H)
    DO2, AB2 = DO.reshape(-1, K), AB.reshape(-1, AB.shape[-1])
    return {dW_hh}, {db_ih}, {db_hh}, {dV}, {dc}, {dh0}, {dC0}
'''


# ---------------------------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------------------------
def _gru() -> dict[str, str]:
    fwd, cell, hidden, trunc = gru.forward(), gru.cell(), gru.hidden(), gru.truncated()
    R = gru
    slices = {n: SLICES[i] for i, n in enumerate(R.GATES)}
    out = {
        "projection_dense": pr(fwd["input"].expr.rhs, {(rnn.x, 0): "_rows(X)"}, ROWM),
        "projection_ids": pr(_one_hot(fwd["input"].expr.rhs, R.G), {}, ROWM),
        "eta": pr(fwd["hidden_part"].expr.rhs, {(lstm.h, -1): "Hs[t - 1]"}, ROWM),
        "hidden": pr(fwd["hidden"].expr.rhs, {(lstm.h, -1): "Hs[t - 1]", (R.gate["z"], 0): "Z[t - 1]",
                                              (R.gate["n"], 0): "N[t - 1]"}),
    }
    names = {(R.gate["r"], 0): "R[t - 1]", (R.eta_g["n"], 0): "En[t - 1]",
             **{(R.xi_g[n], 0): "P[t - 1]" + slices[n] for n in R.GATES},
             **{(R.eta_g[n], 0): "E" + slices[n] for n in ("r", "z")}}
    for n in R.GATES:
        out[f"gate_{n}"] = pr(R.fn(R.gate[n][t, q]).subs(R.pre[n][t, q], R.pre_entry(n, t, q)),
                              names)
    # Backward.  Compose each gate error down to the signal the loop carries (h-bar; a-bar^n for r).
    c = cell
    a_n = c["gate_n"].expr.rhs.subs(R.gate_bar["n"][t, q], c["bar_n"].expr.rhs)
    a_z = c["gate_z"].expr.rhs.subs(R.gate_bar["z"][t, q], c["bar_z"].expr.rhs)
    a_r = c["gate_r"].expr.rhs.subs(R.gate_bar["r"][t, q], c["bar_r"].expr.rhs)
    stored = {(R.gate[n], 0): n.upper() for n in R.GATES}
    stored.update({(lstm.h, -1): "Hs[:-1]", (R.eta_g["n"], 0): "En"})
    kn, prod_n = _coefficient(a_n, lstm.hbar[t, q])
    kz, prod_z = _coefficient(a_z, lstm.hbar[t, q])
    kr, prod_r = _coefficient(a_r, R.pre_bar["n"][t, q])
    out.update(Kn=pr(kn, stored), Kz=pr(kz, stored), Kr=pr(kr, stored))
    lag0_h, rec_h = lstm.split(c["total_h"].expr.rhs, [R.eta_bar, lstm.hbar])
    out["lag0_h"] = pr(lag0_h, {(rnn.delta_o, 0): "_rows(DO)"})
    out["step_h"] = pr(G_[t, q] + rec_h, {(G_, 0): "Gh[t - 1]", (R.eta_bar, 1): "eb",
                                          (lstm.hbar, 1): "hb", (R.gate["z"], 1): "Zn[t - 1]"})
    stack_in = c["stack_input"].expr.rhs
    stack_hid = c["stack_hidden"].expr.rhs
    # (prefix of the hole, name of h-bar, of a-bar^n, rows of the hoisted arrays):
    # the full loop's step t, lag 0 (all steps) and lag j (steps 1..T-j).
    for tag, hb, an, suffix in (("", "hb", "an", "[t - 1]"), ("lag0_", "Hj", "An", ""),
                                ("lag_", "Hj", "An", "[:-j]")):
        sig = {(lstm.hbar, 0): hb, (R.pre_bar["n"], 0): an}
        out[f"{tag}an"] = pr(prod_n, {**sig, (K_, 0): "Kn" + suffix})
        out[f"{tag}az"] = pr(prod_z, {**sig, (K_, 0): "Kz" + suffix})
        out[f"{tag}ar"] = pr(prod_r, {**sig, (K_, 0): "Kr" + suffix})
        errs = {(R.pre_bar[n], 0): ("a" if not tag else "A") + n for n in R.GATES}
        errs[(R.gate["r"], 0)] = "R" + suffix
        out[f"{tag}xb"] = ", ".join(pr(e, errs) for e in stack_in)
        out[f"{tag}eb"] = ", ".join(pr(e, errs) for e in stack_hid)
    lagj = trunc["lagj_h"].expr.rhs
    out["lagj_h"] = pr(lagj, {(lstm.lag_base(R.eta_bar, "j-1"), 1): "Ej[1:]",
                              (lstm.lag_base(lstm.hbar, "j-1"), 1): "Hj[1:]",
                              (R.gate["z"], 1): "Zn[:-j]"})
    out.update({
        "dW_hh": pr(hidden["dW_hh"].expr.rhs, {(R.eta_bar, 0): "EB2", (lstm.h, -1): "Hprev2"}, PQ),
        "db_ih": pr(hidden["db_ih"].expr.rhs, {(R.xi_bar, 0): "XB2"}, (p,)),
        "db_hh": pr(hidden["db_hh"].expr.rhs, {(R.eta_bar, 0): "EB2"}, (p,)),
        "dh0": pr(hidden["dh0"].expr.rhs, {(R.eta_bar, 1): "EB[0]", (lstm.hbar, 1): "HB1",
                                           (R.gate["z"], 1): "Z[0]"}),
    })
    out.update(_output_and_inputs(hidden, R.xi_bar))
    return out


GRU = '''

# -- GRU (gates r, z, n stacked in PyTorch's order) -------------------------------------------

def gru_projection_dense(X, weight_ih, bias_ih):
    """Input projections of all three gates, all steps at once: (T, B, D) -> (T, B, 3H)."""
    return ({projection_dense}).reshape(X.shape[:-1] + (weight_ih.shape[0],))


def gru_projection_ids(ids, weight_ih, bias_ih):
    """The same for one-hot inputs given as token ids (T, B): a column gather."""
    return {projection_ids}


def gru_forward(P, weight_hh, bias_hh, h0):
    """States h_0..h_T (T + 1, B, H), gates R, Z, N and the candidate's hidden part En (T, B, H)."""
    T, H = P.shape[0], h0.shape[-1]
    Hs = np.empty((T + 1,) + h0.shape)
    Hs[0] = h0
    R, Z, N, En = (np.empty((T,) + h0.shape) for _ in range(4))
    for t in range(1, T + 1):
        E = {eta}
        En[t - 1] = E[..., 2 * H:]
        R[t - 1] = {gate_r}
        Z[t - 1] = {gate_z}
        N[t - 1] = {gate_n}
        Hs[t] = {hidden}
    return Hs, R, Z, N, En


def gru_backward(Hs, R, Z, N, En, DO, weight_hh, V, truncate=None):
    """Input-side errors (T, B, 3H), hidden-side errors (T, B, 3H) and dE/dh_1 (B, H).

    ``truncate=k`` keeps k + 1 terms per E_t.
    """
    T = DO.shape[0]
    Gh = ({lag0_h}).reshape(DO.shape[:-1] + (V.shape[1],))
    Kn = {Kn}
    Kz = {Kz}
    Kr = {Kr}
    Zn = np.concatenate((Z[1:], np.zeros_like(Z[:1])))  # z_{{t+1}}; no step follows the last
    if truncate is None or truncate >= T - 1:
        XB = np.empty(Gh.shape[:-1] + (3 * Gh.shape[-1],))
        EB = np.empty_like(XB)
        eb, hb = np.zeros_like(XB[0]), np.zeros_like(Gh[0])
        for t in range(T, 0, -1):
            hb = {step_h}
            an = {an}
            az = {az}
            ar = {ar}
            XB[t - 1] = np.concatenate(({xb}), axis=-1)
            eb = np.concatenate(({eb}), axis=-1)
            EB[t - 1] = eb
        return XB, EB, hb
    # Truncated: lag j carries E_{{t+j}} back to step t; all steps of one lag at once.
    Hj = Gh
    An = {lag0_an}
    Az = {lag0_az}
    Ar = {lag0_ar}
    Ej = np.concatenate(({lag0_eb}), axis=-1)
    XB, EB, HB = np.concatenate(({lag0_xb}), axis=-1), Ej.copy(), Hj.copy()
    for j in range(1, truncate + 1):
        Hj = {lagj_h}
        An = {lag_an}
        Az = {lag_az}
        Ar = {lag_ar}
        Ej = np.concatenate(({lag_eb}), axis=-1)
        XB[:-j] += np.concatenate(({lag_xb}), axis=-1)
        EB[:-j] += Ej
        HB[:-j] += Hj
    return XB, EB, HB[0]


def gru_parameter_gradients(Hs, Z, DO, XB, EB, HB1, weight_hh):
    """Gradients that do not depend on the input encoding: weight_hh, bias_ih, bias_hh, V, c, h0."""
    H, K = Hs.shape[-1], DO.shape[-1]
    H2, Hprev2 = Hs[1:].reshape(-1, H), Hs[:-1].reshape(-1, H)
    DO2, XB2, EB2 = DO.reshape(-1, K), XB.reshape(-1, XB.shape[-1]), EB.reshape(-1, EB.shape[-1])
    return {dW_hh}, {db_ih}, {db_hh}, {dV}, {dc}, {dh0}
'''

HEADER = '''\
"""Generated by rnnmath.codegen from the derivations in rnnmath.derive.lstm and
rnnmath.derive.gru -- do not edit.

Regenerate with `python -m rnnmath.codegen` (or `make regen`); `python -m rnnmath.codegen --check`
fails when this file differs from what the derivations produce.  NumPy only: no SymPy at import.

Layout: arrays are (T, B, ...) with one row per batch item; ``Hs`` holds h_0..h_T and ``Cs`` the
LSTM cells C_0..C_T, so ``Hs[1:]`` are the states that produce outputs.  Stacked arrays (the
input projections ``P``, the gate errors ``AB``, ``XB``, ``EB``) keep PyTorch's gate order along
their last axis.  The ``*2`` names are (T*B, ...) views used for sums over time and batch.  No
input validation here: rnnmath.gated does it once.
"""
import numpy as np

# The output layer (softmax of V h_t + c, cross-entropy) and the helpers are the vanilla RNN's:
# the same generated kernels, so they are printed once.
# The gradient of weight_ih is the vanilla input gradient with the stacked gate error in place
# of delta (checked when this module is rendered).
from ._generated import (_rows, _scatter_rows, _sigmoid, input_gradient_dense,  # noqa: F401
                         input_gradient_ids, logits, softmax, softmax_cross_entropy)
'''


def render() -> str:
    return HEADER + LSTM.format(**_lstm()) + GRU.format(**_gru())
