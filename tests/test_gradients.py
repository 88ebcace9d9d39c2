"""Numeric proof: rnn_gradients against central differences, worst relative error < 1e-7.

The differences are taken of ``reference_loss`` (tests/longdouble.py), an independent forward pass
in ``np.longdouble``: float64 rounding of the loss (about 1e-16 |E|) divided by the step would
otherwise swamp gradient entries below ~1e-5, and the check would measure the noise of the check.
"""
import numpy as np
import pytest

from longdouble import reference_loss

from rnnmath import gradient_check, rnn_forward, rnn_gradients, rnn_loss

TOL = 1e-7


def make_problem(seed, *, T=4, B=None, D=3, H=4, K=3, x="ids", y="ids", activation="tanh",
                 biases=True, s0="none", output="softmax", mask=None):
    """A random instance; relu instances are redrawn until no pre-activation sits near its kink."""
    rng = np.random.default_rng(seed)
    batch = () if B is None else (B,)
    while True:
        params = dict(U=rng.normal(size=(H, D)), W=0.6 * rng.normal(size=(H, H)),
                      V=rng.normal(size=(K, H)))
        if biases:
            params.update(b=rng.normal(size=H), c=rng.normal(size=K))
        if s0 == "shared":
            params["s0"] = rng.normal(size=H)
        elif s0 == "per_item":
            params["s0"] = rng.normal(size=batch + (H,))
        xs = rng.integers(0, D, size=(T,) + batch) if x == "ids" else rng.normal(size=(T,) + batch + (D,))
        if y == "ids":
            ys = rng.integers(0, K, size=(T,) + batch)
        else:  # soft labels; "unnormalised" rows do not sum to one
            ys = rng.random(size=(T,) + batch + (K,))
            if y == "soft":
                ys /= ys.sum(axis=-1, keepdims=True)
            if y == "multilabel":
                ys = (ys > 0.5).astype(float)
        if mask == "last":      # many-to-one
            params["mask"] = np.zeros((T,) + batch)
            params["mask"][-1] = 1.0
        elif mask == "weights":
            params["mask"] = rng.random((T,) + batch)
        if activation != "relu" or min_preactivation(xs, params) > 0.05:
            return xs, ys, params


def min_preactivation(x, params):
    """Smallest |a_t| over the forward pass (finite differences are invalid across a kink)."""
    params = {k: v for k, v in params.items() if k != "mask"}
    out = rnn_forward(x, **params, activation="relu")
    S, U, W = out.states, params["U"], params["W"]
    X = np.eye(U.shape[1])[x] if np.issubdtype(np.asarray(x).dtype, np.integer) else x
    A = X @ U.T + S[:-1] @ W.T + params.get("b", 0)
    return float(np.abs(A).min())


CASES = {
    "ids/ids/tanh": {},
    "dense/soft/tanh": dict(x="dense", y="soft"),
    "dense/unnormalised/tanh": dict(x="dense", y="unnormalised"),
    "ids/ids/relu": dict(activation="relu"),
    "dense/ids/relu/batch": dict(x="dense", activation="relu", B=3),
    "ids/soft/tanh/batch/shared-s0": dict(y="soft", B=2, s0="shared"),
    "ids/ids/tanh/batch/per-item-s0": dict(B=3, s0="per_item"),
    "dense/ids/tanh/no-bias/s0": dict(x="dense", biases=False, s0="shared"),
    "ids/ids/tanh/T=1": dict(T=1, s0="shared"),
    "ids/ids/tanh/long": dict(T=12, H=5, K=4, D=6),
    "sigmoid/multilabel": dict(x="dense", y="multilabel", output="sigmoid"),
    "sigmoid/soft/relu/batch": dict(y="soft", output="sigmoid", activation="relu", B=2),
    "mask/many-to-one": dict(mask="last"),
    "mask/weights/batch/sigmoid": dict(B=2, mask="weights", y="multilabel", output="sigmoid"),
    "mask/weights/soft": dict(x="dense", y="unnormalised", mask="weights"),
}


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_match_finite_differences(case, seed, record_error):
    x, y, params = make_problem(seed, **CASES[case])
    opts = dict(activation=CASES[case].get("activation", "tanh"),
                output=CASES[case].get("output", "softmax"), mask=params.pop("mask", None))
    g = rnn_gradients(x, y, **params, **opts)
    grads = {k: v for k, v in g.as_dict().items() if k in params}
    check = gradient_check(lambda **p: reference_loss(x, y, **p, **opts), params, grads, h=1e-4)
    record_error("rnn_gradients vs central differences", check.worst)
    assert check.worst < TOL, str(check)
    assert g.loss == pytest.approx(float(reference_loss(x, y, **params, **opts)), rel=1e-12)


@pytest.mark.parametrize("case", ["ids/ids/tanh", "dense/soft/tanh"])
def test_float64_check_of_the_public_loss(case, record_error):
    """The everyday path: gradient_check on rnn_loss itself, in float64."""
    x, y, params = make_problem(0, **CASES[case])
    g = rnn_gradients(x, y, **params)
    check = gradient_check(lambda **p: rnn_loss(x, y, **p), params,
                           {k: v for k, v in g.as_dict().items() if k in params})
    record_error("rnn_gradients vs differences of rnn_loss", check.worst)
    assert check.worst < TOL, str(check)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith(("dense", "sigmoid/multi",
                                                                   "mask/weights/soft"))])
