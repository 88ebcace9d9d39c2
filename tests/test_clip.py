"""Gradient clipping: kinds of input and output, properties on random gradients (hypothesis),
the gradient check that must target the unclipped gradient, the derivation, validation."""
import math
from collections import OrderedDict
from types import MappingProxyType

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from longdouble import reference_loss

from rnnmath import (RNNGradients, clip_elementwise, clip_global_norm, global_norm,
                     gradient_check, gradient_cosine, rnn_gradients, rnn_loss)
from rnnmath.derive import derivations

FIELDS = ("dU", "dW", "dV", "db", "dc", "ds0")


def exploding(T=12, H=5, D=4, K=3, rho=3.0, seed=0):
    """A tanh network whose W has spectral radius ``rho``: its gradient has large entries."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(H, H))
    W *= rho / np.abs(np.linalg.eigvals(W)).max()
    params = dict(U=rng.normal(size=(H, D)), W=W, V=2 * rng.normal(size=(K, H)),
                  b=0.1 * rng.normal(size=H), c=np.zeros(K), s0=0.1 * rng.normal(size=H))
    x, y = rng.integers(0, D, size=T), rng.integers(0, K, size=T)
    return x, y, params


def flat(g):
    arrays = g.as_dict() if isinstance(g, RNNGradients) else g
    return np.concatenate([np.ravel(v) for v in arrays.values()])


@pytest.fixture(scope="module")
def example():
    x, y, params = exploding()
    return x, y, params, rnn_gradients(x, y, **params)


# --- kinds of input and output ----------------------------------------------------------------

def test_rnn_gradients_in_rnn_gradients_out(example):
    *_, g = example
    before = {f: getattr(g, f).copy() for f in FIELDS}
    for clipped in (clip_elementwise(g, 1.0), clip_global_norm(g, 1.0)[0]):
        assert isinstance(clipped, RNNGradients)
        assert clipped.loss == g.loss                       # the loss is not a gradient
        for f in FIELDS:
            assert getattr(clipped, f).shape == getattr(g, f).shape
            assert not np.shares_memory(getattr(clipped, f), getattr(g, f))
            assert np.array_equal(getattr(g, f), before[f])  # input untouched


def test_elementwise_is_np_clip_and_global_is_one_scale(example):
    *_, g = example
    assert global_norm(g) > 5                               # both rules are active below
    clipped = clip_elementwise(g, 5.0)
    for f in FIELDS:
        assert np.array_equal(getattr(clipped, f), np.clip(getattr(g, f), -5, 5))
    scaled, norm = clip_global_norm(g, 5.0)
    assert norm == global_norm(g)
    assert np.isclose(norm, np.linalg.norm(flat(g)), rtol=1e-14)
    for f in FIELDS:
        assert np.allclose(getattr(scaled, f), getattr(g, f) * 5.0 / norm, rtol=1e-15, atol=0)


def test_below_the_threshold_nothing_changes_but_arrays_are_new(example):
    *_, g = example
    clipped, norm = clip_global_norm(g, 2 * global_norm(g))
    clamped = clip_elementwise(g, 2 * np.abs(flat(g)).max())
    for result in (clipped, clamped):
        for f in FIELDS:
            assert np.array_equal(getattr(result, f), getattr(g, f))
            assert not np.shares_memory(getattr(result, f), getattr(g, f))


@pytest.mark.parametrize("kind", [dict, OrderedDict])
def test_dicts_keep_their_type(kind):
    g = kind(W=np.array([[6.0, -1.0]]), b=np.array([-8.0]))
    for clipped in (clip_elementwise(g, 5), clip_global_norm(g, 5)[0]):
        assert type(clipped) is kind and list(clipped) == ["W", "b"]


def test_other_mappings_give_a_dict_and_integer_arrays_become_float():
    g = MappingProxyType({"W": np.array([[6, 0]]), "b": np.array([-8])})
    clipped = clip_elementwise(g, 5)
    assert type(clipped) is dict and clipped["W"].dtype == np.float64
    assert clipped["W"].tolist() == [[5.0, 0.0]]
    assert global_norm(g) == 10.0


def test_huge_and_tiny_gradients_have_finite_norms():
    big = {"W": np.full((2, 2), 1e200)}
    assert global_norm(big) == pytest.approx(2e200)
    clipped, norm = clip_global_norm(big, 1.0)
    assert norm == pytest.approx(2e200) and global_norm(clipped) <= 1.0
    assert gradient_cosine(big, clipped) == pytest.approx(1.0, abs=1e-15)
    assert global_norm({"W": np.full(4, 1e-200)}) == pytest.approx(2e-200)


def test_gated_results_are_clipped_field_by_field():
    # Any frozen dataclass result of the package: array fields clipped, the rest kept.
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Result:
        loss: float
        dA: np.ndarray
        dB: np.ndarray
        extra: object = None

    r = Result(3.0, np.array([10.0, -10.0]), np.array([1.0]), "kept")
    c = clip_elementwise(r, 2)
    assert isinstance(c, Result) and c.loss == 3.0 and c.extra == "kept"
    assert c.dA.tolist() == [2.0, -2.0] and c.dB.tolist() == [1.0]


# --- gradient checks target the unclipped gradient --------------------------------------------

def test_gradient_check_passes_unclipped_and_fails_clipped(example, record_error):
    x, y, params, g = example
    loss = lambda **p: rnn_loss(x, y, **p)  # noqa: E731
    # The exploding loss is large and strongly curved: differences of the extended-precision
    # reference loss with a small step keep both rounding and truncation below 1e-7.
    exact = gradient_check(lambda **p: reference_loss(x, y, **p), params, g.as_dict(), h=1e-5)
    record_error("clip: gradient_check of the unclipped gradient", exact.worst)
    assert exact.worst < 1e-7
    for clipped in (clip_elementwise(g, 5.0), clip_global_norm(g, 5.0)[0]):
        assert gradient_check(loss, params, clipped.as_dict(), h=1e-5).worst > 0.1


# --- properties (hypothesis) ------------------------------------------------------------------

@st.composite
def gradients(draw):
    """A dict of 1 to 4 arrays of random shapes; entries of widely varying magnitude."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 4))
    scale = 10.0 ** draw(st.integers(-3, 8))
    out = {}
    for i in range(n):
        shape = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=2)))
        out[f"p{i}"] = scale * rng.standard_cauchy(size=shape)  # heavy tails: a few large entries
    return out


