"""Connecting: a DuckDB file, a Parquet folder, an Ibis backend, a connection string; local days."""

import datetime as dt
import json

import ibis
import pandas as pd
import pytest

import workbench as wb
from workbench.data import calendar, store
from workbench.data.store import open_for_write, set_meta


def _tiny_store(path, timezone="Asia/Shanghai"):
    con = open_for_write(path, settings=wb.Settings(timezone=timezone))
    con.execute(
        "INSERT INTO stores VALUES ('S1', '上海人民广场店', '上海', '华东', DATE '2024-01-01', 'direct', '火锅')"
    )
    con.execute(
        "INSERT INTO members (member_id, joined_at) VALUES ('M1', TIMESTAMPTZ '2025-12-31 10:00:00+00')"
    )
    # 23:59:59 and 00:00:00 Beijing time on either side of midnight (UTC 15:59:59 / 16:00:00).
    con.execute(
        """INSERT INTO orders (order_id, store_id, ordered_at, amount, member_id) VALUES
        ('o1', 'S1', TIMESTAMPTZ '2026-01-01 15:59:59+00', 100.50, 'M1'),
        ('o2', 'S1', TIMESTAMPTZ '2026-01-01 16:00:00+00', 20.00, 'M1'),
        ('o3', 'S1', TIMESTAMPTZ '2026-01-01 16:30:00+00', 9.90, NULL)"""
    )
    set_meta(con, data_through="2026-01-02")
    con.close()
    return path


def _local_days(db):
    o = db.orders
    df = o.select(o.order_id, day=calendar.local_day(o.ordered_at)).order_by("order_id").to_pandas()
    return [pd.Timestamp(d).date() for d in df["day"]]


def test_local_day_follows_beijing_midnight(tmp_path):
    db = wb.connect(_tiny_store(tmp_path / "s.duckdb"))
    assert _local_days(db) == [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 2)]


def test_local_day_follows_the_store_time_zone(tmp_path):
    db = wb.connect(_tiny_store(tmp_path / "s.duckdb", timezone="Europe/London"))
    assert db.settings.timezone == "Europe/London"
    assert _local_days(db) == [dt.date(2026, 1, 1)] * 3


def test_connect_reads_settings_and_lists_present_tables(tmp_path):
    db = wb.connect(_tiny_store(tmp_path / "s.duckdb"))
    assert db.settings == wb.Settings()
    assert {"stores", "members", "orders"} <= set(db.tables)
    assert db.count("orders") == 3
    assert db.quarantined() == 0


def test_connect_parquet_folder_with_settings(tmp_path):
    src = wb.connect(_tiny_store(tmp_path / "s.duckdb"))
    folder = tmp_path / "parquet"
    (folder / "orders").mkdir(parents=True)
    src.stores.to_parquet(folder / "stores.parquet")
    src.members.to_parquet(folder / "members.parquet")
    src.orders.to_parquet(folder / "orders" / "part-0.parquet")
    (folder / "_meta.json").write_text(json.dumps({"timezone": "Asia/Shanghai", "currency": "CNY"}))
    db = wb.connect(folder)
    assert db.tables == ("stores", "members", "orders")
    assert db.count("orders") == 3
    assert _local_days(db) == [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 2)]


def test_connect_an_ibis_backend_and_a_connection_string(tmp_path):
    path = _tiny_store(tmp_path / "s.duckdb")
    assert wb.connect(ibis.duckdb.connect(str(path), read_only=True)).count("orders") == 3
    assert wb.connect(f"duckdb://{path}?read_only=true").count("members") == 1


def test_missing_store_says_how_to_make_one(tmp_path):
    with pytest.raises(wb.InputFileError, match="workbench simulate"):
        wb.connect(tmp_path / "nothing.duckdb")


def test_missing_table_is_named_with_what_the_store_has(tmp_path):
    path = tmp_path / "s.duckdb"
    open_for_write(path, tables=["stores", "members", "orders"]).close()
    db = wb.connect(path)
    with pytest.raises(wb.MissingTableError, match="campaign lift needs the table.s. campaigns, assignments"):
        db.require("campaigns", "assignments", needed_by="campaign lift")


