r"""Exact proof of a cell's derivation on an unrolled instance.

Unroll the cell for a few steps with symbolic entries everywhere (parameters, inputs, initial
states), take the loss :math:`E = \sum_t u_t^T h_t + \sum_s \bar s_T^T s_T` with symbolic upstream
gradients, and differentiate it with ``sympy.diff``: that is the exact gradient.  Then evaluate the
derivation itself on the same instance (the recursion of :meth:`Cell.paths` and
:meth:`Cell.consumers`, the data the site renders and the code generator prints) and require the
difference to expand to zero, entry by entry, for every parameter, every input and every initial
state.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .cell import Cell, D, H, Elementwise, Product


class Id(sp.Function):
    """The identity, wrapped around every node of the instance so that each is one function
    application: the comparison then treats it as one symbol instead of expanding its formula."""

    def fdiff(self, argindex=1):
        return sp.S.One


@dataclass(frozen=True)
class Proof:
    """Outcome of :func:`unrolled_proof`: how many entries were compared, and which differ."""

    checked: int
    mismatches: tuple

    @property
    def holds(self) -> bool:
        return self.checked > 0 and not self.mismatches


def _matrix(name, rows, cols=1):
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}" if cols > 1 else f"{name}_{i}"))


def _size(expr, h, d):
    return int(sp.sympify(expr).subs({H: h, D: d}))


def unrolled_proof(cell: Cell, T: int = 2, h: int = 2, d: int = 2) -> Proof:
    """Compare the derived gradients with ``sympy.diff`` of the unrolled loss, exactly.

    Parameters
    ----------
    cell : rnnmath.derive.cell.Cell
    T, h, d : int
        Steps, state size and input size of the instance.

    Returns
    -------
    Proof
    """
    params = {}
    for name, shape in cell.shapes.items():
        dims = [_size(s, h, d) for s in shape]
        params[name] = _matrix(name, *dims)
    xs = [_matrix(f"x{t}", d) for t in range(1, T + 1)]
    s0 = {s: _matrix(f"{s}0", h) for s in cell.states}
    u = [_matrix(f"u{t}", h) for t in range(1, T + 1)]
    sbar = {s: _matrix(f"w{s}", h) for s in cell.states}

    # Forward: values[t][vector] as column matrices; t = 0 holds the initial states.
    values = [dict(s0)]
    for t in range(1, T + 1):
        vals = {cell.input: xs[t - 1]}
        vals.update({f"{s}_prev": values[t - 1][s] for s in cell.states})
        for n in cell.nodes:
            if isinstance(n, Product):
                out = sum((params[m] * vals[v] for m, v in n.terms), sp.zeros(_size(n.rows, h, d), 1))
                for b in n.biases:
                    out += params[b]
                vals[n.name] = out = out.applyfunc(Id)
                for i, blk in enumerate(n.blocks):
                    vals[blk] = out[i * h:(i + 1) * h, :]
            else:
                vals[n.name] = sp.Matrix(h, 1, lambda j, _: Id(_entry(cell, n.expr, vals, params, j)))
        values.append(vals)
    E = sum((u[t - 1].T * values[t][cell.output])[0] for t in range(1, T + 1))
    E += sum((sbar[s].T * values[T][s])[0] for s in cell.states)

    # The derivation, evaluated: signals from t = T down to 1.
    carry = dict(sbar)
    bars = [None] * (T + 1)
    for t in range(T, 0, -1):
        vals, bar = values[t], {}
        for vec in reversed(cell.signals):
            total = sp.zeros(h, 1) if vec not in cell.states else carry[vec] + (
                u[t - 1] if vec == cell.output else sp.zeros(h, 1))
            bar[vec] = total + _incoming(cell, vec, vals, params, bar, h)
        for n in cell.products:
            bar[n.name] = sp.Matrix.vstack(*(bar[b] for b in n.blocks))
        carry = {s: _incoming(cell, f"{s}_prev", vals, params, bar, h) for s in cell.states}
        bars[t] = bar
    derived = {}
    for name in cell.shapes:
        g = sp.zeros(*params[name].shape)
        for t in range(1, T + 1):
            for n in cell.products:
                g += sum((bars[t][n.name] * values[t][v].T for m, v in n.terms if m == name),
                         sp.zeros(*g.shape))
                g += sum((bars[t][n.name] for b in n.biases if b == name), sp.zeros(*g.shape))
            if name in cell.elementwise_params:
                for sig, k in cell.paths(name).items():
                    g += sp.Matrix(h, 1, lambda j, _: _entry(cell, k, values[t], params, j)
                                   * bars[t][sig][j])
        derived[name] = g
    for t in range(1, T + 1):
        derived[f"x{t}"] = sum((params[m].T * bars[t][n.name] for n in cell.products
                                for m, v in n.terms if v == cell.input), sp.zeros(d, 1))
    for s in cell.states:
        derived[f"{s}0"] = carry[s]
    exact_vars = dict(params, **{f"x{t}": xs[t - 1] for t in range(1, T + 1)},
                      **{f"{s}0": v for s, v in s0.items()})

    checked, bad = 0, []
    for name, var in exact_vars.items():
        for idx in range(len(var)):
            exact = sp.diff(E, var[idx])
            if not _same(exact, derived[name][idx]):
                bad.append((name, idx))
            checked += 1
    return Proof(checked, tuple(bad))


def _same(a, b) -> bool:
    """Exact equality.  Every function application (tanh(...), sigmoid(...)) is first replaced by
    one fresh symbol, the same on both sides; if the difference of the resulting polynomials
    expands to zero, it is zero for every value those applications take, so for theirs too."""
    diff = a - b
    # A node and its formula are one value, one symbol: innermost nodes first, so a formula
    # that reads a node (Heaviside(relu(a))) is rewritten the same way on both sides.
    while True:
        inner = [f for f in diff.atoms(Id) if not f.args[0].has(Id)]
        if not inner:
            break
        table = {}
        for f in inner:
            table[f] = table[f.args[0]] = sp.Dummy()
        diff = diff.xreplace(table)
    apps = {f: sp.Dummy() for f in diff.atoms(sp.Function)}
    return sp.expand(diff.xreplace(apps)) == 0


def _entry(cell, expr, vals, params, j):
    """Entry ``j`` of an elementwise expression, reading vectors and elementwise parameters."""
    table = {}
    for sym in expr.free_symbols:
        source = vals.get(sym.name, params.get(sym.name))
        table[sym] = source[j]
    return expr.xreplace(table)


def _incoming(cell, vec, vals, params, bar, h):
    """What the uses of ``vec`` at this step send back: elementwise paths and products."""
    paths, prods = cell.adjoint(vec)
    out = sp.zeros(h, 1)
    for sig, k in paths.items():
        out += sp.Matrix(h, 1, lambda j, _: _entry(cell, k, vals, params, j) * bar[sig][j])
    for n, m in prods:
        out += params[m].T * bar[n.name]
    return out


__all__ = ["Proof", "unrolled_proof", "Elementwise"]
