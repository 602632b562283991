"""Operator lists built on member tags: upcoming birthdays, a segment for a campaign tool, CSV / Excel export.

    tags = member_tags(db, as_of="2026-11-22")
    birthday_list(tags, days_ahead=7)                      # birthdays in the next week, most valuable first
    segment_members(tags, rfm_class="important_win_back", vip=False)
    export_member_tags(tags, "member_tags.xlsx", lang="zh")

Every list carries the member_id as stored (opaque) and never a phone hash or a name; the export writes only
the columns it knows (``EXPORT_COLUMNS``), whatever else a frame holds.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import segments
from workbench.analyses.segments import (
    DEFAULT_WINDOW_DAYS,
    FREQUENCY_TIERS,
    RFM_CLASS_VALUES,
    SPENDING_TIERS,
    MemberTags,
    member_tags,
)
from workbench.data.store import connect
from workbench.errors import ParameterError, choices_message

# A birthday list looks a week ahead by default: the usual lead time of a birthday coupon (the simulated
# chain's 生日礼券 runs for 7 days).
DEFAULT_DAYS_AHEAD = 7
# At most a year ahead: beyond it every birthday would come round again.
MAX_DAYS_AHEAD = 366
# A birthday gift goes to members who ate with us in the tags' window (default the last year): at least one
# visit there. 0 lists every member, including those who never visited.
DEFAULT_MIN_VISITS = 1
# Members born on 29 February celebrate on 28 February in a year without it (they keep a February birthday).
LEAP_DAY_MD = "02-29"
LEAP_DAY_STAND_IN_MD = "02-28"

BIRTHDAY_COLUMNS = (
    "member_id",
    "birthday_md",
    "birthday",
    "days_until",
    "rfm_class",
    "monetary",
    "frequency",
    "avg_ticket",
    "vip",
    "last_visit_day",
    "recency_days",
    "favourite_store_id",
    "favourite_city",
)
SEGMENT_LIST_COLUMNS = (
    "member_id",
    "rfm_class",
    "r_score",
    "f_score",
    "m_score",
    "frequency_tier",
    "spending_power",
    "price_sensitive",
    "vip",
    "join_channel",
    "favourite_store_id",
    "favourite_city",
    "recency_days",
    "frequency",
    "monetary",
    "last_visit_day",
)
# The only columns an export may carry, in this order: ids as stored (opaque), never a phone hash or a name.
EXPORT_COLUMNS = tuple(dict.fromkeys([*segments.COLUMNS, "birthday", "days_until"]))
EXPORT_SUFFIXES = (".csv", ".xlsx")
# Columns whose values are codes with display names (i18n.value_label) and columns that are days.
_LABELLED = ("rfm_class", "frequency_tier", "spending_power", "join_channel")
_FLAGS = ("vip", "in_group", "price_sensitive")
_DAYS = ("join_day", "first_visit_day", "last_visit_day", "birthday")
# Decimal places written for derived numbers (money keeps its cents).
_ROUNDED = {"monetary": 2, "avg_ticket": 2, "visits_per_month": 2, "price_sensitivity": 3}

i18n.register(
    {
        "segments.column.member_id": ("会员编号", "Member ID"),
        "segments.column.join_day": ("入会日期", "Joined"),
        "segments.column.join_channel": ("入会渠道", "Join channel"),
        "segments.column.vip": ("VIP", "VIP"),
        "segments.column.in_group": ("已入群", "In a group"),
        "segments.column.home_store_id": ("归属门店", "Home store"),
        "segments.column.city": ("归属城市", "Home city"),
        "segments.column.birthday_md": ("生日（月-日）", "Birthday (MM-DD)"),
        "segments.column.first_visit_day": ("首次到店日", "First visit"),
        "segments.column.last_visit_day": ("最近到店日", "Last visit"),
        "segments.column.recency_days": ("距最近到店天数（R）", "Days since last visit (R)"),
        "segments.column.lifetime_visits": ("累计到店次数", "Visits to date"),
        "segments.column.frequency": ("窗口内到店次数（F）", "Visits in window (F)"),
        "segments.column.monetary": ("窗口内消费金额（M）", "Spend in window (M)"),
        "segments.column.avg_ticket": ("客单价", "Average ticket"),
        "segments.column.visits_per_month": ("月均到店次数", "Visits per month"),
        "segments.column.r_score": ("R 得分", "R score"),
        "segments.column.f_score": ("F 得分", "F score"),
        "segments.column.m_score": ("M 得分", "M score"),
        "segments.column.rfm_class": ("RFM 分层", "RFM class"),
        "segments.column.spending_power": ("消费力", "Spending power"),
        "segments.column.frequency_tier": ("到店频次", "Frequency tier"),
        "segments.column.coupon_visits": ("用券到店次数", "Visits with a coupon"),
        "segments.column.price_sensitivity": ("用券到店占比", "Share of visits with a coupon"),
        "segments.column.price_sensitive": ("价格敏感", "Price sensitive"),
        "segments.column.favourite_store_id": ("常去门店", "Favourite store"),
        "segments.column.favourite_city": ("常去城市", "Favourite city"),
        "segments.column.birthday": ("本次生日", "Birthday"),
        "segments.column.days_until": ("距生日天数", "Days until birthday"),
        "segments.sheet": ("会员标签", "Member tags"),
    }
)


def birthday_list(
    tags_or_db,
    *,
    as_of=None,
    days_ahead: int = DEFAULT_DAYS_AHEAD,
    min_visits: int = DEFAULT_MIN_VISITS,
    window_days: int | None = None,
    stores=None,
    cities=None,
) -> pd.DataFrame:
    """Members whose birthday falls in the ``days_ahead`` days after ``as_of``, with their value.

    ``tags_or_db`` is a :class:`MemberTags` (its as_of, window and scope are used; ``as_of``, ``window_days``,
    ``stores`` and ``cities`` must then be left out) or a store, for which :func:`member_tags` is computed
    with those parameters (window_days default ``segments.DEFAULT_WINDOW_DAYS``).

    The birthdays listed are the days as_of + 1 ... as_of + days_ahead (as_of is the last complete day of
    data, so the list starts with the first day the data has not seen), across the year end (as_of
    2026-12-28 with 7 days: 12-29 ... 01-04 of 2027). A member born on 29 February celebrates on 28 February
    in a year without 29 February. Members with a missing or malformed birthday_md are never listed; members
    need ``min_visits`` visits in the tags' window (0: everyone, also members who never visited).

    Columns, sorted by days_until, then monetary (descending), then member_id:
      member_id           as stored (opaque)
      birthday_md         'MM-DD' as recorded
      birthday            the day celebrated (datetime64, local date)
      days_until          birthday - as_of (days, 1..days_ahead)
      rfm_class           RFM class code (display names via i18n.value_label('rfm_class', ...))
      monetary            spend in the window (currency)
      frequency           visits in the window (int)
      avg_ticket          currency per visit (NaN without visits in the window)
      vip                 bool
      last_visit_day      local day (NaT: never visited)
      recency_days        days since the last visit (Int64; <NA> never visited)
      favourite_store_id, favourite_city   see member_tags
    ``attrs``: as_of, days_ahead, min_visits, window_days.
    """
    tags = _tags(tags_or_db, as_of=as_of, window_days=window_days, stores=stores, cities=cities)
    days_ahead = _check_whole("days_ahead", days_ahead, minimum=1, maximum=MAX_DAYS_AHEAD)
    min_visits = _check_whole("min_visits", min_visits, minimum=0)
    day = tags.as_of
    dates = upcoming_birthdays(day, days_ahead)
    m = tags.members
    m = m[(m["frequency"] >= min_visits) & m["birthday_md"].isin(list(dates))].copy()
    m["birthday"] = pd.to_datetime(m["birthday_md"].map(dates)).astype("datetime64[ns]")
    m["days_until"] = (m["birthday"] - pd.Timestamp(day)).dt.days.astype("int64")
    m = m.sort_values(
        ["days_until", "monetary", "member_id"], ascending=[True, False, True], kind="mergesort"
    )
    out = m[list(BIRTHDAY_COLUMNS)].reset_index(drop=True)
    out.attrs.update(
        as_of=day, days_ahead=days_ahead, min_visits=min_visits, window_days=tags.params["window_days"]
    )
    return out


def upcoming_birthdays(as_of: dt.date, days_ahead: int) -> dict[str, dt.date]:
    """'MM-DD' -> the day it is celebrated among as_of + 1 ... as_of + days_ahead (first occurrence).

    '02-29' maps to 28 February in a year without 29 February (when that day is in the range).
    """
    out: dict[str, dt.date] = {}
    for k in range(1, days_ahead + 1):
        d = as_of + dt.timedelta(days=k)
        md = d.strftime("%m-%d")
        out.setdefault(md, d)
        if md == LEAP_DAY_STAND_IN_MD and not pycalendar.isleap(d.year):
            out.setdefault(LEAP_DAY_MD, d)
    return out


def segment_members(
    tags_or_db,
    *,
    rfm_class=None,
    frequency_tier=None,
    spending_power=None,
    price_sensitive: bool | None = None,
    vip: bool | None = None,
    favourite_store_id=None,
    favourite_city=None,
    join_channel=None,
    limit: int | None = None,
    as_of=None,
    window_days: int | None = None,
    stores=None,
    cities=None,
) -> pd.DataFrame:
    """The members of a segment, for a campaign tool: member_id and the tags a message is chosen by.

    ``tags_or_db`` as in :func:`birthday_list`. Each filter takes one value or a list (any of them); filters
    combine with AND; None leaves a tag unfiltered:
      rfm_class        codes of ``segments.RFM_CLASS_VALUES`` ('important_value', ..., 'no_visit')
      frequency_tier   'high', 'medium', 'low', 'one_off', 'inactive'
      spending_power   'high', 'medium', 'low', 'inactive'
      price_sensitive, vip   True / False
      favourite_store_id, favourite_city, join_channel   values as stored
      limit            keep the first rows (after sorting)

    Columns, sorted by monetary (descending), then member_id: member_id, rfm_class, r_score, f_score,
    m_score (Int64, 1-5), frequency_tier, spending_power, price_sensitive, vip (bool), join_channel,
    favourite_store_id, favourite_city, recency_days (days, Int64), frequency (visits in the window),
    monetary (currency, in the window), last_visit_day (datetime64). ``attrs``: as_of, window_days, filters.

    Raises ParameterError naming the valid choices for an unknown class or tier.
    """
    tags = _tags(tags_or_db, as_of=as_of, window_days=window_days, stores=stores, cities=cities)
    filters = {
        "rfm_class": _check_values("rfm_class", rfm_class, RFM_CLASS_VALUES),
        "frequency_tier": _check_values("frequency_tier", frequency_tier, FREQUENCY_TIERS),
        "spending_power": _check_values("spending_power", spending_power, SPENDING_TIERS),
        "price_sensitive": _check_flag("price_sensitive", price_sensitive),
        "vip": _check_flag("vip", vip),
        "favourite_store_id": _check_values("favourite_store_id", favourite_store_id),
        "favourite_city": _check_values("favourite_city", favourite_city),
        "join_channel": _check_values("join_channel", join_channel),
    }
    if limit is not None:
        limit = _check_whole("limit", limit, minimum=1)
    m = tags.members
    keep = np.ones(len(m), dtype=bool)
    for column, values in filters.items():
        if values is not None:
            keep &= m[column].isin(list(values)).to_numpy()
    out = m[keep].sort_values(["monetary", "member_id"], ascending=[False, True], kind="mergesort")
    out = out[list(SEGMENT_LIST_COLUMNS)].reset_index(drop=True)
    if limit is not None:
        out = out.head(limit)
    out.attrs.update(
        as_of=tags.as_of,
        window_days=tags.params["window_days"],
        filters={k: v for k, v in filters.items() if v is not None},
    )
    return out


def export_member_tags(tags, path, lang: str = "zh") -> Path:
    """Write member tags (or a list from :func:`birthday_list` / :func:`segment_members`) to CSV or Excel.

    The format follows the suffix: '.csv' (UTF-8 with BOM, so Excel opens Chinese text) or '.xlsx' (one
    sheet, 会员标签 / Member tags); any other suffix raises ParameterError. Headers and coded values (RFM
    class, tiers, join channel, Yes / No flags) are written in ``lang`` ('zh' or 'en'); days as YYYY-MM-DD;
    missing values as empty cells. Only the columns of ``EXPORT_COLUMNS`` present are written, in that
    order: a phone_hash, a name or any other column added to the frame is left out. The file is written to
    a temporary name and moved into place, so a reader never sees half a list. Returns the path.
    """
    i18n.check_lang(lang)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ParameterError(
            f"cannot export to {path.name!r}: the suffix {path.suffix or '(none)'!r} is not supported; "
            f"expected one of: {', '.join(EXPORT_SUFFIXES)}."
        )
    frame = tags.members if isinstance(tags, MemberTags) else tags
    if not isinstance(frame, pd.DataFrame) or "member_id" not in frame.columns:
        raise ParameterError(
            "expected the result of member_tags(...), birthday_list(...) or segment_members(...) (a frame with "
            f"member_id); received {type(tags).__name__}."
        )
    out = _display_frame(frame, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    try:
        if suffix == ".csv":
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
                out.to_csv(fh, index=False)
        else:
            os.close(fd)
            _write_xlsx(out, tmp, sheet=i18n.t("segments.sheet", lang))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_xlsx(frame: pd.DataFrame, path, *, sheet: str) -> None:
    """One sheet, streamed (openpyxl's write-only mode: several times faster than pandas' to_excel)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(title=sheet)
    ws.append(list(frame.columns))
    values = frame.astype(object).where(frame.notna(), None)
    for row in values.itertuples(index=False, name=None):
        ws.append([v.item() if isinstance(v, np.generic) else v for v in row])
    book.save(path)


