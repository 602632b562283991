"""Serving the dashboards with Voila: what `workbench dashboard` runs.

    serve(data="data/demo.duckdb", port=8866)                 # every dashboard, behind a landing page
    serve(data=..., dashboard="churn", ip="0.0.0.0", token=secret)   # one dashboard, on the network

Voila gives every browser page its own kernel (several managers at once do not share state) and hides the
code. The store reaches the kernels through $WORKBENCH_DATA and is opened read-only, so a report run can
read the same file meanwhile. Binding to an address other than the loopback needs a token: anyone who can
reach the port could otherwise read the chain's member data. The token reaches Voila in a config file
(mode 0600, in a private folder removed when the server stops), never on its command line, where any
user of the machine could read it with `ps`.

The server's root is a landing page listing the dashboards by their titles in Chinese and English, each
with the question it answers (the Voila template ``workbench`` under ``templates/``, which also keeps the
pages from loading anything from outside the server: no foreign CDN, which mainland China may not reach).

Figures are drawn by the workbench's own renderer (``static/labextensions/workbench-plotly``, built by
``scripts/plotly-bundle``) in place of the jupyterlab-plotly extension: plotly.js with only the trace types
the dashboards draw, so a browser opening a dashboard compiles 1.5 MB of it instead of 4.8 MB, and a drawn
figure is not also turned into a PNG.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from workbench import i18n
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
# Where `workbench dashboard` also reads the token (the CLI's --token would show it to `ps`).
TOKEN_ENV = "WORKBENCH_DASHBOARD_TOKEN"
# A Jupyter data folder holding the Voila template ``workbench`` (its notebook page and landing page).
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "workbench"

i18n.register(
    {
        "landing.title": ("会员数据看板", "Member dashboards"),
        "landing.overview": (
            "本周私域会员和营收怎样，与上周、去年同期相比如何？",
            "How did members and revenue do this week, against last week and last year?",
        ),
        "landing.cohorts": (
            "各月入会的会员留下来多少，多久回来第二次？",
            "How many members of each month's intake stay, and how soon do they come back?",
        ),
        "landing.churn": (
            "哪些会员在流失，该唤醒谁？",
            "Which members are drifting away, and whom should we win back?",
        ),
        "landing.campaigns": (
            "营销活动带来了多少增量，值不值？",
            "How much did each campaign add, and did it pay off?",
        ),
    }
)


def notebooks_dir() -> Path:
    """notebooks/dashboards/ of the project (beside the package)."""
    return Path(__file__).resolve().parents[2] / "notebooks" / "dashboards"


def check_binding(ip: str, token: str | None) -> None:
    """Refuse to serve member data beyond this machine without a token."""
    if ip not in LOOPBACK and not token:
        raise ParameterError(
            f"--ip {ip} would let other machines open the dashboards, which show member data; give a "
            f"token in ${TOKEN_ENV} (or with --token SECRET, which other users can see with `ps`; visitors "
            "then open the URL with ?token=SECRET), or keep the default --ip 127.0.0.1."
        )


def dashboard_titles(name: str) -> dict[str, str]:
    """{lang: title} of a dashboard, the title its page shows."""
    importlib.import_module(f"workbench.dashboards.{name}")  # registers its labels
    return {lang: i18n.t(f"dash.{name}.title", lang) for lang in i18n.LANGS}


def landing_page() -> str:
    """The HTML of the server's root: each dashboard's title (zh, en) and what it answers, linked."""
    items = []
    for name in DASHBOARDS:
        title = dashboard_titles(name)
        items.append(
            f'<li class="wb-landing-item"><a href="/voila/render/{name}.ipynb">'
            f'<span class="zh">{html.escape(title["zh"])}</span> '
            f'<span class="en">{html.escape(title["en"])}</span></a>'
            f'<p lang="zh-CN">{html.escape(i18n.t(f"landing.{name}", "zh"))}</p>'
            f'<p lang="en">{html.escape(i18n.t(f"landing.{name}", "en"))}</p></li>'
        )
    heading = " · ".join(html.escape(i18n.t("landing.title", lang)) for lang in i18n.LANGS)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{heading}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
body {{ font-family: system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
  margin: 0; background: #f5f6f8; color: #1f2933; }}
main {{ max-width: 760px; margin: 48px auto; padding: 0 20px; }}
h1 {{ font-size: 24px; font-weight: 600; margin-bottom: 24px; }}
ul {{ list-style: none; padding: 0; }}
li {{ background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 16px 20px; margin-bottom: 14px; }}
li a {{ font-size: 19px; font-weight: 600; color: #1c5fb8; text-decoration: none; }}
li a:hover {{ text-decoration: underline; }}
li .en {{ font-weight: 400; color: #52606d; margin-left: 8px; }}
li p {{ margin: 6px 0 0; }}
li p[lang="en"] {{ color: #52606d; font-size: 14px; }}
</style></head>
<body><main><h1>{heading}</h1><ul class="wb-landing">{"".join(items)}</ul></main></body></html>
"""
    # Voila renders the page as a Jinja template: the text between raw tags is taken as it is.
    return "{% raw %}" + page + "{% endraw %}"


