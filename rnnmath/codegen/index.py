"""Print index-level formulas (sums over shared indices) as vectorised NumPy; the output layers use it.

Every formula of the generated module comes from a step of a derivation in :mod:`rnnmath.derive`.
The printer works on index expressions: a row index ``t`` (one row per time step and batch item),
column indices such as ``q``, and sums over one shared index, which become ``@`` products with the
operands turned so that the shared index meets in the middle.  Terms without the recurrent signal
are hoisted out of the time loop by construction: the templates below put only the terms that
contain ``s_{t-1}`` or ``delta_{t+1}`` inside a loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

ROW = "t"  # label of the row axis (time step x batch item) in printed index tuples
ANY = "*"  # a kept-dims axis of length one that broadcasts against anything


@dataclass(frozen=True)
class Ctx:
    """How index objects map to NumPy names inside one printed formula.

    ``arrays`` maps ``(base, time offset)`` for time-indexed bases (``s[t - 1, q]`` is
    ``(s, -1)``), ``(base, k)`` for a fixed step (``delta[1, g]``) and ``(base, None)`` for
    parameters, to source text.  ``time`` is the derivation's time symbol; ``ids`` names the
    token-id array used for one-hot inputs.
    """

    arrays: dict
    time: sp.Symbol
    ids: str = "ids"
    depth: str = "D"
    contiguous: dict = field(default_factory=dict)  # "W.T" -> "W_T", made contiguous once
    prefix: str = "np."  # in loops, "" calls functions the template bound to local names


class Printer:
    """Index expression -> (NumPy source, index labels of the result)."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx

    # -- leaves ---------------------------------------------------------------------------
    def indexed(self, e: sp.Indexed):
        base, idx = e.base, e.indices
        t = self.ctx.time
        first = idx[0]
        if first.has(t) and first.free_symbols == {t} and first - t == int(first - t):
            name = self.ctx.arrays[(base, int(first - t))]
            return name, (ROW,) + tuple(idx[1:])
        if first.is_Integer and (base, int(first)) in self.ctx.arrays:
            return self.ctx.arrays[(base, int(first))], (ROW,) + tuple(idx[1:])
        if len(idx) == 1 and (base, idx[0]) in self.ctx.arrays:  # (source, axis labels) given
            return self.ctx.arrays[(base, idx[0])]
        name = self.ctx.arrays[(base, None)]
        if len(idx) == 2 and isinstance(idx[1], sp.Indexed):  # U[q, iota[t]]: gather columns
            return f"{name}.T[{self.ctx.ids}]", (ROW, idx[0])
        return name, tuple(idx)

    # -- structure ------------------------------------------------------------------------
    def pr(self, e):
        code, idx, _ = self.node(e)
        return code, idx

    def node(self, e):
        """(source, index labels, precedence): ADD < MUL < MATMUL < ATOM."""
        if e.is_Number:
            return (str(int(e)) if e.is_Integer else repr(float(e))), (), ATOM
        if isinstance(e, sp.Indexed):
            return (*self.indexed(e), ATOM)
        if isinstance(e, sp.Add):
            parts = [self.node(a) for a in sorted(e.args, key=sp.default_sort_key)]
            # Positive terms first and wider arrays before broadcast ones: "X @ U.T + b", "1 - S**2".
            width = max(len(i) for _, i, _ in parts)
            parts.sort(key=lambda n: (n[0].startswith("-"), len(n[1]) < width))
            code = parts[0][0]
            for c, _, _ in parts[1:]:
                code += f" - {c[1:]}" if c.startswith("-") else f" + {c}"
            return code, _broadcast([i for _, i, _ in parts]), ADD
        if isinstance(e, sp.Mul):
            coeff, rest = e.as_coeff_Mul()
            if coeff == -1:
                c, i, prec = self.node(rest)
                return f"-{_wrap(c, prec, MUL)}", i, MUL
            parts = [self.node(a) for a in sp.Mul.make_args(e)]
            # `*` and `@` bind equally and left to right, so a matmul factor needs parentheses.
            code = " * ".join(_wrap(c, prec, MATMUL + 1) for c, _, prec in parts)
            return code, _broadcast([i for _, i, _ in parts]), MUL
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            c, i, prec = self.node(e.base)
            return f"{_wrap(c, prec, ATOM)}**{int(e.exp)}", i, MUL
        if isinstance(e, sp.Piecewise):  # only the step: 0 for x <= 0, else 1
            (zero, cond), (one, rest) = e.args
            if not (zero == 0 and one == 1 and rest == sp.true and isinstance(cond, sp.Le)
                    and cond.rhs == 0):
                raise TypeError(f"no NumPy form for the piecewise {e}")
            c, i = self.pr(cond.lhs)
            return f"({c} > 0)", i, ATOM
        if isinstance(e, sp.Max) and len(e.args) == 2 and 0 in e.args:
            (arg,) = [x for x in e.args if x != 0]
            c, i = self.pr(arg)
            return f"np.maximum({c}, 0)", i, ATOM
        if isinstance(e, sp.Function) and e.func.__name__ == "sigmoid":
            c, i = self.pr(e.args[0])
            return f"_sigmoid({c})", i, ATOM  # defined in the generated module
        if type(e).__name__ in NUMPY_FUNCTIONS:
            c, i = self.pr(e.args[0])
            return f"np.{NUMPY_FUNCTIONS[type(e).__name__]}({c})", i, ATOM
        if isinstance(e, sp.Sum):
            return self.contract(e)
        if isinstance(e, sp.KroneckerDelta):  # between two free axes: an identity matrix
            return self.ctx.arrays[(sp.KroneckerDelta, None)], tuple(e.args), ATOM
        raise TypeError(f"no NumPy form for {e!r} ({type(e).__name__})")

    def contract(self, e: sp.Sum):
        (j, _, _), = e.limits
        factors = list(sp.Mul.make_args(e.function))
        if len(factors) == 1:  # a plain sum over one axis
            c, i, prec = self.node(factors[0])
            c = _wrap(c, prec, ATOM)
            if j == self.ctx.time:  # over every row: time steps and batch items
                return f"{c}.sum(axis=0)", i[1:], ATOM
            return f"{c}.sum(axis=-1, keepdims=True)", i[:-1] + (ANY,), ATOM
        if len(factors) != 2:
            raise TypeError(f"contractions must pair two factors, got {e}")
        j_label = ROW if j == self.ctx.time else j
        onehot = [f_ for f_ in factors if isinstance(f_, sp.KroneckerDelta)]
        if onehot:  # sum_t A[t, p] [q = iota_t]: scatter the rows of A into rows iota_t
            (other,) = [f_ for f_ in factors if f_ is not onehot[0]]
            c, i = self.pr(other)
            (col,) = [s for s in onehot[0].args if not isinstance(s, sp.Indexed)]
            return f"_scatter_rows({c}, {self.ctx.ids}, {self.ctx.depth})", (col, i[1]), ATOM
        left, right, keep = self.operands(factors, j_label)
        return f"{left} @ {right}", keep, MATMUL

    def operands(self, factors, j_label):
        """The two factors of a contraction, turned so the shared axis meets in the middle."""
        (ca, ia, pa), (cb, ib, pb) = (self.node(f_) for f_ in factors)
        # Put the factor holding the row label first so that row-valued results stay (t, q).
        if ROW in ib and ROW not in ia:
            (ca, ia, pa), (cb, ib, pb) = (cb, ib, pb), (ca, ia, pa)
        left = _wrap(ca, pa, ATOM) + ("" if ia[-1] == j_label else ".T")
        right = _wrap(cb, pb, ATOM) + ("" if ib[0] == j_label else ".T")
        keep = tuple(x for x in ia if x != j_label) + tuple(x for x in ib if x != j_label)
        return self.ctx.contiguous.get(left, left), self.ctx.contiguous.get(right, right), keep

    # -- in place ---------------------------------------------------------------------------
    def emit(self, e, out: str, fresh: bool = False) -> list[str]:
        """Statements leaving ``e`` in the array ``out``: one temporary at most, for loops.

        The product goes to BLAS through ``np.dot(..., out=)`` into preallocated ``out`` (or,
        with ``fresh``, into a new array bound to ``out``); every other term or factor is then
        applied to ``out`` in place.
        """
        if isinstance(e, sp.Sum) and len(e.limits) == 1:
            (j, _, _), = e.limits
            left, right, _ = self.operands(list(sp.Mul.make_args(e.function)),
                                           ROW if j == self.ctx.time else j)
            if fresh:
                return [f"{out} = {left} @ {right}"]
            return [f"{self.ctx.prefix}dot({left}, {right}, out={out})"]
        if isinstance(e, sp.Add) and not e.has(sp.Sum) and e.has(sp.KroneckerDelta):
            # prediction minus a one-hot label: bind the rest, then subtract at the label ids
            onehot = [a for a in e.args if a.has(sp.KroneckerDelta)]
            rest, _, _ = self.node(sp.Add(*[a for a in e.args if a not in onehot]))
            lines = [f"{out} = {rest}" if fresh else f"np.copyto({out}, {rest})"]
            for term in onehot:
                coeff, _ = term.as_coeff_Mul()
                lines.append(f"_add_one_hot({out}, {self.ctx.ids}, {coeff})")
            return lines
        if isinstance(e, (sp.Add, sp.Mul)):
            (inner,) = [a for a in e.args if a.has(sp.Sum) or a.has(sp.KroneckerDelta)]
            lines = self.emit(inner, out, fresh)
            for other in (a for a in e.args if a is not inner):
                c, _, prec = self.node(other)
                if isinstance(e, sp.Mul):
                    lines.append(f"{out} *= {_wrap(c, prec, MUL + 1)}")
                elif c.startswith("-"):
                    lines.append(f"{out} -= {_wrap(c[1:], prec, MUL)}")
                else:
                    lines.append(f"{out} += {c}")
            return lines
        if isinstance(e, sp.Max) and 0 in e.args:
            (arg,) = [a for a in e.args if a != 0]
            return self.emit(arg, out, fresh) + [f"{self.ctx.prefix}maximum({out}, 0, out={out})"]
        if isinstance(e, (sp.tanh, sp.exp)):
            name = self.ctx.prefix + type(e).__name__
            return self.emit(e.args[0], out, fresh) + [f"{name}({out}, out={out})"]
        raise TypeError(f"no in-place form for {e}")