def test_dense_input_gradient_dx(case, record_error):
    """dx, for an embedding or a layer below, has the shape of x and matches differences."""
    x, y, params = make_problem(1, **CASES[case])
    g = rnn_gradients(x, y, **params)
    assert g.dx.shape == np.shape(x) and g.dx.dtype == np.float64
    check = gradient_check(lambda x: rnn_loss(x, y, **params), {"x": np.array(x)}, {"x": g.dx})
    record_error("rnn_gradients dx vs differences of rnn_loss", check.worst)
    assert check.worst < TOL, str(check)
    assert rnn_gradients(np.zeros(np.shape(x)[:-1], dtype=int), y, **params).dx is None  # ids


def test_absent_biases_still_get_gradients():
    x, y, params = make_problem(3, biases=False)
    g = rnn_gradients(x, y, **params)
    full = dict(params, b=np.zeros(4), c=np.zeros(3), s0=np.zeros(4))
    check = gradient_check(lambda **p: reference_loss(x, y, **p), full,
                           {"b": g.db, "c": g.dc, "s0": g.ds0}, h=1e-4)
    assert check.worst < TOL, str(check)


def test_shapes_follow_parameters():
    x, y, params = make_problem(4, B=2, s0="shared")
    g = rnn_gradients(x, y, **params)
    for name, value in params.items():
        assert g.as_dict()[name].shape == value.shape, name
        assert g.as_dict()[name].dtype == np.float64
    assert rnn_gradients(x, y, params["U"], params["W"], params["V"]).ds0.shape == (2, 4)


# -- truncation: seed 000's loop, corrected, is the specification ------------------------------
def seed_loop(x, y, U, W, V, b, c, s0, k, fprime):
    """Seed 000's ``bptt`` with its syntax error, aliasing and missing biases fixed."""
    T = len(x)
    S = np.zeros((T + 1, W.shape[0]))   # S[-1] stays the initial state, as the seed relies on
    S[-1] = s0
    A = np.zeros_like(S)
    for t in range(T):
        A[t] = U[:, x[t]] + W @ S[t - 1] + b
        S[t] = np.tanh(A[t]) if fprime is None else np.maximum(A[t], 0)
    Z = S[:T] @ V.T + c
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    delta_o = P.copy()
    delta_o[np.arange(T), y] -= 1
    dU, dW, db, ds0 = np.zeros_like(U), np.zeros_like(W), np.zeros_like(b), np.zeros_like(s0)
    d = (lambda a, s: 1 - s**2) if fprime is None else (lambda a, s: (a > 0) * 1.0)
    for t in range(T)[::-1]:
        delta = (V.T @ delta_o[t]) * d(A[t], S[t])
        for step in range(max(0, t - k), t + 1)[::-1]:
            dW += np.outer(delta, S[step - 1])
            dU[:, x[step]] += delta
            db += delta
            if step == 0:
                ds0 += W.T @ delta
            else:
                delta = (W.T @ delta) * d(A[step - 1], S[step - 1])
    return dU, dW, db, ds0


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("k", [0, 1, 2, 4, 8])
def test_truncation_matches_seed_loop(k, activation, record_error):
    x, y, params = make_problem(5, T=8, s0="shared", activation=activation)
    g = rnn_gradients(x, y, **params, activation=activation, truncate=k)
    want = seed_loop(x, y, **params, k=k, fprime=None if activation == "tanh" else True)
    for got, ref in zip((g.dU, g.dW, g.db, g.ds0), want):
        err = np.abs(got - ref).max() / np.abs(ref).max()
        record_error("truncated BPTT vs seed-000 loop", err)
        assert err < 1e-12


def test_truncation_changes_gradients_but_not_V():
    x, y, params = make_problem(6, T=8)
    full, short = rnn_gradients(x, y, **params), rnn_gradients(x, y, **params, truncate=1)
    assert np.allclose(full.dV, short.dV) and np.allclose(full.dc, short.dc)
    assert not np.allclose(full.dW, short.dW)


def test_many_to_one_mask_equals_loss_of_last_step_only():
    x, y, params = make_problem(7, T=5, mask="last")
    mask = params.pop("mask")
    g = rnn_gradients(x, y, **params, mask=mask)
    # Same thing, literally: labels only at the last step, as label rows of zeros elsewhere.
    rows = np.eye(3)[y]
    rows[:-1] = 0.0
    h = rnn_gradients(x, rows, **params)
    for name in ("dU", "dW", "dV", "db", "dc", "ds0"):
        assert np.allclose(getattr(g, name), getattr(h, name), rtol=1e-12, atol=1e-15)
    assert g.loss == pytest.approx(h.loss)


def test_forward_reports_a_loss_only_with_labels():
    """rnn_forward: no labels, no loss (None, not a falsy stand-in); with labels, rnn_loss's."""
    x, y, params = make_problem(3, T=5)
    assert rnn_forward(x, **params).loss is None
    assert rnn_forward(x, **params, y=y).loss == rnn_loss(x, y, **params) > 0
