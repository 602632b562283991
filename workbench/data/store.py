"""Connecting to a store of the contract's tables, on DuckDB or any engine Ibis speaks.

``connect`` gives a :class:`Store`: the contract's tables as Ibis tables (``db.orders``), the chain's
settings, and the checks analyses use (``db.require("campaigns", "assignments")``).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import duckdb
import ibis

from workbench.config import Settings
from workbench.data import calendar, contract
from workbench.errors import InputFileError, MissingTableError, ParameterError, WorkbenchError

DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
META_JSON = "_meta.json"  # settings of a Parquet folder store
# Memory the embedded engine may use per process before it spills to disk (DuckDB's own default is 80% of
# RAM). 2.5 GB keeps an analysis of a 1M-member chain under 4 GB in all, and four dashboard kernels beside
# a report run within a 16 GB machine; set WORKBENCH_DUCKDB_MEMORY (e.g. "8GB") on a bigger one.
MEMORY_ENV = "WORKBENCH_DUCKDB_MEMORY"
DEFAULT_MEMORY_LIMIT = "2.5GB"
# Results Store.remembered keeps per open store (each small: a day range, a few hundred rows).
MEMO_SIZE = 64
_MEMO_LOCK = threading.Lock()


class Store:
    """The contract's tables on one engine.

    Attributes: ``backend`` (the Ibis backend), ``settings`` (time zone, currency), ``source`` (what was
    connected, for messages; never a secret), ``tables`` (contract tables present), ``path`` (the DuckDB
    file, None for other sources) and ``read_only`` (opened without write access).
    """

    def __init__(
        self, backend, *, settings: Settings, source: str, path: Path | None = None, read_only: bool = False
    ):
        self.backend = backend
        self.settings = settings
        self.source = source
        self.path = path
        self.read_only = read_only
        calendar.apply_timezone(backend, settings.timezone)
        present = set(backend.list_tables())
        self.tables = tuple(t for t in contract.TABLES if t in present)

    # -- tables -----------------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.tables

    def require(self, *names: str, needed_by: str = "this analysis") -> None:
        """Raise MissingTableError naming every contract table ``needed_by`` lacks."""
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise MissingTableError(
                f"{needed_by} needs the table(s) {', '.join(missing)}, which {self.source} does not have "
                f"(it has: {', '.join(self.tables) or 'none'}). Load them with `workbench load`."
            )

    def table(self, name: str) -> ibis.Table:
        contract.table(name)
        self.require(name)
        return self.backend.table(name)

    def __getattr__(self, name: str):
        if name in contract.TABLES:
            return self.table(name)
        raise AttributeError(name)

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute())

    @property
    def remembers(self) -> bool:
        """True when :meth:`remembered` keeps results (a DuckDB file opened read-only)."""
        return self.read_only and self.path is not None

    def remembered(self, key: tuple, compute):
        """``compute()``, kept under ``key`` while this store is open when it is a DuckDB file opened
        read-only: no one can write to the file then, so a result read from its tables stays true. The
        last MEMO_SIZE results are kept; other stores compute every time. For small results that several
        analyses of one page ask for again (the data's day range, the meta settings, a scope's churn
        threshold and coupon weeks); the caller must not change what it gets back."""
        if not self.remembers:
            return compute()
        memo = self.__dict__.setdefault("_memo", OrderedDict())
        with _MEMO_LOCK:
            if key in memo:
                memo.move_to_end(key)
                return memo[key]
        value = compute()
        with _MEMO_LOCK:
            memo[key] = value
            while len(memo) > MEMO_SIZE:
                memo.popitem(last=False)
        return value

    def recalled(self, key: tuple):
        """The result :meth:`remembered` keeps under ``key``, or None (nothing is computed)."""
        if not self.remembers:
            return None
        with _MEMO_LOCK:
            return self.__dict__.get("_memo", {}).get(key)

    @contextmanager
    def computed_once(self, expr: ibis.Table):
        """``expr`` worked out once into a temporary table for the block (DuckDB), then dropped; other
        engines get ``expr`` itself. For an intermediate result that several queries read."""
        con = getattr(self.backend, "con", None)
        if self.backend.name != "duckdb" or con is None:
            yield expr
            return
        name = f"_wb_once_{uuid.uuid4().hex}"
        table = self.backend.create_table(name, expr, temp=True)  # (registers in-memory frames expr uses)
        try:
            yield table
        finally:
            con.execute(f'DROP TABLE IF EXISTS temp."{name}"')

    def quarantined(self) -> int:
        """Rows held in quarantine (0 when the store has no quarantine table)."""
        if contract.QUARANTINE_TABLE not in self.backend.list_tables():
            return 0
        return int(self.backend.table(contract.QUARANTINE_TABLE).count().execute())

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        disconnect = getattr(self.backend, "disconnect", None)
        if disconnect is not None:
            disconnect()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.source!r}, tables={list(self.tables)}, timezone={self.settings.timezone!r})"


def connect(source, *, read_only: bool = True, settings: Settings | None = None) -> Store:
    """Open a store.

    ``source`` is one of: a DuckDB file (``data/demo.duckdb``), a folder of Parquet files in the contract's
    layout (``orders.parquet`` or ``orders/*.parquet`` per table, settings in ``_meta.json``), an Ibis
    backend, a SparkSession, or a connection string Ibis understands (``duckdb://...``, ``pyspark://``,
    ``trino://...``). ``settings`` overrides the settings stored with the data.
    """
    if isinstance(source, Store):
        return source
    if isinstance(source, ibis.BaseBackend):
        return Store(
            source, settings=settings or _settings_from_backend(source), source=f"{source.name} backend"
        )
    if _is_spark_session(source):
        backend = ibis.pyspark.connect(source)
        return Store(backend, settings=settings or _settings_from_backend(backend), source="Spark session")
    text = os.fspath(source)
    if text.startswith("pyspark://") and "tables=" in text:
        return _connect_spark_tables(text, settings)
    if "://" in text:
        backend = ibis.connect(text)
        return Store(
            backend, settings=settings or _settings_from_backend(backend), source=text.split("://")[0]
        )
    path = Path(text)
    if path.is_dir():
        return _connect_parquet_folder(path, settings)
    if not path.exists():
        raise InputFileError(
            f"No store at {path}: expected a DuckDB file or a folder of Parquet files. "
            "Create one with `workbench simulate --out PATH` or `workbench load FILE... --into PATH`."
        )
    try:
        backend = ibis.duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise InputFileError(f"{path} cannot be opened as a DuckDB store: {exc}") from None
    limit_memory(backend)
    return Store(
        backend,
        settings=settings or _settings_from_backend(backend),
        source=str(path),
        path=path,
        read_only=read_only,
    )


def _connect_spark_tables(url: str, settings: Settings | None) -> Store:
    """``pyspark://?tables=FOLDER``: the session Spark's own configuration gives (spark-defaults.conf,
    SPARK_CONF_DIR, a cluster's submit settings), with the contract tables read from FOLDER (Parquet in the
    contract's layout, as ``wbspark.export_parquet`` writes it; a folder of this machine, local or mounted)
    registered as this session's views. For a chain whose tables are files, not catalog
    tables; every notebook kernel of a report or a dashboard opens the same folder."""
    from urllib.parse import parse_qs, urlsplit

    from workbench.data import spark as wbspark

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    folders = query.pop("tables", [])
    if len(folders) != 1 or not folders[0] or query or parts.netloc or parts.path not in ("", "/"):
        raise ParameterError(
            f"{url!r} is not a Spark source workbench reads: expected pyspark://?tables=FOLDER "
            "(one folder of contract Parquet files) or pyspark:// (the session's current database)."
        )
    session = wbspark.session_from_configuration()
    wbspark.register_store(session, folders[0])
    return connect(session, settings=settings)


def _is_spark_session(obj) -> bool:
    return type(obj).__name__ == "SparkSession" and hasattr(obj, "sparkContext")


def read_meta(backend) -> dict[str, str]:
    """The ``_meta`` rows (settings and facts such as data_through) as {key: value}; {} without the table."""
    if contract.META_TABLE not in backend.list_tables():
        return {}
    m = backend.table(contract.META_TABLE).to_pandas()
    return dict(zip(m["key"], m["value"], strict=True))


def _settings_from_backend(backend) -> Settings:
    try:
        meta = read_meta(backend)
        if meta:
            return Settings.from_dict(meta)
    except WorkbenchError:
        raise
    except Exception:  # a backend without the meta table keeps defaults
        pass
    return Settings()


def limit_memory(backend) -> None:
    """Cap the embedded engine's memory at $WORKBENCH_DUCKDB_MEMORY (default DEFAULT_MEMORY_LIMIT); bigger
    intermediate results spill to disk instead of growing the process."""
    limit = os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_LIMIT).strip()
    try:
        backend.raw_sql(f"SET memory_limit = '{limit}'")
    except duckdb.Error as exc:
        raise ParameterError(
            f"{MEMORY_ENV}={limit!r} is not a memory size DuckDB accepts (e.g. 4GB): {exc}"
        ) from None


def _connect_parquet_folder(folder: Path, settings: Settings | None) -> Store:
    backend = ibis.duckdb.connect()
    limit_memory(backend)
    found = []
    for name in contract.TABLES:
        single, parts = folder / f"{name}.parquet", folder / name
        if single.exists():
            target = str(single)
        elif parts.is_dir() and any(parts.glob("*.parquet")):
            target = str(parts / "*.parquet")
        else:
            continue
        backend.raw_sql(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{target}')")
        found.append(name)
    if not found:
        raise InputFileError(
            f"{folder} holds no contract tables: expected files such as orders.parquet or orders/*.parquet "
            f"(tables: {', '.join(contract.TABLES)})."
        )
    if settings is None:
        meta = folder / META_JSON
        settings = (
            Settings.from_dict(json.loads(meta.read_text(encoding="utf-8"))) if meta.exists() else Settings()
        )
    return Store(backend, settings=settings, source=str(folder), path=folder)


# -- writing ------------------------------------------------------------------------------------------

QUARANTINE_SQL = f"""CREATE TABLE IF NOT EXISTS "{contract.QUARANTINE_TABLE}" (
  load_id VARCHAR, table_name VARCHAR, source_file VARCHAR, source_row BIGINT, rule VARCHAR,
  column_name VARCHAR, reason VARCHAR, record VARCHAR, quarantined_at TIMESTAMPTZ
)"""
LOAD_LOG_SQL = f"""CREATE TABLE IF NOT EXISTS "{contract.LOAD_LOG_TABLE}" (
  load_id VARCHAR, loaded_at TIMESTAMPTZ, source_file VARCHAR, file_sha256 VARCHAR, table_name VARCHAR,
  rows_read BIGINT, rows_loaded BIGINT, rows_already_present BIGINT, rows_quarantined BIGINT,
  rows_updated BIGINT, rows_released BIGINT, encoding VARCHAR
)"""


def open_for_write(path, *, settings: Settings | None = None, tables=None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) a DuckDB store for writing, with the contract tables, quarantine and log.

    ``tables`` limits which contract tables are created (default: all). Settings already stored win over
    ``settings`` unless the store is new; a conflicting time zone raises, since it would change every day.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    for name in tables or contract.TABLES:
        con.execute(contract.table(name).create_sql())
    con.execute(QUARANTINE_SQL)
    con.execute(LOAD_LOG_SQL)
    con.execute(
        f'CREATE TABLE IF NOT EXISTS "{contract.META_TABLE}" (key VARCHAR PRIMARY KEY, value VARCHAR)'
    )
    stored = dict(con.execute(f'SELECT key, value FROM "{contract.META_TABLE}"').fetchall())
    wanted = (settings or Settings()).as_dict()
    if stored:
        if settings is not None and stored.get("timezone") not in (None, settings.timezone):
            con.close()
            raise WorkbenchError(
                f"{path} was built with time zone {stored['timezone']}; loading with {settings.timezone} would "
                "change which day every order falls on. Use the same time zone or a new store."
            )
        wanted = {**wanted, **stored}
    con.executemany(
        f'INSERT OR REPLACE INTO "{contract.META_TABLE}" VALUES (?, ?)',
        [(k, str(v)) for k, v in wanted.items()],
    )
    con.execute(f"SET TimeZone = '{wanted['timezone']}'")
    return con


def set_meta(con: duckdb.DuckDBPyConnection, **values) -> None:
    """Record facts about the data (e.g. data_through='2026-11-22') beside the settings."""
    con.executemany(
        f'INSERT OR REPLACE INTO "{contract.META_TABLE}" VALUES (?, ?)',
        [(k, str(v)) for k, v in values.items()],
    )
