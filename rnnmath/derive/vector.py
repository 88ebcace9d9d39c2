r"""The LSTM and GRU in vector form, read off the same cell descriptions the kernels come from.

The engine (:mod:`rnnmath.derive.cell`) writes a cell's steps for one entry, in the site's
symbols (the cell state :math:`C_t`, the GRU's blocks :math:`\xi^{r}_t, \eta^{n}_t`).  The LSTM
and GRU pages teach the vector form first, with the same symbols: every elementwise product is an
:math:`\odot`, and each gate's weights are PyTorch's blocks :math:`W_{ii}, W_{hi}, \dots` of
``weight_ih`` and ``weight_hh``.

Nothing is re-derived here by hand: the forward equations are the cell's elementwise equations
with its products substituted block by block, and the backward recursion is built from the
engine's local derivatives (:meth:`~rnnmath.derive.cell.Cell.paths`, which is ``sympy.diff``)
and its transposed products.  Only the printing changes: products become :math:`\odot`, and
each block is written as PyTorch's sum for its gate.
"""
from __future__ import annotations

import sympy as sp

from . import cells
from .cell import Cell, sigmoid
from .latex import lines, plus
from .steps import Derivation, Step

# PyTorch's per-gate blocks: row block ``g`` of weight_ih is W_{ig}, of bias_hh is b_{hg}, ...
_BLOCK = {"weight_ih": "W_{{i{g}}}", "weight_hh": "W_{{h{g}}}",
          "bias_ih": "b_{{i{g}}}", "bias_hh": "b_{{h{g}}}"}
_TIME = {-1: "t-1", 0: "t", 1: "t+1"}


class odot(sp.Function):
    r"""An elementwise product of vectors, printed with :math:`\odot` in the order of its args.

    Display only: the vector pages need :math:`f_t \odot C_{t-1}` where the engine's entry-level
    steps hold the product ``c_prev*f`` of two scalars.
    """

    def _latex(self, printer, exp=None):
        parts = []
        for arg in self.args:
            tex = printer._print(arg)
            parts.append(rf"\left({tex}\right)" if isinstance(arg, (sp.Add, plus)) else tex)
        out = r" \odot ".join(parts)
        return out if exp is None else rf"\left({out}\right)^{{{exp}}}"


class inner_lines(lines):
    """:class:`lines` inside a function's brackets: centred, so the brackets close around it."""

    align = ""


class odot_lines(odot):
    r"""A long elementwise product over lines: three factors on the first (for a gate's signal,
    the upstream signal through the sigmoid's derivative), then two per line, each line starting
    with its own :math:`\odot`."""

    def _latex(self, printer, exp=None):
        parts = [self.args[:3]] + [self.args[k:k + 2] for k in range(3, len(self.args), 2)]
        body = " \\\\\n&\\odot ".join(odot(*p)._latex(printer) for p in parts)
        return rf"\begin{{aligned}}[t] &{body}\end{{aligned}}"


# A product of this many vectors or more is printed on two lines.
LONG_PRODUCT = 4


