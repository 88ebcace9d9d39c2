"""state_jacobian_norms against finite differences of the recurrence, explicit products, the
submultiplicative bound, and its derivation; validation messages."""
import numpy as np
import pytest
import sympy as sp

from rnnmath import rnn_forward, state_jacobian_norms
from rnnmath.derive import derivations

ORDS = (2, "fro", 1, np.inf)


def network(T=7, H=4, D=3, scale=0.9, seed=0):
    rng = np.random.default_rng(seed)
    params = dict(U=rng.normal(size=(H, D)), W=scale * rng.normal(size=(H, H)) / np.sqrt(H),
                  b=0.2 * rng.normal(size=H), s0=0.5 * rng.normal(size=H))
    return rng.integers(0, D, size=T), params


def step(a, activation):
    return np.tanh(a) if activation == "tanh" else np.maximum(a, 0.0)


def run_from(k, s_k, t, x, U, W, b, activation):
    """s_t computed by running the recurrence from step k, starting at the given state s_k."""
    s = s_k
    for j in range(k + 1, t + 1):
        s = step(U[:, x[j - 1]] + W @ s + b, activation)
    return s


def preactivations(x, U, W, b, s0, activation):
    S = rnn_forward(x, U, W, np.zeros((1, W.shape[0])), b, None, s0,
                    activation=activation).states
    return np.array([U[:, x[j - 1]] + W @ S[j - 1] + b for j in range(1, len(x) + 1)]), S


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_norms_match_finite_differences_of_the_recurrence(activation, record_error):
    x, p = network(seed=3 if activation == "relu" else 0)
    U, W, b, s0 = p["U"], p["W"], p["b"], p["s0"]
    A, S = preactivations(x, U, W, b, s0, activation)
    T, H = len(x), W.shape[0]
    norms = {o: state_jacobian_norms(x, U, W, b, s0, activation=activation, ord=o) for o in ORDS}
    # relu is piecewise linear: a larger step loses nothing to truncation, as long as no
    # perturbed pre-activation crosses the kink at a = 0 (a_j moves by at most h ||W|| ||ds_{j-1}||).
    h = 1e-4 if activation == "relu" else 1e-6
    if activation == "relu":
        reach = h * np.linalg.norm(W, 2) * np.nanmax(norms[2])
        assert np.abs(A).min() > 10 * reach and (A > 0).any() and (A < 0).any()
    worst = 0.0
    for t in range(T + 1):
        assert np.allclose(run_from(0, s0, t, x, U, W, b, activation), S[t], atol=1e-14)
        for k in range(t + 1):
            J = np.empty((H, H))
            for r in range(H):  # column r: perturb entry r of s_k, rerun steps k+1..t
                e = np.zeros(H)
                e[r] = h
                J[:, r] = (run_from(k, S[k] + e, t, x, U, W, b, activation)
                           - run_from(k, S[k] - e, t, x, U, W, b, activation)) / (2 * h)
            for o in ORDS:
                fd = np.linalg.norm(J, o)
                if fd == 0:
                    assert norms[o][t, k] == 0
                    continue
                worst = max(worst, abs(norms[o][t, k] - fd) / fd)
    record_error(f"state_jacobian_norms vs FD ({activation})", worst)
    assert worst < 1e-7


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("o", ORDS)
def test_norms_equal_explicit_products(activation, o):
    x, p = network(T=25, H=6, scale=1.3, seed=5)
    N = state_jacobian_norms(x, p["U"], p["W"], p["b"], p["s0"], activation=activation, ord=o)
    _, S = preactivations(x, p["U"], p["W"], p["b"], p["s0"], activation)
    fp = 1 - S[1:] ** 2 if activation == "tanh" else (S[1:] > 0).astype(float)
    T, H = len(x), p["W"].shape[0]
    assert N.shape == (T + 1, T + 1)
    for t in range(T + 1):
        P = np.eye(H)
        for k in range(t, -1, -1):                 # P = ds_t/ds_k = J_t ... J_{k+1}
            expected = np.linalg.norm(P, o)
            assert np.isclose(N[t, k], expected, rtol=1e-12, atol=0), (t, k)
            if k > 0:
                P = P @ (fp[k - 1][:, None] * p["W"])
        assert np.isnan(N[t, t + 1:]).all()
    assert np.allclose(np.diag(N), np.linalg.norm(np.eye(H), o))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_submultiplicative_bound(activation, scale):
    x, p = network(T=30, H=8, scale=scale, seed=11)
    U, W, b, s0 = p["U"], p["W"], p["b"], p["s0"]
    N = state_jacobian_norms(x, U, W, b, s0, activation=activation)
    _, S = preactivations(x, U, W, b, s0, activation)
    fp = 1 - S[1:] ** 2 if activation == "tanh" else (S[1:] > 0).astype(float)
    factor = np.abs(fp).max(axis=1) * np.linalg.norm(W, 2)  # ||diag(f'_j)||_2 ||W||_2, j = 1..T
    assert (np.abs(fp) <= 1).all()                           # max|f'| = 1 for tanh and relu
    T = len(x)
    for t in range(T + 1):
        for k in range(t + 1):
            product_bound = np.prod(factor[k:t])                 # j = k+1..t
            assert N[t, k] <= product_bound * (1 + 1e-12)
            assert product_bound <= np.linalg.norm(W, 2) ** (t - k) * (1 + 1e-12)


