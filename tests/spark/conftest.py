"""One local SparkSession for every Spark test (starting one costs seconds), stopped at the end.

Each store gets its own ``session.newSession()`` (see ``workbench.data.spark.spark_store``): temporary
views and the session time zone are per store, the Spark context is shared. Without PySpark or Java the
tests are skipped with the reason, except under ``make test-spark`` (``WORKBENCH_REQUIRE_SPARK=1``), where a
missing engine is a failure: CI must not pass on parity tests that never ran.
"""

from __future__ import annotations

import os
import shutil

import pytest

# Two worker threads and two shuffle partitions: the test chains are small, the machines have few cores.
TEST_CORES = 2
TEST_SHUFFLE_PARTITIONS = 2


def _unavailable(reason: str) -> None:
    if os.environ.get("WORKBENCH_REQUIRE_SPARK") == "1":
        pytest.fail(f"{reason} (WORKBENCH_REQUIRE_SPARK=1: the Spark tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _unavailable("PySpark is the optional extra: pip install -e '.[dev,spark]'")
    if shutil.which("java") is None:
        _unavailable("Spark needs Java 17 on the PATH")
    from workbench.data.spark import local_session

    session = local_session(
        app_name="workbench-tests",
        cores=TEST_CORES,
        shuffle_partitions=TEST_SHUFFLE_PARTITIONS,
        codegen=False,  # small data: compiling each query costs more than it saves
    )
    yield session
    session.stop()
