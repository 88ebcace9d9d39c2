r"""GRU backpropagation through time, derived entry by entry with SymPy.

Model (PyTorch's ``nn.GRU`` layout, column vectors, :math:`t = 1..T`, gates stacked r, z, n):

.. math::
    \xi_t = W^{ih} x_t + b^{ih} = (\xi^r_t; \xi^z_t; \xi^n_t),\quad
    \eta_t = W^{hh} h_{t-1} + b^{hh} = (\eta^r_t; \eta^z_t; \eta^n_t),\\
    r_t = \sigma(\xi^r_t + \eta^r_t),\ z_t = \sigma(\xi^z_t + \eta^z_t),\
    n_t = \tanh(\xi^n_t + r_t\odot\eta^n_t),\quad h_t = (1 - z_t)\odot n_t + z_t\odot h_{t-1},

and the vanilla output layer :math:`\ell_t = V h_t + c` (the logits are written :math:`\ell_t`
here because :math:`z_t` is PyTorch's update gate).  The reset gate multiplies the hidden part
:math:`\eta^n_t` only, so the input and hidden projections keep separate error signals
:math:`\bar\xi_t` and :math:`\bar\eta_t`.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from .lstm import (as_functions, chain, grad_label, h, hbar, in_gates, lag_base, m, sigmoid,
                   split, tidy, _relag)
from .lstm import Whh, Wih, bhh, bih
from .rnn import D, H, K, T, _eq, _label, _param_gradient, delta_o, k, q, t, token, x
from .rnn import V, c
from .rnn import j_, l_
from .steps import Derivation, Step

GATES = ("r", "z", "n")
ACT = {"r": sigmoid, "z": sigmoid, "n": sp.tanh}
G = len(GATES)
gate = {n: sp.IndexedBase(n) for n in GATES}
pre = {n: sp.IndexedBase(f"a^{{{n}}}") for n in GATES}
pre_bar = {n: sp.IndexedBase(rf"\bar{{a}}^{{{n}}}") for n in GATES}
gate_bar = {n: sp.IndexedBase(rf"\bar{{{n}}}") for n in GATES}
xi, eta = sp.IndexedBase(r"\xi"), sp.IndexedBase(r"\eta")                  # stacked (3H rows)
xi_bar, eta_bar = sp.IndexedBase(r"\bar{\xi}"), sp.IndexedBase(r"\bar{\eta}")
xi_g = {n: sp.IndexedBase(rf"\xi^{{{n}}}") for n in GATES}                 # row blocks
eta_g = {n: sp.IndexedBase(rf"\eta^{{{n}}}") for n in GATES}


def xi_entry(tt, row):
    """Input projection :math:`\\xi_{t,row}`, ``row`` in 1..3H."""
    return sp.Sum(Wih[row, l_] * x[tt, l_], (l_, 1, D)) + bih[row]


def eta_entry(tt, row):
    """Hidden projection :math:`\\eta_{t,row} = (W^{hh} h_{t-1} + b^{hh})_{row}`."""
    return sp.Sum(Whh[row, j_] * h[tt - 1, j_], (j_, 1, H)) + bhh[row]


def pre_entry(name, tt, row):
    """Gate pre-activations: the reset gate scales the hidden part of the candidate only."""
    if name == "n":
        return xi_g["n"][tt, row] + gate["r"][tt, row] * eta_g["n"][tt, row]
    return xi_g[name][tt, row] + eta_g[name][tt, row]


def hidden_entry(tt, row):
    """:math:`h_{t,row} = (1 - z_{t,row}) n_{t,row} + z_{t,row} h_{t-1,row}`."""
    zz = gate["z"][tt, row]
    return (1 - zz) * gate["n"][tt, row] + zz * h[tt - 1, row]


def z_entry(tt, row):
    """Logit entry :math:`\\ell_{t,row}`."""
    return sp.Sum(V[row, j_] * h[tt, j_], (j_, 1, H)) + c[row]


def fn(expr):
    return as_functions(expr, gate, pre, ACT)


def state(expr):
    return in_gates(expr, gate, pre, ACT)


@cache
def forward() -> Derivation:
    """The forward equations, in PyTorch's layout."""
    blocks = sp.Tuple(*(xi_g[n][t, q] for n in GATES), *(eta_g[n][t, q] for n in GATES))
    rows = sp.Tuple(*(xi[t, i * H + q] for i in range(G)), *(eta[t, i * H + q] for i in range(G)))
    return Derivation("gru.forward", "GRU forward pass", (
        Step("input", r"Input projections of all three gates: row $m$ of `weight_ih` $W^{ih}$ "
             r"($3H \times D$) and `bias_ih`. They do not depend on the state, so the code "
             r"computes them for all steps at once.", sp.Eq(xi[t, m], xi_entry(t, m))),
        Step("hidden_part", r"Hidden projections: `weight_hh` $W^{hh}$ ($3H \times H$) and "
             r"`bias_hh`.", sp.Eq(eta[t, m], eta_entry(t, m))),
        Step("blocks", r"The row blocks in PyTorch's order: reset gate $r$, update gate $z$, "
             r"candidate $n$.", _eq(blocks, rows)),
        Step("preactivations", r"The reset gate multiplies the hidden part of the candidate "
             r"only, bias $b^{hh}_n$ included (PyTorch's convention).",
             _eq(sp.Tuple(*(pre[n][t, q] for n in GATES)),
                 sp.Tuple(*(pre_entry(n, t, q) for n in GATES)))),
        Step("gates", r"Sigmoid for the gates, $\tanh$ for the candidate.",
             _eq(sp.Tuple(*(gate[n][t, q] for n in GATES)),
                 sp.Tuple(*(fn(gate[n][t, q]) for n in GATES)))),
        Step("hidden", r"The update gate $z_t$ is the share of the previous state that is kept; "
             r"$1 - z_t$ lets the candidate in.", sp.Eq(h[t, q], hidden_entry(t, q))),
        Step("logits", r"The output layer of the vanilla model, reading $h_t$.",
             sp.Eq(sp.Symbol(r"\ell_{t k}"), z_entry(t, k))),
    )).fit_a_phone()


