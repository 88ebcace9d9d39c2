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
* **Relations that fit a phone** (:func:`fit`, :class:`fit_eq`, :class:`fit_le`): an equation
  or inequality whose estimated width (:func:`display_width`) exceeds :data:`PHONE_LINE` is
  broken, as little as needed: a tuple equation into one equation per entry, a chain
  :math:`a = b = c` or a defining label (:math:`\bar h_t = \partial E/\partial h_t`) one
  relation per line, then a sum one term per line (:class:`lines`), a product after a factor, a
  quotient's numerator after whole terms.
* **Negated sums** (``_print_Sum``): :math:`-\sum_k y_k \log \hat y_k`, the sign in front of the
  sum rather than inside it.

Every rule only changes how an expression is written, never the expression: the tests print
representative expressions and compare with exact strings.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

__all__ = ["RnnLatexPrinter", "display_width", "fit", "fit_eq", "fit_le", "latex", "lines", "plus",
           "times"]

# An equation whose right-hand side prints longer than this (LaTeX characters) is broken into
# lines of at most EQUATION_LINE characters: about the width of the content column at 1280 px.
LONG_EQUATION = 260
EQUATION_LINE = 150

# A line of a display formula estimated wider than this (in em, see display_width) is too wide
# for a phone: the content column of a 390 px screen is 322 px, 16.8 em of MathJax's 19 px font;
# the estimate is within 10 % of MathJax's width for the site's formulas, and under by at most
# 8 % (tests/test_latex.py), hence the margin; the browser test measures the real width.
PHONE_LINE = 15.5

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

    def _factor_texts(self, factors) -> list[str]:
        """The printed factors of a product, in the site's order, bracketed where needed."""
        factors = self._ordered_factors(list(factors))
        if len(factors) == 1:  # a lone numerator or denominator needs no brackets
            return [self._print(factors[0])]
        out = []
        for n, term in enumerate(factors):
            tex = self._print(term)
            if self._needs_mul_brackets(term, first=(n == 0), last=(n == len(factors) - 1)):
                tex = rf"\left({tex}\right)"
            out.append(tex)
        return out

    def _print_factors(self, factors) -> str:
        return " ".join(self._factor_texts(factors))

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

    def _ordered_terms(self, expr, order=None) -> list[sp.Expr]:
        """The terms of a sum in the site's order: terms holding a sum first."""
        terms = self._as_ordered_terms(expr, order=order)
        with_sum = [t for t in terms if t.has(sp.Sum)]
        return with_sum + [t for t in terms if not t.has(sp.Sum)]

    def _add_terms(self, expr, order=None) -> list[str]:
        """The printed terms of a sum, in the site's order, each with its sign in front."""
        out = []
        for term in self._ordered_terms(expr, order):
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


class times(sp.Function):
    r"""A product of labels printed in the order of its args (SymPy sorts a ``Mul``), for a
    label that is a product written by hand: :class:`fit_eq` may break it after a factor."""

    def _latex(self, printer, exp=None):
        out = " ".join(printer._print(a) for a in self.args)
        return out if exp is None else rf"\left({out}\right)^{{{exp}}}"


# The relations a label may hold (its own "="), as the printer and the pages write them.
_LABEL_RELATION = re.compile(r" (=|\\le|\\leq) ")


def _top_level(tex: str, at: int) -> bool:
    r"""Position ``at`` of ``tex`` is outside every brace group and ``\left ... \right`` pair."""
    head = tex[:at]
    return (head.count("{") == head.count("}")
            and head.count(r"\left") == head.count(r"\right"))


def _pack(pieces: list[str], first: float, rest: float) -> list[str]:
    """``pieces`` joined into as few lines as keep each within :data:`PHONE_LINE`: the first line
    after ``first`` em of other content, the next ones after ``rest`` em; a piece wider than a
    line has a line of its own."""
    out, current, room = [], [], PHONE_LINE - first
    for piece in pieces:
        if current and display_width(" ".join(current + [piece])) > room:
            out.append(" ".join(current))
            current, room = [], PHONE_LINE - rest
        current.append(piece)
    return out + [" ".join(current)]


