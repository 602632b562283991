"""Loading a client's files into a DuckDB store: read, map, protect, validate, quarantine, write, log.

    summary = load_files(["stores.xlsx", "members.csv", "orders.csv"], into="data/client.duckdb",
                         mapping="data/samples/client.yaml")
    print(summary.format())

Each file goes through the same steps:

1. read as text (readers): CSV in UTF-8 / UTF-8 with BOM / GBK / GB18030, Excel (title rows skipped),
   Parquet, or the contract-named tables of a DuckDB file;
2. map its columns and values to the contract (mapping); hash the phone number and drop names and other
   personal columns (privacy) before anything is validated, quarantined, logged or printed;
3. validate every row (validate): rows that break a rule go to ``_quarantine`` with the reason;
4. compare with the store by key and write, in one transaction per file, with a ``_load_log`` row
   (a failure while writing one file leaves the files before it loaded and nothing of that file).

Configuration mistakes (a missing or empty file, an unknown file type, a mapping naming a column the file
does not have) raise before anything is written. Data problems do not raise: they are in the summary's
``problems`` and ``ok`` is False. A file without a required column is rejected whole; nothing from it loads.

Several files in one call load in dependency order (``contract.LOAD_ORDER``): stores, then members, then
orders, so an order can refer to a member from the same batch.

Loading again (idempotence):

- a row whose key is stored with the same values is counted as *already present* and not written again,
  so loading the same file twice adds nothing;
- a newer export that overlaps an older one adds only the new keys;
- a stored key arriving with different values is *updated* in the tables whose rows change over time
  (``UPDATABLE_TABLES``: a member's vip_since is filled in later, a coupon gets redeemed, a member leaves a
  group); only the columns the file has are overwritten. In the other tables (orders, assignments, touches:
  facts that should never change) the row is quarantined as ``conflicts_with_store`` and the stored row kept;
- a quarantined row that has been quarantined before with the same rule and values is not added again, and a
  quarantined row that later loads (its member has arrived) is released from quarantine.

Row accounting, checked for every file that is not rejected:
rows read = rows loaded (new + updated) + rows already present + rows quarantined (distinct rows).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from workbench.config import Settings
from workbench.data import calendar, contract, derived, privacy
from workbench.data.mapping import (
    MappedFrame,
    Mapping,
    TableMapping,
    apply_mapping,
    load_mapping,
    table_from_file_name,
)
from workbench.data.readers import DUCKDB_SUFFIXES, RawTable, read_source
from workbench.data.store import open_for_write
from workbench.data.validate import (
    PROBLEM_COLUMNS,
    QUARANTINE_COLUMNS,
    ValidationReport,
    format_problems,
    rule_message,
    validate_frame,
)
from workbench.errors import InputFileError, MappingError, WorkbenchError

# Tables whose rows legitimately change after they are first exported; a changed row replaces the stored one.
UPDATABLE_TABLES = ("stores", "members", "campaigns", "coupons", "groups", "group_members")


@dataclass
class FileLoad:
    """The outcome of loading one file (or one table of a DuckDB file).

    file, table, encoding      what was read, into which table, with which encoding
    rows_read                  non-blank data rows in the file
    rows_loaded                rows written: new keys plus rows_updated
    rows_updated               stored keys whose values changed (updatable tables only)
    rows_already_present       rows identical to stored ones (nothing written)
    rows_quarantined           distinct rows held in quarantine (including rows held since an earlier load)
    rows_released              rows held in quarantine by an earlier load that have now loaded
    rejected                   True when the file could not load at all (a required column is missing)
    earliest_change            orders only: the earliest ordered_at among rows written (None when none)
    problems                   file, table, column, rule, rows, examples, message
    notes                      what was done to the file: header row found, phone hashed, columns dropped
    """

    file: str
    table: str
    encoding: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_updated: int = 0
    rows_already_present: int = 0
    rows_quarantined: int = 0
    rows_released: int = 0
    rejected: bool = False
    earliest_change: pd.Timestamp | None = None
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadSummary:
    """What a call to load_files did, per file; ``format()`` for people, ``files`` / ``problems`` for code.

    files     DataFrame: file, table, encoding, rows_read, rows_loaded, rows_updated, rows_already_present,
              rows_quarantined, rejected
    problems  DataFrame: file, table, column, rule, rows, examples, message
    ok        True when there is no problem: no file rejected, no row quarantined
    rows_loaded, rows_quarantined  totals over the files

    Suggested exit codes for ``workbench load``: 0 when ok; 3 when something loaded but there are problems
    (rows quarantined or a file rejected); 2 when every file was rejected, or when load_files raised a
    WorkbenchError (nothing written).
    """

    into: str
    load_id: str
    results: list[FileLoad]

    @property
    def files(self) -> pd.DataFrame:
        cols = ["file", "table", "encoding", "rows_read", "rows_loaded", "rows_updated", "rows_already_present",
                "rows_quarantined", "rejected"]  # fmt: skip
        return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in self.results], columns=cols)

    @property
    def problems(self) -> pd.DataFrame:
        frames = [r.problems for r in self.results if not r.problems.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PROBLEM_COLUMNS)

    @property
    def report(self) -> ValidationReport:
        return ValidationReport(self.problems, source=self.into)

    @property
    def ok(self) -> bool:
        return self.problems.empty

    @property
    def rows_quarantined(self) -> int:
        return sum(r.rows_quarantined for r in self.results)

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.results)

    def format(self) -> str:
        head = ("file", "table", "encoding", "read", "loaded", "updated", "present", "quarantined")
        rows = [
            (r.file, r.table, r.encoding, f"{r.rows_read:,}",
             "rejected" if r.rejected else f"{r.rows_loaded:,}", f"{r.rows_updated:,}",
             f"{r.rows_already_present:,}", f"{r.rows_quarantined:,}")
            for r in self.results
        ]  # fmt: skip
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]

        def line(values):
            return "  " + "  ".join(
                str(v).ljust(w) if i < 3 else str(v).rjust(w)
                for i, (v, w) in enumerate(zip(values, widths, strict=True))
            )

        lines = [f"Loaded into {self.into} (load {self.load_id[:8]})", line(head)]
        lines.extend(line(r) for r in rows)
        total_q = self.rows_quarantined
        lines.append(
            f"  {self.rows_loaded:,} row(s) loaded, {total_q:,} row(s) quarantined"
            + (" (see table _quarantine for each row and its reason)" if total_q else "")
        )
        for r in self.results:
            for note in r.notes:
                lines.append(f"  note: {r.file}: {note}")
        lines.extend(format_problems(self.problems))
        return "\n".join(lines)


@dataclass
class _Prepared:
    raw: RawTable
    table: str
    entry: TableMapping | None
    mapped: MappedFrame


def load_files(
    paths, *, into, mapping=None, settings: Settings | None = None, table: str | None = None, now=None
) -> LoadSummary:
    """Load client files into the DuckDB store ``into`` (created if missing); returns a LoadSummary.

    paths     one path or a list: .csv/.tsv/.txt, .xlsx, .parquet, or a DuckDB file with contract-named tables
    into      the DuckDB store to load into
    mapping   a mapping YAML path (or its parsed dict); without one, files are named after contract tables
              (orders.csv) and use the contract's column names
    settings  time zone and currency of a new store (default: the mapping's, else Asia/Shanghai and CNY);
              an existing store keeps its own and refuses a different time zone
    table     the contract table every file goes to, when neither file names nor the mapping say
    now       timestamps after it are quarantined as 'future' (default: the current time)

    Raises InputFileError / MappingError before writing anything when a file or the mapping is wrong.
    """
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not paths:
        raise WorkbenchError("No files to load; give at least one file (CSV, Excel, Parquet or DuckDB).")
    if table is not None:
        contract.table(table)
    into = Path(into)
    parsed = load_mapping(mapping)
    salt = _existing_salt(into)
    fresh_salt = salt is None
    if fresh_salt:
        salt = privacy.new_salt()  # written beside the store only once every file has been read and mapped
    prepared = [p for path in paths for p in _prepare(Path(path), parsed, table, salt)]
    # Dependency order; the sort is stable, so files of one table keep the order they were given in.
    prepared.sort(key=lambda p: contract.LOAD_ORDER.index(p.table))

    if settings is None and not into.exists() and parsed is not None and (parsed.timezone or parsed.currency):
        settings = Settings.from_dict({"timezone": parsed.timezone, "currency": parsed.currency})
    batch_tables = {p.table for p in prepared}
    try:
        con = open_for_write(
            into, settings=settings, tables=sorted(batch_tables, key=contract.LOAD_ORDER.index)
        )
    except duckdb.Error as exc:
        raise InputFileError(
            f"{into} cannot be opened as a DuckDB store for writing ({str(exc).splitlines()[0]}). Check that it is "
            "a store made by workbench and that no other program (a notebook, a dashboard) has it open."
        ) from None
    try:
        stored = dict(con.execute(f'SELECT key, value FROM "{contract.META_TABLE}"').fetchall())
        store_settings = Settings.from_dict(stored)
        for p in prepared:
            currency = (p.entry.currency if p.entry else None) or (parsed.currency if parsed else None)
            if currency and currency != store_settings.currency:
                raise MappingError(
                    f"{p.entry.origin if p.entry else 'mapping'}: {p.raw.label} is in {currency}, but {into.name} "
                    f"holds {store_settings.currency}; amounts are not converted. Load it into a store for "
                    f"{currency}, or convert the amounts first."
                )
        if fresh_salt:
            privacy.write_salt(into, salt)
        load_id = uuid.uuid4().hex
        results = [
            _load_one(con, p, load_id=load_id, settings=store_settings, batch_tables=batch_tables, now=now,
                      mapping=parsed)
            for p in prepared
        ]  # fmt: skip
    finally:
        con.close()
    # Extend the derived tables from the local day of the earliest order written (a rebuild on the first
    # load); orders released from quarantine are not dated here, so a release rebuilds.
    changes = [r.earliest_change for r in results if r.earliest_change is not None]
    released = any(r.rows_released for r in results if r.table == "orders")
    if changes or released:
        since = None
        if changes and not released:
            since = calendar.to_local_dates(pd.Series([min(changes)]), store_settings.timezone).iloc[0]
        derived.refresh(into, since=since)
    elif any(r.table == "members" for r in results):  # a join store set or changed moves a member's visits
        derived.sync_homes(into)
    return LoadSummary(str(into), load_id, results)


def _existing_salt(into: Path) -> str | None:
    """The store's salt, or None for a store without one yet; refuses to go on when a store holds phone
    hashes made with a salt that is now lost (new hashes would not match them)."""
    salt = privacy.read_salt(into)
    if salt is not None or not into.exists():
        return salt
    try:
        con = duckdb.connect(str(into), read_only=True)
    except duckdb.Error:
        return None  # not a readable store: opening it for writing will say so
    try:
        has_members = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'members'"
        ).fetchone()[0]
        hashed = has_members and con.execute("SELECT count(phone_hash) FROM members").fetchone()[0]
    finally:
        con.close()
    if hashed:
        raise WorkbenchError(
            f"{into.name} holds phone hashes, but its salt file {privacy.salt_path(into).name} is missing, "
            f"so new hashes would not match the old ones. Put the salt file back beside the store, or set "
            f"{privacy.SALT_ENV} to the salt used before."
        )
    return None


def _prepare(path: Path, mapping: Mapping | None, table: str | None, salt: str) -> list[_Prepared]:
    name = path.name
    is_duckdb = path.suffix.lower() in DUCKDB_SUFFIXES
    entry = mapping.entry_for(name, table) if mapping is not None and not is_duckdb else None
    target = table or (entry.table if entry else None) or (None if is_duckdb else table_from_file_name(name))
    if target is None and not is_duckdb:
        known = (
            f" The mapping {mapping.origin} has: {mapping.describe_patterns()}."
            if mapping is not None
            else ""
        )
        raise MappingError(
            f"Cannot tell which table {name} holds: name the file after a table ({', '.join(contract.TABLES)}, "
            f"e.g. orders.csv), add a 'file' pattern for it to the mapping, or pass table=.{known}"
        )
    expected = list(entry.source_columns if entry else []) + (
        contract.table(target).column_names
        if target
        else sorted({c for t in contract.TABLES.values() for c in t.column_names})
    )
    raws = read_source(path, expected_columns=expected, sheet=entry.sheet if entry else None, table=table)
    out = []
    for raw in raws:
        raw_table = raw.table or target
        raw_entry = entry
        if is_duckdb and mapping is not None:
            raw_entry = mapping.entry_for(name, raw_table)
        mapped = apply_mapping(raw.frame, table=raw_table, entry=raw_entry, file_label=raw.label, salt=salt)
        out.append(_Prepared(raw, raw_table, raw_entry, mapped))
    return out


def _load_one(con, p: _Prepared, *, load_id, settings: Settings, batch_tables, now, mapping) -> FileLoad:
    spec = contract.table(p.table)
    frame = p.mapped.frame
    result = FileLoad(file=p.raw.label, table=p.table, encoding=p.raw.encoding, rows_read=len(frame))
    result.notes.extend(p.raw.notes)
    if len(frame) == 0:
        result.notes.append("no data rows under the header")
    if p.mapped.hashed:
        result.notes.append(f"phone column {p.mapped.hashed} hashed into phone_hash")
    dropped = [c for c in p.mapped.dropped if c != p.mapped.hashed]
    if dropped:
        result.notes.append(f"personal columns dropped: {', '.join(dropped)}")
    if p.mapped.ignored:
        result.notes.append(f"columns not in the contract, ignored: {', '.join(p.mapped.ignored)}")
    timezone = (
        (p.entry.timezone if p.entry else None)
        or (mapping.timezone if mapping else None)
        or settings.timezone
    )
    refs = _reference_keys(con, spec, frame.columns, batch_tables)
    good, quarantine, problems = validate_frame(
        p.table, frame, source_file=p.raw.label, reference_keys=refs, now=now, timezone=timezone,
        datetime_format=p.entry.datetime_format if p.entry else None,
    )  # fmt: skip
    result.problems = problems
    loaded_at = pd.Timestamp.now(tz="UTC")
    if (problems["rule"] == "missing_column").any():
        result.rejected = True
        _log(con, load_id, loaded_at, p, result)
        return result

    new_rows, same_rows, changed = _compare_with_store(con, spec, good)
    conflicts = pd.DataFrame()
    if p.table not in UPDATABLE_TABLES and not changed.empty:
        conflicts = changed
        changed = changed.iloc[0:0]
        quarantine, problems = _add_conflicts(quarantine, problems, conflicts, frame, spec, p.raw.label)
        result.problems = problems

    con.execute("BEGIN TRANSACTION")
    try:
        _insert(con, spec, good.loc[new_rows])
        if not changed.empty:
            _update(con, spec, good.loc[list(changed["row"])])
        loaded_rows = list(new_rows) + list(changed["row"]) + list(same_rows)
        result.rows_released = _release(con, p.table, frame.loc[loaded_rows], set(quarantine["record"]))
        _quarantine(con, quarantine, load_id, loaded_at)
        result.rows_loaded = len(new_rows) + len(changed)
        if p.table == "orders" and result.rows_loaded:
            written = good.loc[list(new_rows) + list(changed["row"]), "ordered_at"]
            result.earliest_change = pd.Timestamp(written.min())
        result.rows_updated = len(changed)
        result.rows_already_present = len(same_rows)
        result.rows_quarantined = int(quarantine["source_row"].nunique()) if not quarantine.empty else 0
        if result.rows_read != result.rows_loaded + result.rows_already_present + result.rows_quarantined:
            raise RuntimeError(  # a bug in the loader, never a user's mistake
                f"row accounting broke for {p.raw.label}: read {result.rows_read} != loaded {result.rows_loaded} "
                f"+ present {result.rows_already_present} + quarantined {result.rows_quarantined}"
            )
        _log(con, load_id, loaded_at, p, result)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if result.rows_released:
        result.notes.append(
            f"{result.rows_released} row(s) quarantined by an earlier load now loaded and released"
        )
    return result


def _table_exists(con, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?", [name]
        ).fetchone()[0]
    )


def _reference_keys(con, spec: contract.Table, columns, batch_tables) -> dict[str, set]:
    """Known keys of every table this one refers to, when that table is in the batch or holds rows."""
    refs: dict[str, set] = {}
    for c in spec.columns:
        if not c.references or c.name not in columns:
            continue
        ref_table, ref_column = c.references.split(".")
        if not _table_exists(con, ref_table):
            if ref_table in batch_tables:
                refs[c.references] = set()
            continue
        keys = {r[0] for r in con.execute(f'SELECT DISTINCT "{ref_column}" FROM "{ref_table}"').fetchall()}
        if keys or ref_table in batch_tables:
            refs[c.references] = keys
    return refs


def _arrow(spec: contract.Table, frame: pd.DataFrame, *, with_row: bool = False) -> pa.Table:
    cols = [c for c in spec.columns if c.name in frame.columns]
    fields = [pa.field(c.name, c.arrow_type) for c in cols]
    data = {c.name: frame[c.name] for c in cols}
    if with_row:
        fields.append(pa.field("_row", pa.int64()))
        data["_row"] = pd.Series(frame.index, index=frame.index, dtype="int64")
    return pa.Table.from_pandas(pd.DataFrame(data), schema=pa.schema(fields), preserve_index=False)


def _compare_with_store(con, spec: contract.Table, good: pd.DataFrame):
    """Split good rows into new keys, rows identical to the stored ones, and changed rows.

    Returns (new source rows, identical source rows, changed: DataFrame with _row and, per differing
    column, the stored value)."""
    empty = pd.DataFrame(columns=["row", "diff"])
    if good.empty:
        return [], [], empty
    key = list(spec.key)
    others = [c for c in good.columns if c not in key]
    con.register("_incoming", _arrow(spec, good, with_row=True))
    try:
        on = " AND ".join(f'i."{k}" = t."{k}"' for k in key)
        eq = "".join(f', (i."{c}" IS NOT DISTINCT FROM t."{c}") AS "_eq_{c}", CAST(t."{c}" AS VARCHAR) AS "_old_{c}"'
                     for c in others)  # fmt: skip
        cmp = con.execute(
            f'SELECT i._row, t."{key[0]}" IS NOT NULL AS _exists{eq} FROM _incoming i LEFT JOIN "{spec.name}" t ON {on}'
        ).fetchdf()
    finally:
        con.unregister("_incoming")
    cmp = cmp.drop_duplicates("_row").set_index("_row").loc[list(good.index)]
    exists = cmp["_exists"].astype(bool)
    if others:
        eq_cols = cmp[[f"_eq_{c}" for c in others]].astype(bool)
        same = exists & eq_cols.all(axis=1)
    else:
        same = exists
    new_rows = list(cmp.index[~exists])
    same_rows = list(cmp.index[same])
    changed_idx = cmp.index[exists & ~same]
    diffs = []
    for row in changed_idx:
        diff = [(c, cmp.at[row, f"_old_{c}"]) for c in others if not bool(cmp.at[row, f"_eq_{c}"])]
        diffs.append({"row": int(row), "diff": diff})
    changed = pd.DataFrame(diffs, columns=["row", "diff"]) if diffs else empty
    return new_rows, same_rows, changed


def _add_conflicts(quarantine, problems, conflicts, frame, spec, label):
    key = list(spec.key)
    label_key = ", ".join(key)
    records = []
    examples = []
    for item in conflicts.itertuples(index=False):
        row = int(item.row)
        key_text = ", ".join(f"{k}={frame.at[row, k]}" for k in key)
        stored = ", ".join(f"{c} stored {old!s}, file {frame.at[row, c]!s}" for c, old in item.diff)
        records.append(
            {
                "table_name": spec.name,
                "source_file": label,
                "source_row": row,
                "rule": "conflicts_with_store",
                "column_name": label_key,
                "reason": f"{key_text} is already in the store with other values ({stored})",
                "record": json.dumps({c: frame.at[row, c] for c in frame.columns}, ensure_ascii=False),
            }
        )
        if len(examples) < 3:
            examples.append(f"row {row} ({key_text}): {stored}")
    added = pd.DataFrame(records, columns=QUARANTINE_COLUMNS)
    quarantine = pd.concat([q for q in (quarantine, added) if not q.empty], ignore_index=True)
    problem = pd.DataFrame(
        [{"file": label, "table": spec.name, "column": label_key, "rule": "conflicts_with_store",
          "rows": len(records), "examples": "; ".join(examples),
          "message": rule_message("conflicts_with_store", spec.name, label_key)}],
        columns=PROBLEM_COLUMNS,
    )  # fmt: skip
    problems = pd.concat([q for q in (problems, problem) if not q.empty], ignore_index=True)
    return quarantine, problems


def _insert(con, spec: contract.Table, rows: pd.DataFrame) -> None:
    if rows.empty:
        return
    con.register("_new_rows", _arrow(spec, rows))
    try:
        cols = ", ".join(f'"{c}"' for c in rows.columns)
        con.execute(f'INSERT INTO "{spec.name}" ({cols}) SELECT {cols} FROM _new_rows')
    finally:
        con.unregister("_new_rows")


def _update(con, spec: contract.Table, rows: pd.DataFrame) -> None:
    key = list(spec.key)
    others = [c for c in rows.columns if c not in key]
    con.register("_changed_rows", _arrow(spec, rows))
    try:
        sets = ", ".join(f'"{c}" = u."{c}"' for c in others)
        on = " AND ".join(f'"{spec.name}"."{k}" = u."{k}"' for k in key)
        con.execute(f'UPDATE "{spec.name}" SET {sets} FROM _changed_rows u WHERE {on}')
    finally:
        con.unregister("_changed_rows")


def _record_json(frame: pd.DataFrame) -> list[str]:
    return [
        json.dumps(dict(zip(frame.columns, r, strict=True)), ensure_ascii=False)
        for r in frame.itertuples(index=False)
    ]


def _release(con, table_name: str, loaded: pd.DataFrame, keep: set[str]) -> int:
    """Remove quarantine entries of rows that have now loaded (or were already present); returns how many.

    ``keep`` are records quarantined again by this load (an exact copy of a loaded row stays held)."""
    held = con.execute(
        f'SELECT DISTINCT record FROM "{contract.QUARANTINE_TABLE}" WHERE table_name = ?', [table_name]
    ).fetchall()
    if not held or loaded.empty:
        return 0
    resolved = {r[0] for r in held} & set(_record_json(loaded))
    resolved -= keep
    if not resolved:
        return 0
    values = list(resolved)
    n = con.execute(
        f'SELECT count(*) FROM "{contract.QUARANTINE_TABLE}" WHERE table_name = ? AND list_contains(?, record)',
        [table_name, values],
    ).fetchone()[0]
    con.execute(
        f'DELETE FROM "{contract.QUARANTINE_TABLE}" WHERE table_name = ? AND list_contains(?, record)',
        [table_name, values],
    )
    return int(n)


def _quarantine(con, quarantine: pd.DataFrame, load_id: str, at: pd.Timestamp) -> None:
    """Write quarantined rows, skipping those already held with the same table, rule and values."""
    if quarantine.empty:
        return
    held = set(con.execute(f'SELECT table_name, rule, record FROM "{contract.QUARANTINE_TABLE}"').fetchall())
    fresh = quarantine[
        [(t, r, rec) not in held for t, r, rec in zip(quarantine["table_name"], quarantine["rule"],
                                                        quarantine["record"], strict=True)]
    ].copy()  # fmt: skip
    if fresh.empty:
        return
    fresh.insert(0, "load_id", load_id)
    fresh["quarantined_at"] = at.to_pydatetime()
    fresh["source_row"] = fresh["source_row"].astype("int64")
    con.register("_held_rows", fresh)
    try:
        cols = ", ".join(f'"{c}"' for c in fresh.columns)
        con.execute(f'INSERT INTO "{contract.QUARANTINE_TABLE}" ({cols}) SELECT {cols} FROM _held_rows')
    finally:
        con.unregister("_held_rows")


def _log(con, load_id: str, at: pd.Timestamp, p: _Prepared, r: FileLoad) -> None:
    con.execute(
        f'INSERT INTO "{contract.LOAD_LOG_TABLE}" (load_id, loaded_at, source_file, file_sha256, table_name, '
        "rows_read, rows_loaded, rows_already_present, rows_quarantined, rows_updated, rows_released, encoding) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, at.to_pydatetime(), r.file, p.raw.sha256, r.table, r.rows_read, r.rows_loaded,
         r.rows_already_present, r.rows_quarantined, r.rows_updated, r.rows_released, r.encoding],
    )  # fmt: skip


__all__ = ["FileLoad", "LoadSummary", "UPDATABLE_TABLES", "load_files"]
