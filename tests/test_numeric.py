"""The checking tools themselves: they pass right gradients and fail wrong ones."""
import numpy as np
import pytest

from rnnmath import gradient_check, numerical_gradient, relative_error


def quartic(x):
    return float(np.sum(x**4) + x[0] * x[1])


def test_fourth_order_stencil_is_exact_on_quartics_up_to_rounding():
    x = np.array([0.3, -1.2, 2.0])
    exact = 4 * x**3 + np.array([x[1], x[0], 0.0])
    assert relative_error(numerical_gradient(quartic, {"x": x}, "x"), exact).max() < 1e-10


def test_ignored_entries_are_exactly_zero():
    g = numerical_gradient(lambda a, b: float(a.sum()), {"a": np.ones(2), "b": np.ones(3)}, "b")
    assert np.all(g == 0)


def test_params_are_not_modified():
    x = np.array([0.3, -1.2, 2.0])
    numerical_gradient(quartic, {"x": x}, "x")
    assert np.array_equal(x, [0.3, -1.2, 2.0])


def test_check_flags_a_wrong_gradient():
    x = np.array([0.3, -1.2, 2.0])
    right = 4 * x**3 + np.array([x[1], x[0], 0.0])
    assert gradient_check(quartic, {"x": x}, {"x": right}).worst < 1e-9
    assert gradient_check(quartic, {"x": x}, {"x": 4 * x**3}).worst > 0.1


def test_check_errors():
    with pytest.raises(ValueError, match="grads"):
        gradient_check(quartic, {"x": np.ones(3)}, {"y": np.ones(3)})
    with pytest.raises(ValueError, match=r"grads\['x'\]"):
        gradient_check(quartic, {"x": np.ones(3)}, {"x": np.ones(2)})
    with pytest.raises(ValueError, match="h"):
        numerical_gradient(quartic, {"x": np.ones(3)}, "x", h=0)


def test_fortran_ordered_and_sliced_parameters():
    x = np.asfortranarray(np.arange(1.0, 7.0).reshape(2, 3) / 7)
    f = lambda x: float(np.sum(x**3))  # noqa: E731
    for arr in (x, np.arange(12.0).reshape(3, 4)[:, 1:3] / 5):
        g = numerical_gradient(f, {"x": arr}, "x")
        assert relative_error(g, 3 * arr**2).max() < 1e-10
