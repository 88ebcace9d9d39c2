"""The site's LaTeX printer (rnnmath/derive/latex.py): each rule on a representative expression,
with the exact string it must print, and the rules applied to the package's own derivations."""
from __future__ import annotations

import re

import pytest
import sympy as sp

from rnnmath.derive import derivations
from rnnmath.derive.latex import (PHONE_LINE, RnnLatexPrinter, display_width, fit_eq, fit_le,
                                  latex, lines)

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


# -- equations that fit a phone (latex.fit_eq, latex.display_width) ---------------------------
# Widths in em of display formulas as MathJax 3 (CHTML) set them in Chromium, measured with
# the browser test's LAYOUT script (mjx-math width / font size) on the built site.
MEASURED_EM = [
    (r"\eta_{t,m} = \sum_{j=1}^{H} W^{hh}_{m,j} h_{t-1,j} + b^{hh}_{m}", 11.6),
    (r"\left( r_{t,q}, \  z_{t,q}, \  n_{t,q}\right) = \left( \sigma\left(a^{r}_{t,q}\right), "
     r"\  \sigma\left(a^{z}_{t,q}\right), \  \tanh{\left(a^{n}_{t,q} \right)}\right)", 20.6),
    (r"\bar{h}_{t,q} = \frac{\partial E}{\partial h_{t,q}} = \sum_{k=1}^{K} V_{k,q} "
     r"\delta^{o}_{t,k} + \sum_{m=1}^{3 H} W^{hh}_{m,q} \bar{\eta}_{t+1,m} + \bar{h}_{t+1,q} "
     r"z_{t+1,q}", 24.5),
    (r"\bar{a}^{o}_{t,q} = \frac{\partial E}{\partial a^{o}_{t,q}} = \bar{h}_{t,q} o_{t,q} "
     r"\left(1 - o_{t,q}\right) \tanh{\left(C_{t,q} \right)}", 17.9),
    (r"n_{t} = \tanh{\left(\begin{aligned} &W_{in} x_{t} + b_{in} \\ &+ r_{t} \odot "
     r"\left(W_{hn} h_{t-1} + b_{hn}\right)\end{aligned} \right)}", 16.2),
    (r"\bar{C}_{t} = \begin{aligned}[t] &\bar{h}_{t} \odot o_{t} \odot \left(1 - "
     r"\tanh^{2}{\left(C_{t} \right)}\right) \\ &+ \bar{C}_{t+1} \odot f_{t+1}"
     r"\end{aligned}", 13.6),
    (r"\frac{\partial E}{\partial h_{0,q}} = \sum_{m=1}^{4 H} W^{hh}_{m,q} \bar{A}_{1,m}", 9.7),
    (r"\frac{\partial s_{t,q}}{\partial s_{t-1,r}} = \begin{cases} 0 & \text{for}\: s_{t,q} "
     r"\leq 0 \\W_{q,r} & \text{otherwise} \end{cases}", 12.8),
]


@pytest.mark.parametrize("tex, measured", MEASURED_EM)
def test_display_width_estimates_the_typeset_width(tex, measured):
    """Within 10 % of MathJax's width, and at most 8 % under it: a line estimated at PHONE_LINE
    em fits the 16.8 em of a 390 px phone's column. An aligned block counts its widest row,
    stacked scripts once."""
    assert abs(display_width(tex) - measured) <= 0.1 * measured, display_width(tex)


def test_fit_eq_is_the_equation_and_short_ones_print_on_one_line():
    a, b, c, d = sp.symbols("a b c d")
    eq = fit_eq(sp.Tuple(a, b), sp.Tuple(c, d))
    assert (eq.lhs, eq.rhs) == (sp.Tuple(a, b), sp.Tuple(c, d))  # never evaluated
    assert latex(eq) == latex(sp.Eq(sp.Tuple(a, b), sp.Tuple(c, d), evaluate=False))
    assert latex(fit_eq(y[t], s[t] + x[t])) == latex(sp.Eq(y[t], s[t] + x[t]))


def test_fit_eq_breaks_a_wide_tuple_equation_into_one_equation_per_entry():
    names = [sp.IndexedBase(rf"\xi^{{{g}}}") for g in "rzn"]
    lhs = sp.Tuple(*(n[t, q] for n in names))
    rhs = sp.Tuple(*(sp.IndexedBase(r"\xi")[t, m * H + q] for m in range(3)))
    tex = latex(fit_eq(lhs, rhs))
    assert display_width(latex(sp.Eq(lhs, rhs, evaluate=False))) > PHONE_LINE
    rows = tex.split("\n")
    assert rows[0] == r"\begin{aligned}" and rows[-1] == r"\end{aligned}"
    assert rows[1:-1] == [rf"{latex(a)} &= {latex(b)}" + (r" \\" if n < 2 else "")
                          for n, (a, b) in enumerate(zip(lhs, rhs))]
    assert display_width(tex) <= PHONE_LINE