class _FitsAPhone:
    r"""A relation printed so that it fits a phone's column: display only, the same relation as
    its SymPy class (``lhs``, ``rhs`` and every use of the expression are unchanged).

    It is printed on one line when its estimated width (:func:`display_width`) is at most
    :data:`PHONE_LINE`; otherwise it is broken as little as needed, in an ``aligned`` block
    aligned on the relations:

    1. a tuple equation :math:`(a, b) = (c, d)`: one equation per entry, :math:`a = c` and
       :math:`b = d`;
    2. a left-hand side that is itself a relation (a chain :math:`a = b = c`), or a defining
       label (:math:`\bar h_t = \partial E/\partial h_t`, a symbol whose name holds ``" = "`` or
       ``" \le "``): its first part on a line of its own (broken by these rules), the right-hand
       side on the next; a right-hand side label that lists ``"A,\quad B = C"`` has one line per
       item;
    3. a right-hand side that is a sum and still too wide: one term per line, in the order the
       sum prints, as :class:`lines` writes a total;
    4. a right-hand side that is a product and still too wide: broken after a factor, as few
       times as keep each line within the width, the next lines indented;
    5. a right-hand side that is a quotient with a sum above the bar and still too wide: the
       numerator broken after whole terms, as few times as needed.
    """

    relation = "="

    def __new__(cls, lhs, rhs, **options):
        # never evaluated: a tuple equation or a label must not collapse to True or False
        return super().__new__(cls, lhs, rhs, evaluate=False)

    def _latex(self, printer, exp=None):
        lhs, rhs = self.args
        one_line = f"{printer._print(lhs)} {self.relation} {printer._print(rhs)}"
        if display_width(one_line) <= PHONE_LINE:
            return one_line
        pairs = zip(lhs, rhs) if isinstance(lhs, sp.Tuple) and isinstance(rhs, sp.Tuple) else [
            (lhs, rhs)]
        rows = [row for left, right in pairs
                for row in _rows(printer, left, self.relation, right)]
        if len(rows) == 1:  # a sum on lines: y = \begin{aligned}[t] ... as lines prints it
            return " ".join(rows[0])
        body = " \\\\\n".join(f"{left} &{rel} {right}".lstrip() for left, rel, right in rows)
        return f"\\begin{{aligned}}\n{body}\n\\end{{aligned}}"


def _relation_of(expr) -> str:
    return r"\leq" if isinstance(expr, sp.LessThan) else "="


def _label_rows(left: str, rel: str) -> tuple[list[tuple[str, str, str]], str]:
    """A label printed as ``left``, split at its own last top-level relation: the rows of its
    definition, and what is left as the left-hand side (empty when split)."""
    for m in reversed(list(_LABEL_RELATION.finditer(left))):
        if _top_level(left, m.start()):
            return [(left[:m.start()], m.group(1), left[m.end():])], ""
    return [], left


