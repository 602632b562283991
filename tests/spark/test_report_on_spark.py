"""The weekly report runs on Spark as a user runs it, and publishes the tables it publishes on DuckDB.

`workbench report --data "pyspark://?tables=FOLDER"` in its own process: every notebook kernel starts the
Spark session that Spark's configuration describes (a spark-defaults.conf in SPARK_CONF_DIR, as on a
cluster's edge node) and reads the contract tables from a Parquet folder written by
``wbspark.export_parquet``. The same week is published from the DuckDB file, and every sheet of the two
tables.xlsx must hold the same rows (compared as in test_parity: floats to a relative 1e-9).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.spark.test_parity import assert_same_frame
from workbench.data import simulate
from workbench.data.spark import LOCAL_IP, export_parquet

pytestmark = pytest.mark.spark

WEEK = "2026-W47"
SPARK_DEFAULTS = """\
spark.master                          local[2]
spark.ui.enabled                      false
spark.ui.showConsoleProgress          false
spark.driver.host                     127.0.0.1
spark.driver.bindAddress              127.0.0.1
spark.sql.shuffle.partitions          2
spark.default.parallelism             2
spark.sql.codegen.wholeStage          false
spark.sql.execution.arrow.pyspark.enabled true
"""


def _report(data: str, out, env=None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "report", "--week", WEEK, "--data", data, "--out", str(out)]
        + ["--figures", "none", "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_weekly_report_on_spark_publishes_the_tables_it_publishes_on_duckdb(spark, tmp_path):
    chain = tmp_path / "chain.duckdb"
    simulate.simulate_chain(chain, members=1_500, weeks=40, seed=11, end="2026-11-22")
    folder = export_parquet(chain, tmp_path / "parquet")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(SPARK_DEFAULTS, encoding="utf-8")
    env = {**os.environ, "SPARK_CONF_DIR": str(conf), "SPARK_LOCAL_IP": LOCAL_IP}

    _report(f"pyspark://?tables={folder}", tmp_path / "on_spark", env)
    _report(str(chain), tmp_path / "on_duckdb")

    on_spark = pd.read_excel(tmp_path / "on_spark" / WEEK / "tables.xlsx", sheet_name=None)
    on_duckdb = pd.read_excel(tmp_path / "on_duckdb" / WEEK / "tables.xlsx", sheet_name=None)
    assert list(on_spark) == list(on_duckdb)
    # Every notebook that publishes a table did so, each with rows.
    assert {name.split(".")[0] for name in on_duckdb} >= {"cohorts", "repurchase", "churn", "lifecycle"}
    for name, frame in on_duckdb.items():
        assert len(frame) > 0, name
        assert_same_frame(frame, on_spark[name], name)
    pages = sorted(p.name for p in (tmp_path / "on_spark" / WEEK).glob("*.html"))
    assert pages == sorted(p.name for p in (tmp_path / "on_duckdb" / WEEK).glob("*.html"))