@cache
def cell() -> Derivation:
    """Backward through one GRU step."""
    HH = {q: (1, H), j_: (1, H)}
    through_z = chain(lambda kk: delta_o[t, kk], lambda kk: z_entry(t, kk), h[t, q],
                      {q: (1, H), k: (1, K)}, k, K)
    through_eta = chain(lambda mm: eta_bar[t + 1, mm], lambda mm: eta_entry(t + 1, mm), h[t, q],
                        {q: (1, H), m: (1, G * H)}, m, G * H)
    through_h = chain(lambda jj: hbar[t + 1, jj], lambda jj: hidden_entry(t + 1, jj), h[t, q],
                      HH, j_, H)
    total_h = through_z + through_eta + through_h
    bar = {
        "n": tidy(chain(lambda jj: hbar[t, jj], lambda jj: hidden_entry(t, jj), gate["n"][t, q],
                        HH, j_, H), [hbar[t, q]]),
        "z": tidy(chain(lambda jj: hbar[t, jj], lambda jj: hidden_entry(t, jj), gate["z"][t, q],
                        HH, j_, H), [hbar[t, q]]),
        "r": tidy(chain(lambda jj: pre_bar["n"][t, jj], lambda jj: pre_entry("n", t, jj),
                        gate["r"][t, q], HH, j_, H), [pre_bar["n"][t, q]]),
    }
    err = {n: tidy(state(chain(lambda jj: gate_bar[n][t, jj], lambda jj: fn(gate[n][t, jj]),
                               pre[n][t, q], HH, j_, H)), [gate_bar[n][t, q]])
           for n in GATES}

    def through(blocks, name):
        """d E / d (row block ``name``) via the pre-activation it enters."""
        return tidy(chain(lambda jj: pre_bar[name][t, jj], lambda jj: pre_entry(name, t, jj),
                          blocks[name][t, q], HH, j_, H), [pre_bar[name][t, q]])

    lhs_bar = {n: _label(rf"\bar{{{n}}}_{{t q}} = \frac{{\partial E}}{{\partial {n}_{{t q}}}}")
               for n in GATES}
    lhs_pre = {n: _label(rf"\bar{{a}}^{{{n}}}_{{t q}} = \frac{{\partial E}}"
                         rf"{{\partial a^{{{n}}}_{{t q}}}}") for n in GATES}
    return Derivation("gru.cell", "GRU: backward through one step", (
        Step("total_h", r"$h_t$ reaches $E$ three ways: through its logits $\ell_t$, through the "
             r"hidden projections $\eta_{t+1}$ of the next step, and directly through "
             r"$h_{t+1} = \dots + z_{t+1}\odot h_t$ (gates held fixed: their own paths are "
             r"counted in $\bar\eta_{t+1}$). The recursion starts from $\bar h_{T+1} = 0$, "
             r"$\bar\eta_{T+1} = 0$.",
             sp.Eq(_label(r"\bar{h}_{t q} = \frac{\partial E}{\partial h_{t q}}"), total_h),
             result=True),
        Step("bar_n", r"The candidate enters $h_t$ with weight $1 - z_t$.",
             sp.Eq(lhs_bar["n"], bar["n"])),
        Step("gate_n", r"Through $n_t = \tanh(a^n_t)$, read off the stored $n_t$.",
             sp.Eq(lhs_pre["n"], err["n"]), result=True),
        Step("bar_z", r"The update gate moves $h_t$ from $n_t$ towards $h_{t-1}$.",
             sp.Eq(lhs_bar["z"], bar["z"])),
        Step("gate_z", r"Through the sigmoid, $\sigma' = \sigma(1 - \sigma)$.",
             sp.Eq(lhs_pre["z"], err["z"]), result=True),
        Step("bar_r", r"The reset gate reaches $E$ only through the candidate's pre-activation, "
             r"where it multiplies $\eta^n_t$.", sp.Eq(lhs_bar["r"], bar["r"])),
        Step("gate_r", r"Through the sigmoid.", sp.Eq(lhs_pre["r"], err["r"]), result=True),
        Step("stack_input", r"Each input block enters its gate's pre-activation with "
             r"coefficient one: $\bar\xi_t$ stacks the three gate errors.",
             _eq(sp.Tuple(*(xi_bar[t, i * H + q] for i in range(G))),
                 sp.Tuple(*(through(xi_g, n) for n in GATES)))),
        Step("stack_hidden", r"The hidden block of the candidate is scaled by $r_t$: "
             r"$\bar\eta_t$ differs from $\bar\xi_t$ in its last block.",
             _eq(sp.Tuple(*(eta_bar[t, i * H + q] for i in range(G))),
                 sp.Tuple(*(through(eta_g, n) for n in GATES))), result=True),
    )).fit_a_phone()


