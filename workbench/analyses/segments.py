"""Member tags and RFM segments: who each member is, in the words operators use (DESIGN.md, "Segments").

One row per member with the tags a campaign tool filters on: recency, frequency and monetary value in a
window, their 1-5 quintile scores and the common eight-class scheme (重要价值客户 ... 一般挽留客户), spending
power (客单价 tier), frequency tier, price sensitivity (share of visits with a coupon), favourite store and
city, VIP, join channel, last visit and birthday. The engine reduces visits to one row per member (and one
row per member and store / city for the favourites); pandas receives those member rows and scores them.

    tags = member_tags(db, as_of="2026-11-22")
    tags.members                 # one row per member, columns in member_tags' docstring
    tags.class_summary()         # members and revenue per RFM class
    print(tags.summary(lang="en"))

Lists built on the tags (birthdays, a segment for a campaign tool, CSV / Excel export) are in
``workbench.analyses.member_lists``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar, contract
from workbench.data.store import Store, connect
from workbench.data.visits import visits as member_visits
from workbench.errors import ParameterError, choices_message

# A year of history: long enough to see a monthly customer a dozen times and seasonal customers at least
# once, short enough that a member who left two years ago does not look valuable.
DEFAULT_WINDOW_DAYS = 365
# Scores 1..5: quintiles, the usual RFM resolution.
SCORE_LEVELS = 5
# "High" R / F / M means a score above the mean score of the scored members, the rule of Chinese CRM tools
# (R、F、M 得分高于平均值为高); 'median' or a fixed score are the alternatives.
RFM_CUTS = ("mean", "median")
DEFAULT_RFM_CUT = "mean"
# Visits per month: 2 or more (a visit every fortnight) is high, from 0.5 (one every two months) medium.
DEFAULT_FREQUENCY_BANDS = (0.5, 2.0)
DAYS_PER_MONTH = 365.25 / 12
# Visits per month need at least a month of exposure: two visits in a member's first week are not a rate of
# eight a month.
MIN_EXPOSURE_DAYS = 30
# Spending power: terciles of the average ticket (客单价) of members with a visit in the window, so the tiers
# fit any cuisine; ``spending_bands=(a, b)`` fixes them in currency instead.
SPENDING_POWER_QUANTILES = (1 / 3, 2 / 3)

# The eight classes: (R high, F high, M high) -> code. Order = display order (most valuable first).
RFM_CLASSES: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "important_value",
    (False, True, True): "important_retention",
    (True, False, True): "important_development",
    (False, False, True): "important_win_back",
    (True, True, False): "general_value",
    (False, True, False): "general_retention",
    (True, False, False): "general_development",
    (False, False, False): "general_win_back",
}
# RFM_CLASSES as an array indexed by r*4 + f*2 + m (each 1 when high), to look up a million members at once.
_RFM_LOOKUP = np.array([RFM_CLASSES[(bool(i & 4), bool(i & 2), bool(i & 1))] for i in range(8)], dtype=object)
CLASS_ORDER = (
    "important_value",
    "important_development",
    "important_retention",
    "important_win_back",
    "general_value",
    "general_development",
    "general_retention",
    "general_win_back",
)
NO_VISIT = "no_visit"  # never visited by as_of: no RFM class
RFM_CLASS_VALUES = (*CLASS_ORDER, NO_VISIT)
INACTIVE = "inactive"  # no visit in the window
FREQUENCY_TIERS = ("high", "medium", "low", "one_off", INACTIVE)
SPENDING_TIERS = ("high", "medium", "low", INACTIVE)

COLUMNS = (
    "member_id",
    "join_day",
    "join_channel",
    "vip",
    "in_group",
    "home_store_id",
    "city",
    "birthday_md",
    "first_visit_day",
    "last_visit_day",
    "recency_days",
    "lifetime_visits",
    "frequency",
    "monetary",
    "avg_ticket",
    "visits_per_month",
    "r_score",
    "f_score",
    "m_score",
    "rfm_class",
    "spending_power",
    "frequency_tier",
    "coupon_visits",
    "price_sensitivity",
    "price_sensitive",
    "favourite_store_id",
    "favourite_city",
)
CLASS_SUMMARY_COLUMNS = (
    "rfm_class",
    "members",
    "member_share",
    "revenue",
    "revenue_share",
    "mean_recency_days",
    "mean_frequency",
    "mean_monetary",
)
GRID_COLUMNS = ("r_score", "f_score", "members", "member_share", "revenue")
TAG_COUNT_COLUMNS = ("value", "members", "member_share", "revenue", "revenue_share")
# Tags whose distribution can be counted and drawn, with their values in display order (None: as found).
TAGS: dict[str, tuple | None] = {
    "rfm_class": RFM_CLASS_VALUES,
    "frequency_tier": FREQUENCY_TIERS,
    "spending_power": SPENDING_TIERS,
    "price_sensitive": (True, False),
    "vip": (True, False),
    "in_group": (True, False),
    "join_channel": None,
    "favourite_city": None,
    "favourite_store_id": None,
    "city": None,
    "r_score": (5, 4, 3, 2, 1),
    "f_score": (5, 4, 3, 2, 1),
    "m_score": (5, 4, 3, 2, 1),
}

i18n.register_values(
    "rfm_class",
    {
        "important_value": ("重要价值客户", "Important value"),
        "important_development": ("重要发展客户", "Important development"),
        "important_retention": ("重要保持客户", "Important retention"),
        "important_win_back": ("重要挽留客户", "Important win-back"),
        "general_value": ("一般价值客户", "General value"),
        "general_development": ("一般发展客户", "General development"),
        "general_retention": ("一般保持客户", "General retention"),
        "general_win_back": ("一般挽留客户", "General win-back"),
        NO_VISIT: ("未到店会员", "Never visited"),
    },
)
i18n.register_values(
    "frequency_tier",
    {
        "high": ("高频", "High frequency"),
        "medium": ("中频", "Medium frequency"),
        "low": ("低频", "Low frequency"),
        "one_off": ("仅到店一次", "One visit only"),
        INACTIVE: ("窗口内未到店", "No visit in window"),
    },
)
i18n.register_values(
    "spending_power",
    {
        "high": ("高消费力", "High spending"),
        "medium": ("中消费力", "Medium spending"),
        "low": ("低消费力", "Low spending"),
        INACTIVE: ("窗口内未到店", "No visit in window"),
    },
)
i18n.register(
    {
        "segments.title": (
            "会员标签与 RFM 分层（截至 {as_of}，近 {window} 天）",
            "Member tags and RFM classes (as of {as_of}, last {window} days)",
        ),
        "segments.population": (
            "{members} 名会员，其中 {scored} 名近 {window} 天有到店（参与 RFM 评分），{lapsed} 名此前到店、"
            "窗口内未到店，{never} 名从未到店",
            "{members} members: {scored} visited in the last {window} days (scored), {lapsed} visited only "
            "before the window, {never} never visited",
        ),
        "segments.cut": (
            "R/F/M 高低：得分高于{cut}（R {r}，F {f}，M {m}）",
            "High R / F / M: a score above the {cut} (R {r}, F {f}, M {m})",
        ),
        "segments.cut.mean": ("平均分", "mean score"),
        "segments.cut.median": ("中位分", "median score"),
        "segments.cut.fixed": ("固定分值", "fixed score"),
        "segments.class_line": (
            "{name}：{members} 人（{share}），营收占比 {revenue_share}",
            "{name}: {members} members ({share}), {revenue_share} of revenue",
        ),
        "segments.flags": (
            "价格敏感会员 {ps}（券使用占比 ≥ {threshold}）；VIP {vip}；高频会员 {high}",
            "Price sensitive {ps} (coupon on >= {threshold} of visits); VIP {vip}; high frequency {high}",
        ),
        "segments.empty": ("所选条件下没有会员", "No members for the selected filters"),
    }
)


@dataclass(frozen=True, eq=False)
class MemberTags:
    """The result of :func:`member_tags`.

    members     one row per member (columns in :func:`member_tags`' docstring)
    thresholds  the cut points actually used, so a reader can check any member's tags by hand:
                window_start (date), window_days, rfm_cut (as given), r_cut / f_cut / m_cut (the score a
                high R / F / M must exceed), score_ranges (DataFrame: measure, score, members, lower,
                upper: the range of recency_days / frequency / monetary behind each score among scored
                members), spending_bands (avg_ticket edges in currency: low < a <= medium < b <= high),
                frequency_bands (visits per month: low < a <= medium < b <= high),
                price_sensitive_share (coupon share at or above which a member is price sensitive)
    params      the call's parameters as resolved (as_of is a date)
    """

    members: pd.DataFrame
    thresholds: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def as_of(self) -> dt.date:
        return self.params["as_of"]

    def class_summary(self) -> pd.DataFrame:
        """Members and revenue per RFM class, one row per class in display order (all nine, zeros kept).

        Columns: rfm_class (code), members (count), member_share (of all members in the result, 0-1),
        revenue (monetary summed: currency, in the window), revenue_share (of the window's revenue, 0-1; NaN
        when there is none), mean_recency_days (days; NaN for 'no_visit'), mean_frequency (visits in the
        window), mean_monetary (currency per member).
        """
        m = self.members
        g = m.groupby("rfm_class", observed=True)
        out = pd.DataFrame(
            {
                "members": g.size(),
                "revenue": g["monetary"].sum(),
                "mean_recency_days": g["recency_days"].mean(),
                "mean_frequency": g["frequency"].mean(),
                "mean_monetary": g["monetary"].mean(),
            }
        ).reindex(list(RFM_CLASS_VALUES))
        out["members"] = out["members"].fillna(0).astype("int64")
        out["revenue"] = out["revenue"].fillna(0.0)
        out["member_share"] = _share(out["members"], len(m))
        out["revenue_share"] = _share(out["revenue"], float(m["monetary"].sum()))
        out = out.rename_axis("rfm_class").reset_index()
        return out[list(CLASS_SUMMARY_COLUMNS)]

    def grid(self) -> pd.DataFrame:
        """Members per (R score, F score): 25 rows, R 1-5 x F 1-5, zeros kept (members with a score only).

        Columns: r_score, f_score (1-5), members (count), member_share (of members with a score, 0-1),
        revenue (monetary summed, currency).
        """
        m = self.members[self.members["r_score"].notna()]
        counts = m.groupby(["r_score", "f_score"]).agg(
            members=("member_id", "size"), revenue=("monetary", "sum")
        )
        levels = range(1, SCORE_LEVELS + 1)
        full = pd.MultiIndex.from_product([levels, levels], names=["r_score", "f_score"])
        out = counts.reindex(full).fillna(0).reset_index()
        out["members"] = out["members"].astype("int64")
        out["member_share"] = _share(out["members"], len(m))
        return out[list(GRID_COLUMNS)]

    def tag_counts(self, tag: str) -> pd.DataFrame:
        """Members and revenue per value of ``tag`` (one of ``TAGS``), in display order.

        Columns: value (the tag's value as in ``members``), members (count), member_share (0-1), revenue
        (monetary summed, currency), revenue_share (0-1). Fixed vocabularies keep every value (zeros
        kept); open ones (cities, stores, channels) list values found, most members first.
        """
        if tag not in TAGS:
            raise ParameterError(choices_message("tag", tag, TAGS))
        m = self.members
        g = m.groupby(m[tag], dropna=False)
        out = pd.DataFrame({"members": g.size(), "revenue": g["monetary"].sum()})
        order = TAGS[tag]
        if order is not None:
            out = out.reindex(list(order)).fillna(0)
        else:
            out = out.sort_values(["members", "revenue"], ascending=False, kind="mergesort")
        out["members"] = out["members"].astype("int64")
        out["member_share"] = _share(out["members"], len(m))
        out["revenue_share"] = _share(out["revenue"], float(m["monetary"].sum()))
        out = out.rename_axis("value").reset_index()
        return out[list(TAG_COUNT_COLUMNS)]

    def summary(self, lang: str = "zh") -> str:
        """Population, the cut, members and revenue share per class, and the flags, in Chinese or English."""
        i18n.check_lang(lang)
        p, th, m = self.params, self.thresholds, self.members
        lines = [i18n.t("segments.title", lang, as_of=p["as_of"].isoformat(), window=p["window_days"])]
        if m.empty:
            return "\n".join([*lines, i18n.t("segments.empty", lang)])
        scored = int((m["frequency"] > 0).sum())
        never = int((m["rfm_class"] == NO_VISIT).sum())
        lines.append(
            i18n.t(
                "segments.population",
                lang,
                members=f"{len(m):,}",
                scored=f"{scored:,}",
                lapsed=f"{len(m) - scored - never:,}",
                never=f"{never:,}",
                window=p["window_days"],
            )
        )
        cut = th["rfm_cut"] if th["rfm_cut"] in RFM_CUTS else "fixed"
        lines.append(
            i18n.t(
                "segments.cut",
                lang,
                cut=i18n.t(f"segments.cut.{cut}", lang),
                r=_fmt(th["r_cut"]),
                f=_fmt(th["f_cut"]),
                m=_fmt(th["m_cut"]),
            )
        )
        for row in self.class_summary().itertuples():
            lines.append(
                "  "
                + i18n.t(
                    "segments.class_line",
                    lang,
                    name=i18n.value_label("rfm_class", row.rfm_class, lang),
                    members=f"{row.members:,}",
                    share=f"{row.member_share:.1%}",
                    revenue_share="–" if pd.isna(row.revenue_share) else f"{row.revenue_share:.1%}",
                )
            )
        lines.append(
            i18n.t(
                "segments.flags",
                lang,
                ps=f"{m['price_sensitive'].mean():.1%}",
                threshold=f"{th['price_sensitive_share']:.0%}",
                vip=f"{m['vip'].mean():.1%}",
                high=f"{(m['frequency_tier'] == 'high').mean():.1%}",
            )
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MemberTags(as_of={self.as_of.isoformat()}, window_days={self.params['window_days']}, "
            f"members={len(self.members):,}, rfm_cut={self.thresholds['rfm_cut']!r})"
        )


def member_tags(
    db,
    *,
    as_of=None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    rfm_cut=DEFAULT_RFM_CUT,
    frequency_bands=DEFAULT_FREQUENCY_BANDS,
    spending_bands=None,
    stores=None,
    cities=None,
    join_channels=None,
) -> MemberTags:
    """One row per member with RFM scores, the eight-class RFM segment and the tags operators filter on.

    Parameters (keyword-only)
      as_of            the analysis day (date or 'YYYY-MM-DD'); default the data's last complete day. Visits
                       after it are ignored; members who joined after it are not members yet.
      window_days      the RFM window: the ``window_days`` local days ending on as_of (inclusive)
      rfm_cut          what "high" R / F / M means: 'mean' (a score above the mean score of the scored
                       members, the usual rule), 'median' (above the median score), or a number in [1, 5)
                       (above that score)
      frequency_bands  (a, b) visits per month: low below a, medium from a, high from b
      spending_bands   (a, b) average ticket in currency: low below a, medium from a, high from b; None: the
                       terciles of the average ticket of the members with a visit in the window
      stores, cities, join_channels   keep members by home store (join store, else first-visit store), its
                       city, or join channel (as ``scope.scoped_members``)

    Definitions. A visit is a member's orders on one local day. The window is
    [as_of - window_days + 1, as_of]. Members with a visit in the window are *scored*:

    - Scores are quintiles among the scored members, by rank with ties sharing a score: a member's score is
      1 + floor(5 * L / n), where n is the number of scored members and L the number of them with a strictly
      worse value (recency: more days since the last visit; frequency, monetary: smaller). Equal values get
      equal scores, so a tie spanning a quintile edge takes the lower score and some scores may be empty
      (e.g. when 40% of members visited once, they all get F score 1 and F score 2 is empty).
    - rfm_class: R / F / M is high when its score is strictly above the cut (``rfm_cut``: the mean or median
      score over the scored members, or a fixed score); the eight combinations name the classes
      (R F M high = 重要价值 important_value; R low F M high = 重要保持 important_retention; R M high F low =
      重要发展 important_development; M high R F low = 重要挽留 important_win_back; and the same four with M
      low as 一般 general_...).
    - Members who visited only before the window have scores 1 / 1 / 1 (their recency is longer than any
      scored member's and their frequency and monetary are 0, below every scored member), so they are
      general_win_back; they do not enter the quintiles or the cut. Members who never visited by as_of
      have no scores (<NA>) and rfm_class 'no_visit'.

    Returns a :class:`MemberTags`; ``members`` has one row per member in scope, sorted by member_id:
      member_id           as stored (opaque; never a phone number, its hash or a name)
      join_day            local day of joining (datetime64)
      join_channel        as recorded ('unknown' when missing)
      vip                 bool: bought a VIP card on or before as_of
      in_group            bool: joined a community group on or before as_of
      home_store_id, city join store (else first-visit store) and its city
      birthday_md         'MM-DD' as recorded (None when missing)
      first_visit_day, last_visit_day   local days of the first and last visit up to as_of (NaT: none)
      recency_days        as_of - last_visit_day (days, Int64; <NA> never visited)
      lifetime_visits     visits up to as_of (int)
      frequency           visits in the window (int)
      monetary            amount paid on those visits (currency, e.g. CNY; 0 without visits)
      avg_ticket          monetary / frequency (currency per visit, 客单价; NaN without visits in the window)
      visits_per_month    frequency / max(exposure, MIN_EXPOSURE_DAYS) * DAYS_PER_MONTH, exposure = days
                          from the later of the window start and the first visit to as_of, inclusive (visits
                          per month, float; 0 without visits in the window)
      r_score, f_score, m_score   1-5 (Int64; see above)
      rfm_class           one of RFM_CLASS_VALUES (display names via i18n.value_label('rfm_class', ...))
      spending_power      'high', 'medium', 'low' by avg_ticket (``spending_bands``), 'inactive' without a
                          visit in the window
      frequency_tier      'one_off' (the member's only visit so far is in the window), else 'high',
                          'medium', 'low' by visits_per_month (``frequency_bands``); 'inactive' without a
                          visit in the window
      coupon_visits       visits in the window with a coupon (int)
      price_sensitivity   coupon_visits / frequency (share 0-1; NaN without visits in the window)
      price_sensitive     bool: price_sensitivity >= scope.PRICE_SENSITIVE_COUPON_SHARE (False without visits
                          in the window)
      favourite_store_id  the store of most visits in the window; ties, and members without a visit in the
                          window, go by most visits up to as_of, then the latest visit there, then the
                          smallest store_id (None: never visited)
      favourite_city      the city of most visits, ranked the same way (not always the favourite store's city:
                          three visits spread over two stores of one city beat two in another)

    Raises ParameterError on invalid parameters, naming the valid choices.
    """
    db = connect(db)
    window_days = _check_whole("window_days", window_days, minimum=1)
    cut = _check_cut(rfm_cut)
    frequency_bands = _check_bands("frequency_bands", frequency_bands)
    if spending_bands is not None:
        spending_bands = _check_bands("spending_bands", spending_bands)
    join_channels = _check_choices("join_channels", join_channels, (*contract.JOIN_CHANNELS, "unknown"))
    day = scope.resolve_as_of(db, as_of)
    start = day - dt.timedelta(days=window_days - 1)

    raw = member_rows(
        db, as_of=day, window_start=start, stores=stores, cities=cities, join_channels=join_channels
    )
    frame, thresholds = _tag(
        raw,
        as_of=day,
        window_start=start,
        cut=cut,
        frequency_bands=frequency_bands,
        spending_bands=spending_bands,
    )
    thresholds.update(window_start=start, window_days=window_days)
    params = {
        "as_of": day,
        "window_days": window_days,
        "window_start": start,
        "rfm_cut": rfm_cut,
        "frequency_bands": frequency_bands,
        "spending_bands": spending_bands,
        "stores": _tuple_or_none(stores),
        "cities": _tuple_or_none(cities),
        "join_channels": join_channels,
        "currency": db.settings.currency,
    }
    return MemberTags(members=frame, thresholds=thresholds, params=params)


# ---------------------------------------------------------------------------------------------------------
# Engine side (Ibis): one row per member
# ---------------------------------------------------------------------------------------------------------


def member_rows(
    db: Store, *, as_of: dt.date, window_start: dt.date, stores=None, cities=None, join_channels=None
) -> ibis.Table:
    """One row per member in scope with the aggregates the tags come from (an Ibis table, not executed).

    Columns: member_id, join_day, join_channel, vip, in_group, home_store_id, city, birthday_md,
    first_visit_day, last_visit_day, lifetime_visits, frequency, monetary (currency), coupon_visits,
    favourite_store_id, favourite_city (see :func:`member_tags`).
    """
    members = scope.scoped_members(
        db, as_of=as_of, stores=stores, cities=cities, join_channels=join_channels
    ).select("member_id", "join_day", "join_channel", "vip", "in_group", "home_store_id", "city")
    v = member_visits(db, as_of=as_of)
    in_window = v.day >= calendar.date_literal(window_start)
    v = v.mutate(in_window=in_window.cast("int64"))
    per = v.group_by("member_id").aggregate(
        first_visit_day=v.day.min(),
        last_visit_day=v.day.max(),
        lifetime_visits=v.count(),
        frequency=v.in_window.sum(),
        monetary=ibis.ifelse(v.in_window == 1, v.amount, 0.0).sum(),
        coupon_visits=(v.in_window * v.coupon_used.cast("int64")).sum(),
    )
    s = db.stores.select(visit_store="store_id", visit_city="city")
    vc = v.left_join(s, v.store_id == s.visit_store).drop("visit_store")
    favourite_store = _favourite(v, "store_id", "favourite_store_id")
    vc = vc.mutate(visit_city=vc.visit_city.fill_null("unknown"))
    favourite_city = _favourite(vc, "visit_city", "favourite_city")
    birthdays = db.members.select(bd_member="member_id", birthday_md="birthday_md")
    t = members.left_join(per, "member_id").drop("member_id_right")
    t = t.left_join(favourite_store, "member_id").drop("member_id_right")
    t = t.left_join(favourite_city, "member_id").drop("member_id_right")
    t = t.left_join(birthdays, t.member_id == birthdays.bd_member).drop("bd_member")
    return t.select(
        "member_id",
        "join_day",
        "join_channel",
        "vip",
        "in_group",
        "home_store_id",
        "city",
        "birthday_md",
        "first_visit_day",
        "last_visit_day",
        lifetime_visits=t.lifetime_visits.fill_null(0),
        frequency=t.frequency.fill_null(0),
        monetary=t.monetary.fill_null(0.0),
        coupon_visits=t.coupon_visits.fill_null(0),
        favourite_store_id=t.favourite_store_id,
        favourite_city=t.favourite_city,
    )


def _favourite(v: ibis.Table, key: str, name: str) -> ibis.Table:
    """member_id -> the ``key`` with most visits in the window, then most visits, latest visit, smallest key."""
    per = v.group_by(["member_id", key]).aggregate(
        window_visits=v.in_window.sum(), all_visits=v.count(), latest=v.day.max()
    )
    w = ibis.window(
        group_by=per.member_id,
        order_by=[ibis.desc(per.window_visits), ibis.desc(per.all_visits), ibis.desc(per.latest), per[key]],
    )
    ranked = per.mutate(rn=ibis.row_number().over(w))
    return ranked.filter(ranked.rn == 0).select("member_id", **{name: ranked[key]})


# ---------------------------------------------------------------------------------------------------------
# pandas side: scores and tags of the member rows
# ---------------------------------------------------------------------------------------------------------


def _tag(raw: ibis.Table, *, as_of, window_start, cut, frequency_bands, spending_bands):
    # Through Arrow's own conversion: Ibis turns every column holding a null into Python objects one value
    # at a time (3 s for a million members); the columns are given their types below either way.
    # Ordered by member in the engine (a pandas sort of a million rows and its new index cost over 1 s).
    m = raw.order_by("member_id").to_pyarrow().to_pandas(date_as_object=False)
    m["member_id"] = m["member_id"].astype(str)
    for c in ("join_day", "first_visit_day", "last_visit_day"):
        m[c] = pd.to_datetime(m[c]).astype("datetime64[ns]")
    for c in ("lifetime_visits", "frequency", "coupon_visits"):
        m[c] = pd.to_numeric(m[c]).fillna(0).astype("int64")
    for c in ("vip", "in_group"):
        m[c] = m[c].fillna(False).astype(bool)
    # Sums of amounts that are exact to the cent: round off the float noise of the sum, never a real cent.
    m["monetary"] = pd.to_numeric(m["monetary"]).astype("float64").round(contract.MONEY_SCALE)

    as_of_ts, start_ts = pd.Timestamp(as_of), pd.Timestamp(window_start)
    visited = m["last_visit_day"].notna()
    active = m["frequency"] > 0
    m["recency_days"] = pd.array((as_of_ts - m["last_visit_day"]).dt.days, dtype="Int64")
    m["avg_ticket"] = (m["monetary"] / m["frequency"]).where(active)
    exposure_start = m["first_visit_day"].where(m["first_visit_day"] > start_ts, start_ts)
    exposure = ((as_of_ts - exposure_start).dt.days + 1).clip(lower=MIN_EXPOSURE_DAYS)
    m["visits_per_month"] = (m["frequency"] / exposure * DAYS_PER_MONTH).where(active, 0.0)

    scores, ranges = _scores(m[active])
    cuts = _cuts(scores, cut)
    for col in ("r_score", "f_score", "m_score"):
        s = pd.Series(pd.NA, index=m.index, dtype="Int64")
        s[visited] = 1  # visited only before the window: below every scored member
        s[active] = scores[col].astype("int64")
        m[col] = s
    high = {
        col: (m[col].astype("float64") > cuts[col]).to_numpy() for col in ("r_score", "f_score", "m_score")
    }
    index = high["r_score"] * 4 + high["f_score"] * 2 + high["m_score"]  # see _RFM_LOOKUP
    m["rfm_class"] = np.where(visited, _RFM_LOOKUP[index], NO_VISIT)

    if spending_bands is None:
        tickets = m.loc[active, "avg_ticket"]
        spending_bands = (
            tuple(float(q) for q in tickets.quantile(list(SPENDING_POWER_QUANTILES)))
            if len(tickets)
            else (math.nan, math.nan)
        )
    m["spending_power"] = _tiers(m["avg_ticket"], spending_bands, active)
    tier = _tiers(m["visits_per_month"], frequency_bands, active)
    m["frequency_tier"] = np.where(active & (m["lifetime_visits"] == 1), "one_off", tier)

    m["price_sensitivity"] = (m["coupon_visits"] / m["frequency"]).where(active)
    m["price_sensitive"] = (
        (m["price_sensitivity"] >= scope.PRICE_SENSITIVE_COUPON_SHARE).fillna(False).astype(bool)
    )
    for c in ("birthday_md", "favourite_store_id", "favourite_city"):
        m[c] = m[c].astype(object).where(m[c].notna(), None)

    thresholds = {
        "rfm_cut": cut,
        "r_cut": cuts["r_score"],
        "f_cut": cuts["f_score"],
        "m_cut": cuts["m_score"],
        "score_ranges": ranges,
        "spending_bands": spending_bands,
        "frequency_bands": frequency_bands,
        "price_sensitive_share": scope.PRICE_SENSITIVE_COUPON_SHARE,
    }
    return m[list(COLUMNS)], thresholds


def quintile_scores(
    values: pd.Series, *, higher_is_better: bool = True, levels: int = SCORE_LEVELS
) -> pd.Series:
    """Scores 1..levels by rank, ties sharing a score: 1 + floor(levels * L / n).

    L is the number of values strictly worse than the member's (smaller when ``higher_is_better``, larger
    otherwise) and n the number of values. With n distinct values each score holds n / levels of them.
    """
    if values.empty:
        return pd.Series([], dtype="int64", index=values.index)
    keyed = values if higher_is_better else -values
    worse = keyed.rank(method="min").astype("int64") - 1
    return (1 + (levels * worse) // len(values)).astype("int64")


def _scores(active: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = pd.DataFrame(
        {
            "r_score": quintile_scores(active["recency_days"].astype("int64"), higher_is_better=False),
            "f_score": quintile_scores(active["frequency"]),
            "m_score": quintile_scores(active["monetary"]),
        },
        index=active.index,
    )
    rows = []
    for measure, col in (("recency_days", "r_score"), ("frequency", "f_score"), ("monetary", "m_score")):
        values = active[measure].astype("float64")
        for score in range(1, SCORE_LEVELS + 1):
            inside = values[out[col] == score]
            rows.append(
                {
                    "measure": measure,
                    "score": score,
                    "members": len(inside),
                    "lower": inside.min() if len(inside) else math.nan,
                    "upper": inside.max() if len(inside) else math.nan,
                }
            )
    return out, pd.DataFrame(rows, columns=["measure", "score", "members", "lower", "upper"])


def _cuts(scores: pd.DataFrame, cut) -> dict[str, float]:
    if isinstance(cut, str):
        stat = "mean" if cut == "mean" else "median"
        return {c: float(getattr(scores[c], stat)()) if len(scores) else math.nan for c in scores.columns}
    return {c: float(cut) for c in scores.columns}


def _tiers(values: pd.Series, bands: tuple[float, float], active: pd.Series) -> np.ndarray:
    low, high = bands
    tier = np.where(values >= high, "high", np.where(values >= low, "medium", "low"))
    return np.where(active, tier, INACTIVE)


def _share(values: pd.Series, total) -> pd.Series:
    return values / total if total else pd.Series(math.nan, index=values.index)


def _fmt(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


# ---------------------------------------------------------------------------------------------------------
# Parameter checks
# ---------------------------------------------------------------------------------------------------------


def _check_whole(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}.")
    return int(value)


def _check_cut(cut):
    if isinstance(cut, str):
        if cut not in RFM_CUTS:
            raise ParameterError(choices_message("rfm_cut", cut, (*RFM_CUTS, "a score in [1, 5)")))
        return cut
    if (
        isinstance(cut, bool)
        or not isinstance(cut, int | float | np.integer | np.floating)
        or not (1 <= cut < SCORE_LEVELS)
    ):
        raise ParameterError(choices_message("rfm_cut", cut, (*RFM_CUTS, "a score in [1, 5)")))
    return float(cut)


def _check_bands(name: str, bands) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bands)
        ok = 0 <= low < high and not any(isinstance(b, bool) for b in bands)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(
            f"{name}={bands!r} is not valid; expected two increasing numbers >= 0 (low < a <= medium < b <= high)."
        )
    return (low, high)


def _check_choices(name: str, values, choices) -> tuple[str, ...] | None:
    if values is None:
        return None
    listed = [values] if isinstance(values, str) else list(values)
    unknown = [v for v in listed if v not in choices]
    if unknown:
        raise ParameterError(
            f"{name}={values!r} is not valid: {', '.join(map(repr, unknown))} unknown; "
            f"expected some of: {', '.join(choices)}."
        )
    return tuple(listed) or None


def _tuple_or_none(values) -> tuple | None:
    if values is None:
        return None
    return (values,) if isinstance(values, str | int) else tuple(values)
