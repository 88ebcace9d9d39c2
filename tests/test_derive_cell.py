"""Exact proof of the engine: for every built-in cell and every cell of the page "Derive your own
cell", sympy.diff of the unrolled loss equals the derived gradients, entry by entry
(rnnmath.derive.proof); and a wrong local derivative is caught."""
import dataclasses
import re

import pytest
import sympy as sp

from rnnmath.derive import cells
from rnnmath.derive.latex import latex, lines
from rnnmath.derive.proof import unrolled_proof

# Instance sizes: T = 2 steps, H = 2 units (transposes show), D = 1 input; the peephole LSTM
# uses H = 1 to keep the expansion inside the suite's time.
SIZES = {"peephole_lstm": dict(h=1, d=1)}


@pytest.mark.parametrize("cell", [*cells.builtin().values(), *cells.examples().values()],
                         ids=lambda c: c.name)
def test_derived_gradients_equal_sympy_diff(cell):
    proof = unrolled_proof(cell, **SIZES.get(cell.name, dict(h=2, d=1)))
    assert proof.checked > 0 and not proof.mismatches, proof.mismatches


def test_a_wrong_derivative_is_caught():
    """Swap the GRU's update-gate convention in the backward only: the proof must fail."""
    cell = cells.gru()
    wrong = dataclasses.replace(cell)
    good = wrong.local

    def local(node, arg):
        out = good(node, arg)
        return out.subs(sp.Symbol("z"), 1 - sp.Symbol("z")) if node.name == "h" else out

    object.__setattr__(wrong, "local", local)
    proof = unrolled_proof(wrong, h=1, d=1)
    assert proof.mismatches


def test_engine_vanilla_equals_the_page_derivation():
    """The engine's recursion for the vanilla cell is the one rnn.hidden derives: same local factor."""
    from rnnmath.derive import rnn
    cell = cells.rnn("tanh")
    (factor,) = cell.paths("a").values()
    assert factor == 1 - sp.Symbol("s") ** 2
    assert "\\phi'" in str(rnn.hidden_layer()["delta"].expr.rhs)


def test_gru_blocks_are_written_with_their_projections_letters():
    """One meaning per symbol: x is the input on every page, so the GRU's blocks are written
    xi^r_t, ..., eta^n_t in the engine's derivation, as on the GRU page, never x^r_t or e^n_t."""
    cell = cells.gru()
    assert [cell.latex_name(b) for b in (*cell.blocks["xi"], *cell.blocks["eta"])] == [
        r"\xi^{r}_{t}", r"\xi^{z}_{t}", r"\xi^{n}_{t}", r"\eta^{r}_{t}", r"\eta^{z}_{t}",
        r"\eta^{n}_{t}"]
    steps = cell.derivation().steps
    for step in steps:
        assert not re.search(r"(?<![\\\w])[xe]\^|\\bar\{[xe]\}", step.latex), (step.name, step.latex)
    assert sum(r"\eta^{n}_{t}" in s.latex for s in steps) >= 3   # the check reads real steps


def test_long_recursion_sums_print_one_term_per_line():
    """A total derivative of three or more terms is printed one term per line, so that it fits a
    phone's column (the peephole LSTM's C-bar on "Derive your own cell"); only the printing
    changes: the lines are the terms of the plain sum, in the order it prints them."""
    steps = cells.peephole_lstm().derivation()
    for name in ("bar_c", "carry_c"):
        step = steps[name]
        assert isinstance(step.expr.rhs, lines), name
        plain = latex(sp.Add(*step.expr.rhs.args))
        one_line = re.sub(r"\\begin\{aligned\}\[t\] &|\\end\{aligned\}", "",
                          latex(step.expr.rhs)).replace(" \\\\\n&", " ")
        assert one_line == plain and step.latex.count("\n&+ ") == 2, (name, step.latex)
    # two terms fit a line: the LSTM's C-bar stays one sum
    assert isinstance(cells.lstm().derivation()["bar_c"].expr.rhs, sp.Add)


def test_elementwise_parameters_are_written_as_their_gradients_are():
    """p_o is p^{o} in every step, as in dE/dp^{o}, and has no time index: it is one vector."""
    steps = cells.peephole_lstm().derivation()
    assert all("p_{" not in s.latex for s in steps.steps), [s.name for s in steps.steps
                                                          if "p_{" in s.latex]
    assert r"{\partial p^{o}}" in steps["local_o_p_o"].latex
    assert r"\partial E}{\partial p^{o}}" in steps["dp_o"].latex
    assert r"C_{t} p^{o}" in steps["forward_o"].latex
