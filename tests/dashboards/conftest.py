"""Browser fixtures for the dashboard tests: Voila started by `workbench dashboard` on a simulated chain,
Debian's Chromium driven by Playwright, and :class:`Page`, one dashboard page with its console and page
errors and helpers that wait for the kernel's redraw. Every fixture stops what it starts.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import workbench as wb
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from workbench.data import simulate

try:
    from playwright import sync_api as playwright
except ImportError:  # pragma: no cover - playwright is a dev dependency
    playwright = None

# Browser tests: skipped where Chromium or Playwright is missing, except where WORKBENCH_REQUIRE_BROWSER=1
# (CI, which installs Chromium): there a missing browser fails instead of passing with nothing tested.
BROWSER_MISSING = (
    "needs Debian's chromium"
    if not Path(CHROMIUM).exists()
    else "needs playwright"
    if playwright is None
    else ""
)
REQUIRE_BROWSER = os.environ.get("WORKBENCH_REQUIRE_BROWSER") == "1"
needs_browser = [
    pytest.mark.skipif(bool(BROWSER_MISSING) and not REQUIRE_BROWSER, reason=BROWSER_MISSING or "ok"),
    pytest.mark.timeout(900),
]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# The machine may be busy: a page's first render waits for a kernel to start and import the package.
PAGE_TIMEOUT_MS = 150_000
SERVER_TIMEOUT_S = 120
CJK = re.compile(r"[\u4e00-\u9fff]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chain_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "chain.duckdb"
    simulate.simulate_chain(path, members=2000, weeks=70, seed=5, end="2026-11-22")  # campaigns in two years
    return path


@pytest.fixture(scope="module")
def db(chain_path):
    store = wb.connect(chain_path)
    yield store
    store.close()


@pytest.fixture(scope="module")
def server(chain_path, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workbench.cli",
                "dashboard",
                "--data",
                str(chain_path),
                "--port",
                str(port),
                # Kernels start with each page: preheating a kernel per notebook at once would make
                # the machine wait for four at the test's start (bench/dashboard.py measures preheating).
                "--no-preheat",
                # Nothing computed ahead: every page computes what it shows (tests/dashboards/
                # test_shared_results.py covers pages reading what a warm run computed).
                "--no-warm",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"voila did not start:\n{log.read_text()}") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    if BROWSER_MISSING:
        pytest.fail(
            f"{BROWSER_MISSING} (WORKBENCH_REQUIRE_BROWSER=1: the browser tests must run)", pytrace=False
        )
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """One dashboard page, its console and page errors, and helpers to wait for the kernel's redraw."""

    def __init__(self, browser, server: str, name: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 2400}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None
        )
        self.page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
        )

        # Only the local server: a page must need nothing from outside (no foreign CDN), so a request
        # elsewhere is an error, and is not sent.
        def local_only(route):
            if route.request.url.startswith(server):
                route.continue_()
            else:
                self.errors.append(f"external request: {route.request.url}")
                route.abort()

        self.page.route("**/*", local_only)
        self.page.goto(f"{server}/voila/render/{name}.ipynb", wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        self.page.wait_for_selector(".js-plotly-plot", timeout=PAGE_TIMEOUT_MS)
        self.settle()

    def generation(self) -> int:
        classes = self.page.eval_on_selector(".wb-dash", "e => [...e.classList]")
        return max([int(c[len("wb-gen-") :]) for c in classes if c.startswith("wb-gen-")] or [0])

    def settle(self, after: int | None = None) -> None:
        """Wait until the kernel has drawn a render newer than ``after`` and is idle."""
        target = 1 if after is None else after + 1
        self.page.wait_for_function(
            """n => { const e = document.querySelector('.wb-dash'); if (!e) return false;
                const g = [...e.classList].filter(c => c.startsWith('wb-gen-')).map(c => +c.slice(7));
                return g.length && Math.max(...g) >= n && !e.classList.contains('wb-computing'); }""",
            arg=target,
            timeout=PAGE_TIMEOUT_MS,
        )

    def change(self, selector: str, **option) -> None:
        n = self.generation()
        self.page.select_option(f"{selector} select", **option)
        self.settle(n)

    def click(self, selector: str) -> None:
        n = self.generation()
        self.page.click(selector)
        self.settle(n)

    def option(self, selector: str, prefix: str) -> str:
        """The label of the first option of a dropdown that starts with ``prefix``."""
        labels = self.page.eval_on_selector_all(f"{selector} option", "os => os.map(o => o.textContent)")
        return next(t for t in labels if t.startswith(prefix))

    def numbers(self) -> dict[str, float]:
        # The cards arrive in a widget message of their own, which the page may apply after the render's
        # mark: wait for them (a card that never comes still fails, on the timeout), then read them.
        try:
            self.page.wait_for_selector(".wb-kpi", state="attached", timeout=PAGE_TIMEOUT_MS)
        except playwright.TimeoutError:
            raise AssertionError(f"no KPI cards; the page says: {self.message()!r}") from None
        cards = self.page.eval_on_selector_all(
            ".wb-kpi", "es => es.map(e => [e.dataset.key, e.dataset.value])"
        )
        return {k: float(v) if v not in ("", "nan") else float("nan") for k, v in cards}

    def titles(self) -> list[str]:
        return self.page.eval_on_selector_all(
            ".js-plotly-plot", "es => es.map(e => (e.layout && e.layout.title && e.layout.title.text) || '')"
        )

    def message(self) -> str:
        box = self.page.query_selector(".wb-message-box")
        return box.inner_text() if box and box.is_visible() else ""

    def screenshot(self, name: str, *, height: int | None = None) -> None:
        """Save the page; ``height``: a taller window first, for a page longer than the default one."""
        ARTIFACTS.mkdir(exist_ok=True)
        if height:
            self.page.set_viewport_size({"width": 1280, "height": height})
            self.page.wait_for_timeout(1000)  # plotly redraws responsive figures on resize
        self.page.screenshot(path=str(ARTIFACTS / f"dashboard_{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser, server):
    pages = []

    def _open(name):
        page = Page(browser, server, name)
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()
