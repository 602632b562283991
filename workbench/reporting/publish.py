"""Publish the weekly report: every report notebook run, rendered and moved into place all at once.

    publish_report(week="2026-W47", data="data/demo.duckdb", out="reports")

1. Check everything that can be checked before running: the week (complete in the data), the notebooks
   (present; their parameters cells declare every parameter passed), the options. A problem here raises
   ParameterError (``workbench report`` exits 2) and nothing is written.
2. Take the lock ``<out>/.report.lock`` (filelock). A second run on the same output folder WAITS for the
   first to finish (up to ``wait`` seconds, default LOCK_WAIT_S), then runs: two cron entries that overlap
   publish one after the other, never into each other. ``wait=0`` fails at once with ReportLocked.
3. Build in a temporary folder next to the destination (``<out>/.build-<week>-<id>``, same file system):
   execute the notebooks with papermill (in parallel, one process per notebook, ``jobs`` at a time), render
   each as HTML (code hidden, offline), export the figure pack and tables.xlsx from what the notebooks
   recorded, write manifest.json and the week's index.
4. Only if every notebook succeeded, move the build into ``<out>/<week>`` (the previous folder of that week
   is renamed aside first and deleted after), then rewrite ``<out>/index.html``. If a notebook fails, the
   previous report of the week is left untouched, the failed executed notebook (its failing cell and
   traceback visible) goes to ``<out>/_failures/<week>-<timestamp>/``, and NotebookFailed (exit code 1)
   names the notebook, the cell and the error.

Same data and parameters give the same numbers: every notebook is as of the week's Sunday, and the data
fingerprint in the manifest says whether the data changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench import i18n
from workbench.errors import ParameterError, WorkbenchError, choices_message
from workbench.reporting import runner
from workbench.reporting.anonymise import K_MIN
from workbench.reporting.export import FIGURE_FORMATS

# A second run waits this long for the first to release the output folder (an hour: longer than any
# weekly run, so overlapping cron entries queue instead of failing).
LOCK_WAIT_S = 3600
LOCK_NAME = ".report.lock"
FAILURES = "_failures"
# Notebooks run at once. Two: the machines this runs on have two cores, and each kernel is mostly busy in
# one engine query or one model fit at a time (measured in bench/report.py).
DEFAULT_JOBS = 2


class NotebookFailed(WorkbenchError):
    """A report notebook raised; the message names it, the cell and the error."""

    exit_code = 1

    def __init__(self, message: str, *, notebook: str, failures: Path | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.failures = failures


class ReportLocked(WorkbenchError):
    """Another run holds the output folder's lock."""

    exit_code = 1


@dataclass(frozen=True)
class ReportResult:
    """A published report: week, folder (``<out>/<week>``), index (the week's page), top_index
    (``<out>/index.html``), manifest (as written), seconds (wall time)."""

    week: str
    folder: Path
    index: Path
    top_index: Path
    manifest: dict = field(repr=False)
    seconds: float = 0.0


