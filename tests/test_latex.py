"""The site's LaTeX printer (rnnmath/derive/latex.py): each rule on a representative expression,
with the exact string it must print, and the rules applied to the package's own derivations."""
from __future__ import annotations

import re

import pytest
import sympy as sp

from rnnmath.derive import derivations
from rnnmath.derive.latex import latex

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
    fp, d, dn = (sp.MatrixSymbol(name, n, 1) for name in (r"\phi'_{t}", r"\delta^{o}_{t}",
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
    assert latex(sp.Function(r"\phi'")(a[t, q])) == r"\phi'\left(a_{t,q}\right)"


def test_names_print_as_the_derivation_spells_them():
    """The printer renames nothing: one meaning per symbol is the derivations' job, so a name
    prints as written (only its subscripts take the site's style)."""
    assert latex(sp.Symbol(r"\kappa", integer=True, nonnegative=True)) == r"\kappa"
    assert latex(sp.Symbol("k", integer=True, nonnegative=True)) == "k"
    assert latex(sp.Symbol(r"\theta", positive=True)) == r"\theta"
    assert latex(sp.Symbol(r"\ell_{t k}")) == r"\ell_{t,k}"
    assert latex(sp.MatrixSymbol(r"\delta^{(j)}_{t}", 3, 1)) == r"\delta^{(j)}_{t}"
    assert latex(sp.Symbol(r"\frac{\partial s_{t}}{\partial s_{\tau}}")) == (
        r"\frac{\partial s_{t}}{\partial s_{\tau}}")


# --- the rules hold on every formula the site shows -----------------------------------------

ALL_STEPS = [(key, step) for key, d in derivations().items() for step in d.steps]

# Letters the Notation page reserves, in the meanings the derivations once gave them: theta are
# the parameters (not the clipping threshold gamma), ell the GRU's logits ell_t (not the clipping
# limit lambda), D the input size (not the lag part delta^(j) of an error signal), f the forget
# gate (not the activation phi), delta an error signal (not a Kronecker delta: the bracket [i = j]).
RESERVED = (
    (re.compile(r"\\theta\b"), "theta are the parameters; the clipping threshold is gamma"),
    (re.compile(r"\\ell(?![_A-Za-z])"), "a bare ell is not the clipping limit lambda"),
    (re.compile(r"D\^\{\("), "D is the input size; the lag-j error signal is delta^(j)"),
    (re.compile(r"(?<![A-Za-z\\])f'|(?<![A-Za-z\\])f\("), "f is the forget gate; the activation is phi"),
    (re.compile(r"\\delta_\{?[a-z] ?[a-z]\}?(?![A-Za-z])"), "a Kronecker delta is written [i = j]"),
    (re.compile(r"Kronecker"), "the site says Iverson bracket"),
    (re.compile(r"\\circ\b"), "elementwise products are odot"),
)


def _names(expr) -> set[str]:
    names = {str(a.name) if hasattr(a, "name") else str(a.label)
             for a in expr.atoms(sp.Symbol, sp.MatrixSymbol, sp.IndexedBase)}
    # SymPy's own functions (KroneckerDelta) are the printer's business; the names are undefined ones
    return names | {type(f).__name__ for f in expr.atoms(sp.Function)
                    if isinstance(type(f), sp.core.function.UndefinedFunction)}


def test_reserved_patterns_catch_the_old_meanings():
    """Each pattern fails on the old spelling and passes the site's, so the test below can fail."""
    old = [r"\theta", r"[-\ell, \ell]", "D^{(j)}_{t}", r"$f'_t$ and $s_t = f(a_t)$", r"\delta_{ij}",
           "the Kronecker delta", r"$\circ$ is"]
    new = [r"\gamma", r"[-\lambda, \lambda]", r"\delta^{(j)}_{t}", r"$\phi'_t$ and $s_t = \phi(a_t)$",
           "[i = j]", "the Iverson bracket", r"$\odot$ is"]
    assert RESERVED[3][0].search("f'_{t}") and RESERVED[3][0].search("s_t = f(a_t)")
    for (pattern, why), bad, good in zip(RESERVED, old, new, strict=True):
        assert pattern.search(bad), why
        assert not pattern.search(good), why
    assert not RESERVED[1][0].search(r"\ell_{t k}")        # the GRU's logits keep ell


@pytest.mark.parametrize("key, step", ALL_STEPS, ids=[f"{k}:{s.name}" for k, s in ALL_STEPS])
def test_one_meaning_per_symbol_in_names_and_captions(key, step):
    """No symbol name and no caption of any derivation uses a reserved letter in its old meaning;
    the truncation length is kappa, never a non-negative integer k."""
    for pattern, why in RESERVED:
        assert not pattern.search(step.caption), f"{why}: {step.caption!r}"
    # In a name, delta_{t q} is an error signal with a spaced subscript (the printer writes
    # delta_{t,q}); a Kronecker delta in an expression is a KroneckerDelta object, printed [i = j].
    for name in _names(step.expr):
        for pattern, why in RESERVED[:4] + RESERVED[5:]:
            assert not pattern.search(name), f"{why}: {name!r}"
    for sym in step.expr.atoms(sp.Symbol):
        assert not (sym.name == "k" and sym.is_nonnegative and not sym.is_positive), (
            "the truncation length is kappa")
    if key.endswith(".truncated"):
        assert r"\kappa" in step.latex or step.name != "truncated"
        assert not re.search(r"(?<![A-Za-z\\])k(?![A-Za-z])",
                             " ".join(re.findall(r"\$([^$]+)\$", step.caption)))


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
