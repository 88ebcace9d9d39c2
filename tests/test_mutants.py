"""Tests written to kill mutants that survived `make mutate` (see tests/MUTATION.md).

Each names the mutant it was written for; it checks behaviour, not the mutated text.
"""
import numpy as np
import pytest
from test_gradients import make_problem, seed_loop

from rnnmath import (GradientCheck, gradient_check, gru_gradients, lstm_gradients, rnn_gradients,
                     rnn_loss, softmax, softmax_jacobian)
from rnnmath.gated import gru_forward, lstm_forward


@pytest.mark.parametrize("back", [1, 2])
def test_truncation_one_or_two_short_of_full(back):
    """_generated.backward: `truncate >= T - 1` picks full BPTT; `>= T - 2` would skip the one
    lag that truncate = T - 2 leaves out."""
    T = 8
    x, y, params = make_problem(5, T=T, s0="shared")
    g = rnn_gradients(x, y, **params, truncate=T - back)
    want = seed_loop(x, y, **params, k=T - back, fprime=None)
    for got, ref in zip((g.dU, g.dW, g.db, g.ds0), want):
        assert np.abs(got - ref).max() <= 1e-12 * np.abs(ref).max()


def test_truncated_batch_is_the_sum_of_its_sequences():
    """_generated.backward: rows per step are B (not H) for a (T, B, H) batch."""
    rng = np.random.default_rng(3)
    T, B, H, D, K = 6, 3, 2, 4, 3
    x, y = rng.integers(0, D, size=(T, B)), rng.integers(0, K, size=(T, B))
    params = dict(U=rng.normal(size=(H, D)), W=rng.normal(size=(H, H)),
                  V=rng.normal(size=(K, H)))
    batch = rnn_gradients(x, y, **params, truncate=2)
    singles = [rnn_gradients(x[:, i], y[:, i], **params, truncate=2) for i in range(B)]
    for name in ("dU", "dW", "db"):
        np.testing.assert_allclose(getattr(batch, name),
                                   sum(getattr(s, name) for s in singles), rtol=1e-12)


def test_gradient_check_text():
    """numeric.GradientCheck.__str__: the exact report, with and without failures."""
    assert str(GradientCheck({})) == "worst relative error per parameter: no parameters"
    check = GradientCheck({"W": 1e-9, "bias": 0.5})
    assert str(check) == ("worst relative error per parameter (worst 5.0e-01)\n"
                          "W     1.0e-09\n"
                          "bias  5.0e-01")
    bad = gradient_check(lambda a: float(a @ a), {"a": np.ones(2)}, {"a": [np.inf, 2.0]})
    assert str(bad) == ("worst relative error per parameter (worst nan)\n"
                        "a  nan  (analytic gradient is inf at index (0,))")


def test_long_id_sequences_scatter_like_one_hot_rows():
    """_generated._scatter_rows: above T * D = 16384 the sorted reduceat branch runs; it must
    give the dense-input gradient of the same one-hot rows."""
    rng = np.random.default_rng(7)
    T, H, D, K = 300, 2, 64, 3
    x, y = rng.integers(0, D, size=T), rng.integers(0, K, size=T)
    params = dict(U=rng.normal(size=(H, D)), W=0.3 * rng.normal(size=(H, H)),
                  V=rng.normal(size=(K, H)))
    ids = rnn_gradients(x, y, **params)
    dense = rnn_gradients(np.eye(D)[x], y, **params)
    np.testing.assert_allclose(ids.dU, dense.dU, rtol=1e-12, atol=1e-14)
    assert np.count_nonzero(ids.dU.any(axis=0)) == len(set(x.tolist()))


def test_gradient_check_is_a_mapping_of_its_errors():
    """numeric.GradientCheck.__iter__: iterating gives the parameter names in order."""
    check = GradientCheck({"W": 1e-9, "b": 2e-9})
    assert list(check) == ["W", "b"] and dict(check) == {"W": 1e-9, "b": 2e-9}


def test_softmax_jacobian_is_diag_p_minus_p_p_transposed():
    """_generated.softmax_jacobian, against its closed form."""
    z = np.array([[0.3, -1.2, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    p = softmax(z)
    want = np.stack([np.diag(r) - np.outer(r, r) for r in p])
    np.testing.assert_allclose(softmax_jacobian(z), want, rtol=1e-14, atol=1e-16)


def test_rnn_loss_uses_every_argument():
    """gradients.rnn_loss: s0 (and the rest) reach the forward pass."""
    x, y, params = make_problem(2, T=5, s0="shared")
    assert np.abs(params["s0"]).max() > 0.1
    assert rnn_loss(x, y, **params) == rnn_gradients(x, y, **params).loss
    assert rnn_loss(x, y, **dict(params, s0=None)) != rnn_loss(x, y, **params)


@pytest.mark.parametrize("cell, G", [("lstm", 4), ("gru", 3)])
def test_gated_forward_with_labels_reports_the_loss(cell, G):
    """gated.gru_forward / lstm_forward: ``y`` is passed on, the loss is the gradients' loss."""
    rng = np.random.default_rng(4)
    H, D, K = 2, 3, 3
    params = dict(weight_ih=rng.normal(size=(G * H, D)), weight_hh=rng.normal(size=(G * H, H)),
                  V=rng.normal(size=(K, H)))
    x, y = [0, 2, 1], [1, 0, 2]
    forward, gradients = {"lstm": (lstm_forward, lstm_gradients),
                          "gru": (gru_forward, gru_gradients)}[cell]
    assert forward(x, params).loss is None
    assert forward(x, params, y=y).loss == gradients(x, y, params).loss > 0
