"""rnnmath: RNN gradients derived with SymPy, generated as NumPy, checked by finite differences.

Importing :mod:`rnnmath` loads NumPy only; the derivations live in :mod:`rnnmath.derive`
(SymPy) and are imported on demand.
"""
from . import cells, heads
from .clip import clip_elementwise, clip_global_norm, global_norm, gradient_cosine
from .dynamics import state_jacobian_norms
from .gated import GatedGradients, gru_gradients, lstm_gradients
from .gradients import RNNForward, RNNGradients, rnn_forward, rnn_gradients, rnn_loss
from .numeric import GradientCheck, gradient_check, numerical_gradient, relative_error
from .softmax import softmax, softmax_jacobian

__all__ = [
    "cells",
    "heads",
    "GatedGradients",
    "GradientCheck",
    "RNNForward",
    "RNNGradients",
    "clip_elementwise",
    "clip_global_norm",
    "global_norm",
    "gradient_check",
    "gradient_cosine",
    "gru_gradients",
    "lstm_gradients",
    "numerical_gradient",
    "relative_error",
    "rnn_forward",
    "rnn_gradients",
    "rnn_loss",
    "softmax",
    "softmax_jacobian",
    "state_jacobian_norms",
]
__version__ = "0.1.0"
