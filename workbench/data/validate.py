"""Validating rows against the data contract: every problem at once, bad rows set aside with the reason.

Two entry points:

- :func:`validate_frame` checks one table's rows as read from a file (text, contract column names): it
  converts each column by its contract type, applies every rule, and splits the rows into good typed rows
  and quarantined rows, with one problem line per (column, rule).
- :func:`validate_store` applies the same rules to every table of a store and reports, without changing it.

Rules (the ``rule`` of a problem and of a quarantined row):

  missing_column        a required column is absent: the whole file is rejected, nothing from it loads
  unparseable           a value is not of the column's type (number, money, date, time, share, MM-DD)
  missing_value         a required column is empty on this row
  not_allowed           a category value outside the contract's list (map it under ``values:`` in the mapping)
  negative              an amount or count below zero
  out_of_range          a share outside 0..1
  future                a timestamp after ``now`` (campaign start and end may lie ahead)
  orphan                a reference to a row that does not exist (an order whose member is unknown); checked
                        only when the referenced table is known (in the store or in the same batch)
  duplicate_key         the same key on several rows with different values: every such row is held back
  duplicate_row         an exact copy of an earlier row of the same file: the first copy loads
  conflicts_with_store  (loading) a key already stored with different values, in a table that is not updated
  ends_after_start, left_after_joined, member_or_group   the contract's cross-column row rules
  missing_table         (store) a required table is absent or empty

The column checks and row rules run as one pandera ``DataFrameSchema`` per table (:func:`contract_schema`)
with lazy validation, which returns every failing row of every check at once. Converting text to types and
the duplicate-key logic are ours: pandera's coercion would reject a whole column, not say which values fail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa

from workbench.config import DEFAULT_TIMEZONE
from workbench.data import contract
from workbench.errors import ContractError

PROBLEM_COLUMNS = ["file", "table", "column", "rule", "rows", "examples", "message"]
QUARANTINE_COLUMNS = ["table_name", "source_file", "source_row", "rule", "column_name", "reason", "record"]
MAX_EXAMPLES = 3  # examples per problem line: enough to find the rows, short enough to read

# Timestamps that may lie after `now`: a campaign is planned ahead and runs past today.
FUTURE_ALLOWED = {("campaigns", "starts_at"), ("campaigns", "ends_at")}

MONEY_QUANTUM = Decimal("0.01")
MONEY_LIMIT = Decimal(10) ** (contract.MONEY_PRECISION - contract.MONEY_SCALE)

TYPE_WORDS = {
    "timestamp": "a date and time (e.g. 2026-01-31 18:30)",
    "date": "a date (e.g. 2026-01-31)",
    "decimal": "an amount with at most 2 decimals (e.g. 1234.50)",
    "int": "a whole number",
    "share": "a share (e.g. 0.1 or 10%)",
    "month_day": "a month and day (e.g. 03-15)",
}


# -- converting text to contract types ----------------------------------------------------------------

_DATETIME = re.compile(
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


def _normalise_datetime_text(values: pd.Series) -> pd.Series:
    s = values.astype("string").map(lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v)
    s = s.str.strip()
    s = s.str.replace(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", r"\1-\2-\3 ", regex=True)
    s = s.str.replace(
        r"(\d{1,2})\s*[时点:]\s*(\d{1,2})\s*分?(?:\s*(\d{1,2})\s*秒)?",
        lambda m: f"{m.group(1)}:{m.group(2)}" + (f":{m.group(3)}" if m.group(3) else ""),
        regex=True,
    )
    s = s.str.replace(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3", regex=True)
    return s.str.replace(r"\s+", " ", regex=True).str.strip()


def _parts(values: pd.Series) -> pd.DataFrame:
    """Year, month, day, hour, minute, second, fraction and offset of each text (NaN where none match)."""
    parts = values.astype("string").str.strip().str.extract(_DATETIME)
    odd = parts["y"].isna() & values.notna()
    if odd.any():  # Chinese, slashed or full-width layouts: normalise only those (slow path)
        parts.loc[odd] = _normalise_datetime_text(values[odd]).str.extract(_DATETIME).to_numpy()
    return parts


def parse_timestamps(
    values: pd.Series, *, timezone: str, fmt: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """Text -> UTC timestamps. Times without an offset are local times in ``timezone``; times with one
    ('+08:00', 'Z') are converted. Returns (timestamps, failed) where failed marks non-empty unparseable text.

    Accepted without ``fmt``: 2026-01-31 18:30[:05[.123]], 2026/1/31 18:30, 2026-01-31T18:30:05+08:00,
    2026年1月31日 18:30, 2026-01-31 (midnight). With ``fmt`` (strftime codes) only that format.
    """
    present = values.notna()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if not present.any():
        return out, pd.Series(False, index=values.index)
    if fmt:
        parsed = pd.to_datetime(values.where(present), format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is None:
            parsed = _localise(parsed, timezone)
        out = parsed.dt.tz_convert("UTC")
    else:
        parts = _parts(values[present])
        ok = parts["y"].notna()
        if ok.any():
            p = parts[ok]
            frac = p["f"].fillna("0").str.slice(0, 6).str.ljust(6, "0")
            naive = pd.to_datetime(
                pd.DataFrame(
                    {
                        "year": p["y"].astype(int),
                        "month": p["m"].astype(int),
                        "day": p["d"].astype(int),
                        "hour": p["H"].fillna("0").astype(int),
                        "minute": p["M"].fillna("0").astype(int),
                        "second": p["S"].fillna("0").astype(int),
                        "microsecond": frac.astype(int),
                    }
                ),
                errors="coerce",
            )
            offset = p["tz"].map(_offset_minutes)
            local = offset.isna()
            stamped = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns, UTC]")
            if local.any():
                stamped[local] = _localise(naive[local], timezone).dt.tz_convert("UTC")
            if (~local).any():
                shifted = naive[~local] - pd.to_timedelta(offset[~local], unit="min")
                stamped[~local] = shifted.dt.tz_localize("UTC")
            out[stamped.index] = stamped
    failed = present & out.isna()
    return out, failed


def _localise(naive: pd.Series, timezone: str) -> pd.Series:
    # A local time that occurs twice (the hour a DST zone turns its clocks back) is read as the first one;
    # one that does not exist (the hour skipped in spring) is moved forward. China has no DST.
    return naive.dt.tz_localize(
        timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
    )


def _offset_minutes(text) -> float:
    if not isinstance(text, str):
        return np.nan
    if text in ("Z", "UTC", "GMT"):
        return 0.0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))


def parse_dates(values: pd.Series, *, fmt: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Text -> datetime.date. Accepts 2026-01-31, 2026/1/31, 2026年1月31日, and a date with a midnight time
    (as spreadsheets write dates); a time of day other than midnight is unparseable."""
    present = values.notna()
    out = pd.Series(None, index=values.index, dtype=object)
    if fmt:
        parsed = pd.to_datetime(values.where(present), format=fmt, errors="coerce")
        good = parsed.notna()
        out[good] = parsed[good].dt.date
    elif present.any():
        parts = _parts(values[present])
        midnight = (
            parts[["H", "M", "S", "f"]].fillna("0").astype(float).eq(0).all(axis=1) & parts["tz"].isna()
        )
        ok = parts["y"].notna() & midnight
        for i, (y, m, d) in parts.loc[ok, ["y", "m", "d"]].astype(int).iterrows():
            with contextlib.suppress(ValueError):  # 2026-02-30 stays empty, hence unparseable
                out[i] = dt.date(y, m, d)
    return out, present & out.isna()


