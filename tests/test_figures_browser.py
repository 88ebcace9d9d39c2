"""The figures in a real browser: the interactive path picture on the W page responds to the
mouse and the keyboard (paths and terms change, the terms are typeset), degrades to the static
picture without script, and every figure fits a phone's width in both colour schemes."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

EXPLORER = 'figure[data-figure="bptt-explorer"]'

# The explorer's state as the page shows it.
STATE = r"""
async (selector) => {
  await MathJax.startup.promise;
  const figure = document.querySelector(selector);
  // The script typesets after each change; wait until no raw TeX is left in the terms.
  const panel = figure.querySelector(".bptt-terms");
  for (let i = 0; i < 100 && panel.textContent.includes("\\("); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    selected: figure.dataset.selected || null,
    interactive: figure.classList.contains("is-interactive"),
    controlsVisible: !!figure.querySelector(".bptt-controls").offsetParent,
    lit: [...figure.querySelectorAll(".edge.on")].map((e) => e.dataset.edge).sort(),
    uses: [...figure.querySelectorAll(".edge.use")].map((e) => e.dataset.edge).sort(),
    terms: figure.querySelectorAll(".bptt-terms li").length,
    typeset: panel.querySelectorAll("mjx-container").length,
    raw: panel.textContent.includes("\\("),
    errors: panel.querySelectorAll("mjx-merror").length,
  };
}
"""


def _expected(figures_hook, t, param):
    terms = figures_hook.gradient_paths(t, param)
    return (sorted({e for term in terms for e in term["edges"]}),
            sorted({term["use"] for term in terms}), len(terms))


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


def _check(state, figures_hook, t, param):
    lit, uses, count = _expected(figures_hook, t, param)
    assert state["selected"] == f"{t}:{param}"
    assert state["lit"] == lit
    assert state["uses"] == uses
    assert state["terms"] == count
    # The sum and each term, typeset: one formula more than there are terms.
    assert state["typeset"] == count + 1 and not state["raw"] and not state["errors"], state


def test_explorer_responds_to_clicks(served_site, browser_page, figures_hook):
    page, log = browser_page
    log["errors"].clear()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(served_site + "gradient-w/", wait_until="load")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    t0, p0 = figures_hook.PICKED
    first = page.evaluate(STATE, EXPLORER)
    assert first["interactive"] and first["controlsVisible"]
    _check(first, figures_hook, t0, p0)

    figure = page.locator(EXPLORER)
    figure.locator("label", has_text="E1").click()
    after_loss = page.evaluate(STATE, EXPLORER)
    _check(after_loss, figures_hook, 1, p0)
    assert after_loss["lit"] != first["lit"]

    figure.locator('label:has(input[value="U"])').click()
    after_param = page.evaluate(STATE, EXPLORER)
    _check(after_param, figures_hook, 1, "U")
    assert after_param["uses"] != after_loss["uses"]

    # Pointing at one term shows its path alone.
    page.locator(EXPLORER).locator(".bptt-terms li").first.hover()
    one = page.evaluate(f"""() => {{
      const f = document.querySelector('{EXPLORER}');
      return {{dim: f.classList.contains("one-term"),
               term: [...f.querySelectorAll(".edge.term")].map((e) => e.dataset.edge).sort()}};
    }}""")
    assert one["dim"]
    assert one["term"] == sorted(figures_hook.gradient_paths(1, "U")[0]["edges"])
    assert not log["errors"], log["errors"]
    outside = sorted({u for u in log["requests"] if not _is_local(u)})
    assert not outside, outside


def test_explorer_works_from_the_keyboard(served_site, browser_page, figures_hook):
    page, log = browser_page
    log["errors"].clear()
    page.goto(served_site + "gradient-w/", wait_until="load")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    t0, p0 = figures_hook.PICKED
    figure = page.locator(EXPLORER)
    figure.locator(f'input[name="bptt-loss"][value="{t0}"]').focus()
    # The focused choice shows a focus ring (keyboard focus: :focus-visible).
    page.keyboard.press("ArrowLeft")
    ring = page.evaluate(f"""() => getComputedStyle(
        document.querySelector('{EXPLORER} input[name="bptt-loss"]:checked').parentElement
      ).outlineStyle""")
    assert ring != "none"
    state = page.evaluate(STATE, EXPLORER)
    _check(state, figures_hook, t0 - 1, p0)
    # Tab to the parameter group, then move within it.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "bptt-param"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    state = page.evaluate(STATE, EXPLORER)
    _check(state, figures_hook, t0 - 1, "V")
    # The terms can be reached with Tab too (MathJax makes the sum's formula a stop on the
    # way), and focusing one shows its path alone.
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.tagName") == "LI":
            break
    focused = page.evaluate("""() => [document.activeElement.tagName,
        document.activeElement.closest('figure').classList.contains('one-term')]""")
    assert focused == ["LI", True]
    assert not log["errors"], log["errors"]


def test_explorer_without_script_shows_the_static_picture(served_site, browser_page,
                                                          figures_hook):
    page, _ = browser_page
    t0, p0 = figures_hook.PICKED
    lit, uses, count = _expected(figures_hook, t0, p0)
    # A second context of the same browser, with JavaScript off.
    context = page.context.browser.new_context(java_script_enabled=False)
    try:
        bare = context.new_page()
        bare.goto(served_site + "gradient-w/", wait_until="load")
        figure = bare.locator(EXPLORER)
        assert figure.locator("svg").is_visible()
        assert not figure.locator(".bptt-controls").is_visible()
        assert sorted(figure.locator(".edge.on").evaluate_all(
            "els => els.map(e => e.dataset.edge)")) == lit
        assert sorted(figure.locator(".edge.use").evaluate_all(
            "els => els.map(e => e.dataset.edge)")) == uses
        assert figure.locator(".bptt-terms li").count() == count
    finally:
        context.close()


FIGURE_PAGES = ["notation/", "gradient-w/", "vanishing/", "lstm/", "gru/", "algorithm/",
                "clipping/"]

# For every figure: its width against the viewport, the smallest rendered text, whether its
# body scrolls inside itself, and the colour its ink resolves to.
MEASURE = r"""
async () => {
  await MathJax.startup.promise;
  await document.fonts.ready;
  return [...document.querySelectorAll("figure.computed-figure")].map((figure) => {
    const svg = figure.querySelector("svg");
    const body = figure.querySelector(".figure-body");
    const box = svg.getBoundingClientRect();
    const scale = box.width / (svg.viewBox.baseVal.width || box.width);
    const sizes = [...svg.querySelectorAll("text")]
      .filter((t) => !t.closest("[display='none']"))
      .map((t) => parseFloat(getComputedStyle(t).fontSize) * scale);
    return {
      name: figure.dataset.figure,
      right: figure.getBoundingClientRect().right,
      viewport: innerWidth,
      smallest: Math.min(...sizes),
      scrolls: body.scrollWidth > body.clientWidth,
      ink: getComputedStyle(svg).color,
    };
  });
}
"""


def _luminance(rgb: str) -> float:
    r, g, b = (int(v) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_figures_fit_a_phone_and_follow_the_colour_scheme(served_site, browser_page, scheme):
    page, log = browser_page
    log["errors"].clear()
    page.set_viewport_size({"width": 390, "height": 844})
    problems, seen = [], set()
    try:
        for path in FIGURE_PAGES:
            page.goto(served_site + path, wait_until="load")
            page.evaluate(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
            page.wait_for_function("() => window.MathJax && MathJax.startup && "
                                   "MathJax.startup.promise")
            for fig in page.evaluate(MEASURE):
                seen.add(fig["name"])
                where = f"{path} {fig['name']} ({scheme})"
                if fig["right"] > fig["viewport"] + 0.5:
                    problems.append(f"{where}: sticks out of the page ({fig['right']:.0f} px)")
                if fig["smallest"] < 10.9 and not fig["scrolls"]:
                    problems.append(f"{where}: text {fig['smallest']:.1f} px at 390 px width")
                light = _luminance(fig["ink"])
                if (scheme == "slate") != (light > 0.5):
                    problems.append(f"{where}: ink {fig['ink']} in the {scheme} scheme")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert {"unrolled-rnn", "bptt-explorer", "bptt-recursion", "gradient-sources",
            "lstm-cell", "gru-cell"} <= seen
    assert not problems, "\n".join(problems)
    assert not log["errors"], log["errors"]


# The hand-drawn diagrams (figure.architecture-diagram) whose labels must read on a phone: the
# smallest rendered text at 390 px width. (The five diagrams of architectures/ are still drawn
# for a wide column and are not listed yet.)
DIAGRAM_PAGES = ["composition/"]

DIAGRAM_TEXT = r"""
async () => {
  await document.fonts.ready;
  return [...document.querySelectorAll("figure.architecture-diagram")].map((figure) => {
    const svg = figure.querySelector("svg");
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const sizes = [...svg.querySelectorAll("text")]
      .map((t) => parseFloat(getComputedStyle(t).fontSize) * scale);
    return {id: figure.id, smallest: Math.min(...sizes),
            right: figure.getBoundingClientRect().right, viewport: innerWidth};
  });
}
"""


def test_diagram_labels_read_on_a_phone(served_site, browser_page):
    page, log = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    problems, seen = [], 0
    try:
        for path in DIAGRAM_PAGES:
            page.goto(served_site + path, wait_until="load")
            for fig in page.evaluate(DIAGRAM_TEXT):
                seen += 1
                if fig["smallest"] < 11:
                    problems.append(f"{path} {fig['id']}: text {fig['smallest']:.1f} px at 390 px")
                if fig["right"] > fig["viewport"] + 0.5:
                    problems.append(f"{path} {fig['id']}: sticks out ({fig['right']:.0f} px)")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert seen, "no diagram found"
    assert not problems, "\n".join(problems)