def test_powers_of_two_are_exact_and_switched_off_units_give_zero():
    # relu, W = 2 I, positive states: ds_t/ds_k = 2^(t-k) I, exactly, however long the lag.
    T = 60
    N = state_jacobian_norms(np.zeros(T, dtype=int), np.zeros((3, 1)), 2 * np.eye(3),
                             s0=np.ones(3), activation="relu")
    lags = np.subtract.outer(np.arange(T + 1), np.arange(T + 1))
    below = lags >= 0
    assert np.array_equal(N[below], 2.0 ** lags[below])
    # Every unit off from step 1 on: the products vanish to exactly 0, unlike the NaN above.
    N = state_jacobian_norms([0, 0, 0], np.zeros((2, 1)), -np.eye(2), s0=np.ones(2),
                             activation="relu")
    assert np.array_equal(np.tril(N, -1), np.zeros((4, 4)))
    assert np.isnan(N[np.triu_indices(4, 1)]).all()


def test_saturated_tanh_vanishes_without_warnings():
    # A huge W saturates tanh: f' = 0 exactly and the products vanish; no NaN, no warning
    # (pytest turns RuntimeWarnings into errors).
    x, p = network(T=40, H=5, scale=200.0, seed=2)
    N = state_jacobian_norms(x, p["U"], p["W"], p["b"], p["s0"])
    assert not np.isnan(np.tril(N)).any()
    assert N[-1, 0] < 1e-100


def test_long_sequence_runs():
    # Size of the site's figures and beyond; `pytest --durations` reports its time.
    rng = np.random.default_rng(0)
    H, T = 32, 200
    W = rng.normal(size=(H, H)) / np.sqrt(H)
    N = state_jacobian_norms(rng.integers(0, 8, T), rng.normal(size=(H, 8)), W)
    assert N.shape == (T + 1, T + 1) and np.isfinite(np.tril(N)).all()


# --- the derivation ---------------------------------------------------------------------------

def _numbers(expr, values):
    """Substitute explicit sizes and values into an index expression and evaluate it."""
    return float(expr.subs(values).doit().xreplace(values))


def test_two_step_entry_is_the_product_of_two_jacobians():
    from rnnmath.derive.rnn import H, W, a, fprime, q, t
    r = sp.Symbol("r", integer=True, positive=True)
    entry = derivations()["dynamics"]["two_steps"].expr.rhs
    rng = np.random.default_rng(4)
    n = 3
    Wn, fp_now, fp_before = rng.normal(size=(n, n)), rng.random(n), rng.random(n)
    product = (fp_now[:, None] * Wn) @ (fp_before[:, None] * Wn)
    for qq in range(n):
        for rr in range(n):
            values = {H: n, q: qq + 1, r: rr + 1}
            expanded = entry.subs(values).doit()
            numbers = {W[i + 1, j + 1]: Wn[i, j] for i in range(n) for j in range(n)}
            numbers |= {fprime(a[t, qq + 1]): fp_now[qq]}
            numbers |= {fprime(a[t - 1, j + 1]): fp_before[j] for j in range(n)}
            assert np.isclose(float(expanded.xreplace(numbers)), product[qq, rr])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_one_step_entries_match_the_code(activation):
    from rnnmath.derive.rnn import W, q
    r = sp.Symbol("r", integer=True, positive=True)
    entry = derivations()["dynamics"][activation].expr.rhs
    x, p = network(seed=3)
    _, S = preactivations(x, p["U"], p["W"], p["b"], p["s0"], activation)
    fp = 1 - S[1:] ** 2 if activation == "tanh" else (S[1:] > 0).astype(float)
    t = 4
    J = fp[t - 1][:, None] * p["W"]
    s_tq = sp.Symbol("s_{t q}")
    for qq in range(J.shape[0]):
        for rr in range(J.shape[1]):
            value = entry.subs({q: qq + 1, r: rr + 1}).xreplace(
                {s_tq: sp.Float(S[t, qq]), W[qq + 1, rr + 1]: sp.Float(p["W"][qq, rr])})
            assert np.isclose(float(value), J[qq, rr])


# --- validation -------------------------------------------------------------------------------

@pytest.fixture
def good():
    x, p = network()
    return dict(x=x, U=p["U"], W=p["W"], b=p["b"], s0=p["s0"])


