"""Cohort retention: do the members a period brought in keep coming back, and what are they worth?

A cohort is the period (day / ISO week / month, in the chain's time zone) of a member's first visit, or of
joining (``cohort_by``). Age k is the number of periods since the cohort's period. The engine counts, per
(segment, cohort, age), the members with at least one visit and their revenue; pandas receives at most one
row per cell and adds the shares, the Wilson intervals and the curves (DESIGN.md, "Cohort retention").

    ret = wb.cohort_retention(db, period="month", segment_by="join_channel")
    ret.table                   # one row per segment, cohort and age
    ret.curve                   # mean retention by age per segment, weighted by cohort size
    print(ret.summary(lang="en"))
    ret.members(cohort="2026-03-01", age=1, segment="store_qr")   # who is behind a cell
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
from workbench.data import calendar, contract
from workbench.data.store import Store
from workbench.errors import ParameterError, ThinDataWarning, choices_message
from workbench.i18n import segment_label
from workbench.stats import wilson_interval

COHORT_BY = ("first_visit", "join")
# Two-sided coverage of every interval (DESIGN.md: "Each cell carries a 95% Wilson interval").
CONFIDENCE = 0.95

TABLE_COLUMNS = (
    "segment",
    "cohort",
    "age",
    "period_start",
    "cohort_size",
    "active",
    "retention",
    "ci_low",
    "ci_high",
    "unbounded_active",
    "unbounded_retention",
    "unbounded_ci_low",
    "unbounded_ci_high",
    "revenue",
    "revenue_per_member",
    "cumulative_revenue_per_member",
    "observable",
)
CURVE_COLUMNS = (
    "segment",
    "age",
    "cohorts",
    "members",
    "active",
    "retention",
    "ci_low",
    "ci_high",
    "revenue_per_member",
    "cumulative_revenue_per_member",
)
MEMBER_COLUMNS = (
    "member_id",
    "segment",
    "cohort",
    "age",
    "period_start",
    "period_end",
    "visits",
    "orders",
    "revenue",
    "last_visit_day",
)

i18n.register(
    {
        "cohorts.age.day": ("第 {age} 天", "day {age}"),
        "cohorts.age.week": ("第 {age} 周", "week {age}"),
        "cohorts.age.month": ("第 {age} 个月", "month {age}"),
        "cohorts.by.first_visit.day": ("按首次到店日分群", "cohorts by day of first visit"),
        "cohorts.by.first_visit.week": ("按首次到店周分群", "cohorts by week of first visit"),
        "cohorts.by.first_visit.month": ("按首次到店月分群", "cohorts by month of first visit"),
        "cohorts.by.join.day": ("按入会日分群", "cohorts by day of joining"),
        "cohorts.by.join.week": ("按入会周分群", "cohorts by week of joining"),
        "cohorts.by.join.month": ("按入会月分群", "cohorts by month of joining"),
        "cohorts.summary.head": (
            "同期群留存（{by}，截至 {as_of}）",
            "Cohort retention ({by}, as of {as_of})",
        ),
        "cohorts.summary.line": (
            "{segment}：{age}留存率 {rate}（95% 置信区间 {low}–{high}），基于 {cohorts} 个同期群、"
            "{members} 名会员；截至{age}人均累计营收 {ltv} {currency}",
            "{segment}: {age} retention {rate} (95% CI {low}–{high}) across {cohorts} cohorts, "
            "{members} members; cumulative revenue per member through {age}: {ltv} {currency}",
        ),
        "cohorts.summary.none": (
            "{segment}：{age}尚无完整的同期群数据",
            "{segment}: no cohort has reached a complete {age} yet",
        ),
        "cohorts.summary.empty": ("所选条件下没有会员", "No members for the selected filters"),
    }
)


@dataclass(frozen=True)
class CohortRetention:
    """The result of :func:`cohort_retention` (see its docstring for every column).

    ``table`` one row per (segment, cohort, age); ``curve`` one row per (segment, age); ``params`` the
    call's settings (as_of, period, cohort_by, segment_by, filters, currency). ``members(...)`` lists the
    members behind a cell; ``summary(lang=...)`` is a short text for people.
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    params: dict[str, Any]
    _db: Store | None = field(default=None, repr=False, compare=False)
    _segment_by: Any = field(default=None, repr=False, compare=False)

    @property
    def segments(self) -> list[str]:
        return sorted(self.table["segment"].unique().tolist())

    def members(self, *, cohort, age: int | None = None, segment: str | None = None, unbounded: bool = False):
        """The members behind a cell; see :func:`cohort_members` (same scope, as_of and period)."""
        if self._db is None:
            raise ParameterError(
                "this result was built without a store; call cohort_members(db, ...) instead."
            )
        p = self.params
        return cohort_members(
            self._db,
            cohort=cohort,
            age=age,
            segment=segment,
            unbounded=unbounded,
            as_of=p["as_of"],
            period=p["period"],
            cohort_by=p["cohort_by"],
            segment_by=self._segment_by,
            stores=p["stores"],
            cities=p["cities"],
            join_channels=p["join_channels"],
            channels=p["channels"],
        )

    def summary(self, lang: str = "zh", *, age: int = 1) -> str:
        """Retention at ``age`` (default: the period after the cohort's) and the LTV through it, per segment."""
        i18n.check_lang(lang)
        p = self.params
        head = i18n.t(
            "cohorts.summary.head",
            lang,
            by=i18n.t(f"cohorts.by.{p['cohort_by']}.{p['period']}", lang),
            as_of=p["as_of"].isoformat(),
        )
        if self.table.empty:
            return head + "\n" + i18n.t("cohorts.summary.empty", lang)
        age_label = i18n.t(f"cohorts.age.{p['period']}", lang, age=age)
        lines = [head]
        for seg in self.segments:
            name = segment_label(p["segment_by"], seg, lang)
            row = self.curve[(self.curve["segment"] == seg) & (self.curve["age"] == age)]
            if row.empty:
                lines.append(i18n.t("cohorts.summary.none", lang, segment=name, age=age_label))
                continue
            r = row.iloc[0]
            lines.append(
                i18n.t(
                    "cohorts.summary.line",
                    lang,
                    segment=name,
                    age=age_label,
                    rate=f"{r.retention:.0%}",
                    low=f"{r.ci_low * 100:.0f}",
                    high=f"{r.ci_high:.0%}",
                    cohorts=f"{int(r.cohorts):,}",
                    members=f"{int(r.members):,}",
                    ltv=f"{r.cumulative_revenue_per_member:,.1f}",
                    currency=currency_label(p["currency"], lang),
                )
            )
        return "\n".join(lines)


