"""MkDocs hook: figures computed from the package at build time, inlined as SVG.

A page writes ``{{ figure NAME }}`` alone on its line (outside code); the hook replaces it with a
``<figure>`` holding an inline ``<svg>`` and a ``<figcaption>``. Plots (``FIGURES``) are drawn by
matplotlib from numbers that rnnmath computes during the build; diagrams (``DIAGRAMS``: the
unrolled network, the gradient's paths, the gated cells) are SVG written here from the
derivations' own data. So a figure can never drift from the code it describes.

The SVG keeps its text as text (``svg.fonttype: none``), which keeps it small and lets the page's
own sans-serif font render it; it references no external font, image or URL. Its backgrounds
are transparent and its ink is ``currentColor`` or the theme's CSS variables, so it reads in the
light and the dark palette (docs/stylesheets/figures.css). Captions may hold ``$...$`` math,
typeset like the page's. Element ids are salted per figure, so two figures on one page cannot
clash, and the output is deterministic.

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

# Stand-in colours for the page's own ink: matplotlib draws with them and _svg swaps them for
# currentColor and the theme's CSS variables, so text, axes and grids follow light and dark mode.
INK, MID, GRID = "#010203", "#040506", "#070809"
THEME = {INK: "currentColor", MID: "var(--md-default-fg-color--light)",
         GRID: "var(--md-default-fg-color--lightest)"}


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
    ax.set_xlabel("lag T − τ (steps the error travels back)")
    ax.set_ylabel("‖∂s_T / ∂s_τ‖₂")
    ax.plot([], [], color=MID, lw=1, ls="--", label="bound ‖W‖₂^(T−τ)")
    ax.legend(frameon=False, fontsize=9)
    return ("The norm of the state-to-state Jacobian product along one tanh sequence "
            "($T = 40$, $H = 16$), for the same random $W$ scaled to spectral radius 0.5, 1 "
            "and 1.5; dashed: the bound $(\\max|\\tanh'|\\,\\lVert W\\rVert_2)^{T-\\tau}$ with "
            "$\\max|\\tanh'| = 1$. Below radius 1 the "
            "product shrinks geometrically, as the bound promises. Above 1 the bound allows "
            "explosion, but saturating states make tanh′ small and the product turns down "
            "again: the bound is an upper bound, not a prediction. Computed with rnn_forward "
            "when this site was built.")


def truncation_error_figure(ax) -> str:
    for rho, colour in RADII:
        ks, errors = _truncation_errors(rho)
        ax.semilogy(ks, errors, color=colour, lw=1.8, marker=".",
                    label=f"spectral radius {rho:g}")
    ax.set_xlabel("truncation window κ (earlier steps each error may reach)")
    ax.set_ylabel("relative error of truncated ∂E/∂W")
    ax.legend(frameon=False, fontsize=9)
    return ("How much of $\\partial E/\\partial W$ truncated BPTT misses, against the "
            "truncation window $\\kappa$, for the network of the figure on the W page ($T = 40$). "
            "What truncation drops are the terms of lag greater than $\\kappa$; they are small "
            "exactly when "
            "the Jacobian products of the W page are. "
            "Computed with rnn_gradients(..., truncate=κ) when this site was built.")


FIGURES: dict[str, Callable[[Any], str]] = {
    "jacobian-norms": jacobian_norms_figure,
    "truncation-error": truncation_error_figure,
}


# --- vanishing and exploding (docs/vanishing.md) and clipping (docs/clipping.md) ---------------
# Both pages build the same networks in their doctests, so the numbers they quote are the ones
# these figures plot.

# Spectral radii of W for the vanishing page, from clearly contracting to clearly expanding.
DYNAMICS_RADII = (0.5, 0.9, 1.0, 1.1, 1.5, 3.0)
# Cool to warm with the radius, all of middle lightness: each line stands out on the light and on
# the dark background (viridis's dark purple end vanished on the dark one).
DYNAMICS_COLOURS = ("#4263eb", "#1098ad", "#37b24d", "#f59f00", "#f76707", "#e03131")


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

    from rnnmath import state_jacobian_norms

    G, U, x = _dynamics_network()
    radius_of_G = np.abs(np.linalg.eigvals(G)).max()
    T = len(x)
    # Two panels in the figure's one slot: replace the axes the drawing helper made.
    fig = ax.figure
    ax.remove()
    panels = fig.subplots(1, 2, sharey=True)
    colours = DYNAMICS_COLOURS
    for panel, activation in zip(panels, ("tanh", "relu")):
        for rho, colour in zip(DYNAMICS_RADII, colours):
            N = state_jacobian_norms(x, U, G * (rho / radius_of_G), activation=activation)
            row = N[T, ::-1]                       # row[lag] = ||ds_T/ds_{T-lag}||_2
            lags = np.arange(T + 1)
            shown = row > 0                        # an exact 0 (all units off) has no log
            panel.semilogy(lags[shown], row[shown], color=colour, lw=1.6, label=f"ρ(W) = {rho:g}")
        panel.set_title(activation, fontsize=10)
        panel.set_xlabel("lag T − τ")
        panel.grid(True, which="major", color=GRID, lw=0.6)
        panel.spines[["top", "right"]].set_visible(False)
    panels[0].set_ylabel("‖∂s_T / ∂s_τ‖₂")
    panels[1].legend(frameon=False, fontsize=9, loc="lower left")
    return ("How much of the last state's sensitivity survives each lag: "
            "$\\lVert\\partial s_T/\\partial s_\\tau\\rVert_2$ for one sequence ($T = 100$, "
            "$H = 32$), the same Gaussian $W$ scaled to each spectral radius $\\rho(W)$, tanh "
            "(left) and relu (right); computed with state_jacobian_norms "
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
        ax.semilogx(limits, global_cos, color=MID, lw=1, ls="--",
                    label="global norm, either network" if rho == 2.0 else None)
    ax.axvline(5.0, color=MID, lw=0.8, ls=":")
    ax.text(5.0, 0.02, " ±5", color=MID, fontsize=9, va="bottom")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("threshold (λ for elementwise, γ for global norm)")
    ax.set_ylabel("cosine(clipped, unclipped)")
    ax.legend(frameon=False, fontsize=9, loc="lower right")
    return ("The direction of the clipped gradient against the threshold, for the tanh network "
            "of this page ($T = 25$, $H = 8$) with $W$ at spectral radius 2 (its gradient explodes) "
            "and 0.5; computed with rnn_gradients and the clipping functions when this site "
            "was built. Global-norm clipping (dashed) keeps the cosine at 1 for every "
            "threshold. Elementwise clipping bends the gradient as soon as the largest entry "
            "exceeds $\\lambda$, and the smaller $\\lambda$, the more it bends.")


FIGURES["vanishing-norms"] = vanishing_norms_figure
FIGURES["clipping-direction"] = clipping_direction_figure


# --- diagrams: the unrolled network and the gated cells, drawn as SVG by this hook -------------
# Not matplotlib: these are graphs whose parts (nodes, edges, paths) the page's stylesheet
# (docs/stylesheets/figures.css) colours with the theme's own variables, and whose edges the
# script docs/javascripts/figures.js lights up. Fallback presentation attributes use currentColor,
# so the drawing stays legible even without the stylesheet.

STEPS = 4          # steps of the unrolled graphs
PICKED = (3, "W")  # the loss term and parameter the static path picture shows


def _tex_svg(text: str) -> str:
    """A short label as SVG text: words separated by spaces, each a symbol with at most one
    superscript and one subscript (``s_3``, ``δ^o_2``, ``W^T``, ``C_t−1``) or plain text
    (``×``, ``=``, ``0``). Single-letter symbols are set in italic, like math."""
    out, shift = [], 0.0           # shift: how far (in em of the label) the baseline has moved
    for i, token in enumerate(text.split(" ")):
        gap = " " if i else ""
        reset = f' dy="{-shift:g}em"' if shift else ""
        shift = 0.0
        m = re.fullmatch(r"([^\W\d_]+)(?:\^([^\W_]+))?(?:_([\w+\-−]+))?", token)
        if not m:
            out.append(f"<tspan{reset}>{gap}{html.escape(token)}</tspan>")
            continue
        base, sup, sub = m.groups()
        cls = ' class="mi"' if len(base) == 1 else ""
        out.append(f"<tspan{cls}{reset}>{gap}{html.escape(base)}</tspan>")
        # dy and dx of a 70 % tspan are in its own, smaller em: 0.5em there is 0.35 here.
        if sup:
            out.append(f'<tspan font-size="70%" dy="-0.5em">{html.escape(sup)}</tspan>')
            shift -= 0.35
        if sub:
            back = ' dx="-0.6em"' if sup else ""
            drop = 0.4 - shift / 0.7
            out.append(f'<tspan font-size="70%"{back} dy="{drop:g}em">{html.escape(sub)}</tspan>')
            shift += drop * 0.7
    return "".join(out)


def _text(x: float, y: float, label: str, cls: str = "", anchor: str = "middle") -> str:
    return (f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}" dominant-baseline="central"'
            f'{f" class={chr(34)}{cls}{chr(34)}" if cls else ""} fill="currentColor">'
            f"{_tex_svg(label)}</text>")


def _arrow(x1: float, y1: float, x2: float, y2: float, cls: str = "", head: float = 7.0,
           curve: float = 0.0) -> str:
    """A line (or, with ``curve``, a quadratic arc bulging to its left) ending in a filled
    arrowhead at (x2, y2). Drawn as two shapes rather than an SVG marker, so a class on the
    group colours both."""
    import math

    if curve:
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        length = math.hypot(x2 - x1, y2 - y1)
        cx, cy = mx + curve * (y2 - y1) / length, my - curve * (x2 - x1) / length
        d = f"M{x1:g},{y1:g} Q{cx:g},{cy:g} {x2:g},{y2:g}"
        ux, uy = x2 - cx, y2 - cy
    else:
        d = f"M{x1:g},{y1:g} L{x2:g},{y2:g}"
        ux, uy = x2 - x1, y2 - y1
    n = math.hypot(ux, uy)
    ux, uy = ux / n, uy / n
    bx, by = x2 - head * ux, y2 - head * uy
    tip = (f"{x2:g},{y2:g} {bx - 0.5 * head * uy:g},{by + 0.5 * head * ux:g} "
           f"{bx + 0.5 * head * uy:g},{by - 0.5 * head * ux:g}")
    return (f'<g class="{cls}"><path d="{d}" fill="none" stroke="currentColor"/>'
            f'<polygon points="{tip}" fill="currentColor"/></g>')


def _svg_root(name: str, width: float, height: float, title: str, body: list[str],
              cls: str) -> str:
    ident = f"figure-{name}"
    return "\n".join([
        f'<svg id="{ident}" class="{cls}" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-labelledby="{ident}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{html.escape(title)}</title>',
        *body, "</svg>"])


class _Unrolled:
    """Geometry of the unrolled vanilla RNN: x_t below, s_t in the middle, z_t and E_t above,
    for t = 1..STEPS, plus s_0. Edge names say what they join: ``s1-s2`` is the use of W at
    step 2, ``x2-s2`` the use of U, ``s2-z2`` the use of V, ``z2-E2`` the loss."""

    dx, x0 = 104.0, 44.0
    rows = {"E": 26.0, "z": 102.0, "s": 186.0, "x": 272.0}
    r = 21.0                     # radius of a state circle; other nodes are boxes
    box = (44.0, 32.0)           # width and height of the x, z, E boxes
    width, height = x0 + dx * STEPS + 90.0, 300.0

    def cx(self, t: int) -> float:
        return self.x0 + self.dx * t

    def nodes(self) -> list[str]:
        out = []
        for t in range(STEPS + 1):
            out.append(f'<g class="node state" data-node="s{t}"><circle cx="{self.cx(t):g}" '
                       f'cy="{self.rows["s"]:g}" r="{self.r:g}" fill="none" '
                       f'stroke="currentColor"/>{_text(self.cx(t), self.rows["s"], f"s_{t}")}</g>')
            if t == 0:
                continue
            for row in "xzE":
                w, h = self.box
                x, y = self.cx(t), self.rows[row]
                out.append(f'<g class="node {"loss" if row == "E" else "io"}" data-node="{row}{t}">'
                           f'<rect x="{x - w / 2:g}" y="{y - h / 2:g}" width="{w:g}" '
                           f'height="{h:g}" rx="6" fill="none" stroke="currentColor"/>'
                           f'{_text(x, y, f"{row}_{t}")}</g>')
        return out

    def edges(self) -> dict[str, tuple[str, str]]:
        """``{edge: (svg, parameter)}`` for every forward edge."""
        (w, h), r, rows = self.box, self.r, self.rows
        out = {}
        for t in range(1, STEPS + 1):
            x = self.cx(t)
            out[f"s{t - 1}-s{t}"] = (_arrow(self.cx(t - 1) + r, rows["s"], x - r - 1, rows["s"]),
                                     "W", (x - self.dx / 2, rows["s"] - 13))
            out[f"x{t}-s{t}"] = (_arrow(x, rows["x"] - h / 2, x, rows["s"] + r + 1),
                                 "U", (x - 13, (rows["x"] - h / 2 + rows["s"] + r) / 2))
            out[f"s{t}-z{t}"] = (_arrow(x, rows["s"] - r, x, rows["z"] + h / 2 + 1),
                                 "V", (x - 13, (rows["s"] - r + rows["z"] + h / 2) / 2))
            out[f"z{t}-E{t}"] = (_arrow(x, rows["z"] - h / 2, x, rows["E"] + h / 2 + 1),
                                 "", None)
        svg = {}
        for name, (arrow, param, where) in out.items():
            label = _text(*where, param, cls="param", anchor="end" if param in "UV" else "middle") \
                if param else ""
            svg[name] = (f'<g class="edge" data-edge="{name}"'
                         f'{f" data-param={chr(34)}{param}{chr(34)}" if param else ""}>'
                         f"{arrow}{label}</g>", param)
        return svg


def gradient_paths(t: int, param: str) -> list[dict]:
    r"""The terms of :math:`\partial E_t/\partial\,\mathrm{param}` in the unrolled graph, one per
    step τ at which the parameter is used on a path from E_t back: the path's edges, the edge
    where the parameter enters (its immediate derivative), and the term as LaTeX.

    It is the sum of the ``rnn.jacobian:sum_of_products`` step (and its analogue for U and V)
    for a single loss term, with the chain's factors printed by SymPy: E_t reaches s_t through
    z_t, goes back through the Jacobians of steps t, t-1, ..., τ+1, and meets the parameter's
    immediate derivative at step τ. The term is the lag-(t - τ) part of δ_τ (the part that comes
    from E_t) times what the parameter multiplies at step τ."""
    import sympy as sp

    from rnnmath.derive.latex import latex  # the site's printer, as for every formula

    def nc(tex):                          # a factor that must keep its place in the product
        return sp.Symbol(tex, commutative=False)

    def vec(tex):
        return sp.MatrixSymbol(tex, 1, 1)

    if param == "V":                      # V is read once per step, by z_t only
        chain = [nc(rf"\frac{{\partial E_{{{t}}}}}{{\partial z_{{{t}}}}}"),
                 nc(rf"\frac{{\partial^{{+}} z_{{{t}}}}}{{\partial V}}")]
        outer = vec(rf"\delta^{{o}}_{{{t}}}") * vec(f"s_{{{t}}}").T
        return [dict(tau=t, edges=[f"z{t}-E{t}", f"s{t}-z{t}"], use=f"s{t}-z{t}",
                     tex=rf"\displaystyle {latex(sp.Mul(*chain))} = {latex(outer)}")]
    if param not in ("W", "U"):
        raise ValueError(f"param: expected 'W', 'U' or 'V', got {param!r}")
    terms = []
    for tau in range(t, 0, -1):
        chain = [nc(rf"\frac{{\partial E_{{{t}}}}}{{\partial s_{{{t}}}}}")]
        chain += [nc(rf"\frac{{\partial s_{{{j}}}}}{{\partial s_{{{j - 1}}}}}")
                  for j in range(t, tau, -1)]
        chain.append(nc(rf"\frac{{\partial^{{+}} s_{{{tau}}}}}{{\partial {param}}}"))
        read = vec(f"s_{{{tau - 1}}}") if param == "W" else vec(f"x_{{{tau}}}")
        outer = vec(rf"\delta^{{({t - tau})}}_{{{tau}}}") * read.T
        use = f"s{tau - 1}-s{tau}" if param == "W" else f"x{tau}-s{tau}"
        edges = [f"z{t}-E{t}", f"s{t}-z{t}", *(f"s{j - 1}-s{j}" for j in range(t, tau, -1)),
                 use]
        terms.append(dict(tau=tau, edges=list(dict.fromkeys(edges)), use=use,
                          tex=rf"\displaystyle {latex(sp.Mul(*chain))} = {latex(outer)}"))
    return terms


def _sum_tex(t: int, param: str) -> str:
    if param == "V":
        return (rf"\displaystyle\frac{{\partial E_{{{t}}}}}{{\partial V}} = "
                rf"\delta^{{o}}_{{{t}}} s_{{{t}}}^{{T}}")
    read = r"s_{\tau-1}" if param == "W" else r"x_{\tau}"
    return (rf"\displaystyle\frac{{\partial E_{{{t}}}}}{{\partial {param}}} = "
            rf"\sum_{{\tau=1}}^{{{t}}}\delta^{{({t}-\tau)}}_{{\tau}} {read}^{{T}}")


def _graph_svg(name: str, title: str, lit: list[dict] | None = None, extra: list[str] = (),
               labels: bool = True) -> str:
    g = _Unrolled()
    edges = g.edges()
    if not labels:                        # the parameters' names, left out where space is short
        edges = {e: (re.sub(r'<text[^>]*class="param".*?</text>', "", svg), p)
                 for e, (svg, p) in edges.items()}
    on = {e for term in lit or () for e in term["edges"]}
    uses = {term["use"] for term in lit or ()}
    body = []
    for edge, (svg, _) in edges.items():
        classes = " on" * (edge in on) + " use" * (edge in uses)
        body.append(svg.replace('class="edge"', f'class="edge{classes}"', 1))
    nodes_on = {n for e in on for n in e.split("-")}
    for node in g.nodes():
        ident = re.search(r'data-node="(\w+)"', node).group(1)
        body.append(node.replace('class="node', 'class="node on' if ident in nodes_on
                                 else 'class="node', 1))
    body += extra
    return _svg_root(name, g.width, g.height, title, body, "rnn-graph")


def unrolled_rnn_diagram() -> tuple[str, str, str]:
    title = f"The vanilla RNN unrolled over {STEPS} steps"
    svg = _graph_svg("unrolled-rnn", title)
    caption = (f"The network unrolled over {STEPS} steps: one copy of the cell per step, the "
               "same $U$, $W$ and $V$ on every copy. Each state $s_t$ feeds its own logits "
               "$z_t$ and loss term $E_t$, and the next state.")
    return svg, title, caption


def bptt_paths_diagram() -> tuple[str, str, str]:
    t, param = PICKED
    title = f"Every path by which the loss term E{t} reaches {param}"
    svg = _graph_svg("bptt-paths", title, gradient_paths(t, param))
    caption = (f"The paths by which $E_{t}$ reaches ${param}$: down from $E_{t}$ to $s_{t}$, then "
               f"back through the states. ${param}$ is used at every step $\\tau \\le {t}$ (dashed, "
               f"its name in bold), and each use gives one term "
               f"$\\delta^{{({t}-\\tau)}}_\\tau s_{{\\tau-1}}^T$ of the sum.")
    return svg, title, caption


def bptt_recursion_diagram() -> tuple[str, str, str]:
    g = _Unrolled()
    rows, r = g.rows, g.r
    back = []
    for t in range(1, STEPS + 1):
        x = g.cx(t)
        # delta^o_t comes down from the logits (through V^T) ...
        back.append(_arrow(x + 11, rows["z"] + 18, x + 11, rows["s"] - r - 1, cls="back",
                           curve=8))
        back.append(_text(x - 8, (rows["z"] + rows["s"]) / 2, "V^T", cls="back-label",
                          anchor="end"))
        back.append(_text(x + 26, rows["z"], f"δ^o_{t}", cls="back-label", anchor="start"))
        back.append(_text(x, rows["s"] + r + 16, f"δ_{t}", cls="back-label halo"))
        # ... and delta_{t+1} comes back from the next step (through W^T).
        if t < STEPS:
            back.append(_arrow(g.cx(t + 1) - r, rows["s"] - 7, x + r + 1, rows["s"] - 7,
                               cls="back", curve=-12))
            back.append(_text(x + g.dx / 2, rows["s"] - 30, "W^T", cls="back-label"))
    back.append(_text(g.cx(STEPS) + r + 8, rows["s"], f"δ_{STEPS + 1} = 0",
                      cls="back-label", anchor="start"))
    title = "The backward recursion: error signals flow from right to left"
    svg = _graph_svg("bptt-recursion", title, extra=back, labels=False)
    caption = ("The backward pass on the same graph. Each $\\delta_t$ collects what comes down "
               "from its own loss term through $V^T$ and what comes back from "
               "$\\delta_{t+1}$ through $W^T$, then is multiplied by $\\phi'_t$: "
               "$\\delta_t = \\phi'_t \\odot (V^T \\delta^o_t + W^T \\delta_{t+1})$, starting "
               f"from $\\delta_{{{STEPS + 1}}} = 0$. Each use of $W$ then adds "
               "$\\delta_t s_{t-1}^T$ to $\\partial E/\\partial W$.")
    return svg, title, caption


def bptt_explorer_diagram() -> tuple[str, str, str]:
    """The path picture of PICKED, plus controls and every other choice's paths and terms as
    data, for docs/javascripts/figures.js. Without the script, what shows is the static picture
    and its terms: the controls are ``hidden`` until the script reveals them."""
    import json

    t0, p0 = PICKED
    svg, title, _ = bptt_paths_diagram()
    svg = svg.replace('id="figure-bptt-paths', 'id="figure-bptt-explorer')
    svg = svg.replace('aria-labelledby="figure-bptt-paths', 'aria-labelledby="figure-bptt-explorer')
    data = {f"{t}:{p}": dict(sum=_sum_tex(t, p), terms=gradient_paths(t, p))
            for t in range(1, STEPS + 1) for p in ("W", "U", "V")}
    loss = "".join(f'<label><input type="radio" name="bptt-loss" value="{t}"'
                   f'{" checked" if t == t0 else ""}> <i>E</i><sub>{t}</sub></label>'
                   for t in range(1, STEPS + 1))
    params = "".join(f'<label><input type="radio" name="bptt-param" value="{p}"'
                     f'{" checked" if p == p0 else ""}> <i>{p}</i></label>'
                     for p in ("W", "U", "V"))
    controls = ('<div class="bptt-controls" hidden>'
                f'<fieldset><legend>Loss term</legend>{loss}</fieldset>'
                f'<fieldset><legend>Parameter</legend>{params}</fieldset></div>')
    terms = _terms_html(data[f"{t0}:{p0}"])
    html_ = "\n".join([controls, f'<div class="bptt-graph">{svg}</div>',
                       f'<div class="bptt-terms" aria-live="polite">{terms}</div>',
                       '<script type="application/json" class="bptt-data">'
                       f'{json.dumps(data, separators=(",", ":"))}</script>'])
    caption = ("Pick a loss term and a parameter: the paths by which that loss reaches the "
               "parameter light up (dashed, the name in bold: where the parameter is used), and "
               "the terms of its gradient appear, one per path; "
               "$\\delta^{(t-\\tau)}_\\tau = \\partial E_t/\\partial a_\\tau$ is the part of "
               "$\\delta_\\tau$ that comes from $E_t$, $t - \\tau$ steps later. Point at a term "
               "to see its path alone.")
    return html_, "Explore the paths of the gradient: " + title, caption


def _terms_html(entry: dict) -> str:
    """The sum and its terms as HTML with arithmatex spans (the script builds the same)."""
    items = "".join(f'<li tabindex="0" data-edges="{" ".join(term["edges"])}">'
                    f'<span class="bptt-k">τ = {term["tau"]}</span> '
                    f'<span class="arithmatex">\\({html.escape(term["tex"])}\\)</span></li>'
                    for term in entry["terms"])
    return (f'<p><span class="arithmatex">\\({html.escape(entry["sum"])}\\)</span></p>'
            f"<ol>{items}</ol>")


# --- where the gradient of W comes from (docs/vanishing.md) -----------------------------------

HEATMAP_RADII = (0.5, 2.0)   # contracting and expanding W


def _heatmap_network(rho: float, H: int = 16, D: int = 8, K: int = 4, T: int = 20,
                     seed: int = 0):
    """``(x, y, params)``: a relu network whose W has spectral radius ``rho``.

    relu, because it does not saturate: with tanh an expanding W drives the states into
    saturation, where f' ~ 0 pulls the products back down (the vanishing page shows this). V is
    small, so that the logits of the growing states stay away from softmax saturation, which
    would zero whole rows of terms (any loss term the network already fits perfectly)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    W = rng.normal(size=(H, H))
    W *= rho / np.abs(np.linalg.eigvals(W)).max()
    params = dict(U=0.3 * rng.normal(size=(H, D)), W=W, V=0.01 * rng.normal(size=(K, H)),
                  b=np.zeros(H), c=np.zeros(K),
                  s0=0.5 * np.abs(rng.normal(size=H)))   # nonzero, so the τ = 1 terms are too
    return rng.integers(0, D, size=T), rng.integers(0, K, size=T), params


