"""Member lifecycle: which state each member is in every week or month, and how the private pool flows.

DESIGN.md "Lifecycle". The pool is every member in scope who has visited at least once (a visit is a
member's orders on one local day). Periods are ISO weeks (Monday start) or calendar months of the chain's
time zone; only complete periods count (the last one ends on or before ``as_of``). With D =
``dormant_after_days`` and L = ``lost_after_days`` (D < L), a member whose first visit falls on or before
the end of period p is in exactly one state in p, decided in this order:

- **new**: the member's first visit falls in p (inflow into the pool).
- **returning** (resurrected): visited in p, did not visit in p-1, and was dormant or lost at the end of
  p-1 (more than D days since the last visit). A member who lapses past D and comes back inside the same
  period was never seen lapsed at a period end and counts as active.
- **active**: visited in p (and neither new nor returning), or did not visit in p but the last visit is at
  most D days before the end of p: still inside the normal repurchase rhythm. (Weekly periods are much
  shorter than most members' cycles, so "visited this very week" would flip regulars in and out; the
  ``visited`` column of ``counts`` says how many active members actually visited in p.)
- **dormant**: no visit in p; the last visit is more than D and less than L days before the end of p.
- **lost**: no visit in p; the last visit is at least L days before the end of p (outflow: the member
  has churned by the churn rule with T = L). Lost members stay in the pool as lost until they return.

So returning always comes from dormant or lost, and new from outside the pool ('none' in ``flows``).

Thresholds follow the repurchase cycle (``workbench.analyses.churn.churn_threshold``, the quantile of the
days between consecutive visits in scope, rounded up): L defaults to the churn threshold itself (its
default quantile, 0.9: nine in ten returns happen within L days, so a longer gap is unusual enough to call
the member gone, and "lost" then means exactly "churned" in the churn analysis); D defaults to the 0.75
quantile: a member past it is later than three in four returns, overdue but still with a real chance of
coming back before L.

How it is computed (in the engine, with no member x period grid). Visits are reduced to one row per
(member, period with a visit) with the last visit day in it; window functions give each such row the
member's previous and next visit period. The row's own state (new / returning / active) follows from the
previous visit period and day. The periods between two visit periods (or up to the last period) hold no
visit, and their states follow arithmetically from the last visit day b: active until the period that
contains day b + D + 1, dormant from there until the period containing day b + L, lost from there on.
Each member's history thus becomes a few *spans* (member, state, first period, last period), at most four
per visit period. Counts per period come from +1 / -1 events at each span's start and end aggregated in
the engine, then a running sum over periods in pandas; flows are each span's entry transition (from the
state of the span before it) plus the "stay" transitions inside spans, counted the same way. pandas only
ever sees (period, segment, state) sized frames.

    life = lifecycle(db, period="month", segment_by="join_channel")
    life.counts     # members per period, segment and state
    life.flows      # transitions between consecutive periods
    print(life.summary(lang="en"))

The order history may start after members began visiting: then the first periods count older members as
new (their earlier visits are not in the data). ``start=`` reports from a later period while still using
the history before it to set the states.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope
from workbench.analyses.churn import churn_thresholds, interval_quantiles
from workbench.data import calendar
from workbench.data.store import connect
from workbench.data.visits import visits as member_visits
from workbench.errors import ParameterError, ThinDataWarning, choices_message
from workbench.i18n import segment_label

PERIODS = ("week", "month")
STATES = ("new", "active", "returning", "dormant", "lost")
# state_from of new members in ``flows``: they were not in the pool before (the pool's inflow).
OUTSIDE = "none"
# Default D: this quantile of repurchase intervals (see the module docstring).
DORMANT_QUANTILE = 0.75
# Default L: churn's own default quantile, so that "lost" equals "churned" (churn.DEFAULT_QUANTILE).
LOST_QUANTILE = 0.9
# Monday 5 January 1970: week indices count whole weeks from it (any Monday would do).
_EPOCH_MONDAY = dt.date(1970, 1, 5)
_MONTHS_PER_YEAR = 12
_EPOCH_YEAR = 1970  # numpy's month epoch

# The spans one visit period gives rise to (member_spans) and the event rows a span gives (_span_events).
_SPAN_KINDS = ("visit", "active", "dormant", "lost")
_EVENT_KINDS = ("enter", "leave", "visit", "move", "stay_on", "stay_off")
# The engine carries states as codes: the index in STATES, and OUTSIDE_CODE for OUTSIDE.
OUTSIDE_CODE = -1
_CODE = {s: i for i, s in enumerate(STATES)}
_NAME = {OUTSIDE_CODE: OUTSIDE, **{i: s for s, i in _CODE.items()}}

COUNT_COLUMNS = ("period", "segment", "state", "members", "visited", "share")
FLOW_COLUMNS = ("period_from", "period_to", "segment", "state_from", "state_to", "members")
THRESHOLD_COLUMNS = ("threshold", "days", "source", "quantile")

i18n.register(
    {
        "lifecycle.state.new": ("新客", "New"),
        "lifecycle.state.active": ("活跃", "Active"),
        "lifecycle.state.returning": ("回流", "Returning"),
        "lifecycle.state.dormant": ("沉睡", "Dormant"),
        "lifecycle.state.lost": ("流失", "Lost"),
        "lifecycle.state.none": ("池外（尚未到店）", "Outside the pool (no visit yet)"),
        "lifecycle.summary.head": (
            "会员生命周期（按{period}，截至 {as_of}；沉睡：超过 {dormant} 天未到店，流失：至少 {lost} 天未到店）",
            "Member lifecycle (by {period}, as of {as_of}; dormant: no visit for more than {dormant} days, "
            "lost: for at least {lost} days)",
        ),
        "lifecycle.summary.period": (
            "{segment}：{label} 私域池 {pool} 人 —— {states}",
            "{segment}: {label} pool {pool} members — {states}",
        ),
        "lifecycle.summary.state": ("{state} {n}（{share}）", "{state} {n} ({share})"),
        "lifecycle.summary.flow": (
            "  较上期：新增 {inflow} 人，回流 {back} 人，新流失 {out} 人，未流失会员净变化 {net} 人",
            "  vs the previous period: {inflow} new, {back} returned, {out} newly lost, "
            "net change of members not lost {net}",
        ),
        "lifecycle.summary.empty": (
            "所选条件下截至该日没有完整周期内到店的会员",
            "No member visited in a complete period for the selected filters",
        ),
        "lifecycle.summary.left_censored": (
            "注意：订单数据始于 {first}，最初几期的“新客”包含数据开始前就已到店的老会员",
            "Note: the order data start on {first}; the first periods' 'new' members include older members "
            "whose earlier visits are not in the data",
        ),
    }
)


@dataclass(frozen=True)
class Lifecycle:
    """The result of :func:`lifecycle` (every column is listed there).

    ``counts`` one row per (period, segment, state); ``flows`` one row per (period_to, segment, state_from,
    state_to) with members; ``thresholds`` the D and L used and where they came from; ``params`` the call's
    settings. ``summary(lang=...)`` is a short text for people.
    """

    counts: pd.DataFrame
    flows: pd.DataFrame
    thresholds: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def as_of(self) -> dt.date:
        return self.params["as_of"]

    @property
    def periods(self) -> list[pd.Timestamp]:
        """First days of the reported periods, oldest first."""
        return sorted(pd.to_datetime(self.counts["period"]).unique())

    @property
    def segments(self) -> list[str]:
        return list(dict.fromkeys(self.counts["segment"]))

    def segment_label(self, value, lang: str = "zh") -> str:
        return segment_label(self.params.get("segment_by"), value, lang)

    def period_label(self, period) -> str:
        """'2026-W47' for a week, '2026-11' for a month."""
        return period_label(period, self.params["period"])

    def summary(self, lang: str = "zh") -> str:
        """The last period per segment: pool size, each state with its share, inflow and outflow."""
        i18n.check_lang(lang)
        p = self.params
        lines = [
            i18n.t(
                "lifecycle.summary.head",
                lang,
                period=i18n.t(p["period"], lang),
                as_of=p["as_of"].isoformat(),
                dormant=p["dormant_after_days"],
                lost=p["lost_after_days"],
            )
        ]
        if self.counts.empty:
            lines.append(i18n.t("lifecycle.summary.empty", lang))
            return "\n".join(lines)
        last = self.periods[-1]
        for seg in self.segments:
            c = self.counts[(self.counts["segment"] == seg) & (self.counts["period"] == last)]
            c = c.set_index("state")
            pool = int(c["members"].sum())
            states = "，" if lang == "zh" else ", "
            states = states.join(
                i18n.t(
                    "lifecycle.summary.state",
                    lang,
                    state=state_label(s, lang),
                    n=f"{int(c.loc[s, 'members']):,}",
                    share="-" if pd.isna(c.loc[s, "share"]) else f"{c.loc[s, 'share']:.0%}",
                )
                for s in STATES
            )
            lines.append(
                i18n.t(
                    "lifecycle.summary.period",
                    lang,
                    segment=self.segment_label(seg, lang),
                    label=self.period_label(last),
                    pool=f"{pool:,}",
                    states=states,
                )
            )
            f = self.flows[(self.flows["segment"] == seg) & (self.flows["period_to"] == last)]
            if not f.empty:
                inflow = int(f.loc[f["state_from"] == OUTSIDE, "members"].sum())
                back = int(f.loc[f["state_to"] == "returning", "members"].sum())
                revived = int(f.loc[(f["state_from"] == "lost") & (f["state_to"] != "lost"), "members"].sum())
                out = int(f.loc[(f["state_to"] == "lost") & (f["state_from"] != "lost"), "members"].sum())
                net = inflow + revived - out
                lines.append(
                    i18n.t(
                        "lifecycle.summary.flow",
                        lang,
                        inflow=f"{inflow:,}",
                        back=f"{back:,}",
                        out=f"{out:,}",
                        net=f"{net:+,}",
                    )
                )
        first = p.get("data_first_day")
        if first is not None and p.get("first_period") is not None and p["first_period"] <= first:
            lines.append(i18n.t("lifecycle.summary.left_censored", lang, first=first.isoformat()))
        return "\n".join(lines)


def state_label(state: str, lang: str = "zh") -> str:
    """Display name of a lifecycle state (or of 'none', outside the pool)."""
    return i18n.t(f"lifecycle.state.{state}", lang)


def period_label(period, kind: str) -> str:
    day = pd.Timestamp(period).date()
    return calendar.iso_week_label(day) if kind == "week" else day.strftime("%Y-%m")


# ---------------------------------------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------------------------------------


def lifecycle(
    db,
    *,
    period: str = "week",
    as_of=None,
    dormant_after_days: int | None = None,
    lost_after_days: int | None = None,
    stores=None,
    cities=None,
    join_channels=None,
    segment_by=None,
    start=None,
) -> Lifecycle:
    """Members per lifecycle state per period, and the flows between consecutive periods.

    Parameters (keyword-only):
      period              'week' (ISO, Monday start) or 'month', in the chain's time zone
      as_of               analysis day (default: the data's last complete day); periods ending after it
                          are not reported and visits after the last complete period are ignored
      dormant_after_days  D: no visit for more than D days (at a period's end) is dormant; default the
                          DORMANT_QUANTILE (0.75) quantile of repurchase intervals in scope
                          (``churn_threshold(quantile=0.75)``)
      lost_after_days     L: no visit for at least L days is lost; default the churn threshold
                          (``churn_threshold``, quantile 0.9). D must be smaller than L.
      stores, cities, join_channels   keep members by home store / its city / join channel (see scope)
      segment_by          a member attribute (``scope.SEGMENT_COLUMNS``) or a DataFrame member_id -> segment
      start               first period to report (any day in it); default the period of the first visit
                          in scope. States before it still shape the states from it on.

    The states are defined in the module docstring; every member who has visited by the end of a period is
    in exactly one of them in that period.

    Returns a :class:`Lifecycle` with

    ``counts``: one row per reported period x segment x state (zeros included), sorted by period, segment
    and state order (``STATES``):
      period      first day of the period (datetime64, local date)
      segment     segment value (text; 'all' without segment_by)
      state       new, active, returning, dormant or lost
      members     members in that state at the period (int)
      visited     of those, members with at least one visit in the period (int; equals members for new
                  and returning, 0 for dormant and lost)
      share       members / all members of the segment in the pool at that period (share 0-1; NaN when
                  the segment has nobody in the pool yet)

    ``flows``: transitions between each reported period and the one before it (the first reported period
    has none), one row per (period_to, segment, state_from, state_to) with at least one member:
      period_from, period_to   first days of the two consecutive periods (datetime64)
      segment                  as above
      state_from               the member's state in period_from, or 'none' for members new in period_to
                               (not in the pool before: the inflow)
      state_to                 the state in period_to
      members                  members making that transition (int)
    Summed over state_to, the flows out of (period_from, state_from) equal ``counts`` there; summed over
    state_from, the flows into (period_to, state_to) equal ``counts`` there. Outflow is any x -> lost with
    x other than lost.

    ``thresholds``: two rows, threshold ('dormant_after_days', 'lost_after_days'), days (int), source
    ('parameter' or 'repurchase intervals'), quantile (the interval quantile used; NaN for a parameter).

    ``params``: as_of, period, dormant_after_days, lost_after_days, segment_by, stores, cities,
    join_channels, start, first_period and last_period (dates of the reported range, None when empty),
    data_first_day (first local day of orders).

    Raises ParameterError on a bad period, thresholds (not whole days >= 1, or D >= L) or segment_by. No
    complete period, or nobody in scope who has visited, gives empty frames and a ThinDataWarning.
    """
    db = connect(db)
    if period not in PERIODS:
        raise ParameterError(choices_message("period", period, PERIODS))
    _check_days("dormant_after_days", dormant_after_days)
    _check_days("lost_after_days", lost_after_days)
    if (
        dormant_after_days is not None
        and lost_after_days is not None
        and dormant_after_days >= lost_after_days
    ):
        raise ParameterError(
            f"dormant_after_days={dormant_after_days} must be smaller than lost_after_days={lost_after_days}: "
            "a member is dormant before being lost."
        )
    day = scope.resolve_as_of(db, as_of)
    filters = {"stores": stores, "cities": cities, "join_channels": join_channels}
    if segment_by is None:  # no attribute needed: the ids alone, in segment 'all'
        members = scope.with_segment(scope.scoped_member_ids(db, as_of=day, **filters), None)
    else:
        members = scope.scoped_members(db, as_of=day, segment_by=segment_by, **filters)
    members = members.select("member_id", "segment")
    args = (day, period, dormant_after_days, lost_after_days, segment_by, filters, start)
    if not stores:
        return _lifecycle(db, members, None, *args)
    # The thresholds and the spans both read the visits of the members in scope. Those of a few stores'
    # members are a small part of all visits: the engine picks them out once (at 1M members, one store's
    # lifecycle takes about 0.2 s instead of 0.3). A city's or every member's visits are read twice
    # instead: copying them costs more than the second read.
    v = scope.visits_in_scope(db, as_of=day, stores=stores, cities=filters.get("cities"), numbered=True)
    v = v.inner_join(members, v.member_id == members.member_id)
    with db.computed_once(v.select("member_id", "segment", "day", "days_since_prev")) as v:
        return _lifecycle(db, members, v, *args)


def _lifecycle(
    db, members, visits, day, period, dormant_after_days, lost_after_days, segment_by, filters, start
) -> Lifecycle:
    """:func:`lifecycle` for ``members`` (member_id, segment) in scope, reading their numbered ``visits`` up
    to ``day`` (member_id, segment, day, days_since_prev), or the store's visits when None."""
    thresholds = _resolve_thresholds(db, visits, day, dormant_after_days, lost_after_days, filters)
    d_days = int(thresholds.loc[0, "days"])
    l_days = int(thresholds.loc[1, "days"])

    last = period_index(day + dt.timedelta(days=1), period) - 1  # last complete period
    last_end = period_first_day(last + 1, period) - dt.timedelta(days=1)
    first_data_day = scope.order_day_range(db)[0]
    params: dict[str, Any] = {
        "as_of": day,
        "period": period,
        "dormant_after_days": d_days,
        "lost_after_days": l_days,
        "segment_by": _segment_name(segment_by),
        **filters,
        "start": None if start is None else calendar.as_date(start),
        "first_period": None,
        "last_period": None,
        "data_first_day": first_data_day,
    }
    if first_data_day is None or last_end < first_data_day:
        return _empty_result(thresholds, params, f"no complete {period} ends by as_of={day.isoformat()}")

    if visits is None:
        v = member_visits(db, as_of=last_end)
        visits = v.inner_join(members, v.member_id == members.member_id).select("member_id", "segment", "day")
    spans = member_spans(visits, period=period, last_end=last_end, dormant_after_days=d_days,
                         lost_after_days=l_days)  # fmt: skip
    events = _events_frame(spans, last=last)
    if events.empty:
        return _empty_result(thresholds, params, "no member in scope has visited in a complete period")
    first = int(events["period"].min())
    if start is not None:
        first = max(first, period_index(calendar.as_date(start), period))
    if first > last:
        return _empty_result(thresholds, params, f"start={start!r} is after the last complete {period}")
    counts = _counts_frame(events, first=first, last=last, period=period)
    flows = _flows_frame(events, first=first, last=last, period=period)
    params["first_period"] = period_first_day(first, period)
    params["last_period"] = period_first_day(last, period)
    return Lifecycle(counts=counts, flows=flows, thresholds=thresholds, params=params)


# ---------------------------------------------------------------------------------------------------------
# Engine side
# ---------------------------------------------------------------------------------------------------------


def period_index_expr(day, period: str):
    """Ibis: whole periods since an epoch (weeks since Monday 1970-01-05, or year * 12 + month - 1)."""
    if period == "month":
        return day.year().cast("int64") * _MONTHS_PER_YEAR + day.month().cast("int64") - 1
    monday = calendar.period_start(day, "week")
    return monday.delta(ibis.literal(_EPOCH_MONDAY, type="date"), unit="day") // 7


def period_index(day: dt.date, period: str) -> int:
    """Python twin of :func:`period_index_expr`."""
    if period == "month":
        return day.year * _MONTHS_PER_YEAR + day.month - 1
    return (day - _EPOCH_MONDAY).days // 7


def period_first_day(index: int, period: str) -> dt.date:
    """First day of the period with this index."""
    if period == "month":
        return dt.date(index // _MONTHS_PER_YEAR, index % _MONTHS_PER_YEAR + 1, 1)
    return _EPOCH_MONDAY + dt.timedelta(days=7 * int(index))


def member_spans(
    visits: ibis.Table,
    *,
    period: str,
    last_end: dt.date,
    dormant_after_days: int,
    lost_after_days: int,
) -> ibis.Table:
    """Each member's lifecycle as spans of periods in one state (an Ibis expression; see the module docstring).

    ``visits``: the visits of the members in scope (member_id, segment, day; one row per member and day, as
    :func:`workbench.data.visits.visits`). Those up to ``last_end`` (the last complete period's last day)
    count.
    Columns: member_id, segment, state, start, stop (period indices, inclusive; a visit period is a span of
    one period), prev_state (state of the span before, :data:`OUTSIDE_CODE` for the first), visited (bool: a
    visit period). States are codes: the index in :data:`STATES` (:func:`state_names` turns them into
    names). Spans tile each member's periods from the first visit period to the one containing last_end.
    """
    d, lost = dormant_after_days, lost_after_days
    last = period_index(last_end, period)
    v = visits.filter(visits.day <= calendar.date_literal(last_end)).select("member_id", "segment", "day")
    v = v.mutate(p=period_index_expr(v.day, period))
    vp = v.group_by(["member_id", "segment", "p"]).aggregate(last_day=v.day.max())
    # From these periods on, without another visit, the member is dormant (the period holding the day
    # D + 1 days after the last visit) and lost (L days after it).
    vp = vp.select(
        "member_id", "segment", "p",
        dormant_from=_period_after(vp.last_day, d + 1, period),
        lost_from=_period_after(vp.last_day, lost, period),
    )  # fmt: skip
    w = ibis.window(group_by=vp.member_id, order_by=vp.p)
    vp = vp.mutate(
        prev_p=vp.p.lag().over(w),
        prev_dormant_from=vp.dormant_from.lag().over(w),
        prev_lost_from=vp.lost_from.lag().over(w),
        prev2_p=vp.p.lag(2).over(w),
        prev2_dormant_from=vp.dormant_from.lag(2).over(w),
        next_p=vp.p.lead().over(w),
    )
    new, active, returning, dormant, lost_ = (_CODE[s] for s in STATES)

    def visit_state(p, prev_p, prev_dormant_from):
        # p - 1 had no visit and ended more than D days after the previous visit: dormant or lost then.
        lapsed_before = (prev_p < p - 1) & (prev_dormant_from <= p - 1)
        return ibis.cases((prev_p.isnull(), new), (lapsed_before, returning), else_=active)

    # The state just before each visit period: outside the pool, the previous visit period's own state, or
    # the state the gap after the previous visit had reached by p - 1. Row by row, with no window over spans.
    own = visit_state(vp.p, vp.prev_p, vp.prev_dormant_from)
    before = ibis.cases(
        (vp.prev_p.isnull(), OUTSIDE_CODE),
        (vp.prev_p == vp.p - 1, visit_state(vp.prev_p, vp.prev2_p, vp.prev2_dormant_from)),
        (vp.p - 1 >= vp.prev_lost_from, lost_),
        (vp.p - 1 >= vp.prev_dormant_from, dormant),
        else_=active,
    )
    vp = vp.select(
        "member_id", "segment", "p", "dormant_from", "lost_from",
        visit_state=own, before=before, gap_stop=vp.next_p.fill_null(last + 1) - 1,
    )  # fmt: skip
    # One row per visit period becomes four candidate spans (the visit, then the active, dormant and lost
    # runs of the gap after it) by a cross join with a four-row table: the visit periods are computed once.
    kinds = ibis.memtable(pd.DataFrame({"span_kind": np.arange(len(_SPAN_KINDS), dtype="int64")}))
    x = vp.cross_join(kinds)
    k = x.span_kind
    visit_k, active_k, dormant_k = (_SPAN_KINDS.index(n) for n in ("visit", "active", "dormant"))
    after = x.p + 1
    has_active = after <= x.dormant_from - 1  # the gap has an active run before going dormant
    has_dormant = ibis.greatest(after, x.dormant_from) <= x.lost_from - 1
    spans = x.select(
        member_id=x.member_id,
        segment=x.segment,
        state=ibis.cases(
            (k == visit_k, x.visit_state), (k == active_k, active), (k == dormant_k, dormant), else_=lost_,
        ),
        start=ibis.cases(
            (k == visit_k, x.p), (k == active_k, after), (k == dormant_k, ibis.greatest(after, x.dormant_from)),
            else_=ibis.greatest(after, x.lost_from),
        ).cast("int64"),
        stop=ibis.cases(
            (k == visit_k, x.p), (k == active_k, ibis.least(x.dormant_from - 1, x.gap_stop)),
            (k == dormant_k, ibis.least(x.lost_from - 1, x.gap_stop)), else_=x.gap_stop,
        ).cast("int64"),
        prev_state=ibis.cases(
            (k == visit_k, x.before), (k == active_k, x.visit_state),
            (k == dormant_k, ibis.ifelse(has_active, active, x.visit_state)),
            else_=ibis.cases((has_dormant, dormant), (has_active, active), else_=x.visit_state),
        ),
        visited=k == visit_k,
    )  # fmt: skip
    return spans.filter(spans.start <= spans.stop)


def _period_after(day, days: int, period: str):
    """Ibis: the index of the period holding the day ``days`` after ``day`` (a date)."""
    if period == "week":
        # Week indices count from a Monday, so whole days since it floor-divided by 7 give the week.
        return (day.delta(ibis.literal(_EPOCH_MONDAY, type="date"), unit="day") + days) // 7
    return period_index_expr(day + ibis.interval(days=days), period)


def state_names(codes: pd.Series) -> pd.Series:
    """State codes of :func:`member_spans` as names (:data:`STATES`, :data:`OUTSIDE` for the code -1)."""
    return codes.map(_NAME).astype(object)


def _span_events(spans: ibis.Table, *, last: int) -> ibis.Table:
    """Counts the pandas side turns into counts and flows: one row per (kind, segment, period, from, to).

    kinds (codes: the index in ``_EVENT_KINDS``): 'enter' (+members in state_to from period on), 'leave'
    (-members from period on), 'visit' (members of a visit span in that period), 'move' (entry transition
    state_from -> state_to into period), 'stay_on' / 'stay_off' (+/- members making state_to -> state_to
    transitions from period on). States are codes as in :func:`member_spans`.
    """
    enter, leave, visit, move, stay_on, stay_off = range(len(_EVENT_KINDS))
    kinds = ibis.memtable(pd.DataFrame({"kind": np.arange(len(_EVENT_KINDS), dtype="int64")}))
    x = spans.cross_join(kinds)
    kind = x.kind
    period = ibis.cases(
        (kind.isin([leave, stay_off]), x.stop + 1), (kind == stay_on, x.start + 1), else_=x.start
    )
    keep = ibis.cases(
        (kind == leave, x.stop < last),
        (kind == visit, x.visited),
        (kind == stay_on, x.stop > x.start),
        (kind == stay_off, (x.stop > x.start) & (x.stop < last)),
        else_=True,
    )
    e = x.filter(keep).select(
        kind=kind,
        segment=x.segment.cast("string"),
        period=period,
        state_from=ibis.ifelse(kind == move, x.prev_state, x.state),
        state_to=x.state,
    )
    return e.group_by(["kind", "segment", "period", "state_from", "state_to"]).aggregate(n=e.count())


def _events_frame(spans: ibis.Table, *, last: int) -> pd.DataFrame:
    """:func:`_span_events` in pandas, with kind and state names."""
    events = _span_events(spans, last=last).to_pandas()
    return events.assign(
        kind=events["kind"].map(dict(enumerate(_EVENT_KINDS))).astype(object),
        state_from=state_names(events["state_from"]),
        state_to=state_names(events["state_to"]),
    )


# ---------------------------------------------------------------------------------------------------------
# pandas side: running sums over periods
# ---------------------------------------------------------------------------------------------------------


def _running(events: pd.DataFrame, on: str, off: str, key: list[str], first: int, last: int) -> pd.DataFrame:
    """Members per key and period from +/- events: a running sum over the periods first..last."""
    e = events[events["kind"].isin([on, off])]
    if e.empty:
        return pd.DataFrame(columns=[*key, "period", "n"])
    e = e.assign(delta=np.where(e["kind"] == on, e["n"], -e["n"]).astype("int64"))
    wide = e.pivot_table(index=key, columns="period", values="delta", aggfunc="sum", fill_value=0)
    periods = np.arange(min(int(e["period"].min()), first), last + 1)
    wide = wide.reindex(columns=periods, fill_value=0).cumsum(axis=1)
    wide = wide.loc[:, [p for p in periods if p >= first]]
    long = wide.stack().rename("n").reset_index()
    long = long.rename(columns={long.columns[len(key)]: "period"})
    return long[long["n"] != 0]


def _counts_frame(events: pd.DataFrame, *, first: int, last: int, period: str) -> pd.DataFrame:
    segments = sorted(events["segment"].unique())
    periods = np.arange(first, last + 1)
    grid = pd.MultiIndex.from_product([periods, segments, STATES], names=["period", "segment", "state"])
    held = _running(events, "enter", "leave", ["segment", "state_to"], first, last)
    held = held.rename(columns={"state_to": "state"}).set_index(["period", "segment", "state"])["n"]
    v = events[(events["kind"] == "visit") & events["period"].between(first, last)]
    visited = v.groupby(["period", "segment", "state_to"])["n"].sum()
    visited.index = visited.index.set_names(["period", "segment", "state"])
    t = pd.DataFrame(index=grid)
    t["members"] = held.reindex(grid, fill_value=0).astype("int64")
    t["visited"] = visited.reindex(grid, fill_value=0).astype("int64")
    t = t.reset_index()
    pool = t.groupby(["period", "segment"])["members"].transform("sum")
    t["share"] = np.where(pool > 0, t["members"] / pool.where(pool > 0, 1), np.nan)
    t["period"] = _period_dates(t["period"], period)
    return t[list(COUNT_COLUMNS)]


def _flows_frame(events: pd.DataFrame, *, first: int, last: int, period: str) -> pd.DataFrame:
    key = ["segment", "state_from", "state_to"]
    moves = events[(events["kind"] == "move") & events["period"].between(first + 1, last)]
    moves = moves[key + ["period", "n"]]
    stays = _running(events, "stay_on", "stay_off", key, first + 1, last) if last > first else None
    parts = [moves] + ([stays] if stays is not None and not stays.empty else [])
    f = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*key, "period", "n"])
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype=_FLOW_DTYPES[c]) for c in FLOW_COLUMNS})
    f = f.groupby(["period", *key], as_index=False)["n"].sum()
    f = f[f["n"] > 0]
    order = {s: i for i, s in enumerate((OUTSIDE, *STATES))}
    f = f.assign(o_from=f["state_from"].map(order), o_to=f["state_to"].map(order))
    f = f.sort_values(["period", "segment", "o_from", "o_to"], ignore_index=True)
    out = pd.DataFrame(
        {
            "period_from": _period_dates(f["period"] - 1, period),
            "period_to": _period_dates(f["period"], period),
            "segment": f["segment"].astype(str),
            "state_from": f["state_from"].astype(str),
            "state_to": f["state_to"].astype(str),
            "members": f["n"].astype("int64"),
        }
    )
    return out[list(FLOW_COLUMNS)]