def currency_label(currency: str, lang: str) -> str:
    """元 / CNY for the default currency, else the ISO code."""
    return i18n.t("currency_cny", lang) if currency == "CNY" else currency


def cohort_retention(
    db: Store,
    *,
    as_of=None,
    period: str = "month",
    cohort_by: str = "first_visit",
    segment_by=None,
    stores=None,
    cities=None,
    join_channels=None,
    channels=None,
    max_age: int | None = None,
) -> CohortRetention:
    """Share of each cohort that comes back in each later period, with 95% Wilson intervals and LTV.

    Parameters (keyword-only):
      as_of          last day of data used (default: the data's last complete day); visits after it are ignored
      period         'day', 'week' (ISO, Monday start) or 'month', in the chain's time zone
      cohort_by      'first_visit' (period of the member's first visit) or 'join' (period of joining)
      segment_by     a member attribute (scope.SEGMENT_COLUMNS) or a DataFrame member_id -> segment
      stores, cities, join_channels   keep members by home store / its city / join channel (see scope)
      channels       count only orders in these order channels (visits, revenue and the first visit)
      max_age        keep ages 0..max_age (periods); default every age up to as_of

    Definitions. retention(c, k) = members of cohort c with at least one visit in period c+k / cohort size.
    unbounded_retention(c, k) = members of cohort c with at least one visit in period c+k or any later
    period up to as_of / cohort size (so it grows as as_of moves on). A cell is observable when period c+k is complete (its last day is on or
    before as_of); otherwise every measured column of the cell is missing (NaN / <NA>), never zero. With
    cohort_by='first_visit', age 0 is 1 by definition (the first visit is in the cohort period); it is kept so
    that the curve starts at 100%. With cohort_by='join', members who never visited count in the cohort size,
    and visits before the joining period are ignored. A member who joined after as_of is not a member yet.
    "First visit" is the first order in the store's data: when the order history starts after members began
    visiting (an export of the last two years), the earliest cohorts also hold older members and look more
    loyal than later ones; cohort_by='join' or a later first cohort avoids that.

    Returns a :class:`CohortRetention` with

    ``table``: one row per (segment, cohort, age) for every cohort with a member in scope (in any segment, so
    segments line up and sum to the total) and every age whose period has started by as_of:
      segment                        segment value (text; 'all' without segment_by)
      cohort                         first day of the cohort period (datetime64, local date)
      age                            periods since the cohort period (int, 0 = the cohort period)
      period_start                   first day of period c+k (datetime64, local date)
      cohort_size                    members in the cohort (int; 0 for a segment without such members)
      active                         of those, members with >= 1 visit in period c+k (Int64; <NA> if not observable)
      retention, ci_low, ci_high     active / cohort_size and its 95% Wilson interval (share 0-1; NaN when not
                                     observable or the cohort is empty)
      unbounded_active               members with >= 1 visit in period c+k or later, up to as_of (Int64)
      unbounded_retention, unbounded_ci_low, unbounded_ci_high   unbounded_active / cohort_size (share 0-1)
      revenue                        amount paid by the cohort's members in period c+k (currency, e.g. CNY)
      revenue_per_member             revenue / cohort_size (currency per cohort member)
      cumulative_revenue_per_member  revenue per member summed over ages 0..k (currency; the cohort's LTV curve)
      observable                     bool: period c+k is complete at as_of

    ``curve``: mean over cohorts by age, per segment, counting only observable cells of non-empty cohorts
    (so each cohort weighs by its size):
      segment, age                   as above
      cohorts                        cohorts observed at this age (int)
      members                        sum of their cohort sizes (int)
      active                         sum of their active members (int)
      retention, ci_low, ci_high     active / members with a 95% Wilson interval on the pooled counts (share 0-1).
                                     Pooling treats members as independent, so the interval ignores variation
                                     between cohorts (it is narrower than one that models it).
      revenue_per_member             their revenue / members (currency per member)
      cumulative_revenue_per_member  revenue_per_member summed over ages 0..k (currency; the LTV curve). Each
                                     age uses every cohort that reached it (chain-ladder), so the curve rises
                                     monotonically even though later ages rest on fewer cohorts.

    ``params``: as_of (date), period, cohort_by, segment_by (name, 'custom' for a DataFrame, or None),
    stores, cities, join_channels, channels, max_age, currency.

    An empty scope gives empty frames with these columns and a ThinDataWarning; no complete period yet gives
    an all-missing table and a ThinDataWarning. Bad parameters raise ParameterError naming the valid choices.
    """
    calendar.check_period(period)
    _check_cohort_by(cohort_by)
    _check_max_age(max_age)
    channels = _check_channels(channels)
    as_of = scope.resolve_as_of(db, as_of)
    params = {
        "as_of": as_of,
        "period": period,
        "cohort_by": cohort_by,
        "segment_by": _segment_name(segment_by),
        "stores": stores,
        "cities": cities,
        "join_channels": join_channels,
        "channels": channels,
        "max_age": max_age,
        "currency": db.settings.currency,
    }
    members, v = _cohort_members_expr(
        db,
        as_of=as_of,
        period=period,
        cohort_by=cohort_by,
        segment_by=segment_by,
        stores=stores,
        cities=cities,
        join_channels=join_channels,
        channels=channels,
    )
    counts = _engine_counts(members, v, period=period, max_age=max_age).to_pandas()
    table = _cell_table(counts, as_of=as_of, period=period, max_age=max_age)
    if table.empty:
        warnings.warn(
            f"no members in scope for cohort retention as of {as_of.isoformat()}; the result is empty.",
            ThinDataWarning,
            stacklevel=2,
        )
    elif not table["observable"].any():
        warnings.warn(
            f"no {period} is complete between the first cohort and as_of={as_of.isoformat()}; "
            "every retention cell is missing.",
            ThinDataWarning,
            stacklevel=2,
        )
    curve = _mean_curve(table)
    return CohortRetention(table=table, curve=curve, params=params, _db=db, _segment_by=segment_by)