class Names:
    """The engine's LaTeX names for a cell's vectors at a step (:meth:`Cell.tex`).

    ``gates`` are the nodes computed by a sigmoid, which a product lists first
    (``f_t \\odot C_{t-1}``, as the gate equations are read aloud).
    """

    def __init__(self, cell: Cell):
        self.cell = cell
        self.gates = {n.name for n in cell.elementwise if isinstance(n.expr, sigmoid)}

    def base(self, vec: str) -> str:
        return self.cell.tex(vec[:-5] if vec.endswith("_prev") else vec)

    def _shift(self, vec: str, shift: int) -> str:
        return _TIME[shift - (1 if vec.endswith("_prev") else 0)]

    def at(self, vec: str, shift: int = 0) -> sp.Symbol:
        return sp.Symbol(f"{self.base(vec)}_{{{self._shift(vec, shift)}}}")

    def bar(self, vec: str, shift: int = 0) -> sp.Symbol:
        head, _, sup = self.base(vec).partition("^")
        return sp.Symbol(rf"\bar{{{head}}}" + (f"^{sup}" if sup else "")
                         + f"_{{{self._shift(vec, shift)}}}")

    def entries(self, expr: sp.Expr, shift: int = 0) -> sp.Expr:
        """Entry symbols of the cell as vectors at the step, products as :class:`odot`."""
        names = {sp.Symbol(v): self.at(v, shift) for v in self.cell.vector_names}
        return self._vectorise(expr).xreplace(names)

    # -- products as odot -------------------------------------------------------------------
    def _rank(self, factor: sp.Expr) -> int:
        if isinstance(factor, sp.Symbol):
            if factor.name.startswith(r"\bar"):
                return 0                      # the upstream signal first, as written by hand
            return 1 if factor.name in self.gates else 2
        if isinstance(factor, sp.Add) and len(factor.args) == 2 and 1 in factor.args:
            other = factor - 1
            if -other in [sp.Symbol(g) for g in self.gates]:
                return 1                      # (1 - z): a gate's complement reads like a gate
            return 3
        return 4                              # tanh(C_t), sums

    def _vectorise(self, expr: sp.Expr) -> sp.Expr:
        def as_odot(mul: sp.Mul) -> sp.Expr:
            coeff, factors = mul.as_coeff_mul()
            out = []
            for f in factors:
                if isinstance(f, sp.Add) and f.as_coeff_add()[0] < 0:
                    coeff, f = -coeff, -f    # (tanh^2 - 1) -> -(1 - tanh^2)
                out.append(f)
            if len(out) < 2:
                return mul
            out.sort(key=self._rank)         # stable: ties keep SymPy's order
            for comp in [f for f in out if isinstance(f, sp.Add)]:
                if 1 - comp in out:           # u (1 - u) stays in one piece
                    out.remove(comp)
                    out.insert(out.index(1 - comp) + 1, comp)
            return coeff * odot(*out)
        return expr.replace(lambda e: isinstance(e, sp.Mul), as_odot)


def _eq(lhs, rhs) -> sp.Eq:
    return sp.Eq(lhs, rhs, evaluate=False)


def _pytorch_blocks(cell: Cell, names: Names) -> dict[sp.Symbol, sp.Expr]:
    """Every block symbol as PyTorch's per-gate product: ``a_i -> W_{ii} x_t + W_{hi} h_{t-1} +
    b_{ii} + b_{hi}``.  The gate letter is the block name's suffix (``a_i``, ``e_n``)."""
    out = {}
    for node in cell.products:
        for block in node.blocks:
            g = block.rpartition("_")[2]
            terms, biases = [], list(node.biases)
            for m, v in sorted(node.terms, key=lambda mv: mv[1] != cell.input):
                terms.append(sp.Symbol(f"{_BLOCK[m].format(g=g)} {names.at(v).name}"))
                bias = m.replace("weight", "bias")      # PyTorch pairs bias_ih with weight_ih
                if bias in biases:
                    biases.remove(bias)
                    terms.append(sp.Symbol(_BLOCK[bias].format(g=g)))
            terms += [sp.Symbol(_BLOCK[b].format(g=g)) for b in biases]
            out[sp.Symbol(block)] = plus(*terms)
    return out


