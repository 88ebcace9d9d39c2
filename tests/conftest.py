"""Shared fixtures. The site is built once per test session and shared by the site tests and
the browser tests, which also share the local server over it and the Chromium page."""
from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
# the browser tests would report as requests leaving the machine.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


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


@pytest.fixture(scope="session")
def figures_hook():
    """docs/hooks/figures.py, loaded as MkDocs loads it (it is build machinery, not a module
    of the package)."""
    spec = importlib.util.spec_from_file_location("figures_hook", ROOT / "docs/hooks/figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as MkDocs does
    spec.loader.exec_module(module)
    return module


# -- the built site in a real browser (tests/test_browser.py, tests/test_figures_browser.py) --

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def served_site(built_site):
    if built_site.returncode != 0:
        pytest.fail("the site did not build; see test_strict_build_has_no_warnings")
    handler = functools.partial(_QuietHandler, directory=str(built_site.dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser_page(served_site):
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        log = {"requests": [], "errors": []}
        context.on("request", lambda r: log["requests"].append(r.url))
        page.on("console", lambda m: m.type == "error" and log["errors"].append(
            f"console: {m.text}"))
        page.on("pageerror", lambda e: log["errors"].append(f"page error: {e}"))
        # ERR_ABORTED: a request cut short because the test moved on to the next page.
        page.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED" and log[
            "errors"].append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and log["errors"].append(
            f"HTTP {r.status}: {r.url}"))
        try:
            yield page, log
        finally:
            context.close()
            browser.close()


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
