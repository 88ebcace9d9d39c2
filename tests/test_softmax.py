"""softmax and softmax_jacobian against their definitions and finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rnnmath import numerical_gradient, relative_error, softmax, softmax_jacobian

logits = arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 6)),
                elements=st.floats(-30, 30))


@settings(max_examples=80, deadline=None)
@given(logits)
def test_rows_are_probabilities(z):
    p = softmax(z)
    assert np.all(p >= 0) and np.allclose(p.sum(axis=-1), 1)
    assert np.allclose(p, softmax(z + 123.0))  # invariant to a shift of the logits


@pytest.mark.parametrize("seed", range(5))
def test_jacobian_matches_finite_differences(seed, record_error):
    z = np.random.default_rng(seed).normal(size=6)
    J = softmax_jacobian(z)
    for i in range(6):
        num = numerical_gradient(lambda z: softmax(z)[i], {"z": z}, "z")
        err = relative_error(J[i], num).max()
        record_error("softmax_jacobian vs central differences", err)
        assert err < 1e-7


def test_jacobian_structure():
    J = softmax_jacobian(np.array([[0.1, -2.0, 3.0], [0.0, 0.0, 0.0]]))
    assert J.shape == (2, 3, 3)
    assert np.allclose(J, np.swapaxes(J, -1, -2)) and np.allclose(J.sum(axis=-1), 0)
    assert np.allclose(J[1], np.eye(3) / 3 - 1 / 9)


def test_bad_logits():
    with pytest.raises(ValueError, match="z"):
        softmax(np.array([]))
    with pytest.raises(ValueError, match="finite"):
        softmax([1.0, np.nan])