def w_gradient_terms(x, y, params, activation: str = "relu"):
    r"""``(norms, total)``: the Frobenius norm of every term
    :math:`\delta^{(t-\tau)}_\tau s_{\tau-1}^T` of :math:`\partial E/\partial W` (the part of
    :math:`\delta_\tau` that comes from :math:`E_t`, times the state it multiplied) for a sequence
    of token ids, ``norms[t - 1, tau - 1]`` for :math:`\tau \le t` (NaN above the diagonal), and
    the sum of
    all the terms, which must be ``rnn_gradients(...).dW``.

    No function of the package returns the terms one by one: its kernels add them up as they
    go. So they are recomputed here from ``rnn_forward``'s states, one loss term at a time."""
    import numpy as np

    from rnnmath import rnn_forward

    out = rnn_forward(x, **params, activation=activation)
    S = out.states                                     # S[t] = s_t, t = 0..T
    # delta^o_t = yhat_t - y_t, softmax with cross-entropy (Softmax page); row t - 1 is step t.
    d_out = out.probs - np.eye(out.probs.shape[1])[np.asarray(y)]
    # f'(a_t) from the stored states, as on the W page: 1 - s^2 for tanh, [s > 0] for relu.
    fprime = 1 - S ** 2 if activation == "tanh" else (S > 0).astype(float)
    W, V = params["W"], params["V"]
    T = len(x)
    norms = np.full((T, T), np.nan)
    total = np.zeros_like(W)
    for t in range(1, T + 1):
        grad_s = V.T @ d_out[t - 1]                    # dE_t/ds_t, as a column
        for tau in range(t, 0, -1):
            d = fprime[tau] * grad_s                   # delta^(t - tau)_tau = dE_t/da_tau
            term = np.outer(d, S[tau - 1])
            norms[t - 1, tau - 1] = np.linalg.norm(term)
            total += term
            grad_s = W.T @ d                           # dE_t/ds_{tau-1}: one step further back
    return norms, total


