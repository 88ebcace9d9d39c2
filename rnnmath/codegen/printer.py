"""SymPy printers for the generated NumPy: whole arrays, in-place loop bodies, index notation.

:class:`ArrayPrinter` is SymPy's ``NumPyPrinter`` with ``np.`` as the module name, the cell
functions (``sigmoid``, ``relu``, ``Heaviside``) as ``_print_<Class>`` methods and entry symbols
renamed to the arrays that hold them.  It prints what runs once for all steps (hoisted factors,
the single-step call).

:class:`InPlacePrinter` prints what runs at every step: the same expression as a sequence of ufunc
calls that write into preallocated memory (``np.multiply(a, b, out)``), using a few scratch
buffers for nested subexpressions, so a time loop allocates nothing.

:class:`IndexPrinter` prints the output layers, which the derivations write entry by entry: sums
over a shared index become ``@`` products, a sum over the classes of a row a row sum, a sum over
every row ``np.sum``; one-hot labels become scatters, and entries with fewer axes are broadcast.
"""
from __future__ import annotations

import itertools

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

# Ufuncs of one argument, by SymPy function name; "_sigmoid_" is defined in every generated module.
UFUNCS = {"tanh": "tanh", "exp": "exp", "log": "log", "sigmoid": "_sigmoid_", "Abs": "absolute",
          "log1p": "log1p", "expm1": "expm1", "sin": "sin", "cos": "cos"}


class ArrayPrinter(NumPyPrinter):
    """NumPy source of an entrywise expression over whole arrays; ``names`` maps symbols to source."""

    def __init__(self, names: dict[str, str] | None = None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})
        self.names = names or {}

    def _module_format(self, fqn, register=True):
        return fqn.replace("numpy.", "np.", 1)

    def _print_Symbol(self, expr):
        return self.names.get(expr.name, expr.name)

    def _print_sigmoid(self, expr):
        return f"_sigmoid({self._print(expr.args[0])})"

    def _print_relu(self, expr):
        return f"np.maximum({self._print(expr.args[0])}, 0)"

    def _print_Heaviside(self, expr):
        # The kink's value 0 (relu'(0), PyTorch's choice): the step is a comparison.
        if len(expr.args) == 2 and expr.args[1] == 0:
            return f"({self._print(expr.args[0])} > 0)"
        return super()._print_Heaviside(expr)