def test_fit_eq_puts_a_label_on_its_own_line_then_a_sum_one_term_per_line():
    label = sp.Symbol(r"\bar{h}_{t q} = \frac{\partial E}{\partial h_{t q}}")
    terms = [sp.Sum(V[k, q] * delta_o[t, k], (k, 1, K)),
             sp.Sum(W[g, q] * delta[t + 1, g], (g, 1, 3 * H)), Cbar[t + 1, q] * gate_i[t + 1, q]]
    tex = latex(fit_eq(label, sp.Add(*terms)))
    assert tex.split("\n")[:3] == [
        r"\begin{aligned}", r"\bar{h}_{t,q} &= \frac{\partial E}{\partial h_{t,q}} \\",
        r"&= \begin{aligned}[t] &\sum_{k=1}^{K} V_{k,q} \delta^{o}_{t,k} \\"]
    assert display_width(tex) <= PHONE_LINE
    # the sum's lines are what latex.lines prints, in the order the one-line sum prints
    printer = RnnLatexPrinter()
    assert latex(lines(*printer._ordered_terms(sp.Add(*terms)))) in tex
    # a product after the label too wide for its line breaks after a factor, not inside one
    product = terms[2] * (1 - gate_i[t + 1, q]) * sp.tanh(Cbar[t, q])
    broken = latex(fit_eq(label, product))
    assert broken.count(r"\\") == 2 and r"\begin{aligned}[t]" not in broken
    assert r"\\" + "\n" + r"& \quad \tanh{\left(\bar{C}_{t,q} \right)}" in broken
    assert display_width(broken) <= PHONE_LINE


def test_fit_eq_breaks_a_product_after_a_factor_only_when_too_wide():
    sigma = sp.Function(r"\sigma")
    short = Cbar[t + 1, q] * gate_i[t + 1, q]
    assert latex(fit_eq(Cbar[t, q], short)) == latex(sp.Eq(Cbar[t, q], short))
    wide = short * (1 - gate_i[t + 1, q]) * sp.tanh(Cbar[t, q]) * sigma(Cbar[t - 1, q])
    tex = latex(fit_eq(Cbar[t, q], wide))
    first, *more = tex.split("\n")[1:-1]
    assert first.startswith(r"\bar{C}_{t,q} &= \bar{C}_{t+1,q}") and more
    assert all(line.startswith(r"& \quad ") for line in more)
    # the factors, in the order and with the brackets of the one-line print
    joined = " ".join(line.rstrip(" \\").split("&= ")[-1].replace(r"& \quad ", "")
                      for line in [first, *more])
    assert joined == latex(wide)
    assert display_width(tex) <= PHONE_LINE


def test_fit_chains_a_quotient_and_an_inequality():
    a, b, c = (sp.Symbol(n) for n in (r"\frac{\partial s_{t}}{\partial s_{\tau}}",
                                      r"\prod_{j=\tau+1}^{t}\operatorname{diag}(\phi'_{j})\,W",
                                      r"J_{t} J_{t-1} J_{t-2} J_{t-3} J_{t-4} J_{t-5}"))
    chain = latex(fit_eq(sp.Eq(a, b, evaluate=False), c))  # a = b = c: one relation per line
    assert chain.split("\n")[1:3] == [rf"{latex(a)} &= {latex(b)} \\", rf"&= {latex(c)}"]
    bound = latex(fit_le(sp.Le(a, b, evaluate=False), c))
    assert bound.split("\n")[1:3] == [rf"{latex(a)} &\leq {latex(b)} \\", rf"&\leq {latex(c)}"]
    # a quotient with a sum above the bar: the numerator breaks after whole terms
    e1, e2, y1, y2 = sp.exp(sp.Symbol("z_1")), sp.exp(sp.Symbol("z_2")), *sp.symbols("y_1 y_2")
    grad = (-y1 * e1 - y1 * e2 + y2 * e1 + y2 * e2 + e1 - e2) / (e1 + e2)
    tex = latex(fit_eq(a, grad))
    assert tex.startswith(latex(a) + r" = \frac{\begin{aligned}&") and tex.count(r"\\") == 1
    assert display_width(tex) <= PHONE_LINE < display_width(latex(sp.Eq(a, grad)))


@pytest.mark.parametrize("key", ["gru.forward", "gru.cell", "gru.hidden", "gru.truncated",
                                 "lstm.forward", "lstm.cell", "lstm.hidden", "lstm.truncated"])
def test_gated_derivations_fit_a_phone(key):
    """Every formula of the GRU and LSTM pages is estimated to fit a phone's column (the browser
    test measures them), and a formula is broken only when its one-line print would not fit."""
    for step in derivations()[key].steps:
        tex = step.latex
        assert display_width(tex) <= PHONE_LINE, (step.name, tex)
        one_line = latex(sp.Eq(*step.expr.args, evaluate=False))
        assert (tex == one_line) == (display_width(one_line) <= PHONE_LINE), (step.name, tex)


@pytest.mark.parametrize("key", ["sigmoid_bce", "softmax_bce", "dynamics", "rnn.jacobian"])
def test_output_and_dynamics_derivations_fit_a_phone(key):
    """The outputs, vanishing-gradient and gradient-W pages' derivations are estimated to fit a
    phone's column too (the browser test measures them)."""
    for step in derivations()[key].steps:
        assert display_width(step.latex) <= PHONE_LINE, (step.name, step.latex)