def cohort_members(
    db: Store,
    *,
    cohort,
    age: int | None = None,
    segment: str | None = None,
    unbounded: bool = False,
    as_of=None,
    period: str = "month",
    cohort_by: str = "first_visit",
    segment_by=None,
    stores=None,
    cities=None,
    join_channels=None,
    channels=None,
) -> pd.DataFrame:
    """The members behind a cell of :func:`cohort_retention` (same parameters, same definitions).

    ``cohort`` is any day of the cohort period (it is moved to the period's first day). With ``age=None``
    the rows are every member of the cohort (the cohort size), with their visits from the cohort period up to
    as_of. With ``age=k`` they are the members active in period c+k (the cell's ``active``), or with
    ``unbounded=True`` in period c+k or later (``unbounded_active``), with their visits in that window. For
    a period not complete at as_of the list holds the members seen so far. ``segment=None`` keeps every
    segment.

    Columns, one row per member, ordered by member_id:
      member_id        as stored (opaque; the store never holds raw phone numbers)
      segment          the member's segment
      cohort           first day of the cohort period (datetime64)
      age              the requested age (Int64; <NA> for the whole cohort)
      period_start     first day of the window (datetime64)
      period_end       last day of the window: end of period c+k, or as_of if earlier / unbounded (datetime64)
      visits           visits (member-days) in the window (int)
      orders           orders in the window (int)
      revenue          amount paid in the window (currency)
      last_visit_day   last visit in the window (datetime64; NaT without a visit)
    """
    calendar.check_period(period)
    _check_cohort_by(cohort_by)
    channels = _check_channels(channels)
    if age is not None and (isinstance(age, bool) or not isinstance(age, int | np.integer) or age < 0):
        raise ParameterError(f"age={age!r} is not valid; expected a whole number of periods >= 0 or None.")
    as_of = scope.resolve_as_of(db, as_of)
    start = _floor(calendar.as_date(cohort), period)
    window_start = start if age is None else _shift(start, int(age), period)
    if unbounded or age is None:
        window_end = as_of
    else:
        window_end = min(_shift(window_start, 1, period) - dt.timedelta(days=1), as_of)
    members, v = _cohort_members_expr(
        db,
        as_of=as_of,
        period=period,
        cohort_by=cohort_by,
        segment_by=segment_by,
        stores=stores,
        cities=cities,
        join_channels=join_channels,
        channels=channels,
    )
    members = members.filter(members.cohort == ibis.literal(start, type="date"))
    if segment is not None:
        members = members.filter(members.segment == str(segment))
    v = v.filter(
        (v.day >= ibis.literal(window_start, type="date")) & (v.day <= ibis.literal(window_end, type="date"))
    )
    per_member = v.group_by("member_id").aggregate(
        visits=v.count(),
        orders=v.orders.sum(),
        revenue=v.amount.sum(),
        last_visit_day=v.day.max(),
    )
    if age is None:
        joined = members.left_join(per_member, "member_id").drop("member_id_right")
    else:
        joined = members.inner_join(per_member, "member_id")
    frame = joined.order_by("member_id").to_pandas()
    out = pd.DataFrame(
        {
            "member_id": frame["member_id"].astype(str),
            "segment": frame["segment"].astype(str),
            "cohort": pd.Series(pd.Timestamp(start), index=frame.index, dtype="datetime64[ns]"),
            "age": pd.Series(age, index=frame.index, dtype="Int64"),
            "period_start": pd.Series(pd.Timestamp(window_start), index=frame.index, dtype="datetime64[ns]"),
            "period_end": pd.Series(pd.Timestamp(window_end), index=frame.index, dtype="datetime64[ns]"),
            "visits": pd.to_numeric(frame["visits"]).fillna(0).astype("int64"),
            "orders": pd.to_numeric(frame["orders"]).fillna(0).astype("int64"),
            "revenue": pd.to_numeric(frame["revenue"]).astype("float64").fillna(0.0),
            "last_visit_day": pd.to_datetime(frame["last_visit_day"]).astype("datetime64[ns]"),
        },
        columns=list(MEMBER_COLUMNS),
    )
    return out.reset_index(drop=True)


