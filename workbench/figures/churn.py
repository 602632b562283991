"""Figures of churn: Kaplan-Meier curves with an at-risk table, a hazard-ratio forest plot, the wake-up list.

Each takes a result of :mod:`workbench.analyses.churn` and ``lang`` ('zh' or 'en') and returns a plotly
``go.Figure``; nothing here computes a statistic, it only lays out the result's columns.

    surv = churn_survival(db, segment_by="link_mode")
    survival_curves(surv, lang="en")        # share not churned by days since the first visit, 95% bands
    hazard_ratios(churn_drivers(db), lang="en")   # forest plot, log scale, reference levels at 1
    wake_up_table(wake_up_list(db), lang="en")    # the list as a table, best to wake first
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import i18n
from workbench.analyses.churn import (
    NUMERIC_COVARIATES,
    ChurnDrivers,
    ChurnSurvival,
    covariate_label,
    level_label,
    segment_label,
)
from workbench.analyses.wake_up import COLUMNS as WAKE_UP_COLUMNS
from workbench.analyses.wake_up import MEMBER_KEY_COLUMN
from workbench.errors import ParameterError
from workbench.figures import theme

# Rows a wake-up table shows by default: a store team works down a list of a few hundred at most, and a
# browser table of thousands of rows is slow to draw.
WAKE_UP_TABLE_ROWS = 200
WAKE_UP_TABLE_COLUMNS = (
    "rank",
    "member_id",
    "city",
    "home_store_id",
    "last_day",
    "days_since_last",
    "own_cycle_days",
    "overdue_ratio",
    "visits",
    "avg_ticket",
    "p_active",
    "expected_value",
)
# The wake-up table is as tall as its rows (a header of up to three lines, as the English one wraps; one
# line per row), so that every row it says it shows is on the page without scrolling.
TABLE_HEADER_PX, TABLE_ROW_PX, TABLE_MARGIN_PX = 76, 24, 130
# Relative column widths of the wake-up table: a member key (18 characters) and a store's name need room,
# a rank or a visit count little.
TABLE_COLUMN_WIDTHS = {
    "rank": 0.5,
    MEMBER_KEY_COLUMN: 1.8,
    "home_store_name": 1.3,
    "city": 0.6,
    "visits": 0.7,
}
# Row height of the forest plot (pixels per level) and the space around the rows.
FOREST_ROW_PX, FOREST_MARGIN_PX = 28, 160
REFERENCE_COLOR = "#7F7F7F"
# Survival figure: the curves' panel, one line of the at-risk table per segment, and the band between
# them that holds the curves' day axis (tick labels and title) and the table's heading.
CURVES_PX, AT_RISK_LINE_PX, AXIS_BAND_PX, SURVIVAL_MARGIN_PX = 360, 22, 95, 150
# Log-axis ticks of the forest plot: round ratios; the finer ones only when the axis spans little.
HR_TICKS = (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10)
HR_FINE_TICKS = (0.4, 0.6, 0.8, 0.9, 1.25)
HR_FINE_SPAN = 4  # high / low below this: add the finer ticks
# Space under the forest plot for the axis title and the † note.
HR_NOTE_MARGIN_PX = 95

i18n.register(
    {
        "churn.fig.survival_title": (
            "未流失会员占比（截至 {as_of}；连续 {threshold} 天未到店即流失）",
            "Share of members not churned (as of {as_of}; churned after {threshold} days without a visit)",
        ),
        "churn.fig.days_since_first": ("首次到店后天数", "Days since first visit"),
        "churn.fig.not_churned": ("未流失占比", "Share not churned"),
        "churn.fig.at_risk": ("观察中人数", "Members at risk"),
        "churn.fig.churned": ("已流失", "Churned"),
        "churn.fig.threshold": ("T={threshold} 天：此前不会判定流失", "T={threshold} days: no churn before"),
        "churn.fig.hr_title": (
            "流失风险比（Cox 模型，截至 {as_of}；{members} 名会员）",
            "Churn hazard ratios (Cox model, as of {as_of}; {members} members)",
        ),
        "churn.fig.hazard_ratio": (
            "风险比（对数刻度；< 1 流失更慢）",
            "Hazard ratio (log scale; < 1 churns slower)",
        ),
        "churn.fig.reference": ("参照组", "reference"),
        "churn.fig.p_value": ("p 值", "p-value"),
        "churn.fig.changes_over_time": (
            "† 作用随时间变化（见比例风险检验）",
            "† effect changes over time (see the proportional-hazards check)",
        ),
        "churn.fig.wake_title": (
            "待唤醒会员（截至 {as_of}，按唤醒预期价值排序）",
            "Members to wake up (as of {as_of}, by expected value)",
        ),
        "churn.fig.wake_title_plain": (
            "待唤醒会员（按唤醒预期价值排序）",
            "Members to wake up (by expected value)",
        ),
        "churn.fig.rows_shown": ("显示前 {shown} 名，共 {total} 名", "first {shown} of {total}"),
    }
)


def survival_curves(result: ChurnSurvival, *, lang: str = "zh", show_ci: bool = True) -> go.Figure:
    """Kaplan-Meier share not churned by days since the first visit, one step curve per segment.

    Top: the curves (``result.curves``) with their 95% bands and a dotted line at T (nobody can churn
    earlier), the day axis under them. Bottom, below that axis as in a printed Kaplan-Meier figure: the
    at-risk table (``result.at_risk_table``): members still followed at each mark, one line per segment,
    in the segment's colour, under the mark's tick.
    """
    i18n.check_lang(lang)
    p = result.params
    title = i18n.t(
        "churn.fig.survival_title", lang, as_of=_day_text(p), threshold=p.get("threshold_days", "-")
    )
    if result.curves.empty:
        return _no_data(title, lang)
    x_name = i18n.t("churn.fig.days_since_first", lang)
    y_name = i18n.t("churn.fig.not_churned", lang)
    risk_name = i18n.t("churn.fig.at_risk", lang)
    churned_name = i18n.t("churn.fig.churned", lang)
    ci = i18n.t("ci95", lang)
    segments = result.segments
    table_px = AT_RISK_LINE_PX * max(len(segments), 1)
    plot_px = CURVES_PX + AXIS_BAND_PX + table_px
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[CURVES_PX, table_px],
        vertical_spacing=AXIS_BAND_PX / plot_px,
    )
    fig.update_layout(height=plot_px + SURVIVAL_MARGIN_PX)
    labels = _segment_names(p.get("segment_by"), segments, lang)
    for i, seg in enumerate(segments):
        c = result.curves[result.curves["segment"] == seg].sort_values("day")
        color, name = _color(i), labels[seg]
        days = c["day"].astype(int).tolist()
        if show_ci:
            for band in theme.interval_band(
                days, c["ci_low"], c["ci_high"], color=color, name=name, label=f"{name} {ci}", shape="hv"
            ):
                fig.add_trace(band, row=1, col=1)
        fig.add_trace(
            go.Scatter(
                x=days,
                y=c["survival"],
                mode="lines",
                line={"color": color, "shape": "hv", "width": 2},
                name=name,
                legendgroup=name,
                customdata=c[["ci_low", "ci_high", "at_risk", "churned"]].to_numpy(),
                hovertemplate=(
                    f"{name}<br>{x_name}: %{{x}}<br>{y_name}: %{{y:.1%}}<br>"
                    f"{ci}: %{{customdata[0]:.1%}} – %{{customdata[1]:.1%}}<br>"
                    f"{risk_name}: %{{customdata[2]:,}}<br>{churned_name}: %{{customdata[3]:,}}<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
        table = result.at_risk_table[result.at_risk_table["segment"] == seg].sort_values("day")
        fig.add_trace(
            go.Scatter(
                x=table["day"].astype(int).tolist(),
                y=[name] * len(table),
                mode="text",
                text=[f"{int(n):,}" for n in table["at_risk"]],
                textfont={"color": color},
                showlegend=False,
                legendgroup=name,
                name=f"{name} {risk_name}",
                hovertemplate=f"{name}<br>{x_name}: %{{x}}<br>{risk_name}: %{{text}}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    split = p.get("segment_by")
    if (
        isinstance(split, str)
        and split != "custom"
        and len(segments) > 1
        and labels[segments[0]] == segment_label(split, segments[0], lang)
    ):
        fig.update_layout(legend_title_text=covariate_label(split, lang) + ("：" if lang == "zh" else ": "))
    threshold = p.get("threshold_days")
    if threshold is not None:
        _mark_threshold(fig, int(threshold), lang)
    marks = [int(m) for m in (p.get("marks") or result.at_risk_table["day"].unique())]
    right = max([*marks, 1])
    span = [-0.02 * right, right * 1.04]
    fig.update_xaxes(
        title_text=x_name, tickvals=marks, showticklabels=True, range=span, title_standoff=6, row=1, col=1
    )
    fig.update_xaxes(range=span, visible=False, row=2, col=1)
    fig.update_yaxes(title_text=y_name, tickformat=".0%", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=[labels[s] for s in segments][::-1],
        tickmode="array",
        tickvals=[labels[s] for s in segments],  # every line named, never thinned
        range=[-0.5, len(segments) - 0.5],
        showgrid=False,
        zeroline=False,
        ticks="outside",  # an invisible tick keeps the names off the day-0 numbers
        ticklen=14,
        tickcolor="rgba(0,0,0,0)",
        row=2,
        col=1,
    )
    # The table's heading, just above its first line.
    fig.add_annotation(
        text=f"<b>{risk_name}</b>",
        xref="paper",
        yref="y2 domain",
        x=0,
        y=1,
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font={"size": 12},
    )
    return theme.apply(fig, title=title)


def _mark_threshold(fig: go.Figure, threshold: int, lang: str) -> None:
    """A dotted line at T on the curves: nobody can count as churned earlier."""
    fig.add_vline(x=threshold, line={"dash": "dot", "color": REFERENCE_COLOR, "width": 1}, row=1, col=1)
    fig.add_annotation(
        x=threshold,
        y=0.02,
        xref="x",
        yref="y",
        text=i18n.t("churn.fig.threshold", lang, threshold=threshold),
        showarrow=False,
        xanchor="left",
        yanchor="bottom",
        font={"size": 11, "color": REFERENCE_COLOR},
    )


def hazard_ratios(drivers: ChurnDrivers, *, lang: str = "zh") -> go.Figure:
    """Forest plot of ``drivers.hazard_ratios``: one row per level, hazard ratio with its 95% interval on
    a log axis, reference levels as open grey markers at 1. Levels whose effect changes over time
    (``drivers.ph_check`` violated) are marked † with a note under the plot."""
    i18n.check_lang(lang)
    p = drivers.params
    title = i18n.t("churn.fig.hr_title", lang, as_of=_day_text(p), members=f"{drivers.members:,}")
    hr = drivers.hazard_ratios
    if hr.empty:
        return _no_data(title, lang)
    violated = set()
    if not drivers.ph_check.empty:
        bad = drivers.ph_check[drivers.ph_check["violated"]]
        violated = set(zip(bad["covariate"], bad["level"], strict=True))
    reference_word = i18n.t("churn.fig.reference", lang)
    labels = []
    for _, r in hr.iterrows():
        if r["covariate"] in NUMERIC_COVARIATES:
            label = covariate_label(r["covariate"], lang)
        else:
            label = level_label(r["covariate"], r["level"], lang, with_covariate=True)
        if r["level"] == r["reference"] and r["covariate"] not in NUMERIC_COVARIATES:
            label = f"{label}（{reference_word}）" if lang == "zh" else f"{label} ({reference_word})"
        if (r["covariate"], r["level"]) in violated:
            label += " †"
        labels.append(label)
    frame = hr.assign(label=labels)
    is_ref = (frame["level"] == frame["reference"]) & ~frame["covariate"].isin(NUMERIC_COVARIATES)
    est, ref = frame[~is_ref], frame[is_ref]
    x_name = i18n.t("churn.fig.hazard_ratio", lang)
    ci, p_name, members = i18n.t("ci95", lang), i18n.t("churn.fig.p_value", lang), i18n.t("members", lang)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=est["hazard_ratio"],
            y=est["label"],
            mode="markers",
            marker={"color": _color(0), "size": 9, "symbol": "square"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (est["ci_high"] - est["hazard_ratio"]).to_numpy(),
                "arrayminus": (est["hazard_ratio"] - est["ci_low"]).to_numpy(),
                "color": _color(0),
                "thickness": 1.5,
                "width": 4,
            },
            customdata=est[["ci_low", "ci_high", "p_value", "members"]].to_numpy(),
            name=i18n.t("churn.fig.hazard_ratio", lang),
            showlegend=False,
            hovertemplate=(
                f"%{{y}}<br>{x_name}: %{{x:.2f}}<br>{ci}: %{{customdata[0]:.2f}} – %{{customdata[1]:.2f}}<br>"
                f"{p_name}: %{{customdata[2]:.3g}}<br>{members}: %{{customdata[3]:,}}<extra></extra>"
            ),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[1.0] * len(ref),
            y=ref["label"],
            mode="markers",
            marker={"color": REFERENCE_COLOR, "size": 9, "symbol": "square-open"},
            customdata=ref[["members"]].to_numpy(),
            name=reference_word,
            showlegend=False,
            hovertemplate=f"%{{y}}<br>{x_name}: 1<br>{members}: %{{customdata[0]:,}}<extra></extra>",
        )
    )
    fig.add_vline(x=1.0, line={"dash": "dot", "color": REFERENCE_COLOR, "width": 1})
    low = float(pd.concat([est["ci_low"], est["hazard_ratio"]]).min(skipna=True)) if len(est) else 1.0
    high = float(pd.concat([est["ci_high"], est["hazard_ratio"]]).max(skipna=True)) if len(est) else 1.0
    low, high = min(low, 1.0) / 1.15, max(high, 1.0) * 1.15
    ticks = sorted(HR_TICKS + (HR_FINE_TICKS if high / low < HR_FINE_SPAN else ()))
    ticks = [v for v in ticks if low <= v <= high]
    fig.update_xaxes(
        title_text=x_name,
        type="log",
        range=[math.log10(low), math.log10(high)],
        tickvals=ticks,
        ticktext=[f"{v:g}" for v in ticks],
    )
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed", automargin=True)
    fig.update_layout(height=FOREST_MARGIN_PX + FOREST_ROW_PX * len(labels))
    if violated:
        fig.add_annotation(
            text=i18n.t("churn.fig.changes_over_time", lang),
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            yshift=-62,
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font={"size": 11, "color": REFERENCE_COLOR},
        )
        fig.update_layout(margin={"b": HR_NOTE_MARGIN_PX})
    return theme.apply(fig, title=title)


def wake_up_table(df: pd.DataFrame, *, lang: str = "zh", max_rows: int = WAKE_UP_TABLE_ROWS) -> go.Figure:
    """The wake-up list (:func:`workbench.analyses.wake_up.wake_up_list`) as a table, first ``max_rows`` rows.

    Columns: WAKE_UP_TABLE_COLUMNS that the frame has; ``member_key`` (a keyed hash, see
    :func:`workbench.analyses.wake_up.member_key`) in place of ``member_id`` when the frame has it (as the
    dashboard's :func:`~workbench.analyses.wake_up.wake_up_export_frame` does), and ``home_store_name`` in
    place of ``home_store_id`` likewise; any other column, such as a phone hash someone joined in, is not
    shown. Money with two decimals, p_active as a percentage. The figure is as tall as its rows.
    """
    i18n.check_lang(lang)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ParameterError(f"max_rows={max_rows!r} is not valid; expected a whole number of rows >= 1.")
    as_of = df.attrs.get("as_of")
    title = (
        i18n.t("churn.fig.wake_title", lang, as_of=as_of.isoformat())
        if as_of is not None
        else i18n.t("churn.fig.wake_title_plain", lang)
    )
    if len(df) > max_rows:
        title += " · " + i18n.t("churn.fig.rows_shown", lang, shown=f"{max_rows:,}", total=f"{len(df):,}")
    allowed = {*WAKE_UP_COLUMNS, MEMBER_KEY_COLUMN, "home_store_name"}
    swap = {"member_id": MEMBER_KEY_COLUMN, "home_store_id": "home_store_name"}
    columns = [swap[c] if swap.get(c) in df.columns else c for c in WAKE_UP_TABLE_COLUMNS]
    columns = [c for c in columns if c in df.columns and c in allowed]
    shown = df.head(max_rows)
    header = [i18n.t(f"wake_up.column.{_HEADER.get(c, c)}", lang) for c in columns]
    cells = [_format_column(shown[c], c) for c in columns]
    fig = go.Figure(
        go.Table(
            header={"values": header, "align": "left", "fill": {"color": "#F2F2F2"}},
            cells={
                "values": cells,
                "align": ["right" if _numeric(c) else "left" for c in columns],
                "height": TABLE_ROW_PX,
            },
            columnwidth=[TABLE_COLUMN_WIDTHS.get(c, 1.0) for c in columns],
        )
    )
    fig.update_layout(height=TABLE_MARGIN_PX + TABLE_HEADER_PX + TABLE_ROW_PX * max(len(shown), 1))
    if shown.empty:
        fig.add_annotation(
            text=i18n.t("no_data", lang), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
    return theme.apply(fig, title=title)


# The page's header of a swapped-in column: the store's name goes under 归属门店 / Home store.
_HEADER = {"home_store_name": "home_store_id"}


# -- helpers -----------------------------------------------------------------------------------------------


def _format_column(values: pd.Series, column: str) -> list[str]:
    if column == "last_day":
        return [pd.Timestamp(v).strftime("%Y-%m-%d") if pd.notna(v) else "" for v in values]
    if column in ("avg_ticket", "expected_value"):
        return [f"{v:,.2f}" for v in values]
    if column == "p_active":
        return [f"{v:.0%}" for v in values]
    if column in ("own_cycle_days", "overdue_ratio"):
        return [f"{v:.1f}" for v in values]
    if column in ("rank", "days_since_last", "visits"):
        return [f"{int(v):,}" for v in values]
    return [str(v) for v in values]


def _numeric(column: str) -> bool:
    return column not in (
        "member_id",
        MEMBER_KEY_COLUMN,
        "city",
        "home_store_id",
        "home_store_name",
        "last_day",
    )


def _segment_names(segment_by, segments, lang: str) -> dict:
    """Legend names of the curves: a yes/no split names itself ('付费会员：是', 'VIP: Yes', so that a legend
    of 是 / 否 never leaves the reader guessing which split it is); other splits name the value."""
    flags = {str(s).lower() for s in segments} <= {"true", "false"}
    if isinstance(segment_by, str) and segment_by != "custom" and flags:
        return {seg: level_label(segment_by, seg, lang, with_covariate=True) for seg in segments}
    return {seg: segment_label(segment_by, seg, lang) for seg in segments}


def _day_text(params: dict) -> str:
    day = params.get("as_of")
    return day.isoformat() if day is not None else "-"


def _color(i: int) -> str:
    return theme.COLORWAY[i % len(theme.COLORWAY)]


def _no_data(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=i18n.t("no_data", lang), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=title)