_FLOW_DTYPES = {
    "period_from": "datetime64[ns]",
    "period_to": "datetime64[ns]",
    "segment": "object",
    "state_from": "object",
    "state_to": "object",
    "members": "int64",
}


def _period_dates(indices: pd.Series, period: str) -> pd.Series:
    idx = np.asarray(indices, dtype="int64")
    if period == "month":
        # index = year * 12 + month - 1; numpy counts months from 1970-01
        months = (idx - _EPOCH_YEAR * _MONTHS_PER_YEAR).astype("timedelta64[M]")
        days = (np.datetime64(f"{_EPOCH_YEAR}-01", "M") + months).astype("datetime64[D]")
    else:
        days = np.datetime64(_EPOCH_MONDAY, "D") + (7 * idx).astype("timedelta64[D]")
    return pd.Series(pd.to_datetime(days.astype("datetime64[ns]")), index=getattr(indices, "index", None))


# ---------------------------------------------------------------------------------------------------------
# Parameters and helpers
# ---------------------------------------------------------------------------------------------------------


def _resolve_thresholds(db, visits, day, dormant, lost, filters) -> pd.DataFrame:
    """The thresholds frame: given ones, the others from the repurchase intervals in scope, as
    :func:`workbench.analyses.churn.churn_thresholds` gives them, read from ``visits`` (numbered, of the
    members in scope, up to ``day``) when given."""
    rows = []
    # The quantiles the defaults need come from one pass over the repurchase intervals.
    wanted = tuple(q for q, given in ((LOST_QUANTILE, lost), (DORMANT_QUANTILE, dormant)) if given is None)
    if not wanted:
        quantiles = {}
    elif visits is None:
        quantiles = churn_thresholds(db, as_of=day, quantiles=wanted, **filters)
    else:
        quantiles = interval_quantiles(visits, wanted, as_of=day)
    if lost is None:
        lost_days = quantiles[LOST_QUANTILE]
        rows_lost = ("lost_after_days", lost_days, "repurchase intervals", LOST_QUANTILE)
    else:
        lost_days = int(lost)
        rows_lost = ("lost_after_days", lost_days, "parameter", np.nan)
    if dormant is None:
        dormant_days = quantiles[DORMANT_QUANTILE]
        quantile = DORMANT_QUANTILE
        if dormant_days >= lost_days:
            # Thin data (or a given L at or below the quantile): keep D below L, half-way to being lost.
            warnings.warn(
                f"the {DORMANT_QUANTILE} quantile of repurchase intervals ({dormant_days} days) is not below "
                f"lost_after_days={lost_days}; using dormant_after_days={max(1, lost_days // 2)}.",
                ThinDataWarning,
                stacklevel=3,
            )
            dormant_days = max(1, lost_days // 2)
        rows.append(("dormant_after_days", dormant_days, "repurchase intervals", quantile))
    else:
        dormant_days = int(dormant)
        rows.append(("dormant_after_days", dormant_days, "parameter", np.nan))
    if dormant_days >= lost_days:
        raise ParameterError(
            f"dormant_after_days={dormant_days} must be smaller than lost_after_days={lost_days}: "
            "a member is dormant before being lost."
        )
    rows.append(rows_lost)
    t = pd.DataFrame(rows, columns=list(THRESHOLD_COLUMNS))
    t["days"] = t["days"].astype("int64")
    t["quantile"] = t["quantile"].astype("float64")
    return t


def _empty_result(thresholds: pd.DataFrame, params: dict, why: str) -> Lifecycle:
    warnings.warn(f"lifecycle: {why}; the result is empty.", ThinDataWarning, stacklevel=3)
    counts = pd.DataFrame(
        {
            "period": pd.Series(dtype="datetime64[ns]"),
            "segment": pd.Series(dtype="object"),
            "state": pd.Series(dtype="object"),
            "members": pd.Series(dtype="int64"),
            "visited": pd.Series(dtype="int64"),
            "share": pd.Series(dtype="float64"),
        }
    )
    flows = pd.DataFrame({c: pd.Series(dtype=_FLOW_DTYPES[c]) for c in FLOW_COLUMNS})
    return Lifecycle(counts=counts, flows=flows, thresholds=thresholds, params=params)


def _check_days(name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(
            f"{name}={value!r} is not valid; expected a whole number of days >= 1 (or None for the default "
            "from the repurchase cycle)."
        )


def _segment_name(segment_by):
    if segment_by is None or isinstance(segment_by, str):
        return segment_by
    return "custom"
