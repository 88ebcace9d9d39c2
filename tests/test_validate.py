"""Every bad input is a ValueError naming the argument and what was expected."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmath import rnn_forward, rnn_gradients, softmax


@pytest.fixture
def good():
    rng = np.random.default_rng(0)
    return dict(x=np.array([0, 2, 1]), y=np.array([1, 0, 3]), U=rng.normal(size=(4, 3)),
                W=rng.normal(size=(4, 4)), V=rng.normal(size=(5, 4)), b=np.zeros(4),
                c=np.zeros(5), s0=np.zeros(4))


BAD = {
    # name: (changes to the good arguments, keyword args, words the message must contain)
    "W not square": (dict(W=np.zeros((4, 3))), {}, ["W", "square"]),
    "U rows != H": (dict(U=np.zeros((3, 3))), {}, ["U", "(4, *)"]),
    "V cols != H": (dict(V=np.zeros((5, 3))), {}, ["V", "(*, 4)"]),
    "U rank 1": (dict(U=np.zeros(4)), {}, ["U", "2-D"]),
    "b wrong length": (dict(b=np.zeros(3)), {}, ["b", "(4,)"]),
    "c wrong length": (dict(c=np.zeros(4)), {}, ["c", "(5,)"]),
    "s0 wrong length": (dict(s0=np.zeros(3)), {}, ["s0", "(4,)"]),
    "s0 batched for unbatched x": (dict(s0=np.zeros((2, 4))), {}, ["s0"]),
    "T = 0 ids": (dict(x=np.array([], dtype=int), y=np.array([], dtype=int)), {}, ["x", "T >= 1"]),
    "T = 0 dense": (dict(x=np.zeros((0, 3)), y=np.array([], dtype=int)), {}, ["x", "T >= 1"]),
    "token id too large": (dict(x=np.array([0, 3, 1])), {}, ["x", "id 3", "[0, 3)"]),
    "negative token id": (dict(x=np.array([0, -1, 1])), {}, ["x", "id -1"]),
    "class id too large": (dict(y=np.array([1, 5, 0])), {}, ["y", "id 5", "[0, 5)"]),
    "negative class id": (dict(y=np.array([1, -2, 0])), {}, ["y", "id -2"]),
    "float ids": (dict(x=np.array([0.0, 1.5, 1.0])), {}, ["x", "integer array"]),
    "x rank 3 ids": (dict(x=np.zeros((3, 2, 2), dtype=int)), {}, ["x", "(T,) or (T, B)"]),
    "dense x wrong width": (dict(x=np.zeros((3, 2))), {}, ["x", "length 3"]),
    "y wrong T": (dict(y=np.array([1, 0])), {}, ["y", "T = 3", "got T = 2"]),
    "y batched, x not": (dict(y=np.zeros((3, 1), dtype=int)), {}, ["y", "unbatched"]),
    "y rows wrong width": (dict(y=np.ones((3, 4))), {}, ["y", "length 5"]),
    "negative label": (dict(y=np.array([[0.5, -0.1, 0.6, 0, 0]] * 3)), {}, ["y", "non-negative"]),
    "NaN in W": (dict(W=np.full((4, 4), np.nan)), {}, ["W", "finite"]),
    "inf in x": (dict(x=np.array([[0, np.inf, 0]] * 3)), {}, ["x", "finite"]),
    "NaN in y": (dict(y=np.full((3, 5), np.nan)), {}, ["y", "finite"]),
    "inf in s0": (dict(s0=np.array([0, 0, np.inf, 0])), {}, ["s0", "finite"]),
    "complex U": (dict(U=np.zeros((4, 3), complex)), {}, ["U", "real"]),
    "bool x": (dict(x=np.array([True, False, True])), {}, ["x"]),
    "string activation": ({}, dict(activation="sigmoid"), ["activation", "tanh"]),
    "unknown output": ({}, dict(output="tanh"), ["output", "softmax"]),
    "mask wrong shape": ({}, dict(mask=np.ones(2)), ["mask", "(3,)"]),
    "negative mask": ({}, dict(mask=-np.ones(3)), ["mask", "non-negative"]),
    "NaN mask": ({}, dict(mask=np.array([1.0, np.nan, 1.0])), ["mask", "finite"]),
    "sigmoid label above 1": (dict(y=np.full((3, 5), 2.0)), dict(output="sigmoid"),
                              ["y", "[0, 1]"]),
    "negative truncate": ({}, dict(truncate=-1), ["truncate", ">= 0"]),
    "float truncate": ({}, dict(truncate=2.5), ["truncate", "integer"]),
    "bool truncate": ({}, dict(truncate=True), ["truncate"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_argument(good, case):
    changes, kwargs, words = BAD[case]
    args = dict(good, **changes)
    with pytest.raises(ValueError) as err:
        rnn_gradients(**args, **kwargs)
    for word in words:
        assert word in str(err.value), f"{word!r} not in {err.value!r}"


def test_batch_mismatch_between_x_and_y(good):
    args = dict(good, x=np.zeros((3, 2), int), y=np.zeros((3, 3), int), s0=None)
    with pytest.raises(ValueError, match=r"y: expected T, B = \(3, 2\)"):
        rnn_gradients(**args)


def test_forward_validates_too(good):
    with pytest.raises(ValueError, match="activation"):
        rnn_forward(good["x"], good["U"], good["W"], good["V"], activation="gelu")


def test_numpy_integer_truncate_is_accepted(good):
    g = rnn_gradients(**good, truncate=np.int64(1))
    assert np.isfinite(g.loss)


def test_extreme_logits_are_finite_and_silent(good):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]))
        g = rnn_gradients(**dict(good, V=1e4 * np.sign(good["V"])))
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=-1), 1)
    assert np.isfinite(g.loss) and all(np.all(np.isfinite(v)) for v in g.as_dict().values())


def test_the_one_pass_overflow_test_flags_only_non_finite_sums():
    # the stepper checks its new states with one sum each and runs the named checks only when
    # that fails (rnn_gradients uses sums of squares instead); a sum of finite entries may overflow
    # (then the named checks find nothing and the call returns), but an inf or NaN entry always
    # makes it fail.
    from rnnmath import validate as check
    with check.quiet():  # the caller holds the switch
        assert check.all_finite(np.ones((3, 2)), 2.0, None, np.zeros(4))
        assert not check.all_finite(np.ones(3), np.array([1.0, np.nan]))
        assert not check.all_finite(np.array([1.0, -np.inf]), 0.0, None)
        assert not check.all_finite(np.full(2, 1e308))  # finite entries, overflowing sum


def _check_ids(dtype, depth, values):
    """x as ids of ``dtype`` is accepted exactly when every value is in [0, depth)."""
    from rnnmath import validate as check
    ids = np.array(values, dtype=dtype)
    if all(0 <= v < depth for v in values):
        out, is_ids, _ = check.sequence("x", ids, depth, "D")
        assert is_ids and out.tolist() == values
    else:
        with pytest.raises(ValueError, match=r"^x: expected ids in \[0, "):
            check.sequence("x", ids, depth, "D")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(["i1", "i2", "i4", "i8", "u1", "u2", "u8", ">i2", ">i8", "<i4", ">u4"]),
       st.integers(1, 2**40), st.data())
def test_id_range_of_every_integer_dtype_and_byte_order(dtype, depth, data):
    """Ids are in range read as unsigned integers of their width (one reduction); narrow signed
    ids with more classes than half their range, and other byte orders, take both ends."""
    info = np.iinfo(np.dtype(dtype))
    depth = data.draw(st.sampled_from([depth % (int(info.max) + 2) + 1, 127, 128, 129, 200,
                                       32768, 32769, depth]))
    in_dtype = lambda v: info.min <= v <= info.max  # noqa: E731
    values = data.draw(st.lists(st.one_of(st.integers(int(info.min), int(info.max)),
                                          st.integers(-3, 3).filter(in_dtype),
                                          st.sampled_from([depth - 1, depth, -depth]).filter(
                                              in_dtype)),
                                min_size=1, max_size=6))
    # up to 256 ids are read as a list, longer sequences by NumPy reductions: both
    _check_ids(dtype, depth, values * data.draw(st.sampled_from([1, 100])))


@pytest.mark.parametrize("dtype, depth", [(">i8", 5), ("i1", 200), ("i2", 40000)])
@pytest.mark.parametrize("length", [1, 300])
def test_negative_ids_are_refused_on_the_two_ended_path(dtype, depth, length):
    info = np.iinfo(np.dtype(dtype))
    _check_ids(dtype, depth, [0, -1] * length)
    _check_ids(dtype, depth, [int(info.min)] * length)  # as unsigned: 2^(bits - 1), < depth
    _check_ids(dtype, depth, [0, min(depth - 1, int(info.max))] * length)


def test_the_sum_of_squares_sees_every_non_finite_entry():
    """The weights' finiteness test is one BLAS dot product: a NaN or inf anywhere, in arrays
    long enough to take every vector-unrolled path, makes it non-finite."""
    from rnnmath import validate as check
    rng = np.random.default_rng(0)
    with check.quiet():
        for n in range(1, 200):
            for bad in (np.nan, np.inf, -np.inf):
                for where in {0, n // 2, n - 1}:
                    a = rng.normal(size=n)
                    a[where] = bad
                    assert not np.isfinite(check.sum_of_squares(a)), (n, where, bad)
        assert np.isfinite(check.sum_of_squares(rng.normal(size=(7, 9))))
        assert check.sum_of_squares(np.full(3, 1e200)) == np.inf  # a false alarm, settled exactly
    U = np.full((2, 2), 1e200)  # finite, squares past float64: accepted
    g = rnn_gradients([0, 1], [0, 1], U, np.zeros((2, 2)), np.zeros((2, 2)))
    assert np.isfinite(g.dW).all()


@pytest.mark.parametrize("value, shown", [
    ("gelu", "'gelu'"),
    ("g" * 58, repr("g" * 58)),   # a repr of 60 characters is shown as it is
    ("g" * 59, "a str"),          # 61: only its type
    (list(range(30)), "a list"),
])
def test_a_refused_option_is_shown_if_short_and_named_by_type_if_long(good, value, shown):
    """What was received: the repr of a short value, the type of a long one."""
    with pytest.raises(ValueError) as err:
        rnn_gradients(**good, activation=value)
    assert str(err.value).startswith("activation: expected one of ['relu', 'tanh'], got ")
    assert str(err.value).endswith(f"got {shown}")


def test_an_unknown_output_is_named_exactly(good):
    """The message starts with the argument's own name (not a word that merely contains it)."""
    with pytest.raises(ValueError, match=r"^output: expected one of \['sigmoid', 'softmax'\], "
                                         r"got 'tanh'$"):
        rnn_gradients(**good, output="tanh")


