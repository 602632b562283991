"""VIP cards (付费会员卡): how VIPs differ from other members, and how much of it the card causes.

Three comparisons, from the most naive to the closest to causal:

- **groups** (naive): VIP vs non-VIP members over a window: visits and revenue per 30 days, average ticket
  (客单价), second visit within 30 / 90 days, still active in the last 90 days, each with a 95% interval,
  and the VIP / non-VIP multiple. Buyers are selected: frequent visitors buy the card more readily, so the
  multiple mixes who buys with what the card does.
- **before_after** (within member): each VIP's visits per 30 days in the ``before_after_days`` before the
  purchase day against the same length after it, paired. Only VIPs with that much history (first visit at
  least that many days before buying) and follow-up (bought at least that many days before ``as_of``) are
  compared; the others are counted by reason. A second row keeps only VIPs "still active" after the after
  window (a visit after it): the before window is always lived (the card is bought at a visit), the after
  window may end early when a member lapses, so the first row mixes the card's effect on the visit rate
  with lapsing, the second isolates the visit rate of members who stayed.
- **matched** (difference-in-differences, observational): the same before / after difference for VIPs
  and for comparison members who had not bought a card by the end of the after window, each given a pseudo
  purchase day (one of their own visits, picked by a hash of member and day: deterministic, unrelated to
  behaviour). Members are compared within strata of visit rate in a matching window (the
  ``before_after_days`` before the before window; matching on the before window itself would put regression
  to the mean into the difference), tenure and join channel (:func:`workbench.stats.did.stratified_did`).
  The effect is an incremental visit rate, turned into a multiplier of the visit rate against the
  counterfactual (the VIPs' after rate minus the effect).
- **payback**: the matched incremental revenue per VIP per 30 days times ``margin_rate`` is the margin the
  card brings per month; ``vip_fee`` divided by it is the months the behaviour change takes to earn the
  card's price (how long a free or discounted card takes to pay for itself).

The engine computes one row per member (counts in the windows) and aggregates them to sums and sums of
squares per group or stratum; pandas receives those few rows. No order line leaves the engine.

    vip = vip_comparison(db, window_days=365)
    vip.groups            # VIP vs non-VIP per metric, with intervals
    vip.multiples         # VIP / non-VIP multiple per metric
    vip.before_after      # within-VIP visit rate before vs after buying
    vip.matched           # difference-in-differences against matched non-VIPs
    print(vip.summary(lang="en"))
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats as sps

from workbench import i18n
from workbench.analyses import scope
from workbench.analyses.lift_outcomes import DEFAULT_MARGIN_RATE
from workbench.data import calendar
from workbench.data.store import Store
from workbench.data.visits import numbered_visits, visits
from workbench.errors import ParameterError, ThinDataWarning
from workbench.stats import Moments, mean_interval, wilson_interval
from workbench.stats.did import stratified_did
from workbench.stats.moments import centered_sum_sq

# A paid membership card in Chinese restaurant chains sells for roughly 99-299 CNY a year; 199 is the
# middle of that range. The contract holds no fee, so this is a parameter.
DEFAULT_VIP_FEE = 199.0
# The naive comparison looks at the last year: long enough to cover seasons, short enough to describe
# current members.
DEFAULT_WINDOW_DAYS = 365
# Before / after windows of a quarter: several visits of a monthly customer on each side, and short enough
# that a member's life (job, address) is comparable on both sides.
DEFAULT_BEFORE_AFTER_DAYS = 90
# Rates are per 30 days ("per month" for operators).
DAYS_PER_MONTH = 30
# Members observed for fewer days in the window are left out of the per-30-day rates: one visit in a
# member's first week would read as four visits a month.
MIN_EXPOSURE_DAYS = 30
# Repurchase: a second visit within these many days of the first (DESIGN.md horizons).
REPURCHASE_HORIZONS = (30, 90)
# Retention: of members who visited in the window before the last RETENTION_DAYS, the share who visited in
# the last RETENTION_DAYS (a quarter without a visit is the usual "lapsing" line of chains' CRM tools).
RETENTION_DAYS = 90
# Matching strata: visit rate per 30 days in the matching window (lower bounds of the bands) ...
MATCH_RATE_BANDS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
# ... and days since joining at the (pseudo) purchase day (lower bounds: new, half a year, a year, two).
TENURE_BANDS_DAYS = (0, 180, 365, 730)
CONFIDENCE = 0.95

VIP, NON_VIP = "vip", "non_vip"
ALL, STILL_ACTIVE = "all", "still_active"
METRICS = (
    "visits_per_30d",
    "average_ticket",
    "repurchase_30d",
    "repurchase_90d",
    "active_last_90d",
    "revenue_per_30d",
)
GROUP_COLUMNS = ("group", "metric", "members", "value", "ci_low", "ci_high", "se")
MULTIPLE_COLUMNS = ("metric", "vip", "non_vip", "multiple", "ci_low", "ci_high")
BEFORE_AFTER_COLUMNS = (
    "population",
    "vips",
    "excluded_follow_up",
    "excluded_history",
    "excluded_inactive",
    "members",
    "before_rate",
    "after_rate",
    "diff",
    "diff_low",
    "diff_high",
    "ratio",
    "ratio_low",
    "ratio_high",
    "p_value",
)
MATCHED_COLUMNS = (
    "population",
    "outcome",
    "vips",
    "vips_unmatched",
    "comparison_members",
    "strata",
    "vip_before",
    "vip_after",
    "comparison_before",
    "comparison_after",
    "effect",
    "effect_low",
    "effect_high",
    "p_value",
    "multiplier",
    "multiplier_low",
    "multiplier_high",
)
PAYBACK_COLUMNS = (
    "vips",
    "incremental_visits_per_month",
    "incremental_revenue_per_month",
    "incremental_revenue_low",
    "incremental_revenue_high",
    "margin_rate",
    "incremental_margin_per_month",
    "incremental_margin_low",
    "incremental_margin_high",
    "vip_fee",
    "payback_months",
    "payback_months_low",
    "payback_months_high",
)

i18n.register(
    {
        "vip.title": ("付费会员（VIP）分析", "VIP card analysis"),
        "vip.as_of": ("截至 {day}", "as of {day}"),
        "vip.group.vip": ("VIP 会员", "VIP members"),
        "vip.group.non_vip": ("非 VIP 会员", "Non-VIP members"),
        "vip.metric.visits_per_30d": ("每 30 天到店次数", "Visits per 30 days"),
        "vip.metric.average_ticket": ("客单价", "Average ticket"),
        "vip.metric.repurchase_30d": ("30 天内复购率", "Second visit within 30 days"),
        "vip.metric.repurchase_90d": ("90 天内复购率", "Second visit within 90 days"),
        "vip.metric.active_last_90d": ("近 90 天仍活跃", "Active in the last 90 days"),
        "vip.metric.revenue_per_30d": ("每 30 天人均营收", "Revenue per member per 30 days"),
        "vip.population.all": ("全部可比 VIP", "All comparable VIPs"),
        "vip.population.still_active": ("窗口后仍活跃的 VIP", "VIPs still active after the window"),
        "vip.naive_head": (
            "VIP 与非 VIP 对比（近 {days} 天；朴素对比：高频顾客更愿意买卡，倍数不等于卡的作用）",
            "VIP vs non-VIP (last {days} days; naive: frequent visitors buy the card more readily, so the "
            "multiple is not the card's effect)",
        ),
        "vip.naive_head_all": (
            "VIP 与非 VIP 对比（全部历史；朴素对比：高频顾客更愿意买卡，倍数不等于卡的作用）",
            "VIP vs non-VIP (all history; naive: frequent visitors buy the card more readily, so the "
            "multiple is not the card's effect)",
        ),
        "vip.multiple": ("倍数（VIP/非VIP）", "Multiple (VIP / non-VIP)"),
        "vip.before_after_head": (
            "同一 VIP 买卡前后 {days} 天的到店频次（每 30 天，配对）",
            "The same VIPs' visits per 30 days in the {days} days before vs after buying (paired)",
        ),
        "vip.excluded": (
            "共 {vips:,} 名 VIP；未纳入：买卡距截至日不足 {days} 天 {follow:,} 名，买卡前到店历史不足 {days} 天 "
            "{history:,} 名；“仍活跃”另排除窗口后再无到店的 {inactive:,} 名",
            "{vips:,} VIPs; left out: bought less than {days} days before as_of {follow:,}, first visit less "
            "than {days} days before buying {history:,}; 'still active' also leaves out {inactive:,} with no "
            "visit after the window",
        ),
        "vip.matched_head": (
            "与匹配的非 VIP 会员做双重差分（按匹配期到店频次、入会时长、入会渠道分层）",
            "Difference-in-differences against matched non-VIP members (strata of matching-window visit "
            "rate, tenure and join channel)",
        ),
        "vip.payback_head": (
            "回本测算（基于匹配估计，全部可比 VIP）",
            "Payback (from the matched estimate, all comparable VIPs)",
        ),
        "vip.payback_line": (
            "每位 VIP 每月增量营收 {revenue:.1f} {currency}，毛利率 {margin:.0%} → 增量毛利 {gain:.1f} {currency}"
            "（95% 区间 {gain_low:.1f}–{gain_high:.1f}）；卡费 {fee:.0f} {currency} 约 {months} 个月回本",
            "Incremental revenue per VIP per month {revenue:.1f} {currency}, margin rate {margin:.0%} -> "
            "incremental margin {gain:.1f} {currency} (95% {gain_low:.1f}–{gain_high:.1f}); the {fee:.0f} "
            "{currency} fee pays back in about {months} months",
        ),
        "vip.never": ("无法回本", "never"),
        "vip.col.population": ("人群", "Population"),
        "vip.col.members": ("人数", "Members"),
        "vip.col.before": ("买卡前", "Before"),
        "vip.col.after": ("买卡后", "After"),
        "vip.col.ratio": ("前后倍数 [95%]", "After / before [95%]"),
        "vip.col.metric": ("指标", "Metric"),
        "vip.col.comparison": ("对照组 前→后", "Comparison before→after"),
        "vip.col.effect": ("增量（次/30天）[95%]", "Effect (visits / 30 d) [95%]"),
        "vip.col.multiplier": ("频次倍数 [95%]", "Rate multiplier [95%]"),
        "vip.no_vips": ("所选条件下没有 VIP 会员", "No VIP members for the selected filters"),
        "vip.no_comparable": (
            "没有可比的 VIP（历史或随访不足）",
            "No comparable VIPs (too little history or follow-up)",
        ),
    }
)


@dataclass(frozen=True)
class VipComparison:
    """The result of :func:`vip_comparison` (see its docstring for every column).

    groups, multiples   the naive VIP vs non-VIP comparison
    before_after        within-VIP before vs after buying, one row per population
    matched             difference-in-differences against matched non-VIPs, per population and outcome
    payback             one row: incremental margin per VIP per month and months to earn the fee
    params              as_of, window_days, before_after_days, margin_rate, vip_fee, stores, cities, currency
    """

    groups: pd.DataFrame
    multiples: pd.DataFrame
    before_after: pd.DataFrame
    matched: pd.DataFrame
    payback: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def multiple(self, metric: str = "visits_per_30d") -> float:
        """The naive VIP / non-VIP multiple of ``metric`` (one of METRICS)."""
        if metric not in METRICS:
            raise ParameterError(f"metric={metric!r} is not valid; expected one of: {', '.join(METRICS)}.")
        return float(self.multiples.set_index("metric").loc[metric, "multiple"])

    def summary(self, lang: str = "zh") -> str:
        """The comparisons in a few tables, in zh or en."""
        return _summary_text(self, lang)


def vip_comparison(
    db: Store,
    *,
    as_of=None,
    window_days: int | None = DEFAULT_WINDOW_DAYS,
    before_after_days: int = DEFAULT_BEFORE_AFTER_DAYS,
    margin_rate: float = DEFAULT_MARGIN_RATE,
    vip_fee: float = DEFAULT_VIP_FEE,
    stores=None,
    cities=None,
) -> VipComparison:
    """VIP vs non-VIP members: naive comparison, each VIP before vs after buying, matched DiD, payback.

    A VIP is a member whose ``vip_since`` falls on a local day on or before ``as_of``; the purchase day is
    that local day. Visits are member-days with an order (DESIGN.md). Members are those of
    :func:`scope.scoped_members` (``stores`` / ``cities`` filter by home store). ``window_days`` (None:
    all history) applies to the naive comparison; ``before_after_days`` (W) is the length of the before,
    after and matching windows. ``margin_rate`` (share 0-1 of revenue kept as margin) and ``vip_fee``
    (currency) feed the payback.

    Returns a :class:`VipComparison` with:
      groups        one row per group ('vip', 'non_vip') and metric: members (units behind the value),
                    value, ci_low, ci_high (95%), se (standard error). Metrics:
                      visits_per_30d   visits in the window x 30 / days observed (from joining or the
                                       window's start, members observed >= MIN_EXPOSURE_DAYS), mean per
                                       member (t interval)
                      revenue_per_30d  the same for revenue (currency per member per 30 days)
                      average_ticket   revenue / visits in the window (currency per visit, 客单价), ratio
                                       with a member-clustered delta-method interval
                      repurchase_30d, repurchase_90d   share (0-1) of members whose first visit is in the
                                       window and at least h days before as_of with a second visit within
                                       h days (Wilson)
                      active_last_90d  share (0-1) of members who visited in the window before the last
                                       90 days with a visit in the last 90 days (Wilson)
      multiples     one row per metric: vip, non_vip (values), multiple = vip / non_vip with ci_low, ci_high
                    (95%, normal on the log scale from the two standard errors)
      before_after  one row per population ('all': VIPs with W days of history before and W days of
                    follow-up after buying; 'still_active': of those, the ones with a visit after the after
                    window): vips (all VIPs in scope), excluded_follow_up, excluded_history,
                    excluded_inactive (members left out and why; inactive only for 'still_active'),
                    members (compared), before_rate, after_rate (visits per 30 days, mean per member),
                    diff = after - before with diff_low / diff_high (paired t), ratio = after_rate /
                    before_rate with ratio_low / ratio_high (paired delta method, log scale), p_value
      matched       one row per population and outcome ('visits_per_30d', 'revenue_per_30d'): vips
                    (matched), vips_unmatched (no stratum with comparison members, or fewer than 2 on a side,
                    or less than 2W of history), comparison_members, strata, vip_before, vip_after,
                    comparison_before, comparison_after (per 30 days; comparison weighted to the VIPs'
                    strata), effect = difference-in-differences with effect_low / effect_high and p_value
                    (normal), multiplier = vip_after / (vip_after - effect) with multiplier_low / _high
                    (from the effect's interval, vip_after held fixed). Observational: it assumes VIPs
                    and matched members would have moved in parallel without the card.
      payback       one row, from the matched 'all' revenue effect: vips, incremental_visits_per_month,
                    incremental_revenue_per_month with _low / _high (currency per VIP per 30 days),
                    margin_rate, incremental_margin_per_month with _low / _high, vip_fee, payback_months =
                    vip_fee / incremental margin with _low / _high (inf when the margin may be <= 0)
    Cells without enough members give NaN and a ThinDataWarning.
    """
    day = scope.resolve_as_of(db, as_of)
    window = _check_window(window_days)
    w = _check_whole("before_after_days", before_after_days, minimum=1)
    margin = _check_share("margin_rate", margin_rate)
    fee = _check_positive("vip_fee", vip_fee)
    v = visits(db, as_of=day)
    # The member table feeds four queries: worked out once.
    with db.computed_once(_member_table(db, day, stores, cities)) as members:
        groups = _groups(db, members, v, day, window)
        vips = members.filter(members.vip_day.notnull())
        vip_rows = _anchor_counts(vips.mutate(anchor=vips.vip_day), v, w, day)
        controls = _control_rows(members, v, day, w)
    multiples = _multiples(groups)
    before_after = _before_after(vip_rows, w)
    matched = _matched(vip_rows, controls, w)
    payback = _payback(matched, margin, fee)
    params = {
        "as_of": day,
        "window_days": window,
        "before_after_days": w,
        "margin_rate": margin,
        "vip_fee": fee,
        "stores": _tuple_or_none(stores),
        "cities": _tuple_or_none(cities),
        "currency": db.settings.currency,
    }
    return VipComparison(groups, multiples, before_after, matched, payback, params)


# ---------------------------------------------------------------------------------------------------------
# Members and their windows (engine)
# ---------------------------------------------------------------------------------------------------------


def _member_table(db: Store, day: dt.date, stores, cities) -> ibis.Table:
    """One row per member in scope: member_id, join_day, join_channel, first_day (first visit by ``day``),
    vip_day (purchase day; null: not VIP by ``day``). Without stores / cities the lighter query: members
    who joined by ``day`` (scope.scoped_members' rule) without the other attributes."""
    day_lit = calendar.date_literal(day)
    m = db.members
    m = m.mutate(join_day=calendar.local_day(m.joined_at), vip_local=calendar.local_day(m.vip_since))
    m = m.filter(m.join_day <= day_lit)
    if stores or cities:
        keep = scope.scoped_members(db, as_of=day, stores=stores, cities=cities).select(keep_id="member_id")
        m = m.join(keep, m.member_id == keep.keep_id).drop("keep_id")
    first = scope.first_visits(db, as_of=day).select(first_member="member_id", first_day="first_day")
    t = m.left_join(first, m.member_id == first.first_member)
    return t.select(
        "member_id",
        "join_day",
        join_channel=t.join_channel.fill_null("unknown"),
        first_day=t.first_day,
        vip_day=ibis.cases((t.vip_local <= day_lit, t.vip_local), else_=ibis.null("date")),
    )


# Columns of the per-member rows behind before_after and matched (one row per VIP / comparison member).
ANCHOR_COLUMNS = (
    "member_id", "anchor", "before_visits", "after_visits", "match_visits", "before_revenue", "after_revenue",
    "later", "follow_up", "history_days", "stratum",
)  # fmt: skip


def _anchor_counts(anchored: ibis.Table, v: ibis.Table, w: int, day: dt.date) -> pd.DataFrame:
    """One row per member with an ``anchor`` day (ANCHOR_COLUMNS): visits and revenue in the W days before
    (before_*), the W days after (after_*) and the W days before the before window (match_visits), whether
    a visit follows the after window (later), whether the after window ends by ``day`` (follow_up), days
    from the first visit to the anchor (history_days) and the matching stratum. The anchor day itself
    belongs to no window (the card is bought at a visit)."""
    a = anchored.select("member_id", "anchor")
    j = v.join(a, "member_id")
    off = j.day.delta(j.anchor, unit="day")
    before = (off >= -w) & (off <= -1)
    after = (off >= 1) & (off <= w)
    counts = j.group_by("member_id").aggregate(
        before_visits=before.cast("int64").sum(),
        after_visits=after.cast("int64").sum(),
        match_visits=((off >= -2 * w) & (off <= -w - 1)).cast("int64").sum(),
        before_revenue=ibis.cases((before, j.amount), else_=0.0).sum(),
        after_revenue=ibis.cases((after, j.amount), else_=0.0).sum(),
        later=(off > w).cast("int64").max(),
    )
    t = anchored.left_join(counts, anchored.member_id == counts.member_id).drop("member_id_right")
    t = t.mutate(
        before_visits=t.before_visits.fill_null(0),
        after_visits=t.after_visits.fill_null(0),
        match_visits=t.match_visits.fill_null(0),
        before_revenue=t.before_revenue.fill_null(0.0),
        after_revenue=t.after_revenue.fill_null(0.0),
        later=t.later.fill_null(0) > 0,
        follow_up=t.anchor <= calendar.date_literal(day - dt.timedelta(days=w)),
        history_days=t.anchor.delta(t.first_day, unit="day"),
        tenure_days=t.anchor.delta(t.join_day, unit="day"),
    )
    rows = t.mutate(stratum=_stratum(t, w)).select(*ANCHOR_COLUMNS).to_pandas()
    return rows.astype({"later": bool, "follow_up": bool, "history_days": "float64"})


def _control_rows(members: ibis.Table, v: ibis.Table, day: dt.date, w: int) -> pd.DataFrame:
    """Comparison members with a pseudo purchase day: one of their visits with 2W days of history before it,
    W days of follow-up after it, and no card bought by the end of its after window; picked by a hash of
    member and day (deterministic, unrelated to behaviour)."""
    c = v.select("member_id", "day").join(members.select("member_id", "first_day", "vip_day"), "member_id")
    ok = (
        (c.day.delta(c.first_day, unit="day") >= 2 * w)
        & (c.day <= calendar.date_literal(day - dt.timedelta(days=w)))
        & (c.vip_day.isnull() | (c.vip_day.delta(c.day, unit="day") > w))
    )
    c = c.filter(ok)
    c = c.mutate(pick=(c.member_id.cast("string") + "|" + c.day.cast("string")).hash())
    # The visit with the smallest hash (an aggregate, not a sort of every member's visits).
    chosen = c.group_by(ctrl_member=c.member_id).aggregate(anchor=c.day.argmin(c.pick))
    anchored = members.join(chosen, members.member_id == chosen.ctrl_member).drop("ctrl_member")
    return _anchor_counts(anchored, v, w, day)


# ---------------------------------------------------------------------------------------------------------
# Naive comparison
# ---------------------------------------------------------------------------------------------------------


def _groups(db: Store, members: ibis.Table, v: ibis.Table, day: dt.date, window: int | None) -> pd.DataFrame:
    first_data_day = scope.order_day_range(db, required=True)[0]
    start = first_data_day if window is None else max(first_data_day, day - dt.timedelta(days=window - 1))
    start_lit, day_lit = calendar.date_literal(start), calendar.date_literal(day)
    recent_from = calendar.date_literal(day - dt.timedelta(days=RETENTION_DAYS - 1))
    in_window = v.filter(v.day >= start_lit)
    per = in_window.group_by("member_id").aggregate(
        visits=in_window.count(),
        revenue=in_window.amount.sum(),
        early=(in_window.day < recent_from).cast("int64").sum(),
        recent=(in_window.day >= recent_from).cast("int64").sum(),
    )
    nv = numbered_visits(db, as_of=day)
    second = nv.filter(nv.visit_number == 2).select(second_member="member_id", second_day="day")
    t = members.left_join(per, members.member_id == per.member_id).drop("member_id_right")
    t = t.left_join(second, t.member_id == second.second_member).drop("second_member")
    observed_from = ibis.greatest(t.join_day, start_lit)
    exposure = day_lit.delta(observed_from, unit="day") + 1
    n_visits = t.visits.fill_null(0).cast("float64")
    revenue = t.revenue.fill_null(0.0)
    t = t.mutate(
        group=ibis.cases((t.vip_day.notnull(), VIP), else_=NON_VIP),
        exposed=exposure >= MIN_EXPOSURE_DAYS,
        rate=n_visits * DAYS_PER_MONTH / exposure.cast("float64"),
        revenue_rate=revenue * DAYS_PER_MONTH / exposure.cast("float64"),
        n_visits=n_visits,
        revenue_w=revenue,
        gap=t.second_day.delta(t.first_day, unit="day"),
        early_visit=t.early.fill_null(0) > 0,
        recent_visit=t.recent.fill_null(0) > 0,
    )
    aggs = {
        "n_exposed": t.exposed.cast("int64").sum(),
        "rate_sum": t.rate.sum(where=t.exposed),
        "rate_sq": (t.rate * t.rate).sum(where=t.exposed),
        "rev_sum": t.revenue_rate.sum(where=t.exposed),
        "rev_sq": (t.revenue_rate * t.revenue_rate).sum(where=t.exposed),
        "buyers": (t.n_visits > 0).cast("int64").sum(),
        "tv": t.n_visits.sum(),
        "tvv": (t.n_visits * t.n_visits).sum(),
        "tr": t.revenue_w.sum(),
        "trr": (t.revenue_w * t.revenue_w).sum(),
        "trv": (t.revenue_w * t.n_visits).sum(),
        "retention_base": t.early_visit.cast("int64").sum(),
        "retention_hits": (t.early_visit & t.recent_visit).cast("int64").sum(),
    }
    for h in REPURCHASE_HORIZONS:
        base = (t.first_day >= start_lit) & (t.first_day <= calendar.date_literal(day - dt.timedelta(days=h)))
        aggs[f"rep{h}_base"] = base.cast("int64").sum()
        aggs[f"rep{h}_hits"] = (base & t.gap.notnull() & (t.gap <= h)).cast("int64").sum()
    sums = t.group_by("group").aggregate(**aggs).to_pandas().set_index("group")
    sums = sums.reindex([VIP, NON_VIP]).astype("float64").fillna(0.0)
    rows = []
    for group, s in sums.iterrows():
        for metric, (n, total, sq) in {
            "visits_per_30d": (s.n_exposed, s.rate_sum, s.rate_sq),
            "revenue_per_30d": (s.n_exposed, s.rev_sum, s.rev_sq),
        }.items():
            mean, low, high = mean_interval(n, total, sq, confidence=CONFIDENCE)
            se = math.sqrt(centered_sum_sq(n, sq, total) / (n - 1) / n) if n >= 2 else math.nan
            rows.append((group, metric, n, mean, low, high, se))
        ticket, low, high, se = ratio_interval(s.buyers, s.tr, s.tv, s.trr, s.tvv, s.trv)
        rows.append((group, "average_ticket", s.buyers, ticket, low, high, se))
        for metric, k, n in [
            (f"repurchase_{h}d", s[f"rep{h}_hits"], s[f"rep{h}_base"]) for h in REPURCHASE_HORIZONS
        ] + [("active_last_90d", s.retention_hits, s.retention_base)]:
            share = k / n if n > 0 else math.nan
            low, high = wilson_interval(k, n, confidence=CONFIDENCE)
            se = math.sqrt(share * (1 - share) / n) if n > 0 else math.nan
            rows.append((group, metric, n, share, low, high, se))
    out = pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
    out["members"] = out["members"].astype("int64")
    out["metric"] = pd.Categorical(out["metric"], categories=METRICS, ordered=True)
    out = out.sort_values(["metric", "group"], key=None).reset_index(drop=True)
    out["metric"] = out["metric"].astype(str)
    for group in (VIP, NON_VIP):
        if sums.loc[group, "n_exposed"] < 2:
            warnings.warn(
                f"group {group!r}: fewer than 2 members observed for {MIN_EXPOSURE_DAYS} days; no interval.",
                ThinDataWarning,
                stacklevel=3,
            )
    return out


def _multiples(groups: pd.DataFrame) -> pd.DataFrame:
    wide = groups.pivot(index="metric", columns="group", values=["value", "se"]).reindex(list(METRICS))
    vip, non = wide["value"][VIP], wide["value"][NON_VIP]
    with np.errstate(divide="ignore", invalid="ignore"):
        multiple = vip / non
        se_log = np.sqrt((wide["se"][VIP] / vip) ** 2 + (wide["se"][NON_VIP] / non) ** 2)
    z = sps.norm.ppf(0.5 + CONFIDENCE / 2)
    return pd.DataFrame(
        {
            "metric": list(METRICS),
            "vip": vip.to_numpy(),
            "non_vip": non.to_numpy(),
            "multiple": multiple.to_numpy(),
            "ci_low": (multiple * np.exp(-z * se_log)).to_numpy(),
            "ci_high": (multiple * np.exp(z * se_log)).to_numpy(),
        }
    )


# ---------------------------------------------------------------------------------------------------------
# Before / after and matched
# ---------------------------------------------------------------------------------------------------------


def _populations(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows as 'all', and those with a visit after the after window as 'still_active'."""
    return {ALL: rows, STILL_ACTIVE: rows[rows["later"]]}


def _rates(rows: pd.DataFrame, w: int, outcome: str = "visits_per_30d") -> tuple[np.ndarray, np.ndarray]:
    """Before and after rates per 30 days of each row for the outcome (visits or revenue)."""
    what = "visits" if outcome == "visits_per_30d" else "revenue"
    scale = DAYS_PER_MONTH / w
    before = rows[f"before_{what}"].to_numpy(dtype="float64") * scale
    after = rows[f"after_{what}"].to_numpy(dtype="float64") * scale
    return before, after


def _before_after(vip_rows: pd.DataFrame, w: int) -> pd.DataFrame:
    follow_up = vip_rows["follow_up"]
    history = vip_rows["history_days"] >= w  # NaN (no visit) compares False
    eligible = vip_rows[follow_up & history]
    rows = []
    for population, e in _populations(eligible).items():
        b, a = _rates(e, w)
        n = float(len(e))
        d = a - b
        diff, low, high = mean_interval(n, d.sum(), d @ d, confidence=CONFIDENCE)
        ratio, r_low, r_high, _ = ratio_interval(n, a.sum(), b.sum(), a @ a, b @ b, a @ b)
        if n < 2:
            warnings.warn(
                f"before/after ({population}): {int(n)} comparable VIPs; no interval.",
                ThinDataWarning,
                stacklevel=3,
            )
        rows.append(
            {
                "population": population,
                "vips": len(vip_rows),
                "excluded_follow_up": int((~follow_up).sum()),
                "excluded_history": int((follow_up & ~history).sum()),
                "excluded_inactive": int((~eligible["later"]).sum()) if population == STILL_ACTIVE else 0,
                "members": int(n),
                "before_rate": b.mean() if n else math.nan,
                "after_rate": a.mean() if n else math.nan,
                "diff": diff,
                "diff_low": low,
                "diff_high": high,
                "ratio": ratio,
                "ratio_low": r_low,
                "ratio_high": r_high,
                "p_value": _t_p_value(n, d.sum(), d @ d),
            }
        )
    return pd.DataFrame(rows, columns=list(BEFORE_AFTER_COLUMNS))


def _stratum(t: ibis.Table, w: int) -> ibis.StringValue:
    """Matching stratum: visit-rate band in the matching window | tenure band | join channel."""
    rate = t.match_visits.cast("float64") * (DAYS_PER_MONTH / w)
    tenure = _band(t.tenure_days.fill_null(0), TENURE_BANDS_DAYS)
    return _band(rate, MATCH_RATE_BANDS) + "|" + tenure + "|" + t.join_channel


def _strata_sums(rows: pd.DataFrame, w: int, outcome: str) -> pd.DataFrame:
    """Per stratum: n and the sums of before / after rates, of the differences and of their squares."""
    b, a = _rates(rows, w, outcome)
    d = a - b
    frame = pd.DataFrame({"stratum": rows["stratum"].to_numpy(), "b": b, "a": a, "d": d, "dd": d * d})
    sums = frame.groupby("stratum").agg(n=("d", "size"), b=("b", "sum"), a=("a", "sum"), d=("d", "sum"),
                                        dd=("dd", "sum"))  # fmt: skip
    return sums.astype("float64")


def _matched(vip_rows: pd.DataFrame, controls: pd.DataFrame, w: int) -> pd.DataFrame:
    with_follow_up = vip_rows[vip_rows["follow_up"]]
    treated_rows = with_follow_up[with_follow_up["history_days"] >= 2 * w]
    control_rows = controls[controls["follow_up"] & (controls["history_days"] >= 2 * w)]
    considered = _populations(with_follow_up)
    treated_pops, control_pops = _populations(treated_rows), _populations(control_rows)
    rows = []
    for population in (ALL, STILL_ACTIVE):
        for outcome in ("visits_per_30d", "revenue_per_30d"):
            ts = _strata_sums(treated_pops[population], w, outcome)
            cs = _strata_sums(control_pops[population], w, outcome)
            treated = {k: Moments(r.n, r.d, r.dd) for k, r in ts.iterrows()}
            comparison = {k: Moments(r.n, r.d, r.dd) for k, r in cs.iterrows()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ThinDataWarning)
                did = stratified_did(treated, comparison, confidence=CONFIDENCE)
            # the strata stratified_did uses: 2 or more members on both sides
            used = [k for k in ts.index if ts.loc[k, "n"] >= 2 and k in cs.index and cs.loc[k, "n"] >= 2]
            if not used:
                warnings.warn(
                    f"matched ({population}, {outcome}): no stratum has 2 VIPs and 2 comparison members.",
                    ThinDataWarning,
                    stacklevel=3,
                )
            weights = ts.loc[used, "n"] / ts.loc[used, "n"].sum()

            def weighted(frame: pd.DataFrame, column: str, used=used, weights=weights) -> float:
                if not used:
                    return math.nan
                return float((weights * frame.loc[used, column] / frame.loc[used, "n"]).sum())

            vip_after = weighted(ts, "a")
            visits = outcome == "visits_per_30d"
            rows.append(
                {
                    "population": population,
                    "outcome": outcome,
                    "vips": did.treated_matched,
                    "vips_unmatched": len(considered[population]) - did.treated_matched,
                    "comparison_members": did.comparison_units,
                    "strata": did.strata,
                    "vip_before": weighted(ts, "b"),
                    "vip_after": vip_after,
                    "comparison_before": weighted(cs, "b"),
                    "comparison_after": weighted(cs, "a"),
                    "effect": did.effect,
                    "effect_low": did.low,
                    "effect_high": did.high,
                    "p_value": did.p_value,
                    # the multiplier grows with the effect: its bounds come from the effect's bounds
                    "multiplier": _multiplier(vip_after, did.effect) if visits else math.nan,
                    "multiplier_low": _multiplier(vip_after, did.low) if visits else math.nan,
                    "multiplier_high": _multiplier(vip_after, did.high) if visits else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=list(MATCHED_COLUMNS))


def _multiplier(after: float, effect: float) -> float:
    """after / (after - effect): the visit rate relative to the counterfactual; inf when the counterfactual
    is not positive."""
    if not (math.isfinite(after) and math.isfinite(effect)):
        return math.nan
    counterfactual = after - effect
    return after / counterfactual if counterfactual > 0 else math.inf


def _payback(matched: pd.DataFrame, margin: float, fee: float) -> pd.DataFrame:
    m = matched[matched.population == ALL].set_index("outcome")
    revenue = m.loc["revenue_per_30d"]
    gain, gain_low, gain_high = (margin * revenue[c] for c in ("effect", "effect_low", "effect_high"))

    def months(g: float) -> float:
        if not math.isfinite(g):
            return math.nan
        return fee / g if g > 0 else math.inf

    row = {
        "vips": int(revenue["vips"]),
        "incremental_visits_per_month": float(m.loc["visits_per_30d", "effect"]),
        "incremental_revenue_per_month": float(revenue["effect"]),
        "incremental_revenue_low": float(revenue["effect_low"]),
        "incremental_revenue_high": float(revenue["effect_high"]),
        "margin_rate": margin,
        "incremental_margin_per_month": float(gain),
        "incremental_margin_low": float(gain_low),
        "incremental_margin_high": float(gain_high),
        "vip_fee": fee,
        "payback_months": months(gain),
        "payback_months_low": months(gain_high),
        "payback_months_high": months(gain_low),
    }
    return pd.DataFrame([row], columns=list(PAYBACK_COLUMNS))


# ---------------------------------------------------------------------------------------------------------
# Statistics helpers
# ---------------------------------------------------------------------------------------------------------


def ratio_interval(n, sum_y, sum_x, sum_yy, sum_xx, sum_xy, *, confidence: float = CONFIDENCE):
    """Ratio of sums R = sum(y) / sum(x) over n units (members), with a delta-method interval.

    The units' pairs (x_i, y_i) are independent, the values inside a unit need not be (a member's visits):
    var(R) = sum((y_i - R x_i)^2) / (n (n - 1)) / mean(x)^2, and the interval is normal on the log scale
    (se(log R) = se(R) / R), so it stays positive. Returns (ratio, low, high, se); NaN when n < 2 or
    sum(x) = 0 (the ratio alone when n = 1).
    """
    n = float(n)
    if n < 1 or sum_x == 0:
        return math.nan, math.nan, math.nan, math.nan
    r = sum_y / sum_x
    if n < 2:
        return r, math.nan, math.nan, math.nan
    residual_sq = max(sum_yy - 2 * r * sum_xy + r * r * sum_xx, 0.0)
    se = math.sqrt(residual_sq / (n * (n - 1))) / (sum_x / n)
    if r <= 0:
        return r, math.nan, math.nan, se
    z = sps.norm.ppf(0.5 + confidence / 2)
    spread = math.exp(z * se / r)
    return r, r / spread, r * spread, se


def _t_p_value(n: float, total: float, sum_sq: float) -> float:
    if n < 2:
        return math.nan
    sd = math.sqrt(float(centered_sum_sq(n, sum_sq, total)) / (n - 1))
    if sd == 0:
        return math.nan
    t_stat = (total / n) / (sd / math.sqrt(n))
    return float(2 * sps.t.sf(abs(t_stat), n - 1))


def _band(values, bounds) -> ibis.StringValue:
    pairs = zip(bounds, bounds[1:], strict=False)
    cases = [((values >= lo) & (values < hi), f"{lo:g}-{hi:g}") for lo, hi in pairs]
    return ibis.cases(*cases, else_=f"{bounds[-1]:g}+")


# ---------------------------------------------------------------------------------------------------------
# Parameters and summary
# ---------------------------------------------------------------------------------------------------------


def _check_window(window_days) -> int | None:
    if window_days is None:
        return None
    return _check_whole("window_days", window_days, minimum=1, none_ok=True)


def _check_whole(name: str, value, *, minimum: int, none_ok: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        also = ", or None for all history" if none_ok else ""
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}{also}.")
    return int(value)


def _check_share(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not (0.0 < v <= 1.0):
        raise ParameterError(f"{name}={value!r} is not valid; expected a share in (0, 1], e.g. 0.65.")
    return v


def _check_positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not (math.isfinite(v) and v > 0):
        raise ParameterError(f"{name}={value!r} is not valid; expected an amount > 0, e.g. 199.")
    return v


def _tuple_or_none(values):
    if values is None:
        return None
    return (values,) if isinstance(values, str | int) else tuple(values)


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def _interval(value, low, high, digits: int = 2) -> str:
    return f"{_fmt(value, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def _summary_text(result: VipComparison, lang: str) -> str:
    t = i18n.t
    p = result.params
    currency = t("currency_cny", lang) if p["currency"] == "CNY" else p["currency"]
    lines = [f"{t('vip.title', lang)} · {t('vip.as_of', lang, day=p['as_of'].isoformat())}"]
    vips_total = int(result.before_after["vips"].iloc[0]) if not result.before_after.empty else 0
    if vips_total == 0:
        lines.append(t("vip.no_vips", lang))
        return "\n".join(lines)
    head = "vip.naive_head" if p["window_days"] else "vip.naive_head_all"
    lines += ["", t(head, lang, days=p["window_days"])]
    g = result.groups.set_index(["metric", "group"])
    table = []
    for r in result.multiples.itertuples(index=False):
        pct = r.metric.startswith(("repurchase", "active"))
        digits = 1 if r.metric in ("average_ticket", "revenue_per_30d") else 2

        def show(x, pct=pct, digits=digits) -> str:
            if pct:
                return "–" if not math.isfinite(x) else f"{x:.0%}"
            return _fmt(x, digits)

        table.append(
            {
                t("vip.col.metric", lang): t(f"vip.metric.{r.metric}", lang),
                t("vip.group.vip", lang): f"{show(r.vip)} (n={int(g.loc[(r.metric, VIP), 'members']):,})",
                t(
                    "vip.group.non_vip", lang
                ): f"{show(r.non_vip)} (n={int(g.loc[(r.metric, NON_VIP), 'members']):,})",
                t("vip.multiple", lang): _interval(r.multiple, r.ci_low, r.ci_high),
            }
        )
    lines.append(pd.DataFrame(table).to_string(index=False))

    w = p["before_after_days"]
    ba = result.before_after.set_index("population")
    lines += ["", t("vip.before_after_head", lang, days=w)]
    lines.append(
        t("vip.excluded", lang, vips=vips_total, days=w, follow=int(ba.loc[ALL, "excluded_follow_up"]),
          history=int(ba.loc[ALL, "excluded_history"]), inactive=int(ba.loc[STILL_ACTIVE, "excluded_inactive"]))
    )  # fmt: skip
    rows = [
        {
            t("vip.col.population", lang): t(f"vip.population.{pop}", lang),
            t("vip.col.members", lang): f"{int(r.members):,}",
            t("vip.col.before", lang): _fmt(r.before_rate),
            t("vip.col.after", lang): _fmt(r.after_rate),
            t("vip.col.ratio", lang): _interval(r.ratio, r.ratio_low, r.ratio_high),
        }
        for pop, r in ba.iterrows()
    ]
    lines.append(pd.DataFrame(rows).to_string(index=False))

    lines += ["", t("vip.matched_head", lang)]
    m = result.matched[result.matched.outcome == "visits_per_30d"]
    rows = [
        {
            t("vip.col.population", lang): t(f"vip.population.{r.population}", lang),
            t("vip.col.members", lang): f"{int(r.vips):,} / {int(r.comparison_members):,}",
            t("vip.col.before", lang)
            + "→"
            + t("vip.col.after", lang): f"{_fmt(r.vip_before)}→{_fmt(r.vip_after)}",
            t("vip.col.comparison", lang): f"{_fmt(r.comparison_before)}→{_fmt(r.comparison_after)}",
            t("vip.col.effect", lang): _interval(r.effect, r.effect_low, r.effect_high),
            t("vip.col.multiplier", lang): _interval(r.multiplier, r.multiplier_low, r.multiplier_high),
        }
        for r in m.itertuples(index=False)
    ]
    lines.append(pd.DataFrame(rows).to_string(index=False))
    lines.append(t("observational", lang))

    pb = result.payback.iloc[0]
    months = pb.payback_months
    months_text = (
        t("vip.never", lang)
        if not math.isfinite(months)
        else f"{months:.1f} [{_fmt(pb.payback_months_low, 1)}, {_fmt(pb.payback_months_high, 1)}]"
    )
    lines += ["", t("vip.payback_head", lang)]
    lines.append(
        t("vip.payback_line", lang, revenue=pb.incremental_revenue_per_month, currency=currency,
          margin=pb.margin_rate, gain=pb.incremental_margin_per_month, gain_low=pb.incremental_margin_low,
          gain_high=pb.incremental_margin_high, fee=pb.vip_fee, months=months_text)
    )  # fmt: skip
    return "\n".join(lines)
