"""`workbench slides`: a reveal.js deck of one report notebook, code hidden, one figure or table per slide."""

from __future__ import annotations

import re

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, offline_tab
from workbench.data import simulate
from workbench.errors import ParameterError
from workbench.reporting.slides import build_slides


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("slides") / "chain.duckdb"
    simulate.simulate_chain(path, members=1000, weeks=30, seed=11, end="2026-11-22")
    return path


def test_cohort_deck_has_a_slide_per_figure_and_no_code(chain, tmp_path):
    result = build_slides("cohorts", data=chain, latest=True, out=tmp_path, lang="en", client="Acme")
    assert result.path == tmp_path / "cohorts-2026-W47.slides.html" and result.week == "2026-W47"
    html = result.path.read_text(encoding="utf-8")
    assert "Reveal.initialize" in html and "Acme" in html
    # The notebook marks the title, the summary, each figure and the table as new slides (6 in all).
    assert result.slides == 6
    assert html.count("<section") >= result.slides
    assert len(re.findall(r"Plotly\.newPlot\(", html)) == 3
    assert "import workbench" not in html and "rp.show(" not in html  # code hidden
    assert "Mean retention by age" in html
    assert "(workbench bundle:" in html  # plotly.js cut down to the traces the deck draws


def test_deck_presents_in_a_browser_with_no_network(chain, tmp_path):
    """The deck opens from disk in headless Chromium with every request to another host refused: reveal.js
    starts, the arrow key moves to the next slide, the figures draw, and nothing is fetched or fails."""
    sync_api = pytest.importorskip("playwright.sync_api")
    result = build_slides("cohorts", data=chain, latest=True, out=tmp_path, lang="zh")
    assert result.offline
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, fetched, errors = offline_tab(browser)
            page.goto(result.path.as_uri())
            page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=60_000)
            assert page.evaluate("Reveal.getTotalSlides()") == result.slides
            page.keyboard.press("ArrowRight")
            page.wait_for_function("Reveal.getIndices().h === 1", timeout=10_000)
            assert page.evaluate("document.querySelectorAll('.plotly-graph-div .main-svg').length") > 0
            assert "留存" in page.inner_text("body")  # the zh deck's text
        finally:
            browser.close()
    assert fetched == [] and errors == []


def test_unknown_notebook_names_the_choices(chain, tmp_path):
    with pytest.raises(ParameterError, match="cohort'.*cohorts"):
        build_slides("cohort", data=chain, latest=True, out=tmp_path)
