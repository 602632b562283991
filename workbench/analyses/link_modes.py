"""Link modes: are members linked as WeCom friends, through a community group, both, or not at all worth more?

A member's link mode (members.link_mode: friend_only, group_only, friend_then_group, group_then_friend,
none) says how the chain can reach them. For every member whose first visit lies at least ``horizon_days``
before ``as_of`` (so the whole horizon is observed), the engine computes, over the ``horizon_days`` days
from the first visit:

- retained: at least one visit in the last RETENTION_TAIL_DAYS days of the horizon ("still active" at the
  horizon, the CRM meaning of active);
- repeat visits after the first visit (reported per 30 days);
- revenue from the first visit through the horizon.

pandas receives one row per (link mode, join channel) with counts, sums and sums of squares, and adds the
95% intervals (Wilson for shares, t for means), a join-channel-standardised retention (link modes are
mixed differently across join channels, which differ in their own loyalty) and the ranking.

This compares groups of members, it does not randomise: a link mode's members differ in more than how
they are linked, so the ranking is descriptive (``note``).

    q = wb.link_mode_quality(db, horizon_days=90)
    q.table          # one row per link mode, ranked by retention
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats as sps

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar, contract
from workbench.data.store import Store
from workbench.data.visits import visits as member_visits
from workbench.errors import ParameterError
from workbench.stats import mean_interval, wilson_interval

DEFAULT_HORIZON_DAYS = 90
# "Active" = a visit in the last 30 days, the usual CRM window; retained = active at the horizon.
RETENTION_TAIL_DAYS = 30
# Visits are reported per this many days (per month).
PER_DAYS = 30
CONFIDENCE = 0.95
LINK_MODES = contract.LINK_MODES

TABLE_COLUMNS = (
    "link_mode",
    "rank",
    "members",
    "first_visitors",
    "retained",
    "retention",
    "ci_low",
    "ci_high",
    "retention_std",
    "std_ci_low",
    "std_ci_high",
    "visits_per_30d",
    "visits_ci_low",
    "visits_ci_high",
    "revenue_per_member",
    "revenue_ci_low",
    "revenue_ci_high",
    "note",
)

i18n.register(
    {
        "link_modes.summary.head": (
            "各连接方式的会员质量（截至 {as_of}，首次到店后 {days} 天）",
            "Member quality by link mode (as of {as_of}, {days} days from the first visit)",
        ),
        "link_modes.summary.line": (
            "{rank}. {mode}：{n} 名会员，第 {days} 天仍活跃 {rate}（95% 置信区间 {low}–{high}），"
            "每 30 天复购 {visits} 次，人均营收 {revenue} {currency}",
            "{rank}. {mode}: {n} members, {rate} still active at day {days} (95% CI {low}–{high}), "
            "{visits} repeat visits per 30 days, {revenue} {currency} per member",
        ),
        "link_modes.note": (
            "描述性比较：不同连接方式的会员在其他方面也不同，不能视为因果",
            "Descriptive: members of different link modes differ in more than their link; not causal",
        ),
        "link_modes.summary.empty": ("没有满足观察期的会员", "No member has a complete horizon yet"),
    }
)


@dataclass(frozen=True)
class LinkModeQuality:
    """The result of :func:`link_mode_quality`: ``table`` (one row per link mode) and ``params``."""

    table: pd.DataFrame
    params: dict[str, Any]

    def ranking(self) -> list[str]:
        """Link modes from the highest retention to the lowest (modes without members left out)."""
        t = self.table.dropna(subset=["rank"]).sort_values("rank")
        return t["link_mode"].tolist()

    def summary(self, lang: str = "zh") -> str:
        i18n.check_lang(lang)
        p = self.params
        lines = [
            i18n.t("link_modes.summary.head", lang, as_of=p["as_of"].isoformat(), days=p["horizon_days"])
        ]
        t = self.table.dropna(subset=["rank"]).sort_values("rank")
        if t.empty:
            return lines[0] + "\n" + i18n.t("link_modes.summary.empty", lang)
        currency = i18n.t("currency_cny", lang) if p["currency"] == "CNY" else p["currency"]
        for row in t.itertuples():
            lines.append(
                i18n.t(
                    "link_modes.summary.line",
                    lang,
                    rank=int(row.rank),
                    mode=i18n.value_label("link_mode", row.link_mode, lang),
                    n=f"{row.first_visitors:,}",
                    days=p["horizon_days"],
                    rate=f"{row.retention:.1%}",
                    low=f"{row.ci_low:.1%}",
                    high=f"{row.ci_high:.1%}",
                    visits=f"{row.visits_per_30d:.2f}",
                    revenue=f"{row.revenue_per_member:,.0f}",
                    currency=currency,
                )
            )
        lines.append(i18n.t("link_modes.note", lang))
        return "\n".join(lines)


def link_mode_quality(db: Store, *, as_of=None, horizon_days: int = DEFAULT_HORIZON_DAYS) -> LinkModeQuality:
    """Retention, visit frequency and revenue of members by link mode, with 95% intervals, ranked.

    Members in scope: joined by ``as_of`` (``members``); of them, those whose first visit is on or before
    ``as_of - horizon_days`` (``first_visitors``), followed for ``horizon_days`` days from the first visit.

    Returns a LinkModeQuality whose ``table`` has one row per link mode (the contract's five, then
    'unknown' if some members have none), columns:
      link_mode                  friend_only, group_only, friend_then_group, group_then_friend, none
      rank                       1 = highest retention (NaN without first visitors)
      members                    members joined by as_of
      first_visitors             members with a complete horizon (the base of every rate)
      retained                   of them, with a visit on days (horizon - RETENTION_TAIL_DAYS, horizon]
                                 after the first visit
      retention, ci_low, ci_high share retained (0-1), 95% Wilson interval
      retention_std, std_ci_low, std_ci_high
                                 retention standardised to the join-channel mix of all first visitors
                                 (share 0-1; normal 95% interval)
      visits_per_30d, visits_ci_low, visits_ci_high
                                 repeat visits (days (0, horizon] after the first) per 30 days per member,
                                 mean and 95% t interval
      revenue_per_member, revenue_ci_low, revenue_ci_high
                                 revenue on days [0, horizon] from the first visit (currency per member),
                                 mean and 95% t interval
      note                       'descriptive': a comparison of groups, not a randomised result
    """
    horizon_days = _check_horizon(horizon_days)
    as_of = scope.resolve_as_of(db, as_of)
    last_first = as_of - dt.timedelta(days=horizon_days)
    stats = _member_stats(db, as_of=as_of, last_first=last_first, horizon=horizon_days)
    table = _table(stats, horizon_days)
    params = {"as_of": as_of, "horizon_days": horizon_days, "currency": db.settings.currency}
    return LinkModeQuality(table, params)


def _member_stats(db: Store, *, as_of: dt.date, last_first: dt.date, horizon: int) -> pd.DataFrame:
    """Per (link_mode, join_channel): members, first_visitors, retained, sums and sums of squares."""
    m = db.members
    m = m.filter(calendar.local_day(m.joined_at) <= calendar.date_literal(as_of))
    m = m.select(
        "member_id",
        link_mode=m.link_mode.fill_null("unknown"),
        join_channel=m.join_channel.fill_null("unknown"),
    )
    v = member_visits(db, as_of=as_of)
    first = v.group_by("member_id").aggregate(first_day=v.day.min())
    first = first.filter(first.first_day <= calendar.date_literal(last_first))
    f = first.rename(f_member="member_id")
    j = v.join(f, v.member_id == f.f_member)
    age = j.day.delta(j.first_day, unit="day")
    j = j.mutate(age=age).filter(age <= horizon)
    per = j.group_by("member_id").aggregate(
        retained=(j.age > horizon - RETENTION_TAIL_DAYS).any(),
        repeat=(j.age > 0).cast("int64").sum(),
        revenue=j.amount.sum(),
    )
    per = per.rename(p_member="member_id")
    t = m.left_join(per, m.member_id == per.p_member)
    first_visitor = t.p_member.notnull()
    repeat = t.repeat.fill_null(0).cast("float64")
    revenue = t.revenue.fill_null(0.0).cast("float64")
    out = t.group_by(["link_mode", "join_channel"]).aggregate(
        members=t.count(),
        first_visitors=first_visitor.cast("int64").sum(),
        retained=(first_visitor & t.retained.fill_null(False)).cast("int64").sum(),
        repeat_sum=ibis.ifelse(first_visitor, repeat, 0.0).sum(),
        repeat_sq=ibis.ifelse(first_visitor, repeat * repeat, 0.0).sum(),
        revenue_sum=ibis.ifelse(first_visitor, revenue, 0.0).sum(),
        revenue_sq=ibis.ifelse(first_visitor, revenue * revenue, 0.0).sum(),
    )
    return out.to_pandas()


def _table(stats: pd.DataFrame, horizon: int) -> pd.DataFrame:
    modes = list(LINK_MODES) + sorted(set(stats["link_mode"]) - set(LINK_MODES))
    s = stats.copy()
    for column in ("members", "first_visitors", "retained"):
        s[column] = s[column].astype("int64")
    by_mode = s.groupby("link_mode").sum(numeric_only=True).reindex(modes, fill_value=0)
    t = by_mode.reset_index().rename(columns={"index": "link_mode"})
    n = t["first_visitors"].to_numpy(dtype="float64")
    k = t["retained"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        t["retention"] = np.where(n > 0, k / n, np.nan)
    t["ci_low"], t["ci_high"] = wilson_interval(k, n, confidence=CONFIDENCE)
    scale = PER_DAYS / horizon
    mean, low, high = mean_interval(
        n, t["repeat_sum"] * scale, t["repeat_sq"] * scale**2, confidence=CONFIDENCE
    )
    t["visits_per_30d"], t["visits_ci_low"], t["visits_ci_high"] = mean, low, high
    mean, low, high = mean_interval(n, t["revenue_sum"], t["revenue_sq"], confidence=CONFIDENCE)
    t["revenue_per_member"], t["revenue_ci_low"], t["revenue_ci_high"] = mean, low, high
    t["retention_std"], t["std_ci_low"], t["std_ci_high"] = _standardised(s, modes)
    order = t["retention"].rank(ascending=False, method="min")
    t["rank"] = order.where(n > 0)
    t["note"] = "descriptive"
    t = t.sort_values(["rank", "link_mode"], na_position="last").reset_index(drop=True)
    return t[list(TABLE_COLUMNS)]


def _standardised(s: pd.DataFrame, modes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Retention per link mode re-weighted to the join-channel mix of all first visitors.

    std = sum_c w_c p_mc, var = sum_c w_c^2 p_mc (1 - p_mc) / n_mc over channels c with n_mc > 0; the
    weights of channels a mode lacks are spread over its other channels (renormalised).
    """
    z = sps.norm.ppf(0.5 + CONFIDENCE / 2)
    weights = s.groupby("join_channel")["first_visitors"].sum()
    total = weights.sum()
    est, low, high = [], [], []
    for mode in modes:
        cells = s[(s["link_mode"] == mode) & (s["first_visitors"] > 0)]
        if cells.empty or total == 0:
            est.append(math.nan), low.append(math.nan), high.append(math.nan)
            continue
        w = weights.reindex(cells["join_channel"]).to_numpy(dtype="float64")
        w = w / w.sum()
        nc = cells["first_visitors"].to_numpy(dtype="float64")
        p = cells["retained"].to_numpy(dtype="float64") / nc
        e = float((w * p).sum())
        se = math.sqrt(float((w**2 * p * (1 - p) / nc).sum()))
        est.append(e)
        low.append(max(0.0, e - z * se))
        high.append(min(1.0, e + z * se))
    return np.array(est), np.array(low), np.array(high)


def _check_horizon(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= RETENTION_TAIL_DAYS:
        raise ParameterError(
            f"horizon_days={value!r} is not valid; expected a whole number of days > {RETENTION_TAIL_DAYS} "
            f"(retention counts visits in the last {RETENTION_TAIL_DAYS} days of the horizon)."
        )
    return int(value)
