"""The composable pieces: cell forward/backward with upstream gradients, dense-input and
initial-state gradients, truncation, the single step, the heads, cells defined from SymPy, and the
compositions they make (stacked, bidirectional, encoder-decoder, chunks carrying the final state).

Every gradient is checked against central differences of the forward pass (rnnmath.numeric), and
the measured worst relative error is recorded.
"""
import numpy as np
import pytest

from rnnmath import cells, gradient_check, heads, rnn_forward, rnn_gradients

TOL = 1e-6
BUILTIN = {"rnn_tanh": lambda: cells.rnn("tanh"), "rnn_relu": lambda: cells.rnn("relu"),
           "lstm": cells.lstm, "gru": cells.gru}


def random_params(cell, H, D, rng, scale=0.5):
    def size(dim):
        out = 1
        for f in dim.split("*"):
            f = f.strip()
            out *= {"H": H, "D": D}.get(f) or int(f)
        return out
    return {k: scale * rng.normal(size=tuple(size(d) for d in dims))
            for k, dims in cell.params.items()}


def linear_loss(cell, x, params, state0, du, dfinal):
    """E = sum_t u_t . h_t + sum_s dfinal_s . s_T: its gradient is what backward computes."""
    fw = cell.forward(x, params, state0)
    return float(np.sum(fw.outputs * du) + sum(np.sum(fw.final[s] * v) for s, v in dfinal.items()))


@pytest.mark.parametrize("name", list(BUILTIN))
@pytest.mark.parametrize("batched", [False, True])
def test_backward_with_upstream_and_final_gradients(name, batched, record_error):
    rng = np.random.default_rng(3)
    cell = BUILTIN[name]()
    T, B, D, H = 5, 3, 3, 4
    params = random_params(cell, H, D, rng)
    x = rng.normal(size=(T, B, D) if batched else (T, D))
    state0 = {s: rng.normal(size=(B, H) if batched else (H,)) for s in cell.states}
    fw = cell.forward(x, params, state0)
    du = rng.normal(size=fw.outputs.shape)
    dfinal = {s: rng.normal(size=v.shape) for s, v in fw.final.items()}
    g = cell.backward(fw, du, dfinal)
    checks = [
        gradient_check(lambda **p: linear_loss(cell, x, p, state0, du, dfinal), params, g.params),
        gradient_check(lambda x: linear_loss(cell, x, params, state0, du, dfinal), {"x": x},
                       {"x": g.x}),
        gradient_check(lambda **s: linear_loss(cell, x, params, s, du, dfinal), state0, g.state0),
    ]
    worst = max(c.worst for c in checks)
    record_error(f"cells.{name}.backward vs central differences", worst)
    assert worst < TOL


@pytest.mark.parametrize("name", list(BUILTIN))
def test_truncation_is_the_one_call_semantics(name):
    """truncate=k through the pieces equals the one-call functions' truncate=k, and k = T-1 is full."""
    rng = np.random.default_rng(4)
    cell = BUILTIN[name]()
    T, D, H = 6, 3, 4
    params = random_params(cell, H, D, rng)
    x = rng.integers(0, D, size=T)
    fw = cell.forward(x, params)
    du = rng.normal(size=fw.outputs.shape)
    full = cell.backward(fw, du).params
    for k in (0, 2):
        part = cell.backward(fw, du, truncate=k).params
        assert any(not np.allclose(full[p], part[p]) for p in full)
    same = cell.backward(fw, du, truncate=T - 1).params
    for p in full:
        np.testing.assert_allclose(same[p], full[p], rtol=1e-13, atol=1e-15)


