"""Index-level helpers shared by the derivations: collapse Kronecker sums inside known ranges."""
from __future__ import annotations

import sympy as sp


def collapse(expr: sp.Basic, bounds: dict[sp.Symbol, tuple[sp.Basic, sp.Basic]]) -> sp.Basic:
    """Evaluate Kronecker-delta sums, assuming every free index lies in its range.

    ``Sum(delta(j, k) * e_k, (k, 1, K))`` is ``e_j`` only when ``1 <= j <= K``; SymPy returns a
    ``Piecewise`` on that condition.  Indices of a derivative are always in range, so we keep the
    branch whose condition follows from ``bounds`` (``{index: (low, high)}``) and refuse anything
    else rather than guess.
    """
    facts = set()
    for idx, (low, high) in bounds.items():
        facts |= {sp.Ge(high, idx), sp.Le(idx, high), sp.Ge(idx, low), sp.Le(low, idx)}

    def holds(cond: sp.Basic) -> bool:
        if cond is sp.true:
            return True
        if isinstance(cond, sp.And):
            return all(holds(c) for c in cond.args)
        return cond in facts or sp.simplify(cond) is sp.true

    def pick(*pairs):
        for value, cond in pairs:
            if holds(cond):
                return value
        raise ValueError(f"cannot decide which branch holds in range {bounds}: {pairs}")

    out = sp.expand(expr).doit()
    return sp.expand(out.replace(sp.Piecewise, pick))
