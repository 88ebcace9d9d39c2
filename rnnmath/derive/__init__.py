"""SymPy derivations: each is a :class:`~rnnmath.derive.steps.Derivation` the site renders.

Importing this package imports SymPy; the gradient functions in :mod:`rnnmath` never do.
"""
from __future__ import annotations

from . import cells, dynamics, gru, lstm, vector
from .activation import activation
from .rnn import hidden_layer, jacobian_products, output_layer, truncated, vector_forms
from .outputs import (sigmoid_cross_entropy, softmax_binary_cross_entropy, stable_cross_entropy,
                      step_mask)
from .softmax import cross_entropy, jacobian
from .steps import Derivation, Step

__all__ = ["Derivation", "Step", "derivations"]


def derivations() -> dict[str, Derivation]:
    """Every derivation by key (``"softmax"``, ``"rnn.hidden"``, ...), in reading order."""
    found = [jacobian(), cross_entropy(), stable_cross_entropy(), output_layer(), hidden_layer(), vector_forms(),
             jacobian_products(), truncated(), activation("tanh"), activation("relu"),
             sigmoid_cross_entropy(), softmax_binary_cross_entropy(), step_mask(),
             *lstm.derivations(), *gru.derivations(), *vector.derivations()]
    found += dynamics.derivations()
    # The engine's derivation of every built-in cell and of the page's own cells ("cell.lstm").
    found += [c.derivation() for c in (*cells.builtin().values(), *cells.examples().values())]
    return {d.key: d for d in found}
