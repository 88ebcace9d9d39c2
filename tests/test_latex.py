"""The site's LaTeX printer (rnnmath/derive/latex.py): each rule on a representative expression,
with the exact string it must print, and the rules applied to the package's own derivations."""
from __future__ import annotations

import re

import pytest
import sympy as sp

from rnnmath.derive import derivations
from rnnmath.derive.latex import (_CAPTION_K, _CAPTION_MATH, _LONE_K, SITE_NAMES,
                                  TRUNCATION_LENGTH, latex, site_caption)

t = sp.Symbol("t", integer=True, positive=True)
i, j, k, p, q, g = sp.symbols("i j k p q g", integer=True, positive=True)
K, H = sp.symbols("K H", integer=True, positive=True)
y, yhat = sp.IndexedBase("y"), sp.IndexedBase(r"\hat{y}")
s, x = sp.IndexedBase("s"), sp.IndexedBase("x")
V, W = sp.IndexedBase("V"), sp.IndexedBase("W")
delta, delta_o = sp.IndexedBase(r"\delta"), sp.IndexedBase(r"\delta^{o}")
Cbar, gate_i, gate_g = sp.IndexedBase(r"\bar{C}"), sp.IndexedBase("i"), sp.IndexedBase("g")


@pytest.mark.parametrize("expr, expected", [
    # the loss: label weight first, then the log; the sign in front of the sum
    (-sp.Sum(y[k] * sp.log(yhat[k]), (k, 1, K)),
     r"- \sum_{k=1}^{K} y_{k} \log{\left(\hat{y}_{k} \right)}"),
    # Kronecker delta as an Iverson bracket, never as delta
    (yhat[i] * (sp.KroneckerDelta(i, j) - yhat[j]),
     r"\hat{y}_{i} \left([i = j] - \hat{y}_{j}\right)"),
    # upstream signal first, then the local derivative; sigma' = i (1 - i) kept together
    (Cbar[t, q] * gate_g[t, q] * gate_i[t, q] * (1 - gate_i[t, q]),
     r"\bar{C}_{t,q} g_{t,q} i_{t,q} \left(1 - i_{t,q}\right)"),
    # weight entry before the per-step signal: reads as V^T delta^o; time first, stacked scripts
    (sp.Sum(V[k, q] * delta_o[t, k], (k, 1, K)),
     r"\sum_{k=1}^{K} V_{k,q} \delta^{o}_{t,k}"),
    # compact time index, one comma-separated subscript style
    (delta[t + 1, g] * W[g, q], r"W_{g,q} \delta_{t+1,g}"),
    (delta[t, p] * s[t - 1, q], r"\delta_{t,p} s_{t-1,q}"),
    # the bias after the product it is added to
    (sp.IndexedBase("c")[k] + sp.Sum(V[k, p] * s[t, p], (p, 1, H)),
     r"\sum_{p=1}^{H} V_{k,p} s_{t,p} + c_{k}"),
    # a derivative is written with the partial sign, as everywhere on the site
    (sp.Derivative(sp.Symbol("E"), sp.IndexedBase("z")[j]),
     r"\frac{\partial E}{\partial z_{j}}"),
    # a coefficient (1 - y) before the function it weighs
    ((1 - sp.Symbol("y")) * sp.log(sp.Symbol("u")),
     r"\left(1 - y\right) \log{\left(u \right)}"),
    # a lone numerator or denominator gets no brackets
    (1 / (1 + sp.exp(-sp.Symbol("z"))), r"\frac{1}{1 + e^{- z}}"),
])
def test_printer_rules(expr, expected):
    assert latex(expr) == expected


def test_hadamard_product_is_odot_and_brackets_matrix_products():
    n = sp.Symbol("n", integer=True, positive=True)
    fp, d, dn = (sp.MatrixSymbol(name, n, 1) for name in ("f'_{t}", r"\delta^{o}_{t}",
                                                          r"\delta_{t+1}"))
    Vm, Wm = sp.MatrixSymbol("V", n, n), sp.MatrixSymbol("W", n, n)
    assert latex(sp.HadamardProduct(fp, Vm.T * d + Wm.T * dn)) == (
        r"\phi'_{t} \odot \left(V^{T} \delta^{o}_{t} + W^{T} \delta_{t+1}\right)")
    assert latex(sp.HadamardProduct(fp, Wm.T * dn)) == (
        r"\phi'_{t} \odot \left(W^{T} \delta_{t+1}\right)")


def test_label_subscripts_are_comma_separated():
    label = sp.Symbol(r"\frac{\partial s_{t q}}{\partial s_{t-1, r}}")
    assert latex(label) == r"\frac{\partial s_{t,q}}{\partial s_{t-1,r}}"
    # an operator inside a subscript is not a list of indices
    assert latex(sp.Symbol(r"\delta_{t + 1}")) == r"\delta_{t + 1}"


def test_derivative_function_prints_as_prime():
    a = sp.IndexedBase("a")
    assert latex(sp.Function("f'")(a[t, q])) == r"\phi'\left(a_{t,q}\right)"


