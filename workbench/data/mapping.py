"""Mapping a client's columns and values to the contract (a YAML file), and applying it to a text frame.

A mapping file, for example ``data/samples/client.yaml``::

    timezone: Asia/Shanghai          # naive times in the files are local times of this zone (default: the store's)
    currency: CNY                    # must match the store's currency; nothing is converted
    tables:
      orders:
        file: "orders*.csv"          # which files hold this table (glob on the file name; a list is fine)
        columns:                     # client column -> contract column
          订单号: order_id
          门店编号: store_id
          下单时间: ordered_at
          实付金额: amount
          会员卡号: member_id
          渠道: channel
        values:                      # contract column -> {client value: contract value}
          channel: {堂食: dine_in, 外卖: takeout_platform, 小程序: mini_program, 自提: pickup}
        datetime_format: "%Y/%m/%d %H:%M"   # optional: one format, or {column: format}
      members:
        file: "members*.csv"
        columns: {会员卡号: member_id, 注册时间: joined_at, 注册渠道: join_channel}
        phone: 手机号                # hashed into phone_hash; the number itself is never stored
        pii: [会员姓名, 备注]          # columns to drop (names, phones, addresses are dropped anyway)
        sheet: 会员                  # Excel only: the sheet to read (default: the first)

Instead of ``tables:`` keyed by table, ``files:`` may list entries that each name their ``table``; both
forms can be mixed. Without a mapping, a file named after a contract table (``orders.csv``,
``members_2026-11.xlsx``) with the contract's column names loads into that table.

Columns the file has under a contract name (``channel``) are kept even when the mapping does not list
them; every other column that is not mapped is ignored, and personal ones are dropped (see ``privacy``).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from workbench.data import contract, privacy
from workbench.errors import MappingError

TOP_KEYS = ("timezone", "currency", "datetime_format", "tables", "files")
ENTRY_KEYS = ("file", "table", "columns", "values", "timezone", "currency", "datetime_format", "pii", "phone",
              "sheet")  # fmt: skip


@dataclass(frozen=True)
class TableMapping:
    """How one client file (or every file matching ``files``) maps to the contract table ``table``."""

    table: str
    files: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    timezone: str | None = None
    currency: str | None = None
    datetime_format: str | dict[str, str] | None = None
    pii: tuple[str, ...] = ()
    phone: str | None = None
    sheet: str | None = None
    origin: str = "mapping"

    def matches(self, file_name: str) -> bool:
        name = file_name.lower()
        return any(fnmatch.fnmatch(name, pattern.lower()) for pattern in self.files)

    @property
    def source_columns(self) -> list[str]:
        """The client's column names this mapping expects in the file."""
        return list(self.columns) + ([self.phone] if self.phone else [])

    def datetime_format_for(self, column: str) -> str | None:
        if isinstance(self.datetime_format, dict):
            return self.datetime_format.get(column)
        return self.datetime_format


@dataclass(frozen=True)
class Mapping:
    """A parsed, checked mapping file: its entries and the defaults they inherit."""

    entries: tuple[TableMapping, ...]
    origin: str = "mapping"
    timezone: str | None = None
    currency: str | None = None

    def entry_for(self, file_name: str, table: str | None = None) -> TableMapping | None:
        """The entry for a file: the one whose ``file`` pattern matches its name (and ``table``, if known).

        When ``table`` is known (a DuckDB file's table, or ``table=`` given), an entry for that table without a
        ``file`` pattern also applies. None when no entry fits; MappingError when several do.
        """
        found = [e for e in self.entries if e.matches(file_name) and (table is None or e.table == table)]
        if not found and table is not None:
            found = [e for e in self.entries if e.table == table and not e.files]
        if len(found) > 1:
            raise MappingError(
                f"{self.origin}: the file {file_name} matches several entries ("
                + ", ".join(f"{e.table}: {', '.join(e.files) or 'no file pattern'}" for e in found)
                + "). Make the 'file' patterns specific enough that each file matches one."
            )
        return found[0] if found else None

    def describe_patterns(self) -> str:
        return "; ".join(f"{e.table} <- {', '.join(e.files) or '(no file pattern)'}" for e in self.entries)


def load_mapping(source) -> Mapping | None:
    """A Mapping from a YAML file path, a dict (the parsed YAML), a Mapping, or None."""
    if source is None or isinstance(source, Mapping):
        return source
    if isinstance(source, dict):
        return parse_mapping(source, origin="mapping")
    path = Path(os.fspath(source))
    if not path.exists():
        raise MappingError(f"The mapping file {path} does not exist. Check the path given with --mapping.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise MappingError(f"The mapping file {path.name} is not UTF-8 text. Save it as UTF-8.") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise MappingError(
            f"The mapping file {path.name} is not valid YAML{at}: {getattr(exc, 'problem', exc)}. "
            "Check the indentation and that every 'key: value' has a space after the colon."
        ) from None
    return parse_mapping(raw, origin=path.name)