def test_an_id_out_of_range_is_named_with_the_size_it_must_stay_below(good):
    """x's ids are checked against D = U.shape[1], and the message says where D comes from."""
    with pytest.raises(ValueError, match=r"^x: expected ids in \[0, 3\) \(D = U\.shape\[1\]\), "
                                         r"got id 3$"):
        rnn_gradients(**dict(good, x=np.array([0, 3, 1])))


@pytest.mark.parametrize("dtype, depth", [(">i8", 5), ("i1", 200), ("i2", 40000)])
def test_batched_ids_on_the_two_ended_path(dtype, depth):
    """(T, B) ids too many for the list path, of a dtype the unsigned view cannot take: the
    smallest id over the whole array, not per column, decides."""
    from rnnmath import validate as check
    ids = np.zeros((200, 3), dtype=dtype)
    ids[:, 1] = min(depth - 1, int(np.iinfo(np.dtype(dtype)).max))
    out, is_ids, batched = check.sequence("x", ids, depth, "D")
    assert is_ids and batched and out.tolist() == ids.tolist()
    ids[150, 2] = -1
    with pytest.raises(ValueError, match=r"^x: expected ids in \[0, \d+\) \(D\), got id -1$"):
        check.sequence("x", ids, depth, "D")


EXACT = {
    # name: (changes to the good arguments, the whole message)
    "class id too large": (dict(y=np.array([1, 5, 0])),
                           "y: expected ids in [0, 5) (K = V.shape[0]), got id 5"),
    "y wrong T": (dict(y=np.array([1, 0])), "y: expected T = 3 steps as in x, got T = 2"),
    "negative label": (dict(y=np.array([[0.5, -0.1, 0.6, 0, 0]] * 3)),
                       "y: expected non-negative label rows, got -0.1 at index (0, 1)"),
    "s0 for another batch": (dict(x=np.zeros((3, 2), int), y=np.zeros((3, 2), int),
                                  s0=np.zeros((3, 4))),
                             "s0: expected shape (4,) or (2, 4), got shape (3, 4)"),
    # [] has no dtype to tell ids from rows: refused for its length, not as float rows
    "empty list x": (dict(x=[], y=[]), "x: expected at least one time step (T >= 1), got "
                                       "shape (0,) float64"),
    "inf in dense x": (dict(x=np.array([[0, np.inf, 0]] * 3)),
                       "x: expected finite values only, got inf at index (0, 1)"),
}


