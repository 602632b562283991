"""Writing the simulated chain into a DuckDB store through Arrow.

Arrays travel as Arrow columns without copies where possible: numbers as integers, money as exact
DECIMAL(18, 2) built from integer cents, instants as UTC microseconds, categories as dictionaries. Text
identifiers ('M0000001') are formatted by DuckDB in the INSERT, which is faster than Python strings.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import numpy as np
import pyarrow as pa

from workbench.data import contract

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(contract.MONEY_PRECISION, contract.MONEY_SCALE)
# Rows per INSERT of the largest tables: bounds the memory of the Arrow copies DuckDB makes.
INSERT_CHUNK_ROWS = 4_000_000

ID_PREFIX = {
    "store": ("S", 4),
    "member": ("M", 7),
    "order": ("O", 9),
    "campaign": ("C", 2),
    "coupon": ("CP", 8),
    "group": ("G", 5),
    "touch": ("T", 9),
}


def id_width(kind: str, count: int) -> int:
    return max(ID_PREFIX[kind][1], len(str(count)))


def id_sql(column: str, kind: str, count: int) -> str:
    """SQL turning a 0-based integer column into the text id ('M0000001'); null stays null."""
    prefix = ID_PREFIX[kind][0]
    return f"'{prefix}' || lpad(CAST(\"{column}\" + 1 AS VARCHAR), {id_width(kind, count)}, '0')"


def format_id(kind: str, number: int, count: int) -> str:
    """Python twin of id_sql for one 0-based number."""
    prefix = ID_PREFIX[kind][0]
    return f"{prefix}{number + 1:0{id_width(kind, count)}d}"


INT64 = pa.int64()


def ints(values: np.ndarray, null: np.ndarray | None = None, type_: pa.DataType = INT64) -> pa.Array:
    """Integers as Arrow; ``null`` marks missing values."""
    return pa.array(np.asarray(values).astype(type_.to_pandas_dtype(), copy=False), type=type_, mask=null)


def timestamps(us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), type=TS, mask=null)


def money(cents: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Exact DECIMAL(18, 2) from integer cents (the decimal's unscaled value is the cent count)."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty(2 * len(cents), dtype=np.int64)
    words[0::2] = cents
    words[1::2] = cents >> 63  # sign extension to 128 bits
    validity = None
    if null is not None and null.any():
        validity = pa.array(~null).buffers()[1]
    return pa.Array.from_buffers(MONEY, len(cents), [validity, pa.py_buffer(words)])


def categories(codes: np.ndarray, names) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int8)), pa.array(list(names)))


def phone_hashes(phones: np.ndarray, salt: str) -> pa.Array:
    """HMAC-SHA256 hex of each phone number keyed by ``salt`` (the loader's scheme for real numbers)."""
    key = hmac.new(salt.encode("utf-8"), digestmod=hashlib.sha256)
    out = []
    for phone in phones.tolist():
        h = key.copy()
        h.update(str(phone).encode("ascii"))
        out.append(h.hexdigest())
    return pa.array(out, type=pa.string())


def insert(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table, select: dict[str, str]) -> None:
    """INSERT INTO ``table`` the contract's columns computed by ``select`` (column -> SQL over ``data``)."""
    spec = contract.table(table)
    columns = ", ".join(f'"{c}"' for c in spec.column_names)
    exprs = ", ".join(f"CAST({select[c.name]} AS {c.duckdb_type})" for c in spec.columns)
    for start in range(0, max(data.num_rows, 1), INSERT_CHUNK_ROWS):
        chunk = data.slice(start, INSERT_CHUNK_ROWS)
        con.register("incoming", chunk)
        try:
            con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {exprs} FROM incoming')
        finally:
            con.unregister("incoming")
