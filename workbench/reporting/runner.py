"""Run a report notebook with papermill: parameters checked against its ``parameters`` cell.

papermill only warns about a parameter the notebook does not declare; here it is an error (a typo such as
``segmnt_by`` would otherwise run the report with the default and nobody would notice). The kernel is
``python3`` of the current environment; the runner sets, for the kernel only:

  PLOTLY_RENDERER = "plotly_mimetype+notebook"   plotly.js embedded once per page, so the HTML works offline
  WORKBENCH_REPORT_COLLECT = <folder>             figures and tables shown are recorded there (collect.py)

A ``Kernel`` runs several notebooks in turn: starting a kernel and importing pandas, ibis, plotly and
lifelines costs 8-10 s on a 2-core machine, several times what most report notebooks compute. Before each
notebook the kernel's namespace is cleared (IPython's ``reset``), warnings are shown afresh, plotly.js is embedded
again on the notebook's first figure and execution counts restart at 1, so a notebook sees what a fresh kernel
would show, only with the modules already imported. After a failed notebook the kernel is restarted.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workbench.errors import ParameterError
from workbench.reporting.collect import COLLECT_ENV

KERNEL = "python3"
# Kernel environment for report runs (see the module docstring).
PLOTLY_RENDERER = "plotly_mimetype+notebook"
# Report kernels keep no input history (nobody reads it, and kernels at once would share one history
# database) and log errors only: ipykernel warns at every start that its loopback TCP is unencrypted, which
# would reach the output of every cron run.
KERNEL_ARGUMENTS = ["--HistoryManager.enabled=False", "--IPKernelApp.log_level=ERROR"]
# A cell running longer than this is stuck (the slowest cell, a Cox fit on a million members, takes ~1 min).
CELL_TIMEOUT_S = 1800
# Where the report notebooks live: notebooks/ at the top of the project (next to the package).
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
# Report order: the overview first, then the questions; notebooks not listed follow by name.
ORDER = ("overview", "cohorts", "repurchase", "churn", "campaigns", "lifecycle")
PARAMETERS_TAG = "parameters"


@dataclass(frozen=True)
class RunOutcome:
    """One notebook run: name, output path, seconds, ok, and on failure the cell and the error."""

    name: str
    output: Path
    seconds: float
    ok: bool
    error: str = ""
    cell: int | None = None


def available_notebooks(notebooks_dir=None) -> list[str]:
    """Names (without .ipynb) of the report notebooks in ``notebooks_dir`` (default NOTEBOOKS_DIR), in
    report order. Only notebooks with a ``parameters`` cell count; checkpoints and sub-folders do not."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS_DIR
    if not folder.is_dir():
        raise ParameterError(f"notebooks_dir={str(folder)!r} is not a folder of report notebooks.")
    names = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            notebook_parameters(path)
        except ParameterError:
            continue
        names.append(path.stem)
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))


