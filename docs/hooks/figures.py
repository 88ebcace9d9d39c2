"""MkDocs hook: figures computed from the package at build time, inlined as SVG.

A page writes ``{{ figure NAME }}`` alone on its line (outside code); the hook replaces it with a
``<figure>`` holding an inline ``<svg>`` drawn by matplotlib from numbers that rnnmath computes
during the build, and a ``<figcaption>``. So a figure can never drift from the code it describes.

The SVG keeps its text as text (``svg.fonttype: none``), which keeps it small and lets the page's
own sans-serif font render it; it references no external font, image or URL. Element ids are
salted per figure, so two figures on one page cannot clash, and the output is deterministic.

An unknown figure name, or a placeholder that shares its line with other text, stops the build
with an error naming the page and the line.
"""
from __future__ import annotations

import html
import io
import re
from typing import Any, Callable

from mkdocs.exceptions import PluginError

PLACEHOLDER = re.compile(r"\{\{\s*figure\b(.*?)\}\}")
_NAME = re.compile(r"\s*([A-Za-z0-9_\-]+)\s*")
_FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(?:.+?)\1")

# Spectral radii of the recurrent matrix compared in the figures, with their line colours.
RADII = ((0.5, "#1f77b4"), (1.0, "#2ca02c"), (1.5, "#d62728"))


class FigureError(PluginError):
    """A figure placeholder that cannot be rendered."""


# --- the figures ----------------------------------------------------------------------------

def _network(rho: float, H: int = 16, D: int = 8, K: int = 4, T: int = 40, seed: int = 0):
    """A random tanh network whose W has spectral radius ``rho``, with a token sequence."""
    import numpy as np

    rng = np.random.default_rng(seed)
    W = rng.normal(size=(H, H))
    W *= rho / np.max(np.abs(np.linalg.eigvals(W)))
    params = dict(U=0.3 * rng.normal(size=(H, D)), W=W, V=rng.normal(size=(K, H)))
    x = rng.integers(0, D, size=T)
    y = rng.integers(0, K, size=T)
    return params, x, y


def _jacobian_norms(rho: float):
    """``(lags, norms, bound)``: ||ds_T/ds_{T-lag}||_2 from explicit products of
    diag(tanh'(a_j)) W along one forward pass, and the bound ||W||_2 ** lag."""
    import numpy as np

    from rnnmath import rnn_forward

    params, x, _ = _network(rho)
    W = params["W"]
    S = rnn_forward(x, **params).states          # s_0 .. s_T
    T, H = len(x), W.shape[0]
    product, norms = np.eye(H), [1.0]
    for j in range(T, 0, -1):                    # ds_T/ds_{j-1} = (ds_T/ds_j) diag(1 - s_j^2) W
        product = product @ ((1 - S[j] ** 2)[:, None] * W)
        norms.append(np.linalg.norm(product, 2))
    lags = np.arange(T + 1)
    return lags, np.array(norms), np.linalg.norm(W, 2) ** lags


def _truncation_errors(rho: float, max_lag: int = 30):
    """``(ks, errors)``: relative error ||dW(k) - dW|| / ||dW|| of truncated BPTT."""
    import numpy as np

    from rnnmath import rnn_gradients

    params, x, y = _network(rho)
    full = rnn_gradients(x, y, **params).dW
    ks = np.arange(max_lag + 1)
    errors = [np.linalg.norm(rnn_gradients(x, y, **params, truncate=int(k)).dW - full)
              / np.linalg.norm(full) for k in ks]
    return ks, np.array(errors)


def jacobian_norms_figure(ax) -> str:
    for rho, colour in RADII:
        lags, norms, bound = _jacobian_norms(rho)
        ax.semilogy(lags, norms, color=colour, lw=1.8, label=f"spectral radius {rho:g}")
        ax.semilogy(lags, bound, color=colour, lw=1, ls="--")
    ax.set_ylim(1e-16, 1e8)
    ax.set_xlabel("lag T − k (steps the error travels back)")
    ax.set_ylabel("‖∂s_T / ∂s_k‖₂")
    ax.plot([], [], color="0.4", lw=1, ls="--", label="bound ‖W‖₂^(T−k)")
    ax.legend(frameon=False, fontsize=9)
    return ("The norm of the state-to-state Jacobian product along one tanh sequence "
            "(T = 40, H = 16), for the same random W scaled to spectral radius 0.5, 1 and 1.5; "
            "dashed: the bound (max|tanh′|·‖W‖₂)^(T−k) with max|tanh′| = 1. Below radius 1 the "
            "product shrinks geometrically, as the bound promises. Above 1 the bound allows "
            "explosion, but saturating states make tanh′ small and the product turns down "
            "again: the bound is an upper bound, not a prediction. Computed with rnn_forward "
            "when this site was built.")


