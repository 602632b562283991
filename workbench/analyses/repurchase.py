"""Repurchase cycle: days between a member's visits, and how soon members come back after their k-th visit.

A visit is a member's orders on one local day (DESIGN.md, "Visit"). Three questions, kept apart:

- **Completed intervals** (descriptive): the days between consecutive visits that have happened. They are
  biased short (a member who has not come back yet has no interval), so they are labelled descriptive.
- **Time to return** (survival): after the k-th visit a member either came back (an event after
  ``next visit - visit`` days) or has not yet, and is censored at ``as_of - visit`` days. Kaplan-Meier
  (lifelines) gives the share returned by each day, the median days to return and the share returned
  within each horizon, per segment and per visit number (1->2, 2->3, ...).
- **Community-group effect** (within member): for members who joined a community group, each member's mean
  interval in a window before joining against the same-length window after, paired
  (:func:`group_cycle_effect` explains the windows).

The engine computes one row per member and visit number and aggregates them to counts of
(segment, visit number, days, returned); pandas receives those counts (a few thousand rows for a million
members) and lifelines fits on them with ``weights``. No order line leaves the engine.

    cycle = repurchase_cycle(db, as_of="2026-06-30", segment_by="join_channel")
    cycle.medians          # median days to return per segment and visit number, with 95% CI
    print(cycle.summary(lang="en"))
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd
from scipy import stats as sps

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar, contract
from workbench.data.store import Store, connect
from workbench.errors import ParameterError, ThinDataWarning
from workbench.stats.intervals import mean_interval

# The horizons operators quote: a week, a fortnight, a month, two months, a quarter (DESIGN.md).
DEFAULT_HORIZONS = (7, 14, 30, 60, 90)
# Visit numbers 1->2 ... 5->6: past the fifth visit a member is a regular and the cells thin out.
DEFAULT_MAX_VISIT_NUMBER = 5
# At most half a year either side of joining a group: long enough for a monthly customer to show several
# intervals, short enough that the member's life (job, address) is comparable before and after.
DEFAULT_GROUP_WINDOW_DAYS = 180
# A member needs at least this many completed intervals on each side of joining to be compared.
DEFAULT_MIN_GROUP_INTERVALS = 1
# Two-sided level of every interval here (the workbench convention, as in workbench.stats).
CONFIDENCE = 0.95

DURATION_COLUMNS = ("segment", "from_visit", "days", "returned", "members")
INTERVAL_COLUMNS = ("segment", "from_visit", "n", "median_days", "p25_days", "p75_days", "mean_days")
HISTOGRAM_COLUMNS = ("segment", "from_visit", "days_bin", "intervals")
RETURNING_COLUMNS = ("segment", "from_visit", "day", "share_returned", "ci_low", "ci_high", "at_risk")
WITHIN_COLUMNS = (
    "segment",
    "from_visit",
    "horizon_days",
    "share_returned",
    "ci_low",
    "ci_high",
    "at_risk_start",
    "members",
)
MEDIAN_COLUMNS = (
    "segment",
    "from_visit",
    "members",
    "returned",
    "median_days",
    "median_ci_low",
    "median_ci_high",
)
GROUP_EFFECT_COLUMNS = (
    "segment",
    "members",
    "mean_before_days",
    "mean_after_days",
    "diff_days",
    "diff_ci_low",
    "diff_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
)

i18n.register(
    {
        "repurchase.title": ("复购周期", "Repurchase cycle"),
        "repurchase.as_of": ("截至 {day}", "as of {day}"),
        "repurchase.segment_by": ("分组：{name}", "segments: {name}"),
        "repurchase.returning_head": (
            "第 k 次到店后多久再来（Kaplan-Meier；未回访者在截至日删失）",
            "Time to the next visit after visit k (Kaplan-Meier; members not back yet are censored at as_of)",
        ),
        "repurchase.intervals_head": (
            "已完成的到店间隔（仅描述：未回访者不计入，偏短）",
            "Completed intervals between visits (descriptive only: members not back yet are left out, so these "
            "run short)",
        ),
        "repurchase.group_head": (
            "加入社群前后的到店间隔（同一会员前后配对）",
            "Interval before vs after joining a community group (same members, paired)",
        ),
        "repurchase.group_absent": (
            "没有社群成员表（group_members），未计算社群前后对比",
            "No group_members table: the community-group comparison was not computed",
        ),
        "repurchase.group_empty": (
            "没有会员在加入社群前后都有到店间隔",
            "No member has intervals both before and after joining a group",
        ),
        "repurchase.no_members": ("所选条件下没有到店会员", "No visiting members for the selected filters"),
        "repurchase.from_visit": ("到店次序", "Visit"),
        "repurchase.visit_step": ("第{k}→{k1}次", "{k}→{k1}"),
        "repurchase.members": ("会员数", "Members"),
        "repurchase.returned": ("已回访", "Returned"),
        "repurchase.median_km": ("回访中位天数（KM）", "Median days to return (KM)"),
        "repurchase.within_h": ("{h}天内回访", "Back within {h}d"),
        "repurchase.intervals_n": ("间隔数", "Intervals"),
        "repurchase.median_days": ("中位天数", "Median days"),
        "repurchase.iqr_days": ("四分位天数", "Quartiles (days)"),
        "repurchase.mean_days": ("平均天数", "Mean days"),
        "repurchase.before_days": ("入群前平均间隔（天）", "Mean interval before (days)"),
        "repurchase.after_days": ("入群后平均间隔（天）", "Mean interval after (days)"),
        "repurchase.diff_days": ("差值（天）[95% CI]", "Difference (days) [95% CI]"),
        "repurchase.ratio": ("后/前 比值 [95% CI]", "Ratio after/before [95% CI]"),
        "repurchase.p_value": ("p 值", "p-value"),
        "repurchase.not_reached": ("未过半", "not reached"),
    }
)


@dataclass(frozen=True, eq=False)
class RepurchaseCycle:
    """The result of :func:`repurchase_cycle`. Every frame is long (one row per cell), sorted, 0-indexed.

    durations         the sufficient statistics everything else comes from: how many members were followed
                      for how long after their k-th visit.
                      segment (text), from_visit (k, int), days (days from visit k to visit k+1, or to as_of
                      when returned is False), returned (bool), members (count)
    intervals         completed intervals, DESCRIPTIVE ONLY (censored members are left out, so they are short):
                      segment, from_visit, n (completed intervals k->k+1), median_days, p25_days, p75_days,
                      mean_days (days; quantiles as numpy's default linear interpolation)
    interval_histogram  completed intervals by length, one-day bins:
                      segment, from_visit, days_bin (interval length in days, a whole number >= 1),
                      intervals (count)
    returning         Kaplan-Meier curve of the share returned after visit k, a step function (carry each
                      row forward to the next day listed):
                      segment, from_visit, day (days since visit k; 0 and every day on which a member returned
                      or was censored), share_returned (1 - S(day), share 0-1), ci_low, ci_high (95% pointwise,
                      lifelines' exponential Greenwood interval transformed by 1 - S), at_risk (members not yet
                      returned and still followed at the start of that day)
    within            share returned within each horizon, 1 - S(h):
                      segment, from_visit, horizon_days (days), share_returned, ci_low, ci_high (share 0-1;
                      NaN when the horizon lies beyond the longest follow-up of the cell and not everyone has
                      returned), at_risk_start (members still followed and not yet returned at the start of day
                      h), members (members who made visit k)
    medians           segment, from_visit, members (made visit k), returned (came back by as_of),
                      median_days (KM median: first day with S <= 0.5; NaN when fewer than half have returned
                      by the longest follow-up, i.e. the curve never reaches 50%), median_ci_low,
                      median_ci_high (days where the 95% band crosses 50%; NaN when it never does)
    group_effect      community groups, within member (see :func:`group_cycle_effect`): segment, members
                      (members compared), mean_before_days, mean_after_days (mean over members of each member's
                      mean interval, days), diff_days (mean paired difference after - before, days),
                      diff_ci_low, diff_ci_high (95% t interval), ratio (geometric mean of the members'
                      after/before ratios), ratio_ci_low, ratio_ci_high (95%, t interval on the log scale),
                      p_value (two-sided paired t test of diff_days = 0). Empty when the store has no
                      group_members table (``params["group_table"]`` is False) or no member qualifies.
    params            the parameters as resolved (as_of is a date, horizons a tuple, ...)
    """

    durations: pd.DataFrame
    intervals: pd.DataFrame
    interval_histogram: pd.DataFrame
    returning: pd.DataFrame
    within: pd.DataFrame
    medians: pd.DataFrame
    group_effect: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def as_of(self) -> dt.date:
        return self.params["as_of"]

    @property
    def segments(self) -> list[str]:
        """Segments with at least one visiting member, in the order of the frames."""
        return list(dict.fromkeys(self.medians["segment"]))

    def segment_label(self, value, lang: str = "zh") -> str:
        """Display name of a segment value (see ``i18n.segment_label``)."""
        return i18n.segment_label(self.params.get("segment_by"), value, lang)

    def summary(self, lang: str = "zh") -> str:
        """A human-readable summary (lifelines' print_summary in spirit), in Chinese or English."""
        i18n.check_lang(lang)
        return _summary_text(self, lang)

    def __repr__(self) -> str:
        compared = int(self.group_effect["members"].sum())
        return (
            f"RepurchaseCycle(as_of={self.as_of.isoformat()}, segments={self.segments}, "
            f"max_visit_number={self.params['max_visit_number']}, group_members_compared={compared})"
        )


# ---------------------------------------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------------------------------------


def repurchase_cycle(
    db,
    *,
    as_of=None,
    segment_by=None,
    stores=None,
    cities=None,
    join_channels=None,
    channels=None,
    horizons=DEFAULT_HORIZONS,
    max_visit_number: int = DEFAULT_MAX_VISIT_NUMBER,
    group_window_days: int = DEFAULT_GROUP_WINDOW_DAYS,
    min_group_intervals: int = DEFAULT_MIN_GROUP_INTERVALS,
) -> RepurchaseCycle:
    """Time between a member's consecutive visits, and time to come back after the k-th visit.

    Parameters
      db                  a Store (``wb.connect(...)``) or anything ``wb.connect`` opens
      as_of               the analysis day (date or 'YYYY-MM-DD'); default the data's last complete day.
                          Visits after it are ignored; members not back by it are censored at it.
      segment_by          a member attribute (``scope.SEGMENT_COLUMNS``, e.g. 'join_channel') or a DataFrame
                          member_id -> segment; None: one segment 'all'
      stores, cities      keep members whose home store (join store, else first-visit store) is among them
      join_channels       keep members who joined through these channels
      channels            count only orders of these order channels as visits (e.g. ['dine_in']); the
                          visit numbers then count those visits only
      horizons            days for ``within`` (whole numbers > 0)
      max_visit_number    follow visits 1..max_visit_number to the next one (1->2 ... max->max+1)
      group_window_days, min_group_intervals   see :func:`group_cycle_effect`

    Returns a :class:`RepurchaseCycle` (its docstring lists every column with its unit). Days are local
    calendar days of the chain's time zone; a member whose only visit is on ``as_of`` is censored at day 0.
    The group comparison needs the ``group_members`` table; without it the rest is computed and
    ``group_effect`` is empty (call :func:`group_cycle_effect` to get a MissingTableError naming the table).

    Raises ParameterError on invalid input, naming the valid choices.
    """
    db = connect(db)
    horizons = _check_horizons(horizons)
    max_visit_number = _check_whole("max_visit_number", max_visit_number, minimum=1)
    group_window_days = _check_whole("group_window_days", group_window_days, minimum=1)
    min_group_intervals = _check_whole("min_group_intervals", min_group_intervals, minimum=1)
    channels = _check_choices("channels", channels, contract.ORDER_CHANNELS)
    join_channels = _check_choices("join_channels", join_channels, (*contract.JOIN_CHANNELS, "unknown"))
    day = scope.resolve_as_of(db, as_of)
    members = scope.scoped_members(
        db, as_of=day, segment_by=segment_by, stores=stores, cities=cities, join_channels=join_channels
    ).select("member_id", "segment")

    durations = return_duration_counts(
        member_return_durations(
            db,
            members,
            as_of=day,
            channels=channels,
            max_visit_number=max_visit_number,
            stores=stores,
            cities=cities,
        )
    )
    intervals, histogram = _completed_intervals(durations)
    returning, within, medians = _kaplan_meier(durations, horizons)

    has_groups = db.has("group_members")
    if has_groups:
        group = _group_effect_frame(
            group_member_intervals(
                db,
                members,
                as_of=day,
                channels=channels,
                window_days=group_window_days,
                min_intervals=min_group_intervals,
                stores=stores,
                cities=cities,
            )
        )
    else:
        group = _empty(GROUP_EFFECT_COLUMNS)

    params = {
        "as_of": day,
        "segment_by": _segment_name(segment_by),
        "stores": _tuple_or_none(stores),
        "cities": _tuple_or_none(cities),
        "join_channels": join_channels,
        "channels": channels,
        "horizons": horizons,
        "max_visit_number": max_visit_number,
        "group_window_days": group_window_days,
        "min_group_intervals": min_group_intervals,
        "group_table": has_groups,
        "confidence": CONFIDENCE,
    }
    return RepurchaseCycle(
        durations=durations,
        intervals=intervals,
        interval_histogram=histogram,
        returning=returning,
        within=within,
        medians=medians,
        group_effect=group,
        params=params,
    )


def group_cycle_effect(
    db,
    *,
    as_of=None,
    segment_by=None,
    stores=None,
    cities=None,
    join_channels=None,
    channels=None,
    window_days: int = DEFAULT_GROUP_WINDOW_DAYS,
    min_intervals: int = DEFAULT_MIN_GROUP_INTERVALS,
) -> pd.DataFrame:
    """Change in a member's repurchase interval while in a community group, within the same members.

    Each member's switch day S is the local day of their first group join on or before ``as_of``. Two
    windows of the same length w, each opening at a visit:

      before  opens at the member's first visit in the ``window_days`` days before S (strictly before S)
      after   opens at the member's first visit on or after S
      w       = min(S - before's opening visit, as_of - after's opening visit), so w <= window_days, the
              before window ends on or before S and the after window on or before as_of

    An interval between consecutive visits on local days a < b is *before* when it lies inside the before
    window, and *after* when it lies inside the after window and starts while the member is in a group (a
    falls inside a spell of ``group_members``: on or after its join day and before its day of leaving; a
    spell without left_at, or left after as_of, is open). Intervals spanning S, longer than the window, or
    starting after the member has left every group count on neither side. A member is compared when they
    have at least ``min_intervals`` intervals on each side.

    Why this shape: each window opens at a visit and closes at a day that does not depend on the visits
    inside it, so under no change both sides see the same intervals in distribution (the same length bias:
    an interval longer than w is seen on neither side). Two simpler windows are biased on a simulated
    renewal process with no group effect: [S - w, S] against [S, S + w] gives a ratio of about 0.94 (the
    after window opens mid-interval), windows anchored at the last visit before / first visit after S about
    0.92; this shape gives 1.00 +- 0.01. Two known limits: when the true cycle changes, short windows pull
    the ratio toward 1 (a planted 0.85 reads about 0.88 with windows of weeks, because long before
    intervals are the ones cut); and when members join a group *at* a visit that depends on their visits
    (e.g. always at the third), the before window is filled exactly and the comparison is biased.

    Per member: mean interval before (B) and after (A), difference A - B, and log(A / B). Per segment, from
    the count, sum and sum of squares of those (computed in the engine):

      segment, members             members compared
      mean_before_days, mean_after_days   mean of B and of A over members (days)
      diff_days, diff_ci_low, diff_ci_high   mean paired difference A - B with a 95% t interval (days;
                                   negative = members come back sooner after joining)
      ratio, ratio_ci_low, ratio_ci_high   geometric mean of A / B with a 95% interval, exp of the t interval
                                   of mean log(A / B): a multiplicative cycle factor (0.8 = 20% shorter
                                   cycle) that is not dominated by a few members with very long intervals
      p_value                      two-sided paired t test of diff_days = 0

    This is observational: members choose to join groups (often after a good visit), so it describes, it
    does not prove, what groups do. Segments with one member get NaN intervals and a ThinDataWarning.
    Raises MissingTableError when the store has no ``group_members`` table.
    """
    db = connect(db)
    db.require("group_members", needed_by="the community-group cycle comparison")
    window_days = _check_whole("window_days", window_days, minimum=1)
    min_intervals = _check_whole("min_intervals", min_intervals, minimum=1)
    channels = _check_choices("channels", channels, contract.ORDER_CHANNELS)
    join_channels = _check_choices("join_channels", join_channels, (*contract.JOIN_CHANNELS, "unknown"))
    day = scope.resolve_as_of(db, as_of)
    members = scope.scoped_members(
        db, as_of=day, segment_by=segment_by, stores=stores, cities=cities, join_channels=join_channels
    ).select("member_id", "segment")
    rows = group_member_intervals(
        db,
        members,
        as_of=day,
        channels=channels,
        window_days=window_days,
        min_intervals=min_intervals,
        stores=stores,
        cities=cities,
    )
    return _group_effect_frame(rows)


# ---------------------------------------------------------------------------------------------------------
# Engine side (Ibis): one row per member and visit number, then counts
# ---------------------------------------------------------------------------------------------------------


def member_return_durations(
    db: Store,
    members: ibis.Table,
    *,
    as_of: dt.date,
    channels=None,
    max_visit_number: int = DEFAULT_MAX_VISIT_NUMBER,
    stores=None,
    cities=None,
) -> ibis.Table:
    """One row per member in ``members`` (member_id, segment) and visit number k <= max_visit_number.
    ``stores`` / ``cities``: the filter ``members`` was scoped by, so that only those members' visits are
    read (:func:`scope.visits_in_scope`).

    Columns: member_id, segment, from_visit (k), visit_day (local date of visit k), days (to visit k+1 when
    returned, else to as_of: the censoring time, 0 for a visit on as_of), returned (bool).
    """
    v = scope.visits_in_scope(db, as_of=as_of, stores=stores, cities=cities, channels=channels, numbered=True)
    v = v.filter(v.visit_number <= max_visit_number)
    j = v.inner_join(members, v.member_id == members.member_id)
    end = j.next_day.coalesce(calendar.date_literal(as_of))
    return j.select(
        member_id=j.member_id,
        segment=j.segment,
        from_visit=j.visit_number.cast("int64"),
        visit_day=j.day,
        days=end.delta(j.day, unit="day").cast("int64"),
        returned=j.next_day.notnull(),
    )


def return_duration_counts(durations: ibis.Table) -> pd.DataFrame:
    """Counts of (segment, from_visit, days, returned) from :func:`member_return_durations`, in pandas.

    Columns: segment, from_visit, days, returned, members; sorted. This is all Kaplan-Meier needs.
    """
    counts = (
        durations.group_by(["segment", "from_visit", "days", "returned"])
        .aggregate(members=durations.count())
        .to_pandas()
    )
    if counts.empty:
        return _empty(DURATION_COLUMNS)
    counts = counts.astype({"segment": str, "from_visit": "int64", "days": "int64", "returned": bool})
    counts["members"] = counts["members"].astype("int64")
    return counts.sort_values(["segment", "from_visit", "days", "returned"], ignore_index=True)[
        list(DURATION_COLUMNS)
    ]


def group_member_intervals(
    db: Store,
    members: ibis.Table,
    *,
    as_of: dt.date,
    channels=None,
    window_days: int = DEFAULT_GROUP_WINDOW_DAYS,
    min_intervals: int = DEFAULT_MIN_GROUP_INTERVALS,
    stores=None,
    cities=None,
) -> ibis.Table:
    """One row per member compared in :func:`group_cycle_effect` (rules there). ``stores`` / ``cities``:
    the filter ``members`` was scoped by, as in :func:`member_return_durations`.

    Columns: member_id, segment, switch_day (local date of the first group join), before_start,
    after_start (local dates of the visits opening the two windows), window_days (w of that member),
    intervals_before, intervals_after (counts), mean_before, mean_after (days), diff (after - before,
    days), log_ratio (log(after / before)).
    """
    a = calendar.date_literal(as_of)
    gm = db.group_members
    # The spells of these members only (a store's few hundred), before the local days of each are worked out.
    gm = gm.filter(gm.member_id.isin(members.member_id))
    spells = gm.select(
        sp_member="member_id",
        join_day=calendar.local_day(gm.joined_at),
        # A spell still open at as_of (or left after it) runs past every interval start up to as_of.
        left_day=calendar.local_day(gm.left_at).fill_null(ibis.literal(dt.date.max)),
    )
    spells = spells.filter(spells.join_day <= a)
    first_join = spells.group_by("sp_member").aggregate(switch_day=spells.join_day.min())

    v = scope.visits_in_scope(db, as_of=as_of, stores=stores, cities=cities, channels=channels, numbered=True)
    m = members.inner_join(first_join, members.member_id == first_join.sp_member).drop("sp_member")
    # The visits that open the two windows: the first within window_days before the switch day (strictly
    # before it), and the first on or after the switch day.
    vm = v.select(vm_member="member_id", vm_day="day")
    vm = vm.inner_join(m, vm.vm_member == m.member_id)
    lead = vm.switch_day.delta(vm.vm_day, unit="day")
    anchors = vm.group_by(["member_id", "segment", "switch_day"]).aggregate(
        before_start=vm.vm_day.min(where=(lead > 0) & (lead <= window_days)),
        after_start=vm.vm_day.min(where=lead <= 0),
    )
    anchors = anchors.filter(anchors.before_start.notnull() & anchors.after_start.notnull())
    m = anchors.select(
        "member_id",
        "segment",
        "switch_day",
        "before_start",
        "after_start",
        window_days=ibis.least(
            anchors.switch_day.delta(anchors.before_start, unit="day"),
            a.delta(anchors.after_start, unit="day"),
        ),
    )

    # Every interval (a = prev_day, b = day) of these members, flagged when it starts inside a group spell.
    gaps = v.filter(v.prev_day.notnull()).select("member_id", "prev_day", "day", gap="days_since_prev")
    gaps = gaps.inner_join(m, "member_id")
    inside = gaps.left_join(
        spells,
        [
            gaps.member_id == spells.sp_member,
            gaps.prev_day >= spells.join_day,
            gaps.prev_day < spells.left_day,
        ],
    )
    keys = ["member_id", "segment", "switch_day", "before_start", "after_start", "window_days"]
    f = inside.group_by([*keys, "prev_day", "day", "gap"]).aggregate(
        in_group=inside.sp_member.notnull().any()
    )
    before = (f.prev_day >= f.before_start) & (f.day.delta(f.before_start, unit="day") <= f.window_days)
    after = (
        f.in_group & (f.prev_day >= f.after_start) & (f.day.delta(f.after_start, unit="day") <= f.window_days)
    )
    gap = f.gap.cast("float64")
    per_member = f.group_by(keys).aggregate(
        intervals_before=before.cast("int64").sum(),
        intervals_after=after.cast("int64").sum(),
        sum_before=ibis.ifelse(before, gap, 0.0).sum(),
        sum_after=ibis.ifelse(after, gap, 0.0).sum(),
    )
    p = per_member.filter(
        (per_member.intervals_before >= min_intervals) & (per_member.intervals_after >= min_intervals)
    )
    mean_before = p.sum_before / p.intervals_before.cast("float64")
    mean_after = p.sum_after / p.intervals_after.cast("float64")
    return p.select(
        "member_id",
        "segment",
        "switch_day",
        "before_start",
        "after_start",
        "window_days",
        "intervals_before",
        "intervals_after",
        mean_before=mean_before,
        mean_after=mean_after,
        diff=mean_after - mean_before,
        log_ratio=(mean_after / mean_before).ln(),
    )


# ---------------------------------------------------------------------------------------------------------
# Python side: descriptive intervals, Kaplan-Meier, paired comparison
# ---------------------------------------------------------------------------------------------------------


def weighted_quantile(values, counts, q: float) -> float:
    """The q-quantile of ``values`` repeated ``counts`` times, as ``numpy.quantile`` (linear) would give it.

    ``values`` need not be sorted; counts are whole numbers >= 0. NaN when the total count is 0.
    """
    order = np.argsort(np.asarray(values, dtype=float), kind="stable")
    x = np.asarray(values, dtype=float)[order]
    w = np.asarray(counts, dtype=np.int64)[order]
    keep = w > 0
    x, w = x[keep], w[keep]
    n = int(w.sum())
    if n == 0:
        return math.nan
    cum = np.cumsum(w)
    h = (n - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    x_lo = x[np.searchsorted(cum, lo, side="right")]
    x_hi = x[np.searchsorted(cum, hi, side="right")]
    return float(x_lo + (h - lo) * (x_hi - x_lo))


def _completed_intervals(durations: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    done = durations[durations["returned"]]
    rows = []
    for (segment, k), cell in done.groupby(["segment", "from_visit"], sort=True):
        d, w = cell["days"].to_numpy(), cell["members"].to_numpy()
        n = int(w.sum())
        rows.append(
            {
                "segment": segment,
                "from_visit": int(k),
                "n": n,
                "median_days": weighted_quantile(d, w, 0.5),
                "p25_days": weighted_quantile(d, w, 0.25),
                "p75_days": weighted_quantile(d, w, 0.75),
                "mean_days": float((d * w).sum() / n),
            }
        )
    intervals = pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))
    if intervals.empty:
        intervals = _empty(INTERVAL_COLUMNS)
    histogram = (
        done.rename(columns={"days": "days_bin", "members": "intervals"})
        .groupby(["segment", "from_visit", "days_bin"], as_index=False, sort=True)["intervals"]
        .sum()
    )
    histogram = histogram[list(HISTOGRAM_COLUMNS)] if not histogram.empty else _empty(HISTOGRAM_COLUMNS)
    return intervals, histogram


def fit_return_curve(days, returned, members):
    """A lifelines KaplanMeierFitter fitted on aggregated (days, returned, members) rows with ``weights``.

    Equal to a fit on one row per member (the members repeated), without building that frame.
    """
    from lifelines import KaplanMeierFitter  # lifelines takes seconds to import; only when fitting

    return KaplanMeierFitter(alpha=1 - CONFIDENCE).fit(
        durations=np.asarray(days, dtype=float),
        event_observed=np.asarray(returned, dtype=bool),
        weights=np.asarray(members, dtype=float),
    )


def _kaplan_meier(durations: pd.DataFrame, horizons: tuple[int, ...]):
    from lifelines.utils import median_survival_times

    curves, within, medians = [], [], []
    for (segment, k), cell in durations.groupby(["segment", "from_visit"], sort=True):
        cell = cell[cell["members"] > 0]
        if cell.empty:
            continue
        kmf = fit_return_curve(cell["days"], cell["returned"], cell["members"])
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        low_s, high_s = ci.iloc[:, 0], ci.iloc[:, 1]
        days = sf.index.to_numpy(dtype=float).round().astype("int64")
        at_risk = _at_risk(cell, days)
        curve = pd.DataFrame(
            {
                "segment": segment,
                "from_visit": int(k),
                "day": days,
                "share_returned": 1.0 - sf.to_numpy(),
                "ci_low": 1.0 - high_s.to_numpy(),
                "ci_high": 1.0 - low_s.to_numpy(),
                "at_risk": at_risk,
            }
        )
        curves.append(curve)

        members = int(cell["members"].sum())
        returned = int(cell.loc[cell["returned"], "members"].sum())
        followed = int(cell["days"].max())
        everyone_back = sf.iloc[-1] <= 0.0
        for h, at_risk_h in zip(horizons, _at_risk(cell, np.asarray(horizons)), strict=True):
            if h > followed and not everyone_back:
                share = lo = hi = math.nan  # beyond the longest follow-up the curve is unknown
            else:
                upto = sf.index <= h
                share = 1.0 - float(sf[upto].iloc[-1])
                lo = 1.0 - float(high_s[upto].iloc[-1])
                hi = 1.0 - float(low_s[upto].iloc[-1])
            within.append(
                {
                    "segment": segment,
                    "from_visit": int(k),
                    "horizon_days": int(h),
                    "share_returned": share,
                    "ci_low": lo,
                    "ci_high": hi,
                    "at_risk_start": int(at_risk_h),
                    "members": members,
                }
            )
        median_ci = median_survival_times(ci)
        medians.append(
            {
                "segment": segment,
                "from_visit": int(k),
                "members": members,
                "returned": returned,
                "median_days": _finite(kmf.median_survival_time_),
                "median_ci_low": _finite(median_ci.iloc[0, 0]),
                "median_ci_high": _finite(median_ci.iloc[0, 1]),
            }
        )
    returning = pd.concat(curves, ignore_index=True) if curves else _empty(RETURNING_COLUMNS)
    within_frame = pd.DataFrame(within, columns=list(WITHIN_COLUMNS)) if within else _empty(WITHIN_COLUMNS)
    median_frame = pd.DataFrame(medians, columns=list(MEDIAN_COLUMNS)) if medians else _empty(MEDIAN_COLUMNS)
    return returning, within_frame, median_frame


def _at_risk(cell: pd.DataFrame, days: np.ndarray) -> np.ndarray:
    """Members followed for at least ``day`` days (not returned nor censored before the day starts)."""
    by_day = cell.groupby("days")["members"].sum().sort_index()
    tail = np.append(by_day.to_numpy()[::-1].cumsum()[::-1], 0)
    return tail[np.searchsorted(by_day.index.to_numpy(), days, side="left")].astype("int64")


def _group_effect_frame(per_member: ibis.Table) -> pd.DataFrame:
    """Per segment: the paired comparison from the count, sums and sums of squares of the member rows."""
    p = per_member
    sums = (
        p.group_by("segment")
        .aggregate(
            members=p.count(),
            sum_before=p.mean_before.sum(),
            sum_after=p.mean_after.sum(),
            sum_diff=p.diff.sum(),
            sum_diff_sq=(p.diff * p.diff).sum(),
            sum_log=p.log_ratio.sum(),
            sum_log_sq=(p.log_ratio * p.log_ratio).sum(),
        )
        .to_pandas()
    )
    if sums.empty:
        return _empty(GROUP_EFFECT_COLUMNS)
    sums = sums.sort_values("segment", ignore_index=True)
    n = sums["members"].astype(float)
    for segment in sums.loc[n < 2, "segment"]:
        warnings.warn(
            f"segment {segment!r}: one member compared before/after joining a group; no interval.",
            ThinDataWarning,
            stacklevel=3,
        )
    diff, diff_lo, diff_hi = mean_interval(n, sums["sum_diff"], sums["sum_diff_sq"], confidence=CONFIDENCE)
    log_mean, log_lo, log_hi = mean_interval(n, sums["sum_log"], sums["sum_log_sq"], confidence=CONFIDENCE)
    with np.errstate(divide="ignore", invalid="ignore"):
        centered = np.maximum(sums["sum_diff_sq"] - sums["sum_diff"] ** 2 / n, 0.0)
        sd = np.sqrt(centered / (n - 1))
        t_stat = diff / (sd / np.sqrt(n))
        p_value = np.where((n >= 2) & (sd > 0), 2 * sps.t.sf(np.abs(t_stat), n - 1), np.nan)
    out = pd.DataFrame(
        {
            "segment": sums["segment"].astype(str),
            "members": sums["members"].astype("int64"),
            "mean_before_days": sums["sum_before"] / n,
            "mean_after_days": sums["sum_after"] / n,
            "diff_days": np.asarray(diff, dtype=float),
            "diff_ci_low": np.asarray(diff_lo, dtype=float),
            "diff_ci_high": np.asarray(diff_hi, dtype=float),
            "ratio": np.exp(np.asarray(log_mean, dtype=float)),
            "ratio_ci_low": np.exp(np.asarray(log_lo, dtype=float)),
            "ratio_ci_high": np.exp(np.asarray(log_hi, dtype=float)),
            "p_value": np.asarray(p_value, dtype=float),
        }
    )
    return out[list(GROUP_EFFECT_COLUMNS)]


# ---------------------------------------------------------------------------------------------------------
# Parameters, frames, summary
# ---------------------------------------------------------------------------------------------------------


def _check_horizons(horizons) -> tuple[int, ...]:
    if isinstance(horizons, int | np.integer):
        horizons = (horizons,)
    try:
        values = list(horizons)
    except TypeError:
        values = None
    ok = bool(values) and all(
        isinstance(h, int | np.integer) and not isinstance(h, bool) and h > 0 for h in values
    )
    if not ok:
        raise ParameterError(
            f"horizons={horizons!r} is not valid; expected whole numbers of days > 0, e.g. (7, 14, 30, 60, 90)."
        )
    return tuple(sorted({int(h) for h in values}))


def _check_whole(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}.")
    return int(value)


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


def _segment_name(segment_by) -> str | None:
    if segment_by is None or isinstance(segment_by, str):
        return segment_by
    return "custom"


def _tuple_or_none(values):
    if values is None:
        return None
    return (values,) if isinstance(values, str | int) else tuple(values)


def _finite(value) -> float:
    v = float(value)
    return v if math.isfinite(v) else math.nan


_DTYPES = {
    "segment": "object",
    "returned": "bool",
    "from_visit": "int64",
    "days": "int64",
    "days_bin": "int64",
    "day": "int64",
    "horizon_days": "int64",
    "members": "int64",
    "n": "int64",
    "intervals": "int64",
    "at_risk": "int64",
    "at_risk_start": "int64",
}


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "float64")) for c in columns})


