"""Every page of the built site in a real browser: math typeset with visible glyphs, nothing
fetched from anywhere but the local server, no console errors, a layout that fits a desktop
column (1280 px) and a phone (390 px), and a working search."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

# The local server over the built site and the Chromium page (`served_site`, `browser_page`) are
# fixtures in conftest.py, shared with tests/test_figures_browser.py.

# Runs in the page once MathJax has finished and the fonts are in.
INSPECT = r"""
async () => {
  await MathJax.startup.promise;
  await document.fonts.ready;
  const skip = "pre, code, script, style, textarea, mjx-container, .clipboard-copy-txt";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [], rest = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skip) || !el.getClientRects().length) continue;
    const text = node.textContent;
    if (text.includes("$$") || text.includes("\\(") || text.includes("\\[")) {
      raw.push(text.trim().slice(0, 80));
    }
    // a role's backticks become a code span, so the role's name is what is left in the text
    if (/:(math|func|class|mod|meth|attr):|\.\. math::/.test(text)) {
      rest.push(text.trim().slice(0, 80));
    }
  }
  const glyphs = [...document.querySelectorAll("mjx-container mjx-c")];
  const blank = glyphs.filter(c => {
    const content = getComputedStyle(c, "::before").content;
    return content === "none" || content === "" || content === "normal";
  });
  return {
    math: document.querySelectorAll(".arithmatex, .jp-RenderedLatex, .jp-RenderedMarkdown").length,
    containers: document.querySelectorAll("mjx-container").length,
    errors: [...document.querySelectorAll("mjx-merror")].map(e => e.textContent.slice(0, 80)),
    raw,
    rest,
    glyphs: glyphs.length,
    blank: blank.length,
    fontsLoaded: [...document.fonts].filter(f => f.family.includes("MJXZERO") ||
                                                 f.family.includes("MJXTEX"))
                                    .filter(f => f.status === "loaded").length,
  };
}
"""


# Runs in the page after INSPECT, at each width. A display formula is wider than its block when
# its typeset math (mjx-math, which never wraps) is wider than the content box of the element
# holding the formula; Material then lets it scroll, but at desktop width it should fit. The page
# scrolls sideways when the document is wider than the window; the culprits are the elements
# reaching past the right edge that no scrolling block of their own contains.
LAYOUT = r"""
async () => {
  // two frames: the layout after a resize, and the page's resize handlers, have run
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await MathJax.startup.promise;
  const W = window.innerWidth;
  const wide = [];
  for (const c of document.querySelectorAll('mjx-container[display="true"]')) {
    const math = c.querySelector(":scope > mjx-math");
    if (!math || !c.getClientRects().length) continue;
    const block = c.parentElement, style = getComputedStyle(block);
    const room = block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const width = math.getBoundingClientRect().width;
    if (width > room + 0.5) {
      const f = c.closest("[data-formula]"), d = c.closest("[data-derivation]");
      const s = c.closest("[data-step]");
      const item = MathJax.startup.document.getMathItemsWithin(c)[0];
      const name = f ? f.dataset.formula
                 : d ? `${d.dataset.derivation}:${s ? s.dataset.step : "?"}`
                 : "TeX " + JSON.stringify(item ? item.math.trim().slice(0, 70) : "?");
      wide.push(`${name} is ${Math.round(width)} px wide in a ${Math.round(room)} px block`);
    }
  }
  const outside = [];
  if (document.documentElement.scrollWidth > W) {
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.right <= W + 0.5 || !r.width) continue;
      let up = el.parentElement, held = false;
      for (; up && up !== document.body; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== "visible") { held = true; break; }
      }
      if (held || (el.parentElement && outside.some(o => o.el.contains(el)))) continue;
      outside.push({el, text: `<${el.tagName.toLowerCase()} class="${el.className}"> ` +
                              `reaches ${Math.round(r.right)} px: ` +
                              JSON.stringify((el.textContent || "").trim().slice(0, 60))});
    }
  }
  // inline formulas the page's script set on a line of their own because they are wider than
  // their line (mathjax-config.js): right on a phone, a defect at desktop width
  for (const c of document.querySelectorAll("mjx-container.mjx-inline-too-wide")) {
    const item = MathJax.startup.document.getMathItemsWithin(c)[0];
    wide.push(`inline TeX ${JSON.stringify(item ? item.math.trim().slice(0, 70) : "?")} is ` +
              `wider than its line`);
  }
  return {scroll: document.documentElement.scrollWidth - W, wide,
          outside: outside.slice(0, 5).map(o => o.text)};
}
"""

WIDTHS = (1280, 390)  # a desktop window, a phone held upright


def _pages(site_dir: Path) -> list[str]:
    pages = sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html")
                   if "vendor" not in p.relative_to(site_dir).parts)
    assert "index.html" in pages
    return pages


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


@pytest.fixture(scope="module")
def page_reports(built_site, served_site, browser_page):
    """Every page, loaded once at 1280 px and inspected (math, console, requests, layout), then
    narrowed to 390 px in place and inspected again: MathJax 3 lays formulas out independently
    of the window (no line breaking), so what changes with the width is the CSS layout, which
    the browser recomputes on resize. One load per page keeps the test quick."""
    page, log = browser_page
    reports = {}
    for path in _pages(built_site.dir):
        log["errors"].clear()
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        page.goto(served_site + path, wait_until="load")
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        report = {"math": page.evaluate(INSPECT), "layout": {WIDTHS[0]: page.evaluate(LAYOUT)}}
        for width in WIDTHS[1:]:
            page.set_viewport_size({"width": width, "height": 900})
            report["layout"][width] = page.evaluate(LAYOUT)
        report["errors"] = list(log["errors"])
        reports[path] = report
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    return reports


def test_every_page_renders_its_math_offline(built_site, page_reports, browser_page):
    page, log = browser_page
    problems = []
    for path, report in page_reports.items():
        found = report["math"]
        html = (built_site.dir / path).read_text(encoding="utf-8")
        expects_math = 'class="arithmatex"' in html or "text/latex" in html
        if expects_math and not found["containers"]:
            problems.append(f"{path}: has math but MathJax typeset none of it")
        if found["errors"]:
            problems.append(f"{path}: MathJax errors {found['errors']}")
        if found["raw"]:
            problems.append(f"{path}: untypeset math delimiters in visible text {found['raw']}")
        if found["containers"] and found["blank"]:
            problems.append(f"{path}: {found['blank']} of {found['glyphs']} glyphs are blank")
        if found["containers"] and not found["fontsLoaded"]:
            problems.append(f"{path}: no MathJax font loaded")
        problems += [f"{path}: {e}" for e in report["errors"]]
    outside = sorted({u for u in log["requests"] if not _is_local(u)})
    assert not outside, "requests left the machine:\n" + "\n".join(outside)
    assert not problems, "\n".join(problems)


def test_api_page_typesets_the_docstrings_math(built_site, page_reports):
    """The docstrings' reST math reaches the API page as math: every arithmatex element the
    build produced is typeset, and no role or directive is left as visible text."""
    html = (built_site.dir / "api/index.html").read_text(encoding="utf-8")
    found = page_reports["api/index.html"]["math"]
    expected = html.count('class="arithmatex"')
    assert expected >= 40, f"only {expected} formulas on the API page: is the converter on?"
    assert found["containers"] >= expected, (found["containers"], expected)
    assert not found["errors"] and not found["raw"] and not found["blank"], found
    assert not found["rest"], f"reST markup shown as text: {found['rest']}"


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(page_reports, width):
    """Long formulas, code and tables scroll inside their own block; the page itself never
    scrolls sideways, on a desktop or on a phone."""
    problems = [f"{path}: the page scrolls {r['layout'][width]['scroll']} px sideways at "
                f"{width} px; sticking out: " + "; ".join(r["layout"][width]["outside"])
                for path, r in page_reports.items() if r["layout"][width]["scroll"] > 0]
    assert not problems, "\n".join(problems)


def test_display_formulas_fit_their_column_at_desktop_width(page_reports):
    """At 1280 px every display formula fits its column without scrolling, and every inline
    formula its line. (On a phone some are wider than the screen and scroll inside their block;
    the test above checks they do.)"""
    problems = [f"{path}: {w}" for path, r in page_reports.items()
                for w in r["layout"][WIDTHS[0]]["wide"]]
    assert not problems, (f"{len(problems)} formulas are wider than their column at "
                          f"{WIDTHS[0]} px:\n" + "\n".join(problems))


# Pages whose display formulas all fit a phone's column too, so that none scrolls sideways there:
# long sums are printed one term per line (rnnmath.derive.latex.lines), derivations break every
# relation too wide for a phone (rnnmath.derive.latex.fit), and hand-typed formulas are written
# on several lines. Every page but the derivation notebook, whose outputs are SymPy's own
# one-line prints of whole matrices and quotients.
FIT_A_PHONE = (
    "404.html", "index.html", "notation/index.html", "algorithm/index.html",
    "gradient-v/index.html", "gradient-u/index.html", "gradient-w/index.html",
    "worked-example/index.html", "softmax/index.html", "outputs/index.html",
    "vanishing/index.html", "clipping/index.html", "architectures/index.html",
    "own-cell/index.html", "gru/index.html", "lstm/index.html", "composition/index.html",
    "performance/index.html", "api/index.html", "errata/index.html",
    *(f"errata/seed-00{n}/index.html" for n in range(5)),
    "notebooks/train_char_rnn/index.html",
)


def test_fit_a_phone_names_built_pages(page_reports):
    missing = set(FIT_A_PHONE) - set(page_reports)
    assert not missing, f"FIT_A_PHONE names pages the site does not have: {sorted(missing)}"


@pytest.mark.parametrize("path", FIT_A_PHONE)
def test_formulas_fit_a_phone(page_reports, path):
    wide = page_reports[path]["layout"][WIDTHS[-1]]["wide"]
    assert not wide, f"{path} at {WIDTHS[-1]} px:\n" + "\n".join(wide)


def test_search_finds_softmax(served_site, browser_page):
    page, log = browser_page
    page.goto(served_site, wait_until="load")
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially("softmax")
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    assert page.locator(".md-search-result__item").count() > 0
    outside = sorted({u for u in log["requests"] if not _is_local(u)})
    assert not outside, "requests left the machine:\n" + "\n".join(outside)
