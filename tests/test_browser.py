"""Every page of the built site in a real browser: math typeset with visible glyphs, nothing
fetched from anywhere but the local server, no console errors, and a working search."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

# The local server over the built site and the Chromium page (`served_site`, `browser_page`) are
# fixtures in conftest.py, shared with tests/test_figures_browser.py.

# Runs in the page once MathJax has finished and the fonts are in.
INSPECT = r"""
async () => {
  await MathJax.startup.promise;
  await document.fonts.ready;
  const skip = "pre, code, script, style, textarea, mjx-container, .clipboard-copy-txt";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skip) || !el.getClientRects().length) continue;
    const text = node.textContent;
    if (text.includes("$$") || text.includes("\\(") || text.includes("\\[")) {
      raw.push(text.trim().slice(0, 80));
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
    glyphs: glyphs.length,
    blank: blank.length,
    fontsLoaded: [...document.fonts].filter(f => f.family.includes("MJXZERO") ||
                                                 f.family.includes("MJXTEX"))
                                    .filter(f => f.status === "loaded").length,
  };
}
"""


def _pages(site_dir: Path) -> list[str]:
    pages = sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html")
                   if "vendor" not in p.relative_to(site_dir).parts)
    assert "index.html" in pages
    return pages


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


def test_every_page_renders_its_math_offline(built_site, served_site, browser_page):
    page, log = browser_page
    problems = []
    for path in _pages(built_site.dir):
        log["errors"].clear()
        page.goto(served_site + path, wait_until="load")
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        found = page.evaluate(INSPECT)
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
        problems += [f"{path}: {e}" for e in log["errors"]]
    outside = sorted({u for u in log["requests"] if not _is_local(u)})
    assert not outside, "requests left the machine:\n" + "\n".join(outside)
    assert not problems, "\n".join(problems)


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
