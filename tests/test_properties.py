"""Properties on random shapes and seeds (hypothesis)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmath import rnn_forward, rnn_gradients

FIELDS = ("dU", "dW", "dV", "db", "dc")


@st.composite
def problems(draw, batched=True):
    T, B = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    D, H, K = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = dict(U=rng.normal(size=(H, D)), W=0.7 * rng.normal(size=(H, H)),
                  V=rng.normal(size=(K, H)), b=rng.normal(size=H), c=rng.normal(size=K))
    if draw(st.booleans()):
        x = rng.integers(0, D, size=(T, B))
    else:
        x = rng.normal(size=(T, B, D))
    if draw(st.booleans()):
        y = rng.integers(0, K, size=(T, B))
    else:
        y = rng.random(size=(T, B, K))
    s0 = rng.normal(size=(B, H))
    activation = draw(st.sampled_from(["tanh", "relu"]))
    return x, y, params, s0, activation


def close(a, b):
    return np.allclose(a, b, rtol=1e-10, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_batch_equals_sum_of_single_sequences(problem):
    x, y, params, s0, act = problem
    g = rnn_gradients(x, y, **params, s0=s0, activation=act)
    singles = [rnn_gradients(x[:, i], y[:, i], **params, s0=s0[i], activation=act)
               for i in range(x.shape[1])]
    for name in FIELDS:
        assert close(getattr(g, name), sum(getattr(s, name) for s in singles)), name
    assert np.isclose(g.loss, sum(s.loss for s in singles), rtol=1e-12)
    assert close(g.ds0, np.stack([s.ds0 for s in singles]))


@settings(max_examples=60, deadline=None)
@given(problems(), st.integers(0, 10))
def test_truncation_at_or_beyond_T_minus_1_is_full_bptt(problem, extra):
    x, y, params, s0, act = problem
    T = x.shape[0]
    full = rnn_gradients(x, y, **params, s0=s0, activation=act)
    cut = rnn_gradients(x, y, **params, s0=s0, activation=act, truncate=T - 1 + extra)
    for name in FIELDS + ("ds0",):
        assert close(getattr(full, name), getattr(cut, name)), name


@settings(max_examples=60, deadline=None)
@given(problems(), st.integers(0, 5))
def test_bias_c_gradient_is_the_sum_of_output_errors(problem, k):
    x, y, params, s0, act = problem
    g = rnn_gradients(x, y, **params, s0=s0, activation=act, truncate=k)
    out = rnn_forward(x, **params, s0=s0, activation=act)
    Y = np.eye(params["V"].shape[0])[y] if y.dtype.kind == "i" else y
    delta_o = out.probs * Y.sum(axis=-1, keepdims=True) - Y
    assert close(g.dc, delta_o.sum(axis=(0, 1)))
    if y.dtype.kind == "i":  # label rows sum to one: the familiar yhat - y
        assert close(g.dc, (out.probs - Y).sum(axis=(0, 1)))


@settings(max_examples=40, deadline=None)
@given(problems())
def test_ids_equal_their_one_hot_rows(problem):
    x, y, params, s0, act = problem
    if x.dtype.kind != "i":
        x = np.argmax(x, axis=-1)
    dense = np.eye(params["U"].shape[1])[x]
    a = rnn_gradients(x, y, **params, s0=s0, activation=act)
    b = rnn_gradients(dense, y, **params, s0=s0, activation=act)
    for name in FIELDS + ("ds0",):
        assert close(getattr(a, name), getattr(b, name)), name


@settings(max_examples=40, deadline=None)
@given(problems(), st.sampled_from(["softmax", "sigmoid"]), st.integers(0, 2**32 - 1))
def test_masked_batch_equals_sum_of_masked_singles(problem, output, seed):
    x, y, params, s0, act = problem
    if output == "sigmoid" and y.dtype.kind != "i":
        y = np.minimum(y, 1.0)
    mask = np.random.default_rng(seed).random(x.shape[:2])
    g = rnn_gradients(x, y, **params, s0=s0, activation=act, output=output, mask=mask)
    singles = [rnn_gradients(x[:, i], y[:, i], **params, s0=s0[i], activation=act,
                             output=output, mask=mask[:, i]) for i in range(x.shape[1])]
    for name in FIELDS:
        assert close(getattr(g, name), sum(getattr(s, name) for s in singles)), name
    assert np.isclose(g.loss, sum(s.loss for s in singles), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(problems(), st.sampled_from(["softmax", "sigmoid"]))
def test_mask_of_ones_is_no_mask_and_zeros_give_zero(problem, output):
    x, y, params, s0, act = problem
    if output == "sigmoid" and y.dtype.kind != "i":
        y = np.minimum(y, 1.0)
    plain = rnn_gradients(x, y, **params, s0=s0, activation=act, output=output)
    ones = rnn_gradients(x, y, **params, s0=s0, activation=act, output=output,
                         mask=np.ones(x.shape[:2]))
    zeros = rnn_gradients(x, y, **params, s0=s0, activation=act, output=output,
                          mask=np.zeros(x.shape[:2]))
    for name in FIELDS + ("ds0",):
        assert close(getattr(plain, name), getattr(ones, name)), name
        assert not np.any(getattr(zeros, name)), name
    assert zeros.loss == 0.0


@settings(max_examples=40, deadline=None)
@given(problems())
def test_sigmoid_bias_gradient_is_the_sum_of_prediction_minus_label(problem):
    x, y, params, s0, act = problem
    Y = np.eye(params["V"].shape[0])[y] if y.dtype.kind == "i" else np.minimum(y, 1.0)
    g = rnn_gradients(x, Y, **params, s0=s0, activation=act, output="sigmoid")
    p = rnn_forward(x, **params, s0=s0, activation=act, output="sigmoid").probs
    assert close(g.dc, (p - Y).sum(axis=(0, 1)))
