"""The figures hook (docs/hooks/figures.py): every figure renders as self-contained, labelled,
theme-coloured inline SVG; the gradient paths it draws are the terms of the derivation; and the
heat map's terms add up to the gradient the package computes."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnmath import relative_error, rnn_gradients


@pytest.fixture(scope="module")
def rendered(figures_hook):
    """``{name: html}`` of every known figure, rendered once."""
    return {name: "\n".join(figures_hook.render_figure(name))
            for name in figures_hook.known_figures()}


def test_every_registered_figure_is_known(figures_hook):
    names = figures_hook.known_figures()
    for name in ("unrolled-rnn", "bptt-paths", "bptt-recursion", "bptt-explorer",
                 "gradient-sources", "lstm-cell", "gru-cell", "jacobian-norms",
                 "truncation-error", "vanishing-norms", "clipping-direction"):
        assert name in names


@pytest.mark.parametrize("name", [
    "unrolled-rnn", "bptt-paths", "bptt-recursion", "bptt-explorer", "gradient-sources",
    "lstm-cell", "gru-cell", "jacobian-norms", "truncation-error", "vanishing-norms",
    "clipping-direction"])
def test_figure_is_self_contained_labelled_inline_svg(rendered, name):
    out = rendered[name]
    assert out.startswith(f'<figure class="computed-figure ') and out.endswith("</figure>")
    assert out.count("<svg") == 1 and "</svg>" in out
    # An accessible name: aria-label, or aria-labelledby pointing at a <title>.
    svg_tag = re.search(r"<svg[^>]*>", out).group(0)
    assert 'role="img"' in svg_tag
    label = re.search(r'aria-label="([^"]+)"', svg_tag)
    titled = re.search(r'aria-labelledby="([^"]+)"', svg_tag)
    assert label or titled, f"{name}: no accessible name"
    if titled:
        assert re.search(rf'<title id="{titled.group(1)}">[^<]+</title>', out)
    # Nothing fetched: the only URLs are XML namespace names; images are inline data.
    urls = re.findall(r"https?://[^\s\"')]+", out)
    assert set(urls) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    for ref in re.findall(r'(?:href|src)="([^"]*)"', out):
        assert ref.startswith(("#", "data:")), f"{name}: external reference {ref[:60]}"
    for ref in re.findall(r"url\(([^)]*)\)", out):
        assert ref.startswith("#"), f"{name}: external url({ref[:60]})"
    # Every id belongs to this figure, so two figures on one page cannot clash.
    ids = re.findall(r'\bid="([^"]+)"', out)
    assert ids and all(i.startswith(f"figure-{name}") for i in ids), ids[:5]
    assert len(ids) == len(set(ids))
    # Raw HTML inside Markdown: a blank or indented line would end the block or become code.
    lines = out.split("\n")
    assert all(line.strip() and not line.startswith((" ", "\t")) for line in lines)


@pytest.mark.parametrize("name", ["jacobian-norms", "truncation-error", "vanishing-norms",
                                  "clipping-direction", "gradient-sources"])
def test_plots_use_theme_colours_and_no_background(rendered, figures_hook, name):
    out = rendered[name]
    for stand_in in figures_hook.THEME:
        assert stand_in not in out, f"{name}: stand-in colour {stand_in} left in"
    assert "currentColor" in out
    # No opaque background: matplotlib's figure and axes patches are transparent or absent.
    assert not re.search(r"fill:\s*#ffffff", out, flags=re.I), f"{name}: a white box"


def test_diagrams_use_theme_colours(rendered):
    for name in ("unrolled-rnn", "bptt-recursion", "lstm-cell", "gru-cell"):
        svg = rendered[name]
        assert "currentColor" in svg
        colours = set(re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]+|white|black)"', svg))
        assert not colours, f"{name}: hard-coded colours {colours}"


def test_captions_typeset_their_math(figures_hook, rendered):
    for name, out in rendered.items():
        caption = re.search(r"<figcaption>(.*)</figcaption>", out, flags=re.S).group(1)
        assert "$" not in caption, f"{name}: an untypeset $ in its caption"
    html = figures_hook.caption_html(r"the sum $\sum_k a_k < b$ here")
    assert html == (r'the sum <span class="arithmatex">\(\sum_k a_k &lt; b\)</span> here')
    with pytest.raises(figures_hook.FigureError, match="unbalanced"):
        figures_hook.caption_html("one $x dollar")


# --- the paths of the gradient -----------------------------------------------------------------

@pytest.mark.parametrize("t", range(1, 5))
def test_paths_to_w_are_one_per_earlier_step(figures_hook, t):
    terms = figures_hook.gradient_paths(t, "W")
    assert [term["tau"] for term in terms] == list(range(t, 0, -1))
    for term in terms:
        tau = term["tau"]
        chain = {f"s{j - 1}-s{j}" for j in range(tau + 1, t + 1)}
        assert set(term["edges"]) == {f"z{t}-E{t}", f"s{t}-z{t}", f"s{tau - 1}-s{tau}"} | chain
        assert term["use"] == f"s{tau - 1}-s{tau}"
        # Its factors: dE_t/ds_t, the t - tau Jacobians, the immediate derivative at step tau.
        jacobians = re.findall(r"\\frac\{\\partial s_\{(\d+)\}\}\{\\partial s_\{(\d+)\}\}",
                               term["tex"])
        assert jacobians == [(str(j), str(j - 1)) for j in range(t, tau, -1)]
        assert term["tex"].index(rf"\partial E_{{{t}}}}}{{\partial s_{{{t}}}") < \
            term["tex"].index(rf"\partial^{{+}} s_{{{tau}}}}}{{\partial W}}")
        # ... and it is the lag-(t - tau) part of delta_tau against s_{tau-1}.
        assert term["tex"].endswith(rf"\delta^{{({t - tau})}}_{{{tau}}} s_{{{tau - 1}}}^{{T}}")


def test_paths_to_u_and_v(figures_hook):
    u = figures_hook.gradient_paths(3, "U")
    assert [term["use"] for term in u] == ["x3-s3", "x2-s2", "x1-s1"]
    assert all("s0-s1" not in term["edges"] for term in u)   # U never passes through s_0
    (v,) = figures_hook.gradient_paths(3, "V")
    assert set(v["edges"]) == {"z3-E3", "s3-z3"} and v["use"] == "s3-z3"
    with pytest.raises(ValueError, match=r"param: expected 'W', 'U' or 'V', got 'b'"):
        figures_hook.gradient_paths(3, "b")


def test_explorer_without_script_is_the_static_picture(figures_hook, rendered):
    out = rendered["bptt-explorer"]
    t, param = figures_hook.PICKED
    assert '<div class="bptt-controls" hidden>' in out          # shown by the script only
    data = json.loads(re.search(r'<script type="application/json" class="bptt-data">(.*?)'
                                r"</script>", out, flags=re.S).group(1))
    steps = figures_hook.STEPS
    assert set(data) == {f"{s}:{p}" for s in range(1, steps + 1) for p in "WUV"}
    picked = data[f"{t}:{param}"]
    # The static terms are the picked entry's, and the lit edges are its paths.
    assert figures_hook._terms_html(picked) in out
    lit = set(re.findall(r'class="edge on[^"]*" data-edge="([^"]+)"', out))
    assert lit == {e for term in picked["terms"] for e in term["edges"]}
    assert out.count("<li ") == len(picked["terms"]) == t
    assert out.count("</script>") == 1          # the data cannot end its script early


# --- the heat map: the terms are the gradient ---------------------------------------------------

TERMS_TOL = 1e-10   # two float64 summation orders of the same terms


@pytest.mark.parametrize("rho_index", [0, 1])
def test_heatmap_terms_sum_to_dw(figures_hook, record_error, rho_index):
    rho = figures_hook.HEATMAP_RADII[rho_index]
    x, y, params = figures_hook._heatmap_network(rho)
    norms, total = figures_hook.w_gradient_terms(x, y, params, activation="relu")
    dW = rnn_gradients(x, y, **params, activation="relu").dW
    worst = float(relative_error(total, dW).max())
    record_error(f"heat-map terms sum vs dW, rho={rho:g}", worst)
    assert worst < TERMS_TOL
    T = len(x)
    below = np.tril_indices(T)
    assert np.isfinite(norms[below]).all() and (norms[below] >= 0).all()
    assert np.isnan(norms[np.triu_indices(T, 1)]).all()


def test_heatmap_shows_vanishing_and_exploding(figures_hook):
    # What the caption says: the first column (the use of W at step 1) falls by many decades
    # down the rows when W contracts and rises when it expands.
    change = []
    for rho in figures_hook.HEATMAP_RADII:
        norms, _ = figures_hook.w_gradient_terms(*figures_hook._heatmap_network(rho))
        change.append(np.log10(norms[-1, 0]) - np.log10(norms[0, 0]))
    assert change[0] < -5 and change[1] > 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 8), H=st.integers(1, 5),
       activation=st.sampled_from(["tanh", "relu"]))
def test_terms_sum_to_dw_on_random_networks(figures_hook, record_error, seed, T, H, activation):
    rng = np.random.default_rng(seed)
    D, K = 3, 4
    params = dict(U=rng.normal(size=(H, D)), W=rng.normal(size=(H, H)), V=rng.normal(size=(K, H)),
                  b=rng.normal(size=H), c=rng.normal(size=K), s0=rng.normal(size=H))
    x, y = rng.integers(0, D, size=T), rng.integers(0, K, size=T)
    _, total = figures_hook.w_gradient_terms(x, y, params, activation=activation)
    dW = rnn_gradients(x, y, **params, activation=activation).dW
    # Scaled by the largest entry: an entry that cancels to ~0 has no relative accuracy to keep.
    worst = float(np.abs(total - dW).max() / max(np.abs(dW).max(), 1e-300))
    record_error("heat-map terms sum vs dW, random (scaled)", worst)
    assert worst < TERMS_TOL