@cache
def hidden() -> Derivation:
    """Parameter and initial-state gradients."""
    stacked = (1, G * H)
    _, dwih = _param_gradient(Wih, stacked, (1, D), xi_entry, m, stacked, xi_bar)
    _, dwhh = _param_gradient(Whh, stacked, (1, H), eta_entry, m, stacked, eta_bar)
    _, dbih = _param_gradient(bih, stacked, None, xi_entry, m, stacked, xi_bar)
    _, dbhh = _param_gradient(bhh, stacked, None, eta_entry, m, stacked, eta_bar)
    _, dv = _param_gradient(V, (1, K), (1, H), z_entry, k, (1, K), delta_o)
    _, dc = _param_gradient(c, (1, K), None, z_entry, k, (1, K), delta_o)
    one_hot = dwih.subs(x[t, q], sp.KroneckerDelta(q, token[t]))
    dh0 = (chain(lambda mm: eta_bar[1, mm], lambda mm: eta_entry(1, mm), h[0, q],
                 {q: (1, H), m: stacked}, m, G * H)
           + chain(lambda jj: hbar[1, jj], lambda jj: hidden_entry(1, jj), h[0, q],
                   {q: (1, H), j_: (1, H)}, j_, H))
    return Derivation("gru.hidden", "GRU: gradients of the parameters and the initial state", (
        Step("dW_ih", r"Every step's input-side error against its input.",
             sp.Eq(grad_label("W^{ih}_{p q}"), sp.Sum(dwih, (t, 1, T))), result=True),
        Step("dW_ih_one_hot", r"With one-hot inputs, column $\iota_t$ receives $\bar\xi_t$.",
             sp.Eq(grad_label("W^{ih}_{p q}"), sp.Sum(one_hot, (t, 1, T))), result=True),
        Step("db_ih", r"The input bias.",
             sp.Eq(grad_label("b^{ih}_{p}"), sp.Sum(dbih, (t, 1, T))), result=True),
        Step("dW_hh", r"The hidden-side error against the previous state.",
             sp.Eq(grad_label("W^{hh}_{p q}"), sp.Sum(dwhh, (t, 1, T))), result=True),
        Step("db_hh", r"Unlike the LSTM's, the two biases get different gradients: "
             r"$b^{hh}_n$ sits inside the reset gate's product.",
             sp.Eq(grad_label("b^{hh}_{p}"), sp.Sum(dbhh, (t, 1, T))), result=True),
        Step("dV", r"The output layer, as in the vanilla model, against $h_t$.",
             sp.Eq(grad_label("V_{p q}"), sp.Sum(dv, (t, 1, T))), result=True),
        Step("dc", r"The output bias.", sp.Eq(grad_label("c_{p}"), sp.Sum(dc, (t, 1, T))),
             result=True),
        Step("dh0", r"The initial state feeds the hidden projections of step 1 and, directly, "
             r"$h_1$.", sp.Eq(grad_label("h_{0 q}"), dh0), result=True),
    )).fit_a_phone()