def _money(text: str) -> Decimal | None:
    t = unicodedata.normalize("NFKC", text).strip()
    t = re.sub(r"(?i)rmb|cny|元|¥|\$|\s|,", "", t)
    if re.fullmatch(r"\(.*\)", t):  # accountants' negative: (12.00)
        t = "-" + t[1:-1]
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", t):
        return None
    try:
        value = Decimal(t)
    except InvalidOperation:  # pragma: no cover - the pattern above only lets numbers through
        return None
    if value != value.quantize(MONEY_QUANTUM) or abs(value) >= MONEY_LIMIT:
        return None
    return value.quantize(MONEY_QUANTUM)


_PLAIN_MONEY = r"-?\d{1,16}(\.\d{1,2})?"


def _parse_money(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Money column: plain '1234.5' values take a fast path; '¥1,234.50', '88元', '(12.00)' go through _money."""
    present = values.notna()
    text = values.astype("string")
    plain = text.str.fullmatch(_PLAIN_MONEY).fillna(False).astype(bool)
    out = pd.Series(None, index=values.index, dtype=object)
    out[plain] = [Decimal(v).quantize(MONEY_QUANTUM) for v in values[plain]]
    other = present & ~plain
    if other.any():
        out[other] = values[other].map(_money)
    out = out.where(out.notna(), None)
    return out, present & out.isna()


def _whole(text: str) -> int | None:
    t = re.sub(r"[,\s天日]", "", unicodedata.normalize("NFKC", text))
    if not re.fullmatch(r"[+-]?\d+(\.0*)?", t):
        return None
    return int(t.split(".")[0])


def _share(text: str) -> float | None:
    t = unicodedata.normalize("NFKC", text).strip()
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1].strip(), 100.0
    try:
        value = float(t) / scale
    except ValueError:
        return None
    return None if np.isnan(value) else value


def _month_day(text: str) -> str | None:
    t = unicodedata.normalize("NFKC", text).strip()
    t = re.sub(r"\s+0{1,2}:0{2}(:0{2})?$", "", t)  # '1990-03-15 00:00:00' from a spreadsheet
    m = re.fullmatch(r"(?:\d{4}\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?", t)
    if not m:
        return None
    month, day = int(m.group(1)), int(m.group(2))
    try:
        dt.date(2000, month, day)  # a leap year, so 02-29 is a valid birthday
    except ValueError:
        return None
    return f"{month:02d}-{day:02d}"


def _map_values(values: pd.Series, parse: Callable[[str], object]) -> tuple[pd.Series, pd.Series]:
    present = values.notna()
    out = values.map(lambda v: parse(v) if isinstance(v, str) else None).astype(object)
    return out, present & out.isna()


def parse_column(
    values: pd.Series, column: contract.Column, *, timezone: str = DEFAULT_TIMEZONE, fmt: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """Convert a text column to its contract type; returns (values, failed) with failed True where a
    non-empty value could not be converted."""
    values = values.astype(object).where(values.notna(), None)
    kind = column.type
    if kind == "timestamp":
        return parse_timestamps(values, timezone=timezone, fmt=fmt)
    if kind == "date":
        return parse_dates(values, fmt=fmt)
    if kind == "decimal":
        return _parse_money(values)
    if kind == "int":
        parsed, failed = _map_values(values, _whole)
        return parsed.astype("Int64"), failed
    if kind == "share":
        parsed, failed = _map_values(values, _share)
        return parsed.astype("float64"), failed
    if kind == "month_day":
        return _map_values(values, _month_day)
    stripped = values.astype("string").str.strip()
    text = stripped.astype(object).where(stripped.notna() & (stripped != ""), None)
    if kind == "category" and column.allowed:
        # 'Dine In' / 'DINE_IN' are the contract's dine_in; anything else stays as it is, for not_allowed.
        lookup = {a.lower(): a for a in column.allowed}
        odd = text.notna() & ~text.isin(column.allowed)
        text[odd] = text[odd].map(lambda v: lookup.get(re.sub(r"[\s-]+", "_", v.lower()), v))
    return text, pd.Series(False, index=values.index)


# -- the pandera schema of a contract table -------------------------------------------------------------


def _row_rule_checks(table: contract.Table) -> dict[str, tuple[str, Callable[[pd.DataFrame], pd.Series]]]:
    def col(df: pd.DataFrame, name: str) -> pd.Series:
        return df[name] if name in df.columns else pd.Series(pd.NA, index=df.index, dtype=object)

    rules = {
        "ends_after_start": (
            "ends_at",
            lambda df: (
                col(df, "ends_at").isna() | col(df, "starts_at").isna() | (df["ends_at"] >= df["starts_at"])
            ),
        ),
        "left_after_joined": (
            "left_at",
            lambda df: (
                col(df, "left_at").isna() | col(df, "joined_at").isna() | (df["left_at"] >= df["joined_at"])
            ),
        ),
        "member_or_group": (
            "member_id",
            lambda df: col(df, "member_id").notna() | col(df, "group_id").notna(),
        ),
    }
    unknown = [name for name, _ in table.row_rules if name not in rules]
    if unknown:  # pragma: no cover - a contract change without a validator change
        raise ContractError(
            f"The validator does not know the row rule(s) {', '.join(unknown)} of {table.name}."
        )
    return {name: rules[name] for name, _ in table.row_rules}


def contract_schema(
    table_name: str,
    *,
    columns: Collection[str] | None = None,
    now: pd.Timestamp | None = None,
    reference_keys: Mapping[str, Collection] | None = None,
) -> pa.DataFrameSchema:
    """A pandera schema for a contract table's typed rows: required values, allowed values, non-negative
    amounts, shares in 0..1, no timestamp after ``now``, references found in ``reference_keys`` (keyed
    'table.column'; a reference whose target is not given is not checked) and the row rules. Each check is
    named after its rule. ``columns`` limits the schema to the columns a file has (default: all)."""
    spec = contract.table(table_name)
    present = set(spec.column_names if columns is None else columns)
    reference_keys = reference_keys or {}
    schema_columns = {}
    for c in spec.columns:
        if c.name not in present:
            continue
        checks = []
        if c.allowed:
            checks.append(pa.Check(lambda s, a=c.allowed: s.isin(a), name="not_allowed"))
        if c.non_negative:
            checks.append(pa.Check(lambda s: s >= 0, name="negative"))
        if c.type == "share":
            checks.append(pa.Check(lambda s: (s >= 0) & (s <= 1), name="out_of_range"))
        if c.type == "timestamp" and now is not None and (table_name, c.name) not in FUTURE_ALLOWED:
            checks.append(pa.Check(lambda s, n=now: s <= n, name="future"))
        if c.references and c.references in reference_keys:
            keys = pd.Index(list(reference_keys[c.references]), dtype=object)
            checks.append(pa.Check(lambda s, k=keys: s.isin(k), name="orphan"))
        schema_columns[c.name] = pa.Column(nullable=not c.required, checks=checks, required=False)
    frame_checks = [pa.Check(fn, name=name) for name, (_, fn) in _row_rule_checks(spec).items()]
    return pa.DataFrameSchema(schema_columns, checks=frame_checks, strict=False)


# -- validating one table's rows -------------------------------------------------------------------------


class FrameValidation(NamedTuple):
    """What validate_frame returns (unpacks as ``good, quarantine, problems``).

    good        typed rows that passed every rule; index = source row numbers; contract column order
    quarantine  one row per failing source row: table_name, source_file, source_row, rule (comma-separated
                when several), column_name, reason ('; '-separated), record (JSON of the row's contract
                columns as read, personal data already removed)
    problems    one row per (column, rule): file, table, column, rule, rows, examples, message
    """

    good: pd.DataFrame
    quarantine: pd.DataFrame
    problems: pd.DataFrame


@dataclass
class _Failure:
    row: int
    rule: str
    column: str
    reason: str
    example: str


def validate_frame(
    table_name: str,
    df: pd.DataFrame,
    *,
    source_file: str,
    reference_keys: Mapping[str, Collection] | None = None,
    now=None,
    timezone: str = DEFAULT_TIMEZONE,
    datetime_format: str | Mapping[str, str] | None = None,
) -> FrameValidation:
    """Check one table's rows, as text with contract column names, against every rule at once.

    df              text (str / None) with contract column names; its index holds the 1-based source row
                    numbers (a default RangeIndex counts from 1)
    source_file     the file's name, for problems and quarantine
    reference_keys  known keys per referenced column, {'members.member_id': {...}, ...}; a reference whose
                    target is missing here is not checked. A table's references to itself (a member's
                    referrer) are checked against the store's keys given here plus this frame's.
    now             timestamps after it are 'future' (default: the current time)
    timezone        zone of times written without an offset (the mapping's, else the chain's)
    datetime_format strftime format of the file's times, one for all or {column: format}
    """
    spec = contract.table(table_name)
    frame = df.copy()
    if isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0:
        frame.index = frame.index + 1
    frame.index.name = "source_row"
    unknown = [c for c in frame.columns if c not in spec.column_names]
    if unknown:
        raise ContractError(
            f"{source_file}: {', '.join(map(str, unknown))} are not columns of {table_name}; expected some of: "
            f"{', '.join(spec.column_names)}. Rename them with a mapping."
        )
    frame = frame[[c for c in spec.column_names if c in frame.columns]]
    now_ts = _as_utc(now, timezone)
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        problems = [
            _problem(source_file, table_name, c, "missing_column", len(frame), "",
                     f"the file has no {c} column, which {table_name} requires; nothing from this file was loaded "
                     f"(it has: {', '.join(frame.columns) or 'no contract columns'})")
            for c in missing
        ]  # fmt: skip
        return FrameValidation(
            _empty_typed(spec, frame.columns), _empty_quarantine(), _problem_frame(problems)
        )

    failures: list[_Failure] = []
    typed = pd.DataFrame(index=frame.index)
    failed_cells: dict[str, pd.Series] = {}
    for name in frame.columns:
        column = spec.column(name)
        fmt = datetime_format.get(name) if isinstance(datetime_format, Mapping) else datetime_format
        values, failed = parse_column(frame[name], column, timezone=timezone, fmt=fmt)
        typed[name] = values
        failed_cells[name] = failed
        for row in failed[failed].index:
            raw = frame.at[row, name]
            failures.append(
                _Failure(
                    row, "unparseable", name, f"{name} '{raw}' is not {TYPE_WORDS[column.type]}", f"'{raw}'"
                )
            )

    refs = dict(reference_keys or {})
    for c in spec.columns:  # self-references: this frame's keys count as known
        if c.references and c.references.split(".")[0] == table_name and c.name in typed.columns:
            target = c.references.split(".")[1]
            own = set(typed[target].dropna()) if target in typed.columns else set()
            refs[c.references] = own | set(refs.get(c.references, ()))
    schema = contract_schema(table_name, columns=typed.columns, now=now_ts, reference_keys=refs)
    failures.extend(_schema_failures(schema, typed, spec, failed_cells, now_ts, timezone, refs))
    failures.extend(_duplicate_failures(typed, spec))

    bad_rows = sorted({f.row for f in failures})
    key_text = _key_text(frame, spec, bad_rows)
    quarantine = _quarantine_frame(failures, frame, table_name, source_file)
    problems = _problems_from_failures(failures, key_text, source_file, table_name, spec, now_ts, timezone)
    good = typed.drop(index=bad_rows)
    return FrameValidation(good, quarantine, problems)


def _as_utc(now, timezone: str) -> pd.Timestamp:
    ts = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if ts.tzinfo is None:
        ts = ts.tz_localize(timezone)
    return ts.tz_convert("UTC")


def _schema_failures(schema, typed, spec, failed_cells, now_ts, timezone, refs) -> list[_Failure]:
    try:
        schema.validate(typed, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    out: list[_Failure] = []
    row_rules = _row_rule_checks(spec)
    texts = dict(spec.row_rules)
    seen_row_rules: set[tuple[int, str]] = set()
    for case in cases.itertuples(index=False):
        rule, row = str(case.check), case.index
        if row is None or (isinstance(row, float) and np.isnan(row)):
            raise ContractError(f"Validating {spec.name} failed inside a check ({rule}): {case.failure_case}")
        row = int(row)
        if rule in row_rules:
            if (row, rule) in seen_row_rules:
                continue
            seen_row_rules.add((row, rule))
            column = row_rules[rule][0]
            out.append(_Failure(row, rule, column, texts[rule], ""))
            continue
        column = str(case.column)
        if rule == "not_nullable":
            if failed_cells[column].get(row, False):
                continue  # already reported as unparseable
            out.append(_Failure(row, "missing_value", column, f"{column} is empty but required", ""))
            continue
        value = typed.at[row, column]
        shown = _show(value, timezone)
        c = spec.column(column)
        reason = {
            "not_allowed": f"{column} '{shown}' is not one of: {', '.join(c.allowed)}",
            "negative": f"{column} is negative ({shown})",
            "out_of_range": f"{column} {shown} is not between 0 and 1",
            "future": f"{column} {shown} is in the future (after {_show(now_ts, timezone)})",
            "orphan": f"{column} '{shown}' is not in {c.references}",
        }.get(rule, f"{column} fails {rule}")
        out.append(
            _Failure(row, rule, column, reason, f"'{shown}'" if rule in ("not_allowed", "orphan") else shown)
        )
    return out


def _duplicate_failures(typed: pd.DataFrame, spec: contract.Table) -> list[_Failure]:
    key = [k for k in spec.key if k in typed.columns]
    if len(key) < len(spec.key) or typed.empty:
        return []
    rows = typed[typed[key].notna().all(axis=1)]
    rows = rows[rows.duplicated(subset=key, keep=False)]
    if rows.empty:
        return []
    as_text = rows.astype(str)
    signature = as_text.apply(lambda r: "\x1f".join(r), axis=1)
    key_sig = as_text[key].apply(lambda r: "\x1f".join(r), axis=1)
    out: list[_Failure] = []
    label = ", ".join(key)
    for _, group in key_sig.groupby(key_sig, sort=False):
        members = list(group.index)
        key_value = ", ".join(str(rows.at[members[0], k]) for k in key)
        if signature[members].nunique() == 1:
            first = members[0]
            for row in members[1:]:
                out.append(_Failure(row, "duplicate_row", label, f"row repeats row {first} exactly", ""))
        else:
            listed = ", ".join(str(r) for r in members[:10]) + (" ..." if len(members) > 10 else "")
            for row in members:
                out.append(
                    _Failure(
                        row,
                        "duplicate_key",
                        label,
                        f"{label} {key_value} is on rows {listed} with different values",
                        "",
                    )
                )
    return out


def _show(value, timezone: str) -> str:
    if isinstance(value, pd.Timestamp):
        return value.tz_convert(timezone).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _key_text(frame: pd.DataFrame, spec: contract.Table, rows) -> dict[int, str]:
    """'order_id=O3' for each of ``rows`` (the rows named in examples)."""
    key = [k for k in spec.key if k in frame.columns]
    if not key:
        return {}
    return {r: ", ".join(f"{k}={frame.at[r, k]}" for k in key) for r in rows}


def _quarantine_frame(failures: list[_Failure], frame: pd.DataFrame, table_name: str, source_file: str):
    if not failures:
        return _empty_quarantine()
    by_row: dict[int, list[_Failure]] = {}
    for f in failures:
        by_row.setdefault(f.row, []).append(f)
    records = []
    for row in sorted(by_row):
        fs = by_row[row]
        record = {c: frame.at[row, c] for c in frame.columns}
        records.append(
            {
                "table_name": table_name,
                "source_file": source_file,
                "source_row": row,
                "rule": ",".join(dict.fromkeys(f.rule for f in fs)),
                "column_name": ",".join(dict.fromkeys(f.column for f in fs)),
                "reason": "; ".join(dict.fromkeys(f.reason for f in fs)),
                "record": json.dumps(record, ensure_ascii=False),
            }
        )
    return pd.DataFrame(records, columns=QUARANTINE_COLUMNS)


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(columns=QUARANTINE_COLUMNS)


def _empty_typed(spec: contract.Table, columns) -> pd.DataFrame:
    out = pd.DataFrame(columns=list(columns))
    out.index.name = "source_row"
    return out


def _problem(file, table, column, rule, rows, examples, message) -> dict:
    return {"file": file, "table": table, "column": column, "rule": rule, "rows": int(rows),
            "examples": examples, "message": message}  # fmt: skip


def _problem_frame(problems: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(problems, columns=PROBLEM_COLUMNS).astype({"rows": "int64"})


def _problems_from_failures(
    failures, key_text, source_file, table_name, spec, now_ts, timezone
) -> pd.DataFrame:
    groups: dict[tuple[str, str], list[_Failure]] = {}
    for f in failures:
        groups.setdefault((f.column, f.rule), []).append(f)
    problems = []
    for (column, rule), fs in groups.items():
        rows = sorted({f.row for f in fs})
        examples = []
        for f in sorted(fs, key=lambda f: f.row)[:MAX_EXAMPLES]:
            key = key_text.get(f.row, "")
            text = f"row {f.row}" + (
                f" ({key})" if key and rule not in ("duplicate_key", "duplicate_row") else ""
            )
            examples.append(text + (f": {f.example}" if f.example else ""))
        problems.append(
            _problem(source_file, table_name, column, rule, len(rows), "; ".join(examples),
                     rule_message(rule, table_name, column, now=_show(now_ts, timezone)))
        )  # fmt: skip
    return _problem_frame(problems)


def rule_message(rule: str, table_name: str, column: str, *, now: str = "") -> str:
    """One line saying what a rule means for a column, and what to do about it."""
    spec = contract.TABLES.get(table_name)
    c = None
    if spec is not None and column in spec.column_names:
        c = spec.column(column)
    texts = dict(spec.row_rules) if spec else {}
    if rule in texts:
        return texts[rule]
    return {
        "unparseable": f"{column} values that are not {TYPE_WORDS.get(c.type, 'valid') if c else 'valid'}"
        + (" (set datetime_format in the mapping if the file uses another layout)"
           if c and c.type in ("timestamp", "date") else ""),
        "missing_value": f"{column} is empty but {table_name} requires it",
        "not_allowed": f"{column} values outside {', '.join(c.allowed) if c else 'the allowed list'} "
        "(translate them under 'values:' in the mapping)",
        "negative": f"{column} below 0",
        "out_of_range": f"{column} outside 0..1",
        "future": f"{column} after {now} (check the export's time zone and clock)",
        "orphan": f"{column} not found in {c.references if c else 'the referenced table'} (load that table, "
        "or the rows it points to, first)",
        "duplicate_key": f"the same {column} on several rows with different values; none of them was loaded",
        "duplicate_row": "exact copies of an earlier row; the first copy was loaded",
        "conflicts_with_store": f"{column} already in the store with different values; the stored row was kept",
        "missing_table": f"the store has no {table_name} rows, which the analyses need",
    }.get(rule, rule)  # fmt: skip


# -- validating a whole store ---------------------------------------------------------------------------


@dataclass
class ValidationReport:
    """Every problem found in a store or a batch of files.

    problems  DataFrame, one row per (file, table, column, rule): file, table, column, rule, rows (count),
              examples (first rows, with their keys; never personal data), message (what it means)
    source    what was validated (for the heading)
    tables    DataFrame: table, rows (rows checked per table)
    """

    problems: pd.DataFrame
    source: str = ""
    tables: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return self.problems.empty

    def format(self) -> str:
        lines = [f"Validation of {self.source}" if self.source else "Validation"]
        if self.tables is not None and not self.tables.empty:
            lines.append(
                "  tables checked: " + ", ".join(f"{r.table} {r.rows:,}" for r in self.tables.itertuples())
            )
        lines.extend(format_problems(self.problems))
        return "\n".join(lines)


def format_problems(problems: pd.DataFrame) -> list[str]:
    """Problem lines for humans: where, which rule, how many rows, what it means, first examples."""
    if problems.empty:
        return ["  no problems found"]
    lines = [f"  {len(problems)} problem(s):"]
    for p in problems.itertuples(index=False):
        where = f"{p.file}  {p.table}.{p.column}" if p.column else f"{p.file}  {p.table}"
        lines.append(f"  - {where}  [{p.rule}]  {p.rows:,} row(s): {p.message}")
        if p.examples:
            lines.append(f"      e.g. {p.examples}")
    return lines


def validate_store(source, *, now=None) -> ValidationReport:
    """Check every table of a store (DuckDB file, Parquet folder, or an open Store) against the contract:
    the same rules as loading, plus required tables present. Reports only; changes nothing.

    References are checked against the referenced table when the store has it with at least one row.
    Row numbers in examples count the table's rows in key order (1 = smallest key). Reads each table into
    memory, which suits stores up to a few million rows.
    """
    from workbench.data.readers import to_text
    from workbench.data.store import connect

    store = connect(source)
    try:
        label = store.path.name if store.path is not None else store.source
        timezone = store.settings.timezone
        problems = [
            _problem(label, name, "", "missing_table", 0, "", rule_message("missing_table", name, ""))
            for name in contract.REQUIRED_TABLES
            if not store.has(name) or store.count(name) == 0
        ]
        frames = {}
        for name in contract.LOAD_ORDER:
            if store.has(name):
                spec = contract.table(name)
                frame = store.backend.table(name).to_pandas()
                frame = frame.sort_values(list(spec.key), kind="stable").reset_index(drop=True)
                frame.index = pd.RangeIndex(1, len(frame) + 1)
                frames[name] = frame
        refs = {}
        for _, _, ref_table, ref_column in contract.references():
            if ref_table in frames and len(frames[ref_table]):
                refs[f"{ref_table}.{ref_column}"] = set(to_text(frames[ref_table][ref_column]).dropna())
        counts = []
        results = [_problem_frame(problems)]
        for name, frame in frames.items():
            text = frame.apply(to_text)
            result = validate_frame(
                name, text, source_file=label, reference_keys=refs, now=now, timezone=timezone
            )
            results.append(result.problems)
            counts.append({"table": name, "rows": len(frame)})
        merged = (
            pd.concat([r for r in results if not r.empty], ignore_index=True)
            if any(not r.empty for r in results)
            else _problem_frame([])
        )
        return ValidationReport(merged, source=label, tables=pd.DataFrame(counts, columns=["table", "rows"]))
    finally:
        if not isinstance(source, type(store)):
            store.close()
