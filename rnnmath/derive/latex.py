r"""The site's LaTeX printer: SymPy's :class:`~sympy.printing.latex.LatexPrinter` with the
conventions of the pages.

SymPy prints products in its canonical (alphabetical) order, writes a Kronecker delta as
:math:`\delta_{ij}` and staggers scripts (``{\delta^{o}}_{t,p}``). A reader of a derivation wants
the order in which backpropagation is written by hand, and a :math:`\delta` that only ever means
an error signal. The rules, each one ``_print_<Class>`` method:

* **Factor order** (``_print_Mul``): the numeric coefficient; entries that do not depend on the
  step (weights: :math:`V_{k,q}\,\delta^{o}_{t,k}` reads as :math:`V^{T}\delta^{o}_t`); error
  signals (a base written :math:`\delta`, :math:`\bar{\ }` or :math:`\tilde{\ }`: the upstream
  gradient comes first, as backpropagation is written by hand); indicator brackets; other
  per-step entries; coefficients such as :math:`(1 - y)`; function values; parenthesised sums.
  A factor :math:`(1 - u)` stands right after :math:`u`, so the sigmoid derivative
  :math:`u(1-u)` stays in one piece. Ties keep SymPy's order, so printing is deterministic.
  An entry is per-step when one of its indices holds the time symbol (setting ``time_index``,
  default ``t``) or a step number.
* **Sum terms** (``_print_Add``): terms holding a :math:`\sum` come first, so a bias is written
  after the product it is added to (:math:`\sum_l V_{k,l} s_{t,l} + c_k`).
* **Elementwise products** (``_print_HadamardProduct``): :math:`\odot`.
* **Kronecker deltas** (``_print_KroneckerDelta``): the Iverson bracket :math:`[i = j]`, which is
  1 when the condition holds and 0 otherwise; :math:`\delta` stays free for error signals.
* **Subscripts** (``_print_Indexed``, ``_print_Symbol``): time first, then the component,
  separated by a comma and with scripts stacked: :math:`\delta^{o}_{t,p}`, :math:`s_{t-1,q}`.
  Symbol names that spell a subscript with a space (``s_{t q}``) are printed the same way.
* **Derivatives** (``_print_Derivative``): :math:`\partial E/\partial z_j` as a fraction with
  :math:`\partial`, the site's single notation for derivatives.
* **Derivative functions** (``_print_Function``): an undefined function named ``\phi'`` prints as
  :math:`\phi'(a)`, not as an operator name.
* **Long equations** (``_print_Equality``): a sum on the right-hand side that would be wider than
  the page's column breaks after whole terms, in an ``aligned`` block.
* **Negated sums** (``_print_Sum``): :math:`-\sum_k y_k \log \hat y_k`, the sign in front of the
  sum rather than inside it.

Every rule only changes how an expression is written, never the expression: the tests print
representative expressions and compare with exact strings.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

__all__ = ["RnnLatexPrinter", "latex", "lines", "plus"]

# An equation whose right-hand side prints longer than this (LaTeX characters) is broken into
# lines of at most EQUATION_LINE characters: about the width of the content column at 1280 px.
LONG_EQUATION = 260
EQUATION_LINE = 150

# A subscript whose entries are separated by spaces or ", ": ``_{t q}``, ``_{t-1, r}``.
_SPACED_SUBSCRIPT = re.compile(r"_\{([^{}]*)\}")
_INDEX_TOKEN = re.compile(r"^[A-Za-z0-9\\]+(?:[-+][A-Za-z0-9]+)?$")
# Bases that name an error signal (the upstream gradient a product starts with).
_SIGNAL_BASE = re.compile(r"^\{?\\(?:delta|bar|tilde)\b")


def _comma_subscripts(name: str) -> str:
    """``s_{t q}`` -> ``s_{t,q}``; subscripts that hold an operator (``_{t + 1}``) stay."""
    def fix(m: re.Match[str]) -> str:
        parts = [p for p in re.split(r",\s*|\s+", m.group(1).strip()) if p]
        if len(parts) > 1 and all(_INDEX_TOKEN.match(p) for p in parts):
            return "_{" + ",".join(parts) + "}"
        return m.group(0)
    return _SPACED_SUBSCRIPT.sub(fix, name)


def _compact(index_tex: str) -> str:
    """``t + 1`` -> ``t+1`` inside a subscript, so a subscript reads as one token."""
    return index_tex.replace(" ", "")


class RnnLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with the factor order, symbols and scripts of the rnnmath pages."""

    printmethod = "_latex"
    _default_settings = {**LatexPrinter._default_settings, "time_index": "t"}

    def __init__(self, settings=None):
        super().__init__(settings)
        self._time = self._settings["time_index"]

    # -- scripts --------------------------------------------------------------------------------
    def _print_Symbol(self, expr, style="plain"):
        name = expr.name
        # Names holding LaTeX (labels such as \frac{\partial E}{\partial s_{t q}}) are printed
        # verbatim by SymPy; we only normalise their subscripts.
        if "\\" in name or "{" in name:
            return _comma_subscripts(name)
        return super()._print_Symbol(sp.Symbol(name), style=style)

    def _print_MatrixSymbol(self, expr):
        return self._print_Symbol(sp.Symbol(expr.name))

    def _print_Indexed(self, expr):
        base = self._print(expr.base)
        indices = ",".join(_compact(self._print(i)) for i in expr.indices)
        # \delta^{o}_{t,p}: the subscript stacks under the superscript instead of trailing it.
        return f"{base}_{{{indices}}}"

    def _print_IndexedBase(self, expr):
        return self._print(expr.label)

    # -- symbols that must not collide with the pages' own -------------------------------------
    def _print_KroneckerDelta(self, expr, exp=None):
        i, j = (self._print(a) for a in expr.args)
        tex = f"[{i} = {j}]"
        return tex if exp is None else f"{tex}^{{{exp}}}"

    def _print_HadamardProduct(self, expr):
        parts = []
        for arg in expr.args:
            tex = self._print(arg)
            if isinstance(arg, (sp.MatAdd, sp.Add, sp.HadamardProduct, sp.MatMul)):
                tex = rf"\left({tex}\right)"
            parts.append(tex)
        return r" \odot ".join(parts)

    def _print_Derivative(self, expr):
        if len(expr.variable_count) == 1 and expr.variable_count[0][1] == 1:
            var = expr.variable_count[0][0]
            return (rf"\frac{{\partial {self._print(expr.expr)}}}"
                    rf"{{\partial {self._print(var)}}}")
        return super()._print_Derivative(expr)

    def _print_Function(self, expr, exp=None):
        name = type(expr).__name__
        if isinstance(type(expr), sp.core.function.UndefinedFunction) and name.endswith("'"):
            args = ", ".join(self._print(a) for a in expr.args)
            tex = rf"{name}\left({args}\right)"
            return tex if exp is None else rf"{tex}^{{{exp}}}"
        return super()._print_Function(expr, exp=exp)

    # -- order ---------------------------------------------------------------------------------
    def _per_step(self, indexed) -> bool:
        """An entry of a per-step quantity: an index holds the time symbol or a step number."""
        return any(i.is_Number or self._time in {s.name for s in i.free_symbols}
                   for i in indexed.indices)

    def _factor_rank(self, factor) -> int:
        base = factor.base if isinstance(factor, sp.Pow) else factor
        if base.is_Number:
            return 0
        if isinstance(base, sp.Indexed):
            if not self._per_step(base):
                return 1  # a weight entry: V_{k,q} delta^o_{t,k} reads as V^T delta^o
            return 2 if _SIGNAL_BASE.match(self._print(base.base)) else 4
        if isinstance(base, (sp.Symbol, sp.MatrixSymbol)):
            return 2 if _SIGNAL_BASE.match(base.name) else 4
        if isinstance(base, sp.KroneckerDelta):
            return 3
        if isinstance(base, sp.Add) and not base.has(sp.Sum):
            return 5  # a coefficient such as (1 - y): before the function it weighs
        if isinstance(base, sp.Function):
            return 6
        return 7  # sums, parenthesised sums, anything else

    def _ordered_factors(self, factors):
        ordered = sorted(factors, key=self._factor_rank)  # stable: ties keep SymPy's order
        # (1 - u) right after u: the sigmoid derivative u (1 - u) reads as one factor.
        for comp in [f for f in ordered if isinstance(f, sp.Add)]:
            partner = 1 - comp
            if partner in ordered and partner != comp:
                ordered.remove(comp)
                ordered.insert(ordered.index(partner) + 1, comp)
        return ordered

    def _print_factors(self, factors) -> str:
        factors = self._ordered_factors(list(factors))
        if len(factors) == 1:  # a lone numerator or denominator needs no brackets
            return self._print(factors[0])
        out = []
        for n, term in enumerate(factors):
            tex = self._print(term)
            if self._needs_mul_brackets(term, first=(n == 0), last=(n == len(factors) - 1)):
                tex = rf"\left({tex}\right)"
            out.append(tex)
        return " ".join(out)

    def _print_Mul(self, expr):
        if expr.could_extract_minus_sign():
            positive = -expr
            tex = self._print(positive)
            if positive.is_Add:
                tex = rf"\left({tex}\right)"
            return "- " + tex
        numer, denom = sp.fraction(expr, exact=True)
        if denom is sp.S.One:
            return self._print_factors(sp.Mul.make_args(expr))
        return (rf"\frac{{{self._print_factors(sp.Mul.make_args(numer))}}}"
                rf"{{{self._print_factors(sp.Mul.make_args(denom))}}}")

    def _add_terms(self, expr, order=None) -> list[str]:
        """The printed terms of a sum, in the site's order, each with its sign in front."""
        terms = self._as_ordered_terms(expr, order=order)
        with_sum = [t for t in terms if t.has(sp.Sum)]
        terms = with_sum + [t for t in terms if not t.has(sp.Sum)]
        out = []
        for term in terms:
            tex = self._print(term)
            out.append(f"- {tex[1:].lstrip()}" if tex.startswith("-") else f"+ {tex}")
        return out

    def _print_Add(self, expr, order=None):
        terms = self._add_terms(expr, order)
        first = terms[0][2:] if terms[0].startswith("+ ") else terms[0]
        return " ".join([first, *terms[1:]])

    def _print_Equality(self, expr):
        """An equation; a long sum on the right breaks after whole terms, aligned on ``=``, so
        that it fits the page's column instead of scrolling."""
        lhs, rhs = self._print(expr.lhs), expr.rhs
        if not isinstance(rhs, sp.Add) or len(self._print(rhs)) <= LONG_EQUATION:
            return f"{lhs} = {self._print(rhs)}"
        lines, current = [], []
        for term in self._add_terms(rhs):
            if current and len(" ".join(current + [term])) > EQUATION_LINE:
                lines.append(" ".join(current))
                current = []
            current.append(term)
        lines.append(" ".join(current))
        if lines[0].startswith("+ "):
            lines[0] = lines[0][2:]
        body = " \\\\\n&\\quad ".join(lines)
        return f"\\begin{{aligned}}\n{lhs} ={{}}& {body}\n\\end{{aligned}}"

    def _print_Sum(self, expr):
        if expr.function.could_extract_minus_sign():
            return "- " + self._print(sp.Sum(-expr.function, *expr.limits))
        return super()._print_Sum(expr)