def truncation_error_figure(ax) -> str:
    for rho, colour in RADII:
        ks, errors = _truncation_errors(rho)
        ax.semilogy(ks, errors, color=colour, lw=1.8, marker=".",
                    label=f"spectral radius {rho:g}")
    ax.set_xlabel("truncation k (earlier steps each error may reach)")
    ax.set_ylabel("relative error of truncated ∂E/∂W")
    ax.legend(frameon=False, fontsize=9)
    return ("How much of ∂E/∂W truncated BPTT misses, against the truncation k, for the network "
            "of the figure on the W page (T = 40). What truncation drops are the terms of lag "
            "greater than k; they are small exactly when the Jacobian products of the W page are. "
            "Computed with rnn_gradients(..., truncate=k) when this site was built.")


FIGURES: dict[str, Callable[[Any], str]] = {
    "jacobian-norms": jacobian_norms_figure,
    "truncation-error": truncation_error_figure,
}


# --- vanishing and exploding (docs/vanishing.md) and clipping (docs/clipping.md) ---------------
# Both pages build the same networks in their doctests, so the numbers they quote are the ones
# these figures plot.

# Spectral radii of W for the vanishing page, from clearly contracting to clearly expanding.
DYNAMICS_RADII = (0.5, 0.9, 1.0, 1.1, 1.5, 3.0)


def _dynamics_network(H: int = 32, D: int = 8, T: int = 100, seed: int = 0):
    """``(G, U, x)``: a Gaussian recurrent matrix (to be scaled), input weights, token ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    G = rng.normal(size=(H, H))
    U = 0.5 * rng.normal(size=(H, D))
    x = rng.integers(0, D, size=T)
    return G, U, x


def vanishing_norms_figure(ax) -> str:
    import numpy as np
    from matplotlib import cm

    from rnnmath import state_jacobian_norms

    G, U, x = _dynamics_network()
    radius_of_G = np.abs(np.linalg.eigvals(G)).max()
    T = len(x)
    # Two panels in the figure's one slot: replace the axes the drawing helper made.
    fig = ax.figure
    ax.remove()
    panels = fig.subplots(1, 2, sharey=True)
    colours = cm.viridis(np.linspace(0.0, 0.9, len(DYNAMICS_RADII)))
    for panel, activation in zip(panels, ("tanh", "relu")):
        for rho, colour in zip(DYNAMICS_RADII, colours):
            N = state_jacobian_norms(x, U, G * (rho / radius_of_G), activation=activation)
            row = N[T, ::-1]                       # row[lag] = ||ds_T/ds_{T-lag}||_2
            lags = np.arange(T + 1)
            shown = row > 0                        # an exact 0 (all units off) has no log
            panel.semilogy(lags[shown], row[shown], color=colour, lw=1.6, label=f"ρ(W) = {rho:g}")
        panel.set_title(activation, fontsize=10)
        panel.set_xlabel("lag T − k")
        panel.grid(True, which="major", color="0.9", lw=0.6)
        panel.spines[["top", "right"]].set_visible(False)
    panels[0].set_ylabel("‖∂s_T / ∂s_k‖₂")
    panels[1].legend(frameon=False, fontsize=8, loc="lower left")
    return ("How much of the last state's sensitivity survives each lag: ‖∂s_T/∂s_k‖₂ for "
            "one sequence (T = 100, H = 32), the same Gaussian W scaled to each spectral "
            "radius ρ(W), tanh (left) and relu (right); computed with state_jacobian_norms "
            "when this site was built. The products shrink geometrically for small radii and "
            "grow for large ones. relu zeroes the rows of its switched-off units (more than "
            "half of them here), so its products shrink faster than tanh's at small radii; "
            "nothing saturates, so at radius 3 they grow faster.")


def _clipping_network(rho: float, T: int = 25, H: int = 8, D: int = 5, K: int = 4,
                      seed: int = 2):
    """The clipping page's tanh network, with W scaled to spectral radius ``rho``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    W = rng.normal(size=(H, H))
    W *= rho / np.abs(np.linalg.eigvals(W)).max()
    params = dict(U=0.5 * rng.normal(size=(H, D)), W=W, V=rng.normal(size=(K, H)),
                  b=np.zeros(H), c=np.zeros(K), s0=np.zeros(H))
    x, y = rng.integers(0, D, size=T), rng.integers(0, K, size=T)
    return x, y, params