# -- parameters -----------------------------------------------------------------------------------------


def _check_cohort_by(cohort_by) -> None:
    if cohort_by not in COHORT_BY:
        raise ParameterError(choices_message("cohort_by", cohort_by, COHORT_BY))


def _check_max_age(max_age) -> None:
    if max_age is None:
        return
    if isinstance(max_age, bool) or not isinstance(max_age, int | np.integer) or max_age < 0:
        raise ParameterError(
            f"max_age={max_age!r} is not valid; expected a whole number of periods >= 0 or None."
        )


def _check_channels(channels) -> list[str] | None:
    if channels is None:
        return None
    listed = [channels] if isinstance(channels, str) else list(channels)
    for c in listed:
        if c not in contract.ORDER_CHANNELS:
            raise ParameterError(choices_message("channels", c, contract.ORDER_CHANNELS))
    return listed or None


def _segment_name(segment_by):
    if segment_by is None or isinstance(segment_by, str):
        return segment_by
    return "custom"


# -- engine ---------------------------------------------------------------------------------------------


def _cohort_members_expr(
    db, *, as_of, period, cohort_by, segment_by, stores, cities, join_channels, channels
) -> tuple[ibis.Table, ibis.Table]:
    """(members in scope with segment and cohort, their visits up to as_of): Ibis expressions."""
    m = scope.scoped_members(
        db, as_of=as_of, segment_by=segment_by, stores=stores, cities=cities, join_channels=join_channels
    )
    m = m.select("member_id", "join_day", segment=m.segment.fill_null("unknown"))
    v = scope.visits_in_scope(db, as_of=as_of, stores=stores, cities=cities, channels=channels)
    if cohort_by == "first_visit":
        first = v.group_by("member_id").aggregate(cohort_day=v.day.min())
        m = m.inner_join(first, "member_id")
    else:
        m = m.mutate(cohort_day=m.join_day)
    m = m.select("member_id", "segment", cohort=calendar.period_start(m.cohort_day, period))
    return m, v


