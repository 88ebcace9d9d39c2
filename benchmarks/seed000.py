"""Seed 000's BPTT, made runnable and otherwise left as written.

The seed gives ``bptt`` for a tanh RNN without biases, over one sequence of token ids, with the
classic ``bptt_truncate`` semantics: output ``t`` sends its error back through steps
``t, t-1, ..., max(0, t - bptt_truncate)`` (at most ``bptt_truncate + 1`` terms), one outer
product per (output, step) pair.  Changes, and only these:

* ``delta_o[np.arange(len(y)), y) -= 1`` is a syntax error; the bracket is closed as intended.
* ``delta_o = o`` aliases the probabilities and then subtracts the labels from them in place.
  Nothing reads ``o`` afterwards, so the result is the same, but the function would silently
  corrupt a caller's ``o``; here it takes a copy (one ``(T, K)`` copy, negligible in the timing).
* The seed does not show ``forward_propagation``; this is the one its ``bptt`` relies on:
  ``s`` has ``T + 1`` rows and ``s[-1]`` stays the zero state, so ``s[t - 1]`` for ``t = 0`` and
  ``s[bptt_step - 1]`` for ``bptt_step = 0`` read :math:`s_0 = 0`.  Softmax is the usual
  max-shifted one.  It takes ``(x)``; the seed's call ``forward_propagation(x, y)`` passes a
  label sequence the forward pass never needs.

No biases are added: the benchmark calls :func:`rnnmath.rnn_gradients` without ``b``, ``c`` or
``s0`` (zeros), and compares ``dU``, ``dV``, ``dW``, the three gradients the seed returns.
"""
from __future__ import annotations

import numpy as np


def softmax(x):
    xt = np.exp(x - np.max(x))
    return xt / np.sum(xt)


class RNNNumpy:
    def __init__(self, U, V, W, bptt_truncate=4):
        self.U, self.V, self.W = U, V, W
        self.hidden_dim, self.word_dim = W.shape[0], U.shape[1]
        self.bptt_truncate = bptt_truncate

    def forward_propagation(self, x):
        T = len(x)
        s = np.zeros((T + 1, self.hidden_dim))
        s[-1] = np.zeros(self.hidden_dim)
        o = np.zeros((T, self.V.shape[0]))
        for t in np.arange(T):
            s[t] = np.tanh(self.U[:, x[t]] + self.W.dot(s[t - 1]))
            o[t] = softmax(self.V.dot(s[t]))
        return [o, s]

    def bptt(self, x, y):
        T = len(y)
        o, s = self.forward_propagation(x)
        dLdU = np.zeros(self.U.shape)
        dLdV = np.zeros(self.V.shape)
        dLdW = np.zeros(self.W.shape)
        delta_o = o.copy()
        delta_o[np.arange(len(y)), y] -= 1
        for t in np.arange(T)[::-1]:
            dLdV += np.outer(delta_o[t], s[t].T)
            delta_t = self.V.T.dot(delta_o[t]) * (1 - (s[t] ** 2))
            for bptt_step in np.arange(max(0, t - self.bptt_truncate), t + 1)[::-1]:
                dLdW += np.outer(delta_t, s[bptt_step - 1])
                dLdU[:, x[bptt_step]] += delta_t
                delta_t = self.W.T.dot(delta_t) * (1 - s[bptt_step - 1] ** 2)
        return [dLdU, dLdV, dLdW]


def gradients(x, y, U, W, V, truncate=None):
    """``(dU, dW, dV)`` in rnnmath's order; ``truncate=None`` is full BPTT."""
    model = RNNNumpy(U, V, W, bptt_truncate=len(y) if truncate is None else truncate)
    dU, dV, dW = model.bptt(x, y)
    return dU, dW, dV


def forward(x, U, W, V):
    """``(o, s)`` as the seed's forward pass returns them (``s[-1]`` is the zero state)."""
    return RNNNumpy(U, V, W).forward_propagation(x)
