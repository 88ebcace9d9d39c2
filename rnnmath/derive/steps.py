"""Derivations as data: a named sequence of SymPy steps that the site renders and codegen reads."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy as sp


@dataclass(frozen=True)
class Step:
    """One line of a derivation.

    Parameters
    ----------
    name : str
        Short identifier, unique within its derivation (``"chain_rule"``).
    caption : str
        One sentence of prose saying what this step does (Markdown, may hold ``$...$``).
    expr : sympy.Basic
        The step itself, usually a ``sympy.Eq``.
    result : bool
        True for a result formula: the site must follow it with a "check it yourself" doctest.
    """

    name: str
    caption: str
    expr: sp.Basic
    result: bool = False

    @property
    def latex(self) -> str:
        """The step as the site prints it (:mod:`rnnmath.derive.latex`: factor order, ``\\odot``,
        Iverson brackets for Kronecker deltas, one subscript style)."""
        from .latex import latex  # imported here: latex.py imports nothing of the derivations
        return latex(self.expr)


@dataclass(frozen=True)
class Derivation:
    """A titled, ordered list of steps; the last result step is what the code generator prints."""

    key: str
    title: str
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"derivation {self.key!r} has no step {name!r}; "
                       f"steps are {[s.name for s in self.steps]}")

    @property
    def results(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.result)

    def fit_a_phone(self) -> Derivation:
        """The same derivation with every equation printed to fit a phone's column
        (:func:`rnnmath.derive.latex.fit`: broken only where too wide); the expressions,
        their ``lhs`` and ``rhs``, are unchanged."""
        from .latex import fit
        return replace(self, steps=tuple(replace(s, expr=fit(s.expr)) for s in self.steps))

    def latex(self) -> str:
        """All steps as one aligned LaTeX block (for notebooks and quick looks)."""
        return "\n".join(f"% {s.caption}\n{s.latex}" for s in self.steps)