def clipping_direction_figure(ax) -> str:
    import numpy as np

    from rnnmath import clip_elementwise, clip_global_norm, gradient_cosine, rnn_gradients

    limits = np.logspace(-2, 4, 121)
    for rho, colour in ((2.0, "#d62728"), (0.5, "#1f77b4")):
        x, y, params = _clipping_network(rho)
        g = rnn_gradients(x, y, **params)
        cosines = [gradient_cosine(clip_elementwise(g, limit), g) for limit in limits]
        ax.semilogx(limits, cosines, color=colour, lw=1.8,
                    label=f"elementwise, ρ(W) = {rho:g}")
        global_cos = [gradient_cosine(clip_global_norm(g, limit)[0], g) for limit in limits]
        ax.semilogx(limits, global_cos, color="0.3", lw=1, ls="--",
                    label="global norm, either network" if rho == 2.0 else None)
    ax.axvline(5.0, color="0.5", lw=0.8, ls=":")
    ax.text(5.0, 0.02, " ±5", color="0.4", fontsize=9, va="bottom")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("threshold (ℓ for elementwise, θ for global norm)")
    ax.set_ylabel("cosine(clipped, unclipped)")
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    return ("The direction of the clipped gradient against the threshold, for the tanh network "
            "of this page (T = 25, H = 8) with W at spectral radius 2 (its gradient explodes) "
            "and 0.5; computed with rnn_gradients and the clipping functions when this site "
            "was built. Global-norm clipping (dashed) keeps the cosine at 1 for every "
            "threshold. Elementwise clipping bends the gradient as soon as the largest entry "
            "exceeds ℓ, and the smaller ℓ, the more it bends.")


FIGURES["vanishing-norms"] = vanishing_norms_figure
FIGURES["clipping-direction"] = clipping_direction_figure


# --- drawing --------------------------------------------------------------------------------

def _svg(name: str, draw: Callable[[Any], str]) -> tuple[str, str]:
    """``(svg, caption)`` for one figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    style = {
        "svg.fonttype": "none",          # text stays text: small, and no font is embedded
        "svg.hashsalt": f"rnnmath-{name}",  # deterministic, per-figure element ids
        "font.family": "sans-serif",
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.facecolor": "white",     # readable in the dark palette too
    }
    with plt.rc_context(style):
        fig, ax = plt.subplots(figsize=(7, 4))
        try:
            caption = draw(ax)
            ax.grid(True, which="major", color="0.9", lw=0.6)
            fig.tight_layout()
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]                                   # no XML prolog or DOCTYPE
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)                # no comments
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)  # nor the RDF block
    ident = f"figure-{name}"
    # Inline, every id is page-wide: prefix them (and the references to them) per figure.
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{ident}-\1"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', rf"\1{ident}-\2", svg)
    # matplotlib's stylesheet uses a bare `*` selector, which inline would restyle the page.
    svg = svg.replace("*{", f"#{ident} *{{")
    # Text in the page's own font: nothing to fetch, nothing to guess.
    svg = re.sub(r"font-family: [^;\"]*", "font-family: inherit", svg)
    label = html.escape(caption.split(";")[0].split(". ")[0], quote=True)
    svg = re.sub(r"<svg ", f'<svg id="{ident}" role="img" aria-label="{label}" '
                 'style="max-width:100%;height:auto" ', svg, count=1)
    # Raw HTML in Markdown must not contain blank lines, nor lines Markdown reads as code.
    lines = [line.strip() for line in svg.splitlines() if line.strip()]
    return "\n".join(lines), caption


_cache: dict[str, tuple[str, str]] = {}


def render_figure(name: str) -> list[str]:
    if name not in _cache:
        _cache[name] = _svg(name, FIGURES[name])
    svg, caption = _cache[name]
    return [f'<figure class="computed-figure" data-figure="{name}">', *svg.split("\n"),
            f"<figcaption>{html.escape(caption)}</figcaption>", "</figure>"]


def render(markdown: str, where: str = "<page>") -> str:
    """Replace every ``{{ figure NAME }}`` of a page outside code."""
    if "figure" not in markdown:
        return markdown
    out: list[str] = []
    fence = None
    for number, line in enumerate(markdown.split("\n"), start=1):
        if fence is not None:
            if re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
                fence = None
            out.append(line)
            continue
        opening = _FENCE_OPEN.match(line)
        if opening:
            fence = opening.group(2)
            out.append(line)
            continue
        masked = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)
        found = PLACEHOLDER.search(masked)
        if not found:
            out.append(line)
            continue
        text = found.group(0)
        if line.strip() != text:
            raise FigureError(f"{where}:{number}: {text!r} must stand alone on its line")
        m = _NAME.fullmatch(found.group(1))
        if not m:
            raise FigureError(f"{where}:{number}: {text!r} is malformed; write {{{{ figure NAME }}}}")
        if m.group(1) not in FIGURES:
            raise FigureError(f"{where}:{number}: {text!r}: no figure {m.group(1)!r}; "
                              f"known figures are {sorted(FIGURES)}")
        indent = line[: len(line) - len(line.lstrip())]
        out += ["", *(indent + part for part in render_figure(m.group(1))), ""]
    return "\n".join(out)


# --- MkDocs events --------------------------------------------------------------------------

def on_pre_build(config: Any) -> None:
    _cache.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src = page.file.src_uri
    if not src.endswith(".md"):
        return markdown
    return render(markdown, f"docs/{src}")