ADD, MUL, MATMUL, ATOM = range(4)
# SymPy function class name -> NumPy ufunc (log1p: the loss forms of derive.outputs)
NUMPY_FUNCTIONS = {"tanh": "tanh", "exp": "exp", "log": "log", "log1p": "log1p", "Abs": "abs"}


def _wrap(code: str, prec: int, need: int) -> str:
    return code if prec >= need else f"({code})"


def _broadcast(idxs):
    """Axis labels of an elementwise combination: NumPy aligns trailing axes, "*" stretches."""
    width = max(len(i) for i in idxs)
    merged = []
    for pos in range(-width, 0):
        labels = {i[pos] for i in idxs if len(i) >= -pos} - {ANY}
        if len(labels) > 1:
            raise TypeError(f"cannot broadcast axis labels {idxs}")
        merged.append(labels.pop() if labels else ANY)
    return tuple(merged)


def numpy_inplace(expr: sp.Basic, ctx: Ctx, out: str, indent: str = "", fresh: bool = False) -> str:
    """Lines that compute ``expr`` into the array named ``out`` (see Printer.emit)."""
    return "\n".join(indent + line for line in Printer(ctx).emit(expr, out, fresh)).lstrip()


def numpy_expr(expr: sp.Basic, ctx: Ctx, out: tuple) -> str:
    """Source of ``expr`` with its axes ordered as ``out`` (labels: ``"t"`` for rows, symbols)."""
    code, idx, prec = Printer(ctx).node(expr)
    idx = tuple(ROW if i == ctx.time else i for i in idx)
    if idx == tuple(out) or len(idx) < len(out):
        return code
    if idx == tuple(reversed(out)):
        return f"{_wrap(code, prec, ATOM)}.T"
    raise TypeError(f"result has axes {idx}, wanted {out}: {expr}")
