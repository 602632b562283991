"""Report pages embed plotly.js cut down to the workbench's trace types, and it draws every one of them."""

from __future__ import annotations

import ast
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, offline_tab
from workbench.reporting import plotlyjs

ROOT = Path(__file__).resolve().parents[2]


def figure_classes_used() -> set[str]:
    """Trace types the package's own code draws: every ``go.<Trace>(...)`` call in ``workbench/``."""
    found = set()
    for path in (ROOT / "workbench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "go"
                and node.func.attr not in {"Figure", "FigureWidget", "Layout"}
            ):
                found.add(node.func.attr.lower())
    return found


def test_bundle_is_plotlys_own_release_and_has_every_trace_the_package_draws():
    text, version, traces = plotlyjs.bundle()
    # A plotly upgrade that brings another plotly.js must come with a rebuilt bundle (scripts/plotly-bundle).
    assert version == plotlyjs.full()[1]
    used = figure_classes_used()
    assert {"scatter", "bar", "heatmap", "sankey", "table", "funnel"} <= used
    assert used <= traces
    assert len(text) < len(get_plotlyjs()) / 2


def every_trace_page() -> str:
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{"type": "xy"}, {"type": "xy"}], [{"type": "domain"}, {"type": "table"}]],
    )
    fig.add_trace(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="scatter"), row=1, col=1)
    fig.add_trace(go.Bar(x=["a", "b"], y=[4, 5], name="bar"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=[[1, 2], [3, 4]]), row=1, col=2)
    fig.add_trace(
        go.Sankey(
            node={"label": ["新", "活跃", "流失"]}, link={"source": [0, 1], "target": [1, 2], "value": [5, 2]}
        ),
        row=2,
        col=1,
    )
    fig.add_trace(go.Table(header={"values": ["门店"]}, cells={"values": [["上海"]]}), row=2, col=2)
    funnel = go.Figure(go.Funnel(y=["扫码", "入会", "复购"], x=[100, 60, 20]))
    return fig.to_html(include_plotlyjs=True, full_html=True) + funnel.to_html(
        include_plotlyjs=False, full_html=False
    )


def test_a_page_of_workbench_traces_gets_the_bundle_and_others_keep_plotly_js():
    page = every_trace_page()
    assert plotlyjs.page_traces(page) == {"scatter", "bar", "heatmap", "sankey", "table", "funnel"}
    slim = plotlyjs.slim(page)
    assert "(workbench bundle:" in slim and get_plotlyjs() not in slim
    pie = go.Figure(go.Pie(labels=["a", "b"], values=[1, 2])).to_html(include_plotlyjs=True)
    assert plotlyjs.slim(pie) == pie  # a pie is not in the bundle: the page keeps the full plotly.js
    no_js = go.Figure(go.Bar(y=[1])).to_html(include_plotlyjs=False)
    assert plotlyjs.slim(no_js) == no_js


def test_the_bundle_draws_every_trace_type_offline(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    path = tmp_path / "page.html"
    path.write_text(plotlyjs.slim(every_trace_page()), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, fetched, errors = offline_tab(browser)
            page.goto(path.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")
            drawn = page.evaluate(
                """() => ({
                    points: document.querySelectorAll('.scatterlayer .trace path.js-line').length,
                    bars: document.querySelectorAll('.barlayer .point').length,
                    heatmap: document.querySelectorAll('.heatmaplayer image').length,
                    sankeyNodes: document.querySelectorAll('.sankey-node').length,
                    tableCells: Array.from(document.querySelectorAll('.table .cell-text')).map(e => e.textContent),
                    funnel: document.querySelectorAll('.funnellayer .point').length,
                })"""
            )
        finally:
            browser.close()
    assert errors == [] and fetched == []
    assert drawn["points"] == 1 and drawn["bars"] == 2 and drawn["heatmap"] == 1
    assert drawn["sankeyNodes"] == 3 and drawn["funnel"] == 3
    assert "上海" in drawn["tableCells"] and "门店" in drawn["tableCells"]