class InPlacePrinter:
    """Statements computing an expression into an existing array, one ufunc call each.

    ``names`` maps symbols to the per-step arrays of the loop; ``scratch`` is the prefix of the
    preallocated buffers for subexpressions (``_s0``, ``_s1``, ...); :attr:`depth` says how many
    were used.  Dispatch follows SymPy's printers: ``_assign_<Class>`` along the class's MRO.
    """

    def __init__(self, names: dict[str, str], scratch: str = "_s"):
        self.names, self.scratch, self.depth = names, scratch, 0
        self.leaf = ArrayPrinter(names)

    def assign(self, expr: sp.Expr, out: str, level: int = 0) -> list[str]:
        for cls in type(expr).__mro__:
            method = getattr(self, f"_assign_{cls.__name__}", None)
            if method is not None:
                return method(expr, out, level)
        raise TypeError(f"no in-place form for {expr} ({type(expr).__name__})")

    def _is_leaf(self, e) -> bool:
        return e.is_Symbol or e.is_Number

    def _src(self, e) -> str:
        return self.leaf.doprint(e)

    def _tmp(self, level: int) -> str:
        self.depth = max(self.depth, level + 1)
        return f"{self.scratch}{level}"

    def _assign_Symbol(self, e, out, level):
        return [f"copyto({out}, {self._src(e)})"]

    def _assign_Number(self, e, out, level):
        return [f"copyto({out}, {self._src(e)})"]

    def _operand(self, e, level, lines):
        """Source of ``e`` as an operand: a leaf as is, anything else computed into scratch."""
        if self._is_leaf(e):
            return self._src(e)
        tmp = self._tmp(level)
        lines += self.assign(e, tmp, level + 1)
        return tmp

    def _assign_Add(self, e, out, level):
        # (sign, magnitude) per term; a non-leaf term is computed into ``out`` first.
        terms = [(-1, -a) if a.could_extract_minus_sign() else (1, a) for a in e.args]
        terms.sort(key=lambda st: (self._is_leaf(st[1]), -st[0], sp.default_sort_key(st[1])))
        lines: list[str] = []
        (sign, first), rest = terms[0], terms[1:]
        if self._is_leaf(first):  # only leaves: the first two make the first call
            if sign < 0:  # -a - b: no positive leaf
                lines.append(f"negative({self._src(first)}, {out})")
            else:
                sign2, second = rest.pop(0)
                op = "add" if sign2 > 0 else "subtract"
                lines.append(f"{op}({self._src(first)}, {self._src(second)}, {out})")
        else:
            lines += self.assign(first, out, level)
            if sign < 0:
                lead = next((st for st in rest if st[0] > 0 and self._is_leaf(st[1])), None)
                if lead is not None:  # 1 - u: compute u, then subtract it from the leaf
                    rest.remove(lead)
                    lines.append(f"subtract({self._src(lead[1])}, {out}, {out})")
                else:
                    lines.append(f"negative({out}, {out})")
        for sign, term in rest:
            op = "add" if sign > 0 else "subtract"
            lines.append(f"{op}({out}, {self._operand(term, level, lines)}, {out})")
        return lines

    def _assign_Mul(self, e, out, level):
        coeff, rest = e.as_coeff_Mul()
        factors = sorted(sp.Mul.make_args(rest), key=lambda a: (self._is_leaf(a),
                                                                  sp.default_sort_key(a)))
        lines: list[str] = []
        first = factors[0]
        if self._is_leaf(first) and len(factors) > 1:
            second = factors.pop(1)
            lines.append(f"multiply({self._src(first)}, {self._operand(second, level, lines)}, {out})")
        elif self._is_leaf(first):
            lines.append(f"copyto({out}, {self._src(first)})")
        else:
            lines += self.assign(first, out, level)
        for f in factors[1:]:
            lines.append(f"multiply({out}, {self._operand(f, level, lines)}, {out})")
        if coeff == -1 and len(factors) == 1 and self._is_leaf(first):
            lines[-1:] = [f"negative({self._src(first)}, {out})"]
        elif coeff == -1:
            lines.append(f"negative({out}, {out})")
        elif coeff != 1:
            lines.append(f"multiply({out}, {self._src(coeff)}, {out})")
        return lines

    def _assign_Pow(self, e, out, level):
        base, exp = e.args
        src = self._src(base) if self._is_leaf(base) else out
        lines = self._into(base, out, level)
        if exp == 2:
            return lines + [f"multiply({src}, {src}, {out})"]
        return lines + [f"power({src}, {self._src(exp)}, {out})"]

    def _into(self, arg, out, level):
        """``arg`` computed into ``out``, unless it is a leaf (then the caller reads it)."""
        return [] if self._is_leaf(arg) else self.assign(arg, out, level)

    def _assign_Function(self, e, out, level):
        name = UFUNCS.get(type(e).__name__)
        if name is None or len(e.args) != 1:
            raise TypeError(f"no in-place form for {e}: add it to UFUNCS")
        (arg,) = e.args
        src = self._src(arg) if self._is_leaf(arg) else out
        return self._into(arg, out, level) + [f"{name}({src}, {out})"]

    def _assign_relu(self, e, out, level):
        (arg,) = e.args
        src = self._src(arg) if self._is_leaf(arg) else out
        return self._into(arg, out, level) + [f"maximum({src}, 0, out={out})"]

    def _assign_Heaviside(self, e, out, level):
        arg = e.args[0]
        if len(e.args) != 2 or e.args[1] != 0:
            raise TypeError(f"no in-place form for {e}")
        src = self._src(arg) if self._is_leaf(arg) else out
        return self._into(arg, out, level) + [f"greater({src}, 0, {out})"]


