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
        title="GRU from its cell")


def builtin() -> dict[str, Cell]:
    """Every built-in cell by name."""
    return {c.name: c for c in (rnn("tanh"), rnn("relu"), lstm(), gru())}
