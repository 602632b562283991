"""Figures of member tags: members and revenue per RFM class, the R x F grid, any tag's distribution.

Each takes a :class:`~workbench.analyses.segments.MemberTags` and ``lang`` ('zh' or 'en') and returns a plotly
``go.Figure``; the counts come from the result's own methods (``class_summary``, ``grid``, ``tag_counts``),
nothing here computes them.

    tags = member_tags(db)
    rfm_classes(tags, lang="en")                     # share of members and of revenue per class
    rfm_grid(tags, lang="en")                        # members per R score x F score
    tag_distribution(tags, "frequency_tier", lang="en")
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench import i18n
from workbench.analyses.cohorts import currency_label
from workbench.analyses.segments import NO_VISIT, SCORE_LEVELS, TAGS, MemberTags
from workbench.errors import ParameterError, choices_message
from workbench.figures import theme

# Cities, stores and channels can be many: the distribution shows the largest this many values.
MAX_OPEN_VALUES = 30
# Room beyond the longest bar for the value printed outside it (share of the axis length).
TEXT_HEADROOM = 1.18
# Colours: members in the theme's second colour, revenue in its first (the brand red).
MEMBER_COLOR, REVENUE_COLOR = theme.COLORWAY[1], theme.COLORWAY[0]

i18n.register(
    {
        "segments.fig.classes_title": (
            "RFM 八类客户：会员与营收占比",
            "RFM classes: share of members and revenue",
        ),
        "segments.fig.grid_title": ("RFM 分布：R 得分 × F 得分", "RFM grid: R score x F score"),
        "segments.fig.tag_title": ("会员标签分布：{tag}", "Members by tag: {tag}"),
        "segments.fig.member_share": ("会员占比", "Share of members"),
        "segments.fig.revenue_share": ("营收占比", "Share of revenue"),
        "segments.fig.class_axis": ("RFM 分层", "RFM class"),
        "segments.fig.r_axis": ("R 得分（最近到店，5 = 最近）", "R score (recency, 5 = most recent)"),
        "segments.fig.f_axis": ("F 得分（到店频次，5 = 最高）", "F score (frequency, 5 = most visits)"),
        "segments.fig.subtitle": (
            "截至 {as_of}，近 {window} 天；{members} 名会员",
            "as of {as_of}, last {window} days; {members} members",
        ),
        "segments.fig.revenue_hover": ("营收", "Revenue"),
        "segments.fig.tag.rfm_class": ("RFM 分层", "RFM class"),
        "segments.fig.tag.frequency_tier": ("到店频次", "Frequency tier"),
        "segments.fig.tag.spending_power": ("消费力", "Spending power"),
        "segments.fig.tag.price_sensitive": ("价格敏感", "Price sensitive"),
        "segments.fig.tag.vip": ("VIP", "VIP"),
        "segments.fig.tag.in_group": ("已入群", "In a group"),
        "segments.fig.tag.join_channel": ("入会渠道", "Join channel"),
        "segments.fig.tag.favourite_city": ("常去城市", "Favourite city"),
        "segments.fig.tag.favourite_store_id": ("常去门店", "Favourite store"),
        "segments.fig.tag.city": ("归属城市", "Home city"),
        "segments.fig.tag.r_score": ("R 得分", "R score"),
        "segments.fig.tag.f_score": ("F 得分", "F score"),
        "segments.fig.tag.m_score": ("M 得分", "M score"),
        "segments.fig.none": ("无", "None"),
    }
)


def rfm_classes(result: MemberTags, *, lang: str = "zh", include_no_visit: bool = False) -> go.Figure:
    """Horizontal bars per RFM class (most valuable on top): share of members and share of revenue.

    ``include_no_visit`` adds the members who never visited (no class, no revenue). Hover gives the counts
    and the revenue in currency.
    """
    _check(result, lang)
    classes = result.class_summary()
    if not include_no_visit:
        classes = classes[classes["rfm_class"] != NO_VISIT]
        members = classes["members"].sum()
        classes = classes.assign(member_share=classes["members"] / members if members else np.nan)
    names = [i18n.value_label("rfm_class", c, lang) for c in classes["rfm_class"]]
    currency = currency_label(result.params["currency"], lang)
    fig = go.Figure()
    for column, color, key in (
        ("member_share", MEMBER_COLOR, "segments.fig.member_share"),
        ("revenue_share", REVENUE_COLOR, "segments.fig.revenue_share"),
    ):
        label = i18n.t(key, lang)
        fig.add_trace(
            go.Bar(
                y=names,
                x=classes[column].to_numpy(dtype="float64"),
                orientation="h",
                name=label,
                marker_color=color,
                customdata=np.column_stack([classes["members"], classes["revenue"]]),
                text=[
                    f"{v:.1%}" if np.isfinite(v) else "" for v in classes[column].to_numpy(dtype="float64")
                ],
                textposition="outside",
                hovertemplate=(
                    f"%{{y}}<br>{label}: %{{x:.1%}}<br>{i18n.t('members', lang)}: %{{customdata[0]:,}}<br>"
                    f"{i18n.t('segments.fig.revenue_hover', lang)}: %{{customdata[1]:,.0f}} {currency}"
                    "<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(
        tickformat=".0%",
        range=[0, _top(classes[["member_share", "revenue_share"]])],
        title_text=i18n.t("share", lang),
    )
    fig.update_yaxes(autorange="reversed", title_text=i18n.t("segments.fig.class_axis", lang))
    return theme.apply(fig, title=_title("segments.fig.classes_title", result, lang))


def rfm_grid(result: MemberTags, *, lang: str = "zh") -> go.Figure:
    """Heatmap of members per R score (x) and F score (y), 1-5 each, with counts in the cells.

    Members who never visited have no score and are not in the grid; members who visited only before the
    window sit in R 1 x F 1 (see member_tags). Hover gives the share of scored members and their revenue.
    """
    _check(result, lang)
    grid = result.grid()
    levels = list(range(1, SCORE_LEVELS + 1))
    counts = grid.pivot(index="f_score", columns="r_score", values="members").reindex(
        index=levels, columns=levels
    )
    shares = grid.pivot(index="f_score", columns="r_score", values="member_share").reindex(
        index=levels, columns=levels
    )
    revenue = grid.pivot(index="f_score", columns="r_score", values="revenue").reindex(
        index=levels, columns=levels
    )
    z = counts.to_numpy(dtype="float64")
    r_title, f_title = i18n.t("segments.fig.r_axis", lang), i18n.t("segments.fig.f_axis", lang)
    currency = currency_label(result.params["currency"], lang)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=levels,
            y=levels,
            colorscale="Reds",
            colorbar={"title": {"text": i18n.t("members", lang)}},
            text=[[f"{int(v):,}" for v in row] for row in z],
            texttemplate="%{text}",
            customdata=np.dstack([shares.to_numpy(dtype="float64"), revenue.to_numpy(dtype="float64")]),
            hovertemplate=(
                f"{r_title}: %{{x}}<br>{f_title}: %{{y}}<br>{i18n.t('members', lang)}: %{{z:,}} "
                f"(%{{customdata[0]:.1%}})<br>{i18n.t('segments.fig.revenue_hover', lang)}: "
                f"%{{customdata[1]:,.0f}} {currency}<extra></extra>"
            ),
            name=i18n.t("members", lang),
        )
    )
    fig.update_xaxes(title_text=r_title, dtick=1)
    fig.update_yaxes(title_text=f_title, dtick=1)
    return theme.apply(fig, title=_title("segments.fig.grid_title", result, lang))


def tag_distribution(result: MemberTags, tag: str, *, lang: str = "zh") -> go.Figure:
    """Bars of members per value of ``tag`` (one of ``segments.TAGS``), share of members on the axis.

    Values are in the tag's display order (classes most valuable first, tiers high to low); open tags
    (cities, stores, channels) show the ``MAX_OPEN_VALUES`` largest. Hover gives counts and revenue share.
    """
    _check(result, lang)
    if tag not in TAGS:
        raise ParameterError(choices_message("tag", tag, TAGS))
    counts = result.tag_counts(tag)
    if TAGS[tag] is None:
        counts = counts.head(MAX_OPEN_VALUES)
    names = [_value_name(tag, v, lang) for v in counts["value"]]
    tag_name = i18n.t(f"segments.fig.tag.{tag}", lang)
    share = i18n.t("segments.fig.member_share", lang)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=counts["member_share"].to_numpy(dtype="float64"),
            name=i18n.t("members", lang),
            marker_color=MEMBER_COLOR,
            text=[f"{int(n):,}" for n in counts["members"]],
            textposition="outside",
            customdata=np.column_stack([counts["members"], counts["revenue_share"]]),
            hovertemplate=(
                f"{tag_name}: %{{x}}<br>{i18n.t('members', lang)}: %{{customdata[0]:,}} (%{{y:.1%}})<br>"
                f"{i18n.t('segments.fig.revenue_share', lang)}: %{{customdata[1]:.1%}}<extra></extra>"
            ),
        )
    )
    fig.update_xaxes(title_text=tag_name, type="category")
    fig.update_yaxes(title_text=share, tickformat=".0%", range=[0, _top(counts[["member_share"]])])
    title = i18n.t("segments.fig.tag_title", lang, tag=tag_name)
    return theme.apply(fig, title=f"{title}<br><sub>{_subtitle(result, lang)}</sub>")


# -- helpers --------------------------------------------------------------------------------------------


def _check(result, lang: str) -> None:
    i18n.check_lang(lang)
    if not isinstance(result, MemberTags):
        raise ParameterError(f"expected the result of member_tags(...); received {type(result).__name__}.")


def _top(shares) -> float:
    """Upper end of a share axis: the largest share plus room for its label (1 when there is none)."""
    top = np.nanmax(shares.to_numpy(dtype="float64"), initial=0.0)
    return float(top * TEXT_HEADROOM) if top > 0 else 1.0


def _value_name(tag: str, value, lang: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return i18n.t("segments.fig.none", lang)
    if isinstance(value, bool | np.bool_):
        return i18n.t("true" if value else "false", lang)
    if tag in ("r_score", "f_score", "m_score"):
        return str(int(value))
    return i18n.value_label(tag, value, lang)


def _subtitle(result: MemberTags, lang: str) -> str:
    return i18n.t(
        "segments.fig.subtitle",
        lang,
        as_of=result.as_of.isoformat(),
        window=result.params["window_days"],
        members=f"{len(result.members):,}",
    )


def _title(key: str, result: MemberTags, lang: str) -> str:
    return f"{i18n.t(key, lang)}<br><sub>{_subtitle(result, lang)}</sub>"
