"""Weekly KPIs of the private domain (私域周报): this week against last week, the last weeks and a year ago.

One ISO week (Monday to Sunday, local days of the chain's zone) and the chain's headline numbers: members,
new members, active members, private-domain revenue and its share of all revenue, average ticket (客单价) of
members and non-members, repurchase rate, coupons, community-group members. Each is compared with the week
before, the mean of the weeks before, and the same week a year ago, aligned on Spring Festival and National
Day (:mod:`workbench.analyses.holidays_align`). New members are ranked by store and by join channel.

The engine aggregates orders, visits, members, coupons and group spells per week; pandas receives one row
per week (or per week and store / channel / campaign).

    kpis = weekly_kpis(db, week="2026-W47")
    kpis.kpis                    # one row per KPI with its comparisons
    kpis.ranked(lang="zh")       # the ten-second table
    print(kpis.summary(lang="en"))
    trend = weekly_kpi_trend(db, weeks=12)     # one row per week and KPI
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import operator
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope, store_weeks
from workbench.analyses.holidays_align import holiday_offset, yoy_comparison_week
from workbench.data import calendar, contract, derived
from workbench.data.store import Store, connect
from workbench.errors import ParameterError

# A member active in the week is "returning" (复购) when they also visited in this many days before the
# week started: a quarter covers the repurchase cycle of nearly every member of a restaurant chain.
REPURCHASE_LOOKBACK_DAYS = 90
# Weeks averaged for the "vs recent weeks" comparison: a month smooths one odd week without hiding a trend.
DEFAULT_COMPARE_WEEKS = 4
# Weeks shown by the trend helper: a quarter.
DEFAULT_TREND_WEEKS = 12
# Rows of the store ranking kept in summaries (the frame keeps every store).
SUMMARY_TOP_STORES = 5

# KPI codes in order of importance to a manager (the order of ``kpis`` and ``ranked``), with their unit.
# unit: 'members' (people), 'currency' (the chain's currency, e.g. CNY), 'share' (0-1), 'coupons' (count).
KPI_UNITS = {
    "private_revenue": "currency",
    "private_share": "share",
    "active_members": "members",
    "new_members": "members",
    "repurchase_rate": "share",
    "member_ticket": "currency",
    "nonmember_ticket": "currency",
    "total_revenue": "currency",
    "members": "members",
    "group_members": "members",
    "coupons_issued": "coupons",
    "coupons_redeemed": "coupons",
    "coupon_redemption_rate": "share",
}
KPIS = tuple(KPI_UNITS)
COUPON_KPIS = ("coupons_issued", "coupons_redeemed", "coupon_redemption_rate")

KPI_COLUMNS = (
    "kpi",
    "value",
    "previous_week",
    "change_wow",
    "mean_prev_4w",
    "change_vs_4w",
    "year_ago",
    "change_yoy",
    "yoy_week",
    "yoy_aligned",
    "unit",
)
RANKING_COLUMNS = (
    "rank",
    "new_members",
    "previous_week",
    "change_wow",
    "year_ago",
    "change_yoy",
    "share_of_new",
)
STORE_COLUMNS = ("store_id", "store_name", "city", *RANKING_COLUMNS)
CHANNEL_COLUMNS = ("join_channel", *RANKING_COLUMNS)
COUPON_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "issued",
    "redeemed",
    "issued_to_date",
    "redeemed_to_date",
    "redemption_rate",
)
TREND_COLUMNS = ("week", "week_start", "kpi", "value", "unit")

# Members without a home store (joined online and never visited) are ranked under this store id.
NO_STORE = "none"

i18n.register(
    {
        "overview.kpi.members": ("会员总数", "Members"),
        "overview.kpi.new_members": ("新增会员", "New members"),
        "overview.kpi.active_members": ("活跃会员（本周到店）", "Active members (visited this week)"),
        "overview.kpi.private_revenue": ("私域营收（会员订单）", "Private-domain revenue (member orders)"),
        "overview.kpi.total_revenue": ("总营收", "Total revenue"),
        "overview.kpi.private_share": ("私域营收占比", "Private-domain share of revenue"),
        "overview.kpi.member_ticket": ("会员客单价（每单）", "Member average ticket (per order)"),
        "overview.kpi.nonmember_ticket": ("非会员客单价（每单）", "Non-member average ticket (per order)"),
        "overview.kpi.repurchase_rate": (
            "复购率（近{days}天来过的活跃会员占比）",
            "Repurchase rate (active members who also came in the {days} days before)",
        ),
        "overview.kpi.coupons_issued": ("发券数", "Coupons issued"),
        "overview.kpi.coupons_redeemed": ("核销数", "Coupons redeemed"),
        "overview.kpi.coupon_redemption_rate": (
            "核销率（本周有活动的券，累计）",
            "Redemption rate (campaigns active this week, to date)",
        ),
        "overview.kpi.group_members": ("社群会员数", "Community-group members"),
        "overview.col.kpi": ("指标", "KPI"),
        "overview.col.value": ("本周", "This week"),
        "overview.col.wow": ("环比上周", "vs last week"),
        "overview.col.vs_recent": ("对比前{n}周均值", "vs mean of {n} weeks before"),
        "overview.col.yoy": ("同比（{week}）", "vs a year ago ({week})"),
        "overview.title": (
            "私域周报 {week}（{start} 至 {end}）",
            "Private domain, week {week} ({start} to {end})",
        ),
        "overview.new_by_store": ("新增会员门店排名", "New members by store"),
        "overview.new_by_channel": ("新增会员渠道排名", "New members by join channel"),
        "overview.coupons_head": ("本周各活动发券与核销", "Coupons by campaign this week"),
        "overview.no_store": ("无门店（线上入会）", "No store (joined online)"),
        "overview.holiday.aligned": (
            "同比对比周为 {yoy}：{where}，故对比去年{holiday}前后同样位置的一周（按节日对齐，而非同一周序号）。",
            "Year-on-year compares with {yoy}: {where}, so the week at the same place around last year's "
            "{holiday} is used (aligned on the holiday, not on the week number).",
        ),
        "overview.holiday.plain": (
            "同比对比周为 {yoy}（去年同一周序号，附近没有春节或国庆）。",
            "Year-on-year compares with {yoy} (same ISO week number a year before; no Spring Festival or "
            "National Day nearby).",
        ),
        "overview.holiday.offset0": ("本周即{holiday}所在周", "this week holds {holiday}"),
        "overview.holiday.before": (
            "本周在{holiday}所在周之前 {n} 周",
            "this week is {n} week(s) before the week of {holiday}",
        ),
        "overview.holiday.after": (
            "本周在{holiday}所在周之后 {n} 周",
            "this week is {n} week(s) after the week of {holiday}",
        ),
        "overview.holiday.spring_festival": ("春节", "Spring Festival"),
        "overview.holiday.national_day": ("国庆", "National Day"),
        "overview.no_comparison": ("无可比数据", "no comparison"),
        "overview.pp": ("个百分点", " pp"),
    }
)


@dataclass(frozen=True, eq=False)
class WeeklyKPIs:
    """The result of :func:`weekly_kpis` (its docstring lists every column with its unit).

    kpis          one row per KPI (``KPI_COLUMNS``), in order of importance
    stores        new members by home store (``STORE_COLUMNS``), ranked
    channels      new members by join channel (``CHANNEL_COLUMNS``), ranked
    coupons       by campaign in the week (``COUPON_COLUMNS``)
    holiday_note  {'zh': ..., 'en': ...}: whether and how the year-ago week was aligned on a holiday
    params        week, week_start, week_end, as_of, yoy_week, yoy_aligned, yoy_holiday, compare_weeks,
                  filters, currency, tables used
    """

    kpis: pd.DataFrame
    stores: pd.DataFrame
    channels: pd.DataFrame
    coupons: pd.DataFrame
    holiday_note: dict
    params: dict = field(default_factory=dict)

    @property
    def week(self) -> str:
        return self.params["week"]

    def kpi_name(self, kpi: str, lang: str = "zh") -> str:
        """Display name of a KPI code."""
        return kpi_label(kpi, lang)

    def ranked(self, lang: str = "zh") -> pd.DataFrame:
        """The table a manager reads in ten seconds: KPI, value, and signed changes with arrows, as text.

        Columns (display names in ``lang``): KPI, this week, vs last week, vs mean of the weeks before, vs a
        year ago (the comparison week in the header). Changes are relative (+12.3% ▲), except for shares
        (rates), whose changes are in percentage points. Rows in order of importance (``KPI_UNITS``).
        """
        i18n.check_lang(lang)
        t = i18n.t
        currency = self.params["currency"]
        rows = []
        for r in self.kpis.itertuples(index=False):
            rows.append(
                {
                    t("overview.col.kpi", lang): kpi_label(r.kpi, lang),
                    t("overview.col.value", lang): format_value(r.value, r.unit, currency, lang),
                    t("overview.col.wow", lang): format_change(r.value, r.previous_week, r.unit, lang),
                    t("overview.col.vs_recent", lang, n=self.params["compare_weeks"]): format_change(
                        r.value, r.mean_prev_4w, r.unit, lang
                    ),
                    t("overview.col.yoy", lang, week=r.yoy_week): format_change(
                        r.value, r.year_ago, r.unit, lang
                    ),
                }
            )
        return pd.DataFrame(rows)

    def summary(self, lang: str = "zh") -> str:
        """Title, the ranked KPI table, the holiday note and the top stores and channels, as text."""
        i18n.check_lang(lang)
        t = i18n.t
        p = self.params
        lines = [
            t(
                "overview.title",
                lang,
                week=p["week"],
                start=p["week_start"].isoformat(),
                end=p["week_end"].isoformat(),
            ),
            "",
            self.ranked(lang).to_string(index=False),
            "",
            self.holiday_note[lang],
        ]
        if not self.stores.empty:
            lines += ["", t("overview.new_by_store", lang)]
            top = self.stores.head(SUMMARY_TOP_STORES)
            for r in top.itertuples(index=False):
                change = format_change(r.new_members, r.previous_week, "members", lang)
                name = store_label(r.store_id, r.store_name, r.city, lang)
                lines.append(f"  {int(r.rank)}. {name}: {int(r.new_members)} {change}")
        if not self.channels.empty:
            lines += ["", t("overview.new_by_channel", lang)]
            for r in self.channels.itertuples(index=False):
                name = i18n.value_label("join_channel", r.join_channel, lang)
                change = format_change(r.new_members, r.previous_week, "members", lang)
                lines.append(f"  {int(r.rank)}. {name}: {int(r.new_members)} {change}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"WeeklyKPIs(week={self.week}, yoy_week={self.params['yoy_week']}, "
            f"aligned={self.params['yoy_aligned']}, kpis={len(self.kpis)})"
        )


def store_label(store_id, store_name, city, lang: str = "zh") -> str:
    """'上海人民广场店 (上海)'; members without a home store: 无门店（线上入会） / No store (joined online)."""
    if store_id == NO_STORE:
        return i18n.t("overview.no_store", lang)
    name = store_name if isinstance(store_name, str) and store_name else str(store_id)
    return f"{name} ({city})" if isinstance(city, str) and city != "unknown" else name


def kpi_label(kpi: str, lang: str = "zh") -> str:
    """Display name of a KPI code (e.g. 'member_ticket' -> 会员客单价（每单）)."""
    return i18n.t(f"overview.kpi.{kpi}", lang, days=REPURCHASE_LOOKBACK_DAYS)


# ---------------------------------------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------------------------------------


def weekly_kpis(
    db,
    *,
    week: str | None = None,
    as_of=None,
    stores=None,
    cities=None,
    channels=None,
    join_channels=None,
    compare_weeks: int = DEFAULT_COMPARE_WEEKS,
) -> WeeklyKPIs:
    """The week's KPIs with week-on-week, recent-weeks and holiday-aligned year-on-year comparisons.

    Parameters (keyword-only)
      week            ISO week label '2026-W47'; default the last complete ISO week at as_of. The week must
                      end on or before as_of and start on or after the first day with orders.
      as_of           the analysis day (default the data's last complete day); only checks the week
      stores, cities  order KPIs count orders placed at these stores (cities of the store); member KPIs
                      (members, new members, group members, coupons) count members whose home store (join
                      store, else first-visit store) is among them
      channels        order channels (dine_in, takeout_platform, mini_program, pickup): order KPIs count
                      only orders of these channels; member counts are not affected
      join_channels   join channels (store_qr, ...): every member KPI and the member side of every order KPI
                      (private revenue, member ticket, active, repurchase) keeps members who joined through
                      them; total revenue and the non-member ticket keep all orders
      compare_weeks   how many weeks before the week are averaged for ``mean_prev_4w`` (default 4)

    Definitions (a week = Monday 00:00 to Sunday 24:00 local time; money = ``amount``, paid after discount)
      members           members who joined on or before the week's Sunday (members)
      new_members       members who joined in the week (members)
      active_members    members with at least one order in the week (members)
      private_revenue   amount of member orders in the week (currency)
      total_revenue     amount of all orders in the week, members and non-members (currency)
      private_share     private_revenue / total_revenue (share 0-1)
      member_ticket     average ticket (客单价) of members: private_revenue / member orders (currency per
                        order; per order rather than per visit so that it compares with non-members, whose
                        orders cannot be grouped into visits)
      nonmember_ticket  amount of non-member orders / their count (currency per order)
      repurchase_rate   share of active_members who also visited (in scope) in the REPURCHASE_LOOKBACK_DAYS
                        (90) days before the week's Monday (share 0-1; NaN when those days start before the
                        data does)
      coupons_issued    coupons issued in the week to members in scope (coupons; needs ``coupons``)
      coupons_redeemed  coupons redeemed in the week (coupons)
      coupon_redemption_rate  over campaigns with a coupon issued or redeemed in the week: coupons redeemed
                        / issued, from each campaign's start to the week's Sunday (share 0-1)
      group_members     members in at least one community group at the end of the week's Sunday (members;
                        needs ``group_members``)
    The coupon rows are left out without a ``coupons`` table and group_members without ``group_members``.

    Returns a :class:`WeeklyKPIs` with

    ``kpis``: one row per KPI, in order of importance:
      kpi             KPI code (above)
      value           the week's value (unit below)
      previous_week   value in the week before
      change_wow      value / previous_week - 1 (relative change; NaN when the base is 0 or missing)
      mean_prev_4w    mean of the values of the ``compare_weeks`` weeks before (NaN if any is before the data)
      change_vs_4w    value / mean_prev_4w - 1
      year_ago        value in the comparison week a year before (NaN before the data starts)
      change_yoy      value / year_ago - 1
      yoy_week        ISO week label of that comparison week
      yoy_aligned     bool: the comparison week was aligned on Spring Festival or National Day
      unit            'members', 'currency' (the chain's currency, ``params['currency']``), 'share' or
                      'coupons'
    ``stores``: new members by home store, every store in scope (plus 'none' for members with no store):
      store_id, store_name, city (NaN / 'unknown' for 'none'), rank (1 = most new members this week), new_members, previous_week,
      change_wow, year_ago (in the comparison week), change_yoy, share_of_new (share 0-1 of the week's new
      members)
    ``channels``: the same by join channel: join_channel, rank, new_members, previous_week, change_wow,
      year_ago, change_yoy, share_of_new
    ``coupons``: one row per campaign with a coupon issued or redeemed in the week: campaign_id,
      campaign_name, issued, redeemed (in the week; coupons), issued_to_date, redeemed_to_date (up to the
      week's Sunday), redemption_rate (redeemed_to_date / issued_to_date, share 0-1)
    ``holiday_note``: {'zh': sentence, 'en': sentence} on the year-ago week

    Raises ParameterError on a malformed week label ('abc'), a week that does not exist ('2026-W60'), a week
    ending after as_of or starting before the data, and unknown stores, cities or channels.

    One store on a read-only store that keeps every store's weekly counts (:func:`store_week_values`,
    :mod:`workbench.analyses.store_weeks`) is read from them: the same numbers, without a query.
    """
    db = connect(db)
    compare_weeks = _check_whole("compare_weeks", compare_weeks, minimum=1)
    filters = _check_filters(db, stores=stores, cities=cities, channels=channels, join_channels=join_channels)
    as_of = scope.resolve_as_of(db, as_of)
    first_day = scope.order_day_range(db, required=True)[0]
    week = week or calendar.last_complete_week(as_of)
    monday, sunday = _check_week(week, as_of=as_of, first_day=first_day)
    week = calendar.iso_week_label(monday)
    kept = store_weeks.one_store(db, as_of=as_of, mondays=_compared_mondays(week, compare_weeks), **filters)
    # The members in scope are read by five queries below: the engine works them out once.
    with _members_in_scope(db, as_of, filters, kept, always_once=True) as (members, narrowed):
        return _weekly_kpis(
            db, week, monday, sunday, as_of, first_day, compare_weeks, members, narrowed, filters, kept
        )


@contextlib.contextmanager
def _members_in_scope(db: Store, as_of, filters: dict, kept, *, always_once: bool = False):
    """(members, narrowed) of :func:`_member_scope`, worked out once by the engine for the block when
    narrowed (or ``always_once``); (None, True) when one store's ``kept`` counts are read instead."""
    if kept is not None:
        yield None, True
        return
    members, narrowed = _member_scope(db, as_of=as_of, **filters)
    with db.computed_once(members) if narrowed or always_once else contextlib.nullcontext(members) as m:
        yield m, narrowed


def _compared_mondays(week: str, compare_weeks: int) -> list[dt.date]:
    """The Mondays of ``week``, of the ``compare_weeks`` weeks before it and of its year-ago week, in order."""
    monday, _ = calendar.parse_iso_week(week)
    yoy_monday, _ = calendar.parse_iso_week(yoy_comparison_week(week)[0])
    before = [monday - dt.timedelta(weeks=k) for k in range(1, compare_weeks + 1)]
    return sorted({monday, yoy_monday, *before})


def _weekly_kpis(db, week, monday, sunday, as_of, first_day, compare_weeks, members, narrowed, filters, kept):
    yoy_week, aligned, holiday = yoy_comparison_week(week)
    yoy_monday, _ = calendar.parse_iso_week(yoy_week)
    before = [monday - dt.timedelta(weeks=k) for k in range(1, compare_weeks + 1)]
    mondays = sorted({monday, yoy_monday, *before})
    coupon_weeks = _scope_coupon_weeks(db, members, narrowed, as_of, filters, kept)
    values = _weekly_values(
        db,
        mondays,
        first_day=first_day,
        members=members,
        narrowed=narrowed,
        coupon_weeks=coupon_weeks,
        kept=kept,
        **filters,
    )
    kpis = _kpi_frame(values, monday=monday, before=before, yoy_monday=yoy_monday, yoy_week=yoy_week,
                      aligned=aligned)  # fmt: skip
    compare = {"current": monday, "previous": before[0], "yoy": yoy_monday}
    covered = {k: d >= first_day for k, d in compare.items()}
    if kept is None:
        joins = _join_counts(members, compare)
    else:
        joins = kept.joins[kept.joins["week_start"].isin(list(compare.values()))]
    store_frame = _store_ranking(db, joins, compare, covered, **filters)
    channel_frame = _channel_ranking(joins, compare, covered)
    coupon_frame = _coupon_table(db, coupon_weeks, monday)

    params = {
        "week": week,
        "week_start": monday,
        "week_end": sunday,
        "as_of": as_of,
        "yoy_week": yoy_week,
        "yoy_aligned": aligned,
        "yoy_holiday": holiday,
        "compare_weeks": compare_weeks,
        "repurchase_lookback_days": REPURCHASE_LOOKBACK_DAYS,
        "currency": db.settings.currency,
        "coupons_table": db.has("coupons"),
        "group_members_table": db.has("group_members"),
        **filters,
    }
    note = {lang: _holiday_note(week, yoy_week, aligned, holiday, lang) for lang in i18n.LANGS}
    return WeeklyKPIs(
        kpis=kpis,
        stores=store_frame,
        channels=channel_frame,
        coupons=coupon_frame,
        holiday_note=note,
        params=params,
    )


def weekly_kpi_trend(
    db,
    *,
    weeks: int = DEFAULT_TREND_WEEKS,
    week: str | None = None,
    as_of=None,
    stores=None,
    cities=None,
    channels=None,
    join_channels=None,
) -> pd.DataFrame:
    """Every KPI of :func:`weekly_kpis` for ``weeks`` consecutive ISO weeks ending with ``week``.

    Same definitions, filters and checks as :func:`weekly_kpis` (one store read from the kept counts
    likewise); weeks that start before the data are left out. Columns, one row per week and KPI (long),
    oldest week first, KPIs in order of importance:
      week        ISO week label ('2026-W47')
      week_start  its Monday (datetime64, local date)
      kpi         KPI code (``KPIS``)
      value       the week's value
      unit        'members', 'currency', 'share' or 'coupons'
    """
    db = connect(db)
    weeks = _check_whole("weeks", weeks, minimum=1)
    filters = _check_filters(db, stores=stores, cities=cities, channels=channels, join_channels=join_channels)
    as_of = scope.resolve_as_of(db, as_of)
    first_day = scope.order_day_range(db, required=True)[0]
    week = week or calendar.last_complete_week(as_of)
    monday, _ = _check_week(week, as_of=as_of, first_day=first_day)
    mondays = [monday - dt.timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
    mondays = [d for d in mondays if d >= first_day]
    kept = store_weeks.one_store(db, as_of=as_of, mondays=mondays, **filters)
    # A narrowed scope is read by every query below: the engine works it out once.
    with _members_in_scope(db, as_of, filters, kept) as (members, narrowed):
        values = _weekly_values(
            db,
            mondays,
            first_day=first_day,
            members=members,
            narrowed=narrowed,
            coupon_weeks=_scope_coupon_weeks(db, members, narrowed, as_of, filters, kept),
            kept=kept,
            **filters,
        )
    long = values.reset_index().melt(id_vars="week_start", var_name="kpi", value_name="value")
    long = long[long["kpi"].isin(KPIS)]
    long["order"] = long["kpi"].map({k: i for i, k in enumerate(KPIS)})
    long = long.sort_values(["week_start", "order"], ignore_index=True)
    out = pd.DataFrame(
        {
            "week": [calendar.iso_week_label(d) for d in long["week_start"]],
            "week_start": pd.to_datetime(long["week_start"]).astype("datetime64[ns]"),
            "kpi": long["kpi"].astype(str),
            "value": long["value"].astype("float64"),
            "unit": long["kpi"].map(KPI_UNITS),
        },
        columns=list(TREND_COLUMNS),
    )
    return out


def store_week_values(
    db, *, weeks, as_of=None, compare_weeks: int = DEFAULT_COMPARE_WEEKS
) -> store_weeks.StoreWeeks:
    """Every store's weekly counts in one pass: what :func:`weekly_kpis` and :func:`weekly_kpi_trend` of
    one store read instead of querying, once :func:`store_weeks.keep` keeps the result for the store.

    ``weeks``: ISO week labels (a page's week choices); the result covers each of them, the
    ``compare_weeks`` weeks before it and its year-ago week. Same definitions as :func:`weekly_kpis` with
    ``stores=[store]``: order counts by the order's store, member counts by the member's home store.
    Returns a :class:`~workbench.analyses.store_weeks.StoreWeeks` (its docstring lists the columns).
    """
    db = connect(db)
    compare_weeks = _check_whole("compare_weeks", compare_weeks, minimum=1)
    as_of = scope.resolve_as_of(db, as_of)
    labels = [weeks] if isinstance(weeks, str) else list(weeks)
    mondays = sorted({d for w in labels for d in _compared_mondays(w, compare_weeks)})
    info = _store_table(db)
    members, _ = _member_scope(db, as_of=as_of, stores=None, cities=None, join_channels=None)
    with db.computed_once(members) as members:
        orders, active = _scoped_order_counts(
            db, mondays, store_ids=None, channels=None, join_channels=None, by=("store_id",)
        )
        joins = members.group_by(["home_store_id", "join_channel", "week_start"]).aggregate(
            new_members=members.count()
        )
        joins = joins.to_pandas()
        groups = None
        if db.has("group_members"):
            groups = _group_members_at(db, members, mondays, by=("home_store_id",))
        coupons = _coupon_weeks(db, members, by=("home_store_id",))
    return store_weeks.StoreWeeks(
        as_of=as_of,
        mondays=tuple(mondays),
        cities=dict(zip(info["store_id"], info["city"], strict=True)),
        orders=store_weeks.compact(orders),
        active=store_weeks.compact(active),
        joins=store_weeks.compact(joins),
        group_members=store_weeks.compact(groups),
        coupons=store_weeks.compact(coupons),
    )


# ---------------------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------------------


def _check_week(week, *, as_of: dt.date, first_day: dt.date) -> tuple[dt.date, dt.date]:
    monday, sunday = calendar.parse_iso_week(week)
    if sunday > as_of:
        raise ParameterError(
            f"week={week!r} ends on {sunday.isoformat()}, after as_of={as_of.isoformat()} (the last complete "
            f"day of data); expected a complete week, at the latest {calendar.last_complete_week(as_of)}."
        )
    if monday < first_day:
        raise ParameterError(
            f"week={week!r} starts on {monday.isoformat()}, before the data starts ({first_day.isoformat()}); "
            f"expected a week from {calendar.iso_week_label(first_day + dt.timedelta(days=6))} on."
        )
    return monday, sunday


def _check_whole(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}.")
    return int(value)


def _as_tuple(value) -> tuple | None:
    if value is None:
        return None
    listed = (value,) if isinstance(value, str | int) else tuple(value)
    return tuple(str(v) for v in listed) or None


def _check_filters(db: Store, *, stores, cities, channels, join_channels) -> dict:
    """Validate the filters against the store's stores / cities and the contract's channels."""
    stores, cities = _as_tuple(stores), _as_tuple(cities)
    channels, join_channels = _as_tuple(channels), _as_tuple(join_channels)
    if stores or cities:
        known = _store_table(db)
        _check_known("stores", stores, sorted(known["store_id"].astype(str)))
        _check_known("cities", cities, sorted(set(known["city"].astype(str))))
    _check_known("channels", channels, contract.ORDER_CHANNELS)
    _check_known("join_channels", join_channels, (*contract.JOIN_CHANNELS, "unknown"))
    return {"stores": stores, "cities": cities, "channels": channels, "join_channels": join_channels}


# Valid choices listed in an error message; a chain with 2,000 stores gets the first ones and a count.
MAX_CHOICES_LISTED = 20


def _check_known(name: str, values, choices) -> None:
    if not values:
        return
    unknown = [v for v in values if v not in set(choices)]
    if unknown:
        listed = ", ".join(list(choices)[:MAX_CHOICES_LISTED])
        more = len(choices) - MAX_CHOICES_LISTED
        raise ParameterError(
            f"{name}={list(values)!r} is not valid: {', '.join(map(repr, unknown))} unknown; expected some "
            f"of: {listed}" + (f" (and {more} more)." if more > 0 else ".")
        )


# ---------------------------------------------------------------------------------------------------------
# Engine side
# ---------------------------------------------------------------------------------------------------------


def _store_table(db: Store) -> pd.DataFrame:
    """store_id, name, city of every store, as text (read once per read-only store; not to be changed)."""
    return db.remembered(
        ("overview.stores",), lambda: db.stores.select("store_id", "name", "city").to_pandas().astype(str)
    )


def _in_scope(info: pd.DataFrame, stores, cities) -> pd.DataFrame:
    """The rows of :func:`_store_table` the store and city filters keep."""
    keep = np.ones(len(info), dtype=bool)
    if stores:
        keep &= info["store_id"].isin([str(s) for s in stores]).to_numpy()
    if cities:
        keep &= info["city"].isin([str(c) for c in cities]).to_numpy()
    return info[keep]


def _store_ids(db: Store, stores, cities) -> list[str] | None:
    """Store ids in scope (None: every store)."""
    if not stores and not cities:
        return None
    return _in_scope(_store_table(db), stores, cities)["store_id"].tolist()


def _member_scope(db: Store, *, as_of, stores, cities, join_channels, **_) -> tuple[ibis.Table, bool]:
    """Members who joined by as_of, narrowed by home store / city / join channel; and whether narrowed.

    The home store is the join store, else the store of the member's first order (as in
    ``scope.member_attributes``); members with neither get NO_STORE. Columns: member_id, join_day,
    join_channel ('unknown' when missing), home_store_id, city (of the home store), week_start (Monday of
    the joining week).

    With a few stores on a read-only store these are read from the members :func:`scope.scoped_members`
    keeps for the scope (the same definitions), which the page's other analyses read too.
    """
    if scope.kept_per_scope(db, stores):
        k = scope.scoped_members(db, as_of=as_of, stores=stores, cities=cities, join_channels=join_channels)
        k = k.select(
            "member_id",
            "join_day",
            "join_channel",
            "city",
            home_store_id=k.home_store_id.fill_null(NO_STORE),
            week_start=calendar.period_start(k.join_day, "week"),
        )
        return k, True
    m = db.members
    m = m.filter(
        m.joined_at < calendar.day_start(calendar.as_date(as_of) + dt.timedelta(days=1), db.settings.timezone)
    )
    if stores or cities:
        m = scope.at_home_stores(db, m, as_of=as_of, stores=stores, cities=cities)
    m = m.mutate(join_day=calendar.local_day(m.joined_at))
    f = scope.first_visits(db, as_of=as_of)  # the first order's store is the first visit's store
    first = f.select(first_member="member_id", first_store_id="first_store_id")
    m = m.left_join(first, m.member_id == first.first_member)
    s = db.stores.select(store_key="store_id", store_city="city")
    home = m.join_store_id.coalesce(m.first_store_id)
    m = m.mutate(home=home)
    m = m.left_join(s, m.home == s.store_key)
    m = m.select(
        "member_id",
        "join_day",
        join_channel=m.join_channel.fill_null("unknown"),
        home_store_id=m.home.fill_null(NO_STORE),
        city=m.store_city.fill_null("unknown"),
        week_start=calendar.period_start(m.join_day, "week"),
    )
    if stores:
        m = m.filter(m.home_store_id.isin(list(stores)))
    if cities:
        m = m.filter(m.city.isin(list(cities)))
    if join_channels:
        m = m.filter(m.join_channel.isin(list(join_channels)))
    return m, bool(stores or cities or join_channels)


def _scoped_orders(o: ibis.Table, *, store_ids, channels) -> ibis.Table:
    """Orders ``o`` with their local day and amount as float, narrowed to the stores and channels."""
    o = o.mutate(day=calendar.local_day(o.ordered_at), amount=o.amount.cast("float64"))
    if store_ids is not None:
        o = o.filter(o.store_id.isin(store_ids))
    if channels:
        o = o.filter(o.channel.isin(list(channels)))
    return o


def _weekly_values(
    db: Store,
    mondays: list[dt.date],
    *,
    first_day,
    members: ibis.Table | None,
    narrowed: bool,
    coupon_weeks: pd.DataFrame | None,
    stores,
    cities,
    channels,
    join_channels,
    kept: store_weeks.OneStore | None = None,
) -> pd.DataFrame:
    """One row per Monday in ``mondays`` (index week_start, a date) and one column per KPI code.

    ``kept``: the store's weekly counts, worked out for every store at once (:func:`store_week_values`),
    read instead of querying ``members`` and the orders."""
    frame = pd.DataFrame(index=pd.Index(sorted(mondays), name="week_start"))
    if not mondays:
        return frame.assign(**{k: pd.Series(dtype="float64") for k in KPIS})
    if kept is not None:
        orders, active, joins, groups = kept.orders, kept.active, kept.new_by_week(), kept.group_members
    else:
        orders, active = _scoped_order_counts(
            db,
            mondays,
            store_ids=_store_ids(db, stores, cities),
            channels=channels,
            join_channels=join_channels,
        )
        joins = members.group_by("week_start").aggregate(new_members=members.count()).to_pandas()
        groups = None
        if db.has("group_members"):
            groups = _group_members_at(db, members if narrowed else None, list(frame.index))

    frame = frame.join(_by_week(orders)).join(_by_week(active))
    joins = _by_week(joins).sort_index()
    frame["new_members"] = joins["new_members"].reindex(frame.index).fillna(0)
    cumulative = joins["new_members"].cumsum()
    frame["members"] = [
        float(cumulative[cumulative.index <= d].iloc[-1]) if (cumulative.index <= d).any() else 0.0
        for d in frame.index
    ]
    for column in ("total_revenue", "private_revenue", "nonmember_revenue", "active_members", "returning"):
        frame[column] = pd.to_numeric(frame.get(column), errors="coerce").fillna(0.0)
    for column in ("member_orders", "nonmember_orders"):
        frame[column] = pd.to_numeric(frame.get(column), errors="coerce").fillna(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["private_share"] = _ratio(frame["private_revenue"], frame["total_revenue"])
        frame["member_ticket"] = _ratio(frame["private_revenue"], frame["member_orders"])
        frame["nonmember_ticket"] = _ratio(frame["nonmember_revenue"], frame["nonmember_orders"])
        frame["repurchase_rate"] = _ratio(frame["returning"], frame["active_members"])
    lookback_ok = [d - dt.timedelta(days=REPURCHASE_LOOKBACK_DAYS) >= first_day for d in frame.index]
    frame.loc[~np.asarray(lookback_ok, dtype=bool), "repurchase_rate"] = np.nan

    if groups is not None:
        counts = _by_week(groups)["group_members"]
        frame["group_members"] = [float(counts.get(d, 0)) for d in frame.index]
    if coupon_weeks is not None:
        for column, values in _coupon_kpis(coupon_weeks, list(frame.index)).items():
            frame[column] = values

    kpis = [k for k in KPIS if k in frame.columns]
    out = frame[kpis].astype("float64")
    out.loc[[d < first_day for d in out.index]] = np.nan  # a week before the data is unknown, not zero
    return out


def _scoped_order_counts(
    db: Store, mondays: list[dt.date], *, store_ids, channels, join_channels, by: tuple = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`_order_and_visit_counts` of the orders at ``store_ids`` (None: every store) in ``channels``
    (None: all) in the weeks ``mondays``, members who joined through ``join_channels`` (None: all)."""
    week_days = [ibis.literal(d, type="date") for d in mondays]
    spans = _day_spans(mondays, REPURCHASE_LOOKBACK_DAYS)
    o = derived.orders_for(db, store_ids)  # one store's orders: the copy stored by store, read in its blocks
    # Each week and the lookback days before it (a year-ago week adds a second stretch, not the year between),
    # first as instants (the engine skips whole blocks of orders by their timestamps without working out
    # the local day of each), then as local days.
    tz = db.settings.timezone
    instants = [
        (o.ordered_at >= ibis.literal(pd.Timestamp(lo, tz=tz)))
        & (o.ordered_at < ibis.literal(pd.Timestamp(hi + dt.timedelta(days=1), tz=tz)))
        for lo, hi in spans
    ]
    o = _scoped_orders(
        o.filter(functools.reduce(operator.or_, instants)), store_ids=store_ids, channels=channels
    )
    windows = [
        (o.day >= calendar.date_literal(lo)) & (o.day <= calendar.date_literal(hi)) for lo, hi in spans
    ]
    o = o.filter(functools.reduce(operator.or_, windows))
    o = o.mutate(week_start=calendar.period_start(o.day, "week"))
    if join_channels:
        m = db.members.filter(db.members.join_channel.fill_null("unknown").isin(list(join_channels)))
        member_ok = o.member_id.isin(m.member_id)
    else:
        member_ok = o.member_id.notnull()
    o = o.select(*by, "member_id", "day", "week_start", "amount", in_member_scope=member_ok.fill_null(False))
    # Both queries below read these orders: the local day of each is worked out once.
    with db.computed_once(o) as o:
        return _order_and_visit_counts(o, week_days, by)


def _order_and_visit_counts(o: ibis.Table, week_days, by: tuple = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per week in ``week_days`` from the scoped orders ``o`` (member_id, day, week_start, amount,
    in_member_scope; each week and its lookback days): the order sums (total_revenue, private_revenue,
    member_orders, nonmember_revenue, nonmember_orders) and the members with a visit (active_members) of
    whom returning within REPURCHASE_LOOKBACK_DAYS of their visit before (returning). ``by``: columns of
    ``o`` (e.g. store_id) that split both, each part counted as if it were the only one in scope."""
    in_weeks = o.filter(o.week_start.isin(week_days))
    orders = (
        in_weeks.group_by([*by, "week_start"])
        .aggregate(
            total_revenue=in_weeks.amount.sum(),
            private_revenue=in_weeks.amount.sum(where=in_weeks.in_member_scope),
            member_orders=in_weeks.count(where=in_weeks.in_member_scope),
            nonmember_revenue=in_weeks.amount.sum(where=in_weeks.member_id.isnull()),
            nonmember_orders=in_weeks.count(where=in_weeks.member_id.isnull()),
        )
        .to_pandas()
    )

    # Visits of members in scope (one per member and day) and the day of the visit before each one.
    mo = o.filter(o.in_member_scope)
    v = mo.group_by([*by, "member_id", "day"]).aggregate(week_start=mo.week_start.min())
    w = ibis.window(group_by=[*by, "member_id"], order_by=v.day)
    v = v.mutate(prev_day=v.day.lag().over(w))
    first_in_week = v.filter(
        v.week_start.isin(week_days) & (v.prev_day.isnull() | (v.prev_day < v.week_start))
    )
    gap = first_in_week.week_start.delta(first_in_week.prev_day, unit="day")
    returning = first_in_week.prev_day.notnull() & (gap <= REPURCHASE_LOOKBACK_DAYS)
    active = (
        first_in_week.group_by([*by, "week_start"])
        .aggregate(active_members=first_in_week.count(), returning=returning.cast("int64").sum())
        .to_pandas()
    )
    return orders, active


def _day_spans(mondays: list[dt.date], lookback_days: int) -> list[tuple[dt.date, dt.date]]:
    """The days each week and its lookback cover, overlapping stretches merged: [(first, last), ...]."""
    spans: list[tuple[dt.date, dt.date]] = []
    for d in sorted(mondays):
        lo, hi = d - dt.timedelta(days=lookback_days), d + dt.timedelta(days=6)
        if spans and lo <= spans[-1][1] + dt.timedelta(days=1):
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def _by_week(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["week_start"] = [pd.Timestamp(d).date() for d in frame["week_start"]]
    return frame.set_index("week_start")


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.astype("float64")
    den = den.astype("float64")
    return (num / den).where(den > 0)


def _group_members_at(
    db: Store, members: ibis.Table | None, mondays: list[dt.date], by: tuple = ()
) -> pd.DataFrame:
    """Members in scope (None: every member) in at least one group at the end of each week's Sunday:
    columns ``by`` (columns of ``members``, e.g. home_store_id), week_start, group_members."""
    gm = db.group_members
    if by:
        gm = gm.join(members.select("member_id", *by), "member_id")
    elif members is not None:
        gm = gm.filter(gm.member_id.isin(members.member_id))
    gm = gm.select(
        *by,
        "member_id",
        joined_day=calendar.local_day(gm.joined_at),
        left_day=calendar.local_day(gm.left_at),
    )
    ends = ibis.memtable(
        pd.DataFrame({"week_start": mondays, "sunday": [d + dt.timedelta(days=6) for d in mondays]})
    )
    ends = ends.mutate(week_start=ends.week_start.cast("date"), sunday=ends.sunday.cast("date"))
    spells = gm.cross_join(ends)
    inside = spells.filter(
        (spells.joined_day <= spells.sunday) & (spells.left_day.isnull() | (spells.left_day > spells.sunday))
    )
    counts = inside.group_by([*by, "week_start"]).aggregate(group_members=inside.member_id.nunique())
    return counts.to_pandas()


def _coupon_events(db: Store, members: ibis.Table | None, by: tuple = ()) -> ibis.Table:
    c = db.coupons
    if by:
        c = c.join(members.select("member_id", *by), "member_id")
    elif members is not None:
        c = c.filter(c.member_id.isin(members.member_id))
    return c.select(
        *by,
        "coupon_id",
        "campaign_id",
        issued_week=calendar.period_start(calendar.local_day(c.issued_at), "week"),
        redeemed_week=calendar.period_start(calendar.local_day(c.redeemed_at), "week"),
    )


def _scope_coupon_weeks(
    db: Store, members, narrowed: bool, as_of, filters: dict, kept=None
) -> pd.DataFrame | None:
    """:func:`_coupon_weeks` of the members in scope (``members``, the scope of ``filters`` at ``as_of``),
    read once per read-only store and scope: a page's week KPIs and trend ask for the same. One store's
    ``kept`` counts hold them."""
    if kept is not None:
        return kept.coupons
    member_scope = scope.scope_key(  # the order channels do not narrow the members
        stores=filters["stores"], cities=filters["cities"], join_channels=filters["join_channels"]
    )
    key = ("overview.coupon_weeks", as_of, member_scope)
    return db.remembered(key, lambda: _coupon_weeks(db, members if narrowed else None))


def _coupon_weeks(db: Store, members: ibis.Table | None, by: tuple = ()) -> pd.DataFrame | None:
    """Per campaign and week: coupons issued and redeemed in the week (small: campaigns x weeks).

    Coupons of members in scope (None: every member); None without a coupons table. Columns: ``by``
    (columns of ``members`` that split the counts, e.g. home_store_id), campaign_id, week_start, issued,
    redeemed.
    """
    if not db.has("coupons"):
        return None
    c = _coupon_events(db, members, by)
    keys = [*by, "campaign_id"]
    issued = c.group_by([*keys, c.issued_week.name("week_start")]).aggregate(issued=c.count())
    r = c.filter(c.redeemed_week.notnull())
    redeemed = r.group_by([*keys, r.redeemed_week.name("week_start")]).aggregate(redeemed=r.count())
    a = issued.to_pandas()
    b = redeemed.to_pandas()
    out = pd.merge(a, b, on=[*keys, "week_start"], how="outer")
    out["week_start"] = [pd.Timestamp(d).date() for d in out["week_start"]]
    out[["issued", "redeemed"]] = out[["issued", "redeemed"]].fillna(0).astype("int64")
    return out.sort_values([*keys, "week_start"], ignore_index=True)


def _coupon_kpis(weeks: pd.DataFrame, mondays: list[dt.date]) -> dict[str, list[float]]:
    """The COUPON_KPIS of each week in ``mondays`` from :func:`_coupon_weeks`: coupons issued and redeemed
    in the week, and over the campaigns with either in the week, redeemed / issued up to its Sunday."""
    starts = pd.to_datetime(pd.Series(weeks["week_start"], dtype="object")).to_numpy()
    campaigns = weeks["campaign_id"].to_numpy()
    issued = weeks["issued"].to_numpy()
    redeemed = weeks["redeemed"].to_numpy()
    out: dict[str, list[float]] = {k: [] for k in COUPON_KPIS}
    for monday in mondays:
        day = np.datetime64(monday, "ns")
        this = starts == day
        out["coupons_issued"].append(float(issued[this].sum()))
        out["coupons_redeemed"].append(float(redeemed[this].sum()))
        active = np.unique(campaigns[this & ((issued > 0) | (redeemed > 0))])
        to_date = np.isin(campaigns, active) & (starts <= day)
        total = issued[to_date].sum()
        out["coupon_redemption_rate"].append(
            float(redeemed[to_date].sum() / total) if total > 0 else math.nan
        )
    return out


def _coupon_table(db: Store, weeks: pd.DataFrame | None, monday: dt.date) -> pd.DataFrame:
    if weeks is None:
        return _empty(COUPON_COLUMNS)
    this = weeks[(weeks["week_start"] == monday) & ((weeks["issued"] > 0) | (weeks["redeemed"] > 0))]
    if this.empty:
        return _empty(COUPON_COLUMNS)
    to_date = weeks[weeks["week_start"] <= monday].groupby("campaign_id")[["issued", "redeemed"]].sum()
    out = this.groupby("campaign_id")[["issued", "redeemed"]].sum()
    out = out.join(to_date.rename(columns={"issued": "issued_to_date", "redeemed": "redeemed_to_date"}))
    names = {}
    if db.has("campaigns"):
        campaigns = db.campaigns.select("campaign_id", "name").to_pandas()
        names = dict(zip(campaigns["campaign_id"].astype(str), campaigns["name"].astype(str), strict=True))
    out = out.reset_index()
    out["campaign_name"] = out["campaign_id"].map(names).fillna(out["campaign_id"])
    out["redemption_rate"] = _ratio(out["redeemed_to_date"], out["issued_to_date"])
    out = out.sort_values(["issued", "redeemed", "campaign_id"], ascending=[False, False, True])
    for column in ("issued", "redeemed", "issued_to_date", "redeemed_to_date"):
        out[column] = out[column].astype("int64")
    return out[list(COUPON_COLUMNS)].reset_index(drop=True)


def _join_counts(members: ibis.Table, compare: dict) -> pd.DataFrame:
    """New members in the current, previous and year-ago weeks (``compare``): columns home_store_id,
    join_channel, week_start (a date), new_members."""
    days = [ibis.literal(d, type="date") for d in compare.values()]
    m = members.filter(members.week_start.isin(days))
    counts = m.group_by(["home_store_id", "join_channel", "week_start"]).aggregate(new_members=m.count())
    counts = counts.to_pandas()
    counts["week_start"] = [pd.Timestamp(d).date() for d in counts["week_start"]]
    return counts


def _new_member_counts(joins: pd.DataFrame, key: str, compare: dict) -> pd.DataFrame:
    """New members per ``key`` in the current, previous and year-ago weeks, from :func:`_join_counts`:
    index key, columns current, previous, yoy."""
    counts = (
        joins.groupby([key, "week_start"], as_index=False)["new_members"]
        .sum()
        .rename(columns={"new_members": "n"})
    )
    wide = pd.DataFrame(index=pd.Index(counts[key].astype(str).unique(), name=key))
    for name, monday in compare.items():
        part = counts[counts["week_start"] == monday].set_index(key)["n"]
        part.index = part.index.astype(str)
        wide[name] = part.reindex(wide.index).fillna(0).astype("int64")
    return wide


def _ranking(wide: pd.DataFrame, covered: dict) -> pd.DataFrame:
    """Rank by this week's new members (ties: previous week, then the key) and add the comparisons."""
    wide = wide.copy()
    for name in ("current", "previous", "yoy"):
        if name not in wide:
            wide[name] = 0
    # a comparison week before the data starts is unknown (NaN), not zero
    previous = wide["previous"].astype("float64") * (1.0 if covered["previous"] else np.nan)
    year_ago = wide["yoy"].astype("float64") * (1.0 if covered["yoy"] else np.nan)
    current = wide["current"].astype("float64")
    total = current.sum()
    out = pd.DataFrame(
        {
            "new_members": wide["current"].astype("int64"),
            "previous_week": previous,
            "change_wow": _ratio(current, previous) - 1,
            "year_ago": year_ago,
            "change_yoy": _ratio(current, year_ago) - 1,
            "share_of_new": current / total if total > 0 else np.nan,
        },
        index=wide.index,
    )
    out = out.reset_index()
    key = out.columns[0]
    out = out.sort_values(
        ["new_members", "previous_week", key], ascending=[False, False, True], na_position="last"
    )
    out.insert(1, "rank", np.arange(1, len(out) + 1, dtype="int64"))
    return out.reset_index(drop=True)


def _store_ranking(db: Store, joins: pd.DataFrame, compare, covered, *, stores, cities, **_) -> pd.DataFrame:
    info = _in_scope(_store_table(db), stores, cities).set_index("store_id")
    wide = _new_member_counts(joins, "home_store_id", compare)
    wide.index.name = "store_id"
    index = list(info.index) + [i for i in wide.index if i not in info.index]
    wide = wide.reindex(index).fillna(0).astype("int64")
    wide.index.name = "store_id"
    ranked = _ranking(wide, covered)
    ranked.insert(1, "store_name", ranked["store_id"].map(info["name"]))
    ranked.insert(2, "city", ranked["store_id"].map(info["city"]).fillna("unknown"))
    no_store = ranked["store_id"] == NO_STORE
    if no_store.any() and not ranked.loc[no_store, "new_members"].any():
        ranked = ranked[~no_store].reset_index(drop=True)
        ranked["rank"] = np.arange(1, len(ranked) + 1, dtype="int64")
    cols = [c for c in STORE_COLUMNS]
    return ranked[cols]


def _channel_ranking(joins: pd.DataFrame, compare, covered) -> pd.DataFrame:
    wide = _new_member_counts(joins, "join_channel", compare)
    order = [
        c for c in (*contract.JOIN_CHANNELS, "unknown") if c in wide.index or c in contract.JOIN_CHANNELS
    ]
    wide = wide.reindex(order).fillna(0).astype("int64")
    wide.index.name = "join_channel"
    ranked = _ranking(wide, covered)
    return ranked[list(CHANNEL_COLUMNS)]


def _kpi_frame(values: pd.DataFrame, *, monday, before, yoy_monday, yoy_week, aligned) -> pd.DataFrame:
    rows = []
    for kpi in values.columns:
        series = values[kpi]
        value = series.get(monday, np.nan)
        previous = series.get(before[0], np.nan)
        recent = [series.get(d, np.nan) for d in before]
        mean_recent = float(np.mean(recent)) if not any(pd.isna(recent)) else np.nan
        year_ago = series.get(yoy_monday, np.nan)
        rows.append(
            {
                "kpi": kpi,
                "value": value,
                "previous_week": previous,
                "change_wow": _change(value, previous),
                "mean_prev_4w": mean_recent,
                "change_vs_4w": _change(value, mean_recent),
                "year_ago": year_ago,
                "change_yoy": _change(value, year_ago),
                "yoy_week": yoy_week,
                "yoy_aligned": bool(aligned),
                "unit": KPI_UNITS[kpi],
            }
        )
    out = pd.DataFrame(rows, columns=list(KPI_COLUMNS))
    for column in ("value", "previous_week", "change_wow", "mean_prev_4w", "change_vs_4w", "year_ago",
                   "change_yoy"):  # fmt: skip
        out[column] = out[column].astype("float64")
    return out


def _change(value, base) -> float:
    if pd.isna(value) or pd.isna(base) or base == 0:
        return math.nan
    return float(value) / float(base) - 1.0


def _empty(columns) -> pd.DataFrame:
    text = {"campaign_id", "campaign_name", "store_id", "store_name", "city", "join_channel"}
    return pd.DataFrame({c: pd.Series(dtype="object" if c in text else "float64") for c in columns})


# ---------------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------------


def _holiday_note(week: str, yoy_week: str, aligned: bool, holiday: str | None, lang: str) -> str:
    if not aligned:
        return i18n.t("overview.holiday.plain", lang, yoy=yoy_week)
    _, offset = holiday_offset(week)
    name = i18n.t(f"overview.holiday.{holiday}", lang)
    if offset == 0:
        where = i18n.t("overview.holiday.offset0", lang, holiday=name)
    elif offset < 0:
        where = i18n.t("overview.holiday.before", lang, holiday=name, n=-offset)
    else:
        where = i18n.t("overview.holiday.after", lang, holiday=name, n=offset)
    return i18n.t("overview.holiday.aligned", lang, yoy=yoy_week, holiday=name, where=where)


def format_value(value, unit: str, currency: str, lang: str) -> str:
    """A KPI value as text: '12,345' members, '¥12,345' money, '34.5%' shares."""
    if value is None or pd.isna(value):
        return "–"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "currency":
        symbol = "¥" if currency == "CNY" else f"{currency} "
        return f"{symbol}{value:,.0f}" if abs(value) >= 1000 else f"{symbol}{value:,.1f}"
    return f"{value:,.0f}"


def format_change(value, base, unit: str, lang: str) -> str:
    """'+12.3% ▲' (relative), or '+1.2 pp ▲' for shares; '–' when there is nothing to compare with.

    A change that rounds to zero at the digit shown is '0.0%' (or '0.0 pp'): no sign and no arrow."""
    if value is None or base is None or pd.isna(value) or pd.isna(base):
        return "–"
    if unit == "share":
        diff = round((float(value) - float(base)) * 100, 1)
        suffix = i18n.t("overview.pp", lang)
    else:
        if base == 0:
            return "–"
        diff = round((float(value) / float(base) - 1.0) * 100, 1)
        suffix = "%"
    if diff == 0:
        return f"0.0{suffix}"
    return f"{diff:+.1f}{suffix} {'▲' if diff > 0 else '▼'}"