@pytest.mark.parametrize("case", list(EXACT))
def test_label_and_state_messages_word_for_word(good, case):
    """Where the size comes from, which argument sets the steps, the first bad entry."""
    changes, message = EXACT[case]
    with pytest.raises(ValueError) as err:
        rnn_gradients(**dict(good, **changes))
    assert str(err.value) == message


@pytest.mark.parametrize("name", ["U", "W", "V", "b", "c", "s0"])
def test_bool_weights_are_refused(good, name):
    """Only a mask may be bool (0/1 weights); a bool weight is almost certainly a mistake."""
    with pytest.raises(ValueError, match=rf"^{name}: expected a real \(float\) array, got "
                                         rf"shape \(\d+,( \d+)?\) bool$"):
        rnn_gradients(**dict(good, **{name: good[name] != 0}))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int8])
def test_weights_of_any_real_dtype_are_computed_in_float64(good, dtype):
    """Weights given as float32 or integers are converted once: the results are float64 and
    the same as for the float64 copies of the same values."""
    weights = {k: np.round(4 * good[k]).astype(dtype) for k in ("U", "W", "V")}
    got = rnn_gradients(**dict(good, **weights))
    want = rnn_gradients(**dict(good, **{k: v.astype(np.float64) for k, v in weights.items()}))
    assert got.loss == want.loss
    for name, value in got.as_dict().items():
        assert value.dtype == np.float64, name
        np.testing.assert_array_equal(value, want.as_dict()[name], err_msg=name)


