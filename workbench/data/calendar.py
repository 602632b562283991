"""The one place that knows the chain's time zone: local days, ISO weeks, periods, as_of.

Timestamps are stored as UTC instants (TIMESTAMPTZ). ``workbench.connect`` sets the engine session's time
zone to the chain's, so that ``local_day(ts)`` (a cast to DATE) gives the chain's calendar day in DuckDB and
Spark alike; pandas code uses :func:`to_local_dates` with the same zone.
"""

from __future__ import annotations

import datetime as dt
import re

import ibis
import ibis.expr.types as ir
import pandas as pd

from workbench.errors import ParameterError, choices_message

PERIODS = ("day", "week", "month")
_PERIOD_UNIT = {"day": "D", "week": "W", "month": "M"}
_ISO_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ParameterError(choices_message("period", period, PERIODS))
    return period


def apply_timezone(backend, timezone: str) -> None:
    """Make ``CAST(timestamp AS DATE)`` in this engine session mean the chain's local day."""
    name = getattr(backend, "name", "")
    if name == "duckdb":
        backend.raw_sql(f"SET TimeZone = '{timezone}'")
    elif name == "pyspark":
        backend._session.conf.set("spark.sql.session.timeZone", timezone)
    else:  # pragma: no cover - other engines: documented in README ("Engines")
        import warnings

        from workbench.errors import WorkbenchWarning

        warnings.warn(
            f"engine {name!r}: set its session time zone to {timezone} yourself; local days follow it.",
            WorkbenchWarning,
            stacklevel=3,
        )


def local_day(ts: ir.TimestampValue) -> ir.DateValue:
    """The chain's local calendar day of a timestamp column (the session zone set by connect)."""
    return ts.cast("date")


def day_start(day, timezone: str) -> ir.TimestampScalar:
    """The instant the local ``day`` begins in ``timezone``. ``ts < day_start(d + 1 day)`` keeps the
    timestamps of local days up to d without working out the local day of each (the engine compares
    instants, and skips blocks of rows by them)."""
    return ibis.literal(pd.Timestamp(as_date(day), tz=timezone))


def period_start(day: ir.DateValue, period: str) -> ir.DateValue:
    """First day of the day / ISO week (Monday) / month containing ``day``."""
    check_period(period)
    if period == "day":
        return day
    return day.truncate(_PERIOD_UNIT[period]).cast("date")


def to_local_dates(values: pd.Series, timezone: str) -> pd.Series:
    """pandas: local calendar dates (datetime64 at midnight) of tz-aware timestamps."""
    s = pd.to_datetime(values, utc=True)
    return s.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def parse_iso_week(label: str) -> tuple[dt.date, dt.date]:
    """'2026-W47' -> (Monday, Sunday) of that ISO week."""
    m = _ISO_WEEK.match(str(label).strip())
    if not m:
        raise ParameterError(f"week={label!r} is not an ISO week; expected the form 2026-W47.")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        monday = dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ParameterError(f"week={label!r} does not exist: {year} has no ISO week {week}.") from None
    return monday, monday + dt.timedelta(days=6)


def iso_week_label(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def last_complete_week(as_of: dt.date) -> str:
    """The last ISO week whose Sunday is on or before ``as_of``."""
    sunday = as_of - dt.timedelta(days=(as_of.isoweekday() % 7))
    return iso_week_label(sunday)


def as_date(value) -> dt.date:
    """A date from a date, datetime, Timestamp or 'YYYY-MM-DD' string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise ParameterError(f"{value!r} is not a date; expected YYYY-MM-DD.") from None


def date_literal(value) -> ir.DateScalar:
    return ibis.literal(as_date(value), type="date")
