"""Figures of the acquisition funnel: one funnel, and the steps compared across channels or stores.

Each takes a :class:`~workbench.analyses.funnel.Funnel` and ``lang`` ('zh' or 'en'); nothing here computes a
statistic, it lays out ``steps``.

    f = wb.acquisition_funnel(db, by="join_channel")
    funnel_chart(f, lang="en")                  # all acquired members
    funnel_chart(f, lang="en", group="store_qr")
    funnel_by_group(f, lang="en")               # share of acquired per step, one bar group per channel
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench import i18n
from workbench.analyses.funnel import STEPS, TOTAL, Funnel
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

FUNNEL_MEASURES = ("share_of_acquired", "conversion_from_previous")
# Colour per step, from the brand red (joining) to the calmer blues of the later steps.
STEP_COLORS = dict(zip(STEPS, ("#C8102E", "#FF7F0E", "#2CA02C", "#1F77B4", "#9467BD"), strict=True))

i18n.register(
    {
        "funnel.fig.title": ("拉新漏斗", "Acquisition funnel"),
        "funnel.fig.by_group_title.share_of_acquired": (
            "各步骤占入会会员比例",
            "Share of acquired members by step",
        ),
        "funnel.fig.by_group_title.conversion_from_previous": (
            "各步骤较上一步的转化率",
            "Conversion from the previous step",
        ),
        "funnel.fig.measure.share_of_acquired": ("占入会比例", "Share of acquired"),
        "funnel.fig.measure.conversion_from_previous": ("上一步转化率", "Conversion from previous step"),
        "funnel.fig.window": (
            "{from_day} 至 {to_day} 入会，观察期 {window} 天，截至 {as_of}",
            "joined {from_day} to {to_day}, {window}-day window, as of {as_of}",
        ),
        "funnel.fig.by.join_channel": ("入会渠道", "Join channel"),
        "funnel.fig.by.join_store_id": ("入会门店", "Join store"),
        "funnel.fig.by.city": ("入会门店所在城市", "City of the join store"),
        "funnel.fig.revenue_per_acquired": ("人均营收（按入会）", "Revenue per acquired member"),
    }
)


def funnel_chart(result: Funnel, *, lang: str = "zh", group: str | None = None) -> go.Figure:
    """The funnel of one group (default: all acquired members): members per step, with the share of
    acquired and the conversion from the previous step on each bar; hover adds the 95% intervals."""
    _check(result, lang)
    title = i18n.t("funnel.fig.title", lang)
    if result.steps.empty:
        return _no_data(title, lang)
    group = _group(result, group)
    s = result.steps[result.steps["group"] == group].set_index("step").loc[list(STEPS)].reset_index()
    labels = [result.step_label(step, lang) for step in s["step"]]
    share_name = i18n.t("funnel.fig.measure.share_of_acquired", lang)
    conv_name = i18n.t("funnel.fig.measure.conversion_from_previous", lang)
    ci = i18n.t("ci95", lang)
    text = [
        f"{int(n):,} · {_pct(sh)}" + ("" if np.isnan(cv) or i == 1 else f" · {conv_name} {_pct(cv)}")
        for i, (n, sh, cv) in enumerate(
            zip(s["members"], s["share_of_acquired"], s["conversion_from_previous"], strict=True)
        )
    ]
    fig = go.Figure(
        go.Funnel(
            y=labels,
            x=s["members"].astype(int).tolist(),
            text=text,
            textinfo="text",
            marker={"color": [STEP_COLORS[step] for step in s["step"]]},
            customdata=s[["share_of_acquired", "ci_low", "ci_high", "conversion_from_previous"]].to_numpy(),
            hovertemplate=(
                f"%{{y}}<br>{i18n.t('members', lang)}: %{{x:,}}<br>{share_name}: %{{customdata[0]:.1%}} "
                f"({ci} %{{customdata[1]:.1%}}–%{{customdata[2]:.1%}})<br>{conv_name}: %{{customdata[3]:.1%}}"
                "<extra></extra>"
            ),
            name=result.group_label(group, lang),
        )
    )
    return theme.apply(fig, title=_title(title, result, lang, group))


def funnel_by_group(
    result: Funnel, *, lang: str = "zh", measure: str = "share_of_acquired", steps=None
) -> go.Figure:
    """Each step's ``measure`` ('share_of_acquired' or 'conversion_from_previous') per group of ``by``:
    grouped bars (groups on the x axis, one bar per step) with 95% Wilson intervals as error bars.

    ``steps``: the steps to show (default every step after 'acquired'). Without ``by`` the only group is
    'all'.
    """
    _check(result, lang)
    if measure not in FUNNEL_MEASURES:
        raise ParameterError(choices_message("measure", measure, FUNNEL_MEASURES))
    shown = list(STEPS[1:]) if steps is None else [steps] if isinstance(steps, str) else list(steps)
    bad = [s for s in shown if s not in STEPS]
    if bad or not shown:
        raise ParameterError(choices_message("steps", steps, STEPS))
    title = i18n.t(f"funnel.fig.by_group_title.{measure}", lang)
    if result.steps.empty:
        return _no_data(title, lang)
    p = result.params
    groups = [g for g in result.groups if g != TOTAL] or [TOTAL]
    low, high = (
        ("ci_low", "ci_high")
        if measure == "share_of_acquired"
        else ("conversion_ci_low", "conversion_ci_high")
    )
    measure_name = i18n.t(f"funnel.fig.measure.{measure}", lang)
    fig = go.Figure()
    for step in shown:
        s = result.steps[result.steps["step"] == step].set_index("group").loc[groups]
        names = [result.group_label(g, lang) for g in groups]
        fig.add_trace(
            go.Bar(
                x=names,
                y=s[measure],
                name=result.step_label(step, lang),
                marker={"color": STEP_COLORS[step]},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (s[high] - s[measure]).to_numpy(),
                    "arrayminus": (s[measure] - s[low]).to_numpy(),
                    "thickness": 1,
                },
                customdata=s[["members", low, high]].to_numpy(),
                hovertemplate=(
                    f"%{{x}}<br>{result.step_label(step, lang)}<br>{measure_name}: %{{y:.1%}} "
                    f"({i18n.t('ci95', lang)} %{{customdata[1]:.1%}}–%{{customdata[2]:.1%}})<br>"
                    f"{i18n.t('members', lang)}: %{{customdata[0]:,}}<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="group")
    by = p.get("by")
    fig.update_xaxes(title_text=i18n.t(f"funnel.fig.by.{by}", lang) if by else "", type="category")
    fig.update_yaxes(title_text=measure_name, tickformat=".0%", rangemode="tozero")
    return theme.apply(fig, title=_title(title, result, lang, None))


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, Funnel):
        raise ParameterError(
            f"expected the result of wb.acquisition_funnel(...); received {type(result).__name__}."
        )


def _group(result: Funnel, group) -> str:
    if group is None:
        return TOTAL
    if str(group) not in result.groups:
        raise ParameterError(choices_message("group", group, result.groups))
    return str(group)


def _title(title: str, result: Funnel, lang: str, group) -> str:
    p = result.params
    sub = i18n.t(
        "funnel.fig.window",
        lang,
        from_day=p["joined_from"].isoformat() if p["joined_from"] else "-",
        to_day=p["joined_to"].isoformat(),
        window=p["window_days"],
        as_of=p["as_of"].isoformat(),
    )
    if group is not None and group != TOTAL:
        sub = f"{result.group_label(group, lang)} · {sub}"
    return f"{title}<br><sub>{sub}</sub>"


def _pct(x) -> str:
    return "-" if np.isnan(x) else f"{x:.1%}"


def _no_data(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=i18n.t("no_data", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=title)