def test_site_names_one_meaning_per_symbol():
    assert latex(TRUNCATION_LENGTH) == r"\kappa"
    assert latex(sp.Symbol("k", integer=True, positive=True)) == "k"  # the class index
    assert latex(sp.Symbol(r"\theta", positive=True)) == r"\gamma"
    assert latex(sp.Symbol(r"\ell", positive=True)) == r"\lambda"
    assert latex(sp.Symbol(r"\ell_{t k}")) == r"\ell_{t,k}"           # the GRU's logits stay
    assert latex(sp.MatrixSymbol("D^{(j)}_{t}", 3, 1)) == r"\delta^{(j)}_{t}"
    assert latex(sp.Symbol(r"\frac{\partial s_{t}}{\partial s_{k}}")) == (
        r"\frac{\partial s_{t}}{\partial s_{\tau}}")


# --- the rules hold on every formula the site shows -----------------------------------------

ALL_STEPS = [(key, step) for key, d in derivations().items() for step in d.steps]


def test_every_site_name_rule_is_still_needed():
    """A rename is a bridge until the derivation uses the site's name; delete it when unused."""
    names = set()
    for _, step in ALL_STEPS:
        for atom in step.expr.atoms(sp.Symbol, sp.MatrixSymbol, sp.IndexedBase):
            names.add(str(atom.name) if hasattr(atom, "name") else str(atom.label))
        for f in step.expr.atoms(sp.Function):
            names.add(type(f).__name__)
    for pattern, _, why in SITE_NAMES:
        assert any(pattern.search(n) for n in names), f"unused rename ({why}): delete it"


@pytest.mark.parametrize("key, step", ALL_STEPS, ids=[f"{k}:{s.name}" for k, s in ALL_STEPS])
def test_site_formulas_follow_the_symbol_table(key, step):
    tex = step.latex
    # delta only for error signals: no Kronecker delta with two plain indices (delta_{ij}, ...)
    assert not re.search(r"\\delta_\{[a-z] ?[a-z]\}", tex), tex
    assert r"\circ" not in tex, "elementwise products print as \\odot"
    assert not re.search(r"\{\{[^{}]*\}\}_\{", tex), "staggered scripts {x^a}_b"
    assert r"\frac{d}{d" not in tex, "derivatives are written with the partial sign"
    assert r"\theta" not in tex and not re.search(r"\\ell(?!_)", tex)
    assert not re.search(r"(?<![A-Za-z\\])f'", tex), "the activation is phi; f is the forget gate"
    assert "D^{(" not in tex, "D is the input size"
    # one subscript style: comma-separated, never space-separated
    for sub in re.findall(r"_\{([^{}]*)\}", tex):
        assert not re.fullmatch(r"[A-Za-z0-9]+ [A-Za-z0-9]+", sub), (sub, tex)


# --- captions -------------------------------------------------------------------------------

def test_site_caption_maps_math_only():
    caption = r"Differentiate ($\delta_{ij}$ is the Kronecker delta); keep lags $0..k$, and f(a)."
    assert site_caption("rnn.truncated", caption) == (
        r"Differentiate ($[i = j]$ is the Iverson bracket); keep lags $0..\kappa$, and f(a).")
    # outside the truncation and path derivations, k is a class and stays
    assert site_caption("softmax", r"every $\hat y_k$") == r"every $\hat y_k$"
    assert site_caption("gru.cell", r"its logits $\ell_t$") == r"its logits $\ell_t$"


def test_every_caption_rule_is_still_needed():
    captions = [(key, step.caption) for key, step in ALL_STEPS]
    for pattern, _, why in _CAPTION_MATH:
        assert any(pattern.search(c) for _, c in captions), f"unused caption rule ({why})"
    for key in _CAPTION_K:
        assert any(k == key and _LONE_K.search(c) for k, c in captions), key


@pytest.mark.parametrize("key, step", ALL_STEPS, ids=[f"{k}:{s.name}" for k, s in ALL_STEPS])
def test_site_captions_follow_the_symbol_table(key, step):
    text = site_caption(key, step.caption)
    for math in re.findall(r"\$([^$]+)\$", text):
        assert not re.search(r"\\delta_\{?[a-z] ?[a-z]\}?(?![A-Za-z])", math), text
        assert r"\circ" not in math and r"\theta" not in math, text
        assert not re.search(r"(?<![A-Za-z\\])f'|(?<![A-Za-z\\])f\(", math), text
        assert not re.search(r"\\ell(?![_A-Za-z])", math), text
    assert "Kronecker" not in text


def test_long_equation_breaks_after_whole_terms():
    a = sp.IndexedBase(r"\mathrm{long\_name}")
    terms = [sp.log(1 + a[n] / (1 + a[n + 1])) * sp.Symbol(f"w_{n}") for n in range(8)]
    tex = latex(sp.Eq(sp.Symbol("E"), sp.Add(*terms)))
    lines = tex.split("\n")
    assert lines[0] == r"\begin{aligned}" and lines[-1] == r"\end{aligned}"
    assert lines[1].startswith("E ={}& ") and all(l.startswith(r"&\quad ") for l in lines[2:-1])
    body = [l.removesuffix(r" \\") for l in lines[1:-1]]
    assert all(len(l) <= 150 + len(r"&\quad ") for l in body), body
    # nothing lost: the terms, in order, are the one-line print of the sum
    joined = " ".join(l.removeprefix("E ={}& ").removeprefix(r"&\quad ") for l in body)
    assert joined == latex(sp.Add(*terms))
    assert latex(sp.Eq(sp.Symbol("E"), terms[0])) == "E = " + latex(terms[0])