BAD = {
    "ord nuc": ({}, dict(ord="nuc"), ["ord", "'fro'", "'nuc'"]),
    "ord 3": ({}, dict(ord=3), ["ord", "got 3"]),
    "ord True": ({}, dict(ord=True), ["ord", "True"]),
    "ord '2'": ({}, dict(ord="2"), ["ord", "'2'"]),
    "activation": ({}, dict(activation="sigmoid"), ["activation", "tanh"]),
    "W not square": (dict(W=np.zeros((4, 3))), {}, ["W", "square"]),
    "W NaN": (dict(W=np.full((4, 4), np.nan)), {}, ["W", "finite"]),
    "U rows": (dict(U=np.zeros((3, 3))), {}, ["U", "(4, *)"]),
    "b length": (dict(b=np.zeros(3)), {}, ["b", "(4,)"]),
    "s0 batched": (dict(s0=np.zeros((2, 4))), {}, ["s0", "(4,)", "one sequence"]),
    "token id": (dict(x=np.array([0, 3])), {}, ["x", "id 3"]),
    "batched x": (dict(x=np.zeros((5, 2), dtype=int)), {}, ["x", "one sequence", "(5, 2)"]),
    "empty x": (dict(x=np.array([], dtype=int)), {}, ["x", "T >= 1"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_argument(good, case):
    changes, kwargs, words = BAD[case]
    with pytest.raises(ValueError) as err:
        state_jacobian_norms(**dict(good, **changes), **kwargs)
    for word in words:
        assert word in str(err.value), (case, str(err.value))


@pytest.mark.parametrize("o", [2, 2.0, np.int64(2), "fro", 1, np.inf, float("inf")])
def test_accepted_ords(good, o):
    assert state_jacobian_norms(**good, ord=o).shape == (8, 8)


# -- overflow, long sequences ----------------------------------------------------------------------
def test_an_exploding_relu_network_gets_inf_never_a_false_zero():
    """W = 1e6 I: the states overflow float64 after ~51 steps, the norms are 1e6^(t-k)."""
    T, H = 80, 3
    N = state_jacobian_norms(np.zeros((T, 1)), np.zeros((H, 1)), 1e6 * np.eye(H),
                             s0=np.ones(H), activation="relu")
    lag = np.subtract.outer(np.arange(T + 1), np.arange(T + 1))
    with np.errstate(over="ignore"):
        want = np.where(lag >= 0, 1e6 ** lag.astype(float), np.nan)
    finite = np.isfinite(want)
    assert np.allclose(N[finite], want[finite], rtol=1e-12)
    assert np.all(np.isinf(N[(lag >= 0) & ~finite]))          # beyond float64: inf
    assert not np.any(N[lag >= 0] == 0)
    assert N[T, 0] == np.inf


def test_tanh_with_huge_weights_stays_quiet_and_saturated():
    H = 2
    W = np.array([[1.5e308, -1.5e308], [1.5e308, 1.5e308]])
    N = state_jacobian_norms([0, 0, 0], np.ones((H, 1)), W, s0=np.array([0.9, 0.9]))
    assert np.isfinite(N[np.tril_indices(4)]).all()
    assert N[1, 0] == 0.0  # tanh saturated at +-1: f' = 0 exactly


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("o", ORDS)
def test_last_only_is_the_last_row(activation, o):
    x, p = network(T=30, H=5, scale=1.4, seed=2)
    full = state_jacobian_norms(x, p["U"], p["W"], p["b"], p["s0"], activation=activation, ord=o)
    last = state_jacobian_norms(x, p["U"], p["W"], p["b"], p["s0"], activation=activation, ord=o,
                                last_only=True)
    assert last.shape == (31,)
    np.testing.assert_allclose(last, full[-1], rtol=1e-12)


def test_long_sequences_need_last_only_and_get_it_cheaply(capsys):
    T, H = 20000, 2
    x, U, W = np.zeros(T, dtype=int), np.ones((H, 1)), 0.5 * np.eye(H)
    with pytest.raises(ValueError, match=r"x: T = 20000 steps needs .* 3\.2 GB.*last_only=True"):
        state_jacobian_norms(x, U, W)
    row = state_jacobian_norms(x, U, W, activation="relu", ord="fro", last_only=True,
                               progress=True)
    assert row.shape == (T + 1,) and row[-1] == np.sqrt(H)
    assert row[-2] == np.linalg.norm(0.5 * np.eye(H), "fro")
    assert row[0] == 0.0  # 0.5^20000 underflows float64 (the exponent is kept, the value is 0)
    assert "20000/20000" in capsys.readouterr().err


@pytest.mark.parametrize("kw, word", [(dict(last_only="yes"), "last_only"),
                                      (dict(progress=1), "progress"),
                                      (dict(activation=np.array(["tanh"])), "activation"),
                                      (dict(ord=np.array([2])), "ord")])
def test_flags_and_options_are_validated(kw, word):
    with pytest.raises(ValueError, match=word):
        state_jacobian_norms([0, 1], np.ones((2, 2)), np.eye(2), **kw)