def gradient_sources_figure(ax) -> str:
    import numpy as np

    fig = ax.figure
    ax.remove()
    fig.set_layout_engine("constrained")               # makes room for the shared colour bar
    panels = fig.subplots(1, 2, sharey=True)
    logs = []
    for rho in HEATMAP_RADII:
        x, y, params = _heatmap_network(rho)
        norms, _ = w_gradient_terms(x, y, params)
        with np.errstate(divide="ignore"):              # an exact zero (all units off): no log
            logs.append(np.log10(norms))
    finite = np.concatenate([v[np.isfinite(v)] for v in logs])
    high = np.ceil(finite.max())
    low = max(np.floor(finite.min()), high - 20)       # at most twenty decades: less is "tiny"
    for panel, rho, values in zip(panels, HEATMAP_RADII, logs):
        T = values.shape[0]
        # A raster of T x T cells (a few kB, where vector cells would be hundreds): the page's
        # stylesheet keeps it pixelated when scaled. The masked half is transparent.
        image = panel.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=low, vmax=high,
                             extent=(0.5, T + 0.5, T + 0.5, 0.5), interpolation="nearest")
        panel.set_title(f"{'contracting' if rho < 1 else 'expanding'}: ρ(W) = {rho:g}",
                        fontsize=10)
        panel.set_xlabel("τ (step where W is used)")
        ticks = [1, *range(5, T + 1, 5)]
        panel.set_xticks(ticks)
        panel.set_yticks(ticks)
        panel.spines[["top", "right"]].set_visible(False)
    panels[0].set_ylabel("t (loss term Eₜ)")
    bar = fig.colorbar(image, ax=list(panels), shrink=0.9, pad=0.02,
                       extend="min" if finite.min() < low else "neither")
    bar.set_label("log₁₀ ‖term‖")
    bar.outline.set_visible(False)
    # The first column read downwards: the use of W at step 1, reached from E_1, ..., E_T.
    change = [v[-1, 0] - v[0, 0] for v in logs]
    return ("Where $\\partial E/\\partial W$ comes from: $\\log_{10}$ of the norm of each term "
            "$\\delta^{(t-\\tau)}_\\tau s_{\\tau-1}^T$, loss term $E_t$ down, step $\\tau \\le t$ "
            "across, for one "
            f"relu network ($T = {T}$, $H = 16$) with the same random $W$ scaled to spectral radius "
            f"{HEATMAP_RADII[0]:g} and {HEATMAP_RADII[1]:g}. Read a column downwards: the same "
            "use of $W$, reached from later and later loss terms. Contracting, the first "
            f"column falls by {-change[0]:.0f} decades over {T - 1} steps: long lags vanish. "
            f"Expanding, it rises by {change[1]:.0f}: long lags explode, and the last loss terms "
            "dominate the sum. Computed from rnn_forward's states when this site was built; "
            "the terms add up to rnn_gradients' dW.")