def test_one_call_function_is_the_pieces():
    rng = np.random.default_rng(5)
    T, B, D, H, K = 5, 2, 4, 3, 4
    U, W, V = rng.normal(size=(H, D)), 0.5 * rng.normal(size=(H, H)), rng.normal(size=(K, H))
    x, y = rng.integers(0, D, size=(T, B)), rng.integers(0, K, size=(T, B))
    mask = rng.random((T, B)) > 0.3
    ref = rnn_gradients(x, y, U, W, V, mask=mask, truncate=2)
    cell = cells.rnn()
    fw = cell.forward(x, {"U": U, "W": W})
    head = heads.softmax_cross_entropy(fw.outputs, y, V, mask=mask)
    g = cell.backward(fw, head.doutputs, truncate=2)
    assert head.loss == pytest.approx(ref.loss, rel=1e-14)
    for name, mine in (("U", g.params["U"]), ("W", g.params["W"]), ("V", head.params["V"]),
                       ("s0", g.state0["s"])):
        np.testing.assert_allclose(mine, ref.as_dict()[name], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(ref.final["s"], fw.final["s"])


def test_bool_mask_is_zero_one_weights():
    rng = np.random.default_rng(6)
    out = rng.normal(size=(4, 3))
    V, y = rng.normal(size=(2, 3)), np.array([0, 1, 1, 0])
    m = np.array([True, False, True, True])
    a = heads.sigmoid_cross_entropy(out, y, V, mask=m)
    b = heads.sigmoid_cross_entropy(out, y, V, mask=m.astype(float))
    assert a.loss == b.loss and np.array_equal(a.doutputs, b.doutputs)


@pytest.mark.parametrize("name", list(BUILTIN))
def test_single_step_is_one_step_of_forward(name):
    rng = np.random.default_rng(7)
    cell = BUILTIN[name]()
    params = random_params(cell, 4, 3, rng)
    x = rng.normal(size=(6, 3))
    fw = cell.forward(x, params)
    state = None
    for t in range(6):
        state = cell.step(x[t], params, state)
    for s in cell.states:
        np.testing.assert_allclose(state[s], fw.final[s], rtol=1e-12, atol=1e-14)
    ids = np.array([2, 0, 1])
    fw = cell.forward(ids, params)
    state = None
    for t in ids:
        state = cell.step(int(t), params, state)
    np.testing.assert_allclose(state[cell.output], fw.final[cell.output], rtol=1e-12)


def test_bad_arguments_name_themselves():
    cell = cells.lstm()
    params = random_params(cell, 2, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="params"):
        cell.forward([0, 1], {**params, "nope": 1})
    with pytest.raises(ValueError, match=r"params\['weight_(hh|ih)'\].* got shape"):
        cell.forward([0, 1], {**params, "weight_hh": np.ones((3, 3))})
    fw = cell.forward([0, 1], params)
    with pytest.raises(ValueError, match="doutputs"):
        cell.backward(fw, np.ones((3, 2)))
    with pytest.raises(ValueError, match="dfinal"):
        cell.backward(fw, None, {"q": np.ones(2)})
    with pytest.raises(ValueError, match="activation"):
        cells.rnn("sigmoid")


# -- compositions --------------------------------------------------------------------------------
def _flat(V, **groups):
    """Several parameter dicts as one, keys prefixed by their group (``l1_U``), plus ``V``:
    what gradient_check perturbs."""
    return {**{f"{g}_{k}": v for g, d in groups.items() for k, v in d.items()}, "V": V}


def _part(p, group):
    """The entries of ``group`` in a flat dict, keys without the prefix."""
    return {k[len(group) + 1:]: v for k, v in p.items() if k.startswith(group + "_")}


def _check(loss, grads, values, record_error, label):
    worst = gradient_check(loss, values, grads).worst
    record_error(label, worst)
    assert worst < TOL


def test_two_layer_stacked_rnn(record_error):
    """Layer 2 reads layer 1's outputs as dense inputs: its g.x is layer 1's doutputs."""
    rng = np.random.default_rng(8)
    T, D, H1, H2, K = 6, 4, 5, 3, 4
    l1, l2 = cells.rnn("tanh"), cells.gru()
    p1, p2 = random_params(l1, H1, D, rng), random_params(l2, H2, H1, rng)
    V = rng.normal(size=(K, H2))
    x, y = rng.integers(0, D, size=T), rng.integers(0, K, size=T)

    def loss(**p):
        f1 = l1.forward(x, _part(p, "l1"))
        f2 = l2.forward(f1.outputs, _part(p, "l2"))
        return heads.softmax_cross_entropy(f2.outputs, y, p["V"]).loss

    f1 = l1.forward(x, p1)
    f2 = l2.forward(f1.outputs, p2)
    head = heads.softmax_cross_entropy(f2.outputs, y, V)
    g2 = l2.backward(f2, head.doutputs)
    g1 = l1.backward(f1, g2.x)
    values = _flat(V, l1=p1, l2=p2)
    grads = _flat(head.params["V"], l1=g1.params, l2=g2.params)
    _check(loss, grads, values, record_error, "stacked RNN vs central differences")


def test_bidirectional_rnn(record_error):
    """Two cells, one on the reversed sequence; the head reads both outputs side by side."""
    rng = np.random.default_rng(9)
    T, D, H, K = 5, 3, 3, 2
    fwd, bwd = cells.rnn("tanh"), cells.lstm()
    pf, pb = random_params(fwd, H, D, rng), random_params(bwd, H, D, rng)
    V = rng.normal(size=(K, 2 * H))
    x, y = rng.normal(size=(T, D)), rng.integers(0, K, size=T)

    def run(pf, pb, V):
        a, b = fwd.forward(x, pf), bwd.forward(x[::-1], pb)
        both = np.concatenate([a.outputs, b.outputs[::-1]], axis=-1)
        return a, b, heads.softmax_cross_entropy(both, y, V)

    a, b, head = run(pf, pb, V)
    ga = fwd.backward(a, head.doutputs[:, :H])
    gb = bwd.backward(b, head.doutputs[:, H:][::-1])

    def loss(**p):
        return run(_part(p, "f"), _part(p, "b"), p["V"])[2].loss

    values = _flat(V, f=pf, b=pb)
    grads = _flat(head.params["V"], f=ga.params, b=gb.params)
    _check(loss, grads, values, record_error, "bidirectional RNN vs central differences")


def test_encoder_decoder_with_separate_weights(record_error):
    """Encoder over T_x inputs, decoder over T_y != T_x steps starting from the encoder's final
    state; the decoder's dstate0 is the encoder's dfinal."""
    rng = np.random.default_rng(10)
    Tx, Ty, D, H, K = 6, 3, 4, 3, 5
    enc, dec = cells.lstm(), cells.lstm()
    pe, pd = random_params(enc, H, D, rng), random_params(dec, H, K, rng)
    V = rng.normal(size=(K, H))
    x, y_in, y = rng.integers(0, D, size=Tx), rng.integers(0, K, size=Ty), rng.integers(0, K, size=Ty)

    def run(pe, pd, V):
        fe = enc.forward(x, pe)
        fd = dec.forward(y_in, pd, fe.final)
        return fe, fd, heads.softmax_cross_entropy(fd.outputs, y, V)

    fe, fd, head = run(pe, pd, V)
    gd = dec.backward(fd, head.doutputs)
    ge = enc.backward(fe, None, gd.state0)

    def loss(**p):
        return run(_part(p, "e"), _part(p, "d"), p["V"])[2].loss

    values = _flat(V, e=pe, d=pd)
    grads = _flat(head.params["V"], e=ge.params, d=gd.params)
    _check(loss, grads, values, record_error, "encoder-decoder vs central differences")


def test_chunks_carry_the_final_state():
    """min-char-rnn's loop: each chunk starts from the last chunk's final state, no second pass."""
    rng = np.random.default_rng(11)
    D, H = 5, 4
    U, W, V = rng.normal(size=(H, D)), 0.5 * rng.normal(size=(H, H)), rng.normal(size=(D, H))
    data = rng.integers(0, D, size=25)
    s = np.zeros(H)
    for start in range(0, 20, 5):
        x, y = data[start:start + 5], data[start + 1:start + 6]
        g = rnn_gradients(x, y, U, W, V, s0=s)
        whole = rnn_gradients(data[:start + 5], data[1:start + 6], U, W, V)
        np.testing.assert_allclose(g.final["s"], whole.final["s"], rtol=1e-12)
        s = g.final["s"]


@pytest.mark.parametrize("name", list(BUILTIN))
def test_a_stepper_validates_once_and_steps_like_forward(name):
    rng = np.random.default_rng(8)
    cell = BUILTIN[name]()
    params = random_params(cell, 4, 3, rng)
    step = cell.stepper(params)
    ids = np.array([[2, 0], [1, 1], [0, 2]])  # (T, B): one id per sequence at each step
    fw = cell.forward(ids, params)
    state = None
    for t in range(len(ids)):
        state = step(ids[t], state)
    for s in cell.states:
        np.testing.assert_allclose(state[s], fw.final[s], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"x: expected ids in \[0, 3\)"):
        step(3)
    with pytest.raises(ValueError, match="x: expected a row of shape"):
        step(np.ones(4))
    bad = {s: np.zeros(4) for s in cell.states}
    bad[cell.states[-1]] = np.full(4, np.nan)
    with pytest.raises(ValueError, match=rf"state\['{cell.states[-1]}'\]"):
        step(0, bad)
    with pytest.raises(ValueError, match="state: expected a dict"):
        step(0, {"nope": np.zeros(4)})


def test_a_stepper_names_a_state_that_overflows():
    cell = cells.rnn("relu")
    step = cell.stepper({"U": np.full((2, 3), 1e308), "W": np.full((2, 2), 1e308)})
    state = step(0)  # 1e308: still finite
    with pytest.raises(FloatingPointError,
                       match=r"^new state s is not finite \(entry \(0,\) is inf\)"):
        step(1, state)


# -- tests written for mutants that survived (tests/MUTATION.md) ---------------------------------
def _rnn_problem(H=4, D=3):
    rng = np.random.default_rng(11)
    return cells.rnn(), {"U": rng.normal(size=(H, D)), "W": 0.5 * rng.normal(size=(H, H))}


CELL_MESSAGES = {
    # case: (call on (cell, params), the start of the message)
    "id out of range": (lambda c, p: c.forward([0, 3], p),
                        "x: expected ids in [0, 3) (D, the input size of the cell), got id 3"),
    "NaN weight": (lambda c, p: c.forward([0], {**p, "U": np.full((4, 3), np.nan)}),
                   "params['U']: expected finite values only"),
    "missing U": (lambda c, p: c.forward([0], {"W": p["W"]}),
                  "params: expected a 'U' entry of shape (H, D), got keys ['W']"),
    "no entry with H": (lambda c, p: c.forward([0], {}),
                        "params: expected the entries ['U', 'W', 'b'] of the rnn_tanh cell"),
    "unknown keys of two types": (lambda c, p: c.forward([0], {**p, 1: 0, "z": 0}),
                                  "params: expected keys among ['U', 'W', 'b'], got unknown key 1"),
    "unknown state": (lambda c, p: c.forward([0], p, {"h": np.zeros(4)}),
                      "state0: expected keys among ['s'], got 'h'"),
    "unknown states of two types": (lambda c, p: c.forward([0], p, {1: 0, "z": 0}),
                                    "state0: expected keys among ['s'], got 1"),
    "batched state0, unbatched x": (lambda c, p: c.forward([0], p, {"s": np.zeros((1, 4))}),
                                    "state0['s']: expected shape (4,), got shape (1, 4)"),
    "NaN doutputs": (lambda c, p: c.backward(c.forward([0], p), np.full((1, 4), np.nan)),
                     "doutputs: expected finite values only"),
    "NaN dfinal": (lambda c, p: c.backward(c.forward([0], p), None, {"s": np.full(4, np.nan)}),
                   "dfinal['s']: expected finite values only"),
    "activation": (lambda c, p: cells.rnn("gelu"), "activation: expected one of"),
    "step: 2-D ids": (lambda c, p: c.stepper(p)(np.zeros((2, 2), int)),
                      "x: expected one id or (B,) ids, got shape (2, 2)"),
    "step: NaN row": (lambda c, p: c.stepper(p)(np.full(3, np.nan)),
                      "x: expected finite values only"),
    "step: ragged": (lambda c, p: c.stepper(p)([[0.0, 1.0], [2.0]]),
                     "x: expected a rectangular array"),
    "step: bool state": (lambda c, p: c.stepper(p)(0, {"s": np.ones(4, bool)}),
                         "state['s']: expected a real (float) array"),
    "step: long state": (lambda c, p: c.stepper(p)(0, {"s": np.zeros(5)}),
                         "state['s']: expected shape (4,), got shape (5,)"),
    "step: batched state, one id": (lambda c, p: c.stepper(p)(0, {"s": np.zeros((2, 4))}),
                                    "state['s']: expected shape (4,), got shape (2, 4)"),
    "step: no input columns": (lambda c, p: c.stepper({**p, "U": np.zeros((4, 0))})(0),
                               "x: expected ids in [0, 0), got id 0"),
    "step: no input columns, 0-d id": (
        lambda c, p: c.stepper({**p, "U": np.zeros((4, 0))})(np.int64(0)),
        "x: expected ids in [0, 0), got id 0"),
    "step: no input columns, (B,) ids": (
        lambda c, p: c.stepper({**p, "U": np.zeros((4, 0))})(np.array([0])),
        "x: expected ids in [0, 0), got array([0])"),
}


@pytest.mark.parametrize("case", list(CELL_MESSAGES))
def test_cell_messages_name_the_argument_and_what_was_expected(case):
    call, start = CELL_MESSAGES[case]
    cell, params = _rnn_problem()
    with pytest.raises(ValueError) as err:
        call(cell, params)
    assert str(err.value).startswith(start), str(err.value)


@pytest.mark.parametrize("make", [np.int64, np.array, int])
def test_a_stepper_takes_one_id_in_any_integer_form(make):
    """A NumPy integer, a 0-d array and a Python int are the same one token id: in range
    [0, D) inclusive of 0, refused at D and below 0."""
    cell, params = _rnn_problem()
    step = cell.stepper(params)
    for token in (0, 2):
        np.testing.assert_array_equal(step(make(token))["s"], step(token)["s"])
        np.testing.assert_array_equal(step(token)["s"], cell.forward([token], params).final["s"])
    for token in (-1, 3):
        with pytest.raises(ValueError, match=r"^x: expected ids in \[0, 3\)"):
            step(make(token))


def test_a_stepper_checks_every_id_of_a_batch():
    cell, params = _rnn_problem()
    step = cell.stepper(params)
    np.testing.assert_array_equal(step(np.array([1]))["s"], step(1)["s"][None])
    for ids in ([0, 3], [-1, 0], [3], [2, -1]):
        with pytest.raises(ValueError, match=r"^x: expected ids in \[0, 3\)"):
            step(np.array(ids))


def test_a_stepper_takes_batched_rows_and_states_of_any_float_form():
    cell, params = _rnn_problem()
    step = cell.stepper(params)
    rows = np.random.default_rng(2).normal(size=(2, 3))
    state = {"s": np.array([[0.1, 0.2, 0.3, 0.4], [0.0, -0.5, 0.5, 1.0]])}
    want = cell.forward(rows[None], params, state).final["s"]
    np.testing.assert_allclose(step(rows, state)["s"], want, rtol=1e-15)
    np.testing.assert_allclose(step(rows, {"s": state["s"].tolist()})["s"], want, rtol=1e-15)
    one = step(1, {"s": state["s"][0].tolist()})["s"]
    np.testing.assert_array_equal(one, step(1, {"s": state["s"][0]})["s"])


def test_backward_without_doutputs_is_backward_with_zeros():
    """doutputs omitted: zeros shaped like the outputs, for dense input and a batch of B != H."""
    cell, params = _rnn_problem()
    x = np.random.default_rng(5).normal(size=(3, 2, 3))  # T = 3, B = 2, D = 3
    fw = cell.forward(x, params)
    dfinal = {"s": np.ones((2, 4))}
    got, want = cell.backward(fw, None, dfinal), cell.backward(fw, np.zeros((3, 2, 4)), dfinal)
    for name in got.params:
        np.testing.assert_array_equal(got.params[name], want.params[name])
    np.testing.assert_array_equal(got.x, want.x)
    assert got.signals["a"].shape == (3, 2, 4)


def test_lstm_with_only_the_last_bias_given():
    """An omitted bias is zeros, and the entries after it are still read."""
    cell = cells.lstm()
    params = random_params(cell, 2, 3, np.random.default_rng(6))
    zero = {**params, "bias_hh": np.zeros(8)}
    del params["bias_hh"]  # listed before bias_ih
    np.testing.assert_array_equal(cell.forward([0, 2], params).final["h"],
                                  cell.forward([0, 2], zero).final["h"])


def test_cell_backward_names_exploding_gradients_and_keeps_quiet():
    """Cell.backward checks its signals: the step where delta stopped being finite is named
    (no NumPy warning leaks on the way)."""
    cell = cells.rnn("relu")
    H, T = 2, 200
    params = {"U": np.full((H, 1), 1e-3), "W": 1e3 * np.eye(H)}
    fw = cell.forward(np.zeros((T, 1)), params, {"s": np.full(H, 1e-300)})
    with pytest.raises(FloatingPointError, match=r"^delta_t = dE/da_t stopped being finite"):
        cell.backward(fw, np.ones((T, H)))



def test_a_cell_made_from_a_kernel_module():
    """Cell reads its parameters, states, output and biases from the module; a source or a
    description given is kept (define passes both: its module has no file to read)."""
    import importlib
    module = importlib.import_module("rnnmath._cell_rnn_tanh")
    marker = object()
    cell = cells.Cell("rnn_tanh", module, "source text", marker)
    assert (cell.name, cell.kernels, cell.params, cell.states, cell.output, cell.optional) == (
        "rnn_tanh", module, {"U": ("H", "D"), "W": ("H", "H"), "b": ("H",)}, ("s",), "s", ("b",))
    assert cell.source == "source text" and cell.description is marker
    assert repr(cell) == "<cell rnn_tanh: params ['U', 'W', 'b'], states ['s']>"


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("H, B", [(1, None), (4, 2)])
def test_heads_are_the_output_layer_of_rnn_gradients(output, H, B):
    """A head on the cell's outputs gives rnn_gradients' loss, dV and dc and rnn_forward's
    logits and probabilities, with c and a mask passed on (also for one unit, H = 1)."""
    rng = np.random.default_rng(12)
    T, D, K = 3, 2, 3
    lead = (T,) if B is None else (T, B)
    U, W, V, c = (rng.normal(size=s) for s in [(H, D), (H, H), (K, H), (K,)])
    x, y = rng.integers(0, D, size=lead), rng.random(lead + (K,))
    mask = rng.random(lead)
    head = {"softmax": heads.softmax_cross_entropy, "sigmoid": heads.sigmoid_cross_entropy}
    out = head[output](cells.rnn().forward(x, {"U": U, "W": W}).outputs, y, V, c, mask=mask)
    g = rnn_gradients(x, y, U, W, V, c=c, mask=mask, output=output)
    fw = rnn_forward(x, U, W, V, c=c, output=output)
    assert out.loss == pytest.approx(g.loss, rel=1e-14)
    assert sorted(out.params) == ["V", "c"]
    np.testing.assert_allclose(out.params["V"], g.dV, rtol=1e-13)
    np.testing.assert_allclose(out.params["c"], g.dc, rtol=1e-13)
    np.testing.assert_array_equal(out.logits, fw.logits)
    np.testing.assert_array_equal(out.probs, fw.probs)


HEAD_MESSAGES = {
    "NaN outputs": (dict(outputs=np.full((3, 4), np.nan)), "outputs: expected finite values"),
    "V for another H": (dict(V=np.ones((3, 5))), "V: expected shape (*, 4), got shape (3, 5)"),
    "c for another K": (dict(c=np.ones(4)), "c: expected shape (3,), got shape (4,)"),
    "sigmoid label 2": (dict(y=np.full((3, 3), 2.0)), "y: expected labels in [0, 1] for sigmoid"),
}


@pytest.mark.parametrize("case", list(HEAD_MESSAGES))
def test_head_messages_name_the_argument(case):
    args = dict(outputs=np.zeros((3, 4)), y=[0, 1, 2], V=np.ones((3, 4)), c=np.zeros(3))
    changes, start = HEAD_MESSAGES[case]
    with pytest.raises(ValueError) as err:
        heads.sigmoid_cross_entropy(**dict(args, **changes))
    assert str(err.value).startswith(start), str(err.value)
    if case == "sigmoid label 2":  # softmax takes unnormalised label rows
        assert heads.softmax_cross_entropy(**dict(args, **changes)).loss > 0


def test_a_builtin_cell_is_made_once(monkeypatch):
    """cells.gru() builds the cell from its generated module on first use and then returns
    the same object."""
    monkeypatch.setattr(cells, "_BUILTIN", {})
    cell = cells.gru()
    assert cells.gru() is cell and cells._BUILTIN == {"gru": cell}
    assert cell.name == "gru" and cell.kernels.__name__ == "rnnmath._cell_gru"


def test_define_makes_a_cell_from_its_description():
    """define: the cell's name, title, states and output (default: the first state) reach the
    description, the generated module and the Cell; its kernels run like a built-in cell's."""
    from rnnmath.derive import cells as examples
    d = examples.examples()["peephole_lstm"]
    cell = cells.define("peephole_lstm", d.equations, states=d.states, blocks=d.blocks,
                        title="Peephole LSTM")
    assert (cell.name, cell.states, cell.output) == ("peephole_lstm", ("h", "c"), "h")
    assert (cell.description.name, cell.description.title) == ("peephole_lstm", "Peephole LSTM")
    assert cell.description.blocks == d.blocks and cell.description.output == "h"
    assert cell.kernels.__name__ == "rnnmath_cell_peephole_lstm"
    assert cell.source.startswith('"""') and "def forward" in cell.source
    assert cells.define("peephole_lstm", d.equations, states=d.states,
                        blocks=d.blocks).description.title == ""
    other = cells.define("peephole_lstm", d.equations, states=d.states, blocks=d.blocks,
                         output="c")
    assert other.output == "c"
    params = random_params(cell, 2, 3, np.random.default_rng(3))
    fw, fo = cell.forward([0, 2, 1], params), other.forward([0, 2, 1], params)
    np.testing.assert_array_equal(fw.outputs, fw.states["h"][1:])
    np.testing.assert_array_equal(fo.outputs, fw.states["c"][1:])
