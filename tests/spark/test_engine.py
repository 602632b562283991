"""The Spark helpers: session settings, registering a store, and the local day on Spark.

Time-zone edge (the store's zone is Asia/Shanghai, UTC+8, no daylight saving):
  M1 orders at 2026-03-01 15:59:59 UTC = 2026-03-01 23:59:59 Beijing  -> local day 1 March
            and 2026-03-01 16:00:00 UTC = 2026-03-02 00:00:00 Beijing  -> local day 2 March
  so M1 has two visits, one day apart. Read in UTC both orders fall on 1 March: one visit.
  M2 orders at 2026-03-02 01:00 UTC = 09:00 Beijing (2 March) and 2026-03-03 15:00 UTC = 23:00 Beijing
  (3 March): two visits a day apart in either zone.
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.churn import member_lifetimes
from workbench.analyses.cohorts import cohort_retention
from workbench.analyses.lift import campaign_lift
from workbench.analyses.scope import resolve_as_of
from workbench.data import contract
from workbench.data.spark import LOCAL_IP, export_parquet, local_session, register_store, spark_store
from workbench.data.visits import numbered_visits, visits
from workbench.errors import InputFileError, MissingTableError, ParameterError

pytestmark = pytest.mark.spark

MARCH_1, MARCH_2, MARCH_3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
# make_store creates every contract table (the ones not given stay empty); these are the ones with rows.
REQUIRED = ("stores", "members", "orders")


@pytest.fixture
def edge_tables(store_row):
    def order(oid, member, when, amount):
        return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}

    return {
        "stores": [store_row()],
        "members": [
            {"member_id": "M1", "joined_at": "2026-02-20 12:00"},
            {"member_id": "M2", "joined_at": "2026-02-20 12:00"},
        ],
        "orders": [
            order("o1", "M1", "2026-03-01 15:59:59+00:00", 10),
            order("o2", "M1", "2026-03-01 16:00:00+00:00", 20),
            order("o3", "M2", "2026-03-02 01:00:00+00:00", 30),
            order("o4", "M2", "2026-03-03 15:00:00+00:00", 40),
        ],
    }


def _days(db, member: str) -> list[dt.date]:
    v = visits(db)
    frame = v.filter(v.member_id == member).order_by("day").to_pandas()
    return [pd.Timestamp(d).date() for d in frame["day"]]


def test_local_session_binds_loopback_without_ui_and_with_few_partitions(spark):
    conf = spark.sparkContext.getConf()
    assert os.environ["SPARK_LOCAL_IP"] == LOCAL_IP
    assert conf.get("spark.driver.host") == LOCAL_IP
    assert conf.get("spark.ui.enabled") == "false"
    assert conf.get("spark.ui.showConsoleProgress") == "false"
    assert spark.sparkContext.uiWebUrl is None
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"  # tests/spark/conftest.py


def test_order_one_second_before_beijing_midnight_is_the_day_before(spark, make_store, edge_tables):
    db = spark_store(spark, make_store(edge_tables, data_through="2026-03-31"))
    assert db.backend.name == "pyspark"
    assert db.backend._session.conf.get("spark.sql.session.timeZone") == "Asia/Shanghai"
    assert _days(db, "M1") == [MARCH_1, MARCH_2]
    nv = numbered_visits(db)
    gaps = nv.filter(nv.member_id == "M1").order_by("day").to_pandas()["days_since_prev"].tolist()
    assert pd.isna(gaps[0]) and gaps[1] == 1


def test_local_days_on_spark_equal_duckdb_for_the_same_store(spark, make_store, edge_tables):
    path = make_store(edge_tables, data_through="2026-03-31")
    on_spark, on_duckdb = spark_store(spark, path), wb.connect(path)
    for member in ("M1", "M2"):
        assert _days(on_spark, member) == _days(on_duckdb, member)
    # The daily cohorts: M1 on 1 March (back on day 1), M2 on 2 March (back on day 1).
    table = cohort_retention(on_spark, period="day", max_age=1).table
    cells = table.set_index(["cohort", "age"])["active"]
    assert cells[(pd.Timestamp(MARCH_1), 1)] == 1
    assert cells[(pd.Timestamp(MARCH_2), 0)] == 1
    assert cells[(pd.Timestamp(MARCH_2), 1)] == 1


def test_session_zone_follows_the_store_not_the_session(spark, make_store, edge_tables):
    """A store kept in UTC puts both of M1's orders on 1 March; a Beijing store on the same Spark keeps two
    days, whatever zone the session had before wb.connect."""
    session = spark.newSession()
    session.conf.set("spark.sql.session.timeZone", "America/New_York")
    register_store(session, make_store(edge_tables, timezone="UTC", data_through="2026-03-31"))
    utc = wb.connect(session)
    beijing = spark_store(spark, make_store(edge_tables, data_through="2026-03-31"))
    assert utc.settings.timezone == "UTC"
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert _days(utc, "M1") == [MARCH_1]
    assert _days(beijing, "M1") == [MARCH_1, MARCH_2]
    # M2's orders are on 2 and 3 March in both zones (01:00 / 15:00 UTC = 09:00 / 23:00 Beijing).
    assert _days(utc, "M2") == [MARCH_2, MARCH_3]
    assert _days(beijing, "M2") == [MARCH_2, MARCH_3]
    lifetimes = member_lifetimes(utc, threshold_days=30).set_index("member_id")
    assert lifetimes.loc["M1", "visits"] == 1 and lifetimes.loc["M1", "revenue"] == 30.0


def test_registered_store_keeps_settings_and_data_through(spark, make_store, edge_tables, tmp_path):
    path = make_store(edge_tables, timezone="Asia/Shanghai", data_through="2026-03-20")
    folder = export_parquet(path, tmp_path / "parquet", tables=REQUIRED)
    assert sorted(p.name for p in folder.glob("*.parquet")) == sorted(
        [f"{n}.parquet" for n in REQUIRED] + [f"{contract.META_TABLE}.parquet"]
    )
    session = spark.newSession()
    names = register_store(session, folder)
    assert names == [*REQUIRED, contract.META_TABLE]
    db = wb.connect(session)
    assert db.tables == REQUIRED
    assert resolve_as_of(db) == dt.date(2026, 3, 20)  # data_through, not the last order's day
    assert db.count("orders") == 4
    # The folder also opens on DuckDB (wb.connect of a Parquet folder) with the same settings.
    assert wb.connect(folder).settings == db.settings


def test_missing_optional_table_on_spark_names_it(spark, make_store, edge_tables):
    db = spark_store(spark, make_store(edge_tables), tables=REQUIRED)
    with pytest.raises(MissingTableError, match="campaigns"):
        campaign_lift(db, "C1")


def test_register_store_rejects_a_folder_without_contract_tables(spark, tmp_path):
    (tmp_path / "notes.txt").write_text("no tables here", encoding="utf-8")
    with pytest.raises(InputFileError, match="orders.parquet"):
        register_store(spark.newSession(), tmp_path)
    with pytest.raises(InputFileError, match="No store"):
        register_store(spark.newSession(), tmp_path / "absent")


@pytest.mark.parametrize("bad", [{"cores": 0}, {"shuffle_partitions": 0}, {"cores": 1.5}, {"cores": True}])
def test_local_session_rejects_bad_sizes_before_starting_spark(bad):
    name = next(iter(bad))
    with pytest.raises(ParameterError, match=f"{name}=.*whole number >= 1"):
        local_session(**bad)
