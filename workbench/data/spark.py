"""Running the analyses on Spark: a local session for tests and laptops, and a store's tables as Spark views.

The analyses are Ibis expressions, so they run unchanged on Spark once the contract's tables are visible
to a SparkSession:

    from workbench.data import spark as wbspark
    session = wbspark.local_session()                          # or the cluster's own session
    wbspark.register_store(session, "data/demo.duckdb")        # or a folder of Parquet files
    db = wb.connect(session)
    wb.cohort_retention(db, period="month")

``wb.connect(session)`` sets ``spark.sql.session.timeZone`` to the chain's time zone (the store's
settings), which decides the local day of every order, exactly as DuckDB's ``TimeZone`` does.

PySpark is an optional extra (``pip install -e '.[spark]'``); this module imports it only when called.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from workbench.config import DEFAULT_TIMEZONE
from workbench.data import contract
from workbench.errors import InputFileError, ParameterError, WorkbenchError

# Local sessions bind the loopback interface: otherwise Spark picks a non-loopback address, which on a
# laptop behind a VPN or in a container may not be reachable from itself.
LOCAL_IP = "127.0.0.1"
# Shuffle partitions of a local session: Spark's default (200) makes every small group-by schedule 200
# tasks; a handful per core is plenty for data that fits one machine.
LOCAL_SHUFFLE_PARTITIONS = 4
# Driver memory of a local session (the driver is the whole cluster in local mode).
LOCAL_DRIVER_MEMORY = "2g"
# Tables a store keeps beside the contract tables that analyses read: the settings and data_through.
META_FILE = "_meta.json"
META_PARQUET = f"{contract.META_TABLE}.parquet"


def _pyspark():
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise WorkbenchError(
            "PySpark is not installed; install the optional extra with `pip install -e '.[spark]'` "
            "(or `make test-spark`, which does it for you). It needs Java 17."
        ) from None
    return SparkSession


def local_session(
    *,
    app_name: str = "workbench",
    timezone: str = DEFAULT_TIMEZONE,
    cores: int | None = None,
    shuffle_partitions: int = LOCAL_SHUFFLE_PARTITIONS,
    driver_memory: str = LOCAL_DRIVER_MEMORY,
    log_level: str = "ERROR",
    codegen: bool = True,
    conf: dict[str, str] | None = None,
):
    """A local-mode SparkSession with settings fit for tests and laptops (returns a pyspark SparkSession).

    - binds 127.0.0.1 (``SPARK_LOCAL_IP``, driver host and bind address), so nothing listens outside;
    - no web UI and no console progress bars (they clutter notebooks and test logs);
    - ``shuffle_partitions`` small (Spark's default of 200 is for clusters);
    - ``spark.sql.session.timeZone`` = ``timezone`` (``wb.connect`` sets it again from the store's settings);
    - ``cores`` worker threads (default: every core, ``local[*]``); ``driver_memory`` e.g. '2g';
    - Arrow for Spark <-> pandas transfers; ``log_level`` for Spark's own logging;
    - ``codegen=False`` turns off whole-stage code generation: Spark then skips compiling every query to
      Java bytecode, which is most of the time of a query on small data (tests, samples: about twice as
      fast on the test chain); keep it on for real volumes.

    ``conf`` adds or overrides any Spark setting. If a session is already running in this process, Spark
    returns it (with these settings applied where Spark allows it at runtime); stop it first for a fresh one.
    """
    for name, value, allowed_none in (
        ("cores", cores, True),
        ("shuffle_partitions", shuffle_partitions, False),
    ):
        if (value is None and allowed_none) or (
            isinstance(value, int) and not isinstance(value, bool) and value >= 1
        ):
            continue
        raise ParameterError(
            f"{name}={value!r} is not valid; expected a whole number >= 1"
            + (" or None." if allowed_none else ".")
        )
    session_cls = _pyspark()
    os.environ.setdefault("SPARK_LOCAL_IP", LOCAL_IP)
    # PySpark runs Python workers with this interpreter, never another python on the PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = f"local[{cores}]" if cores else "local[*]"
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.host": LOCAL_IP,
        "spark.driver.bindAddress": LOCAL_IP,
        "spark.driver.memory": driver_memory,
        "spark.sql.shuffle.partitions": str(int(shuffle_partitions)),
        "spark.default.parallelism": str(int(shuffle_partitions)),
        "spark.sql.session.timeZone": timezone,
        "spark.sql.codegen.wholeStage": "true" if codegen else "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
        # No Hive metastore or warehouse folder in the working directory.
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "workbench-spark-warehouse"),
    }
    settings.update(conf or {})
    builder = session_cls.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(log_level)
    return session


def session_from_configuration():
    """The SparkSession Spark's own configuration describes (``spark-defaults.conf`` in ``SPARK_CONF_DIR``,
    ``PYSPARK_SUBMIT_ARGS``, a cluster's submit settings), or the one already running in this process; what
    ``wb.connect("pyspark://...")`` opens. Python workers use this interpreter."""
    session_cls = _pyspark()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return session_cls.builder.getOrCreate()


def export_parquet(store, folder, *, tables=None) -> Path:
    """Write a store's contract tables into ``folder`` as Parquet, in the layout ``wb.connect`` reads.

    ``store`` is a DuckDB file (or anything ``wb.connect`` opens). One ``<table>.parquet`` per contract table
    present (``tables`` limits them), plus ``_meta.json`` (the settings, which ``wb.connect(folder)`` reads)
    and ``_meta.parquet`` (settings and facts such as data_through, as key / value rows). Timestamps keep
    their instant (Parquet UTC-adjusted timestamps), money its decimal type. Returns the folder.
    """
    from workbench.data.store import connect

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    db = connect(store)
    try:
        names = [n for n in (tables or db.tables) if db.has(n)]
        for name in names:
            db.backend.to_parquet(db.table(name), folder / f"{name}.parquet")
        meta = _meta_rows(db)
    finally:
        if db is not store:
            db.close()
    (folder / META_FILE).write_text(json.dumps(db.settings.as_dict(), ensure_ascii=False), encoding="utf-8")
    frame = pd.DataFrame({"key": list(meta), "value": [str(v) for v in meta.values()]})
    frame.to_parquet(folder / META_PARQUET, index=False)
    return folder


def _meta_rows(db) -> dict[str, str]:
    from workbench.data.store import read_meta

    return {**db.settings.as_dict(), **read_meta(db.backend)}


def register_store(session, source, *, parquet_dir=None, tables=None, cache: bool = False) -> list[str]:
    """Make a store's tables visible to ``session`` as temporary views named after the contract tables.

    ``source`` is a folder of Parquet files in the contract's layout (``orders.parquet`` or
    ``orders/*.parquet`` per table, optional ``_meta.json`` / ``_meta.parquet``) or a DuckDB store file, which
    is first exported to Parquet (into ``parquet_dir``, default a new temporary folder). ``tables`` limits the
    contract tables registered. The ``_meta`` view carries the settings and data_through, so
    ``wb.connect(session)`` uses the store's time zone and its last complete day. ``cache=True`` keeps the
    tables in Spark's memory once read (worth it when a session runs many analyses on data that fits).

    Returns the names of the views registered (contract tables, then ``_meta`` when present).
    Views are per session; a cluster's catalog tables with the contract's names work the same way.
    """
    path = Path(os.fspath(source))
    if path.is_file():
        target = Path(parquet_dir) if parquet_dir else Path(tempfile.mkdtemp(prefix="workbench-parquet-"))
        path = export_parquet(path, target, tables=tables)
    if not path.is_dir():
        raise InputFileError(
            f"No store at {path}: expected a DuckDB file or a folder of Parquet files (orders.parquet, ...)."
        )
    registered = []
    for name in tables or contract.TABLES:
        single, parts = path / f"{name}.parquet", path / name
        if single.exists():
            target, first = str(single), single
        elif parts.is_dir() and any(parts.glob("*.parquet")):
            target, first = str(parts), sorted(parts.glob("*.parquet"))[0]
        else:
            continue
        # The schema from the file's footer (read here, in pyarrow): Spark would otherwise run a job to
        # infer it, which costs seconds per table on a small machine.
        frame = session.read.schema(_spark_schema(first)).parquet(target)
        if cache:
            frame = frame.cache()
        frame.createOrReplaceTempView(name)
        registered.append(name)
    if not registered:
        raise InputFileError(
            f"{path} holds no contract tables: expected files such as orders.parquet or orders/*.parquet "
            f"(tables: {', '.join(contract.TABLES)})."
        )
    meta = _folder_meta(path)
    if meta:
        frame = pd.DataFrame({"key": list(meta), "value": [str(v) for v in meta.values()]})
        session.createDataFrame(frame).createOrReplaceTempView(contract.META_TABLE)
        registered.append(contract.META_TABLE)
    return registered


def _spark_schema(parquet_file: Path):
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(pq.read_schema(parquet_file))


def _folder_meta(folder: Path) -> dict[str, str]:
    meta: dict[str, str] = {}
    if (folder / META_FILE).exists():
        meta.update(json.loads((folder / META_FILE).read_text(encoding="utf-8")))
    if (folder / META_PARQUET).exists():
        m = pd.read_parquet(folder / META_PARQUET)
        meta.update(dict(zip(m["key"], m["value"], strict=True)))
    return meta


def spark_store(session, source, *, parquet_dir=None, tables=None, cache: bool = False, settings=None):
    """A Store on Spark for ``source`` (a DuckDB file or a Parquet folder), isolated in its own session.

    The tables are registered (see :func:`register_store`) in ``session.newSession()``: it shares the
    running Spark context but has its own temporary views and SQL settings (time zone included), so several
    stores can be open on one Spark at once. ``settings`` overrides the stored settings as in ``wb.connect``.

        db = spark_store(local_session(), "data/demo.duckdb", cache=True)
        wb.churn_survival(db, segment_by="vip")
    """
    from workbench.data.store import connect

    isolated = session.newSession()
    register_store(isolated, source, parquet_dir=parquet_dir, tables=tables, cache=cache)
    return connect(isolated, settings=settings)
