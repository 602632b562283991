"""Time in the simulated chain: local days, seasonality, the operational clock, UTC conversion.

Inside the simulator an instant is a float number of local days since the first day of the period
(day 0 = its Monday, 00:00 local); day ``d`` is ``floor(t)``. Seasonality (weekends, Spring Festival) is a
multiplier ``m(d)`` per day. Visits are generated on an *operational clock* ``tau = Lambda(t)`` whose
speed is ``m(d)``: a renewal process that is gamma in operational time has an intensity proportional to
``m(d)`` in calendar time, while its intervals stay gamma where the calendar is flat. Thinning a candidate
process would do the former but not the latter.

Local times become UTC instants through the zone's offset at local noon of each day; everything the
simulator writes happens between 08:00 and 23:59 local, away from daylight-saving switches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from workbench.data.simulate import params as P

US_PER_DAY = 86_400_000_000
US_PER_MINUTE = 60_000_000
_EPOCH = dt.date(1970, 1, 1)

# Spring Festival (农历正月初一) by year. The holidays package (holidays.China) is the source; the table
# saves its slow first call for the years a simulation usually spans, and a test keeps the two equal.
SPRING_FESTIVAL = {
    2019: dt.date(2019, 2, 5),
    2020: dt.date(2020, 1, 25),
    2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
    2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3),
}
# Names holidays.China gives the Spring Festival days, untranslated (English) or in Chinese.
SPRING_FESTIVAL_NAMES = ("Chinese New Year (Spring Festival)", "春节")


def spring_festivals_from_holidays(first_year: int, last_year: int) -> dict[int, dt.date]:
    """The first Spring Festival day of each year according to holidays.China."""
    import holidays

    days = holidays.China(years=range(first_year, last_year + 1))
    out: dict[int, dt.date] = {}
    for day in sorted(d for d, name in days.items() if name in SPRING_FESTIVAL_NAMES):
        out.setdefault(day.year, day)
    return out


def spring_festivals(first_year: int, last_year: int) -> list[dt.date]:
    """The first day of the Chinese New Year (Spring Festival) of each year in the range."""
    years = range(first_year, last_year + 1)
    missing = [y for y in years if y not in SPRING_FESTIVAL]
    extra = spring_festivals_from_holidays(min(missing), max(missing)) if missing else {}
    return [SPRING_FESTIVAL.get(y) or extra[y] for y in years]


def parse_clock(text: str) -> float:
    """'11:30' -> 11.5 (hours)."""
    h, m = text.split(":")
    return int(h) + int(m) / 60


@dataclass
class Timeline:
    """The simulated period and its calendar.

    start       local date of day 0 (a Monday when ``end`` is a Sunday)
    days        length of the period in days; the data covers days 0 .. days-1
    pre, post   days of calendar kept before day 0 (the initial stock's history) and after the period
                (the Monte Carlo follow-up)
    multiplier  seasonal multiplier per grid day (index d + pre)
    cum         operational clock at the start of each grid day (len n+1), 0 at day 0
    offset_us   UTC offset of each grid day at local noon, in microseconds
    """

    start: dt.date
    days: int
    timezone: str
    pre: int
    post: int
    multiplier: np.ndarray
    cum: np.ndarray
    offset_us: np.ndarray
    festivals: list[dt.date]

    @classmethod
    def build(cls, end: dt.date, weeks: int, timezone: str, *, pre: int, post: int) -> Timeline:
        days = 7 * weeks
        start = end - dt.timedelta(days=days - 1)
        first = start - dt.timedelta(days=pre)
        n = pre + days + post
        dates = np.arange(np.datetime64(first), np.datetime64(first) + n)
        weekday = (dates.astype("datetime64[D]").view("int64") + 3) % 7  # Monday = 0 (1970-01-01 a Thursday)
        weekday_level = 7 / (5 + 2 * P.WEEKEND_MULTIPLIER)  # so that a plain week averages 1
        mult = np.where(weekday >= 5, P.WEEKEND_MULTIPLIER, 1.0) * weekday_level
        last = first + dt.timedelta(days=n)
        festivals = spring_festivals(first.year - 1, last.year + 1)
        for sf in festivals:
            eve = (sf - first).days - 1
            for lo, hi, factor in (
                (eve, eve + 7, P.SPRING_FESTIVAL_WEEK_MULTIPLIER),
                (eve - 7, eve, P.SPRING_FESTIVAL_WEEK_BEFORE_MULTIPLIER),
            ):
                a, b = max(lo, 0), min(hi, n)
                if a < b:
                    mult[a:b] *= factor
        cum = np.concatenate([[0.0], np.cumsum(mult)])
        cum -= cum[pre]
        zone = ZoneInfo(timezone)
        offsets = {}
        offset_us = np.empty(n, dtype=np.int64)
        for i in range(n):
            day = first + dt.timedelta(days=i)
            noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=zone)
            off = noon.utcoffset()
            offset_us[i] = offsets.setdefault(off, int(off.total_seconds()) * 1_000_000)
        return cls(start, days, timezone, pre, post, mult, cum, offset_us, festivals)

    # -- days and clocks -----------------------------------------------------------------------------
    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)

    def day_multiplier(self, day: np.ndarray) -> np.ndarray:
        return self.multiplier[np.asarray(day, dtype=np.int64) + self.pre]

    def op_time(self, t: np.ndarray) -> np.ndarray:
        """Calendar time (days since day 0) -> operational time."""
        x = np.asarray(t, dtype=np.float64) + self.pre
        j = np.clip(np.floor(x).astype(np.int64), 0, len(self.multiplier) - 1)
        return self.cum[j] + self.multiplier[j] * (x - j)

    def calendar_time(self, tau: np.ndarray) -> np.ndarray:
        """Operational time -> calendar time (days since day 0)."""
        tau = np.asarray(tau, dtype=np.float64)
        j = np.clip(np.searchsorted(self.cum, tau, side="right") - 1, 0, len(self.multiplier) - 1)
        return j - self.pre + (tau - self.cum[j]) / self.multiplier[j]

    def to_utc_us(self, day: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Local day index and local clock time (hours, kept to the whole second) -> UTC microseconds."""
        day = np.asarray(day, dtype=np.int64)
        base = (self.start - _EPOCH).days
        seconds = np.floor(np.asarray(hours, dtype=np.float64) * 3600).astype(np.int64)
        local = (base + day) * US_PER_DAY + seconds * 1_000_000
        return local - self.offset_us[day + self.pre]

    def day_of(self, date: dt.date) -> int:
        return (date - self.start).days

    def date_of(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=int(day))

    def dates(self, day: np.ndarray) -> np.ndarray:
        """Local dates (datetime64[D]) of day indices."""
        return np.datetime64(self.start) + np.asarray(day, dtype=np.int64)

    def festivals_in_period(self) -> list[dt.date]:
        return [d for d in self.festivals if 0 <= self.day_of(d) < self.days]


def categorical_rows(rng: np.random.Generator, probs: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One draw per element from the categorical distribution ``probs[row]`` (rows sum to 1).

    Row k's cumulative probabilities are shifted to (k, k + 1], so one binary search over the flattened
    table serves every row.
    """
    probs = np.asarray(probs, dtype=np.float64)
    k, c = probs.shape
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(k)[:, None]).ravel()
    row = np.asarray(row, dtype=np.int64)
    pos = np.searchsorted(flat, row + rng.random(len(row)), side="right")
    return np.minimum(pos - row * c, c - 1)


def meal_hours(rng: np.random.Generator, cuisine: np.ndarray, *, shares: np.ndarray) -> np.ndarray:
    """Local clock times (hours) of orders: lunch and dinner peaks and some off-peak trade.

    ``shares[c]`` is (lunch, dinner, off-peak) for cuisine code c. Within a meal window times follow a
    triangular shape (busiest in the middle); off-peak times are uniform over the trading day.
    """
    n = len(cuisine)
    which = categorical_rows(rng, shares, cuisine)  # 0 lunch, 1 dinner, 2 off-peak
    windows = np.array(
        [[parse_clock(a), parse_clock(b)] for a, b in (P.LUNCH_WINDOW, P.DINNER_WINDOW, P.OFF_PEAK_WINDOW)]
    )
    lo, hi = windows[which, 0], windows[which, 1]
    u = rng.random((2, n))
    shape = np.where(which == 2, u[0], (u[0] + u[1]) / 2)
    return lo + (hi - lo) * shape
