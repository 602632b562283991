"""Figures of weekly KPIs and acquisition quality, tested as objects (traces, titles, values)."""

import html
import re

import pandas as pd
import plotly.graph_objects as go
import pytest

import workbench as wb
from workbench.analyses.acquisition import acquisition_quality
from workbench.analyses.overview import weekly_kpi_trend, weekly_kpis
from workbench.dashboards.overview import kpi_table_html
from workbench.errors import ParameterError
from workbench.figures.acquisition import acquisition_quality_chart
from workbench.figures.overview import (
    DOWN_COLOR,
    FLAT_COLOR,
    UP_COLOR,
    kpi_table,
    kpi_trend,
    new_members_ranking,
)

WEEK = "2026-W20"  # Mon 2026-05-11 .. Sun 05-17; W19 = 05-04 .. 05-10; W18 = 04-27 .. 05-03
CJK = re.compile(r"[\u4e00-\u9fff]")


def order(oid, member, when, amount, store="S1"):
    return {"order_id": oid, "store_id": store, "ordered_at": when, "amount": amount, "member_id": member}


@pytest.fixture
def hand_db(make_store, store_row):
    """Private revenue per week: W18 60 (F), W19 70 (B), W20 50 (A) + 90 (C) = 140; member tickets W19 70,
    W20 70 (140 / 2 orders); new members W20: C at S2; W19: B at S1. Non-member orders: 50 a week at S1."""
    stores = [store_row(), store_row(store_id="S2", name="北京国贸店", city="北京")]
    members = [
        {"member_id": m, "joined_at": f"{d} 10:00", "join_channel": c, "join_store_id": s}
        for m, d, c, s in [("A", "2025-01-10", "store_qr", "S1"), ("B", "2026-05-05", "mini_program", "S1"),
                           ("C", "2026-05-12", "store_qr", "S2"), ("F", "2026-04-28", "referral", "S2")]
    ]  # fmt: skip
    orders = [
        order("a0", "A", "2025-01-10 12:00", 10), order("f1", "F", "2026-04-29 12:00", 60, "S2"),
        order("b1", "B", "2026-05-06 12:00", 70), order("a1", "A", "2026-05-12 12:00", 50),
        order("c1", "C", "2026-05-12 12:00", 90, "S2"), order("n1", None, "2026-04-30 12:00", 50),
        order("n2", None, "2026-05-07 12:00", 50), order("n3", None, "2026-05-14 12:00", 50),
    ]  # fmt: skip
    return wb.connect(make_store({"stores": stores, "members": members, "orders": orders},
                                 data_through="2026-05-31"))  # fmt: skip


@pytest.fixture
def result(hand_db):
    return weekly_kpis(hand_db, week=WEEK, compare_weeks=2)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_titles_are_in_the_language(result, hand_db, lang):
    figures = [
        kpi_table(result, lang=lang),
        new_members_ranking(result, lang=lang),
        new_members_ranking(result, lang=lang, by="channel"),
        kpi_trend(weekly_kpi_trend(hand_db, weeks=3, week=WEEK), lang=lang),
    ]
    for fig in figures:
        title = fig.layout.title.text.split("<br>")[0]
        assert bool(CJK.search(title)) == (lang == "zh"), title


def test_kpi_table_shows_values_and_colours_changes(result):
    fig = kpi_table(result, lang="en")
    table = fig.data[0]
    assert isinstance(table, go.Table)
    assert table.cells.values[0][0] == "Private-domain revenue (member orders)"
    assert table.cells.values[1][0] == "¥140.0"
    wow_colors = table.cells.font.color[2]
    kpis = list(result.kpis["kpi"])
    assert wow_colors[kpis.index("private_revenue")] == UP_COLOR  # 140 vs 70
    assert wow_colors[kpis.index("private_share")] == UP_COLOR  # 140 / 190 = 73.7% vs 70 / 120 = 58.3%
    assert wow_colors[kpis.index("member_ticket")] == FLAT_COLOR  # 70 vs 70
    assert "2025-W20" in table.header.values[4]