# --- the gated cells (docs/lstm.md, docs/gru.md) ----------------------------------------------
# colah-style cell pictures: the state that is carried along the top, the gates below. The
# gate names and their squashing functions are read from the derivations' own tables (GATES,
# ACT), so the picture names what the formulas name.

def _act_name(fn) -> str:
    return "tanh" if fn.__name__ == "tanh" else "σ"


def _op(x: float, y: float, symbol: str, cls: str = "op") -> str:
    return (f'<g class="{cls}"><circle cx="{x:g}" cy="{y:g}" r="11" fill="none" '
            f'stroke="currentColor"/><text x="{x:g}" y="{y:g}" text-anchor="middle" '
            f'dominant-baseline="central" fill="currentColor">{symbol}</text></g>')


def _pill(x: float, y: float, w: float, text: str) -> str:
    """A rounded box of width ``w`` centred on (x, y) holding ``text``: an elementwise function
    on a wire (the LSTM's tanh of C_t, the GRU's 1 - z_t)."""
    return (f'<g class="gate"><rect x="{x - w / 2:g}" y="{y - 13:g}" width="{w:g}" height="26" '
            f'rx="13" fill="none" stroke="currentColor"/><text x="{x:g}" y="{y:g}" '
            f'text-anchor="middle" dominant-baseline="central" fill="currentColor">{text}</text>'
            "</g>")


