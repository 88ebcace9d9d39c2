"""The built-in cells as data: vanilla RNN (tanh, relu), LSTM and GRU in PyTorch's layout.

Nothing about a particular cell lives anywhere else: the derivation, the generated kernels and the
public API (:mod:`rnnmath.cells`) are all produced from these descriptions.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from .cell import Cell, D, H, relu, sigmoid, vector

ACTIVATIONS = {"tanh": sp.tanh, "relu": relu}


@cache
def rnn(activation: str = "tanh") -> Cell:
    r"""Vanilla RNN: :math:`a_t = U x_t + W s_{t-1} + b`, :math:`s_t = f(a_t)`."""
    x, s_prev = vector("x", D), vector("s_prev")
    U, W, b = sp.MatrixSymbol("U", H, D), sp.MatrixSymbol("W", H, H), vector("b")
    a = sp.Symbol("a")
    return Cell(f"rnn_{activation}", (("a", U * x + W * s_prev + b),
                                      ("s", ACTIVATIONS[activation](a))),
                states=("s",), output="s", title=f"Vanilla RNN ({activation}) from its cell")


@cache
def lstm() -> Cell:
    """LSTM, gates stacked i, f, g, o as in PyTorch's ``nn.LSTM``."""
    x, h_prev = vector("x", D), vector("h_prev")
    Wih, Whh = sp.MatrixSymbol("weight_ih", 4 * H, D), sp.MatrixSymbol("weight_hh", 4 * H, H)
    bih, bhh = vector("bias_ih", 4 * H), vector("bias_hh", 4 * H)
    ai, af, ag, ao, i, f, g, o, c, c_prev = sp.symbols("a_i a_f a_g a_o i f g o c c_prev")
    return Cell("lstm", (
        ("A", Wih * x + bih + Whh * h_prev + bhh),
        ("i", sigmoid(ai)), ("f", sigmoid(af)), ("g", sp.tanh(ag)), ("o", sigmoid(ao)),
        ("c", f * c_prev + i * g),
        ("h", o * sp.tanh(c)),
    ), states=("h", "c"), output="h", blocks={"A": ("a_i", "a_f", "a_g", "a_o")},
        title="LSTM from its cell")


@cache
def gru() -> Cell:
    """GRU, gates stacked r, z, n as in PyTorch's ``nn.GRU`` (reset applied to W_hn h + b_hn)."""
    x, h_prev = vector("x", D), vector("h_prev")
    Wih, Whh = sp.MatrixSymbol("weight_ih", 3 * H, D), sp.MatrixSymbol("weight_hh", 3 * H, H)
    bih, bhh = vector("bias_ih", 3 * H), vector("bias_hh", 3 * H)
    xr, xz, xn, er, ez, en, r, z, n, hp = sp.symbols("x_r x_z x_n e_r e_z e_n r z n h_prev")
    return Cell("gru", (
        ("xi", Wih * x + bih),
        ("eta", Whh * h_prev + bhh),
        ("r", sigmoid(xr + er)), ("z", sigmoid(xz + ez)), ("n", sp.tanh(xn + r * en)),
        ("h", (1 - z) * n + z * hp),
    ), states=("h",), output="h", blocks={"xi": ("x_r", "x_z", "x_n"), "eta": ("e_r", "e_z", "e_n")},
        # Short names in the code; each block written with its projection's letter in the
        # derivation (xi^r_t, eta^n_t), as on the GRU page: x is the input there.
        symbols={"x_r": "xi_r", "x_z": "xi_z", "x_n": "xi_n",
                 "e_r": "eta_r", "e_z": "eta_z", "e_n": "eta_n"},
        title="GRU from its cell")


def builtin() -> dict[str, Cell]:
    """Every built-in cell by name."""
    return {c.name: c for c in (rnn("tanh"), rnn("relu"), lstm(), gru())}


# ---------------------------------------------------------------------------------------------
# Cells that are not built in: the examples of the page "Derive your own cell".
# ---------------------------------------------------------------------------------------------
@cache
def indrnn() -> Cell:
    r"""IndRNN: every unit recurs only on itself, :math:`h_t = \operatorname{relu}(W x_t + u \odot h_{t-1} + b)`."""
    x = vector("x", D)
    W, b = sp.MatrixSymbol("W", H, D), vector("b")
    a, u, h_prev = sp.symbols("a u h_prev")
    return Cell("indrnn", (("a", W * x + b), ("h", relu(a + u * h_prev))),
                states=("h",), output="h", title="IndRNN: elementwise recurrent weights")


@cache
def mgu() -> Cell:
    r"""Minimal gated unit: one forget gate, which also resets the state the candidate reads."""
    x, h_prev = vector("x", D), vector("h_prev")
    Wf, Uf, bf = sp.MatrixSymbol("W_f", H, D), sp.MatrixSymbol("U_f", H, H), vector("b_f")
    Wh, Uh, bh = sp.MatrixSymbol("W_h", H, D), sp.MatrixSymbol("U_h", H, H), vector("b_h")
    a_f, f, m, a_h, g, hp = sp.symbols("a_f f m a_h g h_prev")
    return Cell("mgu", (
        ("a_f", Wf * x + Uf * h_prev + bf), ("f", sigmoid(a_f)),
        ("m", f * hp), ("a_h", Wh * x + Uh * vector("m") + bh), ("g", sp.tanh(a_h)),
        ("h", (1 - f) * hp + f * g),
    ), states=("h",), output="h", title="Minimal gated unit")


@cache
def peephole_lstm() -> Cell:
    r"""LSTM whose gates also read the cell state through elementwise peephole weights."""
    x, h_prev = vector("x", D), vector("h_prev")
    W, U, b = sp.MatrixSymbol("W", 4 * H, D), sp.MatrixSymbol("U", 4 * H, H), vector("b", 4 * H)
    ai, af, ag, ao, i, f, g, o, c, cp = sp.symbols("a_i a_f a_g a_o i f g o c c_prev")
    p_i, p_f, p_o = sp.symbols("p_i p_f p_o")
    return Cell("peephole_lstm", (
        ("A", W * x + U * h_prev + b),
        ("i", sigmoid(ai + p_i * cp)), ("f", sigmoid(af + p_f * cp)), ("g", sp.tanh(ag)),
        ("c", f * cp + i * g),
        ("o", sigmoid(ao + p_o * c)),
        ("h", o * sp.tanh(c)),
    ), states=("h", "c"), output="h", blocks={"A": ("a_i", "a_f", "a_g", "a_o")},
        title="Peephole LSTM")


def examples() -> dict[str, Cell]:
    """The cells of the page "Derive your own cell", by name."""
    return {c.name: c for c in (indrnn(), mgu(), peephole_lstm())}