thresholds = st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(gradients(), thresholds)
def test_global_norm_clipping_properties(g, max_norm):
    before = {k: v.copy() for k, v in g.items()}
    clipped, norm = clip_global_norm(g, max_norm)
    assert global_norm(clipped) <= max_norm                       # exactly, no tolerance
    assert math.isclose(norm, np.linalg.norm(flat(g)), rel_tol=1e-12)
    if norm > 0:
        assert gradient_cosine(clipped, g) == pytest.approx(1.0, abs=1e-12)
    if norm <= max_norm:
        assert all(np.array_equal(clipped[k], g[k]) for k in g)
    again, norm_again = clip_global_norm(clipped, max_norm)       # idempotent
    assert all(np.array_equal(again[k], clipped[k]) for k in g)
    assert norm_again == global_norm(clipped)
    assert all(np.array_equal(g[k], before[k]) for k in g)          # no mutation
    assert not any(np.shares_memory(clipped[k], g[k]) for k in g)


@settings(max_examples=200, deadline=None)
@given(gradients(), thresholds)
def test_elementwise_clipping_properties(g, limit):
    before = {k: v.copy() for k, v in g.items()}
    clipped = clip_elementwise(g, limit)
    assert all((np.abs(clipped[k]) <= limit).all() for k in g)
    inside = {k: np.abs(g[k]) <= limit for k in g}
    assert all(np.array_equal(clipped[k][inside[k]], g[k][inside[k]]) for k in g)
    assert all((np.sign(clipped[k]) == np.sign(g[k])).all() for k in g)   # never flips a sign
    again = clip_elementwise(clipped, limit)                               # idempotent
    assert all(np.array_equal(again[k], clipped[k]) for k in g)
    assert all(np.array_equal(g[k], before[k]) for k in g)                 # no mutation
    assert not any(np.shares_memory(clipped[k], g[k]) for k in g)


