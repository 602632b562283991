"""Serving the dashboards with Voila: what `workbench dashboard` runs.

    serve(data="data/demo.duckdb", port=8866)                 # every dashboard, as a tree page
    serve(data=..., dashboard="churn", ip="0.0.0.0", token=secret)   # one dashboard, on the network

Voila gives every browser page its own kernel (several managers at once do not share state) and hides the
code. The store reaches the kernels through $WORKBENCH_DATA and is opened read-only, so a report run can
read the same file meanwhile. Binding to an address other than the loopback needs a token: anyone who can
reach the port could otherwise read the chain's member data.

Figures are drawn by the workbench's own renderer (``static/labextensions/workbench-plotly``, built by
``scripts/plotly-bundle``) in place of the jupyterlab-plotly extension: plotly.js with only the trace types
the dashboards draw, so a browser opening a dashboard compiles 1.5 MB of it instead of 4.8 MB, and a drawn
figure is not also turned into a PNG.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from workbench.dashboards.common import DATA_ENV
from workbench.errors import InputFileError, ParameterError, choices_message

# Notebook names under notebooks/dashboards/ (the tree page lists them in this order by name).
DASHBOARDS = ("overview", "cohorts", "churn", "campaigns")
DEFAULT_PORT = 8866
DEFAULT_IP = "127.0.0.1"
# Addresses only this machine can reach: no token needed.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Kernels executed ahead of the first visitor per notebook when preheating (Voila's default pool is 1).
PREHEAT_POOL = 1
# Seconds before a used preheated kernel is replaced (Voila's default is 1). Filling the pool executes the
# whole dashboard in a new kernel, which on a 2-core machine would compete with the page being opened.
PREHEAT_FILL_DELAY_S = 30
# Seconds between checks of the store file for a change, after which the results are computed ahead again.
WARM_WATCH_S = 60
# The figure renderer Voila loads instead of REPLACED_EXTENSION.
LABEXTENSIONS = Path(__file__).resolve().parent / "static" / "labextensions"
REPLACED_EXTENSION = "jupyterlab-plotly"


def notebooks_dir() -> Path:
    """notebooks/dashboards/ of the project (beside the package)."""
    return Path(__file__).resolve().parents[2] / "notebooks" / "dashboards"


def check_binding(ip: str, token: str | None) -> None:
    """Refuse to serve member data beyond this machine without a token."""
    if ip not in LOOPBACK and not token:
        raise ParameterError(
            f"--ip {ip} would let other machines open the dashboards, which show member data; give a "
            "token with --token SECRET (visitors then open the URL with ?token=SECRET), or keep the "
            "default --ip 127.0.0.1."
        )


def voila_command(
    *,
    data,
    port: int = DEFAULT_PORT,
    ip: str = DEFAULT_IP,
    token: str | None = None,
    dashboard: str | None = None,
    preheat: bool = False,
    notebooks: Path | None = None,
) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, URL) of the Voila server for ``dashboard`` (None: a tree of all of them)."""
    check_binding(ip, token)
    if dashboard is not None and dashboard not in DASHBOARDS:
        raise ParameterError(choices_message("dashboard", dashboard, DASHBOARDS))
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ParameterError(f"port={port!r} is not valid; expected a whole number between 1 and 65535.")
    path = Path(os.fspath(data)).expanduser()
    if not path.exists():
        raise InputFileError(
            f"No store at {path}. Create one with `workbench simulate --out {path}` or load a client's export."
        )
    folder = Path(notebooks) if notebooks is not None else notebooks_dir()
    target = folder if dashboard is None else folder / f"{dashboard}.ipynb"
    if not target.exists():
        raise InputFileError(f"No dashboard notebook at {target}.")
    argv = [
        sys.executable,
        "-m",
        "voila",
        str(target),
        "--no-browser",
        f"--port={port}",
        "--Voila.port_retries=0",  # the port asked for, or fail: the printed URL must be the right one
        f"--Voila.ip={ip}",
        "--show_tracebacks=False",  # our dashboards show messages; anything else stays in the server log
        f"--VoilaConfiguration.extra_labextensions_path={LABEXTENSIONS}",
        f"--VoilaConfiguration.extension_denylist={REPLACED_EXTENSION}",
    ]
    if token:
        argv.append(f"--Voila.token={token}")
    if preheat:
        argv += [
            "--preheat_kernel=True",
            f"--pool_size={PREHEAT_POOL}",
            f"--VoilaKernelManager.fill_delay={PREHEAT_FILL_DELAY_S}",
        ]
    env = dict(os.environ)
    env[DATA_ENV] = str(path.resolve())
    host = f"[{ip}]" if ":" in ip else ip
    url = f"http://{host}:{port}/"
    if token:
        url += f"?token={quote(token)}"
    return argv, env, url


def serve(
    *,
    data,
    port: int = DEFAULT_PORT,
    ip: str = DEFAULT_IP,
    token: str | None = None,
    dashboard: str | None = None,
    preheat: bool = False,
    warm: bool = True,
    echo=print,
) -> int:
    """Run Voila in the foreground until Ctrl-C or SIGTERM; returns its exit code. Prints the URL first.
    ``warm``: also compute every filter value's results ahead, in a background process at the lowest CPU
    priority (:mod:`workbench.dashboards.warm`), again after each change of the store file, stopped with
    the server."""
    argv, env, url = voila_command(
        data=data, port=port, ip=ip, token=token, dashboard=dashboard, preheat=preheat
    )
    echo(f"dashboards: {url}")
    echo(f"data: {env[DATA_ENV]} (read-only)")
    proc = subprocess.Popen(argv, env=env)
    warming = None
    if warm:
        from workbench.dashboards.warm import command

        names = None if dashboard is None else [dashboard]
        warming = subprocess.Popen(
            command(env[DATA_ENV], dashboards=names, watch=WARM_WATCH_S), env=env, start_new_session=True
        )
        echo("results of every filter value: computed ahead in the background (--no-warm turns this off)")

    def forward(signum, frame):
        proc.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if warming is not None and warming.poll() is None:
            os.killpg(warming.pid, signal.SIGTERM)  # the watcher and the run it may have started
            warming.wait()
