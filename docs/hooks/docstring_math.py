r"""Griffe extension: the package's reST-flavoured docstrings as the site's Markdown.

The docstrings are written for Python's ``help()`` and Sphinx conventions: ``:math:`x``` roles,
``.. math::`` blocks and ``:func:`name``` cross-reference roles. mkdocstrings renders docstrings
with the site's own Markdown extensions, where none of those mean anything: they would reach the
API page as literal text. This extension rewrites every docstring the API page loads, at build
time, into what the Markdown pages use (pymdownx.arithmatex delimiters and code spans), so the
docstrings stay as they are, and new docstrings need nothing special to render.

>>> to_markdown(r"Loss :math:`E = \sum_t E_t` of :func:`~rnnmath.rnn_loss`.")
'Loss \\(E = \\sum_t E_t\\) of `rnn_loss`.'
>>> print(to_markdown(r'''Model:
...
... .. math::
...     a_t = W s_{t-1},\\
...     s_t = f(a_t).
...
... Done.'''))
Model:
<BLANKLINE>
$$
\begin{gathered}
a_t = W s_{t-1},\\
s_t = f(a_t).
\end{gathered}
$$
<BLANKLINE>
Done.
"""
from __future__ import annotations

import re
import textwrap

import griffe

# ``:math:`...``` (no backtick inside, as in reST).
MATH_ROLE = re.compile(r":math:`([^`]+)`")
# Sphinx's Python cross-reference roles; ``~`` means "show only the last component".
XREF_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc|const):`(~?)([^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<inline>.*)$")
DIRECTIVE_OPTION = re.compile(r"^\s*:[\w-]+:")
# A top-level line break in display math: MathJax 3 ignores it outside an environment.
LINE_BREAK = re.compile(r"\\\\")


def _xref(match: re.Match) -> str:
    tilde, target = match.groups()
    target = target.strip().removesuffix("()")
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _display(lines: list[str]) -> list[str]:
    """The body of a ``.. math::`` block as a display formula. Sphinx shows blank-line separated
    parts as separate equations and honours a line break; with MathJax 3 both need an environment."""
    parts = [p.strip() for p in "\n".join(lines).split("\n\n") if p.strip()]
    body = " \\\\\n".join(parts)
    if (len(parts) > 1 or LINE_BREAK.search(body)) and "\\begin{" not in body:
        body = "\\begin{gathered}\n" + body + "\n\\end{gathered}"
    return ["$$", *body.splitlines(), "$$"]


def _math_blocks(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = MATH_DIRECTIVE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, body = m["indent"], [m["inline"]] if m["inline"].strip() else []
        i += 1
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            block.append(lines[i])
            i += 1
        while block and DIRECTIVE_OPTION.match(block[0]):  # :label:, :nowrap: and the like
            block.pop(0)
        body += textwrap.dedent("\n".join(block)).strip("\n").splitlines()
        if out and out[-1].strip():
            out.append("")
        out += [indent + ln if ln else ln for ln in _display(body)]
        if i < len(lines):
            out.append("")
    return "\n".join(out)


def to_markdown(text: str) -> str:
    """A reST-flavoured docstring with its math and cross-reference roles as Markdown."""
    text = _math_blocks(text)
    text = MATH_ROLE.sub(lambda m: f"\\({m[1]}\\)", text)
    return XREF_ROLE.sub(_xref, text)


class DocstringMath(griffe.Extension):
    """Rewrites each loaded object's docstring with :func:`to_markdown` before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