def _segment_label(result: RepurchaseCycle, value, lang: str) -> str:
    return result.segment_label(value, lang)


def _fmt(value, digits: int = 1, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.0%}" if pct else f"{value:.{digits}f}"


def _summary_text(result: RepurchaseCycle, lang: str) -> str:
    t = i18n.t
    p = result.params
    lines = [f"{t('repurchase.title', lang)} · {t('repurchase.as_of', lang, day=p['as_of'].isoformat())}"]
    if p.get("segment_by"):
        lines[0] += f" · {t('repurchase.segment_by', lang, name=p['segment_by'])}"
    if result.medians.empty:
        lines.append(t("repurchase.no_members", lang))
        return "\n".join(lines)

    def step(k) -> str:
        return t("repurchase.visit_step", lang, k=int(k), k1=int(k) + 1)

    lines += ["", t("repurchase.returning_head", lang)]
    shares = result.within.pivot_table(
        index=["segment", "from_visit"], columns="horizon_days", values="share_returned", dropna=False
    )
    rows = []
    for r in result.medians.itertuples(index=False):
        median = (
            t("repurchase.not_reached", lang)
            if math.isnan(r.median_days)
            else f"{r.median_days:.0f} [{_fmt(r.median_ci_low, 0)}, {_fmt(r.median_ci_high, 0)}]"
        )
        row = {
            t("segment", lang): _segment_label(result, r.segment, lang),
            t("repurchase.from_visit", lang): step(r.from_visit),
            t("repurchase.members", lang): r.members,
            t("repurchase.returned", lang): r.returned,
            t("repurchase.median_km", lang): median,
        }
        for h in p["horizons"]:
            share = (
                shares.loc[(r.segment, r.from_visit), h]
                if (r.segment, r.from_visit) in shares.index
                else None
            )
            row[t("repurchase.within_h", lang, h=h)] = _fmt(share, pct=True)
        rows.append(row)
    lines.append(pd.DataFrame(rows).to_string(index=False))

    lines += ["", t("repurchase.intervals_head", lang)]
    rows = [
        {
            t("segment", lang): _segment_label(result, r.segment, lang),
            t("repurchase.from_visit", lang): step(r.from_visit),
            t("repurchase.intervals_n", lang): r.n,
            t("repurchase.median_days", lang): _fmt(r.median_days),
            t("repurchase.iqr_days", lang): f"{_fmt(r.p25_days)}–{_fmt(r.p75_days)}",
            t("repurchase.mean_days", lang): _fmt(r.mean_days),
        }
        for r in result.intervals.itertuples(index=False)
    ]
    if rows:
        lines.append(pd.DataFrame(rows).to_string(index=False))

    lines += ["", t("repurchase.group_head", lang)]
    if not p.get("group_table"):
        lines.append(t("repurchase.group_absent", lang))
    elif result.group_effect.empty:
        lines.append(t("repurchase.group_empty", lang))
    else:
        rows = [
            {
                t("segment", lang): _segment_label(result, r.segment, lang),
                t("repurchase.members", lang): r.members,
                t("repurchase.before_days", lang): _fmt(r.mean_before_days),
                t("repurchase.after_days", lang): _fmt(r.mean_after_days),
                t(
                    "repurchase.diff_days", lang
                ): f"{_fmt(r.diff_days)} [{_fmt(r.diff_ci_low)}, {_fmt(r.diff_ci_high)}]",
                t(
                    "repurchase.ratio", lang
                ): f"{_fmt(r.ratio, 2)} [{_fmt(r.ratio_ci_low, 2)}, {_fmt(r.ratio_ci_high, 2)}]",
                t("repurchase.p_value", lang): _fmt(r.p_value, 3),
            }
            for r in result.group_effect.itertuples(index=False)
        ]
        lines.append(pd.DataFrame(rows).to_string(index=False))
        lines.append(t("observational", lang))
    return "\n".join(lines)
