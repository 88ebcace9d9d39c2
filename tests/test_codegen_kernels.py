"""Truncated BPTT of the printed kernels (rnnmath.codegen.kernels), for every cell.

``truncate=k`` sends each error back at most k steps: E_t reaches steps t-k..t, and the
final-state gradients enter at step T like the error of E_T.  The kernels run that lag by lag,
on all steps at once, in buffers reused across lags.  The reference here runs none of that code:
for every step t, full BPTT (``truncate=None``) over the window of steps max(1, t-k)..t only,
started from the states the whole sequence has just before the window, with the upstream
gradient at step t alone.  Parameter and input gradients of the windows add up; the
initial-state gradient comes from the windows that start at step 1.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmath import cells
from rnnmath.derive import cells as examples

CELLS = {"rnn_tanh": cells.rnn("tanh"), "rnn_relu": cells.rnn("relu"), "lstm": cells.lstm(),
         "gru": cells.gru()}
CELLS.update({name: cells.define(name, d.equations, states=d.states, output=d.output,
                                 blocks=d.blocks) for name, d in examples.examples().items()})


def random_params(cell, H, D, rng):
    """Parameters of the shapes the cell declares ("4 * H", "D", ...)."""
    return {k: 0.5 * rng.normal(size=tuple(eval(d, {"H": H, "D": D}) for d in dims))
            for k, dims in cell.params.items()}


def windows_of_full_bptt(cell, x, params, state0, du, dfinal, k):
    """Gradients of truncate=k, summed over one full-BPTT window per error."""
    T = len(x)
    g_params = {p: np.zeros_like(v) for p, v in params.items()}
    g_state0 = {s: np.zeros_like(v) for s, v in state0.items()}
    g_x = np.zeros(x.shape) if x.ndim == 2 else None
    for t in range(1, T + 1):
        a = max(1, t - k)  # first step of the window
        before = state0 if a == 1 else cell.forward(x[:a - 1], params, state0).final
        fw = cell.forward(x[a - 1:t], params, before)
        up = np.zeros_like(fw.outputs)
        up[-1] = du[t - 1]
        g = cell.backward(fw, up, dfinal if t == T else None)
        for p in g_params:
            g_params[p] += g.params[p]
        if a == 1:
            for s in g_state0:
                g_state0[s] += g.state0[s]
        if g_x is not None:
            g_x[a - 1:t] += g.x
    return g_params, g_state0, g_x


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("name", list(CELLS))
@settings(max_examples=12, deadline=None)
@given(T=st.integers(2, 7), back=st.integers(0, 5), dense=st.booleans(), seed=st.integers(0, 2**31))
def test_truncated_kernels_are_windows_of_full_bptt(name, T, back, dense, seed, record_error):
    cell = CELLS[name]
    k = min(back, T - 2)  # k >= T - 1 is full BPTT: a different branch of the kernel
    rng = np.random.default_rng(seed)
    D, H = 3, 4
    params = random_params(cell, H, D, rng)
    x = rng.normal(size=(T, D)) if dense else rng.integers(0, D, size=T)
    state0 = {s: 0.5 * rng.normal(size=H) for s in cell.states}
    fw = cell.forward(x, params, state0)
    du = rng.normal(size=fw.outputs.shape)
    dfinal = {s: rng.normal(size=H) for s in cell.states}
    got = cell.backward(fw, du, dfinal, truncate=k)
    want_params, want_state0, want_x = windows_of_full_bptt(cell, x, params, state0, du, dfinal, k)
    errors = [rel_err(got.params[p], want_params[p]) for p in params]
    errors += [rel_err(got.state0[s], want_state0[s]) for s in cell.states]
    if dense:
        errors.append(rel_err(got.x, want_x))
    else:
        assert got.x is None
    worst = max(errors)
    record_error("truncated kernels vs windows of full BPTT", worst)
    assert worst < 1e-11