class IndexPrinter(ArrayPrinter):
    """NumPy source of an index expression over rows: ``@`` products, row sums, gathers, broadcasts.

    The output layers are written entry by entry (``V[q, l] s[t, l]``, ``y[t, k]``); NumPy wants
    whole arrays.  Layout: the row index ``rows`` (time step x batch item) stands for the leading
    axes, ``...``; the other indices of an entry are its array's trailing axes, in order.  A value
    with the row index only (a step weight, a row sum) is stored with a length-one last axis
    (``keepdims``), so it broadcasts against one class axis.  ``arrays`` maps each ``IndexedBase``
    to its source; ``out`` is the axes of the printed result; ``sizes`` maps an index to the source
    of its length (for an identity matrix).  What the rules below do not cover raises TypeError:
    a formula is printed right or not at all.

    :meth:`assign` prints statements instead: bind the leading term, update it in place.
    """

    def __init__(self, arrays: dict, rows: sp.Symbol, out: tuple, sizes: dict | None = None):
        super().__init__()
        self.arrays, self.rows, self.out, self.sizes = arrays, rows, tuple(out), sizes or {}

    # -- leaves ------------------------------------------------------------------------------
    def axes(self, e: sp.Indexed) -> tuple:
        """Axes of an entry's array: its indices; a gathered index (``U[q, iota[t]]``: column
        ``iota_t`` for every row) puts the row axis first."""
        plain = tuple(ix for ix in e.indices if not isinstance(ix, sp.Indexed))
        return plain if plain == e.indices else (self.rows,) + plain

    def _source(self, e: sp.Indexed) -> str:
        src = self.arrays[e.base]
        gathered = [n for n, ix in enumerate(e.indices) if isinstance(ix, sp.Indexed)]
        if not gathered:
            return src
        (n,), ids = gathered, e.indices[gathered[0]]
        if len(e.indices) != 2 or ids.indices != (self.rows,):
            raise TypeError(f"no NumPy form for the gather {e}")
        return f"{src}{'.T' if n else ''}[{self.arrays[ids.base]}]"  # rows of M (or of M.T)

    def _print_Indexed(self, e):
        src, have, want = self._source(e), self.axes(e), self.out
        if have == want[len(want) - len(have):]:
            return src  # trailing axes align: NumPy broadcasts
        if have == (self.rows,) and len(want) == 2:
            return src  # a per-row value, stored (..., 1), against one class axis
        if have[0] == self.rows and len(have) > 1 and [a for a in want if a in have] == list(have):
            return f"{src}[..., {', '.join(':' if a in have else 'None' for a in want[1:])}]"
        raise TypeError(f"{e} has axes {have}, which do not broadcast to {want}")

    def _print_KroneckerDelta(self, e):
        # [i = j] over the two last axes is an identity matrix (symmetric: either order); a
        # one-hot [j = iota_t] is a scatter (see assign), never an array.
        size = next((self.sizes[a] for a in e.args if a in self.sizes), None)
        if set(e.args) != set(self.out[-2:]) or len(self.out) < 2 or size is None:
            raise TypeError(f"no NumPy form for {e} in axes {self.out}")
        return f"np.eye({size})"

    def _print_Max(self, e):
        if len(e.args) != 2:
            return super()._print_Max(e)
        a, b = sorted(e.args, key=lambda x: x.is_Number)  # the number last: np.maximum(Z, 0)
        return f"np.maximum({self._print(a)}, {self._print(b)})"

    def _as_ordered_terms(self, expr, order=None):
        # Subtracted terms last, "Yhat*total - Y" rather than "-Y + Yhat*total": the same
        # numbers (a - b is -b + a in IEEE arithmetic), read as the derivation writes them.
        terms = super()._as_ordered_terms(expr, order)
        return sorted(terms, key=lambda a: a.could_extract_minus_sign())

    # -- sums --------------------------------------------------------------------------------
    def _print_Sum(self, e):
        names = [lim[0] for lim in e.limits]
        if self._is_product(e):
            return self._product(e)
        if names[0] == self.rows:  # over every row (and the listed axes): one number
            return f"np.sum({self._within(tuple(names), e.function)})"
        if len(names) != 1:
            raise TypeError(f"no NumPy form for the sum {e}")
        (j,) = names
        if len(self.out) == 2 and self.out[0] == self.rows:  # over the class axis: kept per row
            inner = self._within((self.rows, j), e.function, paren=True)
            return f"{inner}.sum(axis=-1, keepdims=True)"
        raise TypeError(f"no NumPy form for the sum {e} in axes {self.out}")

    def _is_product(self, e) -> bool:
        """Whether ``e`` sums two array entries over one index they share: a matrix product."""
        if not isinstance(e, sp.Sum) or len(e.limits) != 1:
            return False
        factors = sp.Mul.make_args(e.function)
        return len(factors) == 2 and all(isinstance(f, sp.Indexed) and e.limits[0][0] in self.axes(f)
                                         for f in factors)

    def _within(self, out: tuple, e: sp.Expr, paren: bool = False) -> str:
        """``e`` printed in the axes ``out`` (a summand's own axes)."""
        saved, self.out = self.out, out
        try:
            return self.parenthesize(e, PRECEDENCE["Atom"], strict=True) if paren else self._print(e)
        finally:
            self.out = saved

    def _product(self, e: sp.Sum) -> str:
        """sum_j A[.., j] B[j, ..] as ``A @ B``, each operand turned so that j meets in the middle."""
        (j, _, _), = e.limits
        for a, b in itertools.permutations(sp.Mul.make_args(e.function)):
            ax, bx = self.axes(a), self.axes(b)
            if len(ax) != 2 or len(bx) != 2:
                break
            kept = tuple(x for x in ax if x != j) + tuple(x for x in bx if x != j)
            if kept == self.out:
                left = self._source(a) + ("" if ax[-1] == j else ".T")
                return f"{left} @ {self._source(b) + ('' if bx[0] == j else '.T')}"
        raise TypeError(f"no matrix product gives {e} in axes {self.out}")

    def parenthesize(self, item, level, strict=False):
        # `@` binds like `*` in Python, left to right: a product inside a product needs brackets.
        if (isinstance(item, sp.Sum) and level >= PRECEDENCE["Mul"]
                and " @ " in (src := self._print(item))):
            return f"({src})"
        return super().parenthesize(item, level, strict)

    # -- in place ----------------------------------------------------------------------------
    def assign(self, expr: sp.Expr, out: str) -> list[str]:
        """Statements leaving ``expr`` in ``out`` with no temporary array: the leading term (a
        product's fresh result, or an array the caller no longer needs) is bound to ``out``,
        then every other term or factor is applied to it in place.  Dispatch as in
        :class:`InPlacePrinter`: ``_assign_<Class>`` along the class's MRO."""
        for cls in type(expr).__mro__:
            method = getattr(self, f"_assign_{cls.__name__}", None)
            if method is not None:
                return method(expr, out)
        raise TypeError(f"no in-place form for {expr}")  # pragma: no cover (Basic has one)

    def _assign_Basic(self, e, out):
        return [f"{out} = {self.doprint(e)}"]

    def _leads(self, e) -> bool:
        """Whether ``e`` can be bound first: it is (or a term or factor of it is) a product, or
        an array with every axis of the result."""
        if e.is_Add or e.is_Mul:
            return any(self._leads(a) for a in e.args)
        return self._is_product(e) or (isinstance(e, sp.Indexed) and self.axes(e) == self.out)

    def _one_hot(self, e) -> sp.Indexed | None:
        """The ids of a term ``c [j = iota_t]``, else None."""
        _, delta = e.as_coeff_Mul()
        if isinstance(delta, sp.KroneckerDelta):
            ids = [a for a in delta.args if isinstance(a, sp.Indexed)]
            return ids[0] if len(ids) == 1 else None
        return None

    def _assign_Add(self, e, out):
        one_hot = [a for a in e.args if self._one_hot(a) is not None]
        rest = [a for a in e.args if a not in one_hot]
        # A product first: its result is a fresh array to bind, where the other terms add up.
        lead = min(rest, key=lambda a: (not self._leads(a), not a.has(sp.Sum),
                                        sp.default_sort_key(a)))
        if not self._leads(lead):
            raise TypeError(f"no term of {e} has every axis of {self.out}")
        lines = self.assign(lead, out)
        for a in rest:
            if a is not lead:
                neg = a.could_extract_minus_sign()
                lines.append(f"{out} {'-=' if neg else '+='} {self.doprint(-a if neg else a)}")
        for a in one_hot:  # prediction minus a one-hot label: subtract at the label ids
            coeff, _ = a.as_coeff_Mul()
            ids = self.arrays[self._one_hot(a).base]
            lines.append(f"_add_one_hot({out}, {ids}, {self.doprint(coeff)})")
        return lines

    def _assign_Mul(self, e, out):
        coeff, rest = e.as_coeff_Mul()
        factors = sp.Mul.make_args(rest)
        lead = next((f for f in factors if self._leads(f)), None)
        if lead is None:
            raise TypeError(f"no factor of {e} has every axis of {self.out}")
        lines = self.assign(lead, out)
        lines += [f"{out} *= {self.parenthesize(f, PRECEDENCE['Mul'])}"
                  for f in factors if f is not lead]
        if coeff != 1:
            lines.append(f"{out} *= {self.doprint(coeff)}")
        return lines