def prepare_run_dir(run_dir: Path, token: str | None) -> list[str]:
    """Write what one server run needs into the private folder ``run_dir`` (made 0700): the landing page
    (as the tree pages of the ``workbench`` template) and, with a token, the Voila config holding it
    (0600). Returns the Jupyter data folders to search, this run's first."""
    run_dir = Path(run_dir)
    run_dir.chmod(0o700)
    template = run_dir / "share" / "voila" / "templates" / TEMPLATE
    template.mkdir(parents=True, exist_ok=True)
    page = landing_page()
    for name in ("tree-lab.html", "tree.html"):  # Voila's default tree page, and its ?classic-tree=true one
        (template / name).write_text(page, encoding="utf-8")
    config = run_dir / "config"
    config.mkdir(exist_ok=True)
    if token:
        path = config / "voila.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"Voila": {"token": token}}, out)
    return [str(run_dir / "share"), str(TEMPLATES)]


def voila_command(
    *,
    run_dir: Path,
    data,
    port: int = DEFAULT_PORT,
    ip: str = DEFAULT_IP,
    token: str | None = None,
    dashboard: str | None = None,
    preheat: bool = False,
    notebooks: Path | None = None,
) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, URL) of the Voila server for ``dashboard`` (None: all of them, behind the
    landing page). Writes the landing page and the token's config file into ``run_dir``, a private folder
    that must live as long as the server (:func:`serve` removes it when the server stops)."""
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
        f"--VoilaConfiguration.template={TEMPLATE}",
        # Only this run's config: the token comes from there, not from this command line.
        f"--Voila.config_file_paths={Path(run_dir) / 'config'}",
    ]
    data_paths = prepare_run_dir(Path(run_dir), token)
    if preheat:
        argv += [
            "--preheat_kernel=True",
            f"--pool_size={PREHEAT_POOL}",
            f"--VoilaKernelManager.fill_delay={PREHEAT_FILL_DELAY_S}",
        ]
    env = dict(os.environ)
    env[DATA_ENV] = str(path.resolve())
    env.pop(TOKEN_ENV, None)  # Voila reads it from the config file; the kernels need it not
    env["JUPYTER_PATH"] = os.pathsep.join(data_paths + [p for p in [env.get("JUPYTER_PATH")] if p])
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
    with tempfile.TemporaryDirectory(prefix="workbench-voila-") as run_dir:
        argv, env, url = voila_command(
            run_dir=Path(run_dir),
            data=data,
            port=port,
            ip=ip,
            token=token,
            dashboard=dashboard,
            preheat=preheat,
        )
        echo(f"dashboards: {url}")
        echo(f"data: {env[DATA_ENV]} (read-only)")
        return _run(argv, env, dashboard=dashboard, warm=warm, echo=echo)


def _run(argv, env, *, dashboard, warm, echo) -> int:
    """Voila and, with ``warm``, the background run beside it, until Voila stops; Voila's exit code."""
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
