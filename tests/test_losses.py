"""The losses keep their digits for confident predictions: checked against 50-digit arithmetic.

With ``V = 0`` the logits are ``c`` at every step, so the public functions are tested on exactly
the logits chosen here.
"""
import mpmath
import numpy as np
import pytest
import sympy as sp

from rnnmath import rnn_loss
from rnnmath.derive import outputs

mpmath.mp.dps = 50
EPS = np.finfo(float).eps
ULPS = 8  # a few roundings of terms that are all >= 0: no cancellation to amplify them


def loss_of(c, y, output, mask=None):
    """rnn_loss of one step (or len(y) steps) whose logits are exactly ``c``."""
    c = np.asarray(c, dtype=float)
    T = len(y)
    return rnn_loss(np.zeros(T, dtype=int), y, np.zeros((1, 1)), np.zeros((1, 1)),
                    np.zeros((c.size, 1)), c=c, output=output, mask=mask)


def exact_softmax_ce(z, y):
    z = [mpmath.mpf(float(v)) for v in z]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
    return mpmath.fsum(mpmath.mpf(float(w)) * (lse - v) for w, v in zip(y, z))


def exact_bce(z, y):
    z, y = mpmath.mpf(float(z)), mpmath.mpf(float(y))
    sig = 1 / (1 + mpmath.exp(-z))
    return -y * mpmath.log(sig) - (1 - y) * mpmath.log(1 - sig)


def rel(got, want):
    return float(abs(mpmath.mpf(got) - want) / abs(want))


LOGITS = [10.0, 17.0, 25.0, 30.0, 36.0, 40.0]


@pytest.mark.parametrize("z", LOGITS)
def test_sigmoid_confident_and_right(z, record_error):
    """Label 1 at logit z (and label 0 at -z): the loss is about e^-z, down to 4.2e-18 at 40."""
    for logit, label in ((z, 1.0), (-z, 0.0)):
        got = loss_of([logit], np.array([[label]]), "sigmoid")
        err = rel(got, exact_bce(logit, label))
        record_error("sigmoid BCE vs 50 digits, |z| <= 40 (in eps)", err / EPS)
        assert err < ULPS * EPS, (logit, got)
    assert loss_of([40.0], np.array([[1.0]]), "sigmoid") > 0  # was exactly 0.0


@pytest.mark.parametrize("seed", range(5))
def test_sigmoid_soft_labels(seed, record_error):
    rng = np.random.default_rng(seed)
    z, y = rng.uniform(-40, 40, size=6), rng.uniform(0, 1, size=6)
    y[:2] = [1 - 1e-9, 1e-9]  # nearly hard labels: (1 - y) z must not be z - y z
    for zi, yi in zip(z, y):
        got = loss_of([zi], np.array([[yi]]), "sigmoid")
        err = rel(got, exact_bce(zi, yi))
        record_error("sigmoid BCE vs 50 digits, |z| <= 40 (in eps)", err / EPS)
        assert err < ULPS * EPS


@pytest.mark.parametrize("margin", [1.0, 10.0, 20.0, 25.0, 30.0])
@pytest.mark.parametrize("top", [10.0, 25.0, 40.0, 800.0])
@pytest.mark.parametrize("labels", ["ids", "rows"])
def test_softmax_confident_and_right(margin, top, labels, record_error):
    """The right class leads by ``margin``: the loss is about (K - 1) e^-margin."""
    z = np.array([top, top - margin, top - margin - 3.0, top - 2 * margin])
    want = exact_softmax_ce(z, [1, 0, 0, 0])
    y = [0] if labels == "ids" else np.array([[1.0, 0, 0, 0]])
    err = rel(loss_of(z, y, "softmax"), want)
    record_error("softmax CE vs 50 digits, margin <= 30 (in eps)", err / EPS)
    assert err < ULPS * EPS


@pytest.mark.parametrize("seed", range(5))
def test_softmax_soft_label_rows_at_large_logits(seed, record_error):
    """Label rows at logits far from zero: shifting by the minimum instead of the maximum would
    overflow exp() here (e^780), and rounding 1 + r would lose the small losses."""
    rng = np.random.default_rng(seed)
    z = 800.0 - rng.uniform(0, 30, size=5)
    y = rng.uniform(0, 1, size=5) * (rng.uniform(size=5) < 0.5)
    y[np.argmax(z)] = 1.0
    err = rel(loss_of(z, np.array([y]), "softmax"), exact_softmax_ce(z, y))
    record_error("softmax CE vs 50 digits, margin <= 30 (in eps)", err / EPS)
    assert err < ULPS * EPS


def test_masked_losses_keep_their_digits():
    z = np.array([30.0, 0.0])
    want = 3 * exact_softmax_ce(z, [1, 0])
    got = loss_of(z, [0, 0], "softmax", mask=np.array([1.0, 2.0]))
    assert rel(got, want) < ULPS * EPS
    got = loss_of([35.0], np.array([[1.0], [1.0]]), "sigmoid", mask=[0.5, 2.5])
    assert rel(got, 3 * exact_bce(35.0, 1.0)) < ULPS * EPS


def test_the_derivations_refuse_a_wrong_rewrite():
    """The symbolic check that guards each evaluated form can fail."""
    z, y = outputs.z, outputs.y
    stable = outputs.sigmoid_cross_entropy()["stable"].expr.rhs
    right = outputs.sigmoid_cross_entropy()["evaluated"].expr.rhs
    assert outputs._equal_on_both_sides_of_zero(stable, right, z)
    wrong = (1 - y) * sp.Max(z, 0) + y * sp.Max(z, 0) + outputs.log1p(sp.exp(-sp.Abs(z)))
    assert not outputs._equal_on_both_sides_of_zero(stable, wrong, z)


@pytest.mark.parametrize("z", [-30.0, -1.5, 0.0, 2.5, 30.0])
def test_evaluated_forms_equal_the_definitions_at_50_digits(z):
    d = outputs.sigmoid_cross_entropy()
    gap = d["loss"].expr.rhs - d["evaluated"].expr.rhs.rewrite(sp.log)
    value = gap.subs({outputs.z: sp.Rational(z), outputs.y: sp.Rational(3, 10)})
    assert abs(sp.N(value, 50)) < 1e-40