def parse_mapping(raw, *, origin: str) -> Mapping:
    """Check a parsed mapping (unknown keys, tables, columns, values) and build a Mapping."""
    if not isinstance(raw, dict):
        raise MappingError(
            f"{origin}: expected a YAML mapping with 'tables:' (or 'files:') at the top; found {type(raw).__name__}."
        )
    _check_keys(raw, TOP_KEYS, f"{origin}: top level")
    defaults = {k: raw.get(k) for k in ("timezone", "currency", "datetime_format")}
    for key in ("timezone", "currency"):
        if defaults[key] is not None:
            _check_setting(key, defaults[key], f"{origin}: top level")
    entries: list[TableMapping] = []
    tables = raw.get("tables") or {}
    if not isinstance(tables, dict):
        raise MappingError(f"{origin}: 'tables' must map table names to their settings (orders: {{...}}).")
    for name, spec in tables.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise MappingError(f"{origin}: tables.{name} must be a mapping with file / columns / values.")
        if "table" in spec and spec["table"] != name:
            raise MappingError(
                f"{origin}: tables.{name} says table: {spec['table']}; leave 'table' out here."
            )
        entries.append(_entry({**spec, "table": name}, defaults, origin, f"tables.{name}"))
    files = raw.get("files") or []
    if not isinstance(files, list):
        raise MappingError(f"{origin}: 'files' must be a list of entries, each with file, table and columns.")
    for i, spec in enumerate(files, start=1):
        if not isinstance(spec, dict) or "table" not in spec:
            raise MappingError(
                f"{origin}: files entry {i} must be a mapping naming its 'table' (and 'file')."
            )
        entries.append(_entry(spec, defaults, origin, f"files entry {i}"))
    if not entries:
        raise MappingError(f"{origin}: no tables are mapped; add 'tables:' with at least one table.")
    return Mapping(tuple(entries), origin, defaults["timezone"], defaults["currency"])


def _entry(spec: dict, defaults: dict, origin: str, where: str) -> TableMapping:
    _check_keys(spec, ENTRY_KEYS, f"{origin}: {where}")
    name = str(spec["table"])
    if name not in contract.TABLES:
        raise MappingError(
            f"{origin}: {where} names the table '{name}', which is not in the contract; expected one of: "
            f"{', '.join(contract.TABLES)}."
        )
    spec_table = contract.TABLES[name]
    valid = spec_table.column_names
    files = spec.get("file") or ()
    files = (files,) if isinstance(files, str) else tuple(str(f) for f in files)
    columns_raw = spec.get("columns") or {}
    if not isinstance(columns_raw, dict):
        raise MappingError(
            f"{origin}: {where}.columns must map client columns to contract columns (订单号: order_id)."
        )
    columns: dict[str, str] = {}
    for source, target in columns_raw.items():
        target = str(target)
        if target not in valid:
            raise MappingError(
                f"{origin}: table {name}, column '{source}' is mapped to '{target}', which {name} does not have; "
                f"expected one of: {', '.join(valid)}."
            )
        if target in columns.values():
            other = next(s for s, t in columns.items() if t == target)
            raise MappingError(
                f"{origin}: table {name}: both '{other}' and '{source}' are mapped to {target}; keep one."
            )
        columns[str(source)] = target
    values_raw = spec.get("values") or {}
    if not isinstance(values_raw, dict):
        raise MappingError(f"{origin}: {where}.values must map a contract column to {{client value: value}}.")
    values: dict[str, dict[str, str]] = {}
    for column, pairs in values_raw.items():
        if column not in valid:
            raise MappingError(
                f"{origin}: table {name}, values are given for '{column}', which {name} does not have; "
                f"expected one of: {', '.join(valid)} (values are keyed by the contract column name)."
            )
        if not isinstance(pairs, dict):
            raise MappingError(
                f"{origin}: table {name}, values.{column} must map client values to contract values."
            )
        allowed = spec_table.column(column).allowed
        for client_value, code in pairs.items():
            if allowed and str(code) not in allowed:
                raise MappingError(
                    f"{origin}: table {name}, values.{column} maps '{client_value}' to '{code}', which is not "
                    f"allowed; expected one of: {', '.join(allowed)}."
                )
        values[column] = {_value_key(k): None if v is None else str(v) for k, v in pairs.items()}
    pii = spec.get("pii") or ()
    pii = (pii,) if isinstance(pii, str) else tuple(str(p) for p in pii)
    phone = spec.get("phone")
    if phone is not None:
        phone = str(phone)
        if name != "members":
            raise MappingError(
                f"{origin}: table {name} has 'phone: {phone}', but only members keeps a phone_hash; "
                "list the column under 'pii' to drop it instead."
            )
        if phone in columns:
            raise MappingError(
                f"{origin}: table {name}: '{phone}' is both the phone column and mapped in 'columns'; "
                "the phone is hashed into phone_hash, so remove it from 'columns'."
            )
    clash = [p for p in pii if p in columns or p == phone]
    if clash:
        raise MappingError(
            f"{origin}: table {name}: {', '.join(clash)} is listed under 'pii' (dropped) and also mapped; choose one."
        )
    settings = {k: spec.get(k, defaults.get(k)) for k in ("timezone", "currency", "datetime_format")}
    for key in ("timezone", "currency"):
        if settings[key] is not None:
            _check_setting(key, settings[key], f"{origin}: table {name}")
    fmt = settings["datetime_format"]
    if isinstance(fmt, dict):
        unknown = [c for c in fmt if c not in valid]
        if unknown:
            raise MappingError(
                f"{origin}: table {name}, datetime_format names {', '.join(unknown)}, not columns of {name}; "
                f"expected one of: {', '.join(valid)}."
            )
    elif fmt is not None and not isinstance(fmt, str):
        raise MappingError(
            f"{origin}: table {name}, datetime_format must be a format such as '%Y/%m/%d %H:%M'."
        )
    sheet = spec.get("sheet")
    return TableMapping(
        table=name,
        files=files,
        columns=columns,
        values=values,
        timezone=settings["timezone"],
        currency=settings["currency"],
        datetime_format=fmt,
        pii=pii,
        phone=phone,
        sheet=None if sheet is None else str(sheet),
        origin=origin,
    )