def test_the_dashboards_html_kpi_table_has_the_plotly_tables_cells_and_colours(result):
    page = kpi_table_html(result, "en")
    rows = dict(re.findall(r'<tr data-kpi="(\w+)">(.*?)</tr>', page))
    assert list(rows) == list(result.kpis["kpi"])
    cells = lambda kpi: re.findall(r"<td(?: style=\"color:(#\w+)\")?>(.*?)</td>", rows[kpi])  # noqa: E731
    revenue = cells("private_revenue")
    assert revenue[0][1] == "Private-domain revenue (member orders)" and revenue[1][1] == "¥140.0"
    assert revenue[2] == (UP_COLOR, "+100.0% ▲")  # 140 vs 70 last week
    assert cells("member_ticket")[2][0] == FLAT_COLOR  # 70 vs 70
    assert cells("new_members")[2] == (FLAT_COLOR, "0.0%")  # C this week, B last week
    assert "2025-W20" in page and "Private domain KPIs, week 2026-W20" in page
    table = kpi_table(result, lang="en").data[0]  # the same cells and colours as the report's table
    for i, kpi in enumerate(result.kpis["kpi"]):
        shown = cells(kpi)
        assert [text for _, text in shown] == [html.unescape(str(c[i])) for c in table.cells.values]
        assert [color for color, _ in shown[2:]] == [c[i] for c in table.cells.font.color[2:]]
    assert any(DOWN_COLOR in r or UP_COLOR in r for r in rows.values())
    assert CJK.search(kpi_table_html(result, "zh"))


def test_ranking_bars_follow_the_result(result):
    fig = new_members_ranking(result, lang="zh", by="store")
    bars = fig.data[0]
    assert list(bars.x) == [1, 0] and bars.y[0] == "北京国贸店 (北京)"
    assert list(fig.data[1].x) == [0, 1]  # last week: S2 0, S1 1 (B)
    with pytest.raises(ParameterError, match="store, channel"):
        new_members_ranking(result, by="city")


def test_trend_has_a_panel_per_kpi(hand_db):
    trend = weekly_kpi_trend(hand_db, weeks=3, week=WEEK)
    fig = kpi_trend(trend, lang="en", kpis=["private_revenue", "new_members"])
    assert len(fig.data) == 2 and list(fig.data[0].y) == [60, 70, 140]
    with pytest.raises(ParameterError, match="kpis"):
        kpi_trend(trend, kpis=["revenue"])
    with pytest.raises(ParameterError):
        kpi_trend(pd.DataFrame({"x": [1]}))


def test_acquisition_chart_plots_retention_with_intervals(hand_db):
    # joined in W18-W20: B (mini_program, W19), C (store_qr), F (referral) -> as_of 2026-05-31 is too soon
    # for 90 days, so the window is the year before: only A (store_qr, joined 2025-01-10, no visit after day 0)
    q = acquisition_quality(hand_db, by="join_channel", as_of="2026-05-31", joined_from="2025-01-01",
                            joined_to="2025-01-31", min_members=2)  # fmt: skip
    for lang in ("zh", "en"):
        fig = acquisition_quality_chart(q, lang=lang)
        assert bool(CJK.search(fig.layout.title.text.split("<br>")[0])) == (lang == "zh")
    fig = acquisition_quality_chart(q, lang="en")
    (small,) = fig.data  # one member < min_members=2: drawn hollow
    assert list(small.text) == ["Store QR code"] and small.y[0] == 0.0
    assert small.marker.color == "rgba(0,0,0,0)"
    assert small.error_y.array[0] > 0  # the Wilson interval of 0/1 reaches up
    with pytest.raises(ParameterError, match="horizon"):
        acquisition_quality_chart(q, horizon=30)