def _gate(x: float, y: float, fn, label: str) -> str:
    name = _act_name(fn)
    w = 46 if name == "tanh" else 32
    return (f'<g class="gate"><rect x="{x - w / 2:g}" y="{y - 14:g}" width="{w:g}" height="28" '
            f'rx="4" fill="none" stroke="currentColor"/><text x="{x:g}" y="{y:g}" '
            f'text-anchor="middle" dominant-baseline="central" fill="currentColor">{name}</text>'
            f"</g>{_text(x + w / 2 + 4, y - 24, label, cls='gate-label', anchor='start')}")


def _wire(points, cls: str = "wire", head: bool = False) -> str:
    """A polyline through ``points``; with ``head``, an arrowhead on the last segment."""
    *rest, (x1, y1), (x2, y2) = points
    d = " ".join(f"{x:g},{y:g}" for x, y in points)
    out = f'<polyline points="{d}" fill="none" stroke="currentColor"/>'
    if head:
        out += re.search(r"<polygon[^>]*/>", _arrow(x1, y1, x2, y2)).group(0)
    return f'<g class="{cls}">{out}</g>'


def lstm_cell_diagram() -> tuple[str, str, str]:
    from rnnmath.derive import lstm

    top, mid, bottom, gate_y = 64.0, 132.0, 246.0, 190.0
    gx = {"f": 150.0, "i": 214.0, "g": 272.0, "o": 346.0}
    plus_x, tanh_x = 272.0, 420.0
    body = [f'<rect class="cell" x="70" y="28" width="420" height="244" rx="14" '
            f'fill="none" stroke="currentColor"/>']
    # The cell-state path: C_{t-1} -> (x f_t) -> (+ i_t g_t) -> C_t. Highlighted: the gradient
    # runs back along it multiplied by f_t only.
    body.append(_wire([(14, top), (139, top)], cls="carry"))
    body.append(_wire([(161, top), (261, top)], cls="carry"))
    body.append(_wire([(283, top), (540, top)], cls="carry", head=True))
    body += [_op(gx["f"], top, "×", cls="op carry-op"), _op(plus_x, top, "+", cls="op carry-op")]
    body += [_text(10, top - 16, "C_t−1", cls="state-label", anchor="start"),
             _text(540, top - 16, "C_t", cls="state-label", anchor="end")]
    # h_{t-1} and x_t feed the four gates.
    body.append(_wire([(14, bottom), (gx["o"], bottom)]))
    body.append(_wire([(110, 296), (110, bottom)]))
    body += [_text(10, bottom + 16, "h_t−1", cls="state-label", anchor="start"),
             _text(122, 290, "x_t", cls="state-label", anchor="start")]
    for name, x in gx.items():
        body.append(_wire([(x, bottom), (x, gate_y + 15)], head=True))
        body.append(_gate(x, gate_y, lstm.ACT[name], f"{name}_t"))
    # f_t scales C_{t-1}; i_t times g_t is added; o_t times tanh(C_t) is h_t.
    body.append(_wire([(gx["f"], gate_y - 14), (gx["f"], top + 12)], head=True))
    body.append(_wire([(gx["i"], gate_y - 14), (gx["i"], mid), (plus_x - 12, mid)], head=True))
    body.append(_op(plus_x, mid, "×"))
    body.append(_wire([(gx["g"], gate_y - 14), (gx["g"], mid + 12)], head=True))
    body.append(_wire([(plus_x, mid - 11), (plus_x, top + 12)], head=True))
    body.append(_wire([(tanh_x, top), (tanh_x, 96)], head=True))
    body.append(_pill(tanh_x, 109, 46, "tanh"))
    body.append(_wire([(tanh_x, 122), (tanh_x, 167)], head=True))
    body.append(_op(tanh_x, 178, "×"))
    body.append(_wire([(gx["o"], gate_y - 14), (gx["o"], 178), (tanh_x - 12, 178)], head=True))
    body.append(_wire([(tanh_x, 189), (tanh_x, bottom), (540, bottom)], head=True))
    body.append(_text(540, bottom + 16, "h_t", cls="state-label", anchor="end"))
    body.append(_wire([(466, bottom), (466, 10)], head=True))
    body.append(_text(474, 14, "h_t", cls="state-label", anchor="start"))
    # The way back along the cell state: one multiplication by f_t per step.
    body.append(_arrow(380, top - 26, 190, top - 26, cls="back"))
    body.append(_text(388, top - 26, "× f_t", cls="back-label", anchor="start"))
    title = "LSTM cell: the cell state runs along the top, changed only by × f and + i g"
    svg = _svg_root("lstm-cell", 550, 300, title, body, "cell-diagram")
    caption = ("One LSTM step. The cell state runs along the top (highlighted): the forget gate "
               "scales it, the input gate adds $i_t \\odot g_t$, nothing else touches it. "
               "Backwards, $\\bar C_{t-1}$ gets $f_t \\odot \\bar C_t$ along this line: no "
               "weight matrix, no squashing derivative. The gates below read $h_{t-1}$ and "
               "$x_t$ and reach $W^{hh}$ and $W^{ih}$.")
    return svg, title, caption