def publish_report(
    *,
    data,
    week: str | None = None,
    latest: bool = False,
    out="reports",
    lang: str = "zh",
    anonymise: bool = False,
    client: str | None = None,
    k_min: int = K_MIN,
    figures: str = "png",
    excel: bool = True,
    notebooks=None,
    notebooks_dir=None,
    parameters: dict | None = None,
    jobs: int | None = None,
    wait: float = LOCK_WAIT_S,
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """Run the report notebooks for one ISO week and publish them under ``<out>/<week>/``.

    Parameters (keyword-only)
      data           the store (a DuckDB file or anything ``wb.connect`` opens by path)
      week, latest   an ISO week ('2026-W47'), or latest=True for the last complete week of the data
      out            the reports folder (``<out>/<week>/``, ``<out>/index.html``, ``<out>/_failures/``)
      lang           'zh' or 'en': narrative, figures, index page and Excel headers
      anonymise      numbered stores, no member id anywhere, cells under ``k_min`` members hidden
      client         a client name shown in every title (white label)
      figures        'png', 'svg' or 'none': the figure pack in ``<week>/figures/``
      excel          write ``<week>/tables.xlsx`` with the key tables
      notebooks      names to run (a list or 'a,b'); default every report notebook of ``notebooks_dir``
      notebooks_dir  where the notebooks are (default: the project's notebooks/)
      parameters     more notebook parameters (e.g. {'segment_by': 'city'}), passed to the notebooks that
                     declare them; a name no selected notebook declares is an error
      jobs           notebooks run at once (default DEFAULT_JOBS)
      wait           seconds to wait for another run's lock (see the module docstring)
      progress       called with one line per step (None: silent)

    Returns a :class:`ReportResult`. manifest.json holds: week, as_of, parameters, data (fingerprint:
    sha256, rows and latest timestamp per table, quarantined rows, settings), notebooks (name, status,
    seconds, html, notebook, figures, tables), figures (files), excel, versions, started_at, finished_at,
    seconds. Raises ParameterError (nothing written), ReportLocked, or NotebookFailed.
    """
    from filelock import FileLock, Timeout

    from workbench.data.store import connect
    from workbench.reporting.manifest import data_fingerprint
    from workbench.reporting.weeks import report_week

    started = time.perf_counter()
    started_at = _now()
    say = progress or (lambda line: None)
    i18n.check_lang(lang)
    if figures not in FIGURE_FORMATS:
        raise ParameterError(choices_message("figures", figures, FIGURE_FORMATS))
    if isinstance(k_min, bool) or not isinstance(k_min, int) or k_min < 1:
        raise ParameterError(f"k_min={k_min!r} is not valid; expected a whole number of members >= 1.")
    jobs = DEFAULT_JOBS if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ParameterError(f"jobs={jobs!r} is not valid; expected a whole number >= 1.")
    if (week is None) == (not latest):
        raise ParameterError(
            "give either week (e.g. week='2026-W47' / --week 2026-W47) or latest=True (--latest)."
        )
    folder = Path(notebooks_dir) if notebooks_dir is not None else runner.NOTEBOOKS_DIR
    names = _select(runner.available_notebooks(folder), notebooks)
    data_path = Path(data).resolve() if "://" not in str(data) else data

    db = connect(data_path)
    try:
        label = report_week(db, week=week, latest=latest)
        fingerprint = data_fingerprint(db)
    finally:
        db.close()
    from workbench.data import calendar

    as_of = calendar.parse_iso_week(label)[1]
    base = runner.base_parameters(
        data=data_path, week=label, lang=lang, anonymise=anonymise, client=client, k_min=k_min
    )
    jobs_list = _jobs(folder, names, base, dict(parameters or {}))

    out = Path(out).resolve()  # the kernels run in the notebooks' folder: every path they get is absolute
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / LOCK_NAME), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise ReportLocked(
            f"another `workbench report` is publishing into {out} (lock {out / LOCK_NAME}); waited {wait:g} s. "
            "Try again when it has finished, or pass a longer --wait."
        ) from None
    try:
        say(
            f"week {label} (as of {as_of.isoformat()}): {len(names)} notebook(s), {min(jobs, len(names))} at a time"
        )
        build = out / f".build-{label}-{uuid.uuid4().hex[:8]}"
        build.mkdir()
        try:
            outcomes = _run_all(jobs_list, build, jobs, say)
            failed = [o for o in outcomes if not o["ok"]]
            if failed:
                raise _failure(failed, outcomes, out, build, label)
            manifest = _finish(
                build,
                outcomes,
                week=label,
                as_of=as_of,
                params={**base, "figures": figures, "excel": excel, "notebooks": names, **(parameters or {})},
                fingerprint=fingerprint,
                figures=figures,
                excel=excel,
                lang=lang,
                started_at=started_at,
                started=started,
                say=say,
            )
            dest = _swap(build, out / label)
        finally:
            if build.exists():
                shutil.rmtree(build, ignore_errors=True)
        from workbench.reporting.index import INDEX, write_top_index

        top = write_top_index(out)
    finally:
        lock.release()
    seconds = time.perf_counter() - started
    say(f"published {dest / INDEX} in {seconds:.1f} s")
    return ReportResult(
        week=label, folder=dest, index=dest / INDEX, top_index=top, manifest=manifest, seconds=seconds
    )


# -- steps ----------------------------------------------------------------------------------------------