def _value_key(key) -> str:
    # YAML reads 1 as int and 1.0 as float; the file's text is '1'.
    if isinstance(key, float) and key.is_integer():
        key = int(key)
    return str(key).strip()


def _check_keys(spec: dict, valid: tuple[str, ...], where: str) -> None:
    unknown = [str(k) for k in spec if k not in valid]
    if unknown:
        raise MappingError(
            f"{where} has unknown key(s) {', '.join(unknown)}; expected some of: {', '.join(valid)}."
        )


def _check_setting(key: str, value, where: str) -> None:
    if key == "timezone":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(
                f"{where}: timezone '{value}' is not an IANA time zone such as Asia/Shanghai."
            ) from None
    elif key == "currency" and not (isinstance(value, str) and len(value) == 3 and value.isalpha()):
        raise MappingError(f"{where}: currency '{value}' is not an ISO 4217 code such as CNY.")


def table_from_file_name(file_name: str) -> str | None:
    """The contract table a file is named after: orders.csv, Orders_2026-11.xlsx -> 'orders'."""
    stem = Path(file_name).name.split(".")[0].lower()
    for name in sorted(contract.TABLES, key=len, reverse=True):  # group_members before groups
        if stem == name or (stem.startswith(name) and not stem[len(name)].isalpha()):
            return name
    return None


@dataclass
class MappedFrame:
    """A file's rows with contract column names, personal data removed.

    frame     text columns named like the contract (in contract order), index = source row numbers
    dropped   client columns dropped as personal data (names only)
    ignored   other client columns not mapped into the contract (names only)
    hashed    the client column hashed into phone_hash, if any
    """

    frame: pd.DataFrame
    dropped: list[str]
    ignored: list[str]
    hashed: str | None


def apply_mapping(
    frame: pd.DataFrame, *, table: str, entry: TableMapping | None, file_label: str, salt: str | None
) -> MappedFrame:
    """Rename a text frame's columns to ``table``'s contract names, hash the phone, drop personal columns and
    translate values. Raises MappingError when a mapped column is not in the file."""
    spec = contract.table(table)
    present = list(frame.columns)
    entry = entry or TableMapping(table=table)
    missing = [c for c in entry.source_columns if c not in present]
    if missing:
        raise MappingError(
            f"{entry.origin}: table {table}, the column(s) {', '.join(missing)} are not in {file_label}, which has: "
            f"{', '.join(present)}. Fix the column names in the mapping (they must match the file's header exactly)."
        )
    renamed = dict(entry.columns)
    targets = set(renamed.values())
    for c in present:  # columns the client already names like the contract
        if c in spec.column_names and c not in targets and c not in renamed:
            renamed[c] = c
    out = frame.rename(columns={s: t for s, t in renamed.items()})
    keep = set(renamed.values())
    phone = entry.phone
    notes_phone = None
    if phone is None and table == "members" and "phone_hash" not in keep:
        candidates = [c for c in present if c not in renamed and privacy.looks_like_phone_column(c)]
        if len(candidates) == 1:
            phone = candidates[0]
    out, dropped = privacy.protect(out, keep=keep, phone_column=phone, drop=entry.pii, salt=salt)
    if phone is not None:
        notes_phone = phone
        keep.add("phone_hash")
    ignored = [c for c in out.columns if c not in keep]
    out = out[[c for c in spec.column_names if c in out.columns]].copy()
    for column, pairs in entry.values.items():
        if column in out.columns:
            out[column] = out[column].map(lambda v, p=pairs: p.get(v.strip(), v) if isinstance(v, str) else v)
    return MappedFrame(out, dropped, ignored, notes_phone)
