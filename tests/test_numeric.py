"""The checking tools themselves: they pass right gradients and fail wrong ones."""
import math

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


# -- a checker that cannot lie -------------------------------------------------------------------
def test_worst_is_the_largest_error_not_the_smallest():
    f = lambda x, z: quartic(x) + quartic(z)  # noqa: E731
    x = np.array([0.3, -1.2, 2.0])
    exact = 4 * x**3 + np.array([x[1], x[0], 0.0])
    check = gradient_check(f, {"x": x, "z": x.copy()}, {"x": exact, "z": 1.5 * exact})
    assert check["x"] < 1e-9 and check["z"] > 0.3
    assert check.worst == max(check["x"], check["z"]) == check["z"]
    # and in the other order, so that neither "first" nor "last" can stand in for "largest"
    check = gradient_check(f, {"z": x.copy(), "x": x}, {"z": 1.5 * exact, "x": exact})
    assert check.worst == check["z"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("first", [True, False])
def test_a_non_finite_analytic_gradient_never_passes(bad, first):
    """Python's max() drops a NaN that is not first; the check must not."""
    f = lambda a, b: float(np.sum(a**2) + np.sum(b**2))  # noqa: E731
    params = {"a": np.array([1.0, 2.0]), "b": np.array([0.5, -1.0])}
    good, broken = 2 * params["a"], np.array([bad, -2.0])
    grads = {"b": broken, "a": good} if first else {"a": good, "b": broken}
    check = gradient_check(f, params, grads)
    assert check["a"] < 1e-9
    assert np.isnan(check["b"]) and np.isnan(check.worst)
    assert not check.worst < 1e-7
    text = str(check)
    assert "nan" in text and "analytic gradient" in text and "index (0,)" in text


def test_a_numerical_gradient_that_cannot_be_formed_is_a_failure():
    f = lambda a: math.inf if a[0] > 0.0015 else float(a[0])  # noqa: E731  (inf at +2h)
    check = gradient_check(f, {"a": np.array([0.0])}, {"a": np.array([1.0])})
    assert np.isnan(check.worst) and "numerical gradient failed" in str(check)


def test_empty_grads_is_an_error():
    with pytest.raises(ValueError, match="grads: expected a non-empty mapping"):
        gradient_check(quartic, {"x": np.ones(3)}, {})


def test_relative_error_is_overflow_safe():
    assert float(relative_error(1e308, -1e308)) == 2.0
    assert float(relative_error(-1.7e308, 1.7e308)) == 2.0
    assert float(relative_error(1e308, 0.5e308)) == 0.5
    assert float(relative_error(0.0, 0.0, tiny=1e-300)) == 0.0


def test_relative_error_of_non_finite_values_is_nan():
    out = relative_error([np.nan, np.inf, 1.0, np.inf], [1.0, 1.0, -np.inf, np.inf])
    assert np.isnan(out).all()


@pytest.mark.parametrize("tiny", [0, -1e-300, np.nan, np.inf, "1e-300", None, np.ones(2)])
def test_relative_error_refuses_a_bad_tiny(tiny):
    with pytest.raises(ValueError, match="tiny"):
        relative_error(1.0, 2.0, tiny=tiny)


@pytest.mark.parametrize("h", [0, -1e-3, np.inf, np.nan, "0.001", None, np.array([1e-3]), 1j,
                               True])
def test_numerical_gradient_refuses_a_bad_step(h):
    with pytest.raises(ValueError, match="h: expected a finite real step > 0"):
        numerical_gradient(quartic, {"x": np.ones(3)}, "x", h=h)


@pytest.mark.parametrize("ret, kind", [
    (lambda x: None, ValueError), (lambda x: x, ValueError), (lambda x: "1.0", ValueError),
    (lambda x: complex(x[0]), ValueError), (lambda x: float("nan"), FloatingPointError),
    (lambda x: float("inf"), FloatingPointError)])
def test_f_must_return_a_finite_real_scalar(ret, kind):
    with pytest.raises(kind, match="f"):
        numerical_gradient(ret, {"x": np.ones(3)}, "x")


def test_complex_parameters_are_refused_not_truncated():
    with pytest.raises(ValueError, match=r"params\['x'\]"):
        numerical_gradient(lambda x: float(np.abs(x).sum()), {"x": np.array([1 + 2j])}, "x")
    with pytest.raises(ValueError, match=r"grads\['x'\]"):
        gradient_check(quartic, {"x": np.ones(3)}, {"x": np.ones(3) * 1j})


def test_longdouble_values_are_used_as_returned():
    f = lambda x: np.longdouble(x[0]) ** 2  # noqa: E731
    g = numerical_gradient(f, {"x": np.array([1.5])}, "x")
    assert abs(g[0] - 3.0) < 1e-12
