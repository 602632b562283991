"""Wake-up list: members now overdue against their own rhythm, ranked by what waking them is worth.

A member is overdue when the days since their last visit exceed ``overdue_factor`` times their own cycle
(the median of the days between their consecutive visits), and not yet lost: at most ``lost_factor`` times
the cycle and at most ``max_days`` days. The engine computes one row per member (cycles, counts, revenue)
and keeps only the overdue ones; pandas scores and ranks that list.

    wake = wake_up_list(db, as_of="2026-11-22", limit=500)
    export_wake_up_list(wake, "wake_up.csv", lang="zh")   # for the store team, opens in Excel
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar
from workbench.data.store import Store
from workbench.data.visits import numbered_visits
from workbench.errors import ParameterError

# Overdue after 1.5 own cycles: a regular one half-cycle late is the usual "gently remind" point.
OVERDUE_FACTOR = 1.5
# Lost after 4 own cycles: a member whose gaps are exponential with median c is still absent after 4c
# with probability 2^-4 = 6%, so most of them have left; waking those costs more than it returns.
LOST_FACTOR = 4.0
# Whatever the cycle, a year without a visit is lost (a rare visitor's cycle can be months long).
MAX_DAYS = 365
# Two visits give one interval, the least an own cycle can rest on.
MIN_VISITS = 2
# expected_value counts the revenue of this many days back in rhythm (a quarter, the horizon of a campaign).
VALUE_HORIZON_DAYS = 90
# Prior probability that an overdue member is still active before looking at how late they are (even odds:
# the list says nothing on whom the chain has already lost).
PRIOR_ACTIVE = 0.5

COLUMNS = (
    "rank",
    "member_id",
    "segment",
    "home_store_id",
    "city",
    "last_day",
    "days_since_last",
    "own_cycle_days",
    "cycle_source",
    "overdue_ratio",
    "visits",
    "revenue",
    "avg_ticket",
    "p_active",
    "expected_value",
)
# The only columns an export may carry: ids as stored (opaque), never a phone hash, a name or a raw phone.
EXPORT_COLUMNS = COLUMNS
CYCLE_SOURCES = ("own", "segment", "chain")

i18n.register(
    {
        "wake_up.column.rank": ("排名", "Rank"),
        "wake_up.column.member_id": ("会员编号", "Member ID"),
        "wake_up.column.segment": ("分组", "Segment"),
        "wake_up.column.home_store_id": ("归属门店", "Home store"),
        "wake_up.column.city": ("城市", "City"),
        "wake_up.column.last_day": ("最近到店日", "Last visit"),
        "wake_up.column.days_since_last": ("未到店天数", "Days since last visit"),
        "wake_up.column.own_cycle_days": ("个人复购周期（天）", "Own cycle (days)"),
        "wake_up.column.cycle_source": ("周期来源", "Cycle from"),
        "wake_up.column.overdue_ratio": ("逾期倍数", "Overdue (× cycle)"),
        "wake_up.column.visits": ("到店次数", "Visits"),
        "wake_up.column.revenue": ("累计消费", "Revenue"),
        "wake_up.column.avg_ticket": ("客单价", "Average ticket"),
        "wake_up.column.p_active": ("仍活跃概率", "Probability still active"),
        "wake_up.column.expected_value": ("唤醒预期价值", "Expected value of waking"),
    }
)
i18n.register_values(
    "cycle_source",
    {
        "own": ("本人", "Own"),
        "segment": ("同分组中位数", "Segment median"),
        "chain": ("全品牌中位数", "Chain median"),
    },
)


def wake_up_list(
    db: Store,
    *,
    as_of=None,
    overdue_factor: float = OVERDUE_FACTOR,
    lost_factor: float = LOST_FACTOR,
    max_days: int | None = MAX_DAYS,
    min_visits: int = MIN_VISITS,
    segment_by=None,
    limit: int | None = None,
    stores=None,
    cities=None,
    join_channels=None,
) -> pd.DataFrame:
    """Members overdue against their own cycle but not yet lost, best to wake first.

    Own cycle: the median of the member's days between consecutive visits up to ``as_of`` (the engine's
    median; with an even count the mean of the middle two), for members with at least ``min_visits``
    visits. Members with fewer visits (a one-visit member has no cycle) get the median own cycle of the
    members of their segment who have one (``segment_by``; without it, or when their segment has none, of
    every member in scope: 'chain'). ``cycle_source`` says which.

    Kept: overdue_ratio = days_since_last / own_cycle_days > ``overdue_factor`` and <= ``lost_factor``, and
    days_since_last <= ``max_days`` (None: no cap).

    Score (a simple, stated model, not a fitted one). If the member's gaps were exponential with median
    equal to their cycle c, an active member would still be absent after d days with probability
    q = 2^(-d/c); with even prior odds of being active (PRIOR_ACTIVE), the probability they still are is
      p_active = q * PRIOR_ACTIVE / (q * PRIOR_ACTIVE + 1 - PRIOR_ACTIVE).
    expected_value = avg_ticket * VALUE_HORIZON_DAYS / c * p_active: the revenue of a quarter back in
    rhythm, times the chance there is still someone to wake. It favours valuable, frequent members who are
    only a little late. Ties: fewer days since last visit first, then member_id.

    Columns, ranked (1 = wake first):
      rank              1, 2, ... (int)
      member_id         as stored (opaque; never a phone number or its hash)
      segment           the member's segment ('all' without segment_by)
      home_store_id, city   join store (else first-visit store) and its city
      last_day          local day of the last visit (datetime64)
      days_since_last   as_of - last_day (days)
      own_cycle_days    the cycle used (days, float)
      cycle_source      'own', 'segment' or 'chain'
      overdue_ratio     days_since_last / own_cycle_days
      visits            visits up to as_of (int)
      revenue           amount paid up to as_of (currency)
      avg_ticket        revenue / visits (currency per visit, 客单价)
      p_active          probability still active (0-1, see above)
      expected_value    currency (see above)
    ``limit`` keeps the first rows. ``attrs``: as_of, overdue_factor, lost_factor, max_days, min_visits.
    """
    _check_positive("overdue_factor", overdue_factor)
    _check_positive("lost_factor", lost_factor)
    if lost_factor <= overdue_factor:
        raise ParameterError(
            f"lost_factor={lost_factor!r} must be larger than overdue_factor={overdue_factor!r}; a member is "
            "overdue first and lost later."
        )
    if max_days is not None:
        _check_int("max_days", max_days, 1)
    _check_int("min_visits", min_visits, 2)
    if limit is not None:
        _check_int("limit", limit, 1)
    as_of = scope.resolve_as_of(db, as_of)
    v = numbered_visits(db, as_of=as_of)
    v = scope.of_members_in_scope(db, v, as_of=as_of, stores=stores, cities=cities)
    per = v.group_by("member_id").aggregate(
        visits=v.count(),
        revenue=v.amount.sum(),
        last_day=v.day.max(),
        own=v.days_since_prev.cast("float64").median(),
    )
    members = scope.scoped_members(
        db, as_of=as_of, segment_by=segment_by, stores=stores, cities=cities, join_channels=join_channels
    ).select("member_id", "segment", "home_store_id", "city")
    t = members.inner_join(per, "member_id")
    has_own = t.visits >= min_visits
    own = ibis.ifelse(has_own, t.own, ibis.null("float64"))
    t = t.mutate(
        has_own=has_own,
        seg_cycle=own.median().over(ibis.window(group_by=t.segment)),
        chain_cycle=own.median().over(ibis.window()),
    )
    use_segment = ibis.literal(segment_by is not None) & t.seg_cycle.notnull()
    cycle = ibis.cases((t.has_own, t.own), (use_segment, t.seg_cycle), else_=t.chain_cycle)
    source = ibis.cases((t.has_own, "own"), (use_segment, "segment"), else_="chain")
    since = calendar.date_literal(as_of).delta(t.last_day, unit="day")
    t = t.mutate(own_cycle_days=cycle, cycle_source=source, days_since_last=since)
    t = t.mutate(overdue_ratio=t.days_since_last.cast("float64") / t.own_cycle_days)
    keep = t.own_cycle_days.notnull() & (t.overdue_ratio > overdue_factor) & (t.overdue_ratio <= lost_factor)
    if max_days is not None:
        keep = keep & (t.days_since_last <= max_days)
    frame = (
        t.filter(keep)
        .select(
            "member_id",
            "segment",
            "home_store_id",
            "city",
            "last_day",
            "days_since_last",
            "own_cycle_days",
            "cycle_source",
            "overdue_ratio",
            "visits",
            "revenue",
        )
        .to_pandas()
    )
    out = _score(frame)
    if limit is not None:
        out = out.head(int(limit))
    out.attrs.update(
        as_of=as_of,
        overdue_factor=overdue_factor,
        lost_factor=lost_factor,
        max_days=max_days,
        min_visits=min_visits,
    )
    return out


def _score(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["member_id"] = out["member_id"].astype(str)
    out["segment"] = out["segment"].astype(str)
    out["last_day"] = pd.to_datetime(out["last_day"]).astype("datetime64[ns]")
    out["days_since_last"] = pd.to_numeric(out["days_since_last"]).astype("int64")
    out["visits"] = pd.to_numeric(out["visits"]).astype("int64")
    for c in ("own_cycle_days", "overdue_ratio", "revenue"):
        out[c] = pd.to_numeric(out[c]).astype("float64")
    out["avg_ticket"] = out["revenue"] / out["visits"]
    q = np.power(2.0, -out["days_since_last"] / out["own_cycle_days"])
    out["p_active"] = q * PRIOR_ACTIVE / (q * PRIOR_ACTIVE + 1 - PRIOR_ACTIVE)
    out["expected_value"] = out["avg_ticket"] * VALUE_HORIZON_DAYS / out["own_cycle_days"] * out["p_active"]
    out = out.sort_values(
        ["expected_value", "days_since_last", "member_id"], ascending=[False, True, True], kind="mergesort"
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype="int64")
    return out[list(COLUMNS)]


def export_wake_up_list(df: pd.DataFrame, path, *, lang: str | None = None) -> Path:
    """Write a wake-up list to CSV for a store team; returns the path.

    Only the columns of :data:`EXPORT_COLUMNS` present in ``df`` are written (member ids as stored, which
    are opaque; a ``phone_hash`` or name column added by someone is left out), with days as YYYY-MM-DD.
    Encoding utf-8-sig (UTF-8 with BOM), so Excel opens Chinese text correctly. ``lang='zh'`` / ``'en'``
    writes display headers (会员编号 ...); None keeps the column names. The file is written to a temporary
    name and moved into place, so a reader never sees half a list.
    """
    if "member_id" not in df.columns:
        raise ParameterError(
            f"the frame to export has no member_id column; expected a wake_up_list result (columns: "
            f"{', '.join(map(str, df.columns))})."
        )
    if lang is not None:
        i18n.check_lang(lang)
    out = df[[c for c in EXPORT_COLUMNS if c in df.columns]].copy()
    out["member_id"] = out["member_id"].astype(str)
    if "last_day" in out:
        out["last_day"] = pd.to_datetime(out["last_day"]).dt.strftime("%Y-%m-%d")
    if lang is not None:
        out.columns = [i18n.t(f"wake_up.column.{c}", lang) for c in out.columns]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            out.to_csv(fh, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ParameterError(f"{name}={value!r} is not valid; expected a number > 0.")


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}.")
