"""The errata pages against the seed notes they correct.

Every erratum quotes the seed verbatim, in a fenced block titled with its line range
(```` ```tex title="line 40" ````). These tests check that each quote is really there, at those
lines (whitespace normalised, nothing else), that every entry carries one of the five
severities, and that the index page's counts and list are exactly the ones the pages give.

The index's summary is generated from the pages, never typed: after editing an erratum run
``python tests/test_errata.py`` and paste its output between the markers of
``docs/errata/index.md`` (the test prints the expected text when they differ).
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ERRATA = ROOT / "docs" / "errata"
SEEDS = Path(__file__).resolve().parent / "seeds"  # the five notes, byte for byte

SEVERITIES = {  # label shown on the page -> CSS class of its badge
    "wrong result": "sev-wrong",
    "gap": "sev-gap",
    "notation": "sev-notation",
    "typo": "sev-typo",
    "code": "sev-code",
}
START, END = "<!-- errata-summary:start -->", "<!-- errata-summary:end -->"
CONTENT_WIDTH = 80  # characters of a code line that fit the content column

HEADING = re.compile(r"^### (E(\d{3})\.(\d+)) — (.+?) \{ #(e\d{3}-\d+) \}$")
BADGE = re.compile(r'<span class="sev (sev-[a-z]+)">([a-z ]+)</span>')
FENCE = re.compile(r"^( *)(`{3,})(\S*)(.*)$")
LINES = re.compile(r'title="lines? (\d+)(?:[–-](\d+))?"')


@dataclass
class Quote:
    first: int
    last: int
    text: str
    where: str  # page:line, for messages


@dataclass
class Entry:
    key: str          # E000.3
    anchor: str       # e000-3
    title: str
    severity: str | None = None
    badge_class: str | None = None
    quotes: list[Quote] = field(default_factory=list)


@dataclass
class Page:
    path: Path
    seed: Path
    lines: list[str]
    entries: list[Entry]
    quotes: list[Quote]  # every quote on the page, also those of "checked and found correct"


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space: the only liberty a quote may take."""
    return " ".join(text.split())


def fenced_blocks(lines: list[str]):
    """(line index of the opening fence, info string, body lines without the fence's indent)."""
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, lang, rest = m.groups()
        body, j = [], i + 1
        while j < len(lines) and lines[j].strip() != ticks:
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        yield i, (lang + rest), body
        i = j + 1


def parse_page(path: Path) -> Page:
    lines = path.read_text(encoding="utf-8").splitlines()
    number = path.stem.split("-")[1]
    (seed,) = SEEDS.glob(f"{number}_*.txt")
    entries: list[Entry] = []
    quotes: list[Quote] = []
    owner: dict[int, Entry] = {}
    current = None
    for i, line in enumerate(lines):
        if line.startswith("## "):
            current = None
        m = HEADING.match(line)
        if m:
            current = Entry(key=m.group(1), anchor=m.group(5), title=m.group(4))
            entries.append(current)
            continue
        if current is not None and current.severity is None:
            b = BADGE.search(line)
            if b:
                current.badge_class, current.severity = b.groups()
        if current is not None:
            owner[i] = current
    for i, info, body in fenced_blocks(lines):
        m = LINES.search(info)
        if not m:
            continue
        first = int(m.group(1))
        q = Quote(first, int(m.group(2) or first), "\n".join(body), f"{path.name}:{i + 1}")
        quotes.append(q)
        if i in owner:
            owner[i].quotes.append(q)
    return Page(path, seed, lines, entries, quotes)


def seed_pages() -> list[Page]:
    return [parse_page(p) for p in sorted(ERRATA.glob("seed-*.md"))]


def quote_error(quote: Quote, seed_lines: list[str]) -> str | None:
    """None if the quote is in the seed at its lines, else what is wrong."""
    if not normalise(quote.text):
        return f"{quote.where}: empty quote"
    if not 1 <= quote.first <= quote.last <= len(seed_lines):
        return f"{quote.where}: lines {quote.first}-{quote.last} are not in the seed"
    span = normalise(" ".join(seed_lines[quote.first - 1:quote.last]))
    if normalise(quote.text) not in span:
        return (f"{quote.where}: not found verbatim at lines {quote.first}-{quote.last}:\n"
                f"  quote: {normalise(quote.text)}\n  seed:  {span}")
    return None


def summary(pages: list[Page]) -> str:
    """The index's table of counts and its list of entries, computed from the pages."""
    names = list(SEVERITIES)
    out = ["| Seed | " + " | ".join(names) + " | total |",
           "|---|" + "---:|" * (len(names) + 1)]
    totals = Counter()
    for page in pages:
        counts = Counter(e.severity for e in page.entries)
        totals.update(counts)
        out.append(f"| [{page.lines[0].removeprefix('# ')}]({page.path.name}) | "
                   + " | ".join(str(counts[n]) for n in names)
                   + f" | {len(page.entries)} |")
    out.append("| **All seeds** | " + " | ".join(f"**{totals[n]}**" for n in names)
               + f" | **{sum(totals.values())}** |")
    for name in names:
        out += ["", f"### {name.capitalize()} ({totals[name]})", ""]
        for page in pages:
            for e in page.entries:
                if e.severity == name:
                    out.append(f"- [{e.key}]({page.path.name}#{e.anchor}): {e.title}")
    return "\n".join(out)