def _display_frame(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    out = frame[[c for c in EXPORT_COLUMNS if c in frame.columns]].copy()
    out["member_id"] = out["member_id"].astype(str)
    for c in _LABELLED:
        if c in out:
            out[c] = [None if pd.isna(v) else i18n.value_label(c, v, lang) for v in out[c]]
    for c in _FLAGS:
        if c in out:
            out[c] = [None if pd.isna(v) else i18n.t("true" if v else "false", lang) for v in out[c]]
    for c, places in _ROUNDED.items():
        if c in out:
            out[c] = out[c].astype("float64").round(places)
    for c in _DAYS:
        if c in out:
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    out.columns = [i18n.t(f"segments.column.{c}", lang) for c in out.columns]
    return out


def _tags(tags_or_db, *, as_of, window_days, stores, cities) -> MemberTags:
    if isinstance(tags_or_db, MemberTags):
        given = {"as_of": as_of, "window_days": window_days, "stores": stores, "cities": cities}
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise ParameterError(
                f"{', '.join(extra)} apply when a store is passed; these member tags were computed as of "
                f"{tags_or_db.as_of.isoformat()} over {tags_or_db.params['window_days']} days. Call "
                "member_tags(db, ...) again to change them."
            )
        return tags_or_db
    db = connect(tags_or_db)
    return member_tags(
        db,
        as_of=as_of,
        window_days=DEFAULT_WINDOW_DAYS if window_days is None else window_days,
        stores=stores,
        cities=cities,
    )


def _check_values(name: str, values, choices=None) -> tuple | None:
    if values is None:
        return None
    listed = [values] if isinstance(values, str | int) else list(values)
    if choices is not None:
        unknown = [v for v in listed if v not in choices]
        if unknown:
            raise ParameterError(choices_message(name, unknown[0] if len(listed) == 1 else values, choices))
    return tuple(listed)


def _check_flag(name: str, value) -> tuple[bool] | None:
    if value is None:
        return None
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(choices_message(name, value, (True, False, None)))
    return (bool(value),)


def _check_whole(name: str, value, *, minimum: int, maximum: int | None = None) -> int:
    bad = isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum
    if bad or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}{upper}.")
    return int(value)
