"""Figures of a campaign-lift result: lift with intervals, lift by segment, cumulative outcomes by arm.

Every figure of an observational campaign (no randomised control) carries that label in its title and a
note, so it is never read as causal. A point drawn without its interval is open and a note under the plot
says why; a row with no estimate at all (a segment with too few members) says so in its label.
"""

from __future__ import annotations

import plotly.graph_objects as go

from workbench import i18n
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

i18n.register(
    {
        "lift.title": ("活动增量：{name}", "Campaign lift: {name}"),
        "lift.by_segment": ("分群增量：{metric}", "Lift by segment: {metric}"),
        "lift.cumulative": ("累计{metric}（按组）", "Cumulative {metric} by arm"),
        "lift.relative": ("相对增量（实验组 / 对照组 − 1）", "Relative lift (treatment / control − 1)"),
        "lift.absolute": ("每位会员的增量", "Lift per member"),
        "lift.day": ("活动开始后天数", "Days since the campaign started"),
        "lift.raw": ("原始", "Raw"),
        "lift.cuped": ("CUPED 校正", "CUPED-adjusted"),
        "lift.metric.converted": ("到店转化率", "Conversion"),
        "lift.metric.visits": ("到店次数", "Visits"),
        "lift.metric.revenue": ("营收", "Revenue"),
        "lift.metric.margin": ("毛利", "Margin"),
        "lift.metric.visits_per_member": ("人均到店次数", "visits per member"),
        "lift.metric.revenue_per_member": ("人均营收", "revenue per member"),
        "lift.hover": (
            "{label}<br>增量 %{{x:.3f}}<br>95% 区间 %{{customdata[0]:.3f}} 至 %{{customdata[1]:.3f}}"
            "<br>p=%{{customdata[2]:.3g}}<extra></extra>",
            "{label}<br>lift %{{x:.3f}}<br>95% interval %{{customdata[0]:.3f}} to %{{customdata[1]:.3f}}"
            "<br>p=%{{customdata[2]:.3g}}<extra></extra>",
        ),
        "lift.hover_no_interval": (
            "{label}<br>增量 %{{x:.3f}}<br>无 95% 区间<extra></extra>",
            "{label}<br>lift %{{x:.3f}}<br>no 95% interval<extra></extra>",
        ),
        "lift.observational_estimate": ("观察性估计（无区间）", "Observational estimate (no interval)"),
        "lift.note.observational": (
            "观察性活动：没有随机对照组，相对增量只有点估计（空心点），没有可靠的 95% 区间；<br>"
            "每位会员绝对增量及其 95% 区间见“分群增量”图。",
            "Observational campaign: no randomised control, so the relative lift is a point estimate (open "
            "markers)<br>without a valid 95% interval; the lift per member with its 95% interval is in the "
            "lift-by-segment chart.",
        ),
        "lift.note.no_interval": (
            "空心点：样本太少，算不出 95% 区间。",
            "Open markers: too few members for a 95% interval.",
        ),
        "lift.too_few": (
            "{name}（样本不足：实验组 {treated} 人，对照组 {control} 人）",
            "{name} (too few members: {treated} treated, {control} control)",
        ),
        "lift.no_relative": (
            "{name}（对照组均值为 0，无相对增量）",
            "{name} (control mean is 0: no relative lift)",
        ),
        "lift.srm_warning": ("⚠ 分组比例异常（SRM）", "⚠ Sample ratio mismatch"),
        # A flag's two values read as a phrase, not as 'true' / 'false' (or a bare 是 / 否).
        "lift.flag.price_sensitive.true": ("价格敏感", "Price sensitive"),
        "lift.flag.price_sensitive.false": ("非价格敏感", "Not price sensitive"),
        "lift.flag.vip.true": ("付费会员", "VIP"),
        "lift.flag.vip.false": ("非付费会员", "Not VIP"),
        "lift.flag.in_group.true": ("在社群中", "In a community group"),
        "lift.flag.in_group.false": ("不在社群中", "Not in a group"),
    }
)

METRICS = ("converted", "visits", "revenue", "margin")
# Member flags whose segments are named by a phrase of their own (lift.flag.<flag>.true / .false).
FLAG_SEGMENTS = ("price_sensitive", "vip", "in_group")


