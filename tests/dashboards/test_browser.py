"""The dashboards in a real browser: Voila started by `workbench dashboard`, Debian's Chromium driven by
Playwright. For each dashboard (overview, cohorts, churn, campaigns): it loads without an error in the
page or the console, a filter change shows the numbers the package computes for that filter (computed
here directly), the language switch changes the labels, a filter that leaves nothing shows the message,
and (churn) the CSV download carries member ids as stored and nothing else. Screenshots go to
tests/artifacts/.
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

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from workbench.analyses.churn import churn_survival
from workbench.analyses.cohorts import cohort_retention
from workbench.analyses.lift import campaign_lift
from workbench.analyses.overview import weekly_kpis
from workbench.analyses.wake_up import EXPORT_COLUMNS, wake_up_list
from workbench.dashboards.campaigns import kind_label
from workbench.dashboards.cohorts import cohort_window
from workbench.dashboards.overview import CARD_KPIS
from workbench.data import simulate

playwright = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# The machine may be busy: a page's first render waits for a kernel to start and import the package.
PAGE_TIMEOUT_MS = 150_000
SERVER_TIMEOUT_S = 120
CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.timeout(900),
]


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
        # Only the local server: the page's CDN icon font is answered empty, never fetched.
        self.page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(server)
                else route.fulfill(status=200, body="", content_type="text/css")
            ),
        )
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


def test_overview_dashboard_in_the_browser(open_page, db):
    p = open_page("overview")
    assert p.errors == []
    # Figures are drawn by the workbench's renderer (plotly.js of the workbench's traces), not plotly's own.
    extensions = p.page.evaluate("Object.keys(window._JUPYTERLAB)")
    assert "workbench-plotly" in extensions and "jupyterlab-plotly" not in extensions
    as_of = pd.Timestamp("2026-11-22").date()
    expected = weekly_kpis(db, as_of=as_of).kpis.set_index("kpi")["value"]
    shown = p.numbers()
    assert set(shown) == set(CARD_KPIS)
    for kpi, value in shown.items():
        assert value == pytest.approx(expected[kpi])
    assert all(CJK.search(t) for t in p.titles())
    assert "环比上周" in p.page.inner_text(".wb-kpis")
    p.screenshot("overview", height=3000)

    city = sorted(db.stores.select("city").distinct().to_pandas()["city"])[-1]
    p.change(".wb-city", label=city)
    expected = weekly_kpis(db, as_of=as_of, cities=[city]).kpis.set_index("kpi")["value"]
    shown = p.numbers()
    assert shown["new_members"] == expected["new_members"]
    assert shown["private_revenue"] == pytest.approx(expected["private_revenue"])
    p.change(".wb-week", index=3)
    week = p.page.eval_on_selector(".wb-week select", "s => s.options[s.selectedIndex].textContent")[:8]
    expected = weekly_kpis(db, week=week, as_of=as_of, cities=[city]).kpis.set_index("kpi")["value"]
    assert p.numbers()["active_members"] == expected["active_members"]
    assert any(week in t for t in p.titles())

    p.click(".wb-lang button:has-text('English')")
    titles = p.titles()
    assert titles and not any(CJK.search(t) for t in titles)
    assert p.page.inner_text(".wb-title") == "Weekly overview"
    assert "vs last week" in p.page.inner_text(".wb-kpis")

    stores = db.stores.select("store_id", "city").to_pandas()
    other = stores[stores["city"] != city].iloc[0]["store_id"]
    p.change(".wb-store", label=p.option(".wb-store", other))
    assert p.message().startswith("No data for the selected filters")
    assert p.errors == []


def _week_cards(db, as_of, **filters):
    result = cohort_retention(db, as_of=as_of, period="month", **filters)
    labels = sorted(pd.to_datetime(result.table["cohort"].unique()))
    labels = [c.strftime("%Y-%m") for c in labels]
    window = cohort_window(result, labels[max(0, len(labels) - 12)], labels[-1])
    t = window.table
    nxt = t[(t["age"] == 1) & t["observable"]]
    return t.loc[t["age"] == 0, "cohort_size"].sum(), nxt["active"].sum() / nxt["cohort_size"].sum()


def test_cohort_dashboard_in_the_browser(open_page, db):
    p = open_page("cohorts")
    assert p.errors == []
    as_of = pd.Timestamp("2026-11-22").date()
    members, retention = _week_cards(db, as_of)
    shown = p.numbers()
    assert shown["cohort_members"] == members and shown["retention_1"] == pytest.approx(retention)
    assert all(CJK.search(t) for t in p.titles())
    p.screenshot("cohorts")

    city = sorted(db.stores.select("city").distinct().to_pandas()["city"])[0]
    p.change(".wb-city", label=city)
    members, retention = _week_cards(db, as_of, cities=[city])
    shown = p.numbers()
    assert shown["cohort_members"] == members and shown["retention_1"] == pytest.approx(retention)

    p.click(".wb-lang button:has-text('English')")
    titles = p.titles()
    assert titles and not any(CJK.search(t) for t in titles)
    assert p.page.inner_text(".wb-title") == "Cohorts and repurchase"

    stores = db.stores.select("store_id", "city").to_pandas()
    other = stores[stores["city"] != city].iloc[0]["store_id"]
    p.change(".wb-store", label=p.option(".wb-store", other))
    assert p.message().startswith("No data for the selected filters")
    assert p.errors == []


def test_churn_dashboard_in_the_browser(open_page, db, tmp_path):
    p = open_page("churn")
    assert p.errors == []
    p.screenshot("churn")
    as_of = pd.Timestamp("2026-11-22").date()
    p.change(".wb-segment", label="在社群中")
    expected = churn_survival(db, as_of=as_of, segment_by="in_group")
    shown = p.numbers()
    assert shown["members"] == expected.medians["members"].sum()
    assert shown["churned"] == expected.medians["churned"].sum()

    with p.page.expect_download() as info:
        p.page.click(".wb-download-link")
    path = tmp_path / "wake.csv"
    info.value.save_as(path)
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype={"member_id": str})
    assert list(frame.columns) == list(EXPORT_COLUMNS)
    assert "phone_hash" not in frame.columns and "name" not in frame.columns
    wake = wake_up_list(db, as_of=as_of)
    assert frame["member_id"].tolist() == wake["member_id"].tolist()
    assert set(frame["member_id"]) <= set(db.members.select("member_id").to_pandas()["member_id"])

    p.click(".wb-lang button:has-text('English')")
    assert not any(CJK.search(t) for t in p.titles())
    assert "Download CSV" in p.page.inner_text(".wb-download-link")
    assert p.errors == []


def test_campaign_dashboard_in_the_browser(open_page, db):
    p = open_page("campaigns")
    assert p.errors == []
    p.screenshot("campaigns")
    as_of = pd.Timestamp("2026-11-22").date()
    catalogue = db.campaigns.order_by("starts_at").to_pandas()["campaign_id"].tolist()
    for cid in catalogue[:2]:
        label = p.option(".wb-campaign", cid)
        p.change(".wb-campaign", label=label)
        expected = campaign_lift(db, cid, as_of=as_of, segment_by="price_sensitive")
        arms = expected.arms[expected.arms["segment"] == "all"].set_index("arm")["members"]
        shown = p.numbers()
        assert shown["treatment"] == arms.get("treatment", 0) and shown["control"] == arms.get("control", 0)
        banner = p.page.query_selector(".wb-banner[data-kind='observational']")
        assert (banner is not None) == expected.observational
    # The table of every campaign is drawn by the kernel's background pass, whenever it ends: the page gets
    # it even when it was drawn while the page was loading the widgets.
    p.page.wait_for_selector(".wb-overview [data-campaign]", state="attached", timeout=PAGE_TIMEOUT_MS)
    assert len(p.page.query_selector_all(".wb-overview [data-campaign]")) == len(catalogue)
    p.click(".wb-lang button:has-text('English')")
    assert p.page.inner_text(".wb-title") == "Campaigns"
    assert "Kind" in p.page.inner_text(".wb-kind")
    # A kind with no campaign starting in some year: the list is empty, the page says so.
    frame = db.campaigns.to_pandas()
    frame["year"] = (
        pd.to_datetime(frame["starts_at"], utc=True).dt.tz_convert("Asia/Shanghai").dt.year.astype(str)
    )
    present = set(zip(frame["kind"], frame["year"], strict=True))
    kind, year = min((k, y) for k in set(frame["kind"]) for y in set(frame["year"]) if (k, y) not in present)
    p.change(".wb-year", label=year)
    p.change(".wb-kind", label=kind_label(kind, "en"))
    assert p.message().startswith("No data for the selected filters")
    assert p.errors == []
