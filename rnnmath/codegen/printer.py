"""SymPy printers for the generated NumPy: one for whole arrays, one for in-place loop bodies.

:class:`ArrayPrinter` is SymPy's ``NumPyPrinter`` with ``np.`` as the module name, the cell
functions (``sigmoid``, ``relu``, ``Heaviside``) as ``_print_<Class>`` methods and entry symbols
renamed to the arrays that hold them.  It prints what runs once for all steps (hoisted factors,
the single-step call).

:class:`InPlacePrinter` prints what runs at every step: the same expression as a sequence of ufunc
calls that write into preallocated memory (``np.multiply(a, b, out)``), using a few scratch
buffers for nested subexpressions, so a time loop allocates nothing.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

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
