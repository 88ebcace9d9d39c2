"""The vector form of the LSTM and GRU (rnnmath.derive.vector): read off the engine's cells, printed
in the site's notation."""
import re

import numpy as np
import pytest
import sympy as sp

from rnnmath.derive import derivations, vector


@pytest.fixture(scope="module")
def reg():
    return derivations()


@pytest.mark.parametrize("key, step, latex", [
    ("lstm.vector", "forward_i",
     r"i_{t} = \sigma\left(W_{ii} x_{t} + b_{ii} + W_{hi} h_{t-1} + b_{hi}\right)"),
    ("lstm.vector", "forward_c", r"C_{t} = f_{t} \odot C_{t-1} + i_{t} \odot g_{t}"),
    ("lstm.vector", "path_c",
     r"\frac{\partial C_{t}}{\partial C_{t-1}} = \operatorname{diag}{\left(f_{t} \right)}"),
    ("lstm.vector", "total_h", r"\bar{h}_{t} = \begin{aligned}[t] &V^{T} \delta^{o}_{t} \\" "\n"
     r"&+ \left(W^{hh}\right)^{T} \bar{A}_{t+1}\end{aligned}"),
    ("lstm.vector", "total_c", r"\bar{C}_{t} = \begin{aligned}[t] &\bar{h}_{t} \odot o_{t} \odot "
     r"\left(1 - \tanh^{2}{\left(C_{t} \right)}\right) \\" "\n"
     r"&+ \bar{C}_{t+1} \odot f_{t+1}\end{aligned}"),
    ("lstm.vector_gates", "bar_a_f", r"\bar{a}^{f}_{t} = \begin{aligned}[t] &\bar{C}_{t} \odot f_{t} "
     r"\odot \left(1 - f_{t}\right) \\" "\n" r"&\odot C_{t-1}\end{aligned}"),
    ("gru.vector_signals", "bar_x_r", r"\bar{\xi}^{r}_{t} = \begin{aligned}[t] &\bar{h}_{t} \odot r_{t} "
     r"\odot \left(1 - r_{t}\right) \\" "\n" r"&\odot \left(1 - z_{t}\right) \odot \eta^{n}_{t} \\" "\n"
     r"&\odot \left(1 - n_{t}^{2}\right)\end{aligned}"),
    ("lstm.vector_gates", "bar_a_g",
     r"\bar{a}^{g}_{t} = \bar{C}_{t} \odot i_{t} \odot \left(1 - g_{t}^{2}\right)"),
    ("gru.vector", "forward_n", r"n_{t} = \tanh{\left(\begin{aligned} &W_{in} x_{t} + b_{in} \\" "\n"
     r"&+ r_{t} \odot \left(W_{hn} h_{t-1} + b_{hn}\right)\end{aligned} \right)}"),
    ("gru.vector", "forward_h", r"h_{t} = \left(1 - z_{t}\right) \odot n_{t} + z_{t} \odot h_{t-1}"),
    ("gru.vector", "total_h", r"\bar{h}_{t} = \begin{aligned}[t] &V^{T} \delta^{o}_{t} \\" "\n"
     r"&+ \bar{h}_{t+1} \odot z_{t+1} \\" "\n" r"&+ \left(W^{hh}\right)^{T} \bar{\eta}_{t+1}"
     r"\end{aligned}"),
    ("gru.vector_signals", "bar_e_n", r"\bar{\eta}^{n}_{t} = \begin{aligned}[t] &\bar{h}_{t} \odot "
     r"r_{t} \odot \left(1 - z_{t}\right) \\" "\n" r"&\odot \left(1 - n_{t}^{2}\right)\end{aligned}"),
])
def test_vector_steps_print_in_the_site_notation(reg, key, step, latex):
    assert reg[key][step].latex == latex


def test_engine_names_do_not_leak(reg):
    """c is the output bias and x the input: the cell state is C_t, the GRU blocks xi^r, eta^n."""
    text = "\n".join(s.latex for k in ("lstm.vector", "lstm.vector_gates", "gru.vector",
                                        "gru.vector_signals") for s in reg[k].steps)
    assert not re.search(r"(?<![\\a-z])c_\{", text)
    assert not re.search(r"(?<![\\a-z])(xi|eta|[xe]\^\{[rzn]\})", text)
    assert "weight" not in text and "bias" not in text


def test_every_backward_step_is_a_result_and_every_forward_step_is_not(reg):
    for key in ("lstm.vector", "lstm.vector_gates", "gru.vector", "gru.vector_signals"):
        for s in reg[key].steps:
            assert s.result == (not s.name.startswith(("forward", "path"))), (key, s.name)
            assert s.caption, (key, s.name)


def _as_scalars(expr):
    """odot -> product, plus -> sum: the display classes back to plain SymPy."""
    return expr.replace(lambda e: isinstance(e, vector.odot), lambda e: sp.Mul(*e.args)) \
               .replace(lambda e: isinstance(e, vector.plus), lambda e: sp.Add(*e.args))  # paths too


def test_display_classes_change_only_the_printing(reg):
    """The vector forms are the engine's steps, entry for entry and symbol for symbol: both write
    the cell state C and the GRU's blocks xi^r, eta^n, the site's symbols."""
    ours = _as_scalars(reg["lstm.vector"]["forward_c"].expr.rhs)
    engine = reg["cell.lstm"]["forward_c"].expr.rhs
    assert sp.simplify(ours - engine) == 0
    for step in ("bar_x_r", "bar_x_z", "bar_x_n", "bar_e_n"):
        ours = reg["gru.vector_signals"][step].expr
        engine = reg["cell.gru"][step].expr
        assert ours.lhs == engine.lhs, step
        assert sp.expand(_as_scalars(ours.rhs) - engine.rhs) == 0, step


def test_total_c_evaluates_to_the_recursion():
    """Numbers in, numbers out: the printed C-bar recursion is the one the kernels run."""
    expr = _as_scalars(derivations()["lstm.vector"]["total_c"].expr.rhs)
    rng = np.random.default_rng(0)
    values = {s: rng.uniform(0.1, 0.9) for s in expr.free_symbols}
    byname = {s.name: v for s, v in values.items()}
    want = (byname[r"\bar{h}_{t}"] * byname["o_{t}"] * (1 - np.tanh(byname["C_{t}"]) ** 2)
            + byname[r"\bar{C}_{t+1}"] * byname["f_{t+1}"])
    assert float(expr.subs(values)) == pytest.approx(want, rel=1e-14)
