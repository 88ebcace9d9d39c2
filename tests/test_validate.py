"""Every bad input is a ValueError naming the argument and what was expected."""
import warnings

import numpy as np
import pytest

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
    # rnn_gradients and the stepper check all their results with one sum each and run the
    # named, step-by-step checks only when that fails; a sum of finite entries may overflow
    # (then the named checks find nothing and the call returns), but an inf or NaN entry always
    # makes it fail.
    from rnnmath import validate as check
    with check.quiet():  # the caller holds the switch
        assert check.all_finite(np.ones((3, 2)), 2.0, None, np.zeros(4))
        assert not check.all_finite(np.ones(3), np.array([1.0, np.nan]))
        assert not check.all_finite(np.array([1.0, -np.inf]), 0.0, None)
        assert not check.all_finite(np.full(2, 1e308))  # finite entries, overflowing sum
