"""The weekly report end to end: real papermill runs on a small simulated chain, no mocks.

One full report (every notebook, English, PNG pack, Excel) is published once for the module; the tests
open its pages and compare what they show with what the package computes directly. More runs check the
same week twice, an anonymised white-labelled report, a failing notebook, the lock and the CLI.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from filelock import FileLock

import workbench as wb
from workbench.data import simulate
from workbench.reporting.publish import LOCK_NAME, NotebookFailed, ReportLocked, publish_report

WEEK = "2026-W47"
SUNDAY = "2026-11-22"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("chain") / "chain.duckdb"
    simulate.simulate_chain(path, members=2000, weeks=60, seed=5, end=SUNDAY)
    return path


@pytest.fixture(scope="module")
def report(chain, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    result = publish_report(data=chain, latest=True, out=out, lang="en", figures="png", excel=True)
    return result


def plotly_figures(html: str) -> list[dict]:
    """Every figure of a page: the data and layout passed to Plotly.newPlot, typed arrays decoded."""
    figs = []
    decoder = json.JSONDecoder()
    for m in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', html):
        data, end = decoder.raw_decode(html, m.end())
        rest = html[end:].lstrip().lstrip(",").lstrip()
        layout, _ = decoder.raw_decode(rest)
        figs.append({"data": [_decode(t) for t in data], "layout": layout})
    return figs


def _decode(obj):
    if isinstance(obj, dict):
        if set(obj) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"])).tolist()
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def html_tables(html: str) -> list[pd.DataFrame]:
    """Every <table> of a page as a frame (header from <th>, numbers parsed where they are numbers)."""
    from bs4 import BeautifulSoup

    frames = []
    for table in BeautifulSoup(html, "html.parser").find_all("table"):
        header = (
            [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
            if table.find("thead")
            else []
        )
        rows = (
            [
                [td.get_text(strip=True) for td in tr.find_all(["td", "th"])]
                for tr in table.find("tbody").find_all("tr")
            ]
            if table.find("tbody")
            else []
        )
        if not header or not rows:
            continue
        width = len(rows[0])
        frame = pd.DataFrame(rows, columns=header[-width:])  # the index column has an empty header cell
        frames.append(frame.apply(_numbers))
    return frames


def _numbers(column: pd.Series) -> pd.Series:
    try:
        text = column.str.replace(",", "").replace({"NaN": None, "<NA>": None, "": None})
        return pd.to_numeric(text)
    except (ValueError, TypeError):
        return column


def title_of(fig: dict) -> str:
    t = fig["layout"].get("title", {})
    return t.get("text", "") if isinstance(t, dict) else str(t)


def page(report, name: str) -> str:
    return (report.folder / f"{name}.html").read_text(encoding="utf-8")


def test_every_notebook_ran_and_was_published(report):
    m = report.manifest
    assert m["week"] == WEEK and m["as_of"] == SUNDAY  # --latest: the chain ends on Sunday 2026-11-22
    assert {"cohorts", "repurchase", "churn", "campaigns"} <= {nb["name"] for nb in m["notebooks"]}
    for nb in m["notebooks"]:
        assert nb["status"] == "ok" and nb["seconds"] > 0
        assert (report.folder / nb["html"]).exists() and (report.folder / nb["notebook"]).exists()
    on_disk = json.loads((report.folder / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["data"]["tables"]["members"]["rows"] == 2000
    assert on_disk["data"]["quarantined"] == 0 and len(on_disk["data"]["sha256"]) == 64
    assert on_disk["versions"]["papermill"] and on_disk["parameters"]["lang"] == "en"
    # No build folder is left behind; the top-level index links the week's page.
    assert not [p for p in report.folder.parent.iterdir() if p.name.startswith((".build", ".old"))]
    top = report.top_index.read_text(encoding="utf-8")
    assert f'href="{WEEK}/index.html"' in top
    week_index = report.index.read_text(encoding="utf-8")
    for nb in m["notebooks"]:
        assert f'href="{nb["html"]}"' in week_index


def test_pages_work_offline_and_hide_code(report):
    for path in report.folder.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]*\ssrc=[\"']https?://", text, re.I), path.name
        assert not re.search(r"<link[^>]*\shref=[\"']https?://", text, re.I), path.name
        assert not re.search(r"@import\s+url\([\"']?https?://", text, re.I), path.name
        assert "import workbench" not in text and "rp.show(" not in text  # code hidden
        # No folder of the machine that ran the report (a warning's file and line would name one).
        assert str(ROOT) not in text and "site-packages" not in text, path.name
    # plotly.js is embedded once per page, not once per figure.
    cohorts = page(report, "cohorts")
    assert cohorts.count("window.Plotly = Plotly") == 1
    assert len(plotly_figures(cohorts)) == 3


def test_every_page_draws_its_figures_in_a_browser_with_no_network(report):
    """Each page opens from disk in headless Chromium with other hosts refused; every figure draws with
    the cut-down plotly.js (workbench.reporting.plotlyjs) and nothing errs or is fetched."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS, offline_tab

    seen_errors, seen_fetched = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for nb in report.manifest["notebooks"]:
                html = page(report, nb["name"])
                assert "(workbench bundle:" in html, nb["name"]
                figures = len(plotly_figures(html))
                tab, fetched, errors = offline_tab(browser)
                tab.goto((report.folder / nb["html"]).as_uri())
                tab.wait_for_function(
                    "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
                    arg=figures,
                    timeout=60_000,
                )
                # each figure has its main SVG and a title drawn from the page's data
                titles = tab.evaluate(
                    "Array.from(document.querySelectorAll('.js-plotly-plot .gtitle')).map(t => t.textContent)"
                )
                # (plotly draws <br> and <sub> as separate lines: compare the text alone)
                expected = [re.sub(r"<[^>]+>", "", title_of(f)) for f in plotly_figures(html) if title_of(f)]
                assert [t.replace("\u200b", "") for t in titles] == expected, nb["name"]
                tab.close()
                seen_errors += errors
                seen_fetched += fetched
        finally:
            browser.close()
    assert seen_errors == [] and seen_fetched == []


