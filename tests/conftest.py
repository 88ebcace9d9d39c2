"""Shared fixtures. The site is built once per test session and shared by the site tests and
the browser test."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BuiltSite:
    dir: Path
    log: str
    returncode: int
    seconds: float


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """`mkdocs build --strict` of this repository into a temporary directory."""
    if not (ROOT / "docs/vendor/mathjax/tex-chtml.js").exists():
        subprocess.run(["bash", "scripts/vendor_mathjax.sh", "docs/vendor/mathjax"],
                       cwd=ROOT, check=True)
    dest = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env.pop("RNNMATH_NOTEBOOK_CACHE", None)  # always execute the notebooks afresh
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(dest)],
        cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"\nsite built in {seconds:.1f} s")
    return BuiltSite(dest, proc.stdout + proc.stderr, proc.returncode, seconds)


# -- measured numbers ---------------------------------------------------------------------------
# Gradient tests record the worst relative error they measured; the run's summary prints them,
# so the numbers quoted in notes come from the run that checked them.
_MEASURED: dict[str, float] = {}


@pytest.fixture(scope="session")
def record_error():
    """``record_error(label, value)`` keeps the largest value seen for ``label``."""
    def record(label: str, value: float) -> None:
        _MEASURED[label] = max(value, _MEASURED.get(label, 0.0))
    return record


def pytest_terminal_summary(terminalreporter):
    if _MEASURED:
        terminalreporter.section("worst relative errors measured")
        for label, value in sorted(_MEASURED.items()):
            terminalreporter.write_line(f"{label:<40} {value:.2e}")