@settings(max_examples=100, deadline=None)
@given(gradients(), thresholds)
def test_elementwise_keeps_direction_only_when_inactive_or_uniform(g, limit):
    clipped = clip_elementwise(g, limit)
    if global_norm(g) == 0:
        return
    cos = gradient_cosine(clipped, g)
    assert 0 < cos <= 1
    if all((np.abs(v) <= limit).all() for v in g.values()):
        assert cos == pytest.approx(1.0, abs=1e-12)


# --- the derivation ---------------------------------------------------------------------------

def test_derived_rules_match_the_functions():
    steps = derivations()["clip"]
    i = sp.Symbol("i", integer=True, positive=True)
    g_i = sp.IndexedBase("g", real=True)[i]
    lam = sp.Symbol(r"\lambda", positive=True)                # the elementwise limit
    rule = sp.lambdify((g_i, lam), steps["elementwise"].expr.rhs)
    values = np.array([-7.0, -5.0, -0.5, 0.0, 3.0, 5.0, 12.0])
    assert [rule(v, 5.0) for v in values] == clip_elementwise({"g": values}, 5.0)["g"].tolist()

    gamma, n = sp.Symbol(r"\gamma", positive=True), sp.Symbol(r"\lVert g\rVert", positive=True)
    norm_rule = sp.lambdify((n, gamma), steps["norm"].expr.rhs)
    for g in ({"g": np.array([30.0, 40.0])}, {"g": np.array([0.3, 0.4])}):
        clipped, norm = clip_global_norm(g, 5.0)
        assert global_norm(clipped) == pytest.approx(norm_rule(norm, 5.0), rel=1e-15)
        scale = steps["global"].expr.rhs.args[0]            # min(1, gamma/||g||), the factor
        assert np.allclose(clipped["g"], float(scale.subs({n: norm, gamma: 5.0})) * g["g"])
    assert steps["cosine"].expr.rhs == 1


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "5", True, None,
                                 np.array([5.0])])
def test_thresholds_must_be_finite_positive_numbers(bad):
    g = {"W": np.ones(2)}
    with pytest.raises(ValueError, match=r"limit: expected a finite number > 0, got"):
        clip_elementwise(g, bad)
    with pytest.raises(ValueError, match=r"max_norm: expected a finite number > 0, got"):
        clip_global_norm(g, bad)


@pytest.mark.parametrize("bad, words", [
    ([np.ones(2)], ["grads", "RNNGradients or a mapping", "got list"]),
    (np.ones(2), ["grads", "got ndarray"]),
    ({"W": np.array([1.0, np.inf])}, ["grads['W']", "finite", "inf at index (1,)"]),
    ({"W": np.array([1.0, np.nan])}, ["grads['W']", "finite"]),
    ({"W": np.array(["a"])}, ["grads['W']", "real"]),
    ({"W": np.zeros(2, complex)}, ["grads['W']", "real"]),
])
def test_bad_gradients_name_the_entry(bad, words):
    for call in (lambda: clip_elementwise(bad), lambda: clip_global_norm(bad, 1.0),
                 lambda: global_norm(bad)):
        with pytest.raises(ValueError) as err:
            call()
        for word in words:
            assert word in str(err.value), str(err.value)


def test_bad_rnn_gradients_field_is_named(example):
    *_, g = example
    from dataclasses import replace
    broken = replace(g, dW=np.full_like(g.dW, np.nan))
    with pytest.raises(ValueError, match=r"grads\.dW: expected finite values only"):
        clip_elementwise(broken)


def test_cosine_validation():
    a = {"W": np.ones(2)}
    with pytest.raises(ValueError, match=r"b: expected the names of a, \['W'\], got \['V'\]"):
        gradient_cosine(a, {"V": np.ones(2)})
    with pytest.raises(ValueError, match=r"b\['W'\]: expected shape \(2,\) as in a, got \(3,\)"):
        gradient_cosine(a, {"W": np.ones(3)})
    with pytest.raises(ValueError, match=r"b: expected a nonzero gradient"):
        gradient_cosine(a, {"W": np.zeros(2)})
