"""Run a report notebook with papermill: parameters checked against its ``parameters`` cell.

papermill only warns about a parameter the notebook does not declare; here it is an error (a typo such as
``segmnt_by`` would otherwise run the report with the default and nobody would notice). The kernel is
``python3`` of the current environment; the runner sets, for the kernel only:

  PLOTLY_RENDERER = "plotly_mimetype+notebook"   plotly.js embedded once per page, so the HTML works offline
  WORKBENCH_REPORT_COLLECT = <folder>             figures and tables shown are recorded there (collect.py)
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workbench.errors import ParameterError
from workbench.reporting.collect import COLLECT_ENV

KERNEL = "python3"
# Kernel environment for report runs (see the module docstring).
PLOTLY_RENDERER = "plotly_mimetype+notebook"
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


def run_notebook(
    source,
    output,
    *,
    parameters: dict | None = None,
    collect_dir=None,
    cwd=None,
    timeout: int = CELL_TIMEOUT_S,
    progress: bool = False,
) -> RunOutcome:
    """Execute ``source`` into ``output`` with ``parameters`` (checked first). Never raises on a failing
    cell: the outcome says which cell failed and why, and ``output`` keeps the failing cell with its error
    (papermill writes it). Raises ParameterError for an unknown parameter before anything runs."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    source, output = Path(source), Path(output)
    params = check_parameters(source, dict(parameters or {}))
    output.parent.mkdir(parents=True, exist_ok=True)
    env = {"PLOTLY_RENDERER": PLOTLY_RENDERER}
    if collect_dir is not None:
        env[COLLECT_ENV] = str(Path(collect_dir).resolve())
    started = time.perf_counter()
    try:
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
            )
    except PapermillExecutionError as exc:
        return RunOutcome(
            name=source.stem,
            output=output,
            seconds=time.perf_counter() - started,
            ok=False,
            error=f"{exc.ename}: {exc.evalue}",
            cell=exc.exec_count,
        )
    except Exception as exc:  # kernel died, timeout, unreadable notebook: still one notebook's failure
        return RunOutcome(
            name=source.stem,
            output=output,
            seconds=time.perf_counter() - started,
            ok=False,
            error=f"{type(exc).__name__}: {exc}",
        )
    return RunOutcome(name=source.stem, output=output, seconds=time.perf_counter() - started, ok=True)


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