def _age(cohort, visit_period, period: str):
    """Whole periods from the cohort's first day to a visit period's first day (engine expression)."""
    if period == "month":
        return (visit_period.year() * 12 + visit_period.month()) - (cohort.year() * 12 + cohort.month())
    days = visit_period.delta(cohort, unit="day")
    return days if period == "day" else days // 7


def _engine_counts(members: ibis.Table, v: ibis.Table, *, period: str, max_age) -> ibis.Table:
    """One engine query; rows by kind:

    'size'  (segment, cohort): n = cohort size
    'cell'  (segment, cohort, age): n = members with a visit in period c+k, revenue = their amount paid
    'last'  (segment, cohort, age = the member's last visit age, capped at max_age): n = members
    """
    vv = v.select("member_id", "amount", visit_period=calendar.period_start(v.day, period))
    j = vv.inner_join(members, "member_id")
    j = j.mutate(age=_age(j.cohort, j.visit_period, period).cast("int64"))
    j = j.filter(j.age >= 0)  # join cohorts: visits before the joining period are not retention
    cells = j
    if max_age is not None:
        cells = j.filter(j.age <= int(max_age))
    sizes = members.group_by(["segment", "cohort"]).aggregate(n=members.count())
    sizes = sizes.select(
        kind=ibis.literal("size"),
        segment="segment",
        cohort="cohort",
        age=ibis.null().cast("int64"),
        n=sizes.n.cast("int64"),
        revenue=ibis.null().cast("float64"),
    )
    per_cell = cells.group_by(["segment", "cohort", "age"]).aggregate(
        n=cells.member_id.nunique(), revenue=cells.amount.sum()
    )
    per_cell = per_cell.select(
        kind=ibis.literal("cell"),
        segment="segment",
        cohort="cohort",
        age="age",
        n=per_cell.n.cast("int64"),
        revenue=per_cell.revenue.cast("float64"),
    )
    last = j.group_by(["member_id", "segment", "cohort"]).aggregate(last_age=j.age.max())
    last_age = last.last_age if max_age is None else ibis.least(last.last_age, int(max_age))
    last = last.mutate(last_age=last_age.cast("int64"))
    last = last.group_by(["segment", "cohort", "last_age"]).aggregate(n=last.count())
    last = last.select(
        kind=ibis.literal("last"),
        segment="segment",
        cohort="cohort",
        age="last_age",
        n=last.n.cast("int64"),
        revenue=ibis.null().cast("float64"),
    )
    return sizes.union(per_cell).union(last)


# -- pandas: grid, shares, intervals --------------------------------------------------------------------


