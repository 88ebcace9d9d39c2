"""Random shapes, dtypes and values fed to every public function.

Every call either returns finite results, or raises ValueError naming an argument, or raises
FloatingPointError naming the quantity that left float64 -- never another exception and never
a warning.
"""
from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import rnnmath
from rnnmath.gated import gru_forward, gru_loss, lstm_forward, lstm_loss

FUNCTIONS = {name: getattr(rnnmath, name) for name in rnnmath.__all__
             if inspect.isfunction(getattr(rnnmath, name))}
FUNCTIONS.update(lstm_forward=lstm_forward, gru_forward=gru_forward, lstm_loss=lstm_loss,
                 gru_loss=gru_loss)
# what a FloatingPointError may name: the results that can overflow
QUANTITIES = ("states s_t", "logits z_t", "loss", "dE/dz_t", "delta_t", "dU", "dW", "dV", "db",
              "dc", "ds0", "gradient ", "hidden states", "cell states", "input projections",
              "softmax(z)", "f returned", "numerical gradient", "global norm")

moderate = st.floats(-5, 5)
extreme = st.sampled_from([0.0, 1e-320, -1e-300, 1e150, -1e300, 1.7e308, -1.7e308])
finite = st.one_of(moderate, moderate, moderate, extreme)
anything = st.floats(allow_nan=True, allow_infinity=True)


def real(draw, shape, elements=finite):
    return draw(arrays(np.float64, shape, elements=elements))


def nonneg(draw, shape):
    return np.abs(real(draw, shape))


@st.composite
def junk(draw):
    """Something that is probably not a valid argument."""
    kind = draw(st.sampled_from(["array", "array", "scalar", "none", "text", "list", "dict"]))
    if kind == "none":
        return None
    if kind == "text":
        return draw(st.sampled_from(["tanh", "relu", "softmax", "", "1.0"]))
    if kind == "list":
        return draw(st.lists(st.one_of(st.floats(-3, 3), st.lists(st.integers(-1, 3),
                                                                  max_size=2)), max_size=3))
    if kind == "dict":
        return {draw(st.sampled_from(["W", "x", "V", "weight_ih"])): draw(junk())}
    if kind == "scalar":
        return draw(st.one_of(anything, st.integers(-3, 3), st.booleans(),
                              st.complex_numbers(max_magnitude=3)))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_,
                                  np.complex128, np.uint8]))
    shape = draw(st.lists(st.integers(0, 3), max_size=3).map(tuple))
    return draw(arrays(dtype, shape))


@st.composite
def rnn_args(draw, loss=True, name="rnn_gradients"):
    T, H, D, K = (draw(st.integers(1, 4)) for _ in range(4))
    B = draw(st.sampled_from([None, 1, 2]))
    lead = (T,) if B is None else (T, B)
    ids = draw(st.booleans())
    x = draw(arrays(np.int64, lead, elements=st.integers(0, D - 1))) if ids else \
        real(draw, lead + (D,))
    kw = dict(x=x, U=real(draw, (H, D)), W=real(draw, (H, H)), V=real(draw, (K, H)))
    for opt, shape in (("b", (H,)), ("c", (K,)), ("s0", (H,) if B is None else (B, H))):
        if draw(st.booleans()):
            kw[opt] = real(draw, shape)
    kw["activation"] = draw(st.sampled_from(["tanh", "relu"]))
    if name == "state_jacobian_norms":
        kw.pop("V"), kw.pop("c", None)
        kw["x"] = x[:, 0] if B is not None else x
        if "s0" in kw:
            kw["s0"] = kw["s0"].reshape(-1, H)[0]
        kw["ord"] = draw(st.sampled_from([2, "fro", 1, np.inf]))
        kw["last_only"] = draw(st.booleans())
        return kw
    output = draw(st.sampled_from(["softmax", "sigmoid"]))
    kw["output"] = output
    if loss:
        if draw(st.booleans()):
            kw["y"] = draw(arrays(np.int64, lead, elements=st.integers(0, K - 1)))
        else:
            y = nonneg(draw, lead + (K,))
            kw["y"] = np.minimum(y, 1.0) if output == "sigmoid" else y
        if draw(st.booleans()):
            kw["mask"] = nonneg(draw, lead) if draw(st.booleans()) else \
                draw(arrays(np.bool_, lead))
    if name == "rnn_gradients" and draw(st.booleans()):
        kw["truncate"] = draw(st.integers(0, 4))
    return kw


@st.composite
def gated_args(draw, cell, loss=True):
    T, H, D, K = (draw(st.integers(1, 3)) for _ in range(4))
    G = 4 if cell == "lstm" else 3
    x = draw(arrays(np.int64, (T,), elements=st.integers(0, D - 1)))
    params = dict(weight_ih=real(draw, (G * H, D)), weight_hh=real(draw, (G * H, H)),
                  V=real(draw, (K, H)))
    if draw(st.booleans()):
        params["bias_hh"] = real(draw, (G * H,))
    kw = dict(x=x, params=params)
    if loss:
        kw["y"] = draw(arrays(np.int64, (T,), elements=st.integers(0, K - 1)))
    return kw