def test_quiet_silences_every_floating_point_warning_whatever_the_callers_setting():
    """The kernels run under quiet(), and their results are checked afterwards: even a caller
    who asked NumPy to raise on everything gets no floating-point error from inside."""
    from rnnmath import validate as check
    tiny, huge, zero = np.float64(1e-300), np.float64(1e300), np.float64(0.0)
    with np.errstate(all="raise"), check.quiet():
        assert tiny * tiny == 0.0               # underflow
        assert huge * huge == np.inf            # overflow
        assert np.isnan(zero * np.inf)          # invalid
        assert np.float64(1.0) / zero == np.inf  # divide by zero


class _Detachable:
    """Duck-types a tensor that does not require grad (or says nothing about it): it has a
    ``detach`` method and converts to NumPy like any array."""

    def __init__(self, value, **attrs):
        self.value = np.asarray(value)
        self.__dict__.update(attrs)

    def detach(self):
        return self

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)


@pytest.mark.parametrize("attrs", [dict(requires_grad=False), {}])
def test_a_tensor_that_does_not_require_grad_is_converted(good, attrs):
    """Only requires_grad = True gets the .detach() hint; a detached tensor is just an array."""
    got = rnn_gradients(**dict(good, W=_Detachable(good["W"], **attrs)))
    np.testing.assert_array_equal(got.dW, rnn_gradients(**good).dW)


class _Unconvertible:
    def __array__(self, dtype=None, copy=None):
        raise ValueError("cannot convert this\nsecond line: internal details")


def test_an_unconvertible_value_gets_the_first_line_of_numpys_reason(good):
    with pytest.raises(ValueError) as err:
        rnn_gradients(**dict(good, V=_Unconvertible()))
    assert str(err.value) == ("V: expected a rectangular array of numbers (nested lists of "
                              "equal lengths), got _Unconvertible that NumPy cannot convert "
                              "(cannot convert this)")
