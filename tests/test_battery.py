"""A battery of bad and extreme inputs over every public function.

Each case changes one argument of a valid call and asserts the exception type and that the
message starts with that argument's name (``ValueError`` for bad input, ``FloatingPointError``
for a result float64 cannot hold). The valid calls themselves must pass without a warning.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import rnnmath
from rnnmath.gated import gru_forward, gru_loss, lstm_forward, lstm_loss

rng = np.random.default_rng(0)
H, D, K, T = 3, 4, 5, 6
X_IDS, Y_IDS = rng.integers(0, D, size=T), rng.integers(0, K, size=T)
U, W, V = rng.normal(size=(H, D)), 0.5 * rng.normal(size=(H, H)), rng.normal(size=(K, H))
B_, C_, S0 = rng.normal(size=H), rng.normal(size=K), rng.normal(size=H)
MASK = np.ones(T)


def gated(G):
    return dict(weight_ih=rng.normal(size=(G * H, D)), weight_hh=rng.normal(size=(G * H, H)),
                bias_ih=rng.normal(size=G * H), bias_hh=rng.normal(size=G * H), V=V, c=C_)


LSTM, GRU = gated(4), gated(3)
GRADS = {"W": W.copy(), "b": B_.copy()}
quad = lambda x: float(np.sum(x**2))  # noqa: E731


class GradTensor:
    """Duck-types a tensor that requires grad: NumPy conversion fails the way PyTorch's does."""

    requires_grad = True

    def __init__(self, value):
        self.value = np.asarray(value)

    def detach(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad.")


# function, its valid arguments, and which of them are arrays ("*" marks an optional one)
CALLS = {
    "rnn_gradients": (rnnmath.rnn_gradients,
                      dict(x=X_IDS, y=Y_IDS, U=U, W=W, V=V, b=B_, c=C_, s0=S0, mask=MASK),
                      "x y U W V b* c* s0* mask*"),
    "rnn_forward": (rnnmath.rnn_forward, dict(x=X_IDS, U=U, W=W, V=V, b=B_, s0=S0, y=Y_IDS),
                    "x U W V b* s0* y*"),
    "rnn_loss": (rnnmath.rnn_loss, dict(x=X_IDS, y=Y_IDS, U=U, W=W, V=V, mask=MASK),
                 "x y U W V mask*"),
    "lstm_gradients": (rnnmath.lstm_gradients, dict(x=X_IDS, y=Y_IDS, params=LSTM, h0=S0, c0=S0),
                       "x y params.weight_ih params.weight_hh params.V params.bias_ih* h0* c0*"),
    "gru_gradients": (rnnmath.gru_gradients, dict(x=X_IDS, y=Y_IDS, params=GRU, h0=S0),
                      "x y params.weight_ih params.weight_hh params.V params.c* h0*"),
    "lstm_forward": (lstm_forward, dict(x=X_IDS, params=LSTM), "x params.V"),
    "gru_loss": (gru_loss, dict(x=X_IDS, y=Y_IDS, params=GRU), "x y"),
    "lstm_loss": (lstm_loss, dict(x=X_IDS, y=Y_IDS, params=LSTM), "y"),
    "gru_forward": (gru_forward, dict(x=X_IDS, params=GRU), "params.weight_hh"),
    "softmax": (rnnmath.softmax, dict(z=C_), "z"),
    "softmax_jacobian": (rnnmath.softmax_jacobian, dict(z=C_), "z"),
    "state_jacobian_norms": (rnnmath.state_jacobian_norms, dict(x=X_IDS, U=U, W=W, b=B_, s0=S0),
                             "x U W b* s0*"),
    "relative_error": (rnnmath.relative_error, dict(a=W, b=W + 1), "a b"),
    "numerical_gradient": (rnnmath.numerical_gradient, dict(f=quad, params={"x": S0}, name="x"),
                           "params.x"),
    "gradient_check": (rnnmath.gradient_check,
                       dict(f=quad, params={"x": S0}, grads={"x": 2 * S0}), "params.x"),
    "clip_elementwise": (rnnmath.clip_elementwise, dict(grads=GRADS), "grads.W"),
    "clip_global_norm": (rnnmath.clip_global_norm, dict(grads=GRADS, max_norm=1.0), "grads.b"),
    "global_norm": (rnnmath.global_norm, dict(grads=GRADS), "grads.W"),
    "gradient_cosine": (rnnmath.gradient_cosine, dict(a=GRADS, b=GRADS), "a.W b.b"),
}


def _nan(g):
    g = np.array(g, dtype=float)
    g.flat[-1] = np.nan
    return g


def _inf(g):
    g = np.array(g, dtype=float)
    g.flat[0] = -np.inf
    return g


# bad replacements for any array argument: (label, make(good value))
BAD_ARRAY = {
    "None": lambda g: None,
    "ragged list": lambda g: [[1.0, 2.0], [3.0]],
    "strings": lambda g: np.full(np.shape(g), "1.5"),
    "complex": lambda g: np.asarray(g) + 1j,
    "NaN": _nan,
    "inf": _inf,
    "objects": lambda g: np.array([object()] * 2, dtype=object),
    "requires grad": GradTensor,
    "extra axes": lambda g: np.asarray(g)[..., None, None],
    "zero length": lambda g: np.zeros((0,) + np.shape(g)[1:], dtype=np.asarray(g).dtype),
    "a dict": lambda g: {"a": 1},
}
OPTIONAL_OK = {"None"}  # an omitted optional argument is valid
# inputs that are valid for a function that takes any shape (softmax over the last axis,
# gradients of any shape) or compares non-finite values on purpose (relative_error: NaN)
VALID = {"softmax": {"extra axes"}, "softmax_jacobian": {"extra axes"},
         "relative_error": {"NaN", "inf", "extra axes", "zero length"},
         **{f: {"extra axes", "zero length"} for f in (
             "numerical_gradient", "gradient_check", "clip_elementwise", "clip_global_norm",
             "global_norm", "gradient_cosine")}}


def _with(kwargs: dict, path: str, value) -> dict:
    """kwargs with the argument at ``path`` ("x" or "params.V") replaced by ``value``."""
    out = dict(kwargs)
    if "." in path:
        top, key = path.split(".")
        out[top] = dict(out[top], **{key: value})
    else:
        out[path] = value
    return out


def _get(kwargs, path):
    top, _, key = path.partition(".")
    return kwargs[top][key] if key else kwargs[top]


def _label(path):
    top, _, key = path.partition(".")
    return f"{top}[{key!r}]" if key else top


ARRAY_CASES = []
for fname, (func, kwargs, arrays) in CALLS.items():
    for arg in arrays.split():
        optional = arg.endswith("*")
        arg = arg.rstrip("*")
        for bad in BAD_ARRAY:
            if (optional and bad in OPTIONAL_OK) or bad in VALID.get(fname, ()):
                continue
            ARRAY_CASES.append(pytest.param(fname, arg, bad, id=f"{fname}-{arg}-{bad}"))


@pytest.mark.parametrize("fname, arg, bad", ARRAY_CASES)
def test_bad_array_argument(fname, arg, bad):
    func, kwargs, _ = CALLS[fname]
    value = BAD_ARRAY[bad](_get(kwargs, arg))
    with pytest.raises(ValueError) as err:
        func(**_with(kwargs, arg, value))
    assert str(err.value).startswith(f"{_label(arg)}:"), str(err.value)
    assert "expected" in str(err.value) and "got" in str(err.value)


# bad options: (function, option, value)
OPTIONS = [
    ("rnn_gradients", "activation", v) for v in (np.array(["tanh"]), None, 1, "ReLU", "gelu")
] + [
    ("rnn_forward", "output", v) for v in (np.array(["softmax"]), None, 0, "linear")
] + [
    ("rnn_loss", "activation", v) for v in (["tanh"], b"tanh")
] + [
    ("rnn_gradients", "truncate", v) for v in (-1, 2.5, True, "3", np.array([2]), float("nan"))
] + [
    ("lstm_gradients", "truncate", v) for v in (-2, 1.0, np.array(1))
] + [
    ("gru_gradients", "truncate", v) for v in (False, "all")
] + [
    ("clip_elementwise", "limit", v) for v in (0, -1.0, np.inf, np.nan, "5", None, np.array(5.0),
                                               True, 1j)
] + [
    ("clip_global_norm", "max_norm", v) for v in (0.0, -np.inf, np.nan, [1.0], "1")
] + [
    ("numerical_gradient", "h", v) for v in (0, np.inf, np.nan, -1e-3, "1e-3", np.ones(1), None)
] + [
    ("gradient_check", "h", v) for v in (0.0, np.inf, 1j)
] + [
    ("gradient_check", "tiny", v) for v in (0.0, -1e-300, np.nan, "tiny")
] + [
    ("relative_error", "tiny", v) for v in (0, np.inf, None, np.array([1e-300]))
] + [
    ("numerical_gradient", "progress", v) for v in ("yes", 1, None)
] + [
    ("gradient_check", "progress", v) for v in ("no",)
] + [
    ("state_jacobian_norms", "ord", v) for v in (3, "nuc", None, np.array([2]), True, -1)
] + [
    ("state_jacobian_norms", "activation", v) for v in ("sigmoid", np.array(["relu"]))
] + [
    ("state_jacobian_norms", "last_only", v) for v in ("yes", 1)
] + [
    ("state_jacobian_norms", "progress", v) for v in (0,)
] + [
    ("numerical_gradient", "name", v) for v in ("y", 0, None, ["x"])
] + [
    ("numerical_gradient", "f", v) for v in (None, 1.0, "quad")
] + [
    ("gradient_check", "grads", v) for v in ({}, None, [2 * S0], {"y": S0}, {"x": S0[:2]})
] + [
    ("gradient_check", "params", v) for v in ({}, None, [S0])
] + [
    ("lstm_gradients", "params", v) for v in (None, [1, 2], {"weight_ih": U},
                                              dict(LSTM, extra=U))
] + [
    ("clip_elementwise", "grads", v) for v in (None, [W], 3.0)
]


@pytest.mark.parametrize("fname, option, value", [
    pytest.param(f, o, v, id=f"{f}-{o}-{v!r}"[:80]) for f, o, v in OPTIONS])
def test_bad_option(fname, option, value):
    func, kwargs, _ = CALLS[fname]
    with pytest.raises(ValueError) as err:
        func(**dict(kwargs, **{option: value}))
    assert str(err.value).split(":")[0].split("[")[0] == option, str(err.value)


# extreme values: finite inputs whose results float64 cannot hold, or shapes at the limits
def _overflowing_relu():
    x = np.array([[1.0]] + [[0.0]] * 699)
    return dict(x=x, y=np.zeros(700, dtype=int), U=np.ones((2, 1)), W=3 * np.eye(2),
                V=np.ones((2, 2)), activation="relu")


EXTREME = {
    "relu W=3I 700 steps: loss": (lambda: rnnmath.rnn_loss(**_overflowing_relu()),
                                  FloatingPointError, "states s_t"),
    "relu W=3I 700 steps: gradients": (lambda: rnnmath.rnn_gradients(**_overflowing_relu()),
                                       FloatingPointError, "states s_t"),
    "huge V": (lambda: rnnmath.rnn_forward(X_IDS, U, W, np.full((K, H), 1.7e308),
                                           s0=np.ones(H), activation="relu",
                                           b=np.full(H, 5.0)),
               FloatingPointError, "logits z_t"),
    "huge mask": (lambda: rnnmath.rnn_loss(X_IDS, Y_IDS, U, W, V, mask=np.full(T, 1e308)),
                  FloatingPointError, "loss"),
    "huge label rows": (lambda: rnnmath.rnn_loss(X_IDS, np.full((T, K), 1e308), U, W, V),
                        FloatingPointError, "loss"),
    "huge label rows, gradients": (
        lambda: rnnmath.rnn_gradients(X_IDS, np.full((T, K), 1e308), U, W, V),
        FloatingPointError, "loss"),
    "H = 0": (lambda: rnnmath.rnn_loss(X_IDS, Y_IDS, np.zeros((0, D)), np.zeros((0, 0)),
                                       np.zeros((K, 0))), ValueError, "W"),
    "D = 0": (lambda: rnnmath.rnn_loss(np.zeros((T, 0)), Y_IDS, np.zeros((H, 0)), W, V),
              ValueError, "U"),
    "K = 0": (lambda: rnnmath.rnn_loss(X_IDS, Y_IDS, U, W, np.zeros((0, H))), ValueError, "V"),
    "x = []": (lambda: rnnmath.rnn_loss([], [], U, W, V), ValueError, "x"),
    "B = 0": (lambda: rnnmath.rnn_loss(np.zeros((T, 0), int), np.zeros((T, 0), int), U, W, V),
              ValueError, "x"),
    "softmax of []": (lambda: rnnmath.softmax([]), ValueError, "z"),
    "softmax of a scalar": (lambda: rnnmath.softmax(3.0), ValueError, "z"),
    "f returns None": (lambda: rnnmath.numerical_gradient(lambda x: None, {"x": S0}, "x"),
                       ValueError, "f"),
    "f returns a vector": (lambda: rnnmath.numerical_gradient(lambda x: x, {"x": S0}, "x"),
                           ValueError, "f"),
    "f returns NaN": (lambda: rnnmath.numerical_gradient(lambda x: np.nan, {"x": S0}, "x"),
                      FloatingPointError, "f"),
    "f returns inf": (lambda: rnnmath.numerical_gradient(lambda x: -np.inf, {"x": S0}, "x"),
                      FloatingPointError, "f"),
    "complex params": (lambda: rnnmath.numerical_gradient(quad, {"x": S0 + 1j}, "x"),
                       ValueError, "params['x']"),
    "shape mismatch in relative_error": (lambda: rnnmath.relative_error(np.ones(2), np.ones(3)),
                                         ValueError, "b"),
    "clip a gradient to 0 scale": (lambda: rnnmath.clip_global_norm({"W": np.full(4, 1e300)},
                                                                    1e-300), ValueError, "grads"),
    "global norm beyond float64": (lambda: rnnmath.global_norm({"W": np.full(4, 1e308)}),
                                   FloatingPointError, "global norm"),
    "cosine of a zero gradient": (lambda: rnnmath.gradient_cosine({"W": np.zeros(2)},
                                                                  {"W": np.ones(2)}),
                                  ValueError, "a"),
    "cosine with other names": (lambda: rnnmath.gradient_cosine({"W": np.ones(2)},
                                                                {"V": np.ones(2)}),
                                ValueError, "b"),
    "jacobian table too large": (lambda: rnnmath.state_jacobian_norms(
        np.zeros(20000, int), U, W), ValueError, "x"),
    "batched x in state_jacobian_norms": (lambda: rnnmath.state_jacobian_norms(
        np.zeros((T, 2), int), U, W), ValueError, "x"),
    "gated H = 0": (lambda: rnnmath.lstm_gradients(X_IDS, Y_IDS, dict(
        weight_ih=np.zeros((0, D)), weight_hh=np.zeros((0, 0)), V=np.zeros((K, 0)))),
        ValueError, "params['weight_hh']"),
    "sigmoid labels above 1": (lambda: rnnmath.rnn_loss(X_IDS, np.full((T, K), 1.5), U, W, V,
                                                        output="sigmoid"), ValueError, "y"),
}


@pytest.mark.parametrize("case", list(EXTREME))
def test_extreme_input(case):
    call, kind, name = EXTREME[case]
    with pytest.raises(kind) as err:
        call()
    assert str(err.value).startswith(name), str(err.value)


@pytest.mark.parametrize("fname", list(CALLS))
def test_the_valid_calls_pass_quietly(fname):
    func, kwargs, _ = CALLS[fname]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        func(**kwargs)


def test_bool_masks_are_0_1_weights():
    m = np.array([True, False, True, True, False, True])
    assert rnnmath.rnn_loss(X_IDS, Y_IDS, U, W, V, mask=m) == \
        rnnmath.rnn_loss(X_IDS, Y_IDS, U, W, V, mask=m.astype(float))
    g, gf = (rnnmath.rnn_gradients(X_IDS, Y_IDS, U, W, V, mask=mm) for mm in (m, m * 1.0))
    assert all(np.array_equal(a, b) for a, b in zip(g.as_dict().values(), gf.as_dict().values()))


def test_a_tensor_that_requires_grad_gets_a_hint():
    with pytest.raises(ValueError, match=r"W: .*call \.detach\(\)"):
        rnnmath.rnn_loss(X_IDS, Y_IDS, U, GradTensor(W), V)


def test_rnn_loss_needs_labels():
    with pytest.raises(ValueError, match="^y: expected labels"):
        rnnmath.rnn_loss(X_IDS, None, U, W, V)


def test_battery_size():
    """The issue asks for at least 150 bad or extreme inputs."""
    assert len(ARRAY_CASES) + len(OPTIONS) + len(EXTREME) >= 150