# ---------------------------------------------------------------------------------------------
# Display-only sums: SymPy functions that print a sum in a given order or layout, for the
# derivations to use where a plain ``Add`` would print in SymPy's order, on one line.
# ---------------------------------------------------------------------------------------------
class plus(sp.Function):
    """A sum printed in the order of its args (SymPy sorts an ``Add``): the vector pages write a
    gate with the input's term first, as PyTorch's documentation does, and a state's uses at
    step t before what the next step sends back."""

    def _latex(self, printer, exp=None):
        out = " + ".join(printer._print(a) for a in self.args).replace("+ -", "- ")
        return out if exp is None else rf"\left({out}\right)^{{{exp}}}"


class lines(plus):
    r"""A sum printed one term per line, so that it fits a phone's column: a total derivative
    (each line one way the quantity reaches the loss), or a long pre-activation.

    >>> a, b, c = sp.symbols("a b c")
    >>> print(latex(sp.Eq(sp.Symbol("y"), lines(c, a, -b), evaluate=False)))
    y = \begin{aligned}[t] &c \\
    &+ a \\
    &- b\end{aligned}
    """

    align = "[t]"  # the first line on the baseline of the equation's left-hand side

    def _latex(self, printer, exp=None):
        body = " \\\\\n&+ ".join(printer._print(a) for a in self.args).replace("+ -", "- ")
        return rf"\begin{{aligned}}{self.align} &{body}\end{{aligned}}"


def latex(expr, **settings) -> str:
    r"""``expr`` as LaTeX with the site's conventions (see the module docstring).

    >>> i, j = sp.symbols("i j", integer=True)
    >>> y = sp.IndexedBase(r"\hat{y}")
    >>> latex(y[i] * (sp.KroneckerDelta(i, j) - y[j]))
    '\\hat{y}_{i} \\left([i = j] - \\hat{y}_{j}\\right)'
    """
    return RnnLatexPrinter(settings).doprint(expr)