def _rows(printer, lhs, rel, rhs) -> list[tuple[str, str, str]]:
    """``(left, relation, right)`` lines of one relation, broken by rules 2 to 5."""
    left, right = printer._print(lhs), printer._print(rhs)
    if display_width(f"{left} {rel} {right}") <= PHONE_LINE:
        return [(left, rel, right)]
    if isinstance(lhs, sp.core.relational.Relational):
        rows, left = _rows(printer, lhs.lhs, _relation_of(lhs), lhs.rhs), ""
    else:
        rows, left = _label_rows(left, rel)
    # an aligned block: a line with an empty left-hand side starts after the widest left one
    head = display_width(f"{left} {rel} ") + max(
        [display_width(row[0]) for row in rows if not left], default=0.0)
    if head + display_width(right) <= PHONE_LINE:
        return rows + [(left, rel, right)]
    numer, denom = sp.fraction(rhs, exact=True) if isinstance(rhs, sp.Mul) else (rhs, sp.S.One)
    if isinstance(rhs, sp.Add):
        return rows + [(left, rel, printer._print(lines(*printer._ordered_terms(rhs))))]
    if isinstance(rhs, sp.Symbol) and ",\\quad " in right:  # "A,\quad B = C": a list
        first, _, rest = right.partition(",\\quad ")
        more, _ = _label_rows(rest, "=")
        return rows + [(left, rel, first + ",")] + (more or [("", "", rf"\quad {rest}")])
    if isinstance(rhs, times) or (isinstance(rhs, sp.Mul) and denom is sp.S.One
                                  and not rhs.could_extract_minus_sign()):
        factors = ([printer._print(a) for a in rhs.args] if isinstance(rhs, times)
                   else printer._factor_texts(sp.Mul.make_args(rhs)))
        # the next lines start 1 em (\quad) after the relation
        first, *more = _pack(factors, head, head - display_width(rel) + 1.0)
        return rows + [(left, rel, first)] + [("", "", rf"\quad {m}") for m in more]
    if (isinstance(numer, sp.Add) and denom is not sp.S.One
            and not rhs.could_extract_minus_sign()):  # the sign in front, as the printer puts it
        terms = printer._add_terms(numer)
        terms[0] = terms[0][2:] if terms[0].startswith("+ ") else terms[0]
        above = " \\\\\n&".join(_pack(terms, head, head))
        below = printer._print_factors(sp.Mul.make_args(denom))
        above = rf"\begin{{aligned}}&{above}\end{{aligned}}"
        return rows + [(left, rel, rf"\frac{{{above}}}{{{below}}}")]
    return rows + [(left, rel, right)]  # nothing to break: it stays on its line


class fit_eq(_FitsAPhone, sp.Equality):
    r"""An equation printed so that it fits a phone's column (the rules of :class:`_FitsAPhone`);
    the same equation as ``sp.Eq(lhs, rhs)``.

    >>> a, b, c, d = sp.symbols("a b c d")
    >>> print(latex(fit_eq(sp.Tuple(a, b), sp.Tuple(c, d))))
    \left( a, \  b\right) = \left( c, \  d\right)
    >>> t, m, j, l = sp.symbols("t m j l", integer=True)
    >>> W, U, x, h = (sp.IndexedBase(n) for n in ("W^{ih}", "W^{hh}", "x", "h"))
    >>> a = (sp.Sum(W[m, l] * x[t, l], (l, 1, sp.Symbol("D"))) + sp.IndexedBase("b")[m]
    ...      + sp.Sum(U[m, j] * h[t - 1, j], (j, 1, sp.Symbol("H"))))
    >>> print(latex(fit_eq(sp.IndexedBase("a")[t, m], a)))
    a_{t,m} = \begin{aligned}[t] &\sum_{j=1}^{H} W^{hh}_{m,j} h_{t-1,j} \\
    &+ \sum_{l=1}^{D} W^{ih}_{m,l} x_{t,l} \\
    &+ b_{m}\end{aligned}
    """


class fit_le(_FitsAPhone, sp.LessThan):
    r"""An inequality :math:`a \le b` printed to fit a phone's column, as :class:`fit_eq`."""

    relation = r"\leq"


def fit(relation):
    """``relation`` (an ``Eq`` or ``Le``) printed to fit a phone's column; anything else as is."""
    if isinstance(relation, sp.Equality):
        return fit_eq(*relation.args)
    if isinstance(relation, sp.LessThan):
        return fit_le(*relation.args)
    return relation


# -- the width of a formula ----------------------------------------------------------------------
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_&\[\]]|[^\s\\{}^_&\[\]]")
# Widths in em of what the printer writes, as MathJax's TeX fonts set them, spacing included
# (a binary operator gets 2/9 em either side, a relation 5/18 em).
_SPACE = {r"\ ": 0.25, r"\,": 0.17, r"\:": 0.22, r"\;": 0.28, r"\quad": 1.0, r"\qquad": 2.0}
_BINARY = {"+": 1.22, "-": 1.22, r"\odot": 1.22, r"\cdot": 0.72, r"\times": 1.22}
_RELATION = {"=": 1.34, r"\le": 1.34, r"\leq": 1.34, r"\ge": 1.34, r"\geq": 1.34, "<": 1.34,
             ">": 1.34, r"\approx": 1.34}
