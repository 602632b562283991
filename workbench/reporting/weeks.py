"""Which day and which week a report is about, and which campaigns belong in it.

A weekly report is as of the Sunday that ends its ISO week (in the chain's time zone): re-running a week
later, on more data, gives the same numbers as long as the data up to that Sunday has not changed.
"""

from __future__ import annotations

import datetime as dt

from workbench.analyses import scope
from workbench.data import calendar
from workbench.data.store import Store
from workbench.errors import ParameterError


def report_week(db: Store, *, week=None, latest: bool = False) -> str:
    """The ISO week label a report covers: ``week`` checked against the data, or the last complete one.

    ``latest=True`` (or week None): the last ISO week whose Sunday is on or before the data's last complete
    day (``scope.resolve_as_of``). A week whose Sunday is after that day is not complete in the data and
    raises ParameterError naming the latest complete week.
    """
    through = scope.resolve_as_of(db, None)
    last = calendar.last_complete_week(through)
    if latest or week is None:
        return last
    _, sunday = calendar.parse_iso_week(week)
    if sunday > through:
        raise ParameterError(
            f"week={week!r} is not complete in the data (it ends {sunday.isoformat()}, the data runs through "
            f"{through.isoformat()}); expected a week up to {last}, or --latest."
        )
    scope.resolve_as_of(db, sunday)  # a week before the data starts raises, naming the data's range
    return calendar.iso_week_label(sunday)


def report_day(db: Store, *, week=None, as_of=None) -> dt.date:
    """The analysis day of a report: ``as_of`` if given, else the Sunday of ``week``, else the data's day."""
    if as_of is not None:
        return scope.resolve_as_of(db, as_of)
    if week is not None:
        return scope.resolve_as_of(db, calendar.parse_iso_week(week)[1])
    return scope.resolve_as_of(db, None)


def campaigns_for_week(db: Store, *, as_of, week=None, campaign=None) -> tuple[list[str], str]:
    """Campaign ids a campaign report covers, and why: ``(ids, reason)``.

    reason 'chosen'  ``campaign`` was given (an id, or a list of ids)
           'active'  campaigns whose outcome window (start .. end + outcome_window_days) overlaps the week
                     ending on as_of (the ISO week of ``week``, else the 7 days ending on as_of)
           'latest'  none was active: the campaign that started last on or before as_of
           'none'    no campaign has started by as_of
    Campaigns are ordered by start. A store without campaigns raises MissingTableError.
    """
    db.require("campaigns", "assignments", needed_by="the campaign report")
    c = db.campaigns
    frame = c.select(
        "campaign_id",
        start=calendar.local_day(c.starts_at),
        end=calendar.local_day(c.ends_at),
        window=c.outcome_window_days,
    ).to_pandas()
    frame = frame.sort_values(["start", "campaign_id"], kind="mergesort")
    if campaign is not None:
        wanted = [campaign] if isinstance(campaign, str) else list(campaign)
        unknown = [w for w in wanted if w not in set(frame["campaign_id"])]
        if unknown:
            raise ParameterError(
                f"campaign={unknown[0]!r} is not in the store; expected one of: "
                + ", ".join(frame["campaign_id"])
            )
        return [str(w) for w in wanted], "chosen"
    if week is not None:
        first, last = calendar.parse_iso_week(week)
    else:
        last = scope.resolve_as_of(db, as_of)
        first = last - dt.timedelta(days=6)
    started = frame[frame["start"].map(_day) <= last]
    window = started["window"].fillna(0).astype(int)
    outcome_end = [_day(e) + dt.timedelta(days=int(w)) for e, w in zip(started["end"], window, strict=True)]
    active = started[[e >= first for e in outcome_end]]
    if len(active):
        return active["campaign_id"].astype(str).tolist(), "active"
    if len(started):
        return [str(started["campaign_id"].iloc[-1])], "latest"
    return [], "none"


def _day(value) -> dt.date:
    return calendar.as_date(value)
