"""Figures of the member lifecycle: states over periods, and the flows between two periods.

Each takes a :class:`~workbench.analyses.lifecycle.Lifecycle` and ``lang`` ('zh' or 'en'); nothing here
computes a statistic, it lays out ``counts`` and ``flows``.

    life = wb.lifecycle(db, period="month")
    lifecycle_counts(life, lang="en")          # stacked bars of members per state and period
    lifecycle_sankey(life, lang="en")          # flows from the second-last to the last period
    flows_table(life, lang="en")               # the flows with localised headers, for a table or Excel
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from workbench import i18n
from workbench.analyses.lifecycle import OUTSIDE, STATES, Lifecycle, period_label, state_label
from workbench.data import calendar
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

# One colour per state, kept across figures: new and returning warm (inflow), active the brand red,
# dormant and lost greys (outflow). 'none' (outside the pool) is a light grey node in the Sankey.
STATE_COLORS = {
    "new": "#2CA02C",
    "active": "#C8102E",
    "returning": "#FF7F0E",
    "dormant": "#9E9E9E",
    "lost": "#5F5F5F",
    OUTSIDE: "#D9D9D9",
}
# Link colour opacity in the Sankey (the node's colour, lighter).
LINK_OPACITY = 0.35

i18n.register(
    {
        "lifecycle.fig.counts_title": ("会员生命周期分布", "Members by lifecycle state"),
        "lifecycle.fig.sankey_title": (
            "会员流转：{from_label} → {to_label}",
            "Member flows: {from_label} → {to_label}",
        ),
        "lifecycle.fig.period.week": ("周", "Week"),
        "lifecycle.fig.period.month": ("月", "Month"),
        "lifecycle.fig.visited": ("其中本期到店", "of whom visited in the period"),
        "lifecycle.fig.col.period_from": ("上期", "From period"),
        "lifecycle.fig.col.period_to": ("本期", "To period"),
        "lifecycle.fig.col.state_from": ("上期状态", "From state"),
        "lifecycle.fig.col.state_to": ("本期状态", "To state"),
        "lifecycle.fig.col.share_of_from": ("占上期该状态", "Share of the from-state"),
    }
)


def lifecycle_counts(
    result: Lifecycle, *, lang: str = "zh", segment: str | None = None, share: bool = False
) -> go.Figure:
    """Stacked bars of members per state (new at the bottom, lost on top) for every reported period.

    ``segment``: one segment of the result (default: the sum over segments). ``share=True`` stacks the
    shares of the pool (0-1) instead of member counts. Hover gives the count, the share and, for active
    members, how many visited in the period.
    """
    _check(result, lang)
    p = result.params
    title = i18n.t("lifecycle.fig.counts_title", lang)
    counts = _segment_counts(result, segment)
    if counts.empty:
        return _no_data(title, lang)
    period_name = i18n.t(f"lifecycle.fig.period.{p['period']}", lang)
    members_name, share_name = i18n.t("members", lang), i18n.t("share", lang)
    visited_name = i18n.t("lifecycle.fig.visited", lang)
    fig = go.Figure()
    for state in STATES:
        c = counts[counts["state"] == state].sort_values("period")
        labels = [period_label(x, p["period"]) for x in c["period"]]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=c["share"] if share else c["members"],
                name=state_label(state, lang),
                marker={"color": STATE_COLORS[state]},
                customdata=c[["members", "share", "visited"]].to_numpy(),
                hovertemplate=(
                    f"{state_label(state, lang)}<br>{period_name}: %{{x}}<br>{members_name}: %{{customdata[0]:,}}"
                    f"<br>{share_name}: %{{customdata[1]:.1%}}<br>{visited_name}: %{{customdata[2]:,}}"
                    "<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="stack", bargap=0.1)
    fig.update_xaxes(title_text=period_name, type="category")
    fig.update_yaxes(title_text=share_name if share else members_name, tickformat=".0%" if share else None)
    return theme.apply(fig, title=_title(title, result, lang, segment))


def lifecycle_sankey(
    result: Lifecycle, *, lang: str = "zh", period_to=None, segment: str | None = None
) -> go.Figure:
    """Sankey of the flows into ``period_to`` (any day in it; default the last period) from the period before.

    Left nodes are the states in the earlier period plus 'outside the pool' (the new members' inflow),
    right nodes the states in ``period_to``; link widths are members. ``segment`` as in
    :func:`lifecycle_counts`.
    """
    _check(result, lang)
    p = result.params
    flows = _segment_flows(result, segment)
    to = _resolve_period_to(result, flows, period_to)
    if to is None:
        return _no_data(i18n.t("lifecycle.fig.counts_title", lang), lang)
    f = flows[flows["period_to"] == to]
    from_label = period_label(f["period_from"].iloc[0], p["period"])
    to_label = period_label(to, p["period"])
    title = i18n.t("lifecycle.fig.sankey_title", lang, from_label=from_label, to_label=to_label)
    left = [s for s in (OUTSIDE, *STATES) if s in set(f["state_from"])]
    right = [s for s in STATES if s in set(f["state_to"])]
    labels = [
        state_label(s, lang) if s == OUTSIDE else f"{state_label(s, lang)} ({from_label})" for s in left
    ]
    labels += [f"{state_label(s, lang)} ({to_label})" for s in right]
    colors = [STATE_COLORS[s] for s in left] + [STATE_COLORS[s] for s in right]
    index_left = {s: i for i, s in enumerate(left)}
    index_right = {s: len(left) + i for i, s in enumerate(right)}
    members_name = i18n.t("members", lang)
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": labels,
                "color": colors,
                "pad": 14,
                "thickness": 16,
                "hovertemplate": f"%{{label}}<br>{members_name}: %{{value:,}}<extra></extra>",
            },
            link={
                "source": [index_left[s] for s in f["state_from"]],
                "target": [index_right[s] for s in f["state_to"]],
                "value": f["members"].astype(int).tolist(),
                "color": [theme.band_color(STATE_COLORS[s], LINK_OPACITY) for s in f["state_from"]],
                "hovertemplate": (
                    f"%{{source.label}} → %{{target.label}}<br>{members_name}: %{{value:,}}<extra></extra>"
                ),
            },
        )
    )
    return theme.apply(fig, title=_title(title, result, lang, segment))


def flows_table(result: Lifecycle, *, lang: str = "zh", segment: str | None = None) -> pd.DataFrame:
    """The flows as a table for people: localised headers, period labels and state names.

    Columns (in ``lang``): from period, to period, segment (only when the result is split), from state,
    to state, members, share of the from-state (members / members in that state in the from period, 0-1;
    blank for the inflow from outside the pool). ``segment`` keeps one segment.
    """
    _check(result, lang)
    _check_segment(result, segment)
    p = result.params
    f = result.flows if segment is None else result.flows[result.flows["segment"] == str(segment)]
    held = result.counts.rename(columns={"period": "period_from", "state": "state_from", "members": "held"})
    key = ["period_from", "segment", "state_from"]
    f = f.merge(held[[*key, "held"]], on=key, how="left")
    share = f["members"] / f["held"].where(f["held"] > 0)
    columns = {
        "lifecycle.fig.col.period_from": [period_label(x, p["period"]) for x in f["period_from"]],
        "lifecycle.fig.col.period_to": [period_label(x, p["period"]) for x in f["period_to"]],
    }
    if p.get("segment_by") is not None:
        columns["segment"] = [result.segment_label(x, lang) for x in f["segment"]]
    columns["lifecycle.fig.col.state_from"] = [state_label(x, lang) for x in f["state_from"]]
    columns["lifecycle.fig.col.state_to"] = [state_label(x, lang) for x in f["state_to"]]
    columns["members"] = f["members"].astype("int64").to_list()
    columns["lifecycle.fig.col.share_of_from"] = share.round(4).to_list()
    return pd.DataFrame({i18n.t(k, lang): v for k, v in columns.items()})


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, Lifecycle):
        raise ParameterError(f"expected the result of wb.lifecycle(...); received {type(result).__name__}.")


def _check_segment(result: Lifecycle, segment) -> None:
    if segment is not None and str(segment) not in result.segments:
        raise ParameterError(
            choices_message("segment", segment, result.segments or ["(none: the result is empty)"])
        )


def _segment_counts(result: Lifecycle, segment) -> pd.DataFrame:
    _check_segment(result, segment)
    c = result.counts
    if segment is not None:
        return c[c["segment"] == str(segment)]
    if c.empty:
        return c
    c = c.groupby(["period", "state"], as_index=False)[["members", "visited"]].sum()
    pool = c.groupby("period")["members"].transform("sum")
    return c.assign(share=c["members"] / pool.where(pool > 0))


def _segment_flows(result: Lifecycle, segment) -> pd.DataFrame:
    _check_segment(result, segment)
    f = result.flows
    if segment is not None:
        return f[f["segment"] == str(segment)]
    keys = ["period_from", "period_to", "state_from", "state_to"]
    return f.groupby(keys, as_index=False, sort=False)["members"].sum()


def _resolve_period_to(result: Lifecycle, flows: pd.DataFrame, period_to):
    """The period_to of ``flows`` named by a day in it or its label ('2026-W47', '2026-11')."""
    kind = result.params["period"]
    available = sorted(pd.to_datetime(flows["period_to"]).unique())
    if not available:
        return None
    if period_to is None:
        return available[-1]
    labels = {period_label(a, kind): a for a in available}
    text = str(period_to).strip()
    if text in labels:
        return labels[text]
    try:
        wanted = period_label(calendar.as_date(period_to), kind)
    except ParameterError:
        wanted = None
    if wanted in labels:
        return labels[wanted]
    raise ParameterError(choices_message("period_to", period_to, list(labels)))


def _title(title: str, result: Lifecycle, lang: str, segment) -> str:
    p = result.params
    sub = f"{i18n.t('as_of', lang)} {p['as_of'].isoformat()}"
    if segment is not None:
        sub = f"{result.segment_label(segment, lang)} · {sub}"
    return f"{title}<br><sub>{sub}</sub>"


def _no_data(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=i18n.t("no_data", lang), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.apply(fig, title=title)
