"""Figures of cohort retention: a cohort x age heatmap, mean retention curves, the LTV curve.

Each takes a :class:`~workbench.analyses.cohorts.CohortRetention` and ``lang`` ('zh' or 'en') and returns a
plotly ``go.Figure``; nothing here computes a statistic, it only lays out the result's columns.

    ret = wb.cohort_retention(db, segment_by="join_channel")
    retention_heatmap(ret, lang="en")     # one panel per segment, cohort sizes in the row labels
    retention_curves(ret, lang="en")      # mean retention by age with 95% bands
    ltv_curve(ret, lang="en")             # cumulative revenue per member by age
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import i18n
from workbench.analyses.cohorts import CohortRetention, currency_label, segment_label
from workbench.data import calendar
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

HEATMAP_VALUES = ("retention", "unbounded_retention", "revenue_per_member")
# Beyond about 20 x 20 cells the numbers printed in cells overlap; larger heatmaps rely on hover.
MAX_CELLS_WITH_TEXT = 400
# Heatmap height: pixels per cohort row, plus room for the title, legend and axis labels.
ROW_HEIGHT_PX = 22
HEATMAP_MIN_HEIGHT_PX = 420
HEATMAP_MARGIN_PX = 160

i18n.register(
    {
        "cohorts.fig.heatmap.retention": ("同期群留存率", "Cohort retention"),
        "cohorts.fig.heatmap.unbounded_retention": (
            "同期群留存率（当期或之后任一期到店）",
            "Cohort retention (a visit in this period or later)",
        ),
        "cohorts.fig.heatmap.revenue_per_member": ("同期群人均营收", "Revenue per cohort member"),
        "cohorts.fig.value.retention": ("留存率", "Retention"),
        "cohorts.fig.value.unbounded_retention": ("当期或之后留存率", "Retention (this period or later)"),
        "cohorts.fig.value.revenue_per_member": ("人均营收（{currency}）", "Revenue per member ({currency})"),
        "cohorts.fig.curves_title": ("各期平均留存率", "Mean retention by age"),
        "cohorts.fig.ltv_title": ("人均累计营收（LTV）", "Cumulative revenue per member (LTV)"),
        "cohorts.fig.ltv_axis": ("人均累计营收（{currency}）", "Cumulative revenue per member ({currency})"),
        "cohorts.fig.cohort_axis": ("同期群（人数）", "Cohort (members)"),
        "cohorts.fig.active": ("到店会员", "Members who visited"),
        "cohorts.fig.cohorts": ("同期群数", "Cohorts"),
        "cohorts.fig.age.first_visit.day": ("距首次到店天数", "Days since first visit"),
        "cohorts.fig.age.first_visit.week": ("距首次到店周数", "Weeks since first visit"),
        "cohorts.fig.age.first_visit.month": ("距首次到店月数", "Months since first visit"),
        "cohorts.fig.age.join.day": ("距入会天数", "Days since joining"),
        "cohorts.fig.age.join.week": ("距入会周数", "Weeks since joining"),
        "cohorts.fig.age.join.month": ("距入会月数", "Months since joining"),
        "cohorts.fig.split_value": ("{split}：{value}", "{split}: {value}"),
        "cohorts.fig.split.vip": ("付费会员", "VIP"),
        "cohorts.fig.split.in_group": ("在社群中", "In a community group"),
        "cohorts.fig.split.price_sensitive": ("价格敏感", "Price sensitive"),
        "cohorts.fig.nobody": (
            "这些同期群中无会员的分组：{segments}",
            "No members in these cohorts: {segments}",
        ),
    }
)
# Splits whose values are yes / no: a legend entry names the split too ('付费会员：是', not just '是').
FLAG_SPLITS = ("vip", "in_group", "price_sensitive")


def split_value_label(segment_by, value, lang: str) -> str:
    """A segment's name in a legend or panel title: the value's label (门店扫码), or for a yes / no split
    the split and the value ('付费会员：是' / 'VIP: Yes')."""
    label = segment_label(segment_by, value, lang)
    if isinstance(segment_by, str) and segment_by in FLAG_SPLITS and str(value).lower() in ("true", "false"):
        split = i18n.t(f"cohorts.fig.split.{segment_by}", lang)
        return i18n.t("cohorts.fig.split_value", lang, split=split, value=label)
    return label


def retention_heatmap(
    result: CohortRetention, *, lang: str = "zh", value: str = "retention", segment: str | None = None
) -> go.Figure:
    """Cohorts (rows, oldest on top, size in the label) x age (columns), coloured by ``value``.

    ``value``: 'retention', 'unbounded_retention' or 'revenue_per_member'. One panel per segment, or only
    ``segment``; a segment with no member in these cohorts has no panel, and the subtitle names it. Cells
    not observable at as_of are gaps (NaN in ``z``); hover gives the 95% interval and the counts. The colour scale of retention tops at the highest value after age 0, because age 0 of
    first-visit cohorts is 1 by definition and would wash out every other cell.
    """
    _check(result, lang)
    if value not in HEATMAP_VALUES:
        raise ParameterError(choices_message("value", value, HEATMAP_VALUES))
    p = result.params
    currency = currency_label(p["currency"], lang)
    title = i18n.t(f"cohorts.fig.heatmap.{value}", lang)
    value_name = i18n.t(f"cohorts.fig.value.{value}", lang, currency=currency)
    segments = _segments(result, segment)
    # a segment with nobody in these cohorts would be an empty panel: left out, and named in the subtitle
    empty = _empty_segments(result) if segment is None else []
    segments = [s for s in segments if s not in empty]
    if not segments:
        return _no_data(title, lang)
    age_title = i18n.t(f"cohorts.fig.age.{p['cohort_by']}.{p['period']}", lang)
    fig = make_subplots(
        rows=len(segments),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(0.08, 0.3 / len(segments)),
        subplot_titles=[split_value_label(p["segment_by"], s, lang) for s in segments]
        if len(segments) > 1 or p.get("segment_by") is not None  # a split's panel says whose it is
        else None,
    )
    table = result.table
    n_rows = 0
    for row, seg in enumerate(segments, start=1):
        cells = table[table["segment"] == seg]
        grid = cells.pivot(index="cohort", columns="age", values=value).sort_index()
        sizes = cells.groupby("cohort")["cohort_size"].first().reindex(grid.index)
        labels = [
            f"{_cohort_label(c, p['period'])} ({int(n):,})" for c, n in zip(grid.index, sizes, strict=True)
        ]
        z = grid.to_numpy(dtype="float64")
        hover = _heatmap_hover(cells, grid, labels, value, value_name, age_title, currency, lang)
        show_text = z.size <= MAX_CELLS_WITH_TEXT
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=[int(a) for a in grid.columns],
                y=labels,
                coloraxis="coloraxis",
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
                hoverongaps=False,
                text=_cell_text(z, value) if show_text else None,
                texttemplate="%{text}" if show_text else None,
                name=split_value_label(p["segment_by"], seg, lang),
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", type="category", row=row, col=1)
        n_rows += len(labels)
    fig.update_xaxes(title_text=age_title, dtick=1, row=len(segments), col=1)
    fig.update_yaxes(title_text=i18n.t("cohorts.fig.cohort_axis", lang))
    fig.update_layout(
        coloraxis={
            "colorbar": {"title": {"text": value_name}},
            "cmin": 0,
            "cmax": _color_top(table[table["segment"].isin(segments)], value),
        },
        height=max(HEATMAP_MIN_HEIGHT_PX, HEATMAP_MARGIN_PX + ROW_HEIGHT_PX * n_rows),
    )
    if value != "revenue_per_member":
        fig.update_layout(coloraxis_colorbar_tickformat=".0%")
    return theme.apply(fig, title=_title(title, result, lang, note=_nobody_note(result, lang, empty)))


def retention_curves(result: CohortRetention, *, lang: str = "zh") -> go.Figure:
    """Mean retention by age per segment (``result.curve``), with the 95% interval as a band; the subtitle
    names the segments with no member in these cohorts (no curve)."""
    _check(result, lang)
    p = result.params
    title = i18n.t("cohorts.fig.curves_title", lang)
    curve = result.curve
    if curve.empty:
        return _no_data(title, lang)
    age_title = i18n.t(f"cohorts.fig.age.{p['cohort_by']}.{p['period']}", lang)
    retention = i18n.t("cohorts.fig.value.retention", lang)
    fig = go.Figure()
    for i, seg in enumerate(sorted(curve["segment"].unique())):
        c = curve[curve["segment"] == seg].sort_values("age")
        color = theme.COLORWAY[i % len(theme.COLORWAY)]
        name = split_value_label(p["segment_by"], seg, lang)
        ages = c["age"].astype(int).tolist()
        fig.add_trace(
            go.Scatter(
                x=ages + ages[::-1],
                y=c["ci_high"].tolist() + c["ci_low"].tolist()[::-1],
                fill="toself",
                fillcolor=theme.band_color(color),
                mode="lines",  # plotly's default for a few points adds markers: dots on the band's edges
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
                name=f"{name} {i18n.t('ci95', lang)}",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=ages,
                y=c["retention"],
                mode="lines+markers",
                line={"color": color},
                name=name,
                legendgroup=name,
                customdata=np.column_stack([c["ci_low"], c["ci_high"], c["cohorts"], c["members"]]),
                hovertemplate=(
                    f"{name}<br>{age_title}: %{{x}}<br>{retention}: %{{y:.1%}}<br>"
                    f"{i18n.t('ci95', lang)}: %{{customdata[0]:.1%}}–%{{customdata[1]:.1%}}<br>"
                    f"{i18n.t('cohorts.fig.cohorts', lang)}: %{{customdata[2]:,}}, "
                    f"{i18n.t('members', lang)}: %{{customdata[3]:,}}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text=age_title)
    fig.update_yaxes(title_text=retention, tickformat=".0%", rangemode="tozero")
    return theme.apply(fig, title=_title(title, result, lang, note=_nobody_note(result, lang)))


def ltv_curve(result: CohortRetention, *, lang: str = "zh") -> go.Figure:
    """Cumulative revenue per cohort member by age per segment (``result.curve``): the LTV curve."""
    _check(result, lang)
    p = result.params
    currency = currency_label(p["currency"], lang)
    title = i18n.t("cohorts.fig.ltv_title", lang)
    curve = result.curve
    if curve.empty:
        return _no_data(title, lang)
    age_title = i18n.t(f"cohorts.fig.age.{p['cohort_by']}.{p['period']}", lang)
    value_name = i18n.t("cohorts.fig.ltv_axis", lang, currency=currency)
    fig = go.Figure()
    for i, seg in enumerate(sorted(curve["segment"].unique())):
        c = curve[curve["segment"] == seg].sort_values("age")
        name = split_value_label(p["segment_by"], seg, lang)
        fig.add_trace(
            go.Scatter(
                x=c["age"].astype(int),
                y=c["cumulative_revenue_per_member"],
                mode="lines+markers",
                line={"color": theme.COLORWAY[i % len(theme.COLORWAY)]},
                name=name,
                customdata=np.column_stack([c["cohorts"], c["members"]]),
                hovertemplate=(
                    f"{name}<br>{age_title}: %{{x}}<br>{value_name}: %{{y:,.1f}}<br>"
                    f"{i18n.t('cohorts.fig.cohorts', lang)}: %{{customdata[0]:,}}, "
                    f"{i18n.t('members', lang)}: %{{customdata[1]:,}}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text=age_title)
    fig.update_yaxes(title_text=value_name, rangemode="tozero")
    return theme.apply(fig, title=_title(title, result, lang, note=_nobody_note(result, lang)))


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, CohortRetention):
        raise ParameterError(
            f"expected the result of wb.cohort_retention(...); received {type(result).__name__}."
        )


def _segments(result: CohortRetention, segment) -> list[str]:
    available = result.segments
    if segment is None:
        return available
    if str(segment) not in available:
        raise ParameterError(
            choices_message("segment", segment, available or ["(none: the result is empty)"])
        )
    return [str(segment)]


def _title(title: str, result: CohortRetention, lang: str, *, note: str = "") -> str:
    as_of = result.params["as_of"].isoformat()
    return f"{title}<br><sub>{i18n.t('as_of', lang)} {as_of}{' · ' + note if note else ''}</sub>"


def _empty_segments(result: CohortRetention) -> list[str]:
    """The split's segments without a member in the result's cohorts (cohort sizes summed at age 0 are 0),
    e.g. 'VIP: yes' over a few weekly cohorts of one city; the figures draw nothing for them."""
    if result.params.get("segment_by") is None:
        return []
    first = result.table[result.table["age"] == 0]
    sizes = first.groupby("segment")["cohort_size"].sum()
    return [s for s in result.segments if sizes.get(s, 0) == 0]


def _nobody_note(result: CohortRetention, lang: str, empty: list[str] | None = None) -> str:
    """'No members in these cohorts: <segments>' for the subtitle, so that a reader does not look for the
    ``empty`` segments (default: :func:`_empty_segments`); '' when there are none."""
    empty = _empty_segments(result) if empty is None else empty
    if not empty:
        return ""
    names = ("、" if lang == "zh" else ", ").join(
        split_value_label(result.params["segment_by"], s, lang) for s in empty
    )
    return i18n.t("cohorts.fig.nobody", lang, segments=names)


def _no_data(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=i18n.t("no_data", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=title)


def _cohort_label(cohort, period: str) -> str:
    day = pd.Timestamp(cohort).date()
    if period == "month":
        return day.strftime("%Y-%m")
    if period == "week":
        return calendar.iso_week_label(day)
    return day.isoformat()


def _color_top(cells: pd.DataFrame, value: str) -> float:
    """Top of the colour scale: the largest value shown (after age 0 for retention); 1 when there is none."""
    values = cells[value] if value == "revenue_per_member" else cells.loc[cells["age"] > 0, value]
    top = values.max(skipna=True)
    return float(top) if pd.notna(top) and top > 0 else 1.0


def _cell_text(z: np.ndarray, value: str) -> list[list[str]]:
    if value == "revenue_per_member":
        return [["" if np.isnan(v) else f"{v:,.0f}" for v in row] for row in z]
    return [["" if np.isnan(v) else f"{v:.0%}" for v in row] for row in z]


def _heatmap_hover(cells, grid, labels, value, value_name, age_title, currency, lang) -> np.ndarray:
    """One hover text per cell: cohort, age, the value, its 95% interval and the counts behind it."""
    label_of = dict(zip(grid.index, labels, strict=True))
    prefix = "unbounded_" if value == "unbounded_retention" else ""
    cohort_name, ci = i18n.t("cohort", lang), i18n.t("ci95", lang)
    active_name, size_name = i18n.t("cohorts.fig.active", lang), i18n.t("cohort_size", lang)
    revenue_name = i18n.t("revenue", lang)
    texts = []
    for label, age, v, low, high, active, revenue, size in zip(
        cells["cohort"].map(label_of).to_numpy(),
        cells["age"].to_numpy(),
        cells[value].to_numpy(dtype="float64"),
        cells[prefix + "ci_low"].to_numpy(),
        cells[prefix + "ci_high"].to_numpy(),
        cells[prefix + "active"].to_numpy(dtype="float64", na_value=np.nan),
        cells["revenue"].to_numpy(),
        cells["cohort_size"].to_numpy(),
        strict=True,
    ):
        if np.isnan(v):
            texts.append("")
            continue
        head = f"{cohort_name}: {label}<br>{age_title}: {age}<br>"
        if value == "revenue_per_member":
            body = f"{value_name}: {v:,.1f}<br>{revenue_name}: {revenue:,.0f} {currency}<br>{size_name}: {size:,}"
        else:
            body = f"{value_name}: {v:.1%}<br>{ci}: {low:.1%}–{high:.1%}<br>{active_name}: {active:,.0f} / {size:,}"
        texts.append(head + body)
    hover = cells.assign(_hover=texts).pivot(index="cohort", columns="age", values="_hover")
    return hover.reindex(index=grid.index, columns=grid.columns).fillna("").to_numpy()