_NAMED = {r"\tanh": 1.95, r"\min": 1.7, r"\max": 1.8, r"\log": 1.3, r"\exp": 1.5,
          r"\sum": 1.44, r"\prod": 1.28}
_ARGUMENT_ONLY = {r"\bar", r"\tilde", r"\hat", r"\mathrm", r"\mathbf", r"\text", r"\operatorname"}
_INVISIBLE = {r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", "&"}
_SCRIPT = 0.707  # the size of a sub- or superscript; stacked ones count once (the wider)


class _Width:
    """A left-to-right reading of the printer's LaTeX that adds up glyph widths."""

    def __init__(self, tex: str):
        self.tokens = _TOKEN.findall(tex)
        self.at = 0

    def _peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _next(self):
        self.at += 1
        return self.tokens[self.at - 1] if self.at <= len(self.tokens) else None

    def _argument(self, size: float) -> float:
        if self._peek() == "{":
            self._next()
            width = self.row(size)
            self._next()  # "}"
            return width
        return self._atom(self._next(), size)

    def _atom(self, token, size: float) -> float:
        if token is None or token in _INVISIBLE:
            return 0.0
        if token == "{":
            width = self.row(size)
            self._next()
            return width
        if token == r"\frac":
            return max(self._argument(size), self._argument(size)) + 0.24 * size
        if token in _ARGUMENT_ONLY:
            return self._argument(size)
        if token == r"\begin":  # an environment is as wide as its widest row
            self._argument(size)
            if self._peek() == "[":
                while self._next() not in ("]", None):
                    pass
            width = self.row(size)
            self._next()           # \end
            cases = "".join(self.tokens[self.at:self.at + 7]) == "{cases}"
            self._argument(size)   # {aligned}
            # cases: a brace in front, 1 em between the value and its condition
            return width + (1.9 * size if cases else 0.0)
        if token in _BINARY or token in _RELATION:
            # no space around an operator in a script (t+1)
            return (_BINARY.get(token) or _RELATION[token]) * size if size == 1 else 0.78 * size
        for table in (_SPACE, _NAMED):
            if token in table:
                return table[token] * size
        if token == ",":
            return 0.28 * size
        if token in "()[]|":
            return 0.39 * size
        if token.startswith("\\"):
            return 0.6 * size  # a Greek letter, \partial, \ell, ...
        if token.isdigit():
            return 0.5 * size
        return (1.05 if token in "WM" else 0.8 if token.isupper() else 0.55) * size

    def row(self, size: float = 1.0) -> float:
        """The width of what follows, up to the end of its group; rows split at ``\\\\``."""
        rows, width, last = [], 0.0, None
        while self._peek() not in (None, "}", r"\end"):
            token = self._next()
            if token == r"\\":
                rows.append(width)
                width = 0.0
            elif token in ("^", "_"):
                script = self._argument(size * _SCRIPT)
                while self._peek() in ("^", "_"):
                    self._next()
                    script = max(script, self._argument(size * _SCRIPT))
                if last in (r"\sum", r"\prod"):  # limits sit above and below the sign
                    width += max(0.0, script - _NAMED[last] * size) + 0.17 * size
                else:
                    width += script
            else:
                last = token
                width += self._atom(token, size)
        return max([*rows, width])


def display_width(tex: str) -> float:
    r"""An estimate of the width in em of ``tex`` set as display math: the sum of its glyphs'
    widths, scripts at 0.707 size, a fraction as wide as its wider part, an ``aligned`` block as
    wide as its widest row. Within 10 % of MathJax's width for the site's formulas.

    >>> round(display_width(r"h_{t} = \tanh{\left(a_{t} \right)}"), 1)
    5.9
    """
    return _Width(tex).row()


def latex(expr, **settings) -> str:
    r"""``expr`` as LaTeX with the site's conventions (see the module docstring).

    >>> i, j = sp.symbols("i j", integer=True)
    >>> y = sp.IndexedBase(r"\hat{y}")
    >>> latex(y[i] * (sp.KroneckerDelta(i, j) - y[j]))
    '\\hat{y}_{i} \\left([i = j] - \\hat{y}_{j}\\right)'
    """
    return RnnLatexPrinter(settings).doprint(expr)
