"""Figures of the weekly KPIs: the KPI table with coloured changes, KPI trends, new-member rankings.

Each takes an analysis result (or the trend frame) and ``lang`` ('zh' or 'en') and returns a plotly
``go.Figure``; nothing here queries the store or computes a statistic. ``change_colors`` gives the colours
of the KPI table's changes to another rendering of the table (the overview dashboard's HTML table).

    kpis = wb.weekly_kpis(db, week="2026-W47")
    kpi_table(kpis, lang="zh")
    new_members_ranking(kpis, lang="en", by="channel")
    kpi_trend(wb.weekly_kpi_trend(db, weeks=12), lang="zh")
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import i18n
from workbench.analyses.overview import (
    KPI_UNITS,
    TREND_COLUMNS,
    WeeklyKPIs,
    format_change,
    kpi_label,
    store_label,
)
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

RANKING_BY = ("store", "channel")
# Stores shown in the ranking: a manager reads the top of the list; the frame keeps every store.
DEFAULT_TOP_STORES = 15
# KPIs drawn by default in the trend (the headline ones); any code of KPI_UNITS can be asked for.
DEFAULT_TREND_KPIS = ("private_revenue", "private_share", "active_members", "new_members")
# Colours of a change: up is good for every KPI here (more members, revenue, retention), down is bad.
UP_COLOR = "#2CA02C"
DOWN_COLOR = "#C8102E"
FLAT_COLOR = "#444444"
HEADER_FILL = "#F2F2F2"
# Table height: pixels per row plus the header and title.
TABLE_ROW_PX = 34
TABLE_WIDTH_PX = 980
TABLE_MARGIN_PX = 140
BAR_ROW_PX = 28
BAR_MARGIN_PX = 200
# The ranking's value axis runs to this multiple of the largest bar or marker: room for the value text.
RANKING_TEXT_ROOM = 1.7
# Gap between the last marker of a row and its value text, as a share of the largest bar or marker.
RANKING_TEXT_GAP = 0.05
TREND_PANEL_PX = 220

i18n.register(
    {
        "overview.fig.table_title": ("私域周报 {week}", "Private domain KPIs, week {week}"),
        "overview.fig.trend_title": ("近 {n} 周指标走势", "KPIs over the last {n} weeks"),
        "overview.fig.ranking_store": ("新增会员门店排名 {week}", "New members by store, week {week}"),
        "overview.fig.ranking_channel": (
            "新增会员渠道排名 {week}",
            "New members by join channel, week {week}",
        ),
        "overview.fig.ranking_store_note": (
            "会员按归属门店计；新增会员不分订单渠道",
            "Members by home store; new members are not split by order channel",
        ),
        "overview.fig.ranking_channel_note": (
            "按会员入会渠道（不是订单渠道）",
            "By the member's join channel (not the order channel)",
        ),
        "overview.fig.this_week": ("本周", "This week"),
        "overview.fig.previous_week": ("上周", "Last week"),
        "overview.fig.year_ago": ("去年同期（{week}）", "A year ago ({week})"),
        "overview.fig.new_members": ("新增会员数", "New members"),
        "overview.fig.week_axis": ("周", "Week"),
    }
)


def kpi_table(result: WeeklyKPIs, *, lang: str = "zh") -> go.Figure:
    """The ranked KPI table (``result.ranked(lang)``) as a plotly Table; changes green up, red down.

    Columns: KPI, this week, vs last week, vs the mean of the weeks before, vs a year ago (the comparison
    week in the header; the holiday note below the title says whether it was aligned on a holiday).
    """
    _check(result, lang)
    table = result.ranked(lang)
    font_colors = [[FLAT_COLOR] * len(table), [FLAT_COLOR] * len(table), *change_colors(result)]
    fig = go.Figure(
        go.Table(
            header={
                "values": [f"<b>{c}</b>" for c in table.columns],
                "fill_color": HEADER_FILL,
                "align": ["left"] + ["right"] * (len(table.columns) - 1),
            },
            cells={
                "values": [table[c].tolist() for c in table.columns],
                "font": {"color": font_colors},
                "align": ["left"] + ["right"] * (len(table.columns) - 1),
                "height": TABLE_ROW_PX - 4,
            },
            columnwidth=[3, 1.2, 1.6, 1.6, 1.8],
        )
    )
    fig.update_layout(height=TABLE_MARGIN_PX + TABLE_ROW_PX * (len(table) + 1), width=TABLE_WIDTH_PX)
    title = i18n.t("overview.fig.table_title", lang, week=result.week)
    return theme.apply(fig, title=f"{title}<br><sub>{result.holiday_note[lang]}</sub>")


def kpi_trend(trend: pd.DataFrame, *, lang: str = "zh", kpis=DEFAULT_TREND_KPIS) -> go.Figure:
    """One small panel per KPI: its value per week (the frame of ``weekly_kpi_trend``)."""
    i18n.check_lang(lang)
    if not isinstance(trend, pd.DataFrame) or not set(TREND_COLUMNS) <= set(trend.columns):
        raise ParameterError(
            "expected the frame of weekly_kpi_trend(db, ...) with columns " + ", ".join(TREND_COLUMNS) + "."
        )
    kpis = (kpis,) if isinstance(kpis, str) else tuple(kpis)
    unknown = [k for k in kpis if k not in KPI_UNITS]
    if unknown or not kpis:
        raise ParameterError(choices_message("kpis", list(kpis), list(KPI_UNITS)))
    kpis = [k for k in kpis if k in set(trend["kpi"])]
    weeks = sorted(trend["week"].unique())
    title = i18n.t("overview.fig.trend_title", lang, n=len(weeks))
    if not kpis:
        return _no_data(title, lang)
    fig = make_subplots(
        rows=len(kpis), cols=1, shared_xaxes=True, subplot_titles=[kpi_label(k, lang) for k in kpis]
    )
    for i, kpi in enumerate(kpis, start=1):
        rows = trend[trend["kpi"] == kpi].sort_values("week_start")
        unit = KPI_UNITS[kpi]
        fig.add_trace(
            go.Scatter(
                x=rows["week"],
                y=rows["value"],
                mode="lines+markers",
                name=kpi_label(kpi, lang),
                line={"color": theme.COLORWAY[(i - 1) % len(theme.COLORWAY)]},
                hovertemplate=f"%{{x}}<br>{kpi_label(kpi, lang)}: %{{y:{_hover_format(unit)}}}<extra></extra>",
                showlegend=False,
            ),
            row=i,
            col=1,
        )
        if unit == "share":
            fig.update_yaxes(tickformat=".0%", row=i, col=1)
        fig.update_yaxes(rangemode="tozero", row=i, col=1)
    fig.update_xaxes(title_text=i18n.t("overview.fig.week_axis", lang), type="category", row=len(kpis), col=1)
    fig.update_layout(height=TABLE_MARGIN_PX + TREND_PANEL_PX * len(kpis))
    return theme.apply(fig, title=title)


def new_members_ranking(
    result: WeeklyKPIs, *, lang: str = "zh", by: str = "store", top: int = DEFAULT_TOP_STORES
) -> go.Figure:
    """New members this week by store or join channel (horizontal bars, best on top), with last week and a
    year ago (the holiday-aligned comparison week) as markers."""
    _check(result, lang)
    if by not in RANKING_BY:
        raise ParameterError(choices_message("by", by, RANKING_BY))
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ParameterError(f"top={top!r} is not valid; expected a whole number >= 1.")
    title = i18n.t(f"overview.fig.ranking_{by}", lang, week=result.week)
    if by == "store":
        frame = result.stores.head(top)
        labels = [store_label(r.store_id, r.store_name, r.city, lang) for r in frame.itertuples(index=False)]
    else:
        frame = result.channels
        labels = [i18n.value_label("join_channel", c, lang) for c in frame["join_channel"]]
    if frame.empty:
        return _no_data(title, lang)
    this = i18n.t("overview.fig.this_week", lang)
    new = i18n.t("overview.fig.new_members", lang)
    changes = [
        format_change(v, b, "members", lang)
        for v, b in zip(frame["new_members"], frame["previous_week"], strict=True)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=frame["new_members"],
            y=labels,
            orientation="h",
            name=this,
            marker={"color": theme.COLORWAY[0]},
            hovertemplate=f"%{{y}}<br>{this}: %{{x}}<extra></extra>",
        )
    )
    markers = (
        ("previous_week", i18n.t("overview.fig.previous_week", lang), "line-ns-open", theme.COLORWAY[1]),
        (
            "year_ago",
            i18n.t("overview.fig.year_ago", lang, week=result.params["yoy_week"]),
            "diamond-open",
            theme.COLORWAY[7],
        ),
    )
    for column, name, symbol, color in markers:
        fig.add_trace(
            go.Scatter(
                x=frame[column],
                y=labels,
                mode="markers",
                name=name,
                marker={"symbol": symbol, "size": 12, "color": color, "line": {"width": 2, "color": color}},
                hovertemplate=f"%{{y}}<br>{name}: %{{x}}<extra></extra>",
            )
        )
    # The value and its change to the right of the bar and of both markers, so that nothing overlaps it.
    ends = frame[["new_members", "previous_week", "year_ago"]].apply(pd.to_numeric).fillna(0).max(axis=1)
    top = max(float(ends.max()), 1.0)
    fig.add_trace(
        go.Scatter(
            x=ends + top * RANKING_TEXT_GAP,
            y=labels,
            mode="text",
            text=[
                f"{int(v)}（{c}）" if lang == "zh" else f"{int(v)} ({c})"
                for v, c in zip(frame["new_members"], changes, strict=True)
            ],  # fmt: skip
            textposition="middle right",
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title_text=new, range=[0, top * RANKING_TEXT_ROOM])
    fig.update_layout(
        height=BAR_MARGIN_PX + BAR_ROW_PX * len(frame),
        barmode="overlay",
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
    )
    note = i18n.t(f"overview.fig.ranking_{by}_note", lang)
    return theme.apply(fig, title=f"{title}<br><sub>{note}</sub>")


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, WeeklyKPIs):
        raise ParameterError(f"expected the result of wb.weekly_kpis(...); received {type(result).__name__}.")


def change_colors(result: WeeklyKPIs) -> list[list[str]]:
    """The colours of the changes in ``result.ranked()``, one list per change column (vs last week, vs the
    mean of the weeks before, vs a year ago), one colour per KPI row: UP_COLOR, DOWN_COLOR or FLAT_COLOR
    (a change that rounds to zero)."""
    k = result.kpis
    return [
        [_change_color(v, b, u) for v, b, u in zip(k["value"], base, k["unit"], strict=True)]
        for base in (k["previous_week"], k["mean_prev_4w"], k["year_ago"])
    ]


def _change_color(value, base, unit: str) -> str:
    """The colour of the change as shown: a change that rounds to zero (no arrow) is neutral."""
    text = format_change(value, base, unit, "en")
    return UP_COLOR if "▲" in text else (DOWN_COLOR if "▼" in text else FLAT_COLOR)


def _hover_format(unit: str) -> str:
    return ".1%" if unit == "share" else (",.1f" if unit == "currency" else ",.0f")


def _no_data(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=i18n.t("no_data", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=title)
