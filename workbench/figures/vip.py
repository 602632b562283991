"""Figures of revenue concentration and VIP cards: the Pareto curve, VIP vs non-VIP, before vs after buying.

Each takes an analysis result and ``lang`` ('zh' or 'en') and returns a plotly ``go.Figure``; nothing here
computes a statistic, it only lays out the result's columns.

    pareto_curve(wb.revenue_pareto(db), lang="en")      # concentration curve, top 10% annotated
    vip = wb.vip_comparison(db)
    vip_vs_non_vip(vip, lang="en")      # one panel per metric: VIP and non-VIP bars with 95% intervals
    vip_before_after(vip, lang="en")    # the same VIPs before vs after buying; matched comparison beside
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench import i18n
from workbench.analyses.pareto import HEADLINE_TOP_SHARE, Pareto, window_label
from workbench.analyses.vip import METRICS, NON_VIP, VIP, VipComparison
from workbench.errors import ParameterError
from workbench.figures import theme

# Metrics drawn as shares (0-1) get percent ticks; the others are rates or money.
SHARE_METRICS = ("repurchase_30d", "repurchase_90d", "active_last_90d")
# Panels of the VIP vs non-VIP figure: METRICS in rows of this many.
PANELS_PER_ROW = 3
PANEL_ROW_HEIGHT_PX = 300
# Share of the figure's height kept free above the panels for the title's second line and the legend.
TOP_ROOM_SHARE = 0.1
# Labels written at the end of lines are stacked this many pixels apart so two close lines stay legible.
LABEL_STEP_PX = 16
GROUP_COLORS = {VIP: theme.COLORWAY[0], NON_VIP: theme.COLORWAY[7]}
POPULATION_COLORS = {"all": theme.COLORWAY[1], "still_active": theme.COLORWAY[0]}

i18n.register(
    {
        "vip.fig.pareto_title": (
            "会员营收集中度（帕累托曲线）",
            "Member revenue concentration (Pareto curve)",
        ),
        "vip.fig.member_axis": ("会员占比（按营收从高到低）", "Share of members (largest spenders first)"),
        "vip.fig.revenue_axis": ("累计营收占比", "Cumulative share of member revenue"),
        "vip.fig.curve": ("营收集中度曲线", "Concentration curve"),
        "vip.fig.equality": ("人人相同", "Everyone equal"),
        "vip.fig.top_points": ("前 x% 会员", "Top x% of members"),
        "vip.fig.top_annotation": (
            "前 {top:.0%} 会员贡献 {share:.0%} 营收",
            "Top {top:.0%} bring {share:.0%}",
        ),
        "vip.fig.gini": (
            "基尼系数 {gini:.2f}，{members:,} 名有消费会员",
            "Gini {gini:.2f}, {members:,} paying members",
        ),
        "vip.fig.compare_title": ("VIP 与非 VIP 会员对比", "VIP vs non-VIP members"),
        "vip.fig.compare_note": (
            "朴素对比（高频顾客更愿意买卡）；误差线为 95% 置信区间",
            "Naive comparison (frequent visitors buy the card more readily); bars show 95% intervals",
        ),
        "vip.fig.multiple": ("×{m:.2f}", "×{m:.2f}"),
        "vip.fig.before_after_title": ("买卡前后到店频次", "Visit rate before vs after buying the card"),
        "vip.fig.within_panel": ("同一 VIP 前后对比", "Same VIPs, before vs after"),
        "vip.fig.matched_panel": (
            "对比匹配的非 VIP（虚线，观察性）",
            "Against matched non-VIPs (dashed; observational)",
        ),
        "vip.fig.before": ("买卡前 {days} 天", "{days} days before"),
        "vip.fig.after": ("买卡后 {days} 天", "{days} days after"),
        "vip.fig.rate_axis": ("每 30 天到店次数", "Visits per 30 days"),
        "vip.fig.ratio": ("×{r:.2f}（95% 区间 {lo:.2f}–{hi:.2f}）", "×{r:.2f} (95% {lo:.2f}–{hi:.2f})"),
        "vip.fig.vip_line": ("{name} · VIP", "{name} · VIP"),
        "vip.fig.comparison_line": ("{name} · 匹配对照", "{name} · matched comparison"),
        "vip.fig.members_n": ("{n:,} 人", "{n:,} members"),
    }
)


def pareto_curve(result: Pareto, *, lang: str = "zh") -> go.Figure:
    """The concentration curve (share of members vs cumulative share of revenue), the line of equality,
    the TOP_SHARES points with their numbers on hover, and the top-10% point annotated."""
    i18n.check_lang(lang)
    if not isinstance(result, Pareto):
        raise ParameterError(
            f"expected the result of wb.revenue_pareto(...); received {type(result).__name__}."
        )
    p = result.params
    title = (
        f"{i18n.t('vip.fig.pareto_title', lang)}<br><sub>{i18n.t('as_of', lang)} {p['as_of'].isoformat()} · "
        f"{window_label(p['window_days'], lang)}</sub>"
    )
    if result.members == 0:
        return _no_data(title, lang)
    member_axis, revenue_axis = i18n.t("vip.fig.member_axis", lang), i18n.t("vip.fig.revenue_axis", lang)
    currency = _currency(p["currency"], lang)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": theme.COLORWAY[7]},
            name=i18n.t("vip.fig.equality", lang),
            hoverinfo="skip",
        )
    )
    c = result.curve
    fig.add_trace(
        go.Scatter(
            x=c["member_share"],
            y=c["revenue_share"],
            mode="lines",
            line={"color": theme.COLORWAY[0], "width": 3},
            name=i18n.t("vip.fig.curve", lang),
            customdata=c[["members", "revenue"]].to_numpy(),
            hovertemplate=(
                f"{member_axis}: %{{x:.1%}} (%{{customdata[0]:,}})<br>"
                f"{revenue_axis}: %{{y:.1%}} (%{{customdata[1]:,.0f}} {currency})<extra></extra>"
            ),
        )
    )
    pts = result.points
    fig.add_trace(
        go.Scatter(
            x=pts["member_share"],
            y=pts["revenue_share"],
            mode="markers",
            marker={"size": 9, "color": theme.COLORWAY[0], "line": {"width": 1, "color": "white"}},
            name=i18n.t("vip.fig.top_points", lang),
            text=[i18n.t("pareto.top_row", lang, top=s) for s in pts["top_share"]],
            customdata=pts[["members", "revenue"]].to_numpy(),
            hovertemplate=(
                "%{text}: %{customdata[0]:,} · %{y:.1%} "
                f"(%{{customdata[1]:,.0f}} {currency})<extra></extra>"
            ),
        )
    )
    head = pts[[math.isclose(s, HEADLINE_TOP_SHARE) for s in pts["top_share"]]].iloc[0]
    fig.add_annotation(
        x=float(head["member_share"]),
        y=float(head["revenue_share"]),
        text=i18n.t(
            "vip.fig.top_annotation", lang, top=HEADLINE_TOP_SHARE, share=float(head["revenue_share"])
        ),
        showarrow=True,
        arrowhead=2,
        ax=60,
        ay=40,
        name="headline",
    )
    fig.add_annotation(
        x=0.98,
        y=0.02,
        xref="paper",
        yref="paper",
        xanchor="right",
        yanchor="bottom",
        showarrow=False,
        text=i18n.t("vip.fig.gini", lang, gini=result.gini, members=result.members),
        name="gini",
    )
    fig.update_xaxes(title_text=member_axis, tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text=revenue_axis, tickformat=".0%", range=[0, 1.02])
    _leave_room_on_top(fig)
    return theme.apply(fig, title=title)


def vip_vs_non_vip(result: VipComparison, *, lang: str = "zh") -> go.Figure:
    """One panel per metric (``result.groups``): VIP and non-VIP bars with 95% error bars; each panel's
    title carries the VIP / non-VIP multiple."""
    _check(result, lang)
    g = result.groups.set_index(["metric", "group"])
    m = result.multiples.set_index("metric")
    rows = math.ceil(len(METRICS) / PANELS_PER_ROW)
    titles = [
        f"{i18n.t(f'vip.metric.{metric}', lang)} {i18n.t('vip.fig.multiple', lang, m=m.loc[metric, 'multiple'])}"
        if math.isfinite(m.loc[metric, "multiple"])
        else i18n.t(f"vip.metric.{metric}", lang)
        for metric in METRICS
    ]
    fig = make_subplots(rows=rows, cols=PANELS_PER_ROW, subplot_titles=titles, vertical_spacing=0.18)
    names = {VIP: i18n.t("vip.group.vip", lang), NON_VIP: i18n.t("vip.group.non_vip", lang)}
    ci = i18n.t("ci95", lang)
    for i, metric in enumerate(METRICS):
        row, col = i // PANELS_PER_ROW + 1, i % PANELS_PER_ROW + 1
        fmt = ".1%" if metric in SHARE_METRICS else ",.2f"
        for group in (VIP, NON_VIP):
            r = g.loc[(metric, group)]
            value = float(r["value"])
            fig.add_trace(
                go.Bar(
                    x=[names[group]],
                    y=[value],
                    name=names[group],
                    showlegend=False,  # the x axis names the groups
                    marker_color=GROUP_COLORS[group],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [float(r["ci_high"]) - value],
                        "arrayminus": [value - float(r["ci_low"])],
                    },
                    customdata=[[float(r["ci_low"]), float(r["ci_high"]), int(r["members"])]],
                    hovertemplate=(
                        f"{names[group]}<br>{i18n.t(f'vip.metric.{metric}', lang)}: %{{y:{fmt}}}<br>"
                        f"{ci}: %{{customdata[0]:{fmt}}}–%{{customdata[1]:{fmt}}}<br>"
                        f"{i18n.t('members', lang)}: %{{customdata[2]:,}}<extra></extra>"
                    ),
                ),
                row=row,
                col=col,
            )
        if metric in SHARE_METRICS:
            fig.update_yaxes(tickformat=".0%", row=row, col=col)
    p = result.params
    note = i18n.t("vip.fig.compare_note", lang)
    title = f"{i18n.t('vip.fig.compare_title', lang)}<br><sub>{i18n.t('as_of', lang)} {p['as_of'].isoformat()} · {note}</sub>"
    fig.update_layout(height=PANEL_ROW_HEIGHT_PX * rows + 120, bargap=0.35)
    _leave_room_on_top(fig)
    return theme.apply(fig, title=title)


def vip_before_after(result: VipComparison, *, lang: str = "zh") -> go.Figure:
    """Visits per 30 days before vs after buying. Left: the same VIPs (``result.before_after``), one line per
    population, the after / before ratio and its 95% interval written at the line's end. Right: VIPs (solid)
    against matched non-VIPs (dashed) from ``result.matched`` (visits), the rate multiplier written at the
    VIP line's end. Colours are populations (all comparable VIPs, those still active after the window)."""
    _check(result, lang)
    p = result.params
    days = p["before_after_days"]
    x = [i18n.t("vip.fig.before", lang, days=days), i18n.t("vip.fig.after", lang, days=days)]
    title = (
        f"{i18n.t('vip.fig.before_after_title', lang)}<br><sub>{i18n.t('as_of', lang)} "
        f"{p['as_of'].isoformat()} · {i18n.t('observational', lang)}</sub>"
    )
    ba = result.before_after[result.before_after["members"] > 0]
    if ba.empty:
        return _no_data(title, lang)
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=[i18n.t("vip.fig.within_panel", lang), i18n.t("vip.fig.matched_panel", lang)],
    )
    for i, r in enumerate(ba.itertuples(index=False)):
        pop = i18n.t(f"vip.population.{r.population}", lang)
        ratio = i18n.t("vip.fig.ratio", lang, r=r.ratio, lo=r.ratio_low, hi=r.ratio_high)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[r.before_rate, r.after_rate],
                mode="lines+markers",
                line={"color": POPULATION_COLORS[r.population], "width": 3},
                name=pop,
                legendgroup=r.population,
                hovertemplate=(
                    f"{pop}<br>%{{x}}: %{{y:.2f}}<br>{ratio}<br>"
                    f"{i18n.t('vip.fig.members_n', lang, n=int(r.members))}<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
        fig.add_annotation(x=x[1], y=r.after_rate, text=ratio, xanchor="right", yanchor="bottom",
                           showarrow=False, font={"color": POPULATION_COLORS[r.population]}, yshift=LABEL_STEP_PX * i,
                           row=1, col=1)  # fmt: skip
    matched = result.matched[(result.matched["outcome"] == "visits_per_30d") & (result.matched["vips"] > 0)]
    for i, r in enumerate(matched.itertuples(index=False)):
        pop = i18n.t(f"vip.population.{r.population}", lang)
        color = POPULATION_COLORS[r.population]
        multiplier = i18n.t("vip.fig.ratio", lang, r=r.multiplier, lo=r.multiplier_low, hi=r.multiplier_high)
        for kind, y, dash, n in (
            ("vip", [r.vip_before, r.vip_after], "solid", r.vips),
            ("comparison", [r.comparison_before, r.comparison_after], "dash", r.comparison_members),
        ):
            name = i18n.t(f"vip.fig.{kind}_line", lang, name=pop)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines+markers",
                    line={"color": color, "dash": dash},
                    name=name,
                    legendgroup=r.population,
                    showlegend=False,  # the left panel's entries name the colours
                    hovertemplate=(
                        f"{name}<br>%{{x}}: %{{y:.2f}}<br>{i18n.t('vip.fig.members_n', lang, n=int(n))}"
                        + (f"<br>{multiplier}" if kind == "vip" else "")
                        + "<extra></extra>"
                    ),
                ),
                row=1,
                col=2,
            )
        fig.add_annotation(x=x[1], y=r.vip_after, text=multiplier, xanchor="right", yanchor="bottom",
                           showarrow=False, font={"color": color}, yshift=LABEL_STEP_PX * i, row=1, col=2)  # fmt: skip
    fig.update_yaxes(title_text=i18n.t("vip.fig.rate_axis", lang), rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    _leave_room_on_top(fig)
    return theme.apply(fig, title=title)


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, VipComparison):
        raise ParameterError(
            f"expected the result of wb.vip_comparison(...); received {type(result).__name__}."
        )


def _leave_room_on_top(fig: go.Figure, share: float = TOP_ROOM_SHARE) -> None:
    """Shrink every y domain (and the paper-anchored annotations such as subplot titles) towards the bottom
    by ``share``, so the title's second line and the legend above the plot do not overlap the panels."""
    keep = 1.0 - share
    for name in [k for k in fig.layout.to_plotly_json() if k.startswith("yaxis")]:
        low, high = fig.layout[name].domain or (0.0, 1.0)
        fig.layout[name].domain = (low * keep, high * keep)
    for annotation in fig.layout.annotations:
        if annotation.yref == "paper" and annotation.y is not None and annotation.y > 0.5:
            annotation.y = annotation.y * keep


def _currency(currency: str, lang: str) -> str:
    return i18n.t("currency_cny", lang) if currency == "CNY" else currency


def _no_data(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=i18n.t("no_data", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=title)