def gru_cell_diagram() -> tuple[str, str, str]:
    from rnnmath.derive import gru

    top, mid, bottom, gate_y = 64.0, 130.0, 246.0, 196.0
    gx = {"z": 170.0, "r": 262.0, "n": 372.0}
    body = [f'<rect class="cell" x="70" y="28" width="420" height="244" rx="14" '
            f'fill="none" stroke="currentColor"/>']
    # The carried path: h_{t-1} -> (x z_t) -> (+ (1 - z_t) n_t) -> h_t.
    body.append(_wire([(14, top), (gx["z"] - 11, top)], cls="carry"))
    body.append(_wire([(gx["z"] + 11, top), (gx["n"] - 11, top)], cls="carry"))
    body.append(_wire([(gx["n"] + 11, top), (540, top)], cls="carry", head=True))
    body += [_op(gx["z"], top, "×", cls="op carry-op"), _op(gx["n"], top, "+", cls="op carry-op")]
    body += [_text(10, top - 16, "h_t−1", cls="state-label", anchor="start"),
             _text(540, top - 16, "h_t", cls="state-label", anchor="end")]
    # h_{t-1} also goes down to the gates, which x_t feeds too.
    body.append(_wire([(96, top), (96, bottom), (gx["n"], bottom)]))
    body.append(_wire([(120, 296), (120, bottom)]))
    body.append(_text(132, 290, "x_t", cls="state-label", anchor="start"))
    for name, x in gx.items():
        body.append(_wire([(x, bottom), (x, gate_y + 15)], head=True))
        body.append(_gate(x, gate_y, gru.ACT[name], f"{name}_t"))
    # z_t keeps the old state; 1 - z_t lets the candidate in; r_t acts inside the candidate.
    body.append(_wire([(gx["z"], gate_y - 14), (gx["z"], top + 12)], head=True))
    body.append(_wire([(gx["z"], mid), (262, mid)], head=True))
    body.append(_pill(282, mid, 40, "1−"))
    body.append(_wire([(302, mid), (gx["n"] - 12, mid)], head=True))
    body.append(_op(gx["n"], mid, "×"))
    body.append(_wire([(gx["n"], gate_y - 14), (gx["n"], mid + 12)], head=True))
    body.append(_wire([(gx["n"], mid - 11), (gx["n"], top + 12)], head=True))
    body.append(_wire([(gx["r"] + 16, gate_y), (gx["n"] - 24, gate_y)], head=True))
    body.append(_wire([(466, top), (466, 10)], head=True))
    body.append(_text(474, 14, "h_t", cls="state-label", anchor="start"))
    body.append(_arrow(340, top - 26, 120, top - 26, cls="back"))
    body.append(_text(348, top - 26, "× z_t", cls="back-label", anchor="start"))
    title = "GRU cell: the state runs along the top, kept by × z and mixed with the candidate"
    svg = _svg_root("gru-cell", 550, 300, title, body, "cell-diagram")
    caption = ("One GRU step (PyTorch's convention). The state runs along the top "
               "(highlighted): the update gate keeps $z_t \\odot h_{t-1}$ and adds "
               "$(1 - z_t) \\odot n_t$. Backwards, $\\bar h_{t-1}$ gets "
               "$z_t \\odot \\bar h_t$ along this line, besides what flows through the gates; "
               "the reset gate $r_t$ acts inside the candidate $n_t$.")
    return svg, title, caption


