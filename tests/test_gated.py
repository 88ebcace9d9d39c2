"""LSTM and GRU gradients: the forward pass is PyTorch's, the gradients match central differences
of an independent extended-precision loss, truncation means what the docstring says, and the
properties that must hold on every input hold (hypothesis).

``torch_lstm`` and ``torch_gru`` transcribe the equations of PyTorch's ``nn.LSTM`` / ``nn.GRU``
documentation into NumPy, one gate at a time with the weights split as ``weight_ih.chunk(G)``
splits them; no torch is needed.  They compute in any dtype: float64 for the forward comparison,
``np.longdouble`` for the loss whose central differences check the gradients (float64 rounding
of the loss divided by the step would otherwise swamp small gradient entries).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmath import (GatedGradients, gradient_check, gru_gradients, lstm_gradients,
                     numerical_gradient)
from rnnmath.gated import gru_forward, gru_loss, lstm_forward, lstm_loss

TOL = 1e-7
G = {"lstm": 4, "gru": 3}
GRADIENTS = {"lstm": lstm_gradients, "gru": gru_gradients}


# -- PyTorch's equations in NumPy ------------------------------------------------------------------
def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _split(params, n, dtype):
    """PyTorch's chunks: W_ii, W_if, ... (rows of weight_ih), biases zero when absent."""
    H = params["weight_hh"].shape[1]
    get = {k: np.asarray(params[k], dtype) if k in params else np.zeros(n * H, dtype)
           for k in ("bias_ih", "bias_hh")}
    return ([np.asarray(params["weight_ih"], dtype)[i * H:(i + 1) * H] for i in range(n)],
            [np.asarray(params["weight_hh"], dtype)[i * H:(i + 1) * H] for i in range(n)],
            [get["bias_ih"][i * H:(i + 1) * H] for i in range(n)],
            [get["bias_hh"][i * H:(i + 1) * H] for i in range(n)])


def _inputs(x, D, dtype):
    x = np.asarray(x)
    return np.eye(D, dtype=dtype)[x] if x.dtype.kind in "iu" else x.astype(dtype)


def torch_lstm(x, params, h0=None, c0=None, dtype=np.float64):
    """h_t and c_t, t = 1..T, from nn.LSTM's documented equations."""
    (W_ii, W_if, W_ig, W_io), (W_hi, W_hf, W_hg, W_ho), (b_ii, b_if, b_ig, b_io), \
        (b_hi, b_hf, b_hg, b_ho) = _split(params, 4, dtype)
    X = _inputs(x, W_ii.shape[1], dtype)
    H = W_hi.shape[1]
    h = np.zeros(X.shape[1:-1] + (H,), dtype) + (0 if h0 is None else np.asarray(h0, dtype))
    c = np.zeros(X.shape[1:-1] + (H,), dtype) + (0 if c0 is None else np.asarray(c0, dtype))
    hs, cs = [], []
    for x_t in X:
        i = _sigmoid(x_t @ W_ii.T + b_ii + h @ W_hi.T + b_hi)
        f = _sigmoid(x_t @ W_if.T + b_if + h @ W_hf.T + b_hf)
        g = np.tanh(x_t @ W_ig.T + b_ig + h @ W_hg.T + b_hg)
        o = _sigmoid(x_t @ W_io.T + b_io + h @ W_ho.T + b_ho)
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)