def notebook_parameters(path) -> dict:
    """The names and default values of the ``parameters`` cell of a notebook (literals only).

    Raises ParameterError when the notebook has no such cell, or when a value is not a literal (a derived
    value in the parameters cell goes stale when papermill injects new values).
    """
    import ast

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and PARAMETERS_TAG in c.metadata.get("tags", [])]
    if not cells:
        raise ParameterError(f"{Path(path).name} has no cell tagged '{PARAMETERS_TAG}'.")
    out = {}
    for node in ast.parse(cells[0].source).body:
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            raise ParameterError(
                f"{Path(path).name}: the parameters cell may only assign literals to names; found "
                f"{ast.unparse(node)!r}."
            )
        try:
            out[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(
                f"{Path(path).name}: parameter {node.targets[0].id} = {ast.unparse(node.value)} is not a literal."
            ) from None
    return out


def check_parameters(path, parameters: dict) -> dict:
    """``parameters`` checked against the notebook: a name its parameters cell does not declare raises
    ParameterError (papermill would only warn and run with the default)."""
    declared = notebook_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(
            f"{Path(path).name} has no parameter {unknown[0]!r}; expected one of: " + ", ".join(declared)
        )
    return {k: v for k, v in parameters.items()}


def base_parameters(*, data, week: str, lang: str, anonymise: bool, client: str | None, k_min: int) -> dict:
    """The parameters every report notebook takes (the report and the slides pass these, plus any a
    notebook declares of its own): the store as a string, the ISO week, language and consultant options."""
    return {
        "data": str(data),
        "week": week,
        "lang": lang,
        "anonymise": bool(anonymise),
        "client": client,
        "k_min": k_min,
    }


def run_notebook(
    source,
    output,
    *,
    parameters: dict | None = None,
    collect_dir=None,
    cwd=None,
    timeout: int = CELL_TIMEOUT_S,
    progress: bool = False,
    kernel: Kernel | None = None,
) -> RunOutcome:
    """Execute ``source`` into ``output`` with ``parameters`` (checked first). Never raises on a failing
    cell: the outcome says which cell failed and why, and ``output`` keeps the failing cell with its error
    (papermill writes it). Raises ParameterError for an unknown parameter before anything runs.

    ``kernel``: a running ``Kernel`` to use (its working folder applies, not ``cwd``); without one, a fresh
    kernel is started in ``cwd`` (default: the notebook's folder) and shut down after."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    source, output = Path(source), Path(output)
    params = check_parameters(source, dict(parameters or {}))
    output.parent.mkdir(parents=True, exist_ok=True)
    collect = str(Path(collect_dir).resolve()) if collect_dir is not None else None
    started = time.perf_counter()
    try:
        if kernel is not None:
            kernel.prepare(collect)
            pm.execute_notebook(
                str(source),
                str(output),
                parameters=params,
                kernel_name=KERNEL,
                progress_bar=progress,
                execution_timeout=timeout,
                request_save_on_cell_execute=False,
                km=kernel.km,
            )
        else:
            env = {"PLOTLY_RENDERER": PLOTLY_RENDERER}
            if collect is not None:
                env[COLLECT_ENV] = collect
            with _kernel_env(env):
                pm.execute_notebook(
                    str(source),
                    str(output),
                    parameters=params,
                    kernel_name=KERNEL,
                    cwd=str(cwd or source.parent),
                    progress_bar=progress,
                    execution_timeout=timeout,
                    request_save_on_cell_execute=False,
                    extra_arguments=KERNEL_ARGUMENTS,
                )
    except PapermillExecutionError as exc:
        if kernel is not None:
            kernel.failed()
        return RunOutcome(
            name=source.stem,
            output=output,
            seconds=time.perf_counter() - started,
            ok=False,
            error=f"{exc.ename}: {exc.evalue}",
            cell=exc.exec_count,
        )
    except Exception as exc:  # kernel died, timeout, unreadable notebook: still one notebook's failure
        if kernel is not None:
            kernel.failed()
        return RunOutcome(
            name=source.stem,
            output=output,
            seconds=time.perf_counter() - started,
            ok=False,
            error=f"{type(exc).__name__}: {exc}",
        )
    return RunOutcome(name=source.stem, output=output, seconds=time.perf_counter() - started, ok=True)


# Run in the kernel before each notebook (see the module docstring). {collect!r} is the collect folder or None.
_PREPARE = """
get_ipython().reset(new_session=True)  # the namespace cleared, execution counts back to 1
import gc as _gc, os as _os, sys as _sys
for _m in list(_sys.modules.values()):
    _r = getattr(_m, "__warningregistry__", None)
    if isinstance(_r, dict):
        _r.clear()
if {collect!r} is None:
    _os.environ.pop({env!r}, None)
else:
    _os.environ[{env!r}] = {collect!r}
if "plotly.io" in _sys.modules:
    _sys.modules["plotly.io"].renderers.default = {renderer!r}
_gc.collect()
del _m, _r, _gc, _os, _sys
"""


_START_LOCK = threading.Lock()


class Kernel:
    """A kernel of the project's environment that runs several notebooks in turn (see the module docstring).

        with Kernel(cwd=notebooks_folder) as kernel:
            for nb in names:
                run_notebook(folder / f"{nb}.ipynb", out / f"{nb}.ipynb", parameters=..., kernel=kernel)

    It starts on first use, in ``cwd``, with the report's renderer; it is shut down on leaving the block.
    """

    def __init__(self, cwd, *, startup_timeout: int = 120):
        self.cwd = str(Path(cwd).resolve())
        self.startup_timeout = startup_timeout
        self.km = None
        self._restart = False

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def failed(self) -> None:
        """The last notebook failed: start afresh before the next (a cell may still be running, or the
        kernel may have died)."""
        self._restart = True

    def prepare(self, collect: str | None) -> None:
        """Start the kernel if needed, then reset it for the next notebook (namespace, warnings, renderer,
        execution count, collect folder)."""
        from nbclient.util import run_sync

        if self.km is not None and (self._restart or not run_sync(self.km.is_alive)()):
            self.shutdown()
        if self.km is None:
            with _START_LOCK:  # kernels started at once in one process can be given the same ports
                self._start()
        self._restart = False
        code = _PREPARE.format(collect=collect, env=COLLECT_ENV, renderer=PLOTLY_RENDERER)
        reply = run_sync(self._execute)(code)
        if reply["content"].get("status") != "ok":
            content = reply["content"]
            raise RuntimeError(
                f"could not reset the report kernel: {content.get('ename')}: {content.get('evalue')}"
            )

    async def _execute(self, code: str) -> dict:
        client = self.km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=self.startup_timeout)
            return await client.execute_interactive(
                code, store_history=False, timeout=self.startup_timeout, output_hook=lambda msg: None
            )
        finally:
            client.stop_channels()

    def _start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from nbclient.util import run_sync

        km = AsyncKernelManager(kernel_name=KERNEL)
        env = {**os.environ, "PLOTLY_RENDERER": PLOTLY_RENDERER}
        env.pop(COLLECT_ENV, None)
        run_sync(km.start_kernel)(cwd=self.cwd, env=env, extra_arguments=KERNEL_ARGUMENTS)
        self.km = km

    def shutdown(self) -> None:
        """Stop the kernel (at once: nothing of it is needed any more)."""
        from nbclient.util import run_sync

        km, self.km = self.km, None
        if km is not None:
            with suppress(Exception):  # already gone
                run_sync(km.shutdown_kernel)(now=True)


def run_job(job: dict) -> RunOutcome:
    """``run_notebook(**job)``: the unit of work of a process pool (one notebook per process)."""
    return run_notebook(**job)


@contextmanager
def _kernel_env(values: dict[str, str]):
    """Set environment variables for kernels started inside the block (they inherit this process's
    environment), and restore them after. Parallel runs use one process per notebook, so this never
    races with another notebook's values."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