def _floor(day: dt.date, period: str) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _shift(start: dt.date, k: int, period: str) -> dt.date:
    """First day of the period ``k`` periods after the period starting on ``start``."""
    return pd.Timestamp(_shift_array(np.array([np.datetime64(start, "D")]), np.array([k]), period)[0]).date()


def _shift_array(starts: np.ndarray, ages: np.ndarray, period: str) -> np.ndarray:
    """First days (datetime64[D]) of periods ``ages`` after the periods starting on ``starts``."""
    starts = starts.astype("datetime64[D]")
    ages = ages.astype("int64")
    if period == "month":
        return (starts.astype("datetime64[M]") + ages).astype("datetime64[D]")
    step = 7 if period == "week" else 1
    return starts + (ages * step).astype("timedelta64[D]")


def _periods_between(starts: np.ndarray, end_start: dt.date, period: str) -> np.ndarray:
    """Whole periods from each period start in ``starts`` to the period starting on ``end_start``."""
    starts = starts.astype("datetime64[D]")
    if period == "month":
        return (np.datetime64(end_start, "M") - starts.astype("datetime64[M]")).astype("int64")
    days = (np.datetime64(end_start, "D") - starts).astype("int64")
    return days // 7 if period == "week" else days


def _wilson(active, n) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson interval of active / n, element-wise; NaN where n is 0 or either is missing."""
    active = np.asarray(pd.to_numeric(active, errors="coerce"), dtype="float64")
    n = np.asarray(pd.to_numeric(n, errors="coerce"), dtype="float64")
    return wilson_interval(active, n, confidence=CONFIDENCE)


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment": pd.Series(dtype="object"),
            "cohort": pd.Series(dtype="datetime64[ns]"),
            "age": pd.Series(dtype="int64"),
            "period_start": pd.Series(dtype="datetime64[ns]"),
            "cohort_size": pd.Series(dtype="int64"),
            "active": pd.Series(dtype="Int64"),
            "retention": pd.Series(dtype="float64"),
            "ci_low": pd.Series(dtype="float64"),
            "ci_high": pd.Series(dtype="float64"),
            "unbounded_active": pd.Series(dtype="Int64"),
            "unbounded_retention": pd.Series(dtype="float64"),
            "unbounded_ci_low": pd.Series(dtype="float64"),
            "unbounded_ci_high": pd.Series(dtype="float64"),
            "revenue": pd.Series(dtype="float64"),
            "revenue_per_member": pd.Series(dtype="float64"),
            "cumulative_revenue_per_member": pd.Series(dtype="float64"),
            "observable": pd.Series(dtype="bool"),
        }
    )


def _cell_table(counts: pd.DataFrame, *, as_of: dt.date, period: str, max_age) -> pd.DataFrame:
    """The long table from the engine's counts: full grid per segment, observability, shares, intervals."""
    counts = counts.assign(
        cohort=pd.to_datetime(counts["cohort"]).astype("datetime64[ns]"),
        segment=counts["segment"].astype(str),
    )
    sizes = counts[counts["kind"] == "size"]
    if sizes.empty:
        return _empty_table()
    key = ["segment", "cohort", "age"]
    # Grid: every cohort with a member (in any segment) x every age whose period has started by as_of.
    cohorts = np.sort(sizes["cohort"].unique()).astype("datetime64[D]")
    last_age = _periods_between(cohorts, _floor(as_of, period), period)
    if max_age is not None:
        last_age = np.minimum(last_age, int(max_age))
    n_ages = last_age + 1
    grid_cohort = np.repeat(cohorts, n_ages)
    grid_age = np.concatenate([np.arange(n) for n in n_ages]) if len(n_ages) else np.array([], dtype="int64")
    segments = sorted(sizes["segment"].unique())
    grid = pd.DataFrame(
        {
            "segment": np.repeat(segments, len(grid_cohort)),
            "cohort": np.tile(grid_cohort, len(segments)).astype("datetime64[ns]"),
            "age": np.tile(grid_age, len(segments)).astype("int64"),
        }
    )
    starts = _shift_array(grid["cohort"].to_numpy(), grid["age"].to_numpy(), period)
    next_starts = _shift_array(grid["cohort"].to_numpy(), grid["age"].to_numpy() + 1, period)
    grid["period_start"] = starts.astype("datetime64[ns]")
    # Complete when the period's last day (the day before the next period) is on or before as_of.
    grid["observable"] = next_starts <= np.datetime64(as_of + dt.timedelta(days=1), "D")

    size = (
        sizes.groupby(["segment", "cohort"], as_index=False)["n"].sum().rename(columns={"n": "cohort_size"})
    )
    cells = counts[counts["kind"] == "cell"][key + ["n", "revenue"]].rename(columns={"n": "active"})
    last = counts[counts["kind"] == "last"][key + ["n"]].rename(columns={"n": "last_n"})
    for frame in (cells, last):
        frame["age"] = frame["age"].astype("int64")
    t = grid.merge(size, on=["segment", "cohort"], how="left")
    t = t.merge(cells, on=key, how="left").merge(last, on=key, how="left")
    t["cohort_size"] = t["cohort_size"].fillna(0).astype("int64")
    t["active"] = t["active"].fillna(0).astype("int64")
    t["revenue"] = t["revenue"].fillna(0.0).astype("float64")
    t["last_n"] = t["last_n"].fillna(0).astype("int64")
    t = t.sort_values(key, ascending=[True, True, False], kind="stable")
    # Members whose last visit (age) is >= k: a reverse cumulative sum of last-visit ages.
    t["unbounded_active"] = t.groupby(["segment", "cohort"], sort=False)["last_n"].cumsum()
    t = t.sort_values(key, kind="stable").reset_index(drop=True)

    obs = t["observable"].to_numpy()
    size_f = t["cohort_size"].to_numpy(dtype="float64")
    valid = obs & (size_f > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        for prefix, column in (("", "active"), ("unbounded_", "unbounded_active")):
            count = t[column].to_numpy(dtype="float64")
            share = np.where(valid, count / np.where(size_f > 0, size_f, 1.0), np.nan)
            low, high = _wilson(np.where(valid, count, np.nan), size_f)
            t[column] = t[column].astype("Int64").where(obs, pd.NA)
            t[f"{prefix}retention"] = share
            t[f"{prefix}ci_low"] = low
            t[f"{prefix}ci_high"] = high
        t["revenue"] = np.where(obs, t["revenue"], np.nan)
        t["revenue_per_member"] = np.where(valid, t["revenue"] / np.where(size_f > 0, size_f, 1.0), np.nan)
    # Observable ages of a cohort are a prefix (0..K), so the running sum stops where cells go missing.
    t["cumulative_revenue_per_member"] = t.groupby(["segment", "cohort"], sort=False)[
        "revenue_per_member"
    ].cumsum()
    t.loc[~valid, "cumulative_revenue_per_member"] = np.nan
    return t[list(TABLE_COLUMNS)]


def _mean_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Retention and revenue by age per segment, pooling the observable cells of non-empty cohorts."""
    cells = table[table["observable"] & (table["cohort_size"] > 0)]
    if cells.empty:
        return pd.DataFrame(
            {
                "segment": pd.Series(dtype="object"),
                "age": pd.Series(dtype="int64"),
                "cohorts": pd.Series(dtype="int64"),
                "members": pd.Series(dtype="int64"),
                "active": pd.Series(dtype="int64"),
                "retention": pd.Series(dtype="float64"),
                "ci_low": pd.Series(dtype="float64"),
                "ci_high": pd.Series(dtype="float64"),
                "revenue_per_member": pd.Series(dtype="float64"),
                "cumulative_revenue_per_member": pd.Series(dtype="float64"),
            }
        )
    cells = cells.assign(active=cells["active"].astype("int64"))
    c = cells.groupby(["segment", "age"], as_index=False).agg(
        cohorts=("cohort", "size"),
        members=("cohort_size", "sum"),
        active=("active", "sum"),
        revenue=("revenue", "sum"),
    )
    c = c.sort_values(["segment", "age"]).reset_index(drop=True)
    c["retention"] = c["active"] / c["members"]
    c["ci_low"], c["ci_high"] = _wilson(c["active"], c["members"])
    c["revenue_per_member"] = c["revenue"] / c["members"]
    c["cumulative_revenue_per_member"] = c.groupby("segment")["revenue_per_member"].cumsum()
    for column in ("cohorts", "members", "active"):
        c[column] = c[column].astype("int64")
    return c[list(CURVE_COLUMNS)]