def grads_mapping(draw):
    names = draw(st.lists(st.sampled_from(["W", "b", "V"]), min_size=1, max_size=3,
                          unique=True))
    return {n: real(draw, draw(st.lists(st.integers(1, 3), max_size=2).map(tuple)))
            for n in names}


def quadratic(**p):
    return float(sum(np.sum(v**2) for v in p.values()))


@st.composite
def valid_args(draw, name):
    if name in ("rnn_gradients", "rnn_loss", "rnn_forward", "state_jacobian_norms"):
        return draw(rnn_args(loss=name != "rnn_forward" or draw(st.booleans()), name=name))
    if name in ("lstm_gradients", "gru_gradients", "lstm_forward", "gru_forward", "lstm_loss",
                "gru_loss"):
        return draw(gated_args(name[:name.index("_")] if name[0] in "lg" else name,
                               loss="forward" not in name))
    if name in ("softmax", "softmax_jacobian"):
        return dict(z=real(draw, draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)
                                      .map(tuple))))
    if name == "relative_error":
        shape = draw(st.lists(st.integers(1, 3), max_size=2).map(tuple))
        return dict(a=real(draw, shape), b=real(draw, shape))
    if name in ("numerical_gradient", "gradient_check"):
        params = {"w": real(draw, (draw(st.integers(1, 3)),), elements=moderate)}
        kw = dict(f=quadratic, params=params)
        if name == "numerical_gradient":
            kw["name"] = "w"
        else:
            kw["grads"] = {"w": 2 * params["w"]}
        if draw(st.booleans()):
            kw["h"] = draw(st.sampled_from([1e-3, 1e-4, 0.1]))
        return kw
    if name in ("clip_elementwise", "clip_global_norm", "global_norm"):
        kw = dict(grads=grads_mapping(draw))
        if name != "global_norm":
            key = "limit" if name == "clip_elementwise" else "max_norm"
            kw[key] = draw(st.floats(1e-3, 1e3))
        return kw
    if name == "gradient_cosine":
        a = grads_mapping(draw)
        return dict(a=a, b={k: real(draw, v.shape) for k, v in a.items()})
    raise AssertionError(f"no fuzz arguments for {name}")


@st.composite
def calls(draw):
    name = draw(st.sampled_from(sorted(FUNCTIONS)))
    kwargs = draw(valid_args(name))
    mutated = None
    if draw(st.integers(0, 2)) == 0:  # a third of the calls: one argument replaced by junk
        mutated = draw(st.sampled_from(sorted(inspect.signature(FUNCTIONS[name]).parameters)))
        kwargs[mutated] = draw(junk())
    return name, kwargs, mutated


def all_finite(result, name, kwargs) -> bool:
    if name == "state_jacobian_norms":  # NaN above the diagonal by design; inf = infinite norm
        r = np.asarray(result)
        return not np.isnan(r if r.ndim == 1 else r[np.tril_indices(len(r))]).any()
    if name == "relative_error":  # NaN exactly where an input is not finite
        a, b = np.broadcast_arrays(np.asarray(kwargs["a"], float), np.asarray(kwargs["b"], float))
        return bool(np.isfinite(result[np.isfinite(a) & np.isfinite(b)]).all())
    values = []
    if isinstance(result, tuple):
        for r in result:
            values += list(r.values()) if isinstance(r, dict) else [r]
    elif hasattr(result, "__dataclass_fields__"):
        for f in result.__dataclass_fields__:
            v = getattr(result, f)
            values += list(v.values()) if isinstance(v, dict) else [v]
    elif isinstance(result, dict):
        values = list(result.values())
    else:
        values = [result]
    return all(np.isfinite(np.asarray(v, dtype=float)).all() for v in values if v is not None)


RUNS = {"examples": 0, "finite": 0, "ValueError": 0, "FloatingPointError": 0}


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(calls())
def test_every_public_function_returns_finite_results_or_names_an_argument(call):
    name, kwargs, mutated = call
    func = FUNCTIONS[name]
    arguments = set(inspect.signature(func).parameters)
    RUNS["examples"] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, from NumPy or elsewhere, fails
        try:
            result = func(**kwargs)
        except ValueError as exc:
            head = str(exc).split(":")[0].split("[")[0]
            assert head in arguments, (name, mutated, str(exc))
            RUNS["ValueError"] += 1
            return
        except FloatingPointError as exc:
            assert str(exc).startswith(QUANTITIES), (name, mutated, str(exc))
            RUNS["FloatingPointError"] += 1
            return
    assert all_finite(result, name, kwargs), (name, mutated, result)
    RUNS["finite"] += 1


def test_fuzz_covered_every_outcome():
    """Runs after the fuzz test (file order): all three outcomes occurred, over every function."""
    if RUNS["examples"] == 0:  # the fuzz test was deselected
        return
    print(f"\nfuzz: {RUNS}")
    assert all(RUNS[k] > 0 for k in ("finite", "ValueError", "FloatingPointError")), RUNS
    assert math.isfinite(RUNS["examples"])
