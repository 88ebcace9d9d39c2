"""Tests written to kill mutants that survived `make mutate` (see tests/MUTATION.md).

Each names the mutant it was written for; it checks behaviour, not the mutated text.
"""
import numpy as np
import pytest
from test_gradients import make_problem, seed_loop

from rnnmath import GradientCheck, gradient_check, rnn_gradients


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
