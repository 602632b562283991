"""Compute the dashboards' results ahead of the managers: every value of every filter, one filter at a time.

    workbench warm-dashboards --data data/demo.duckdb            # after a load, e.g. from cron
    python -m workbench.dashboards.warm --data ... --dashboards overview --controls city

`workbench dashboard` starts this in the background, at the lowest CPU priority, when it starts serving,
and again whenever the store file changes (a load of new data) while it serves (``--no-warm`` turns it
off). Each dashboard is opened on its defaults (the latest complete week, no split,
all cities), then each filter is set to each of its values in turn and set back, stores last; every result
is written to the store's shared results (:mod:`workbench.dashboards.shared_results`). A manager's kernel
then reads a filter value from disk in milliseconds instead of computing it. Combinations of two changed
filters are not computed ahead: a page computes those itself (and its kernel prefetches the likeliest).

Chains with more than MAX_STORES stores skip the store filter (a 1M-member chain with 2,000 stores would
take hours); a page computes one store on demand, the overview's KPIs of a store from every store's weekly
counts (wb.store_week_values), which its defaults' prefetch plan computes first on such a chain. When done, ``warm.json`` in the shared folder records
what was computed, read and skipped, and how long it took.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import time
import warnings

import pandas as pd

from workbench.dashboards import common
from workbench.errors import ParameterError

# Dashboards by notebook name: (module, factory).
FACTORIES = {
    "overview": ("workbench.dashboards.overview", "overview_dashboard"),
    "cohorts": ("workbench.dashboards.cohorts", "cohort_dashboard"),
    "churn": ("workbench.dashboards.churn", "churn_dashboard"),
    "campaigns": ("workbench.dashboards.campaigns", "campaign_dashboard"),
}
# The store filter is computed ahead only for chains with at most this many stores.
MAX_STORES = 100
STATUS_FILE = "warm.json"


def warm(data, *, dashboards=None, controls=None, max_stores: int = MAX_STORES, echo=None) -> pd.DataFrame:
    """Compute and share the results of every filter value of ``dashboards`` (default all), one filter
    at a time from the defaults; ``controls``: only these filters (by control name, e.g. ['city']).

    Returns one row per (dashboard, control):

      dashboard   notebook name
      control     filter name ('defaults' for the opening state and its prefetch plan)
      values      filter values rendered (0 when skipped)
      computed    results computed (and shared)
      read        results read from the shared folder (computed earlier, by a page or a warm run)
      seconds     wall time
      skipped     why the filter was skipped ('' when it was not)
    """
    db = common.open_store(data)
    cache = common.cache_for(db)
    if cache.shared is None:
        raise ParameterError(
            f"{db.source}: results cannot be shared (not a DuckDB file opened read-only, "
            "or WORKBENCH_CACHE=off, or its folder is not writable); nothing to warm."
        )
    names = list(FACTORIES) if dashboards is None else list(dashboards)
    for name in names:
        common.check_choice("dashboard", name, tuple(FACTORIES))
    started = time.perf_counter()
    _status(cache, {"started": _now(), "finished": None})
    rows = []
    opened = {}
    for name in names:  # the defaults and every filter but the store first, then the stores
        rows.append(_timed(cache, name, "defaults", lambda n=name: _open(opened, n, db)))
        dash = opened[name]
        for control in [c for c in dash.controls if c not in ("lang", "store")]:
            if controls is None or control in controls:
                rows.append(_timed(cache, name, control, lambda d=dash, c=control: _each_value(d, c)))
        if echo:
            echo(f"warm: {name} ready except stores ({time.perf_counter() - started:.0f} s)")
    for name in names:
        dash = opened[name]
        if "store" not in dash.controls or (controls is not None and "store" not in controls):
            continue
        count = len(dash.controls["store"].options) - 1
        if count > max_stores:
            rows.append({"dashboard": name, "control": "store", "values": 0, "computed": 0, "read": 0,
                         "seconds": 0.0, "skipped": f"{count} stores > {max_stores}"})  # fmt: skip
            continue
        rows.append(_timed(cache, name, "store", lambda d=dash: _each_value(d, "store")))
    table = pd.DataFrame(
        rows, columns=["dashboard", "control", "values", "computed", "read", "seconds", "skipped"]
    )
    _status(
        cache,
        {
            "started": None,
            "finished": _now(),
            "seconds": round(time.perf_counter() - started, 1),
            "computed": int(table["computed"].sum()),
            "read": int(table["read"].sum()),
            "skipped": {f"{r.dashboard}.{r.control}": r.skipped for r in table.itertuples() if r.skipped},
        },
    )
    if echo:
        echo(f"warm: done in {time.perf_counter() - started:.0f} s, {int(table['computed'].sum())} results")
    return table


def _open(opened: dict, name: str, db) -> int:
    module, factory = FACTORIES[name]
    dash = getattr(importlib.import_module(module), factory)(db, background=False, prefetch=False)
    opened[name] = dash
    if not dash.message:
        dash.prefetch_items(dash.prefetch_plan())
    return 1


def _each_value(dash, control: str) -> int:
    """Render ``dash`` with each other value of ``control``, then set it back; returns values rendered."""
    widget = dash.controls[control]
    start = widget.value
    values = [v for _, v in widget.options if v != start]
    for value in values:
        widget.value = value
    widget.value = start
    return len(values)


def _timed(cache, name: str, control: str, work) -> dict:
    computed, read, t0 = cache.computed, cache.shared_hits, time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = work()
    return {
        "dashboard": name,
        "control": control,
        "values": values,
        "computed": cache.computed - computed,
        "read": cache.shared_hits - read,
        "seconds": round(time.perf_counter() - t0, 2),
        "skipped": "",
    }


def _status(cache, fields: dict) -> None:
    path = cache.shared.folder / STATUS_FILE
    tmp = path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(fields, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def command(data, *, dashboards=None, watch: float | None = None) -> list[str]:
    """argv of a background warm run (what `workbench dashboard` starts, with ``watch``)."""
    argv = [sys.executable, "-m", "workbench.dashboards.warm", "--data", os.fspath(data), "--quiet"]
    if dashboards:
        argv += ["--dashboards", *dashboards]
    if watch:
        argv += ["--watch", str(watch)]
    return argv


def watch(argv: list[str], data, every: float) -> None:
    """Run the warm command ``argv`` now and again each time the store file changes (checked every
    ``every`` seconds), each run in a process of its own: between runs nothing holds the store open."""
    from workbench.dashboards.shared_results import store_fingerprint

    seen = None
    while True:
        state = store_fingerprint(data)
        if state != seen:
            subprocess.run(argv, check=False)
            seen = state
        time.sleep(every)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=common.DEFAULT_DATA)
    parser.add_argument("--dashboards", nargs="*", default=None, choices=list(FACTORIES))
    parser.add_argument("--controls", nargs="*", default=None)
    parser.add_argument("--max-stores", type=int, default=MAX_STORES)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--watch", type=float, default=None, metavar="SECONDS",
        help="run again whenever the store file changes, checking every SECONDS (until stopped)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    os.nice(19)  # before the engine starts its threads: they inherit it
    if args.watch:
        once = [a for a in (argv if argv is not None else sys.argv[1:])]
        at = once.index("--watch")
        del once[at : at + 2]
        watch([sys.executable, "-m", "workbench.dashboards.warm", *once], args.data, args.watch)
        return 0
    table = warm(
        args.data,
        dashboards=args.dashboards,
        controls=args.controls,
        max_stores=args.max_stores,
        echo=None if args.quiet else print,
    )
    if not args.quiet:
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
