"""Which week a year ago a week should be compared with, so that holidays line up.

Spring Festival (春节) moves between late January and mid-February, so the same ISO week a year before can
hold the festival in one year and an ordinary week in the other: a restaurant's year-on-year change would
then show the holiday, not the business. Near Spring Festival and National Day (国庆, the Golden Week from
1 October, which moves between ISO weeks 39 and 40) the comparison week is the week at the same offset from
the holiday a year before; elsewhere it is the same ISO week number a year before.

Holiday dates come from the ``holidays`` package (``holidays.country_holidays("CN")``), never from a list
typed here. Pure functions, no tables:

    yoy_comparison_week("2026-W08")   # ('2025-W05', True, 'spring_festival')
    yoy_comparison_week("2026-W47")   # ('2025-W47', False, None)
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from workbench.data import calendar

# The holidays that move a chain's trade enough to shift a comparison, and the name holidays.China gives
# their first day (in its en_US labels). Mid-Autumn and the one-day holidays move trade by far less.
HOLIDAY_NAMES = {
    "spring_festival": "Chinese New Year (Spring Festival)",
    "national_day": "National Day",
}
HOLIDAYS = tuple(HOLIDAY_NAMES)
# A week within this many weeks of a holiday's week is aligned on the holiday: the run-up (年货, reunion
# dinners), the holiday itself and the return from the home town each take one to two weeks.
ALIGN_WINDOW_WEEKS = 3
_HOLIDAY_LANGUAGE = "en_US"


@cache
def holiday_date(holiday: str, year: int) -> dt.date | None:
    """The first day of ``holiday`` ('spring_festival' or 'national_day') in ``year`` per holidays.China.

    None when the package does not cover the year.
    """
    import holidays

    name = HOLIDAY_NAMES[holiday]
    try:
        days = holidays.country_holidays("CN", years=year, language=_HOLIDAY_LANGUAGE)
    except NotImplementedError:  # pragma: no cover - a year the package refuses
        return None
    found = sorted(day for day, label in days.items() if label == name)
    return found[0] if found else None


def holiday_week(holiday: str, year: int) -> str | None:
    """ISO week label of the week holding the first day of ``holiday`` in ``year`` (None if unknown)."""
    day = holiday_date(holiday, year)
    return calendar.iso_week_label(day) if day else None


def weeks_in_iso_year(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the last one of its ISO year."""
    return dt.date(year, 12, 28).isocalendar()[1]


def yoy_comparison_week(week: str) -> tuple[str, bool, str | None]:
    """The week a year before that ``week`` ('2026-W47') is compared with.

    Returns ``(week_label, aligned, holiday)``:
      week_label  ISO week label of the comparison week ('2025-W05')
      aligned     True when the week lies within ALIGN_WINDOW_WEEKS weeks of the week holding Spring
                  Festival (农历正月初一) or National Day (1 October), and the comparison week is the week
                  at the same offset (in weeks) from that holiday's week a year before
      holiday     'spring_festival' or 'national_day' when aligned, else None

    Otherwise the comparison is the same ISO week number a year before; week 53 compares with the last
    week (52) of a year that has no week 53. Raises ParameterError for a label that is not an ISO week.
    """
    monday, _ = calendar.parse_iso_week(week)
    year = monday.isocalendar()[0]
    holiday, offset_weeks = holiday_offset(week)
    if holiday is not None:
        before = _holiday_monday(holiday, _anchor_year(holiday, monday) - 1)
        target = before + dt.timedelta(weeks=offset_weeks)
        return calendar.iso_week_label(target), True, holiday
    number = int(monday.isocalendar()[1])
    number = min(number, weeks_in_iso_year(year - 1))
    return f"{year - 1}-W{number:02d}", False, None


def holiday_offset(week: str) -> tuple[str | None, int | None]:
    """``(holiday, offset_weeks)`` when ``week`` lies within ALIGN_WINDOW_WEEKS of a holiday's week.

    offset_weeks = weeks from the holiday's week to ``week`` (-2: two weeks before it, 0: the holiday's own
    week). ``(None, None)`` elsewhere, or when holidays.China does not cover the year before.
    """
    monday, _ = calendar.parse_iso_week(week)
    for holiday in HOLIDAYS:
        year = _anchor_year(holiday, monday)
        if year is not None:
            return holiday, (monday - _holiday_monday(holiday, year)).days // 7
    return None, None


def _anchor_year(holiday: str, monday: dt.date) -> int | None:
    """The year whose ``holiday`` week is within the window of ``monday`` (and a year before is known)."""
    year = monday.isocalendar()[0]
    for holiday_year in (year - 1, year, year + 1):
        anchor = _holiday_monday(holiday, holiday_year)
        if anchor is None or _holiday_monday(holiday, holiday_year - 1) is None:
            continue
        if abs((monday - anchor).days // 7) <= ALIGN_WINDOW_WEEKS:
            return holiday_year
    return None


def _holiday_monday(holiday: str, year: int) -> dt.date | None:
    day = holiday_date(holiday, year)
    if day is None:
        return None
    return day - dt.timedelta(days=day.isoweekday() - 1)
