"""Sigmoid outputs, softmax with binary cross-entropy, and step masks."""
import numpy as np
import sympy as sp

from rnnmath import numerical_gradient, relative_error, softmax
from rnnmath.derive import outputs


def test_sigmoid_result_is_the_derivative():
    d = outputs.sigmoid_cross_entropy()
    raw = d["derivative"].expr.rhs
    result = d["result"].expr.rhs.subs(outputs.yhat, 1 / (1 + sp.exp(-outputs.z)))
    assert sp.simplify(raw - result) == 0


def test_stable_loss_equals_definition():
    """Equal at 50 digits; in float64 the definition itself loses digits at large |z|."""
    d = outputs.sigmoid_cross_entropy()
    gap = d["loss"].expr.rhs - d["stable"].expr.rhs
    for z in (-20, -1.5, 0, 0.7, 20):
        value = gap.subs({outputs.z: sp.Rational(z), outputs.y: sp.Rational(3, 10)})
        assert abs(sp.N(value, 50)) < 1e-40


def test_softmax_bce_is_not_prediction_minus_label():
    """Two classes: exactly twice yhat - y; three classes: not a multiple of it."""
    d = outputs.softmax_binary_cross_entropy()
    assert sp.simplify(d["one_hot"].expr.rhs - 2 * (sp.Symbol(r"\hat{y}_{1}") - sp.Symbol("y_1", real=True))) == 0
    z, y = np.array([0.3, -1.0, 0.8]), np.array([0.0, 0.0, 1.0])

    def bce(z):
        p = softmax(z)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())

    g = numerical_gradient(bce, {"z": z}, "z")
    ratio = g / (softmax(z) - y)
    assert np.ptp(ratio) > 0.3                      # no single factor relates them
    assert relative_error(g, softmax(z) - y).max() > 0.3