def segment_name(result, value, lang: str = "zh") -> str:
    """Display name of a segment of ``result``: 'all' and 'unknown' in words, a flag's values as phrases
    (price_sensitive 'true' -> 价格敏感 / Price sensitive), an attribute's values by their labels
    (join_channel 'store_qr' -> 门店扫码), anything else as it is."""
    by = result.params.get("segment_by")
    text = str(value)
    if text in ("all", "unknown"):
        return i18n.value_label("segment", text, lang)
    if by in FLAG_SEGMENTS and text.lower() in ("true", "false"):
        return i18n.t(f"lift.flag.{by}.{text.lower()}", lang)
    return i18n.segment_label(by, text, lang)


def _title(result, key: str, lang: str, **fmt) -> str:
    title = i18n.t(key, lang, **fmt)
    if result.observational:
        title += f"<br><sup>{i18n.t('observational', lang)}</sup>"
    elif result.srm_mismatch:
        title += f"<br><sup>{i18n.t('lift.srm_warning', lang)}</sup>"
    return title


def lift_intervals(result, *, lang: str = "zh", segment: str = "all") -> go.Figure:
    """Relative lift of each metric with its 95% interval (raw, and CUPED-adjusted when randomised). A point
    without an interval (every point of an observational campaign) is open, with a note under the plot; a
    metric without an estimate keeps its row, labelled with the reason (:func:`missing_label`)."""
    rows = result.lift[result.lift.segment == segment].set_index("metric").reindex(list(METRICS))
    names = [i18n.t(f"lift.metric.{m}", lang) for m in METRICS]
    labels = [
        missing_label(n, r, "rel_lift", lang) for n, r in zip(names, rows.to_dict("records"), strict=True)
    ]
    fig = go.Figure()
    base = rows["control_mean"]
    open_ = _open_points(rows["rel_lift"], rows["rel_low"], rows["rel_high"])
    name = i18n.t("lift.observational_estimate" if result.observational else "lift.raw", lang)
    fig.add_trace(
        go.Scatter(
            x=rows["rel_lift"], y=labels, mode="markers", name=name,
            marker={"size": 11, "color": theme.COLORWAY[0], "symbol": _symbols(open_), "line": {"width": 2}},
            error_x={"type": "data", "symmetric": False, "array": rows["rel_high"] - rows["rel_lift"],
                     "arrayminus": rows["rel_lift"] - rows["rel_low"]},
            customdata=list(zip(rows["rel_low"], rows["rel_high"], rows["p_value"], strict=True)),
            hovertemplate=_hover(open_, "%{y}", lang), showlegend=True,
        )
    )  # fmt: skip
    if not result.observational:
        cuped_rel = rows["cuped_lift"] / base
        fig.add_trace(
            go.Scatter(
                x=cuped_rel, y=labels, mode="markers", name=i18n.t("lift.cuped", lang),
                marker={"size": 9, "symbol": "diamond", "color": theme.COLORWAY[1]},
                error_x={"type": "data", "symmetric": False, "array": rows["cuped_high"] / base - cuped_rel,
                         "arrayminus": cuped_rel - rows["cuped_low"] / base},
                customdata=list(zip(rows["cuped_low"] / base, rows["cuped_high"] / base, rows["p_value"],
                                    strict=True)),
                hovertemplate=i18n.t("lift.hover", lang, label="%{y} (CUPED)"),
            )
        )  # fmt: skip
    fig.add_vline(x=0, line={"color": "#888", "dash": "dot"})
    fig.update_xaxes(title=i18n.t("lift.relative", lang), tickformat="+.0%")
    if any(open_):
        _note(
            fig, i18n.t("lift.note.observational" if result.observational else "lift.note.no_interval", lang)
        )
    name = f"{result.campaign.name} ({result.campaign.campaign_id})"
    return theme.apply(fig, title=_title(result, "lift.title", lang, name=name))