def test_cohort_page_shows_the_numbers_the_package_computes(report, chain):
    db = wb.connect(chain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ret = wb.cohort_retention(db, as_of=SUNDAY, period="month")
    html = page(report, "cohorts")
    figs = {title_of(f).split("<br>")[0]: f for f in plotly_figures(html)}
    assert {"Cohort retention", "Mean retention by age", "Cumulative revenue per member (LTV)"} <= set(figs)
    curve = ret.curve[ret.curve["segment"] == "all"].sort_values("age")
    line = [t for t in figs["Mean retention by age"]["data"] if t.get("mode", "").startswith("lines")][-1]
    np.testing.assert_allclose(np.array(line["y"], dtype=float), curve["retention"].to_numpy(), rtol=1e-9)
    # The table on the page: the curve, rounded to 3 decimals, English headers.
    tables = html_tables(html)
    shown = next(t for t in tables if "Retention" in t.columns and "Age (periods)" in t.columns)
    np.testing.assert_allclose(shown["Retention"], curve["retention"].round(3).head(len(shown)), atol=1e-9)
    assert shown["Members"].tolist() == curve["members"].head(len(shown)).tolist()


def test_churn_and_campaign_pages_match_the_package(report, chain):
    db = wb.connect(chain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        surv = wb.churn_survival(db, as_of=SUNDAY, segment_by="vip")
    from workbench.reporting.weeks import campaigns_for_week

    ids, _ = campaigns_for_week(db, as_of=SUNDAY, week=WEEK)
    churn = html_tables(page(report, "churn"))
    medians = next(t for t in churn if "Churned" in t.columns and "Median (days)" in t.columns)
    assert medians["Members"].tolist() == surv.medians["members"].tolist()
    assert medians["Churned"].tolist() == surv.medians["churned"].tolist()
    titles = [title_of(f) for f in plotly_figures(page(report, "churn"))]
    assert any(t.startswith("Share of members not churned") for t in titles)
    assert any("Wake-up" in t or "wake" in t.lower() for t in titles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lift = wb.campaign_lift(db, ids[0], as_of=SUNDAY, segment_by="price_sensitive")
    camp_html = page(report, "campaigns")
    tables = html_tables(camp_html)
    shown = next(t for t in tables if "Absolute lift" in t.columns)
    np.testing.assert_allclose(
        pd.to_numeric(shown["Absolute lift"]).to_numpy(dtype=float),
        lift.lift["abs_lift"].astype(float).round(3).head(len(shown)).to_numpy(),
        atol=1e-9,
    )

    assert any(lift.campaign.name in title_of(f) for f in plotly_figures(camp_html))


def test_figure_pack_and_excel_hold_every_figure_and_table(report):
    m = report.manifest
    expected = [f"{nb['name']}-{f}.png" for nb in m["notebooks"] for f in nb["figures"]]
    assert len(expected) >= 10
    files = sorted(p.name for p in (report.folder / "figures").glob("*.png"))
    assert files == sorted(expected)
    for name in files:
        assert (report.folder / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sheets = pd.read_excel(report.folder / "tables.xlsx", sheet_name=None)
    assert "cohorts.retention_curve" in sheets and "Retention" in sheets["cohorts.retention_curve"].columns
    assert len(sheets) == sum(len(nb["tables"]) for nb in m["notebooks"])


def test_the_same_week_twice_gives_the_same_numbers(report, chain, tmp_path):
    again = publish_report(
        data=chain, week=WEEK, out=tmp_path, lang="en", figures="none", notebooks="cohorts"
    )
    assert again.manifest["data"]["sha256"] == report.manifest["data"]["sha256"]
    first = pd.read_excel(report.folder / "tables.xlsx", sheet_name=None)
    second = pd.read_excel(again.folder / "tables.xlsx", sheet_name=None)
    assert set(second) and set(second) <= set(first)
    for name, frame in second.items():
        pd.testing.assert_frame_equal(frame, first[name])
    assert not (again.folder / "figures").exists()  # figures="none"


# Every notebook anonymised takes minutes on a shared 2-core machine; the default suite anonymises the two
# notebooks that show stores and members (cohorts, churn with its wake-up list), `make test-all` all of them.
@pytest.mark.parametrize(
    "notebooks", ["cohorts,churn", pytest.param(None, marks=pytest.mark.slow, id="every-notebook")]
)
def test_anonymised_white_labelled_report_names_no_member_and_no_store(chain, tmp_path, notebooks):
    db = wb.connect(chain)
    members = db.members.select("member_id", "phone_hash").to_pandas()
    stores = db.stores.to_pandas()
    result = publish_report(
        data=chain,
        week=WEEK,
        out=tmp_path,
        lang="zh",
        anonymise=True,
        client="Acme 咨询",
        figures="svg",
        notebooks=notebooks,
    )
    ids = set(members["member_id"])
    hashes = set(members["phone_hash"].dropna())
    names = set(stores["name"]) | set(stores["store_id"])
    id_pattern = re.compile(r"M\d{7}")  # the simulator's member ids
    assert all(id_pattern.fullmatch(i) for i in ids)
    scanned = 0
    for path in result.folder.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                text = "".join(z.read(n).decode("utf-8", "ignore") for n in z.namelist())
        else:
            text = path.read_text(encoding="utf-8", errors="ignore")
        scanned += 1
        assert not set(id_pattern.findall(text)) & ids, path.name
        assert not set(re.findall(r"[0-9a-f]{64}", text)) & hashes, path.name
        assert not [n for n in names if n in text], path.name
    assert scanned >= 10
    # White label: the client's name in the week's index and in each page's title; Chinese text.
    assert "Acme 咨询" in result.index.read_text(encoding="utf-8")
    cohorts = (result.folder / "cohorts.html").read_text(encoding="utf-8")
    assert "Acme 咨询" in cohorts and "会员同期群留存" in cohorts
    zh_titles = [title_of(f) for f in plotly_figures(cohorts)]
    assert zh_titles and all(re.search(r"[\u4e00-\u9fff]", t) for t in zh_titles)
    churn = (result.folder / "churn.html").read_text(encoding="utf-8")
    assert "待唤醒会员数" in churn  # the wake-up list became counts per city
    assert list((result.folder / "figures").glob("*.svg"))


def test_english_figure_titles_have_no_chinese(report):
    titles = [title_of(f) for name in ("cohorts", "repurchase") for f in plotly_figures(page(report, name))]
    assert titles and not any(re.search(r"[\u4e00-\u9fff]", t) for t in titles)


@pytest.fixture
def broken_notebooks(tmp_path):
    """A notebooks folder with one notebook whose second cell fails."""
    folder = tmp_path / "broken_notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'data = "x"\nweek = None\nlang = "zh"\nanonymise = False\nclient = None\nk_min = 5'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell("print('started')"),
        nbformat.v4.new_code_cell("raise ValueError('planted failure')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "broken.ipynb"))
    return folder


def test_a_failing_notebook_keeps_the_previous_report(report, chain, broken_notebooks):
    out = report.folder.parent
    before = (report.folder / "manifest.json").read_bytes()
    with pytest.raises(NotebookFailed) as caught:
        publish_report(data=chain, week=WEEK, out=out, notebooks_dir=broken_notebooks)
    message = str(caught.value)
    assert "broken" in message and "planted failure" in message and "ValueError" in message
    assert caught.value.notebook == "broken" and caught.value.exit_code == 1
    assert (report.folder / "manifest.json").read_bytes() == before  # the old report is untouched
    kept = caught.value.failures / "broken.ipynb"
    assert kept.exists() and caught.value.failures.parent.name == "_failures"
    failed = nbformat.read(str(kept), as_version=4)
    errors = [
        o
        for c in failed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert errors and errors[0]["evalue"] == "planted failure"
    assert not [p for p in out.iterdir() if p.name.startswith(".build")]


def test_a_second_run_waits_for_the_lock_or_fails_clearly(chain, tmp_path, broken_notebooks):
    lock = FileLock(str(tmp_path / LOCK_NAME), thread_local=False)  # released by a timer thread
    lock.acquire()
    try:
        started = time.perf_counter()
        with pytest.raises(ReportLocked, match="another `workbench report`"):
            publish_report(data=chain, week=WEEK, out=tmp_path, notebooks_dir=broken_notebooks, wait=0.5)
        assert time.perf_counter() - started < 10
        # With a longer wait the run goes ahead once the lock is released (here: then fails on the notebook).
        threading.Timer(1.0, lock.release).start()
        with pytest.raises(NotebookFailed):
            publish_report(data=chain, week=WEEK, out=tmp_path, notebooks_dir=broken_notebooks, wait=60)
    finally:
        if lock.is_locked:
            lock.release()


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )


def test_cli_exit_codes(chain, tmp_path, broken_notebooks):
    bad_week = cli("report", "--week", "2027-W05", "--data", str(chain), "--out", "r", cwd=tmp_path)
    assert (
        bad_week.returncode == 2 and "not complete" in bad_week.stderr and "Traceback" not in bad_week.stderr
    )
    neither = cli("report", "--data", str(chain), cwd=tmp_path)
    assert neither.returncode == 2 and "--latest" in neither.stderr
    unknown = cli("report", "--latest", "--data", str(chain), "--notebooks", "cohort", cwd=tmp_path)
    assert unknown.returncode == 2 and "cohorts" in unknown.stderr
    failed = cli(
        "report", "--latest", "--data", str(chain), "--out", "r", "--quiet", "--notebooks-dir", str(broken_notebooks),
        cwd=tmp_path,
    )  # fmt: skip
    assert failed.returncode == 1 and "broken" in failed.stderr and "planted failure" in failed.stderr
    assert not (tmp_path / "r" / WEEK).exists()
    assert list((tmp_path / "r" / "_failures").glob(f"{WEEK}-*/broken.ipynb"))
