"""Figure of acquisition quality: members acquired against retention, with 95% intervals.

    q = wb.acquisition_quality(db, by="join_channel")
    acquisition_quality_chart(q, lang="zh")

A group far to the right brings many members; a group high up brings members who come back. Small groups
(fewer than ``min_members``) are drawn hollow. Nothing here computes a statistic.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench import i18n
from workbench.analyses.acquisition import EARLY_REVENUE_DAYS, RETENTION_WINDOW_DAYS, AcquisitionQuality
from workbench.analyses.cohorts import currency_label
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

MARKER_PX = 12

i18n.register(
    {
        "acquisition.fig.title": (
            "获客质量：人数与{h}天留存",
            "Acquisition quality: members and {h}-day retention",
        ),
        "acquisition.fig.subtitle": (
            "{start} 至 {end} 入会，截至 {as_of}；空心 = 样本少于 {n} 人",
            "joined {start} to {end}, as of {as_of}; hollow = fewer than {n} members",
        ),
        "acquisition.fig.members_axis": ("新会员数（对数刻度）", "Members acquired (log scale)"),
        "acquisition.fig.groups": ("分组", "Groups"),
        "acquisition.fig.small_groups": ("样本少的分组", "Small groups"),
        "acquisition.fig.revenue": (
            "前{days}天人均消费（{currency}）",
            "Revenue per member, first {days} days ({currency})",
        ),
    }
)


def acquisition_quality_chart(
    result: AcquisitionQuality, *, lang: str = "zh", horizon: int | None = None
) -> go.Figure:
    """Scatter of groups: x = members acquired (log), y = retention at ``horizon`` (default the longest) with
    its 95% Wilson interval as error bars; hover gives the early revenue per member and its interval."""
    i18n.check_lang(lang)
    if not isinstance(result, AcquisitionQuality):
        raise ParameterError(
            f"expected the result of wb.acquisition_quality(...); received {type(result).__name__}."
        )
    p = result.params
    horizon = p["horizons"][-1] if horizon is None else horizon
    if horizon not in p["horizons"]:
        raise ParameterError(choices_message("horizon", horizon, p["horizons"]))
    title = i18n.t("acquisition.fig.title", lang, h=horizon)
    subtitle = i18n.t(
        "acquisition.fig.subtitle",
        lang,
        start=p["joined_from"].isoformat(),
        end=p["joined_to"].isoformat(),
        as_of=p["as_of"].isoformat(),
        n=p["min_members"],
    )
    fig = go.Figure()
    table = result.table
    retention = i18n.t("acquisition.retention", lang, h=horizon, lo=horizon - RETENTION_WINDOW_DAYS + 1)
    revenue = i18n.t(
        "acquisition.fig.revenue", lang, days=EARLY_REVENUE_DAYS, currency=currency_label(p["currency"], lang)
    )
    members = i18n.t("acquisition.members", lang)
    col = f"retention_{horizon}d"
    for small, name in ((False, "acquisition.fig.groups"), (True, "acquisition.fig.small_groups")):
        rows = table[table["small"] == small]
        if rows.empty:
            continue
        labels = [result.group_label(r, lang) for _, r in rows.iterrows()]
        fig.add_trace(
            go.Scatter(
                x=rows["members"],
                y=rows[col],
                mode="markers+text",
                text=labels,
                textposition="top center",
                name=i18n.t(name, lang),
                marker={
                    "size": MARKER_PX,
                    "color": "rgba(0,0,0,0)" if small else theme.COLORWAY[0],
                    "line": {"width": 2, "color": theme.COLORWAY[0]},
                },
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": rows[f"{col}_ci_high"] - rows[col],
                    "arrayminus": rows[col] - rows[f"{col}_ci_low"],
                    "thickness": 1,
                },
                customdata=np.column_stack(
                    [
                        rows["quality_rank"],
                        rows["early_revenue_per_member"],
                        rows["early_revenue_ci_low"],
                        rows["early_revenue_ci_high"],
                        rows[f"{col}_ci_low"],
                        rows[f"{col}_ci_high"],
                    ]
                ),
                hovertemplate=(
                    f"%{{text}} (#%{{customdata[0]}})<br>{members}: %{{x:,}}<br>{retention}: %{{y:.1%}} "
                    f"[%{{customdata[4]:.1%}}, %{{customdata[5]:.1%}}]<br>{revenue}: %{{customdata[1]:,.1f}} "
                    f"[%{{customdata[2]:,.1f}}, %{{customdata[3]:,.1f}}]<extra></extra>"
                ),
            )
        )
    if table.empty:
        fig.add_annotation(
            text=i18n.t("acquisition.empty", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
        )
    fig.update_xaxes(title_text=i18n.t("acquisition.fig.members_axis", lang), type="log")
    fig.update_yaxes(title_text=retention, tickformat=".0%", rangemode="tozero")
    return theme.apply(fig, title=f"{title}<br><sub>{subtitle}</sub>")
