r"""Activations and their derivatives, rewritten in terms of the state :math:`s = f(a)`.

The backward pass never needs the pre-activation :math:`a`: both derivatives can be read off the
stored state, which is what the generated code does.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from .steps import Derivation, Step

a, s = sp.symbols("a s", real=True)
ACTIVATIONS = {
    "tanh": sp.tanh(a),
    "relu": sp.Max(0, a),
}


@cache
def activation(name: str) -> Derivation:
    """Derivative of activation ``name`` as a function of its output ``s``."""
    f = ACTIVATIONS[name]
    # SymPy leaves relu'(0) = Heaviside(0) at 1/2; we fix it at 0 (PyTorch's choice), so the
    # printed kernel (s > 0) and the rendered formula say the same thing at the kink.
    fp = sp.diff(f, a).replace(lambda e: isinstance(e, sp.Heaviside),
                               lambda e: sp.Heaviside(e.args[0], 0).rewrite(sp.Piecewise))
    if name == "tanh":
        in_s, why = fp.subs(sp.tanh(a), s), r"Substitute $s = \tanh a$."
    else:
        # Heaviside(a) = [a > 0] and a > 0 exactly when s = max(0, a) > 0; the kink at a = 0
        # gets derivative 0 (printed as s > 0), PyTorch's convention.
        in_s, why = fp.subs(a, s), r"$a > 0$ exactly when $s = \max(0, a) > 0$; at $a = 0$ we take 0."
    sym = sp.Symbol(f"\\operatorname{{{name}}}'(a)")
    return Derivation(f"activation.{name}", f"{name} and its derivative", (
        Step("definition", f"The {name} activation.", sp.Eq(sp.Symbol("s"), f)),
        Step("derivative", "Differentiate.", sp.Eq(sym, fp)),
        Step("in_state", why, sp.Eq(sym, in_s), result=True),
    ))
