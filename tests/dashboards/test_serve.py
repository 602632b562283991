"""`workbench dashboard`: the Voila command line, the loopback rule, the URL."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.dashboards.common import DATA_ENV
from workbench.dashboards.serve import DASHBOARDS, LABEXTENSIONS, check_binding, voila_command
from workbench.errors import InputFileError, ParameterError
from workbench.reporting import plotlyjs


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "chain.duckdb"
    path.write_bytes(b"")
    return path


def test_loopback_needs_no_token_and_gets_the_folder(store_file):
    argv, env, url = voila_command(data=store_file, port=8899)
    assert argv[1:3] == ["-m", "voila"] and argv[3].endswith("notebooks/dashboards")
    assert "--Voila.ip=127.0.0.1" in argv and "--port=8899" in argv and "--no-browser" in argv
    assert not any(a.startswith("--Voila.token") for a in argv)
    assert env[DATA_ENV] == str(store_file.resolve())
    assert url == "http://127.0.0.1:8899/"


@pytest.mark.parametrize("ip", ["0.0.0.0", "192.168.1.20"])
def test_other_addresses_are_refused_without_a_token(store_file, ip):
    with pytest.raises(ParameterError, match="--token"):
        voila_command(data=store_file, ip=ip)
    check_binding("localhost", None)  # loopback names pass


def test_a_token_goes_to_voila_and_into_the_url(store_file):
    argv, _, url = voila_command(data=store_file, ip="0.0.0.0", token="s3cret", port=9000)
    assert "--Voila.token=s3cret" in argv
    assert url == "http://0.0.0.0:9000/?token=s3cret"


def test_one_dashboard_by_name_and_preheat(store_file):
    argv, _, _ = voila_command(data=store_file, dashboard="churn", preheat=True)
    assert argv[3].endswith("notebooks/dashboards/churn.ipynb")
    assert "--preheat_kernel=True" in argv
    # a used preheated kernel is replaced after a pause, not while its visitor's page is being drawn
    assert "--VoilaKernelManager.fill_delay=30" in argv
    with pytest.raises(ParameterError, match="expected one of: " + ", ".join(DASHBOARDS)):
        voila_command(data=store_file, dashboard="sales")


def test_a_missing_store_is_named(tmp_path):
    with pytest.raises(InputFileError, match="workbench simulate"):
        voila_command(data=tmp_path / "nowhere.duckdb")


def test_cli_refuses_the_network_without_a_token(store_file):
    run = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "dashboard", "--data", str(store_file), "--ip", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "--token" in run.stderr and "Traceback" not in run.stderr


def test_every_dashboard_notebook_is_a_title_and_one_call():
    import nbformat

    from workbench.dashboards.serve import notebooks_dir

    for path in sorted(notebooks_dir().glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        kinds = [c.cell_type for c in nb.cells]
        assert kinds == ["markdown", "code"], path.name
        assert nb.cells[0].source.startswith("# ")
        code = [line for line in nb.cells[1].source.splitlines() if line.strip()]
        assert len(code) == 2 and code[0].startswith("from workbench.dashboards import ")
        assert code[1].endswith("_dashboard()")
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_voila_loads_the_workbench_figure_renderer_in_place_of_plotlys(store_file):
    from jupyterlab_server.config import get_federated_extensions

    argv, _, _ = voila_command(data=store_file)
    assert f"--VoilaConfiguration.extra_labextensions_path={LABEXTENSIONS}" in argv
    assert "--VoilaConfiguration.extension_denylist=jupyterlab-plotly" in argv
    found = get_federated_extensions([str(LABEXTENSIONS)])
    assert set(found) == {"workbench-plotly"}
    build = found["workbench-plotly"]["jupyterlab"]["_build"]
    assert build["mimeExtension"] == "./mimeExtension"
    entry = (LABEXTENSIONS / "workbench-plotly" / build["load"]).read_text(encoding="utf-8")
    # the same plotly.js release and traces as the report pages' bundle
    assert entry.startswith(plotlyjs.bundle()[0][:120])
    assert 'window._JUPYTERLAB["workbench-plotly"]' in entry
