r"""A recurrent cell as data, and backpropagation through time derived from it for any cell.

A cell is a list of equations evaluated in order at every step :math:`t`.  Two kinds:

* a **product** node, written with ``MatrixSymbol``\ s: a sum of parameter matrices times vectors
  (the input ``x``, a previous state ``h_prev`` or an earlier node) plus bias vectors, e.g.
  ``A = W_ih*x + b_ih + W_hh*h_prev + b_hh``.  Its rows may be split into equal named blocks
  (PyTorch stacks the gates of ``weight_ih`` this way);
* an **elementwise** node, written for one entry with plain SymPy symbols and functions,
  e.g. ``c = f*c_prev + i*g`` or ``s = tanh(a)``.  A symbol that names no vector of the cell is an
  elementwise parameter (a vector with one entry per unit, like IndRNN's recurrent weights).

The states are nodes named like the states; ``<state>_prev`` is the state of the previous step.

The engine then derives, with ``sympy.diff`` of the elementwise equations and the transpose rule of
the products, the generic BPTT: the total derivative :math:`\bar v_t = \partial E/\partial v_t` of
every node, the recursion that carries each state's derivative from step :math:`t+1` to :math:`t`
(the upstream gradient :math:`u_t` on the output state is added at every step and ``dfinal`` at
:math:`T`), and the gradients of every parameter, of the dense input and of the initial states.
Elementwise nodes with one consumer are folded into their consumer's local factor, so only the
signals that a product or a parameter needs are computed at every step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp
from sympy.printing.latex import translate

from .latex import lines
from .steps import Derivation, Step

H, D = sp.symbols("H D", integer=True, positive=True)

# A sum of the recursion with this many terms or more is printed one term per line, in the order
# a plain sum prints (latex.lines): each line is one way the quantity reaches the loss, and the
# formula fits a phone's column.
LONG_SUM = 3


class sigmoid(sp.Function):
    r"""The logistic function :math:`\sigma(a) = 1/(1 + e^{-a})`, with :math:`\sigma' = \sigma(1-\sigma)`."""

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _latex(self, printer, exp=None):
        out = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return out if exp is None else f"{out}^{{{exp}}}"


class relu(sp.Function):
    r""":math:`\max(0, a)`.  Its derivative :math:`[a > 0]` equals :math:`[\operatorname{relu}(a) > 0]`
    (0 at the kink, PyTorch's choice), so it can be read off the stored output."""

    def fdiff(self, argindex=1):
        return sp.Heaviside(self, 0)

    def _latex(self, printer, exp=None):
        out = r"\operatorname{relu}\left(%s\right)" % printer._print(self.args[0])
        return out if exp is None else f"{out}^{{{exp}}}"


def vector(name: str, size=H) -> sp.MatrixSymbol:
    """A column vector of the cell, for product equations."""
    return sp.MatrixSymbol(name, size, 1)


@dataclass(frozen=True)
class Product:
    """A product node ``name = sum(matrix * vector) + sum(biases)``, rows split into ``blocks``."""

    name: str
    rows: sp.Expr
    terms: tuple[tuple[str, str], ...]   # (matrix parameter, vector)
    biases: tuple[str, ...]
    blocks: tuple[str, ...]              # one name per H rows; (name,) when rows == H


@dataclass(frozen=True)
class Elementwise:
    """An elementwise node ``name = expr`` (``expr`` in entry symbols)."""

    name: str
    expr: sp.Expr


@dataclass(frozen=True)
class Cell:
    """A recurrent cell: equations in order, the states they update and the state outputs read.

    Parameters
    ----------
    name : str
        Identifier (``"lstm"``); the derivation key is ``"cell.<name>"``.
    equations : tuple of (str, sympy expression)
        In evaluation order; see the module docstring for the two kinds.
    states : tuple of str
        State names; each is also the name of the equation computing it.
    output : str
        The state an output layer reads at every step (``"h"``).
    blocks : dict of str to tuple of str
        Row blocks of product nodes, in stacking order.
    symbols : dict of str to str
        Names the derivation writes instead of the code's, where the two differ.  The GRU's code
        names its projections' blocks ``x_r, ..., e_n``; the derivation writes ``xi_r, ...,
        eta_n``, which :func:`_tex` prints as :math:`\\xi^{r}, \\eta^{n}`, since :math:`x` is the
        input on every page.
    matrices : dict of str to (rows, cols)
        Filled from the ``MatrixSymbol`` shapes; listed here for validation and docs.
    """

    name: str
    equations: tuple
    states: tuple[str, ...]
    output: str
    blocks: dict = field(default_factory=dict)
    input: str = "x"
    title: str = ""
    symbols: dict = field(default_factory=dict)

    # -- structure ------------------------------------------------------------------------
    @cached_property
    def nodes(self) -> tuple:
        out, sizes = [], {}
        vectors = {self.input} | {f"{s}_prev" for s in self.states}
        for name, expr in self.equations:
            if isinstance(expr, sp.MatrixExpr):
                node = self._product(name, expr, vectors | {n.name for n in out})
            else:
                node = Elementwise(name, sp.sympify(expr))
            out.append(node)
        missing = [s for s in self.states if s not in {n.name for n in out}]
        if missing:
            raise ValueError(f"states: expected an equation for every state, got none for {missing}")
        if self.output not in self.states:
            raise ValueError(f"output: expected one of the states {list(self.states)}, "
                             f"got {self.output!r}")
        return tuple(out)

    def _product(self, name, expr, vectors) -> Product:
        terms, biases, rows = [], [], None
        for term in sp.Add.make_args(expr) if isinstance(expr, sp.MatAdd) else (expr,):
            if isinstance(term, sp.MatMul) and len(term.args) == 2:
                matrix, vec = term.args
                if vec.name not in vectors:
                    raise ValueError(f"{name}: {vec.name} is not the input, a previous state or "
                                     f"an earlier node ({sorted(vectors)})")
                terms.append((matrix.name, vec.name))
                rows = matrix.shape[0]
            elif isinstance(term, sp.MatrixSymbol) and term.shape[1] == 1:
                biases.append(term.name)
                rows = term.shape[0]
            else:
                raise ValueError(f"{name}: expected matrix * vector or a bias vector, got {term}")
        blocks = tuple(self.blocks.get(name, (name,)))
        if sp.simplify(rows - len(blocks) * H) != 0:
            raise ValueError(f"{name}: {rows} rows do not split into blocks {blocks} of H rows")
        return Product(name, rows, tuple(terms), tuple(biases), blocks)

    @cached_property
    def shapes(self) -> dict:
        """Every parameter and its shape, in order of first use: ``{"W": (H, H), "u": (H,)}``."""
        out = {}
        for n in self.products:  # matrices (those of the input first), then biases
            for m, v in sorted(n.terms, key=lambda mv: (mv[1] != self.input, mv[0])):
                out.setdefault(m, self._matrix_shape(n.name, m))
            for b in sorted(n.biases):
                out.setdefault(b, (n.rows,))
        for n in self.elementwise:
            for s in sorted(n.expr.free_symbols, key=str):
                if s.name not in self.vector_names and s.name not in out:
                    out[s.name] = (H,)
        return out

    def _matrix_shape(self, node: str, name: str):
        expr = dict(self.equations)[node]
        (m,) = [a for a in expr.atoms(sp.MatrixSymbol) if a.name == name]
        return m.shape

    @cached_property
    def vector_names(self) -> set:
        names = {self.input} | {f"{s}_prev" for s in self.states}
        for n in self.nodes:
            names |= {n.name} | (set(n.blocks) if isinstance(n, Product) else set())
        return names

    @property
    def elementwise(self):
        return [n for n in self.nodes if isinstance(n, Elementwise)]

    @property
    def products(self):
        return [n for n in self.nodes if isinstance(n, Product)]

    @cached_property
    def elementwise_params(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.shapes.items() if len(v) == 1 and any(
            sp.Symbol(k) in n.expr.free_symbols for n in self.elementwise))

    def block_of(self, name: str):
        """(product node, index) of a block name, or None."""
        for n in self.products:
            if name in n.blocks:
                return n, n.blocks.index(name)
        return None

    # -- local derivatives --------------------------------------------------------------
    @cached_property
    def _in_stored(self) -> dict:
        """``tanh(a) -> s`` for every elementwise node: derivatives read stored values."""
        return {n.expr: sp.Symbol(n.name) for n in self.elementwise if n.expr.is_Function}

    def local(self, node: Elementwise, arg: str) -> sp.Expr:
        """:math:`\\partial\\,node / \\partial\\,arg` for one entry (``sympy.diff``), in stored values."""
        return sp.factor_terms(sp.diff(node.expr, sp.Symbol(arg)).xreplace(self._in_stored))

    def consumers(self, vec: str):
        """Elementwise nodes reading ``vec`` and (product node, matrix) pairs multiplying it."""
        elem = [n for n in self.elementwise if sp.Symbol(vec) in n.expr.free_symbols]
        prod = [(n, m) for n in self.products for m, v in n.terms if v == vec]
        return elem, prod

    @cached_property
    def signals(self) -> tuple[str, ...]:
        """Nodes whose derivative is computed at every step, in evaluation order.

        States, product blocks, and elementwise nodes that a product multiplies, that read an
        elementwise parameter or that have several consumers.  Every other node is folded into
        the local factor of its only consumer.
        """
        out = []
        for n in self.nodes:
            if isinstance(n, Product):
                out += list(n.blocks)
                continue
            elem, prod = self.consumers(n.name)
            reads_param = any(sp.Symbol(p) in n.expr.free_symbols for p in self.elementwise_params)
            if n.name in self.states or prod or reads_param or len(elem) != 1:
                out.append(n.name)
        return tuple(out)

    def paths(self, vec: str) -> dict:
        """``{signal: coefficient}``: :math:`\\bar{vec} \\mathrel{+}= \\sum coefficient \\odot \\bar{signal}`
        over the elementwise consumers, folding the nodes that are not signals."""
        out: dict = {}
        for n in self.consumers(vec)[0]:
            loc = self.local(n, vec)
            if n.name in self.signals:
                out[n.name] = out.get(n.name, 0) + loc
            else:
                for sig, k in self.paths(n.name).items():
                    out[sig] = out.get(sig, 0) + loc * k
        return {k: sp.factor_terms(v) for k, v in out.items() if v != 0}

    def adjoint(self, vec: str):
        """(elementwise paths, products) giving :math:`\\bar{vec}`; see :meth:`paths`."""
        return self.paths(vec), self.consumers(vec)[1]

    @cached_property
    def stored(self) -> tuple[str, ...]:
        """Vectors the backward pass reads: in local factors, or multiplied by a parameter."""
        need = set()
        for vec in self.signals + tuple(f"{s}_prev" for s in self.states) + self.elementwise_params:
            for k in self.paths(vec).values():
                need |= {s.name for s in k.free_symbols}
        for n in self.products:
            need |= {v for _, v in n.terms}
        return tuple(v for v in self._order if v in need and v not in self.shapes)

    @cached_property
    def _order(self):
        out = [self.input] + [f"{s}_prev" for s in self.states]
        for n in self.nodes:
            out += [n.name] + (list(n.blocks) if isinstance(n, Product) and n.blocks != (n.name,)
                               else [])
        return out

    # -- the derivation ------------------------------------------------------------------
    def tex(self, name: str) -> str:
        """A name of the cell as the site writes it: its :attr:`symbols` entry, in LaTeX."""
        return _tex(self.symbols.get(name, name))

    def latex_name(self, vec: str, shift: int = 0) -> str:
        base = vec[:-5] if vec.endswith("_prev") else vec
        t = {0: "t", -1: "t-1", 1: "t+1"}[shift - (1 if vec.endswith("_prev") else 0)]
        return f"{self.tex(base)}_{{{t}}}"

    def derivation(self) -> Derivation:
        """Forward equations, local derivatives, the BPTT recursion and every gradient, as steps."""
        return derive(self)


# The site's symbols for names the cells use (one meaning per symbol across the site): PyTorch's
# weights as W^{ih}, ..., and the LSTM's cell state as C, since c is the output layer's bias.
_SITE_NAMES = {"weight_ih": "W^{ih}", "weight_hh": "W^{hh}", "bias_ih": "b^{ih}",
               "bias_hh": "b^{hh}", "c": "C"}


def _tex(name: str) -> str:
    """A cell's name in the site's notation: the table above, Greek names as letters (SymPy's
    ``translate``: ``xi -> \\xi``), ``a_i -> a^{i}``; others as written."""
    if name in _SITE_NAMES:
        return _SITE_NAMES[name]
    if "_" in name:
        head, tail = name.split("_", 1)
        return (f"{translate(head)}^{{{tail}}}" if len(head) == 1 or translate(head) != head
                else rf"\mathrm{{{name}}}".replace("_", r"\_"))
    return translate(name)


def _eq(lhs, rhs):
    return sp.Eq(lhs, rhs, evaluate=False)


def _sym(text):
    return sp.Symbol(text)


def _at(cell: Cell, expr: sp.Expr, shift: int = 0) -> sp.Expr:
    """Entry symbols as time-indexed LaTeX symbols (``h_prev -> h_{t-1}``), elementwise
    parameters as the gradient steps write them (``p_o -> p^{o}``, ``u -> u``)."""
    mapping = {sp.Symbol(v): _sym(cell.latex_name(v, shift)) for v in cell.vector_names}
    mapping |= {sp.Symbol(p): _sym(cell.tex(p)) for p in cell.elementwise_params}
    # The step [s > 0] shown as the site shows it (activation.relu): a bracket, not theta.
    shown = expr.replace(lambda e: isinstance(e, sp.Heaviside),
                         lambda e: sp.Heaviside(e.args[0], 0).rewrite(sp.Piecewise))
    return shown.xreplace(mapping)


def _bar(cell: Cell, vec: str, shift: int = 0) -> sp.Symbol:
    base = vec[:-5] if vec.endswith("_prev") else vec
    t = {0: "t", -1: "t-1", 1: "t+1"}[shift - (1 if vec.endswith("_prev") else 0)]
    return _sym(f"{_bar_tex(cell, base)}_{{{t}}}")


def _bar_tex(cell: Cell, name: str) -> str:
    """``\\bar{a}^{f}`` for ``a_f``: the bar on the letter, the superscript outside."""
    head, _, sup = cell.tex(name).partition("^")
    return rf"\bar{{{head}}}" + (f"^{sup}" if sup else "")


def _transposed(cell: Cell, name: str) -> str:
    """``W^{T}``, or ``(W^{hh})^{T}`` for a name with a superscript of its own."""
    tex = cell.tex(name)
    return rf"\left({tex}\right)^{{T}}" if "^" in tex else f"{tex}^{{T}}"


def _carry(cell: Cell, state: str, t: str = "t"):
    """What step t+1 sends back to state s_t (the recursion's carried term)."""
    return _sym(rf"\overleftarrow{{{cell.tex(state)}}}_{{{t}}}")


def _grad(name):
    return _sym(r"\frac{\partial E}{\partial " + name + "}")


def _product_term(cell, node: Product, matrix: str, shift: int = 0):
    return _sym(rf"{_transposed(cell, matrix)}\,{_bar_tex(cell, node.name)}_{{{'t+1' if shift else 't'}}}")


def derive(cell: Cell) -> Derivation:
    steps = []
    # Forward
    for n in cell.nodes:
        if isinstance(n, Product):
            rhs = sp.Add(*[_sym(f"{cell.tex(m)} {cell.latex_name(v)}") for m, v in n.terms],
                         *[_sym(cell.tex(b)) for b in n.biases], evaluate=False)
            steps.append(Step(f"forward_{n.name}", "A product node: parameters times vectors, plus "
                              "biases." + (" Its rows are the blocks "
                                            f"${', '.join(cell.latex_name(b) for b in n.blocks)}$, "
                                            "$H$ rows each." if len(n.blocks) > 1 else ""),
                              _eq(_sym(cell.latex_name(n.name)), rhs)))
        else:
            steps.append(Step(f"forward_{n.name}", "Entrywise.",
                              _eq(_sym(cell.latex_name(n.name)), _at(cell, n.expr))))
    # Local derivatives (sympy.diff of each elementwise equation)
    for n in cell.elementwise:
        for arg in sorted((s.name for s in n.expr.free_symbols), key=cell._order_key):
            loc = cell.local(n, arg)
            steps.append(Step(f"local_{n.name}_{arg}", "Local derivative, entry by entry "
                              "(`sympy.diff`), written with the stored values.",
                              _eq(_sym(rf"\frac{{\partial {cell.latex_name(n.name)}}}"
                                       rf"{{\partial {_at(cell, sp.Symbol(arg)).name}}}"),
                                  _at(cell, loc))))
    # The recursion, in reverse evaluation order
    for vec in reversed(cell.signals):
        rhs = _adjoint_rhs(cell, vec)
        if vec in cell.states:
            rhs = _carry(cell, vec) + rhs
            rhs = _sym(f"u^{{{cell.tex(vec)}}}_{{t}}") + rhs if vec == cell.output else rhs
            cap = (f"Total derivative of the state: what the next step sends back "
                   f"(${sp.latex(_carry(cell, vec))}$, zero at $T$ except for `dfinal`)"
                   + (", the upstream gradient $u_t$ of the output layer" if vec == cell.output
                      else "") + " and its uses later in this step.")
        else:
            cap = "Total derivative: every use of this node at step $t$."
        steps.append(Step(f"bar_{vec}", cap, _eq(_bar(cell, vec), _on_lines(rhs)), result=True))
    for s in cell.states:
        rhs = _adjoint_rhs(cell, f"{s}_prev")
        steps.append(Step(f"carry_{s}", f"What step $t$ sends back to ${cell.latex_name(s, -1)}$: "
                          "the recursion's term from the next step.",
                          _eq(_carry(cell, s, "t-1"), _on_lines(rhs)), result=True))
    # Gradients
    for name, shape in cell.shapes.items():
        terms = []
        for n in cell.products:
            terms += [_sym(rf"{_bar_tex(cell, n.name)}_{{t}}\,{cell.latex_name(v)}^{{T}}")
                      for m, v in n.terms if m == name]
            terms += [_sym(rf"{_bar_tex(cell, n.name)}_{{t}}") for b in n.biases if b == name]
        if name in cell.elementwise_params:
            terms += [_at(cell, k) * _bar(cell, sig) for sig, k in cell.paths(name).items()]
        t = sp.Symbol("t", integer=True, positive=True)
        steps.append(Step(f"d{name}", "Summed over the steps (and batch items).",
                          _eq(_grad(cell.tex(name)), sp.Sum(sp.Add(*terms), (t, 1, sp.Symbol("T")))),
                          result=True))
    xs = [_product_term(cell, n, m) for n in cell.products for m, v in n.terms if v == cell.input]
    steps.append(Step("dx", "Dense inputs: the transposed input products.",
                      _eq(_grad(cell.latex_name(cell.input)), sp.Add(*xs)), result=True))
    for s in cell.states:
        steps.append(Step(f"d{s}0", "The initial state gets what step 1 sends back.",
                          _eq(_grad(f"{cell.tex(s)}_{{0}}"), _carry(cell, s, "0")), result=True))
    return Derivation(f"cell.{cell.name}", cell.title or f"{cell.name}: BPTT derived from the cell",
                      tuple(steps))


def _adjoint_rhs(cell: Cell, vec: str):
    paths, prods = cell.adjoint(vec)
    terms = [_at(cell, k) * _bar(cell, sig) for sig, k in paths.items()]
    terms += [_product_term(cell, n, m) for n, m in prods]
    return sp.Add(*terms)


def _on_lines(total: sp.Expr) -> sp.Expr:
    """``total`` one term per line if it has :data:`LONG_SUM` terms or more (see there)."""
    if isinstance(total, sp.Add) and len(total.args) >= LONG_SUM:
        return lines(*total.as_ordered_terms())
    return total


def _order_key(self, name):
    return self._order.index(name) if name in self._order else len(self._order)


Cell._order_key = _order_key
