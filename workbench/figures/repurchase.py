"""Figures of the repurchase cycle: interval lengths, time to return, medians by segment, groups before/after.

Each takes a :class:`~workbench.analyses.repurchase.RepurchaseCycle` and ``lang`` ('zh' or 'en') and returns a
plotly ``go.Figure``; nothing here computes a statistic, it only lays out the result's columns.

    cycle = wb.repurchase_cycle(db, segment_by="join_channel")
    interval_distribution(cycle, lang="en")   # completed intervals by length (descriptive)
    time_to_return(cycle, lang="en")          # Kaplan-Meier share returned by day, 95% bands, horizon marks
    cycle_by_segment(cycle, lang="en")        # KM median days to return per segment with 95% CI
    group_effect(cycle, lang="en")            # mean interval before / after joining a group, paired
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench import i18n
from workbench.analyses.repurchase import RepurchaseCycle
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme
from workbench.figures.cohorts import split_value_label

i18n.register(
    {
        "repurchase.fig.intervals_title": (
            "到店间隔分布（已完成的间隔，仅描述）",
            "Intervals between visits (completed intervals, descriptive)",
        ),
        "repurchase.fig.return_title": (
            "第{k}次到店后的回访（Kaplan-Meier）",
            "Return after visit {k} (Kaplan-Meier)",
        ),
        "repurchase.fig.cycle_title": (
            "回访中位天数（Kaplan-Meier）",
            "Median days to return (Kaplan-Meier)",
        ),
        "repurchase.fig.group_title": (
            "加入社群前后的平均到店间隔（同一会员）",
            "Mean interval before and after joining a community group (same members)",
        ),
        "repurchase.fig.interval_days": ("到店间隔（天）", "Interval between visits (days)"),
        "repurchase.fig.share_of_intervals": ("间隔占比", "Share of intervals"),
        "repurchase.fig.days_since_visit": ("距第{k}次到店天数", "Days since visit {k}"),
        "repurchase.fig.share_returned": ("已回访占比", "Share returned"),
        "repurchase.fig.at_risk": ("仍在观察", "Still followed"),
        "repurchase.fig.horizon": ("{h}天", "{h}d"),
        "repurchase.fig.median_axis": ("回访中位天数", "Median days to return"),
        "repurchase.fig.mean_interval_axis": ("平均到店间隔（天）", "Mean interval between visits (days)"),
        "repurchase.fig.before": ("入群前", "Before joining"),
        "repurchase.fig.after": ("入群后", "After joining"),
    }
)


def interval_distribution(
    result: RepurchaseCycle, *, lang: str = "zh", from_visit: int | None = None, max_days: int | None = None
) -> go.Figure:
    """Share of completed intervals by length in days, one line per segment (``result.interval_histogram``).

    ``from_visit``: only intervals k -> k+1 (default: every visit number the analysis followed). The x axis
    runs to ``max_days`` (default: the longest horizon); shares are of all completed intervals of the
    segment, so the part beyond the axis is the share of longer intervals. Descriptive only: members not
    back yet are not in it (``time_to_return`` accounts for them).
    """
    _check(result, lang)
    title = i18n.t("repurchase.fig.intervals_title", lang)
    hist = result.interval_histogram
    if from_visit is not None:
        hist = hist[hist["from_visit"] == _check_from_visit(result, from_visit)]
    if hist.empty:
        return _no_data(title, result, lang)
    top = int(max_days) if max_days is not None else max(result.params["horizons"])
    x_name = i18n.t("repurchase.fig.interval_days", lang)
    y_name = i18n.t("repurchase.fig.share_of_intervals", lang)
    count_name = i18n.t("repurchase.intervals_n", lang)
    fig = go.Figure()
    for i, seg in enumerate(_segments_in(hist)):
        by_day = hist[hist["segment"] == seg].groupby("days_bin")["intervals"].sum()
        share = by_day / by_day.sum()
        name = result.segment_label(seg, lang)
        fig.add_trace(
            go.Scatter(
                x=by_day.index.astype(int),
                y=share.to_numpy(),
                mode="lines",
                line={"color": _color(i), "shape": "hvh"},
                name=name,
                customdata=by_day.to_numpy(),
                hovertemplate=(
                    f"{name}<br>{x_name}: %{{x}}<br>{y_name}: %{{y:.1%}}<br>"
                    f"{count_name}: %{{customdata:,}}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text=x_name, range=[0, top + 0.5])
    fig.update_yaxes(title_text=y_name, tickformat=".0%", rangemode="tozero")
    return theme.apply(fig, title=_title(title, result, lang))


def time_to_return(result: RepurchaseCycle, *, lang: str = "zh", from_visit: int = 1) -> go.Figure:
    """Kaplan-Meier share returned by days since visit ``from_visit``, per segment, with 95% bands.

    Curves are steps (``result.returning``); markers at each horizon show the share returned within it
    with its interval and the members still followed (``result.within``); dotted lines mark the horizons.
    """
    _check(result, lang)
    k = _check_from_visit(result, from_visit)
    title = i18n.t("repurchase.fig.return_title", lang, k=k)
    curves = result.returning[result.returning["from_visit"] == k]
    if curves.empty:
        return _no_data(title, result, lang)
    within = result.within[result.within["from_visit"] == k]
    horizons = result.params["horizons"]
    x_name = i18n.t("repurchase.fig.days_since_visit", lang, k=k)
    y_name = i18n.t("repurchase.fig.share_returned", lang)
    ci, at_risk = i18n.t("ci95", lang), i18n.t("repurchase.fig.at_risk", lang)
    fig = go.Figure()
    for i, seg in enumerate(_segments_in(curves)):
        c = curves[curves["segment"] == seg].sort_values("day")
        color, name = _color(i), split_value_label(result.params.get("segment_by"), seg, lang)
        days = c["day"].astype(int).tolist()
        # The band: upper edge, then the lower edge filled up to it, both as steps like the curve.
        for band in theme.interval_band(
            days, c["ci_low"], c["ci_high"], color=color, name=name, label=f"{name} {ci}", shape="hv"
        ):
            fig.add_trace(band)
        fig.add_trace(
            go.Scatter(
                x=days,
                y=c["share_returned"],
                mode="lines",
                line={"color": color, "shape": "hv"},
                name=name,
                legendgroup=name,
                customdata=np.column_stack([c["ci_low"], c["ci_high"], c["at_risk"]]),
                hovertemplate=(
                    f"{name}<br>{x_name}: %{{x}}<br>{y_name}: %{{y:.1%}}<br>"
                    f"{ci}: %{{customdata[0]:.1%}}–%{{customdata[1]:.1%}}<br>"
                    f"{at_risk}: %{{customdata[2]:,}}<extra></extra>"
                ),
            )
        )
        w = within[(within["segment"] == seg) & within["share_returned"].notna()].sort_values("horizon_days")
        if not w.empty:
            fig.add_trace(
                go.Scatter(
                    x=w["horizon_days"].astype(int),
                    y=w["share_returned"],
                    mode="markers",
                    marker={"color": color, "size": 8},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": (w["ci_high"] - w["share_returned"]).to_numpy(),
                        "arrayminus": (w["share_returned"] - w["ci_low"]).to_numpy(),
                        "color": color,
                    },
                    name=name,
                    legendgroup=name,
                    showlegend=False,
                    customdata=np.column_stack([w["ci_low"], w["ci_high"], w["at_risk_start"], w["members"]]),
                    hovertemplate=(
                        f"{name}<br>{i18n.t('repurchase.within_h', lang, h='%{x}')}: %{{y:.1%}}<br>"
                        f"{ci}: %{{customdata[0]:.1%}}–%{{customdata[1]:.1%}}<br>"
                        f"{at_risk}: %{{customdata[2]:,}} / {i18n.t('members', lang)}: %{{customdata[3]:,}}"
                        "<extra></extra>"
                    ),
                )
            )
    for h in horizons:
        fig.add_vline(
            x=h,
            line={"dash": "dot", "width": 1, "color": "#999999"},
            annotation_text=i18n.t("repurchase.fig.horizon", lang, h=h),
            annotation_position="top",
        )
    fig.update_xaxes(title_text=x_name, range=[0, max(horizons) * 1.05])
    fig.update_yaxes(title_text=y_name, tickformat=".0%", range=[0, 1])
    return theme.apply(fig, title=_title(title, result, lang))


def cycle_by_segment(
    result: RepurchaseCycle, *, lang: str = "zh", from_visit: int | None = None
) -> go.Figure:
    """Kaplan-Meier median days to return per segment with its 95% interval, one series per visit number.

    ``from_visit``: only that visit number (default: all). A segment whose curve never reaches 50% has no
    marker (its median is NaN); an interval without an upper end (the band never reaches 50%) has no upper
    whisker. Hover gives the members followed and how many came back.
    """
    _check(result, lang)
    title = i18n.t("repurchase.fig.cycle_title", lang)
    med = result.medians
    if from_visit is not None:
        med = med[med["from_visit"] == _check_from_visit(result, from_visit)]
    if med.empty:
        return _no_data(title, result, lang)
    segments = _segments_in(med)
    labels = [result.segment_label(s, lang) for s in segments]
    y_name = i18n.t("repurchase.fig.median_axis", lang)
    ci = i18n.t("ci95", lang)
    fig = go.Figure()
    for i, k in enumerate(sorted(med["from_visit"].unique())):
        m = med[med["from_visit"] == k].set_index("segment").reindex(segments)
        step = i18n.t("repurchase.visit_step", lang, k=int(k), k1=int(k) + 1)
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=m["median_days"],
                mode="markers",
                marker={"color": _color(i), "size": 10},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (m["median_ci_high"] - m["median_days"]).to_numpy(),
                    "arrayminus": (m["median_days"] - m["median_ci_low"]).to_numpy(),
                    "color": _color(i),
                },
                name=step,
                customdata=np.column_stack(
                    [m["median_ci_low"], m["median_ci_high"], m["members"], m["returned"]]
                ),
                hovertemplate=(
                    f"%{{x}} · {step}<br>{y_name}: %{{y:.0f}}<br>{ci}: %{{customdata[0]:.0f}}–%{{customdata[1]:.0f}}<br>"
                    f"{i18n.t('repurchase.members', lang)}: %{{customdata[2]:,}}, "
                    f"{i18n.t('repurchase.returned', lang)}: %{{customdata[3]:,}}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text=i18n.t("segment", lang), type="category")
    fig.update_yaxes(title_text=y_name, rangemode="tozero")
    return theme.apply(fig, title=_title(title, result, lang))


def group_effect(result: RepurchaseCycle, *, lang: str = "zh") -> go.Figure:
    """Mean interval before and after joining a community group per segment (same members), as bars.

    The after bar is labelled with the cycle factor (geometric mean ratio after/before) and its 95%
    interval; hover adds the paired difference with its interval, the p-value and the members compared.
    Without a ``group_members`` table, or without a member to compare, the figure says so.
    """
    _check(result, lang)
    title = i18n.t("repurchase.fig.group_title", lang)
    g = result.group_effect
    if g.empty:
        key = "repurchase.group_empty" if result.params.get("group_table") else "repurchase.group_absent"
        return _no_data(title, result, lang, message=i18n.t(key, lang))
    labels = [result.segment_label(s, lang) for s in g["segment"]]
    y_name = i18n.t("repurchase.fig.mean_interval_axis", lang)
    detail = np.column_stack(
        [
            g["members"],
            g["diff_days"],
            g["diff_ci_low"],
            g["diff_ci_high"],
            g["ratio"],
            g["ratio_ci_low"],
            g["ratio_ci_high"],
            g["p_value"],
        ]
    )
    hover = (
        f"%{{x}} · %{{fullData.name}}<br>{y_name}: %{{y:.1f}}<br>"
        f"{i18n.t('repurchase.members', lang)}: %{{customdata[0]:,}}<br>"
        f"{i18n.t('repurchase.diff_days', lang)}: %{{customdata[1]:.1f}} "
        f"[%{{customdata[2]:.1f}}, %{{customdata[3]:.1f}}]<br>"
        f"{i18n.t('repurchase.ratio', lang)}: %{{customdata[4]:.2f}} [%{{customdata[5]:.2f}}, %{{customdata[6]:.2f}}]<br>"
        f"{i18n.t('repurchase.p_value', lang)}: %{{customdata[7]:.3f}}<extra></extra>"
    )
    ratio_text = [
        "" if pd.isna(r) else f"×{r:.2f} [{_num(lo)}, {_num(hi)}]"
        for r, lo, hi in zip(g["ratio"], g["ratio_ci_low"], g["ratio_ci_high"], strict=True)
    ]
    fig = go.Figure()
    for i, (column, key, text) in enumerate(
        (
            ("mean_before_days", "repurchase.fig.before", None),
            ("mean_after_days", "repurchase.fig.after", ratio_text),
        )
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=g[column],
                name=i18n.t(key, lang),
                marker={"color": theme.COLORWAY[7] if i == 0 else theme.COLORWAY[0]},
                text=text,
                textposition="outside" if text else None,
                customdata=detail,
                hovertemplate=hover,
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=i18n.t("segment", lang), type="category")
    fig.update_yaxes(title_text=y_name, rangemode="tozero")
    return theme.apply(fig, title=_title(title, result, lang, note=i18n.t("observational", lang)))


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, RepurchaseCycle):
        raise ParameterError(
            f"expected the result of wb.repurchase_cycle(...); received {type(result).__name__}."
        )


def _check_from_visit(result: RepurchaseCycle, from_visit) -> int:
    valid = list(range(1, result.params["max_visit_number"] + 1))
    if isinstance(from_visit, bool) or from_visit not in valid:
        raise ParameterError(choices_message("from_visit", from_visit, valid))
    return int(from_visit)


def _segments_in(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["segment"].unique())


def _color(i: int) -> str:
    return theme.COLORWAY[i % len(theme.COLORWAY)]


def _num(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.2f}"


def _title(title: str, result: RepurchaseCycle, lang: str, *, note: str | None = None) -> str:
    sub = f"{i18n.t('as_of', lang)} {result.as_of.isoformat()}" + (f" · {note}" if note else "")
    return f"{title}<br><sub>{sub}</sub>"


def _no_data(title: str, result: RepurchaseCycle, lang: str, *, message: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message or i18n.t("no_data", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=_title(title, result, lang))
