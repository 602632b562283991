"""The calendar: local days in the chain's zone, ISO weeks, periods."""

import datetime as dt

import ibis
import pandas as pd
import pytest

from workbench.data import calendar
from workbench.errors import ParameterError


def test_iso_week_label_parses_to_monday_and_sunday():
    assert calendar.parse_iso_week("2026-W47") == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    # ISO week 1 of 2026 starts on Monday 2025-12-29 (the week holding the year's first Thursday).
    assert calendar.parse_iso_week("2026-W01") == (dt.date(2025, 12, 29), dt.date(2026, 1, 4))


def test_week_53_exists_only_in_long_years():
    assert calendar.parse_iso_week("2026-W53") == (dt.date(2026, 12, 28), dt.date(2027, 1, 3))
    with pytest.raises(ParameterError, match="2025 has no ISO week 53"):
        calendar.parse_iso_week("2025-W53")


def test_bad_week_label_says_the_expected_form():
    with pytest.raises(ParameterError, match="expected the form 2026-W47"):
        calendar.parse_iso_week("47/2026")


def test_last_complete_week_ends_on_a_sunday_not_after_as_of():
    assert calendar.last_complete_week(dt.date(2026, 11, 22)) == "2026-W47"  # a Sunday: its week is complete
    assert calendar.last_complete_week(dt.date(2026, 11, 23)) == "2026-W47"  # Monday of W48
    assert calendar.last_complete_week(dt.date(2026, 11, 21)) == "2026-W46"  # Saturday: W47 not complete


def test_unknown_period_names_the_valid_ones():
    with pytest.raises(ParameterError, match="expected one of: day, week, month"):
        calendar.check_period("quarter")


def test_pandas_local_dates_cross_midnight_in_the_chain_zone():
    utc = pd.Series(pd.to_datetime(["2026-01-01 15:59:59", "2026-01-01 16:00:00"], utc=True))
    local = calendar.to_local_dates(utc, "Asia/Shanghai")
    assert list(local.dt.date) == [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]


@pytest.mark.parametrize(
    ("period", "expected"),
    [("day", dt.date(2026, 1, 7)), ("week", dt.date(2026, 1, 5)), ("month", dt.date(2026, 1, 1))],
)
def test_period_start(period, expected):
    con = ibis.duckdb.connect()
    value = calendar.period_start(ibis.literal(dt.date(2026, 1, 7)), period)  # a Wednesday
    assert pd.Timestamp(con.execute(value)).date() == expected