def index_summary() -> str:
    text = (ERRATA / "index.md").read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].strip()


# -- the tests -----------------------------------------------------------------------------------
PAGES = seed_pages()


def test_one_page_per_seed():
    assert [p.seed.name[:3] for p in PAGES] == ["000", "001", "002", "003", "004"]
    for page in PAGES:
        assert page.lines[0].startswith(f"# Seed {page.seed.name[:3]} — "), page.path.name
        assert f"`{page.seed.name}`" in page.lines[2], f"{page.path.name}: file name on line 3"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.path.name)
def test_entries_numbered_in_order_with_anchors(page):
    number = page.seed.name[:3]
    assert page.entries, page.path.name
    for k, e in enumerate(page.entries, start=1):
        assert e.key == f"E{number}.{k}", e.key
        assert e.anchor == f"e{number}-{k}", e.key


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.path.name)
def test_every_entry_has_a_severity_and_a_quote(page):
    for e in page.entries:
        assert e.severity in SEVERITIES, f"{e.key}: severity {e.severity!r}"
        assert e.badge_class == SEVERITIES[e.severity], f"{e.key}: badge {e.badge_class}"
        assert e.quotes, f"{e.key}: no verbatim quote"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.path.name)
def test_quotes_are_verbatim_at_their_lines(page):
    seed_lines = page.seed.read_text(encoding="utf-8").splitlines()
    assert page.quotes
    problems = [msg for q in page.quotes if (msg := quote_error(q, seed_lines))]
    assert not problems, "\n".join(problems)


def test_a_repaired_or_misplaced_quote_is_caught():
    """The quote check can fail: a one-character repair or a wrong line number is reported."""
    seed_lines = (SEEDS / "000_102daa7cc1d38dd9.txt").read_text(encoding="utf-8").splitlines()
    seed_text = r"\frac{\partial E_t}{\partial\hat y_t}\frac{\partial\hat y_j}{\partial V}"
    assert quote_error(Quote(40, 40, seed_text, "t"), seed_lines) is None
    repaired = seed_text.replace("hat y_j", "hat y_t")
    assert "not found verbatim" in quote_error(Quote(40, 40, repaired, "t"), seed_lines)
    assert "not found verbatim" in quote_error(Quote(41, 44, seed_text, "t"), seed_lines)
    reflowed = "\\frac{\\partial E_t}{\\partial V}\n    &=  \\frac"  # whitespace only: accepted
    assert quote_error(Quote(40, 40, reflowed, "t"), seed_lines) is None
    # and the same on a real page: mutate one character of one quote
    page = PAGES[0]
    q = page.quotes[0]
    mutated = Quote(q.first, q.last, q.text.replace(q.text.strip()[0], "§", 1), q.where)
    assert quote_error(mutated, seed_lines) is not None


def test_seed_000_listing_in_the_checks_is_the_seed_listing():
    """Seed 000's checks run the listing itself: the string they compile is lines 66-81."""
    page = PAGES[0]
    text = "\n".join(page.lines)
    m = re.search(r'>>> listing = """\n(.*?)\n\s*\.\.\. """', text, re.S)
    assert m, "seed-000.md defines `listing`"
    code = "\n".join(line.split("... ", 1)[1] if "... " in line else ""
                     for line in m.group(1).splitlines())
    seed_lines = page.seed.read_text(encoding="utf-8").splitlines()
    assert normalise(code) == normalise("\n".join(seed_lines[65:81]))


def test_index_counts_and_list_match_the_entries():
    expected = summary(PAGES)
    assert index_summary() == expected, (
        "docs/errata/index.md is out of date; paste this between the markers:\n" + expected)


def test_code_lines_fit_the_content_column():
    for path in [ERRATA / "index.md", *(p.path for p in PAGES)]:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, _, body in fenced_blocks(lines):
            for line in body:
                assert len(line) <= CONTENT_WIDTH, f"{path.name}:{i + 1}: {line}"


FOLD = re.compile(r'^\?\?\? example "(.*)"$')
SIZE_IN_TITLE = re.compile(r"(?:seed off by (\S+), )?corrected (\S+?)(?:,|$)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.path.name)
def test_sizes_in_fold_titles_are_the_printed_ones(page):
    """A fold titled "seed off by A, corrected B" prints "seed: A  corrected: B" (doctested)."""
    titled = 0
    for i, line in enumerate(page.lines):
        m = FOLD.match(line)
        if not m or not (size := SIZE_IN_TITLE.search(m.group(1))):
            continue
        body = []
        for nxt in page.lines[i + 1:]:
            if nxt.strip() and not nxt.startswith("    "):
                break
            body.append(nxt.strip())
        seed, fixed = size.groups()
        want = f"seed: {seed}  corrected: {fixed}" if seed else f"corrected: {fixed}"
        assert want in body, f"{page.path.name}:{i + 1}: title says {want!r}"
        titled += 1
    assert titled, f"{page.path.name}: no check shows a size in its title"


def test_every_page_is_in_the_nav_with_its_subject():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        subject = page.lines[0].removeprefix("# ")
        assert f'- "{subject}": errata/{page.path.name}' in nav, subject


if __name__ == "__main__":
    sys.stdout.write(summary(seed_pages()) + "\n")