def _select(available: list[str], wanted) -> list[str]:
    if not available:
        raise ParameterError("no report notebooks found (expected .ipynb files with a 'parameters' cell).")
    if wanted is None:
        return available
    if isinstance(wanted, str):
        wanted = [w.strip() for w in wanted.split(",") if w.strip()]
    for w in wanted:
        if w not in available:
            raise ParameterError(choices_message("notebook", w, available))
    return [n for n in available if n in set(wanted)]


def _jobs(folder: Path, names: list[str], base: dict, extra: dict) -> list[dict]:
    declared = {n: runner.notebook_parameters(folder / f"{n}.ipynb") for n in names}
    for n in declared:
        runner.check_parameters(folder / f"{n}.ipynb", base)  # every report notebook takes the base ones
    unused = sorted(k for k in extra if not any(k in d for d in declared.values()))
    if unused:
        raise ParameterError(
            f"parameter {unused[0]!r} is not declared by any of the notebooks {', '.join(names)}; expected one "
            "of: " + ", ".join(sorted({k for d in declared.values() for k in d}))
        )
    return [
        {
            "name": n,
            "source": folder / f"{n}.ipynb",
            "parameters": {**base, **{k: v for k, v in extra.items() if k in declared[n]}},
            "cwd": folder,
        }
        for n in names
    ]


def _run_all(jobs_list: list[dict], build: Path, jobs: int, say) -> list[dict]:
    tasks = [
        {
            **job,
            "output": build / f"{job['name']}.ipynb",
            "html": build / f"{job['name']}.html",
            "collect_dir": build / ".collect" / job["name"],
        }
        for job in jobs_list
    ]
    total = len(tasks)
    results = []

    def report(done: dict) -> None:
        status = "ok" if done["ok"] else f"FAILED at cell {done['cell']}: {done['error']}"
        say(f"[{len(results)}/{total}] {done['name']}: {status} ({done['seconds']:.1f} s)")

    import queue
    import threading

    # ``jobs`` kernels, each running notebooks from the queue in turn (runner.Kernel: start-up and imports
    # are paid once per kernel). Threads suffice: the work happens in the kernels.
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for task in tasks:
        pending.put(task)
    lock = threading.Lock()
    errors: list[BaseException] = []
    workers = min(jobs, total)
    say(("running " if workers > 1 else "running in turn: ") + ", ".join(t["name"] for t in tasks) + " ...")

    def work() -> None:
        try:
            with runner.Kernel(cwd=tasks[0]["cwd"]) as kernel:
                while True:
                    try:
                        task = pending.get_nowait()
                    except queue.Empty:
                        return
                    done = build_notebook(task, kernel=kernel)
                    with lock:
                        results.append(done)
                        report(done)
        except BaseException as exc:  # reported below, in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=work, name=f"report-kernel-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    order = {t["name"]: i for i, t in enumerate(tasks)}
    return sorted(results, key=lambda r: order[r["name"]])


def build_notebook(task: dict, *, kernel: runner.Kernel | None = None) -> dict:
    """Execute one notebook (in ``kernel`` if given) and, if it ran, render its HTML page."""
    from workbench.reporting.html import notebook_to_html
    from workbench.reporting.index import notebook_title

    outcome = runner.run_notebook(
        task["source"],
        task["output"],
        parameters=task["parameters"],
        collect_dir=task["collect_dir"],
        cwd=task["cwd"],
        kernel=kernel,
    )
    seconds = outcome.seconds
    if outcome.ok:
        p = task["parameters"]
        title = f"{notebook_title(task['name'], p['lang'])} · {p['week']}"
        if p.get("client"):
            title = f"{p['client']} · {title}"
        t0 = time.perf_counter()
        notebook_to_html(task["output"], task["html"], title=title)
        seconds += time.perf_counter() - t0
    return {
        "name": task["name"],
        "ok": outcome.ok,
        "seconds": seconds,
        "error": outcome.error,
        "cell": outcome.cell,
        "output": str(task["output"]),
        "collect_dir": str(task["collect_dir"]),
    }