def test_a_different_time_zone_cannot_be_loaded_into_an_existing_store(tmp_path):
    path = _tiny_store(tmp_path / "s.duckdb")
    with pytest.raises(wb.WorkbenchError, match="change which day every order falls on"):
        open_for_write(path, settings=wb.Settings(timezone="Europe/London"))


def test_store_summary_counts_revenue_and_days(tmp_path):
    from workbench.data.summary import store_summary

    s = store_summary(_tiny_store(tmp_path / "s.duckdb"))
    assert (s.stores, s.members, s.orders) == (1, 1, 3)
    assert s.revenue == pytest.approx(130.40)
    assert s.member_revenue_share == pytest.approx(120.50 / 130.40)
    assert (s.first_day, s.last_day) == (dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    assert "130.40 CNY" in s.format()


def test_invalid_time_zone_is_a_clear_error():
    with pytest.raises(wb.ParameterError, match="not an IANA time zone"):
        wb.Settings(timezone="Beijing")


def _memory_limit(db) -> str:
    return db.backend.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]


def test_the_engine_memory_is_capped_and_the_cap_can_be_changed(tmp_path, monkeypatch):
    # DuckDB reports the limit in GiB: 2.5 GB = 2.33 GiB, 6 GB = 5.59 GiB.
    path = _tiny_store(tmp_path / "s.duckdb")
    monkeypatch.delenv("WORKBENCH_DUCKDB_MEMORY", raising=False)
    assert _memory_limit(wb.connect(path)) == "2.3 GiB"
    monkeypatch.setenv("WORKBENCH_DUCKDB_MEMORY", "6GB")
    assert _memory_limit(wb.connect(path)) == "5.5 GiB"
    monkeypatch.setenv("WORKBENCH_DUCKDB_MEMORY", "plenty")
    with pytest.raises(wb.ParameterError, match="WORKBENCH_DUCKDB_MEMORY='plenty'"):
        wb.connect(path)


def test_computed_once_reads_the_same_rows_from_a_temporary_table_dropped_after(tmp_path):
    db = wb.connect(_tiny_store(tmp_path / "s.duckdb"))
    names = ibis.memtable({"member_id": ["M1"], "label": ["一号"]})
    expr = db.orders.join(names, "member_id").select("order_id", "label", "amount").order_by("order_id")
    with db.computed_once(expr) as once:
        temps = db.backend.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
        assert len(temps) == 1 and temps[0][0] in once.get_name()
        assert once.to_pandas().values.tolist() == expr.to_pandas().values.tolist()
        assert once.to_pandas()["order_id"].tolist() == ["o1", "o2"]  # the member's two orders
    temps = db.backend.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    assert temps == []
    db.close()


def test_a_read_only_store_remembers_a_result_and_a_writable_one_does_not(tmp_path):
    path = _tiny_store(tmp_path / "s.duckdb")
    calls = []

    def count_orders(db):
        calls.append(1)
        return db.count("orders")

    db = wb.connect(path)  # read-only: nobody can write to the file while it is open
    assert [db.remembered(("n",), lambda: count_orders(db)) for _ in range(3)] == [3, 3, 3]
    assert len(calls) == 1
    assert db.remembered(("other",), lambda: count_orders(db)) == 3 and len(calls) == 2  # a key of its own
    # only the last MEMO_SIZE results stay: the oldest key is computed again
    for i in range(store.MEMO_SIZE):
        db.remembered(("fill", i), lambda: None)
    calls.clear()
    db.remembered(("n",), lambda: count_orders(db))
    assert len(calls) == 1
    db.close()

    rw = wb.connect(path, read_only=False)
    calls.clear()
    assert rw.remembered(("n",), lambda: count_orders(rw)) == 3
    rw.backend.raw_sql("DELETE FROM orders WHERE order_id = 'o3'")
    assert rw.remembered(("n",), lambda: count_orders(rw)) == 2  # the table changed under the store
    assert len(calls) == 2
    rw.close()


@pytest.mark.parametrize(
    "url",
    [
        "pyspark://?tables=",
        "pyspark://cluster?tables=x",
        "pyspark://?tables=x&tables=y",
        "pyspark://?tables=x&db=y",
    ],
)
def test_a_spark_url_with_tables_takes_exactly_one_folder(url):
    # Rejected before any Spark session starts: the message names the form that works.
    with pytest.raises(wb.errors.ParameterError, match=r"pyspark://\?tables=FOLDER"):
        wb.connect(url)
