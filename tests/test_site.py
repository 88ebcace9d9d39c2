"""The documentation site: it builds strictly, its formula placeholders resolve, and every
result formula on it is followed by a doctest a reader can run."""
from __future__ import annotations

import doctest
from html.parser import HTMLParser
import importlib.util
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import markdown as md
import pytest
import sympy as sp

from rnnmath.derive.steps import Derivation, Step

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_hook():
    spec = importlib.util.spec_from_file_location("formulas_hook", DOCS / "hooks/formulas.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as MkDocs does; dataclasses need it
    spec.loader.exec_module(module)
    return module


hook = _load_hook()

# Lines the build may print that contain "WARNING" without being a warning about the site: the
# notebook kernel's note that it talks to its client over local TCP.
KNOWN_NOISE = re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption")


# --- (a) the strict build --------------------------------------------------------------------

def test_strict_build_has_no_warnings(built_site):
    assert built_site.returncode == 0, f"mkdocs build --strict failed:\n{built_site.log}"
    warnings = [line for line in built_site.log.splitlines()
                if "WARNING" in line and not KNOWN_NOISE.match(line)]
    assert not warnings, "the site build warned:\n" + "\n".join(warnings)
    assert (built_site.dir / "index.html").exists()
    assert (built_site.dir / "vendor/mathjax/tex-chtml.js").exists(), "MathJax not shipped"
    assert not (built_site.dir / "hooks").exists(), "build machinery published with the site"


# --- (b) every result formula is followed by a doctest ---------------------------------------

def _needs_doctest(ph, registry) -> bool:
    found = hook._lookup(registry, ph, "<scan>")
    if ph.kind == "formula":
        return bool(found.result)
    return any(step.result for step in found.steps)


def _followed_by_doctest(toks, i) -> bool:
    for after in toks[i + 1:]:
        if after.kind in ("heading", "placeholder"):
            return False
        if after.kind == "fence" and after.info == "pycon" and ">>>" in after.body:
            return True
    return False


def missing_doctests(text: str, registry, where: str) -> list[str]:
    """Placeholders showing a result formula that no ```pycon doctest follows before the next
    heading or placeholder."""
    toks = list(hook.tokens(text, where))
    return [f"{where}:{tok.line}: {tok.placeholder.text} shows a result formula, but no "
            f"```pycon doctest follows it before the next heading or placeholder"
            for i, tok in enumerate(toks)
            if tok.placeholder is not None and _needs_doctest(tok.placeholder, registry)
            and not _followed_by_doctest(toks, i)]


def _pages():
    return sorted(p for p in DOCS.rglob("*.md") if "vendor" not in p.relative_to(DOCS).parts)


def test_every_result_formula_has_a_doctest():
    pages = {p: p.read_text(encoding="utf-8") for p in _pages()}
    used = {p: hook.find_placeholders(t, str(p.relative_to(ROOT))) for p, t in pages.items()}
    if not any(used.values()):
        pytest.skip("no page uses a formula placeholder yet")
    registry = hook.load_registry()
    problems = []
    for page, text in pages.items():
        problems += missing_doctests(text, registry, str(page.relative_to(ROOT)))
    assert not problems, "\n".join(problems)


# --- (c) the hook, against a small fake registry ---------------------------------------------

x, y = sp.symbols("x y")


@pytest.fixture
def registry():
    square = Derivation("square", "Square", (
        Step("define", "Define $y$.", sp.Eq(y, x**2)),
        Step("differentiate", "Differentiate *once*.", sp.Eq(sp.Symbol("dy"), 2 * x),
             result=True),
    ))
    plain = Derivation("plain", "Plain", (Step("only", "Nothing to check.", sp.Eq(y, x)),))
    return {"square": square, "plain": plain}


def test_formula_placeholder_becomes_display_latex(registry):
    out = hook.render("Intro\n\n{{ formula square:differentiate }}\n\nAfter", registry, "p.md")
    assert "{{" not in out
    assert "$$\ndy = 2 x\n$$" in out
    assert '<div class="formula result-formula" data-formula="square:differentiate" markdown>' in out
    assert out.startswith("Intro\n") and out.endswith("\nAfter")


def test_non_result_step_is_not_marked_as_result(registry):
    out = hook.render("{{ formula square:define }}", registry, "p.md")
    assert 'class="formula"' in out and "result-formula" not in out
    assert "y = x^{2}" in out


def test_derivation_renders_every_step_in_order_with_captions(registry):
    out = hook.render("{{derivation square}}", registry, "p.md")
    order = [out.index(s) for s in ("Define $y$.", "y = x^{2}", "Differentiate *once*.",
                                    "dy = 2 x")]
    assert order == sorted(order)
    assert out.count("result-formula") == 1


def test_placeholder_keeps_its_indentation(registry):
    out = hook.render('!!! note\n\n    {{ formula square:define }}\n', registry, "p.md")
    body = [line for line in out.splitlines()[1:] if line]
    assert body and all(line.startswith("    ") for line in body), out


def test_placeholders_in_code_are_left_alone(registry):
    text = "```markdown\n{{ formula nope:nope }}\n```\n\nWrite `{{ derivation nope }}`.\n"
    assert hook.render(text, registry, "p.md") == text


def test_page_without_placeholders_never_loads_the_registry():
    def explode():
        raise AssertionError("registry loaded for a page with no placeholder")
    assert hook.render("# Title\n\n$x$\n", explode, "p.md") == "# Title\n\n$x$\n"


@pytest.mark.parametrize("text, message", [
    ("{{ formula nokey:define }}", r"p\.md:1: '\{\{ formula nokey:define \}\}': no derivation 'nokey'; known derivations are \['plain', 'square'\]"),
    ("ok\n{{ formula square:nostep }}", r"p\.md:2: .*derivation 'square' has no step 'nostep'; its steps are \['define', 'differentiate'\]"),
    ("{{ derivation nokey }}", r"p\.md:1: .*no derivation 'nokey'"),
    ("{{ formula square }}", r"p\.md:1: .*malformed; write \{\{ formula KEY:STEP \}\}"),
    ("{{ derivation a b }}", r"p\.md:1: .*malformed; write \{\{ derivation KEY \}\}"),
    ("See {{ formula square:define }} inline", r"p\.md:1: .*must stand alone on its line"),
])
def test_bad_placeholder_fails_naming_page_and_placeholder(registry, text, message):
    with pytest.raises(hook.PlaceholderError, match=message):
        hook.render(text, registry, "p.md")


def test_on_page_markdown_uses_the_package_registry(monkeypatch, registry):
    monkeypatch.setattr(hook, "load_registry", lambda: registry)
    page = SimpleNamespace(file=SimpleNamespace(src_uri="derivations/x.md"))
    out = hook.on_page_markdown("{{ formula plain:only }}", page, None, None)
    assert "y = x" in out
    with pytest.raises(hook.PlaceholderError, match=r"docs/derivations/x\.md:1: "):
        hook.on_page_markdown("{{ formula plain:missing }}", page, None, None)
    notebook = SimpleNamespace(file=SimpleNamespace(src_uri="notebooks/n.py"))
    assert hook.on_page_markdown("{{ formula a }}", notebook, None, None) == "{{ formula a }}"


def test_rendered_formula_reaches_mathjax_as_a_display_block(registry):
    """Through the site's Markdown extensions, the block is arithmatex display math."""
    text = hook.render("# T\n\n!!! note\n\n    {{ derivation square }}\n", registry, "p.md")
    html = md.markdown(text, extensions=[
        "admonition", "attr_list", "md_in_html", "pymdownx.superfences",
        "pymdownx.arithmatex"], extension_configs={"pymdownx.arithmatex": {"generic": True}})
    assert re.search(r'<div class="formula result-formula"[^>]*>\s*'
                     r'<div class="arithmatex">\\\[\s*dy = 2 x\s*\\\]</div>', html), html
    assert '<span class="arithmatex">\\(y\\)</span>' in html  # the caption's inline math
    assert "$$" not in html and "{{" not in html


def test_scanner_requires_a_doctest_after_result_formulas(registry):
    doctest_block = "```pycon\n>>> 1 + 1\n2\n\n```\n"
    good = f"{{{{ formula square:differentiate }}}}\n\nSome prose.\n\n{doctest_block}"
    assert missing_doctests(good, registry, "p.md") == []
    assert missing_doctests("{{ formula square:define }}\n", registry, "p.md") == []
    late = f"{{{{ formula square:differentiate }}}}\n\n## Next\n\n{doctest_block}"
    assert missing_doctests(late, registry, "p.md") == [
        "p.md:1: {{ formula square:differentiate }} shows a result formula, but no ```pycon "
        "doctest follows it before the next heading or placeholder"]
    wrong_lang = "{{ derivation square }}\n\n```python\n>>> 1\n1\n```\n"
    assert len(missing_doctests(wrong_lang, registry, "p.md")) == 1
    stolen = f"{{{{ derivation square }}}}\n{{{{ formula plain:only }}}}\n{doctest_block}"
    assert len(missing_doctests(stolen, registry, "p.md")) == 1
    nested = f"{{{{ derivation square }}}}\n\n??? example \"Check\"\n\n    " + \
        doctest_block.replace("\n", "\n    ")
    assert missing_doctests(nested, registry, "p.md") == []


def test_hook_docstring_examples():
    result = doctest.testmod(hook, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


# --- (d) the API page: docstrings' reST math becomes the site's math ---------------------------

def _load_docstring_math():
    spec = importlib.util.spec_from_file_location("docstring_math", DOCS / "hooks/docstring_math.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docstring_math = _load_docstring_math()


def test_docstring_math_examples():
    result = doctest.testmod(docstring_math)
    assert result.attempted and not result.failed


@pytest.mark.parametrize("rest, markdown", [
    (r"Error :math:`\delta_t` and :math:`s_{t-1}`.", r"Error \(\delta_t\) and \(s_{t-1}\)."),
    ("See :func:`rnnmath.rnn_loss` and :class:`~rnnmath.gated.GatedForward`.",
     "See `rnnmath.rnn_loss` and `GatedForward`."),
    (":py:meth:`~rnnmath.RNNGradients.as_dict()` and :mod:`rnnmath.derive`",
     "`as_dict` and `rnnmath.derive`"),
    # one line, no line break: a plain display block
    (".. math:: E = \\sum_t E_t", "$$\nE = \\sum_t E_t\n$$"),
    # options are dropped, the body keeps its own indentation relative to the directive
    ("x\n    .. math::\n        :label: eq\n\n        a = b\n    after",
     "x\n\n    $$\n    a = b\n    $$\n\n    after"),
    # blank-line separated equations, as Sphinx shows them: one environment, one per line
    (".. math::\n\n   a = b\n\n   c = d\n", "$$\n\\begin{gathered}\na = b \\\\\nc = d\n\\end{gathered}\n$$"),
    # an environment of its own is left as written
    (".. math::\n\n   \\begin{aligned} a &= b \\\\ c &= d \\end{aligned}",
     "$$\n\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}\n$$"),
])
def test_docstring_math_converts_rest(rest, markdown):
    assert docstring_math.to_markdown(rest) == markdown


def test_docstring_math_leaves_markdown_alone():
    text = "Plain `code`, $x$ and ``literal`` text.\n\nParameters\n----------\nx : (T,) int"
    assert docstring_math.to_markdown(text) == text


def _api_html(built_site) -> str:
    assert built_site.returncode == 0, f"mkdocs build --strict failed:\n{built_site.log}"
    return (built_site.dir / "api/index.html").read_text(encoding="utf-8")


def test_api_page_has_no_rest_markup_left(built_site):
    html = _api_html(built_site)
    text = re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.S)  # code may mention roles
    leftover = re.findall(r":(?:math|func|class|mod|meth|attr):|\.\. math::", text)
    assert not leftover, f"reST markup shown as text on the API page: {leftover[:10]}"
    # and the math is there, as arithmatex blocks for MathJax (the browser test checks that
    # MathJax typesets every one of them)
    assert html.count('class="arithmatex"') >= 40


class _TocEntries(HTMLParser):
    """The labels of the page's table of contents (Material's secondary nav), with their level.
    Material puts the table twice in a page (sidebar, and the phone's drawer): one list each."""

    def __init__(self):
        super().__init__()
        self.tocs: list[list[tuple[int, str]]] = []
        self._nav = self._lists = 0
        self._label: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "nav" and ("md-nav--secondary" in classes or self._nav):
            if not self._nav:
                self.tocs.append([])
            self._nav += 1
        elif self._nav and tag == "ul":
            self._lists += 1
        elif self._nav and tag == "a" and "md-nav__link" in classes:
            self._label = []

    def handle_endtag(self, tag):
        if tag == "nav" and self._nav:
            self._nav -= 1
        elif self._nav and tag == "ul":
            self._lists -= 1
        elif tag == "a" and self._label is not None:
            self.tocs[-1].append((self._lists, " ".join("".join(self._label).split())))
            self._label = None

    def handle_data(self, data):
        if self._label is not None:
            self._label.append(data)


def test_api_page_lists_every_object_once(built_site):
    html = _api_html(built_site)
    ids = re.findall(r'<h[2-6] id="(rnnmath\.[^"]+)"', html)
    assert ids and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    # The table of contents names each section and each top-level object once: "Softmax" as a
    # section, as the module holding `softmax` and as the function was one entry three times.
    # (Members of different classes may share a name, e.g. `as_dict`, one level down.)
    toc = _TocEntries()
    toc.feed(html)
    assert toc.tocs and all(t == toc.tocs[0] for t in toc.tocs), toc.tocs
    top = [label.lower() for level, label in toc.tocs[0] if level == 1]
    assert len(top) > 10, toc.tocs
    assert len(top) == len(set(top)), sorted({x for x in top if top.count(x) > 1})


# --- (e) the pages teach: visible words are mostly prose and math ----------------------------

# The derivation pages: each must read as prose and mathematics, with the code folded away.
DERIVATION_PAGES = ("notation", "softmax", "gradient-v", "gradient-w", "gradient-u", "algorithm",
                    "worked-example", "outputs", "vanishing", "clipping", "lstm", "gru")


class _VisibleWords(HTMLParser):
    """Count the words a reader sees in a page's article: code-block words apart from the rest.

    Hidden: the content of a closed ``<details>`` (a folded check; its ``<summary>`` line is
    visible and counted), every content tab but the first (selected) one, scripts, styles and
    heading permalinks. Code: words inside ``<pre>``.
    Prose and math: every other word, inline code in a sentence included.
    """

    VOID = {"br", "hr", "img", "input", "meta", "link", "source", "wbr", "col", "area", "base",
            "embed", "param", "track"}

    def __init__(self):
        super().__init__()
        # (tag, hidden, code, what a <summary> directly inside it shows as)
        self.stack: list[tuple[str, bool, bool, bool]] = []
        self.in_article = 0
        self.tabs_seen: list[int] = []
        self.code = self.prose = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        attrs = dict(attrs)
        hidden, code = self.stack[-1][1:3] if self.stack else (False, False)
        summary_hidden = hidden
        if tag == "article":
            self.in_article += 1
        classes = (attrs.get("class") or "").split()
        if tag in ("script", "style") or "headerlink" in classes:
            hidden = True
        if tag == "summary" and self.stack and self.stack[-1][0] == "details":
            hidden = self.stack[-1][3]   # a fold's title line is visible when the fold is
        if tag == "details" and "open" not in attrs:
            summary_hidden, hidden = hidden, True
        if "tabbed-block" in classes and self.stack and "tabbed-content" in self.stack[-1][0]:
            # content tabs: only the first (selected) tab shows until the reader picks another
            self.tabs_seen[-1] += 1
            hidden = hidden or self.tabs_seen[-1] > 1
        if "tabbed-content" in classes:
            tag = "div.tabbed-content"
            self.tabs_seen.append(0)
        self.stack.append((tag, hidden, code or tag == "pre", summary_hidden))

    def handle_endtag(self, tag):
        names = [entry[0].split(".")[0] for entry in self.stack]
        if tag not in names:  # a stray end tag (HTML allows some): nothing to close
            return
        while self.stack:
            top = self.stack.pop()[0]
            if top == "article":
                self.in_article -= 1
            if top == "div.tabbed-content":
                self.tabs_seen.pop()
                top = "div"
            if top == tag:
                break

    def handle_data(self, data):
        hidden, code = self.stack[-1][1:3] if self.stack else (False, False)
        if not self.in_article or hidden:
            return
        words = len(data.split())
        if code:
            self.code += words
        else:
            self.prose += words


def visible_code_share(html: str) -> float:
    """The share of visible words of a built page that are code-block words (0..1)."""
    counter = _VisibleWords()
    counter.feed(html)
    total = counter.code + counter.prose
    return counter.code / total if total else 0.0


def test_visible_code_share_counts_only_what_is_shown():
    page = ("<article><p>one two three</p><pre><code>a b</code></pre>"
            "<details class='example'><summary>Check it yourself</summary>"
            "<pre><code>x y z w v u</code></pre></details>"
            "<details open><summary>s</summary><pre>c</pre></details>"
            "<h2>T<a class='headerlink'>¶</a></h2><script>var q = 1;</script>"
            "<div class='tabbed-set'><div class='tabbed-content'>"
            "<div class='tabbed-block'><p>shown</p></div>"
            "<div class='tabbed-block'><pre>hidden tab</pre></div></div></div>"
            "</span><p>after a stray end tag</p></article>"
            "<nav>outside the article</nav>")
    # visible prose: one two three, Check it yourself, s, T, shown, after a stray end tag (14);
    # code: a b, c (3)
    assert visible_code_share(page) == pytest.approx(3 / 17)


def test_derivation_pages_are_mostly_prose_and_math(built_site):
    assert built_site.returncode == 0, built_site.log
    shares = {name: visible_code_share(
        (built_site.dir / name / "index.html").read_text(encoding="utf-8"))
        for name in DERIVATION_PAGES}
    print("\nvisible code share: " + ", ".join(f"{n} {s:.0%}" for n, s in shares.items()))
    too_much = {n: f"{s:.0%}" for n, s in shares.items() if s > 0.20}
    assert not too_much, f"pages whose visible words are more than 20 % code: {too_much}"


# --- (e) no code line wider than the content column ------------------------------------------

CODE_COLUMN = 80  # characters of monospace that fit the content column at 1280 px


def wide_code_lines(text: str, where: str, width: int = CODE_COLUMN) -> list[str]:
    """Lines of fenced code blocks longer than ``width`` once the block's indentation is removed."""
    out = []
    for tok in hook.tokens(text, where):
        if tok.kind != "fence":
            continue
        indent = len(tok.text) - len(tok.text.lstrip())
        for n, line in enumerate(tok.body.split("\n"), start=tok.line + 1):
            if len(line[indent:]) > width:
                out.append(f"{where}:{n}: {len(line[indent:])} > {width} characters")
    return out


def test_wide_code_lines_are_found():
    text = "x\n\n    ```pycon\n    >>> " + "a" * 77 + "\n    >>> " + "b" * 76 + "\n    ```\n"
    assert wide_code_lines(text, "p.md") == ["p.md:4: 81 > 80 characters"]


def test_no_code_line_is_wider_than_the_column():
    problems = []
    for name in DERIVATION_PAGES:
        page = DOCS / f"{name}.md"
        problems += wide_code_lines(page.read_text(encoding="utf-8"), f"docs/{name}.md")
    assert not problems, "\n".join(problems)


# --- (f) every check is folded, every derivation page has a checked exercise ------------------

_FOLD = re.compile(r'^(\s*)\?\?\? ([a-z]+) "([^"]+)"\s*$')  # ???+ is open: not a fold


def unfolded_checks(text: str, where: str) -> list[str]:
    """Problems: a pycon doctest outside a collapsed fold, or a "Check it yourself" fold whose
    title does not say what it checks."""
    problems, lines = [], text.split("\n")
    fold_indent = None
    for tok in hook.tokens(text, where):
        line = lines[tok.line - 1]
        indent = len(line) - len(line.lstrip())
        m = _FOLD.match(line)
        if m:
            fold_indent = len(m.group(1))
            title = m.group(3)
            what = title.partition(":")[2]
            if title.startswith("Check it yourself") and len(what.split()) < 3:
                problems.append(f"{where}:{tok.line}: fold title {title!r} does not say what it "
                                f"checks")
            continue
        if line.strip() and fold_indent is not None and indent <= fold_indent:
            fold_indent = None  # the fold ended at the first line not indented under it
        if tok.kind == "fence" and tok.info == "pycon" and fold_indent is None:
            problems.append(f"{where}:{tok.line}: a doctest outside a ??? fold is shown open")
    return problems


def test_unfolded_checks_are_found():
    text = ('x\n\n??? example "Check it yourself: the sum against the loop"\n\n    ```pycon\n'
            '    >>> 1\n    1\n\n    ```\n\n```pycon\n>>> 2\n2\n\n```\n\n'
            '??? example "Check it yourself"\n\n    ```pycon\n    >>> 3\n    3\n\n    ```\n')
    assert unfolded_checks(text, "p.md") == [
        "p.md:11: a doctest outside a ??? fold is shown open",
        "p.md:17: fold title 'Check it yourself' does not say what it checks"]


@pytest.mark.parametrize("name", DERIVATION_PAGES)
def test_derivation_page_folds_its_checks_and_has_an_exercise(name):
    text = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    assert not unfolded_checks(text, f"docs/{name}.md")
    assert re.search(r"^## Exercise", text, re.M), f"docs/{name}.md has no exercise"
    solution = text.split("## Exercise", 1)[1]
    assert '??? success "Solution"' in solution and ">>> " in solution.split("!!!")[0], (
        f"docs/{name}.md: the exercise needs a folded solution with a doctest")