@cache
def truncated() -> Derivation:
    """Lags: the part of the recursion that carries E_{t+j} back to step t."""
    total_h = cell()["total_h"].expr.rhs
    lag0, rec = split(total_h, [eta_bar, hbar])
    h0_, hj = lag_base(hbar, "0"), lag_base(hbar, "j")
    lagj = _relag(rec, {(eta_bar, 1): lag_base(eta_bar, "j-1"), (hbar, 1): lag_base(hbar, "j-1")})
    kk = sp.Symbol(r"\kappa", integer=True, nonnegative=True)  # truncation length
    jj = sp.Symbol("j", integer=True, nonnegative=True)
    upto = (jj, 0, sp.Min(kk, T - t))
    return Derivation("gru.truncated", "GRU: truncated BPTT", (
        Step("lag0_h", r"Lag 0: the error of $E_t$ at its own step.", sp.Eq(h0_[t, q], lag0)),
        Step("lagj_h", r"Lag $j \ge 1$: the error of $E_{t+j}$ carried back one more step, "
             r"through the next hidden projections and the direct path. The gate errors of "
             r"each lag follow from $\bar h^{(j)}_t$ by the gate formulas, which are linear "
             r"in it.", sp.Eq(hj[t, q], lagj)),
        Step("truncated", r"Keep lags $0..\kappa$ ($\kappa + 1$ terms per $E_t$). The gradients of "
             r"$W^{ih}$, $W^{hh}$, $b^{ih}$, $b^{hh}$ and $h_0$ use the kept sums; with "
             r"$\kappa \ge T - 1$ nothing is dropped: full BPTT.",
             _eq(sp.Tuple(_label(r"\tilde{\xi}_{t}"), _label(r"\tilde{\eta}_{t}"),
                          _label(r"\tilde{h}_{t}")),
                 sp.Tuple(sp.Sum(_label(r"\bar{\xi}^{(j)}_{t}"), upto),
                          sp.Sum(_label(r"\bar{\eta}^{(j)}_{t}"), upto),
                          sp.Sum(_label(r"\bar{h}^{(j)}_{t}"), upto))),
             result=True),
    )).fit_a_phone()


def derivations() -> list[Derivation]:
    return [forward(), cell(), hidden(), truncated()]