DIAGRAMS: dict[str, Callable[[], tuple[str, str, str]]] = {
    "unrolled-rnn": unrolled_rnn_diagram,
    "bptt-paths": bptt_paths_diagram,
    "bptt-recursion": bptt_recursion_diagram,
    "bptt-explorer": bptt_explorer_diagram,
    "lstm-cell": lstm_cell_diagram,
    "gru-cell": gru_cell_diagram,
}


FIGURES["gradient-sources"] = gradient_sources_figure

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
        # Transparent, with the page's ink: readable in the light and the dark palette.
        "figure.facecolor": "none",
        "axes.facecolor": "none",
        "savefig.transparent": True,
        "text.color": INK,
        "axes.labelcolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
        "axes.edgecolor": MID,
    }
    with plt.rc_context(style):
        fig, ax = plt.subplots(figsize=(7, 4))
        try:
            caption = draw(ax)
            if ax in fig.axes:               # a figure that made its own panels grids them
                ax.grid(True, which="major", color=GRID, lw=0.6)
            if not fig.get_layout_engine():
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
    for stand_in, colour in THEME.items():
        svg = svg.replace(stand_in, colour)
    label = html.escape(TITLES.get(name) or _plain(caption.split(";")[0].split(". ")[0]),
                        quote=True)
    svg = svg.replace("<svg ", f'<svg id="{ident}" role="img" aria-label="{label}" '
                      'style="max-width:100%;height:auto" ', 1)
    # Raw HTML in Markdown must not contain blank lines, nor lines Markdown reads as code.
    lines = [line.strip() for line in svg.splitlines() if line.strip()]
    return "\n".join(lines), caption


