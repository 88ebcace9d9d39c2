"""Non-finite results never pass silently: a FloatingPointError names the quantity and the step.

pytest turns every RuntimeWarning into an error (pyproject), so these tests also show that no
NumPy warning leaks out of the public functions.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmath import gradients as _gradients
from rnnmath import gru_gradients, lstm_gradients, rnn_forward, rnn_gradients, rnn_loss, softmax
from rnnmath.gated import gru_forward, lstm_forward


def exploding(T=700, gain=3.0, H=3):
    """A ReLU RNN whose states grow by ``gain`` per step from s_1 = 1: s_t = gain^(t-1)."""
    U, W, V = np.ones((H, 1)), gain * np.eye(H), np.ones((2, H)) / H
    x = np.array([[1.0]] + [[0.0]] * (T - 1))
    return x, np.zeros(T, dtype=int), U, W, V


@pytest.mark.parametrize("call", [rnn_loss, rnn_gradients])
def test_relu_with_w_3i_over_700_steps_names_the_first_overflowing_step(call):
    x, y, U, W, V = exploding()
    # s_t = 3^(t-1) first exceeds the float64 maximum (1.8e308) at t - 1 = 647
    first = 1 + int(np.ceil(np.log(np.finfo(float).max) / np.log(3.0)))
    with pytest.raises(FloatingPointError, match=rf"states s_t .* step t = {first}\b"):
        call(x, y, U, W, V, activation="relu")


def test_logits_overflow_before_the_states_do():
    x, y, U, W, V = exploding(T=600)
    with pytest.raises(FloatingPointError, match=r"logits z_t .* step t = \d+"):
        rnn_forward(x, U, W, V * 1e300, activation="relu")


def test_a_loss_that_overflows_is_an_error_not_inf():
    H = 2
    p = dict(U=np.zeros((H, 1)), W=np.zeros((H, H)), V=np.zeros((2, H)))
    with pytest.raises(FloatingPointError, match="loss is inf"):
        rnn_loss([0], [1], **p, c=np.array([1e308, -1e308]))
    with pytest.raises(FloatingPointError, match="loss is inf"):
        rnn_loss([0, 0], [1, 1], **p, c=np.array([1e3, 0.0]), mask=[1e306, 1e306])
    with pytest.raises(FloatingPointError, match=r"dE/dz_t .* step t = 1\b"):  # sum y = 2e308
        rnn_gradients([0], np.array([[1e308, 1e308]]), **p, c=np.array([0.0, 1.0]))
    # the label that wins costs nothing, however large the logits: finite, exactly 0
    assert rnn_loss([0], [0], **p, c=np.array([1e308, -1e308])) == 0.0


def test_exploding_gradients_name_the_step_of_the_backward_pass():
    """States grow 1e3-fold from 1e-300 and stay finite; the errors grow as much going back."""
    H, T = 2, 200
    U, V = np.ones((H, 1)) * 1e-3, np.eye(H)
    W = 1e3 * np.eye(H)
    x = np.zeros((T, 1))
    # dE/dz_t is about 1/2 at every step (V = I, tiny states), so |delta_t| is about
    # 1e3^(T - t) / 2: beyond float64 first at the lag below, and at every earlier step after
    # it; the backward pass names the step where it stopped being finite, T - lag, not t = 1.
    lag = math.ceil((math.log10(2) + math.log10(np.finfo(float).max)) / 3)
    with pytest.raises(FloatingPointError,
                       match=rf"^delta_t = dE/da_t stopped being finite at step t = {T - lag} "):
        rnn_gradients(x, np.zeros(T, dtype=int), U, W, V, activation="relu",
                      s0=np.full(H, 1e-300))


def test_softmax_of_extreme_logits_is_exact_and_quiet():
    assert softmax([1e308, -1e308]).tolist() == [1.0, 0.0]
    assert softmax([-1e308, 1e308, 1e308]).tolist() == [0.0, 0.5, 0.5]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_with_huge_output_weights(cell):
    H, D, K, G = 2, 3, 2, {"lstm": 4, "gru": 3}[cell]
    rng = np.random.default_rng(0)
    params = dict(weight_ih=rng.normal(size=(G * H, D)), weight_hh=rng.normal(size=(G * H, H)),
                  V=np.ones((K, H)))
    forward, gradients = {"lstm": (lstm_forward, lstm_gradients),
                          "gru": (gru_forward, gru_gradients)}[cell]
    h1 = forward([0, 1], params).hidden[1]
    # z_1 = V h_1 + c with every term of row 0 positive and the sum beyond float64
    params.update(V=np.vstack([1.5e308 * np.sign(h1), np.zeros(H)]), c=np.array([1.5e308, 0.0]))
    with pytest.raises(FloatingPointError, match=r"logits z_t .* step t = 1\b"):
        forward([0, 1], params)
    with pytest.raises(FloatingPointError, match=r"logits z_t .* step t = 1\b"):
        gradients([0, 1], [1, 1], params)
    row = 0.8e308 * np.sign(h1)  # z_1 = -z_0, both finite; E = z_0 - z_1 beyond float64
    params.update(V=np.vstack([row, -row]), c=np.array([0.8e308, -0.8e308]))
    with pytest.raises(FloatingPointError, match="loss is inf"):
        gradients([0, 1], [1, 1], params)


def test_token_ids_past_float64_in_u_plus_b_give_the_correctly_rounded_tanh_result():
    # rnn_gradients does not bound U x_t + b for token ids: it is one addition U[:, i] + b,
    # which overflows only where the exact tanh is 1 and tanh' is 0 to the last bit.  The
    # overflowed call must return exactly what a huge but finite projection returns.
    rng = np.random.default_rng(0)
    H, D, K, T = 3, 4, 5, 6
    U, W, V = rng.normal(size=(H, D)), 0.5 * rng.normal(size=(H, H)), rng.normal(size=(K, H))
    x, y = rng.integers(0, D, size=T), rng.integers(0, K, size=T)
    U[0] = 1e308  # unit 0 sees U[0, i] + b[0] = 2e308 at every step: inf in float64
    b = np.array([1e308, 0.0, 0.0])
    over = rnn_gradients(x, y, U, W, V, b)
    U[0], b[0] = 1e300, 1e300  # the same saturation, no overflow
    finite = rnn_gradients(x, y, U, W, V, b)
    assert over.loss == finite.loss
    for name, g in over.as_dict().items():
        np.testing.assert_array_equal(g, finite.as_dict()[name], err_msg=name)
    assert over.db[0] == 0.0 and np.all(over.dU[0] == 0.0)  # times tanh' = 0 in both calls


# --- the one result test of rnn_gradients (gradients._results_finite) ---------------------------

@st.composite
def scaled_problems(draw):
    """Small random RNN problems whose weights, inputs and initial states are scaled by powers
    of ten up to 1e306, so that results overflow, nearly overflow or stay ordinary."""
    T, H, D, K = (draw(st.integers(1, 4)) for _ in range(4))
    B = draw(st.sampled_from([None, 1, 3]))
    lead = (T,) if B is None else (T, B)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = lambda: 10.0 ** draw(st.sampled_from([-3, 0, 0, 10, 50, 100, 150, 200, 250, 300, 306]))
    ids = draw(st.booleans())
    kw = dict(x=rng.integers(0, D, size=lead) if ids else rng.normal(size=lead + (D,)) * scale(),
              y=rng.integers(0, K, size=lead), U=rng.normal(size=(H, D)) * scale(),
              W=rng.normal(size=(H, H)) * scale(), V=rng.normal(size=(K, H)) * scale(),
              activation=draw(st.sampled_from(["tanh", "relu"])),
              output=draw(st.sampled_from(["softmax", "sigmoid"])))
    if draw(st.booleans()):
        kw["s0"] = rng.normal(size=(H,) if B is None else (B, H)) * scale()
    if draw(st.booleans()):
        kw["c"] = rng.normal(size=K) * scale()
    if draw(st.booleans()):
        kw["mask"] = rng.random(lead) * scale()
    if draw(st.booleans()):
        kw["truncate"] = draw(st.integers(0, 3))
    return kw


OUTCOMES = {"bounded": 0, "tested": 0, "raised": 0}


@pytest.fixture(scope="module")
def recorded_results():
    """Record what gradients._results_finite said."""
    calls = []
    real = _gradients._results_finite

    def recording(*args):
        said = real(*args)
        calls.append(said)
        return said

    _gradients._results_finite = recording
    yield calls
    _gradients._results_finite = real


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(scaled_problems())
def test_the_result_test_passes_only_results_that_are_finite(recorded_results, kw):
    """rnn_gradients reads three sums of squares and bounds the rest (Cauchy-Schwarz); when
    that test says finite, every result, and the logits, must be finite entry by entry.  When
    it cannot decide, the exact tests run: an error, or results that are finite after all.
    (The logits are not a result; rnn_forward checks them entry by entry.)"""
    calls = recorded_results
    calls.clear()
    try:
        g = rnn_gradients(**kw)
    except FloatingPointError:
        OUTCOMES["raised"] += 1
        # before the test (input projections) or after it said "not finite", never after True
        assert not calls or calls[-1] is False
        return
    said = calls[-1]
    results = [g.loss, *g.as_dict().values(), g.final["s"]] + ([] if g.dx is None else [g.dx])
    assert all(np.isfinite(r).all() for r in results), (said, kw)
    if said:
        forward = {k: v for k, v in kw.items() if k not in ("y", "mask", "truncate", "output")}
        assert np.isfinite(rnn_forward(**forward).logits).all()  # or it raises
    OUTCOMES["bounded" if said else "tested"] += 1


def test_the_result_test_decided_by_bounds_and_fell_back_to_exact_tests():
    """Runs after the property (file order): both branches and errors occurred."""
    if sum(OUTCOMES.values()) == 0:  # the property was deselected
        return
    print(f"\nresult test: {OUTCOMES}")
    assert all(v > 0 for v in OUTCOMES.values()), OUTCOMES


# Each case overflows one result while everything the result test reads (states, dE/dz, delta)
# stays below 1e154, so only the bound on that result can catch it: with the bound left out,
# rnn_gradients would return the overflowed value.
NEAR_MISSES = {
    # z = V s + c = -1e299 + (-max) rounds to -inf (relu state 1e145, V = -1e154); label 1
    # wins, so the loss and dE/dz are finite
    "logits": (dict(x=[0], y=[1], U=[[1e145]], W=[[0.0]], V=[[-1e154], [0.0]],
                    c=[-1.7976931348623157e308, 0.0], activation="relu"),
               r"logits z_t stopped being finite at step t = 1 \(entry \(0,\) is -inf\)"),
    # dU = delta x^T with delta = 1e154 and dense x = 1e155
    "dU, dense": (dict(x=[[1e155]], y=[1], U=[[1e-160]], W=[[0.0]], V=[[1e154], [0.0]]),
                  r"dU is not finite \(entry \(0, 0\) is inf\)"),
    # dx = delta U with delta = 1e154 and U = 1e155
    "dx": (dict(x=[[1e-160]], y=[1], U=[[1e155]], W=[[0.0]], V=[[1e154], [0.0]]),
           r"gradient dx is not finite \(entry \(0, 0\) is inf\)"),
    # dV = dE/dz s^T with relu states 1e154 and dE/dz = 1e155 (mask)
    "dV": (dict(x=[0], y=[1], U=[[1e154]], W=[[0.0]], V=[[1e-160], [0.0]], mask=[1e155],
                activation="relu"), r"dV is not finite \(entry \(0, 0\) is inf\)"),
    # dW = delta s_0^T with delta = 1e153 and s_0 = 1e156
    "dW": (dict(x=[0], y=[1], U=[[0.0]], W=[[1e-160]], V=[[1e153], [0.0]], s0=[1e156]),
           r"dW is not finite \(entry \(0, 0\) is inf\)"),
    # ds0 = delta W with delta = 1e153 and W = 1e156 (s_0 = 0, so W s_0 = 0)
    "ds0": (dict(x=[0], y=[1], U=[[1e-3]], W=[[1e156]], V=[[1e153], [0.0]]),
            r"ds0 is not finite \(entry \(0,\) is inf\)"),
    # the same with delta = 1e155 (V = 1e154 times dE/dz = 10, a mask) and W = 1e154: only
    # delta's own sum of squares is beyond float64
    "ds0, large delta": (dict(x=[0], y=[1], U=[[1e-10]], W=[[1e154]], V=[[1e154], [0.0]],
                              mask=[10.0]), r"ds0 is not finite \(entry \(0,\) is inf\)"),
}


@pytest.mark.parametrize("case", list(NEAR_MISSES))
def test_every_bound_of_the_result_test_is_needed(case):
    kw, name = NEAR_MISSES[case]
    kw = {k: (np.array(v, dtype=float) if k not in ("x", "y", "activation") else v)
          for k, v in kw.items()}
    if isinstance(kw["x"][0], list):
        kw["x"] = np.array(kw["x"], dtype=float)
    # the message starts with the result's name; a parameter gradient has no time axis
    with pytest.raises(FloatingPointError, match="^" + name):
        rnn_gradients(**kw)


@pytest.mark.parametrize("call", ["forward", "loss", "gradients"])
def test_dense_input_projections_that_overflow_are_named_with_their_step(call):
    """U x_t + b for dense inputs is bounded by max|U| max|x| D + max|b|; past 1e300 it is
    computed and tested: an overflow names the input projections and the step (tanh would
    turn it into a finite, wrong state), a projection that is finite after all passes."""
    run = {"forward": lambda x, y, **p: rnn_forward(x, **p),
           "loss": rnn_loss, "gradients": rnn_gradients}[call]
    U, W, V = np.array([[1e200, 0.0], [0.0, 1e-200]]), np.zeros((2, 2)), np.ones((2, 2))
    y = [0, 1, 1]
    # finite: row 0 meets only 1e-100, row 1 only 1e200 (bound 1e400, products 1e100 and 1)
    fine = np.array([[1e-100, 1e200]] * 3)
    run(fine, y, U=U, W=W, V=V)
    states = rnn_forward(fine, U, W, V).states
    np.testing.assert_array_equal(states[1:], np.tile(np.tanh([1e100, 1.0]), (3, 1)))
    over = fine.copy()
    over[1, 0] = 1e120  # step t = 2: 1e200 * 1e120 is beyond float64
    with pytest.raises(FloatingPointError,
                       match=r"^input projections U x_t \+ b stopped being finite at step t = 2 "
                             r"\(entry \(0,\) is inf\)"):
        run(over, y, U=U, W=W, V=V)
    # the bias carries the bound past 1e300: U x_1 = -1e299 plus b = -max overflows (and
    # U x_1 - b would not)
    big = np.finfo(float).max
    with pytest.raises(FloatingPointError, match=r"input projections .* step t = 1 .* -inf"):
        run(np.array([[-1.0, 0.0]] * 3), y, U=np.diag([1e299, 1.0]), W=W, V=V,
            b=np.array([-big, 0.0]))
    # D = 20000 terms of 1e304: only the factor D takes the bound (and the sum) past 1e300
    D = 20_000
    with pytest.raises(FloatingPointError, match=r"input projections .* step t = 1 .* inf"):
        run(np.full((3, D), 1e152), y, U=np.full((2, D), 1e152), W=W, V=V)
