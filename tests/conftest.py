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