def _failure(failed: list[dict], outcomes: list[dict], out: Path, build: Path, week: str) -> NotebookFailed:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out / FAILURES / f"{week}-{stamp}"
    target.mkdir(parents=True, exist_ok=True)
    for f in failed:
        src = Path(f["output"])
        if src.exists():
            shutil.move(str(src), target / src.name)
    (target / "failure.json").write_text(
        json.dumps(
            {"week": week, "failed": failed, "ran": [o["name"] for o in outcomes]},
            indent=2,
            ensure_ascii=False,
            default=str,
        ),
        encoding="utf-8",
    )
    first = failed[0]
    cell = f" at cell {first['cell']}" if first["cell"] is not None else ""
    others = f" (also failed: {', '.join(f['name'] for f in failed[1:])})" if len(failed) > 1 else ""
    return NotebookFailed(
        f"notebook {first['name']} failed{cell}: {first['error']}{others}. Nothing was published; the previous "
        f"report of {week} (if any) is unchanged. The executed notebook, with the failing cell, is in {target}.",
        notebook=first["name"],
        failures=target,
    )


def _finish(
    build: Path, outcomes, *, week, as_of, params, fingerprint, figures, excel, lang, started_at, started, say
):
    from workbench.reporting.collect import collected, item_name
    from workbench.reporting.export import export_tables
    from workbench.reporting.index import write_week_index
    from workbench.reporting.manifest import package_versions, write_manifest

    notebooks, figure_files, tables = [], [], {}
    for o in outcomes:
        figs, tabs = collected(Path(o["collect_dir"]))
        figure_files += [(o["name"], f) for f in figs]
        tables[o["name"]] = tabs
        notebooks.append(
            {
                "name": o["name"],
                "status": "ok" if o["ok"] else "failed",
                "seconds": round(o["seconds"], 2),
                "html": f"{o['name']}.html",
                "notebook": f"{o['name']}.ipynb",
                "figures": [item_name(f) for f in figs],
                "tables": [item_name(f) for f in tabs],
            }
        )
    written = []
    if figures != "none" and figure_files:
        t0 = time.perf_counter()
        written = export_figures_all(figure_files, build / "figures", figures)
        say(f"figure pack: {len(written)} {figures} file(s) ({time.perf_counter() - t0:.1f} s)")
    workbook = export_tables(tables, build / "tables.xlsx", lang=lang) if excel else None
    shutil.rmtree(build / ".collect", ignore_errors=True)
    manifest = {
        "week": week,
        "as_of": as_of.isoformat(),
        "parameters": params,
        "data": fingerprint,
        "notebooks": notebooks,
        "figures": [f"figures/{p.name}" for p in written],
        "excel": "tables.xlsx" if workbook else None,
        "versions": package_versions(),
        "started_at": started_at,
        "finished_at": _now(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_manifest(build / "manifest.json", manifest)
    write_week_index(build, manifest)
    return manifest


def export_figures_all(figure_files: list[tuple[str, Path]], folder: Path, fmt: str) -> list[Path]:
    """Every notebook's figures in one kaleido batch, named '<notebook>-<figure>.<fmt>'."""
    from workbench.reporting.export import export_figures

    staged = []
    stage = folder.parent / ".collect" / "_pack"
    stage.mkdir(parents=True, exist_ok=True)
    for i, (nb, f) in enumerate(figure_files, start=1):
        target = stage / f"{i:03d}-{nb}-{f.name.split('-', 1)[-1]}"
        shutil.copyfile(f, target)
        staged.append(target)
    return export_figures(staged, folder, fmt=fmt)


def _swap(build: Path, dest: Path) -> Path:
    """Move ``build`` to ``dest``; an existing ``dest`` is renamed aside first and removed after."""
    old = None
    if dest.exists():
        old = dest.with_name(f".old-{dest.name}-{uuid.uuid4().hex[:8]}")
        os.rename(dest, old)
    try:
        os.rename(build, dest)
    except BaseException:
        if old is not None:
            os.rename(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def echo_progress(quiet: bool) -> Callable[[str], None] | None:
    """A progress printer for the CLI: lines on stderr with the elapsed time, or None when quiet."""
    if quiet:
        return None
    t0 = time.perf_counter()
    return lambda line: print(f"[{time.perf_counter() - t0:6.1f} s] {line}", file=sys.stderr, flush=True)
