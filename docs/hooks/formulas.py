"""MkDocs hook: print the package's SymPy derivations into the pages as LaTeX.

A page never types a formula that the package derives. It writes a placeholder, alone on its
line (indentation is kept, so placeholders work inside admonitions and tabs):

``{{ formula KEY:STEP }}``
    one display formula: ``rnnmath.derive.derivations()[KEY][STEP].latex``.
``{{ derivation KEY }}``
    every step of the derivation in order, each as its caption (Markdown) then its formula.

Each formula becomes a ``<div class="formula" markdown>`` holding a ``$$ ... $$`` block, which
``pymdownx.arithmatex`` hands to MathJax. A result step (``Step.result``) also gets the class
``result-formula``; the site's tests require a ```` ```pycon ```` doctest after every result.
Placeholders inside fenced code or inline code are left alone, so pages can show the syntax.

An unknown key or step, or a malformed placeholder, stops the build with an error naming the
page, the line and the placeholder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from mkdocs.exceptions import PluginError

PLACEHOLDER = re.compile(r"\{\{\s*(formula|derivation)\b(.*?)\}\}")
_NAME = r"[A-Za-z0-9_.\-]+"
_FORMULA_ARGS = re.compile(rf"\s*({_NAME})\s*:\s*({_NAME})\s*")
_DERIVATION_ARGS = re.compile(rf"\s*({_NAME})\s*")
_FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s{]*)")
_INLINE_CODE = re.compile(r"(`+)(?:.+?)\1")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s|$)")


class PlaceholderError(PluginError):
    """A placeholder that cannot be rendered; the message names page, line and placeholder."""


@dataclass(frozen=True)
class Placeholder:
    kind: str          # "formula" or "derivation"
    key: str
    step: str | None   # None for a derivation
    text: str          # the placeholder as written, e.g. "{{ formula softmax:result }}"
    line: int          # 1-based line number in the page
    indent: str        # leading whitespace of its line


@dataclass(frozen=True)
class Token:
    """One line of a page as the hook and the site tests see it, outside fenced code."""

    kind: str          # "text", "heading", "fence" (the opening line of a fenced block), "placeholder"
    line: int          # 1-based line number
    text: str          # the line (for a fence: its opening line)
    info: str = ""     # fence: the language word after the backticks (``pycon``)
    body: str = ""     # fence: the lines inside it
    placeholder: Placeholder | None = None


def _mask_inline_code(line: str) -> str:
    """The line with inline code spans blanked out, positions unchanged."""
    return _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def _parse(match: re.Match[str], line_text: str, lineno: int, where: str) -> Placeholder:
    kind, args = match.group(1), match.group(2)
    text = match.group(0)
    indent = line_text[: len(line_text) - len(line_text.lstrip())]
    if line_text.strip() != text:
        raise PlaceholderError(
            f"{where}:{lineno}: {text!r} must stand alone on its line (it renders as a block)")
    if kind == "formula":
        m = _FORMULA_ARGS.fullmatch(args)
        if not m:
            raise PlaceholderError(
                f"{where}:{lineno}: {text!r} is malformed; write {{{{ formula KEY:STEP }}}}")
        return Placeholder(kind, m.group(1), m.group(2), text, lineno, indent)
    m = _DERIVATION_ARGS.fullmatch(args)
    if not m:
        raise PlaceholderError(
            f"{where}:{lineno}: {text!r} is malformed; write {{{{ derivation KEY }}}}")
    return Placeholder(kind, m.group(1), None, text, lineno, indent)


def tokens(markdown: str, where: str = "<page>") -> Iterator[Token]:
    """Walk a page's lines, skipping the inside of fenced code blocks.

    >>> [t.kind for t in tokens("# T\\n{{ formula a:b }}\\n```pycon\\n>>> 1\\n1\\n```\\nx")]
    ['heading', 'placeholder', 'fence', 'text']
    """
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE_OPEN.match(line)
        if fence:
            marker = fence.group(2)
            close = re.compile(rf"^\s*{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            yield Token("fence", i + 1, line, info=fence.group(3).lstrip(".").lower(),
                        body="\n".join(lines[i + 1:j]))
            i = j + 1
            continue
        masked = _mask_inline_code(line)
        found = list(PLACEHOLDER.finditer(masked))
        if found:
            if len(found) > 1:
                raise PlaceholderError(
                    f"{where}:{i + 1}: one placeholder per line, found {len(found)}")
            m = PLACEHOLDER.match(line, found[0].start())
            yield Token("placeholder", i + 1, line, placeholder=_parse(m, line, i + 1, where))
        elif _HEADING.match(line):
            yield Token("heading", i + 1, line)
        else:
            yield Token("text", i + 1, line)
        i += 1


def find_placeholders(markdown: str, where: str = "<page>") -> list[Placeholder]:
    return [t.placeholder for t in tokens(markdown, where) if t.placeholder is not None]


# --- rendering ------------------------------------------------------------------------------

def _lookup(registry: Mapping[str, Any], ph: Placeholder, where: str) -> Any:
    try:
        derivation = registry[ph.key]
    except KeyError:
        raise PlaceholderError(
            f"{where}:{ph.line}: {ph.text!r}: no derivation {ph.key!r}; "
            f"known derivations are {sorted(registry)}") from None
    if ph.step is None:
        return derivation
    try:
        return derivation[ph.step]
    except KeyError:
        names = [s.name for s in getattr(derivation, "steps", ())]
        raise PlaceholderError(
            f"{where}:{ph.line}: {ph.text!r}: derivation {ph.key!r} has no step "
            f"{ph.step!r}; its steps are {names}") from None


def _formula_block(key: str, step: Any, where: str, ph: Placeholder) -> list[str]:
    try:
        latex = step.latex
    except Exception as exc:  # a SymPy printing failure must name the placeholder too
        raise PlaceholderError(
            f"{where}:{ph.line}: {ph.text!r}: printing step {step.name!r} as LaTeX failed: "
            f"{exc}") from exc
    # A blank line would end arithmatex's $$ block early.
    latex = "\n".join(part for part in latex.strip().splitlines() if part.strip())
    classes = "formula result-formula" if getattr(step, "result", False) else "formula"
    return [
        f'<div class="{classes}" data-formula="{key}:{step.name}" markdown>',
        "",
        "$$",
        latex,
        "$$",
        "",
        "</div>",
    ]


def render_placeholder(ph: Placeholder, registry: Mapping[str, Any], where: str) -> list[str]:
    """The Markdown lines that replace one placeholder, before indentation."""
    found = _lookup(registry, ph, where)
    if ph.kind == "formula":
        return _formula_block(ph.key, found, where, ph)
    out = [f'<div class="derivation" data-derivation="{ph.key}" markdown>', ""]
    for step in found.steps:
        out += [f'<div class="derivation-step" data-step="{step.name}" markdown>', ""]
        if step.caption:
            out += [*step.caption.strip().splitlines(), ""]
        out += [*_formula_block(ph.key, step, where, ph), "", "</div>", ""]
    out.append("</div>")
    return out


def render(markdown: str, registry: Callable[[], Mapping[str, Any]] | Mapping[str, Any],
           where: str = "<page>") -> str:
    """Replace every placeholder of a page. ``registry`` may be a callable, called only when
    the page has a placeholder (so pages without formulas never import SymPy)."""
    found = {t.line: t.placeholder for t in tokens(markdown, where) if t.placeholder}
    if not found:
        return markdown
    if callable(registry):
        registry = registry()
    lines = markdown.split("\n")
    out: list[str] = []
    for number, line in enumerate(lines, start=1):
        ph = found.get(number)
        if ph is None:
            out.append(line)
            continue
        block = ["", *render_placeholder(ph, registry, where), ""]
        out += [ph.indent + b if b else "" for b in block]
    return "\n".join(out)


# --- MkDocs events --------------------------------------------------------------------------

_cache: dict[str, Mapping[str, Any]] = {}


def load_registry() -> Mapping[str, Any]:
    """``rnnmath.derive.derivations()``, computed once per build."""
    if "registry" not in _cache:
        try:
            from rnnmath.derive import derivations
        except ImportError as exc:
            raise PlaceholderError(
                f"a page uses a formula placeholder but rnnmath.derive.derivations cannot be "
                f"imported ({exc}); is the package installed (pip install -e .)?") from exc
        _cache["registry"] = derivations()
    return _cache["registry"]


def on_pre_build(config: Any) -> None:
    _cache.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src = page.file.src_uri
    if not src.endswith(".md"):  # notebooks are rendered by their own plugin
        return markdown
    where = f"docs/{src}"

    def registry() -> Mapping[str, Any]:
        try:
            return load_registry()
        except PlaceholderError as exc:
            raise PlaceholderError(f"{where}: {exc}") from exc

    return render(markdown, registry, where)
