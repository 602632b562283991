"""Figures of community groups, link modes and touch response.

Each takes an analysis result and ``lang`` ('zh' or 'en') and returns a plotly ``go.Figure``; nothing here
computes a statistic, it lays out the result's columns (the fitted line of ``leave_rate_by_intensity`` is
the regression's own intercept and slope).

    group_table(wb.group_overview(db), lang="en")
    leave_rate_by_intensity(wb.messaging_and_leaving(db), lang="en")
    group_trend(overview, lang="en", group_id="G00001")
    link_mode_chart(wb.link_mode_quality(db), lang="en")
    touch_response_chart(wb.touch_response(db), lang="en")
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import i18n
from workbench.analyses.groups import PER_MEMBER_DAYS, GroupOverview, MessagingAndLeaving
from workbench.analyses.link_modes import LinkModeQuality
from workbench.analyses.touches import TouchResponse
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

# Points of the fitted line across the observed intensity range.
FIT_LINE_POINTS = 50

i18n.register(
    {
        "groups.fig.table_title": ("社群概览", "Community groups"),
        "groups.fig.col.group": ("社群", "Group"),
        "groups.fig.col.kind": ("类型", "Kind"),
        "groups.fig.col.store": ("门店", "Store"),
        "groups.fig.col.members_now": ("当前成员", "Members now"),
        "groups.fig.col.vip_share": ("会员占比", "VIP share"),
        "groups.fig.col.hf_share": ("高频占比", "High-frequency share"),
        "groups.fig.col.revenue": ("群成员营收（{currency}）", "Revenue in group ({currency})"),
        "groups.fig.col.messages_per_day": ("日均消息", "Messages per day"),
        "groups.fig.col.leaves": ("退群人次", "Leaves"),
        "groups.fig.col.leave_rate": ("每百人日退群", "Leaves per 100 member-days"),
        "groups.fig.window": ("近 {days} 天", "last {days} days"),
        "groups.fig.leave_title": ("消息强度与退群率", "Messaging intensity and leaving"),
        "groups.fig.leave_x": ("每人每日收到消息数", "Messages received per member per day"),
        "groups.fig.leave_y": ("每百人日退群", "Leaves per 100 member-days"),
        "groups.fig.observed": ("各强度区间退群率", "Leave rate by band"),
        "groups.fig.group_points": ("各社群", "Groups"),
        "groups.fig.fitted": ("泊松回归拟合", "Poisson regression fit"),
        "groups.fig.rule_band": ("经验法则 0.5–1 条/天", "Rule of thumb 0.5–1 a day"),
        "groups.fig.trend_title": ("社群周趋势", "Weekly group activity"),
        "groups.fig.trend_one": ("社群周趋势：{group}", "Weekly activity: {group}"),
        "groups.fig.week": ("周", "Week"),
        "groups.fig.messages": ("消息数", "Messages"),
        "groups.fig.members_end": ("周末成员数", "Members at week end"),
        "groups.fig.joins": ("入群", "Joins"),
        "groups.fig.leaves": ("退群", "Leaves"),
        "groups.fig.link_title": ("各连接方式的会员质量", "Member quality by link mode"),
        "groups.fig.link_retention": (
            "首次到店后第 {days} 天仍活跃",
            "Still active at day {days} after the first visit",
        ),
        "groups.fig.link_std": ("按入会渠道标准化", "Standardised to the join-channel mix"),
        "groups.fig.link_visits": ("每 30 天复购次数", "Repeat visits per 30 days"),
        "groups.fig.link_revenue": ("人均营收（{currency}）", "Revenue per member ({currency})"),
        "groups.fig.touch_title": ("触达后 {days} 天内到店", "Visits within {days} days of a touch"),
        "groups.fig.touch_x": (
            "到店率差（触达 − 可比未触达）",
            "Difference in share visiting (touched − comparable)",
        ),
        "groups.fig.touch_per": ("每次触达多带来的到店", "Extra visits per touch"),
        "groups.fig.touched": ("触达", "Touched"),
        "groups.fig.comparable": ("可比未触达", "Comparable untouched"),
        "groups.fig.units": ("触达人次", "Touched units"),
    }
)


def group_table(result: GroupOverview, *, lang: str = "zh") -> go.Figure:
    """A table of the groups (one row each, busiest first): kind, store, members, VIP and high-frequency
    shares, revenue, messages per day, leaves and the leave rate with its 95% interval."""
    _check(result, GroupOverview, "wb.group_overview", lang)
    p = result.params
    head = f"{i18n.t('groups.fig.table_title', lang)} · {i18n.t('groups.fig.window', lang, days=p['window_days'])}"
    title = f"{head}<br><sub>{i18n.t('as_of', lang)} {p['as_of'].isoformat()}</sub>"
    g = result.groups.sort_values(["members_now", "group_id"], ascending=[False, True])
    if g.empty:
        return _no_data(title, lang)
    currency = _currency(p["currency"], lang)
    ci = i18n.t("ci95", lang)
    headers = [
        i18n.t("groups.fig.col.group", lang),
        i18n.t("groups.fig.col.kind", lang),
        i18n.t("groups.fig.col.store", lang),
        i18n.t("groups.fig.col.members_now", lang),
        i18n.t("groups.fig.col.vip_share", lang),
        i18n.t("groups.fig.col.hf_share", lang),
        i18n.t("groups.fig.col.revenue", lang, currency=currency),
        i18n.t("groups.fig.col.messages_per_day", lang),
        i18n.t("groups.fig.col.leaves", lang),
        f"{i18n.t('groups.fig.col.leave_rate', lang)} ({ci})",
    ]
    cells = [
        g["group_id"].tolist(),
        [i18n.value_label("group_kind", k, lang) for k in g["kind"]],
        ["" if s is None or s != s else str(s) for s in g["store_id"]],
        [f"{v:,}" for v in g["members_now"]],
        [_pct(v) for v in g["vip_share"]],
        [_pct(v) for v in g["high_frequency_share"]],
        [f"{v:,.0f}" for v in g["revenue"]],
        [_fmt(v, 2) for v in g["messages_per_day"]],
        [f"{v:,}" for v in g["leaves"]],
        [
            f"{_fmt(r, 3)} ({_fmt(lo, 3)}–{_fmt(hi, 3)})"
            for r, lo, hi in zip(
                g["leave_rate_per_100"], g["leave_rate_ci_low"], g["leave_rate_ci_high"], strict=True
            )
        ],
    ]
    fig = go.Figure(go.Table(header={"values": headers}, cells={"values": cells}))
    return theme.apply(fig, title=title)


def leave_rate_by_intensity(result: MessagingAndLeaving, *, lang: str = "zh") -> go.Figure:
    """Leave rate per 100 member-days by intensity band (points with 95% intervals at each band's mean
    intensity), each group as a faint point, the fitted additive Poisson line, and the rule-of-thumb band
    shaded."""
    _check(result, MessagingAndLeaving, "wb.messaging_and_leaving", lang)
    p = result.params
    title = _title("groups.fig.leave_title", p, lang)
    b = result.bands[result.bands["member_days"] > 0]
    if b.empty:
        return _no_data(title, lang)
    x_title, y_title = i18n.t("groups.fig.leave_x", lang), i18n.t("groups.fig.leave_y", lang)
    ci = i18n.t("ci95", lang)
    fig = go.Figure()
    g = result.groups
    fig.add_trace(
        go.Scatter(
            x=g["received_per_member_day"],
            y=g["leave_rate"] * PER_MEMBER_DAYS,
            mode="markers",
            marker={"size": 6, "color": theme.COLORWAY[7], "opacity": 0.4},
            name=i18n.t("groups.fig.group_points", lang),
            text=g["group_id"],
            hovertemplate=f"%{{text}}<br>{x_title}: %{{x:.2f}}<br>{y_title}: %{{y:.3f}}<extra></extra>",
        )
    )
    rate = b["leave_rate"] * PER_MEMBER_DAYS
    fig.add_trace(
        go.Scatter(
            x=b["intensity"],
            y=rate,
            mode="markers+lines",
            marker={"size": 10, "color": theme.COLORWAY[0]},
            line={"color": theme.COLORWAY[0], "dash": "dot"},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": b["ci_high"] * PER_MEMBER_DAYS - rate,
                "arrayminus": rate - b["ci_low"] * PER_MEMBER_DAYS,
            },
            name=i18n.t("groups.fig.observed", lang),
            customdata=np.column_stack(
                [
                    b["band"],
                    b["ci_low"] * PER_MEMBER_DAYS,
                    b["ci_high"] * PER_MEMBER_DAYS,
                    b["leaves"],
                    b["member_days"],
                ]
            ),  # fmt: skip
            hovertemplate=(
                f"%{{customdata[0]}}<br>{x_title}: %{{x:.2f}}<br>{y_title}: %{{y:.3f}}<br>"
                f"{ci}: %{{customdata[1]:.3f}}–%{{customdata[2]:.3f}}<br>"
                f"{i18n.t('groups.fig.leaves', lang)}: %{{customdata[3]:,}} / %{{customdata[4]:,.0f}}<extra></extra>"
            ),
        )
    )
    if not result.fit.empty:
        a = result.coefficient("intercept")["estimate"]
        s = result.coefficient("slope")["estimate"]
        xs = np.linspace(0.0, float(g["received_per_member_day"].max()), FIT_LINE_POINTS)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=(a + s * xs) * PER_MEMBER_DAYS,
                mode="lines",
                line={"color": theme.COLORWAY[1]},
                name=i18n.t("groups.fig.fitted", lang),
                hovertemplate=f"{x_title}: %{{x:.2f}}<br>{y_title}: %{{y:.3f}}<extra></extra>",
            )
        )
    lo, hi = p["rule_of_thumb_band"]
    fig.add_vrect(
        x0=lo,
        x1=hi,
        fillcolor=theme.band_color(theme.COLORWAY[2]),
        line_width=0,
        annotation_text=i18n.t("groups.fig.rule_band", lang),
        annotation_position="top left",
    )
    fig.update_xaxes(title_text=x_title, rangemode="tozero")
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    fig.add_annotation(
        text=result.verdict_text(lang),
        xref="paper",
        yref="paper",
        x=0,
        y=-0.22,
        showarrow=False,
        align="left",
        xanchor="left",
        font={"size": 11},
    )
    fig.update_layout(margin={"b": 120})
    return theme.apply(fig, title=title)


def group_trend(result: GroupOverview, *, lang: str = "zh", group_id: str | None = None) -> go.Figure:
    """Weekly messages (bars), joins and leaves (bars), and members at week end (line, right axis), for
    one group or, without ``group_id``, all groups summed."""
    _check(result, GroupOverview, "wb.group_overview", lang)
    p = result.params
    trend = result.trend
    if group_id is not None:
        available = sorted(result.groups["group_id"].unique().tolist())
        if str(group_id) not in available:
            raise ParameterError(choices_message("group_id", group_id, available or ["(no groups)"]))
        trend = trend[trend["group_id"] == str(group_id)]
        head = i18n.t("groups.fig.trend_one", lang, group=group_id)
    else:
        head = i18n.t("groups.fig.trend_title", lang)
    title = f"{head}<br><sub>{i18n.t('as_of', lang)} {p['as_of'].isoformat()}</sub>"
    if trend.empty:
        return _no_data(title, lang)
    w = trend.groupby("week", as_index=False)[["messages", "joins", "leaves", "members_end"]].sum()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    weeks = w["week"].dt.strftime("%G-W%V")
    for i, column in enumerate(("messages", "joins", "leaves")):
        fig.add_trace(
            go.Bar(
                x=weeks,
                y=w[column],
                name=i18n.t(f"groups.fig.{column}", lang),
                marker_color=theme.COLORWAY[i + 1],
            ),
            secondary_y=False,
        )
    fig.add_trace(
        go.Scatter(
            x=weeks,
            y=w["members_end"],
            mode="lines+markers",
            name=i18n.t("groups.fig.members_end", lang),
            line={"color": theme.COLORWAY[0]},
        ),
        secondary_y=True,
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=i18n.t("groups.fig.week", lang))
    fig.update_yaxes(title_text=i18n.t("groups.fig.messages", lang), secondary_y=False)
    fig.update_yaxes(title_text=i18n.t("groups.fig.members_end", lang), secondary_y=True, rangemode="tozero")
    return theme.apply(fig, title=title)


def link_mode_chart(result: LinkModeQuality, *, lang: str = "zh") -> go.Figure:
    """Three panels by link mode (ranked): retention with its 95% interval (and the join-channel
    standardised value), repeat visits per 30 days, revenue per member, each with 95% intervals."""
    _check(result, LinkModeQuality, "wb.link_mode_quality", lang)
    p = result.params
    title = _title("groups.fig.link_title", p, lang)
    t = result.table.dropna(subset=["rank"]).sort_values("rank")
    if t.empty:
        return _no_data(title, lang)
    names = [i18n.value_label("link_mode", m, lang) for m in t["link_mode"]]
    currency = _currency(p["currency"], lang)
    panels = [
        ("retention", "ci_low", "ci_high", i18n.t("groups.fig.link_retention", lang, days=p["horizon_days"]), ".0%"),
        ("visits_per_30d", "visits_ci_low", "visits_ci_high", i18n.t("groups.fig.link_visits", lang), ".2f"),
        ("revenue_per_member", "revenue_ci_low", "revenue_ci_high",
         i18n.t("groups.fig.link_revenue", lang, currency=currency), ",.0f"),
    ]  # fmt: skip
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=[panel[3] for panel in panels], horizontal_spacing=0.08
    )
    ci = i18n.t("ci95", lang)
    for col, (value, low, high, label, fmt) in enumerate(panels, start=1):
        y = t[value]
        fig.add_trace(
            go.Bar(
                x=names,
                y=y,
                name=label,
                marker_color=theme.COLORWAY[col - 1],
                error_y={"type": "data", "symmetric": False, "array": t[high] - y, "arrayminus": y - t[low]},
                customdata=np.column_stack([t[low], t[high], t["first_visitors"]]),
                hovertemplate=(
                    f"%{{x}}<br>{label}: %{{y:{fmt}}}<br>{ci}: %{{customdata[0]:{fmt}}}–%{{customdata[1]:{fmt}}}<br>"
                    f"{i18n.t('members', lang)}: %{{customdata[2]:,}}<extra></extra>"
                ),
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    fig.add_trace(
        go.Scatter(
            x=names,
            y=t["retention_std"],
            mode="markers",
            marker={"symbol": "diamond", "size": 9, "color": theme.COLORWAY[4]},
            name=i18n.t("groups.fig.link_std", lang),
        ),
        row=1,
        col=1,
    )
    fig.update_yaxes(tickformat=".0%", row=1, col=1, rangemode="tozero")
    fig.add_annotation(
        text=i18n.t("link_modes.note", lang), xref="paper", yref="paper", x=0, y=-0.25, showarrow=False,
        xanchor="left", font={"size": 11},
    )  # fmt: skip
    fig.update_layout(margin={"b": 110})
    return theme.apply(fig, title=title)


def touch_response_chart(result: TouchResponse, *, lang: str = "zh") -> go.Figure:
    """Per medium, the difference in the share visiting within the response window (touched minus
    comparable untouched) with its 95% interval; hover gives both shares and the extra visits per touch.
    The title says the result is observational."""
    _check(result, TouchResponse, "wb.touch_response", lang)
    p = result.params
    observational = i18n.t("observational", lang)
    title = (
        f"{i18n.t('groups.fig.touch_title', lang, days=p['response_days'])} · {observational}"
        f"<br><sub>{i18n.t('as_of', lang)} {p['as_of'].isoformat()}</sub>"
    )
    t = result.table[result.table["matched_units"] > 0]
    if t.empty:
        return _no_data(title, lang)
    names = [i18n.value_label("medium", m, lang) for m in t["medium"]]
    ci = i18n.t("ci95", lang)
    fig = go.Figure(
        go.Scatter(
            x=t["difference"],
            y=names,
            mode="markers",
            marker={"size": 11, "color": theme.COLORWAY[0]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": t["ci_high"] - t["difference"],
                "arrayminus": t["difference"] - t["ci_low"],
            },
            name=i18n.t("groups.fig.touch_x", lang),
            customdata=np.column_stack(
                [
                    t["ci_low"],
                    t["ci_high"],
                    t["share_touched"],
                    t["share_control"],
                    t["extra_visits_per_touch"],
                    t["touched_units"],
                ]
            ),  # fmt: skip
            hovertemplate=(
                f"%{{y}}<br>{i18n.t('groups.fig.touch_x', lang)}: %{{x:+.1%}}<br>"
                f"{ci}: %{{customdata[0]:+.1%}}–%{{customdata[1]:+.1%}}<br>"
                f"{i18n.t('groups.fig.touched', lang)}: %{{customdata[2]:.1%}}, "
                f"{i18n.t('groups.fig.comparable', lang)}: %{{customdata[3]:.1%}}<br>"
                f"{i18n.t('groups.fig.touch_per', lang)}: %{{customdata[4]:.3f}}<br>"
                f"{i18n.t('groups.fig.units', lang)}: %{{customdata[5]:,}}<extra></extra>"
            ),
        )
    )
    fig.add_vline(x=0, line_dash="dash", line_color=theme.COLORWAY[7])
    fig.update_xaxes(title_text=i18n.t("groups.fig.touch_x", lang), tickformat="+.0%")
    fig.add_annotation(
        text=i18n.t("touches.note", lang), xref="paper", yref="paper", x=0, y=-0.2, showarrow=False,
        xanchor="left", font={"size": 11},
    )  # fmt: skip
    fig.update_layout(margin={"b": 100})
    return theme.apply(fig, title=title)


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, kind, producer: str, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, kind):
        raise ParameterError(f"expected the result of {producer}(...); received {type(result).__name__}.")


def _title(key: str, params: dict, lang: str) -> str:
    return f"{i18n.t(key, lang)}<br><sub>{i18n.t('as_of', lang)} {params['as_of'].isoformat()}</sub>"


def _no_data(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=i18n.t("no_data", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=title)


def _currency(currency: str, lang: str) -> str:
    return i18n.t("currency_cny", lang) if currency == "CNY" else currency


def _pct(v) -> str:
    return "–" if v != v else f"{v:.1%}"


def _fmt(v, digits: int) -> str:
    return "–" if v != v else f"{v:.{digits}f}"