def torch_gru(x, params, h0=None, dtype=np.float64):
    """h_t, t = 1..T, from nn.GRU's documented equations."""
    (W_ir, W_iz, W_in), (W_hr, W_hz, W_hn), (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = \
        _split(params, 3, dtype)
    X = _inputs(x, W_ir.shape[1], dtype)
    H = W_hr.shape[1]
    h = np.zeros(X.shape[1:-1] + (H,), dtype) + (0 if h0 is None else np.asarray(h0, dtype))
    hs = []
    for x_t in X:
        r = _sigmoid(x_t @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
        z = _sigmoid(x_t @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
        n = np.tanh(x_t @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
        h = (1 - z) * n + z * h
        hs.append(h)
    return np.array(hs)


def reference_loss(cell, x, y, params, h0=None, c0=None, dtype=np.longdouble):
    """E of the vanilla output layer on top of PyTorch's equations, in ``dtype``."""
    hs = (torch_lstm(x, params, h0, c0, dtype)[0] if cell == "lstm"
          else torch_gru(x, params, h0, dtype))
    V = np.asarray(params["V"], dtype)
    K = V.shape[0]
    c = np.asarray(params["c"], dtype) if "c" in params else np.zeros(K, dtype)
    y = np.asarray(y)
    Y = np.eye(K, dtype=dtype)[y] if y.dtype.kind in "iu" else y.astype(dtype)
    z = hs @ V.T + c
    m = z.max(axis=-1, keepdims=True)
    log_p = z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    return -(Y * log_p).sum()


def full_params(params, cell):
    """params with the optional entries filled in with zeros."""
    H, K = params["weight_hh"].shape[1], params["V"].shape[0]
    out = dict(bias_ih=np.zeros(G[cell] * H), bias_hh=np.zeros(G[cell] * H), c=np.zeros(K))
    out.update(params)
    return out


# -- random problems ---------------------------------------------------------------------------------
def make_problem(seed, cell, *, T=4, B=None, D=3, H=3, K=3, x="ids", y="ids", biases=True,
                 state="none"):
    """params, x, y and the initial states (``state``: none, shared (H,) or per_item (B, H))."""
    rng = np.random.default_rng(seed)
    batch = () if B is None else (B,)
    n = G[cell]
    params = dict(weight_ih=rng.normal(size=(n * H, D)),
                  weight_hh=0.8 * rng.normal(size=(n * H, H)), V=rng.normal(size=(K, H)))
    if biases:
        params.update(bias_ih=0.5 * rng.normal(size=n * H), bias_hh=0.5 * rng.normal(size=n * H),
                      c=rng.normal(size=K))
    xs = (rng.integers(0, D, size=(T,) + batch) if x == "ids"
          else rng.normal(size=(T,) + batch + (D,)))
    if y == "ids":
        ys = rng.integers(0, K, size=(T,) + batch)
    else:  # "soft" rows sum to one, "unnormalised" ones do not
        ys = rng.random(size=(T,) + batch + (K,))
        if y == "soft":
            ys /= ys.sum(axis=-1, keepdims=True)
    states = {}
    names = ("h0", "c0") if cell == "lstm" else ("h0",)
    for name in names:
        if state == "shared":
            states[name] = rng.normal(size=H)
        elif state == "per_item":
            states[name] = rng.normal(size=batch + (H,))
    return xs, ys, params, states


CASES = {
    "ids/ids": {},
    "dense/soft": dict(x="dense", y="soft"),
    "dense/unnormalised": dict(x="dense", y="unnormalised"),
    "ids/soft/batch/shared-state": dict(y="soft", B=2, state="shared"),
    "dense/ids/batch/per-item-state": dict(x="dense", B=3, state="per_item"),
    "dense/ids/no-bias/state": dict(x="dense", biases=False, state="shared"),
    "ids/ids/T=1": dict(T=1, state="shared"),
    "ids/ids/long": dict(T=9, H=4, K=4, D=5),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_match_finite_differences(cell, case, seed, record_error):
    x, y, params, states = make_problem(seed, cell, **CASES[case])
    g = GRADIENTS[cell](x, y, params, **states)
    point = dict(full_params(params, cell), **states)
    check = gradient_check(lambda **p: reference_loss(cell, x, y, p, **{k: p[k] for k in states}),
                           point, {k: g.grads[k] for k in point}, h=1e-4)
    record_error(f"{cell}_gradients vs central differences", check.worst)
    assert check.worst < TOL, str(check)
    assert g.loss == pytest.approx(float(reference_loss(cell, x, y, params, **states)), rel=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_initial_state_gradients_when_omitted(cell, record_error):
    """Omitted initial states are zeros and still get gradients, one per sequence."""
    x, y, params, _ = make_problem(7, cell, B=2)
    g = GRADIENTS[cell](x, y, params)
    names = ("h0", "c0") if cell == "lstm" else ("h0",)
    zeros = {k: np.zeros((2, 3)) for k in names}
    check = gradient_check(lambda **s: reference_loss(cell, x, y, params, **s), zeros,
                           {k: g.grads[k] for k in names}, h=1e-4)
    record_error(f"{cell}_gradients vs central differences", check.worst)
    assert check.worst < TOL, str(check)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float64_check_of_the_public_loss(cell, record_error):
    """The everyday path: gradient_check on the package's own float64 loss."""
    x, y, params, states = make_problem(11, cell, x="dense", y="soft", state="shared")
    loss = lstm_loss if cell == "lstm" else gru_loss
    g = GRADIENTS[cell](x, y, params, **states)
    check = gradient_check(lambda **p: loss(x, y, p, **states), params,
                           {k: g.grads[k] for k in params})
    record_error(f"{cell}_gradients vs differences of the float64 loss", check.worst)
    assert check.worst < TOL, str(check)


# -- the forward pass is PyTorch's -----------------------------------------------------------------
@pytest.mark.parametrize("case", ["ids/ids", "dense/soft", "dense/ids/batch/per-item-state",
                                  "ids/soft/batch/shared-state", "dense/ids/no-bias/state"])
def test_forward_is_pytorchs(case):
    x, y, params, states = make_problem(3, "lstm", **CASES[case])
    out = lstm_forward(x, params, **states)
    hs, cs = torch_lstm(x, params, **states)
    np.testing.assert_allclose(out.hidden[1:], hs, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(out.cell[1:], cs, rtol=1e-13, atol=1e-14)
    x, y, params, states = make_problem(3, "gru", **CASES[case])
    out = gru_forward(x, params, **states)
    np.testing.assert_allclose(out.hidden[1:], torch_gru(x, params, **states), rtol=1e-13,
                               atol=1e-14)


def test_forward_gates_and_states():
    """The stored gates reproduce the cell equations, and h_0, C_0 are the given states."""
    x, y, params, states = make_problem(4, "lstm", B=2, state="per_item")
    out = lstm_forward(x, params, **states)
    i, f, g, o = (out.gates[k] for k in "ifgo")
    np.testing.assert_allclose(out.cell[1:], f * out.cell[:-1] + i * g, rtol=1e-14)
    np.testing.assert_allclose(out.hidden[1:], o * np.tanh(out.cell[1:]), rtol=1e-14)
    np.testing.assert_array_equal(out.hidden[0], states["h0"])
    np.testing.assert_array_equal(out.cell[0], states["c0"])
    assert out.loss is None and lstm_forward(x, params, **states, y=y).loss > 0


# -- truncation ------------------------------------------------------------------------------------
def step_loss(cell, x, y_t, late, early, split):
    """E_t, t = len(x), with the parameters of steps >= ``split`` taken from ``late`` and those of
    earlier steps from ``early``; the initial states count as used at step 1."""
    states = late if split <= 1 else early
    h = np.asarray(states["h0"], np.longdouble)
    c = np.asarray(states["c0"], np.longdouble) if cell == "lstm" else None
    for s in range(1, len(x) + 1):
        p = late if s >= split else early
        if cell == "lstm":
            hs, cs = torch_lstm(x[s - 1:s], p, h, c, np.longdouble)
            h, c = hs[0], cs[0]
        else:
            h = torch_gru(x[s - 1:s], p, h, np.longdouble)[0]
    z = np.asarray(late["V"], np.longdouble) @ h + np.asarray(late["c"], np.longdouble)
    m = z.max()
    return -(z[y_t] - m - np.log(np.exp(z - m).sum()))


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_truncation_is_k_steps_back_through_h_and_c(cell, k, record_error):
    """truncate=k is, for each E_t, the derivative with respect to the parameters used at steps
    t-k..t only, whichever path (h or C) the error takes: central differences of E_t with the
    parameters of the earlier steps held fixed, summed over t."""
    T = 5
    x, y, params, states = make_problem(20 + k, cell, T=T, D=3, H=2, K=2, state="shared")
    point = dict(full_params(params, cell), **states)
    g = GRADIENTS[cell](x, y, params, **states, truncate=k)
    want = {name: np.zeros_like(v) for name, v in point.items()}
    for t in range(1, T + 1):
        def loss(**late):
            return step_loss(cell, x[:t], y[t - 1], late, point, t - k)
        for name in point:
            want[name] += numerical_gradient(loss, point, name, h=1e-4)
    err = max(float(np.abs(g.grads[n] - want[n]).max() / np.abs(want[n]).max()) for n in point)
    record_error(f"{cell} truncated BPTT vs per-step differences", err)
    assert err < TOL
    assert not np.allclose(g.weight_hh, GRADIENTS[cell](x, y, params, **states).weight_hh)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_truncation_changes_recurrent_gradients_but_not_the_output_layer(cell):
    x, y, params, states = make_problem(6, cell, T=7, state="shared")
    full = GRADIENTS[cell](x, y, params, **states)
    short = GRADIENTS[cell](x, y, params, **states, truncate=1)
    for name in ("V", "c"):
        np.testing.assert_allclose(short.grads[name], full.grads[name], rtol=1e-13)
    for name in ("weight_hh", "weight_ih", "h0"):
        assert not np.allclose(short.grads[name], full.grads[name]), name
    assert short.loss == full.loss


# -- properties -------------------------------------------------------------------------------------
@st.composite
def problems(draw):
    cell = draw(st.sampled_from(["lstm", "gru"]))
    T, B = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    D, H, K = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = G[cell]
    params = dict(weight_ih=rng.normal(size=(n * H, D)), weight_hh=rng.normal(size=(n * H, H)),
                  V=rng.normal(size=(K, H)), bias_ih=rng.normal(size=n * H),
                  bias_hh=rng.normal(size=n * H), c=rng.normal(size=K))
    x = rng.integers(0, D, size=(T, B)) if draw(st.booleans()) else rng.normal(size=(T, B, D))
    y = rng.integers(0, K, size=(T, B)) if draw(st.booleans()) else rng.random(size=(T, B, K))
    states = {name: rng.normal(size=(B, H)) for name in (("h0", "c0") if cell == "lstm"
                                                          else ("h0",))}
    return cell, x, y, params, states


def close(a, b):
    return np.allclose(a, b, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(problems())
def test_batch_equals_sum_of_single_sequences(problem):
    cell, x, y, params, states = problem
    g = GRADIENTS[cell](x, y, params, **states)
    singles = [GRADIENTS[cell](x[:, i], y[:, i], params, **{k: v[i] for k, v in states.items()})
               for i in range(x.shape[1])]
    for name in params:
        assert close(g.grads[name], sum(s.grads[name] for s in singles)), name
    for name in states:  # one initial state per sequence
        assert close(g.grads[name], np.stack([s.grads[name] for s in singles])), name
    assert np.isclose(g.loss, sum(s.loss for s in singles), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 6))
def test_truncation_at_or_beyond_T_minus_1_is_full_bptt(problem, extra):
    cell, x, y, params, states = problem
    full = GRADIENTS[cell](x, y, params, **states)
    cut = GRADIENTS[cell](x, y, params, **states, truncate=x.shape[0] - 1 + extra)
    for name, value in full.grads.items():
        assert close(value, cut.grads[name]), name


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 4))
def test_output_bias_gradient_is_the_sum_of_output_errors(problem, k):
    cell, x, y, params, states = problem
    g = GRADIENTS[cell](x, y, params, **states, truncate=k)
    forward = lstm_forward if cell == "lstm" else gru_forward
    probs = forward(x, params, **states).probs
    Y = np.eye(params["V"].shape[0])[y] if y.dtype.kind == "i" else y
    assert close(g.c, (probs * Y.sum(axis=-1, keepdims=True) - Y).sum(axis=(0, 1)))
    if y.dtype.kind == "i":  # one-hot labels: the familiar sum of yhat - y
        assert close(g.c, (probs - Y).sum(axis=(0, 1)))


@settings(max_examples=30, deadline=None)
@given(problems())
def test_ids_equal_their_one_hot_rows(problem):
    cell, x, y, params, states = problem
    if x.dtype.kind != "i":
        x = np.argmax(x, axis=-1)
    dense = np.eye(params["weight_ih"].shape[1])[x]
    a = GRADIENTS[cell](x, y, params, **states)
    b = GRADIENTS[cell](dense, y, params, **states)
    for name, value in a.grads.items():
        assert close(value, b.grads[name]), name


# -- the result and the validation -----------------------------------------------------------------
def test_result_carries_every_gradient_with_its_parameters_shape():
    x, y, params, states = make_problem(1, "lstm", B=2, state="shared")
    g = lstm_gradients(x, y, params, **states)
    assert isinstance(g, GatedGradients)
    assert sorted(g.grads) == sorted(list(full_params(params, "lstm")) + ["h0", "c0"])
    for name, value in dict(full_params(params, "lstm"), **states).items():
        assert g.grads[name].shape == np.shape(value) and g.grads[name].dtype == np.float64
        assert g.grads[name] is getattr(g, name)
    assert g.as_dict() == g.grads and g.as_dict() is not g.grads
    with pytest.raises(AttributeError):
        g.loss = 0.0
    x, y, params, _ = make_problem(1, "gru", B=2)
    g = gru_gradients(x, y, params)
    assert g.c0 is None and "c0" not in g.grads and g.h0.shape == (2, 3)
    assert gru_gradients(x[:, 0], y[:, 0], params).h0.shape == (3,)


@pytest.fixture
def good():
    x, y, params, states = make_problem(0, "lstm", state="shared")
    return dict(x=x, y=y, params=params, **states)


BAD = {
    # name: (changes, words the message must contain)
    "params not a mapping": (dict(params=[1, 2]), ["params", "mapping", "list"]),
    "unknown key": (dict(params="+W"), ["params", "unknown key 'W'"]),
    "missing weight_hh": (dict(params="-weight_hh"), ["params", "'weight_hh'", "required"]),
    "weight_hh not G*H rows": (dict(params={"weight_hh": np.zeros((9, 3))}),
                               ["params['weight_hh']", "(12, 3)", "(9, 3)"]),
    "weight_ih rows": (dict(params={"weight_ih": np.zeros((9, 3))}),
                       ["params['weight_ih']", "(12, *)"]),
    "V columns": (dict(params={"V": np.zeros((3, 2))}), ["params['V']", "(*, 3)"]),
    "bias length": (dict(params={"bias_hh": np.zeros(9)}), ["params['bias_hh']", "(12,)"]),
    "c length": (dict(params={"c": np.zeros(2)}), ["params['c']", "(3,)"]),
    "nan weight": (dict(params={"weight_ih": np.full((12, 3), np.nan)}),
                   ["params['weight_ih']", "finite"]),
    "h0 length": (dict(h0=np.zeros(2)), ["h0", "(3,)"]),
    "c0 batched for unbatched x": (dict(c0=np.zeros((2, 3))), ["c0", "(3,)"]),
    "token id too large": (dict(x=np.array([0, 3, 1, 1])), ["x", "id 3", "[0, 3)"]),
    "dense x wrong width": (dict(x=np.zeros((4, 2))), ["x", "length 3"]),
    "y wrong T": (dict(y=np.array([1, 0])), ["y", "T = 4"]),
    "negative label": (dict(y=np.array([[0.5, -0.1, 0.6]] * 4)), ["y", "non-negative"]),
    "truncate negative": (dict(truncate=-1), ["truncate", ">= 0"]),
    "truncate float": (dict(truncate=1.5), ["truncate", "integer"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_value_error_naming_the_argument(good, case):
    change, words = BAD[case]
    args = dict(good)
    params = dict(args["params"])
    for key, value in change.items():
        if key != "params":
            args[key] = value
        elif isinstance(value, str):
            if value[0] == "+":
                params[value[1:]] = np.zeros(3)
            else:
                del params[value[1:]]
        elif isinstance(value, dict):
            params.update(value)
        else:
            params = value
    args["params"] = params
    with pytest.raises(ValueError) as err:
        lstm_gradients(**args)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_gru_checks_its_own_gate_count():
    x, y, params, _ = make_problem(0, "lstm")
    with pytest.raises(ValueError, match=r"params\['weight_hh'\]: expected shape \(3 H, H\) = "
                                         r"\(9, 3\) for the 3 stacked gates of the GRU"):
        gru_gradients(x, y, params)
    with pytest.raises(TypeError):
        gru_gradients(x, y, params, c0=np.zeros(3))