def lift_by_segment(result, *, metric: str = "visits", lang: str = "zh") -> go.Figure:
    """Absolute lift per member of ``metric`` in each segment with its 95% interval; segments named by
    :func:`segment_name` (flags as phrases, attribute values by their labels). A segment without an
    estimate (too few members in an arm) keeps its row, labelled 样本不足 / too few members with the arms'
    sizes; a point without an interval is open, with a note under the plot."""
    if metric not in METRICS:
        raise ParameterError(choices_message("metric", metric, METRICS))
    i18n.check_lang(lang)
    rows = result.lift[result.lift.metric == metric]
    names = [
        missing_label(segment_name(result, r["segment"], lang), r, "abs_lift", lang)
        for r in rows.to_dict("records")
    ]
    open_ = _open_points(rows["abs_lift"], rows["abs_low"], rows["abs_high"])
    fig = go.Figure(
        go.Scatter(
            x=rows["abs_lift"], y=names, mode="markers",
            marker={"size": 11, "color": theme.COLORWAY[0], "symbol": _symbols(open_), "line": {"width": 2}},
            error_x={"type": "data", "symmetric": False, "array": rows["abs_high"] - rows["abs_lift"],
                     "arrayminus": rows["abs_lift"] - rows["abs_low"]},
            customdata=list(zip(rows["abs_low"], rows["abs_high"], rows["p_value"], strict=True)),
            hovertemplate=_hover(open_, "%{y}", lang), name=i18n.t("lift.absolute", lang),
        )
    )  # fmt: skip
    fig.add_vline(x=0, line={"color": "#888", "dash": "dot"})
    fig.update_xaxes(title=f"{i18n.t('lift.absolute', lang)} · {i18n.t(f'lift.metric.{metric}', lang)}")
    fig.update_yaxes(title=i18n.t("segment", lang), autorange="reversed")
    if any(open_):
        _note(fig, i18n.t("lift.note.no_interval", lang))
    return theme.apply(
        fig, title=_title(result, "lift.by_segment", lang, metric=i18n.t(f"lift.metric.{metric}", lang))
    )


def missing_label(name: str, row: dict, column: str, lang: str) -> str:
    """``name`` as it is when ``row[column]`` holds an estimate; else with the reason there is none: too few
    members (no absolute lift: an arm of the segment has fewer than two members) or, for a relative lift,
    a control mean of 0."""
    if _finite(row.get(column)):
        return name
    if not _finite(row.get("abs_lift")):
        treated, control = (int(row[c]) if _finite(row.get(c)) else 0 for c in ("n_treatment", "n_control"))
        return i18n.t("lift.too_few", lang, name=name, treated=treated, control=control)
    return i18n.t("lift.no_relative", lang, name=name)


# A note under a plot: its first line starts this far below the plot area (under the x-axis title).
NOTE_TOP_PX, NOTE_LINE_PX = 52, 18


def _note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(
        text=text, xref="paper", yref="paper", x=0, y=0, xanchor="left", yanchor="top", yshift=-NOTE_TOP_PX,
        showarrow=False, align="left", font={"size": 12, "color": "#555"},
    )  # fmt: skip
    fig.update_layout(margin={"b": NOTE_TOP_PX + NOTE_LINE_PX * (text.count("<br>") + 1) + 8})


def _finite(x) -> bool:
    return x is not None and x == x and abs(float(x)) != float("inf")


def _open_points(value, low, high) -> list[bool]:
    """True for a point drawn without its interval: an estimate whose low or high bound is missing."""
    return [_finite(v) and not (_finite(a) and _finite(b)) for v, a, b in zip(value, low, high, strict=True)]


def _symbols(open_: list[bool]) -> list[str]:
    return ["circle-open" if o else "circle" for o in open_]


def _hover(open_: list[bool], label: str, lang: str) -> list[str] | str:
    with_ci, without = (
        i18n.t("lift.hover", lang, label=label),
        i18n.t("lift.hover_no_interval", lang, label=label),
    )
    return [without if o else with_ci for o in open_] if any(open_) else with_ci  # one template for all


def cumulative_by_arm(result, *, metric: str = "visits_per_member", lang: str = "zh") -> go.Figure:
    """Cumulative visits (or revenue) per member by day since the campaign started, one line per arm."""
    fig = go.Figure()
    for i, (arm, g) in enumerate(result.cumulative.groupby("arm", sort=True)):
        fig.add_trace(
            go.Scatter(x=g["day"], y=g[metric], mode="lines", name=i18n.value_label("arm", arm, lang),
                       line={"color": theme.COLORWAY[i % len(theme.COLORWAY)], "width": 2.5},
                       showlegend=True)  # named even when alone (an observational campaign: treatment only)
        )  # fmt: skip
    label = i18n.t(f"lift.metric.{metric}", lang)
    fig.update_xaxes(title=i18n.t("lift.day", lang))
    fig.update_yaxes(title=label)
    return theme.apply(fig, title=_title(result, "lift.cumulative", lang, metric=label))
