"""Year-on-year comparison weeks aligned on Spring Festival and National Day, checked on dates by hand.

Dates (from the calendar; holidays.China agrees, as the first test checks):
  Spring Festival 2025-01-29 (Wed, ISO 2025-W05), 2026-02-17 (Tue, 2026-W08), 2027-02-06 (Sat, 2027-W05)
  National Day    2025-10-01 (Wed, 2025-W40), 2026-10-01 (Thu, 2026-W40), 2027-10-01 (Fri, 2027-W39)
"""

import datetime as dt

import pytest

from workbench.analyses.holidays_align import (
    ALIGN_WINDOW_WEEKS,
    holiday_date,
    holiday_offset,
    weeks_in_iso_year,
    yoy_comparison_week,
)
from workbench.errors import ParameterError


def test_holiday_dates_come_from_the_holidays_package():
    assert holiday_date("spring_festival", 2025) == dt.date(2025, 1, 29)
    assert holiday_date("spring_festival", 2026) == dt.date(2026, 2, 17)
    assert holiday_date("national_day", 2027) == dt.date(2027, 10, 1)


def test_spring_festival_week_compares_with_last_years_spring_festival_week():
    # 2026-W08 (16-22 Feb) holds 2026-02-17; the week holding 2025-01-29 is 2025-W05 (27 Jan - 2 Feb)
    assert yoy_comparison_week("2026-W08") == ("2025-W05", True, "spring_festival")
    assert yoy_comparison_week("2027-W05") == ("2026-W08", True, "spring_festival")


def test_weeks_around_spring_festival_keep_their_offset():
    # two weeks before 2026-W08 -> two weeks before 2025-W05; three after -> three after
    assert yoy_comparison_week("2026-W06") == ("2025-W03", True, "spring_festival")
    assert yoy_comparison_week("2026-W11") == ("2025-W08", True, "spring_festival")
    assert holiday_offset("2026-W06") == ("spring_festival", -2)


def test_outside_the_window_the_same_week_number_is_used():
    assert ALIGN_WINDOW_WEEKS == 3
    assert yoy_comparison_week("2026-W12") == ("2025-W12", False, None)  # four weeks after W08
    assert yoy_comparison_week("2026-W47") == ("2025-W47", False, None)
    assert holiday_offset("2026-W47") == (None, None)


def test_golden_week_follows_the_dates():
    # 1 Oct is in W40 in both 2025 and 2026: aligned, and the same number
    assert yoy_comparison_week("2026-W40") == ("2025-W40", True, "national_day")
    # 2027-10-01 is a Friday in W39; 2026's National Day week is W40
    assert yoy_comparison_week("2027-W39") == ("2026-W40", True, "national_day")
    assert yoy_comparison_week("2027-W41") == ("2026-W42", True, "national_day")


def test_week_53_compares_with_the_last_week_of_a_52_week_year():
    assert weeks_in_iso_year(2026) == 53 and weeks_in_iso_year(2025) == 52
    # 2026-W53 (28 Dec - 3 Jan) is five weeks before the week of Spring Festival 2027 (W05): not aligned
    assert yoy_comparison_week("2026-W53") == ("2025-W52", False, None)
    assert yoy_comparison_week("2027-W01") == ("2026-W01", False, None)


@pytest.mark.parametrize("label", ["2026-W60", "abc", "2025-W53"])
def test_bad_week_labels_raise(label):
    with pytest.raises(ParameterError, match="week"):
        yoy_comparison_week(label)
