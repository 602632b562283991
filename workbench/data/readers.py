"""Reading a client's files as text: CSV (UTF-8, UTF-8 with BOM, GBK / GB18030), Excel, Parquet, DuckDB.

Everything is read as text (``str`` or ``None``) so that nothing is lost to type guessing: a member id
'000123' keeps its zeros, a phone number is not turned into 1.38e10, a date is not read day-first. The
validator then converts each column by its contract type and records which values fail.

Each source becomes one or more :class:`RawTable`: the text frame, the encoding used, and the 1-based
data row number of every row (the first row under the header is 1; blank rows are skipped but keep their
place in the numbering, so 'row 7' is the seventh line under the header in the client's file).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data import contract
from workbench.errors import InputFileError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES + DUCKDB_SUFFIXES

# How far down a sheet or CSV the header may sit under title rows ("XX餐饮 会员导出 2026-11", a blank line).
HEADER_SEARCH_ROWS = 30
CSV_DELIMITERS = (",", "\t", ";", "|")

ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "gb18030": "GB18030 (GBK)",
    "utf-16": "UTF-16",
}


@dataclass
class RawTable:
    """One table read from a source, all text.

    source      path of the file
    label       what messages call it: the file name, or 'file.duckdb:orders' for a table of a DuckDB file
    table       contract table the source names (a DuckDB file's table), or None when the file name decides
    frame       text columns (str or None), index = 1-based data row numbers
    encoding    encoding used ('UTF-8', 'GB18030 (GBK)', 'xlsx', 'parquet', 'duckdb')
    sha256      hash of the file's bytes, for the load log
    header_row  1-based line/row of the header in the file (> 1 when title rows sit above it)
    """

    source: Path
    label: str
    table: str | None
    frame: pd.DataFrame
    encoding: str
    sha256: str
    header_row: int = 1
    notes: list[str] = field(default_factory=list)


def read_source(
    path, *, expected_columns=(), sheet: str | None = None, table: str | None = None
) -> list[RawTable]:
    """Read a file into RawTables (one per file; one per contract table for a DuckDB file).

    ``expected_columns`` are the column names the header should contain (the mapping's source columns or the
    contract's names); the first row holding most of them is taken as the header, so title rows above it
    are skipped. ``sheet`` picks an Excel sheet (default: the first). ``table`` limits a DuckDB file to one
    table. Raises InputFileError naming the file when it is missing, empty, of an unknown kind or unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path} does not exist. Check the path (and the current folder).")
    if path.is_dir():
        raise InputFileError(f"{path} is a folder; give the files inside it (e.g. {path}/*.csv).")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        hint = " Save old .xls workbooks as .xlsx first." if suffix == ".xls" else ""
        raise InputFileError(
            f"{path.name} has an unknown file type '{suffix or '(none)'}'; expected one of: "
            f"{', '.join(SUFFIXES)}.{hint}"
        )
    data = path.read_bytes()
    if not data.strip():
        raise InputFileError(
            f"{path.name} is empty (no header, no rows). Export it again from the source system."
        )
    digest = hashlib.sha256(data).hexdigest()
    expected = [str(c) for c in expected_columns]
    try:
        if suffix in CSV_SUFFIXES:
            return [_read_csv(path, data, digest, expected)]
        if suffix in EXCEL_SUFFIXES:
            return [_read_excel(path, digest, expected, sheet)]
        if suffix in PARQUET_SUFFIXES:
            return [_read_parquet(path, digest)]
        return _read_duckdb(path, digest, table)
    except InputFileError:
        raise
    except Exception as exc:  # a damaged or mislabelled file: say which, keep the library's words short
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(
            f"{path.name} cannot be read as a {suffix.lstrip('.')} file ({reason}). Open it in the program that "
            "made it and export it again, or check that the extension matches the content."
        ) from None


# -- text decoding ----------------------------------------------------------------------------------


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Decode bytes as UTF-16 (with BOM), UTF-8 (with or without BOM) or GB18030; returns (text, encoding).

    UTF-8 is tried first and strictly: GBK bytes are almost never valid UTF-8, so a file that decodes is
    UTF-8. GB18030 is a superset of GBK and GB2312. Anything else is left to charset-normalizer if installed.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" and not data.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8"
        return text, encoding
    try:  # pragma: no cover - depends on an optional package and on truly odd files
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            return str(best), best.encoding
    except ImportError:  # pragma: no cover
        pass
    raise InputFileError(  # pragma: no cover
        f"{name} is neither UTF-8 nor GBK / GB18030 text. Save it as 'CSV UTF-8' and load it again."
    )


def _read_csv(path: Path, data: bytes, digest: str, expected: list[str]) -> RawTable:
    text, encoding = decode(data, path.name)
    lines = text.splitlines()[:HEADER_SEARCH_ROWS]
    first = next((line for line in lines if line.strip()), "")
    delimiter = max(CSV_DELIMITERS, key=first.count)
    head_rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    header_index = find_header(head_rows, expected)
    frame = pd.read_csv(
        io.StringIO(text),
        sep=delimiter,
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=False,
        skiprows=header_index,
        header=0,
        engine="c",
    )
    frame.columns = _clean_header(frame.columns)
    frame = _text_frame(frame)
    return RawTable(
        source=path,
        label=path.name,
        table=None,
        frame=frame,
        encoding=ENCODING_NAMES.get(encoding, encoding),
        sha256=digest,
        header_row=header_index + 1,
    )


def find_header(rows: list[list], expected: list[str]) -> int:
    """0-based index of the header among ``rows``: the first row holding the most expected names.

    With no expected names, or none found, the first non-empty row is the header.
    """
    wanted = {_clean_name(c) for c in expected}
    best, best_hits = None, 0
    for i, row in enumerate(rows):
        hits = len(wanted & {_clean_name(c) for c in row if c is not None})
        if hits > best_hits:
            best, best_hits = i, hits
    if best is not None:
        return best
    for i, row in enumerate(rows):
        if any(c is not None and str(c).strip() for c in row):
            return i
    return 0


def _clean_name(value) -> str:
    return str(value).replace("\ufeff", "").strip()


def _clean_header(columns) -> list[str]:
    """Strip names, name empty ones 'column_N', and make duplicates unique ('x', 'x_2')."""
    out: list[str] = []
    for i, c in enumerate(columns, start=1):
        name = "" if c is None else _clean_name(c)
        if not name or name.startswith("Unnamed: "):
            name = f"column_{i}"
        base, n = name, 2
        while name in out:
            name, n = f"{base}_{n}", n + 1
        out.append(name)
    return out


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text, turn empty strings into None, drop blank rows, index by 1-based data row number."""
    frame = frame.copy()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="source_row")
    for c in frame.columns:
        frame[c] = to_text(frame[c])
    blank = frame.isna().all(axis=1) if len(frame.columns) else pd.Series(False, index=frame.index)
    return frame.loc[~blank]


# -- Excel --------------------------------------------------------------------------------------------


def _read_excel(path: Path, digest: str, expected: list[str], sheet: str | None) -> RawTable:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InputFileError(
                f"{path.name} has no sheet '{sheet}'; it has: {', '.join(book.sheetnames)}. Fix 'sheet' in the mapping."
            )
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        book.close()
    if not any(any(v is not None and str(v).strip() for v in r) for r in rows):
        raise InputFileError(f"{path.name} is empty (its first sheet has no cells). Export it again.")
    header_index = find_header(rows[:HEADER_SEARCH_ROWS], expected)
    header = rows[header_index]
    body = rows[header_index + 1 :]
    width = max([len(header)] + [len(r) for r in body])
    header = list(header) + [None] * (width - len(header))
    # Columns with neither a header nor any value (formatting beyond the table) are left out.
    used = [
        i for i in range(width) if header[i] is not None or any(i < len(r) and r[i] is not None for r in body)
    ]
    names = _clean_header([header[i] for i in used])
    values = {
        name: [_cell_text(r[i]) if i < len(r) else None for r in body]
        for name, i in zip(names, used, strict=True)
    }
    frame = _text_frame(pd.DataFrame(values, columns=names, dtype=object))
    notes = [f"header on row {header_index + 1} (title rows above it skipped)"] if header_index else []
    return RawTable(path, path.name, None, frame, "xlsx", digest, header_index + 1, notes)


def _cell_text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return _float_text(value)
    return str(value)


def _float_text(value: float):
    if np.isnan(value):
        return None
    if value.is_integer():
        return str(int(value))
    return repr(value)  # the shortest text that reads back as the same float: 1234.5, not 1234.4999999


# -- Parquet and DuckDB -------------------------------------------------------------------------------


def _read_parquet(path: Path, digest: str) -> RawTable:
    import pyarrow.parquet as pq

    frame = pq.read_table(path).to_pandas()
    frame.columns = _clean_header(frame.columns)
    return RawTable(path, path.name, None, _text_frame(frame), "parquet", digest)


def _read_duckdb(path: Path, digest: str, table: str | None) -> list[RawTable]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        names = [t for t in contract.LOAD_ORDER if t in present and (table is None or t == table)]
        if not names:
            wanted = table or ", ".join(contract.TABLES)
            raise InputFileError(
                f"{path.name} holds no contract table ({wanted}); it has: {', '.join(sorted(present)) or 'no tables'}. "
                "Rename its tables after the contract or export them as CSV with a mapping."
            )
        con.execute("SET TimeZone = 'UTC'")
        out = []
        for name in names:
            frame = con.execute(f'SELECT * FROM "{name}"').fetchdf()
            frame.columns = _clean_header(frame.columns)
            out.append(RawTable(path, f"{path.name}:{name}", name, _text_frame(frame), "duckdb", digest))
        return out
    finally:
        con.close()


def to_text(values: pd.Series) -> pd.Series:
    """A column as text (str or None), whatever its type: timestamps keep their offset, floats that are whole
    numbers lose the '.0', decimals keep their digits."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.map(lambda v: None if pd.isna(v) else v.isoformat(sep=" ")).astype(object)
    if pd.api.types.is_float_dtype(values.dtype):
        return values.map(lambda v: None if pd.isna(v) else _float_text(float(v))).astype(object)
    if values.dtype == object and values.map(type).eq(str).all():  # CSV text: strip, '' is empty
        stripped = values.str.strip()
        return stripped.where(stripped != "", None).astype(object)

    def one(v):
        if v is None or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, float):
            return _float_text(v)
        if isinstance(v, str):
            v = v.strip()
            return v or None
        if isinstance(v, decimal.Decimal):
            return None if v.is_nan() else str(v)
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        if isinstance(v, pd.Timestamp | dt.datetime):
            return v.isoformat(sep=" ")
        if isinstance(v, dt.date):
            return v.isoformat()
        return str(v)

    return values.map(one).astype(object)
