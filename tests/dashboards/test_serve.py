"""`workbench dashboard`: the Voila command line, the loopback rule, the URL, the token kept off the command
line, the landing page."""

from __future__ import annotations

import html
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from workbench import i18n
from workbench.dashboards.common import DATA_ENV
from workbench.dashboards.serve import (
    DASHBOARDS,
    LABEXTENSIONS,
    TEMPLATES,
    TOKEN_ENV,
    check_binding,
    landing_page,
    voila_command,
)
from workbench.errors import InputFileError, ParameterError
from workbench.reporting import plotlyjs


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "chain.duckdb"
    path.write_bytes(b"")
    return path


def test_loopback_needs_no_token_and_gets_the_folder(store_file, tmp_path):
    argv, env, url = voila_command(run_dir=tmp_path, data=store_file, port=8899)
    assert argv[1:3] == ["-m", "voila"] and argv[3].endswith("notebooks/dashboards")
    assert "--Voila.ip=127.0.0.1" in argv and "--port=8899" in argv and "--no-browser" in argv
    assert not any(a.startswith("--Voila.token") for a in argv)
    assert not (tmp_path / "config" / "voila.json").exists()
    assert env[DATA_ENV] == str(store_file.resolve())
    assert url == "http://127.0.0.1:8899/"


@pytest.mark.parametrize("ip", ["0.0.0.0", "192.168.1.20"])
def test_other_addresses_are_refused_without_a_token(store_file, tmp_path, ip):
    with pytest.raises(ParameterError, match="--token"):
        voila_command(run_dir=tmp_path, data=store_file, ip=ip)
    check_binding("localhost", None)  # loopback names pass


def test_a_token_goes_to_voila_in_a_private_file_not_on_the_command_line(store_file, tmp_path):
    argv, env, url = voila_command(run_dir=tmp_path, data=store_file, ip="0.0.0.0", token="s3cret", port=9000)
    assert not any("s3cret" in a for a in argv)
    assert not any("s3cret" in v for v in env.values())
    config = tmp_path / "config" / "voila.json"
    assert f"--Voila.config_file_paths={config.parent}" in argv
    assert json.loads(config.read_text()) == {"Voila": {"token": "s3cret"}}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    assert url == "http://0.0.0.0:9000/?token=s3cret"


def test_one_dashboard_by_name_and_preheat(store_file, tmp_path):
    argv, _, _ = voila_command(run_dir=tmp_path, data=store_file, dashboard="churn", preheat=True)
    assert argv[3].endswith("notebooks/dashboards/churn.ipynb")
    assert "--preheat_kernel=True" in argv
    # a used preheated kernel is replaced after a pause, not while its visitor's page is being drawn
    assert "--VoilaKernelManager.fill_delay=30" in argv
    with pytest.raises(ParameterError, match="expected one of: " + ", ".join(DASHBOARDS)):
        voila_command(run_dir=tmp_path, data=store_file, dashboard="sales")


def test_a_missing_store_is_named(tmp_path):
    with pytest.raises(InputFileError, match="workbench simulate"):
        voila_command(run_dir=tmp_path, data=tmp_path / "nowhere.duckdb")


def test_cli_refuses_the_network_without_a_token(store_file):
    run = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "dashboard", "--data", str(store_file), "--ip", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "--token" in run.stderr and "member data" in run.stderr and "Traceback" not in run.stderr
    assert TOKEN_ENV in run.stderr


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


def test_voila_loads_the_workbench_figure_renderer_in_place_of_plotlys(store_file, tmp_path):
    from jupyterlab_server.config import get_federated_extensions

    argv, _, _ = voila_command(run_dir=tmp_path, data=store_file)
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


def test_voila_uses_the_workbench_template_and_this_runs_landing_page(store_file, tmp_path):
    argv, env, _ = voila_command(run_dir=tmp_path, data=store_file)
    assert "--VoilaConfiguration.template=workbench" in argv
    paths = env["JUPYTER_PATH"].split(os.pathsep)
    assert paths[:2] == [str(tmp_path / "share"), str(TEMPLATES)]
    template = Path(paths[1]) / "voila" / "templates" / "workbench"
    assert json.loads((template / "conf.json").read_text()) == {"base_template": "lab"}
    landing = Path(paths[0]) / "voila" / "templates" / "workbench"
    for name in ("tree-lab.html", "tree.html"):
        assert (landing / name).read_text(encoding="utf-8") == landing_page()


def test_the_landing_page_lists_each_dashboard_by_its_own_title():
    page = landing_page()
    for name in DASHBOARDS:
        assert f'href="/voila/render/{name}.ipynb"' in page
        assert i18n.t(f"dash.{name}.title", "zh") in page and i18n.t(f"dash.{name}.title", "en") in page
        for lang in i18n.LANGS:
            assert html.escape(i18n.t(f"landing.{name}", lang)) in page
    assert page.count("<li ") == len(DASHBOARDS)
    assert "https://" not in page and "http://" not in page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 120) -> tuple[int, str]:
    """(status, body) of a GET that does not follow redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, ""


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


@pytest.mark.timeout(300)
def test_a_served_token_is_in_no_process_command_line_and_guards_every_page(store_file):
    secret = "tok-" + os.urandom(8).hex()
    port = _free_port()
    cmd = [sys.executable, "-m", "workbench.cli", "dashboard", "--data", str(store_file)]
    cmd += ["--port", str(port), "--no-preheat", "--no-warm"]
    env = {**os.environ, TOKEN_ENV: secret}  # the CLI's own command line shows no token either
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.3)
        children = _descendants(proc.pid)
        assert children  # the Voila server
        assert secret.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        for pid in children:
            assert secret.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
            assert secret.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
        run_dirs = [
            a.split("=", 1)[1]
            for a in Path(f"/proc/{children[0]}/cmdline").read_bytes().decode().split("\0")
            if a.startswith("--Voila.config_file_paths=")
        ]
        assert len(run_dirs) == 1 and Path(run_dirs[0]).exists()

        for path in ("/", "/voila/render/churn.ipynb", "/voila/tree/"):
            status, _ = _get(base + path)
            assert status in (302, 403), path
        assert _get(f"{base}/?token=wrong")[0] in (302, 403)
        status, landing = _get(f"{base}/?token={secret}")
        assert status == 200 and landing.startswith("<!DOCTYPE html>")
        assert all(f"/voila/render/{name}.ipynb" in landing for name in DASHBOARDS)
        # the dashboard page: nothing in it points the browser at a CDN
        status, page = _get(f"{base}/voila/render/overview.ipynb?token={secret}")
        assert status == 200 and "voila" in page.lower()
        assert "cdn.jsdelivr.net" not in page and "cdnjs.cloudflare.com" not in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    # the private folder with the token's file goes with the server
    assert not Path(run_dirs[0]).exists()