# Accessible names of the plots whose caption does not open with a plain sentence.
TITLES = {
    "gradient-sources": "Heat maps of the norm of every term of the gradient of W, for a "
                        "contracting and an expanding W",
    "jacobian-norms": "Norm of the state-to-state Jacobian product against the lag, for three "
                      "spectral radii of W",
    "truncation-error": "Relative error of truncated BPTT against the truncation length",
    "vanishing-norms": "Norm of the last state's Jacobian against the lag, tanh and relu, for "
                       "six spectral radii of W",
    "clipping-direction": "Cosine between clipped and unclipped gradient against the threshold",
}


def _plain(text: str) -> str:
    """A caption's words without math delimiters, for an accessible name."""
    return text.replace("$", "")


def caption_html(caption: str) -> str:
    """A caption as HTML: text escaped, each ``$...$`` an arithmatex span MathJax typesets."""
    parts = caption.split("$")
    if len(parts) % 2 == 0:
        raise FigureError(f"unbalanced $ in the caption {caption[:60]!r}...")
    return "".join(html.escape(part) if i % 2 == 0 else
                   f'<span class="arithmatex">\\({html.escape(part)}\\)</span>'
                   for i, part in enumerate(parts))


_cache: dict[str, tuple[str, str, str]] = {}


def render_figure(name: str) -> list[str]:
    """The ``<figure>`` of one figure, as lines of raw HTML (none blank, none indented)."""
    if name not in _cache:
        if name in DIAGRAMS:
            body, _, caption = DIAGRAMS[name]()
            kind = "diagram"
        else:
            body, caption = _svg(name, FIGURES[name])
            kind = "plot"
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        _cache[name] = ("\n".join(lines), caption, kind)
    body, caption, kind = _cache[name]
    # The body scrolls sideways inside its own box if it cannot shrink enough; the caption wraps.
    return [f'<figure class="computed-figure {kind}" data-figure="{name}">',
            '<div class="figure-body">', *body.split("\n"), "</div>",
            f"<figcaption>{caption_html(caption)}</figcaption>", "</figure>"]


def known_figures() -> list[str]:
    return sorted({*FIGURES, *DIAGRAMS})


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
        if m.group(1) not in known_figures():
            raise FigureError(f"{where}:{number}: {text!r}: no figure {m.group(1)!r}; "
                              f"known figures are {known_figures()}")
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