def _merge_sums(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """``plus(a, b) + c -> plus(a, b, c)``: a gate's pre-activation reads as one sum, the part
    that reads the input ``x`` first."""
    def merge(add):
        first = sorted((a for a in add.args if isinstance(a, plus)),
                       key=lambda p: not any(x.name in str(a) for a in p.args))
        return plus(*[t for p in first for t in p.args], *[a for a in add.args if a not in first])
    return expr.replace(lambda e: isinstance(e, sp.Add) and any(isinstance(a, plus)
                                                                  for a in e.args), merge)


def forward(cell: Cell, names: Names) -> list[Step]:
    """One step per elementwise equation, with the products written per gate."""
    blocks = _pytorch_blocks(cell, names)
    steps = []
    for node in cell.elementwise:
        expr = _merge_sums(node.expr.xreplace(blocks), names.at(cell.input))
        # r_t (W_hn h_{t-1} + b_hn) inside the candidate: its pre-activation takes two lines.
        expr = expr.replace(
            lambda e: isinstance(e, plus) and type(e) is plus and any(
                isinstance(a, sp.Mul) and any(isinstance(f, plus) for f in a.args)
                for a in e.args),
            lambda e: inner_lines(plus(*[a for a in e.args if not isinstance(a, sp.Mul)]),
                            *[a for a in e.args if isinstance(a, sp.Mul)]))
        if isinstance(expr, sp.Add):
            # A gate's complement first, (1 - z_t) n_t + z_t h_{t-1}, as PyTorch writes the
            # GRU; otherwise SymPy's order, which writes f_t C_{t-1} + i_t g_t as PyTorch does.
            terms = sorted(expr.args, key=lambda a: not any(
                names._rank(f) == 1 and isinstance(f, sp.Add) for f in sp.Mul.make_args(a)))
            expr = plus(*[names._vectorise(a) for a in terms])
        steps.append(Step(f"forward_{node.name}", "",
                          _eq(names.at(node.name), names.entries(expr))))
    return steps


def _signal_terms(cell: Cell, names: Names, vec: str, shift: int = 0) -> list[sp.Expr]:
    """:math:`\\bar{vec}` as the engine derives it: coefficient times the signal of every
    elementwise use, and the transposed product of every matrix use."""
    paths, prods = cell.adjoint(vec)
    terms = [names.entries(k * names.bar(sig, shift), shift) for sig, k in paths.items()]
    terms += [sp.Symbol(rf"\left({cell.tex(m)}\right)^{{T}} {names.bar(node.name, shift).name}")
              for node, m in prods]
    return terms


def cell_path(cell: Cell, names: Names, state: str) -> Step:
    """``sympy.diff`` of a state's own equation with respect to its previous value, as a matrix:
    the factor by which the state's own path multiplies an error at every step."""
    (node,) = [n for n in cell.elementwise if n.name == state]
    local = cell.local(node, f"{state}_prev")
    lhs = sp.Symbol(rf"\frac{{\partial {names.at(state).name}}}"
                    rf"{{\partial {names.at(state + '_prev').name}}}")
    return Step(f"path_{state}", "", _eq(lhs, sp.Function("diag")(names.entries(local))))


def backward(cell: Cell, names: Names, upstream: str) -> list[Step]:
    """The recursion in vector form: each state's total derivative (``upstream`` on the output
    state, its uses at step t, what the next step sends back) and every block's signal."""
    steps = []
    for state in cell.states:
        terms = _signal_terms(cell, names, state) + _signal_terms(cell, names, f"{state}_prev", 1)
        if state == cell.output:
            terms.insert(0, sp.Symbol(upstream))
        steps.append(Step(f"total_{state}", "", _eq(names.bar(state), lines(*terms)),
                          result=True))
    for node in cell.products:
        for block in node.blocks:
            (rhs,) = _signal_terms(cell, names, block)
            if isinstance(rhs, odot) and len(rhs.args) >= LONG_PRODUCT:
                rhs = odot_lines(*rhs.args)
            steps.append(Step(f"bar_{block}", "", _eq(names.bar(block), rhs), result=True))
    return steps


# ---------------------------------------------------------------------------------------------
# The two gated cells in the site's notation (docs/notation.md)
# ---------------------------------------------------------------------------------------------
UPSTREAM = r"V^{T} \delta^{o}_{t}"   # the output layer z_t = V h_t + c sends back V^T delta^o_t

_CAPTIONS = {
    "forward_i": "Input gate: how much of the candidate enters the cell.",
    "forward_f": "Forget gate: how much of the old cell state is kept.",
    "forward_g": "Candidate: the new content, squashed to $(-1, 1)$.",
    "forward_o": "Output gate: how much of the squashed cell state is shown.",
    "forward_c": "The cell state: kept old content plus admitted new content.",
    "forward_h": "The hidden state, which the output layer and the next step read.",
    "forward_r": "Reset gate: how much of the hidden projection the candidate sees.",
    "forward_z": "Update gate: the share of the previous state that is kept.",
    "forward_n": "Candidate; the reset gate scales the hidden projection, bias included.",
    "bar_a_i": "Input gate: it reaches $E$ only through $C_t$, scaling the candidate.",
    "bar_a_f": "Forget gate: it scales the previous cell state.",
    "bar_a_g": "Candidate: through $\\tanh' = 1 - \\tanh^2$, read off the stored $g_t$.",
    "bar_a_o": "Output gate: the one gate that reaches $E$ through $h_t$ rather than $C_t$.",
    "bar_x_r": "Reset gate: through the candidate, where it scales $\\eta^{n}_t$. "
               "The hidden block $\\bar\\eta^{r}_t$ is the same.",
    "bar_x_z": "Update gate: it moves $h_t$ from $n_t$ towards $h_{t-1}$. "
               "The hidden block $\\bar\\eta^{z}_t$ is the same.",
    "bar_x_n": "Candidate, input block: it enters with coefficient one.",
    "bar_e_n": "Candidate, hidden block: the reset gate scales it, so its signal carries $r_t$.",
    "path_c": "$C_t$ reads $C_{t-1}$ only through the forget gate: one step of the cell path is "
              "a diagonal matrix.",
}


_TOTALS = {
    "lstm": {"total_h": "$h_t$ reaches $E$ through its logits and through all four gates of the "
                        "next step; $C_t$ is held fixed, its path is counted in $\\bar C_t$.",
             "total_c": "$C_t$ reaches $E$ through $h_t$ at this step, and through the next "
                        "cell state, times the next forget gate and nothing else."},
    "gru": {"total_h": "$h_t$ reaches $E$ through its logits, directly through $h_{t+1}$ "
                       "(times $z_{t+1}$), and through the hidden projections of the next step."},
}


def _captioned(cell: str, steps: list[Step]) -> tuple[Step, ...]:
    captions = {**_CAPTIONS, **_TOTALS[cell]}
    return tuple(Step(s.name, captions.get(s.name, s.caption), s.expr, s.result) for s in steps)


def lstm() -> list[Derivation]:
    """``lstm.vector`` and ``lstm.vector_gates``: :func:`rnnmath.derive.cells.lstm` in vector
    form."""
    cell = cells.lstm()
    names = Names(cell)
    back = backward(cell, names, UPSTREAM)
    totals = [s for s in back if s.name.startswith("total")]
    gates = [s for s in back if s.name.startswith("bar")]
    return [Derivation("lstm.vector", "LSTM in vector form", _captioned(
                "lstm", forward(cell, names) + [cell_path(cell, names, "c")] + totals)),
            Derivation("lstm.vector_gates", "LSTM gate errors in vector form",
                       _captioned("lstm", gates))]


def gru() -> list[Derivation]:
    """``gru.vector`` and ``gru.vector_signals``: :func:`rnnmath.derive.cells.gru` in vector
    form."""
    cell = cells.gru()
    names = Names(cell)
    back = backward(cell, names, UPSTREAM)
    totals = [s for s in back if s.name.startswith("total")]
    # The reset and update blocks of the two projections get the same signal: shown once.
    signals = [s for s in back if s.name in ("bar_x_r", "bar_x_z", "bar_x_n", "bar_e_n")]
    return [Derivation("gru.vector", "GRU in vector form",
                       _captioned("gru", forward(cell, names) + totals)),
            Derivation("gru.vector_signals", "GRU projection errors in vector form",
                       _captioned("gru", signals))]


def derivations() -> list[Derivation]:
    """Every vector-form derivation, in reading order."""
    return [*lstm(), *gru()]
