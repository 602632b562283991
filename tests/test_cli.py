"""The command line as a user runs it: real processes, real files, exit codes, no tracebacks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


def run(*args, cwd):
    env = {**os.environ, "WORKBENCH_HASH_SALT": "test-salt"}
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], cwd=cwd, capture_output=True, text=True, env=env
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    done = run(
        "simulate", "--members", "1500", "--weeks", "20", "--seed", "3", "--out", "chain.duckdb", cwd=folder
    )
    assert done.returncode == 0, done.stderr
    return folder, done


def test_simulate_prints_a_summary_and_writes_the_truth(simulated):
    folder, done = simulated
    for word in ("stores", "members", "orders", "revenue", "campaigns"):
        assert word in done.stdout
    assert (folder / "chain.duckdb").exists() and (folder / "chain.truth.json").exists()


def test_info_summarises_a_store(simulated):
    folder, _ = simulated
    done = run("info", "chain.duckdb", cwd=folder)
    assert done.returncode == 0 and "members" in done.stdout and "1,500" in done.stdout


def test_validate_a_simulated_store_finds_no_problems(simulated):
    folder, _ = simulated
    done = run("validate", "chain.duckdb", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problems" in done.stdout


def test_loading_the_samples_quarantines_the_refund_and_exits_3(tmp_path):
    files = [str(SAMPLES / name) for name in ("stores.xlsx", "members.csv", "orders.csv")]
    done = run(
        "load", *files, "--mapping", str(SAMPLES / "client.yaml"), "--into", "client.duckdb", cwd=tmp_path
    )
    assert done.returncode == 3, done.stderr
    assert "1 row(s) quarantined" in done.stdout and "negative" in done.stdout
    assert "13800138" not in done.stdout + done.stderr  # no raw phone number is ever printed


def test_a_user_error_is_one_message_and_exit_2_without_traceback(tmp_path):
    done = run("info", "missing.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: No store at missing.duckdb")
    assert "Traceback" not in done.stderr
    (tmp_path / "sales.csv").write_text("id,total\n1,3\n", encoding="utf-8")
    done = run("load", "sales.csv", "--into", "x.duckdb", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "sales.csv" in done.stderr


def test_warm_dashboards_names_a_wrong_dashboard_and_warms_a_right_one(simulated):
    folder, _ = simulated
    done = run("warm-dashboards", "--data", "chain.duckdb", "--dashboards", "sales", cwd=folder)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "sales" in done.stderr and "overview" in done.stderr
    done = run("warm-dashboards", "--data", "chain.duckdb", "--dashboards", "campaigns", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "campaigns" in done.stdout and "computed" in done.stdout
    assert any((folder / ".workbench-cache").glob("chain-*/warm.json"))
