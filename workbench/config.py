"""Typed settings of a chain: time zone, week start, currency.

The settings travel with the store (table ``_meta``), so a store simulated or loaded with one time zone
is read with the same one. ``Settings()`` gives the defaults of a mainland-China chain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workbench.errors import ParameterError

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_CURRENCY = "CNY"
# ISO weeks start on Monday (DESIGN.md: "Weeks are ISO weeks").
DEFAULT_WEEK_START = "monday"
LANGS = ("zh", "en")


@dataclass(frozen=True)
class Settings:
    """Settings a chain's numbers depend on.

    timezone   IANA zone that decides what a local day and week are (default Asia/Shanghai)
    currency   ISO 4217 code of every money column (default CNY)
    week_start first day of the week; only ISO weeks ('monday') are supported
    """

    timezone: str = DEFAULT_TIMEZONE
    currency: str = DEFAULT_CURRENCY
    week_start: str = DEFAULT_WEEK_START

    def __post_init__(self):
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ParameterError(
                f"timezone={self.timezone!r} is not an IANA time zone (e.g. Asia/Shanghai)."
            ) from exc
        if self.week_start != DEFAULT_WEEK_START:
            raise ParameterError(
                f"week_start={self.week_start!r} is not supported; weeks are ISO weeks (monday)."
            )
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ParameterError(f"currency={self.currency!r} is not an ISO 4217 code such as CNY.")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Settings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})
