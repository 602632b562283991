"""Benchmark of the weekly report at demo size: wall time of `workbench report` and of each notebook.

    python bench/report.py [--data data/demo.duckdb] [--jobs 2] [--figures png] [--week latest]

Publishes into a temporary folder (the real reports/ is left alone), with ``jobs`` notebooks at a time
(several values compare serial and parallel runs: ``--jobs 1,2``). Prints one table per run: each
notebook's seconds (execution + HTML), then the total, which includes the figure pack, Excel and the move
into place. Target: under 90 s on a 2-core machine. Writes the tables to bench/results/report.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "report.md"
TARGET_S = 90


def run(data: str, jobs: int, figures: str, week: str) -> tuple[float, dict]:
    from workbench.reporting.publish import publish_report

    with tempfile.TemporaryDirectory(prefix="bench-report-") as out:
        t0 = time.perf_counter()
        kwargs = {"latest": True} if week == "latest" else {"week": week}
        result = publish_report(data=data, out=out, jobs=jobs, figures=figures, **kwargs)
        return time.perf_counter() - t0, result.manifest


def table(seconds: float, manifest: dict, jobs: int, figures: str) -> str:
    lines = [
        f"week {manifest['week']}, jobs={jobs}, figures={figures}",
        "",
        "| notebook | seconds |",
        "|---|---:|",
        *[f"| {nb['name']} | {nb['seconds']:.1f} |" for nb in manifest["notebooks"]],
        f"| **total (wall)** | **{seconds:.1f}** |",
        "",
        f"target < {TARGET_S} s: {'met' if seconds < TARGET_S else 'NOT met'}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/demo.duckdb")
    parser.add_argument("--jobs", default="2", help="comma-separated, e.g. 1,2")
    parser.add_argument("--figures", default="png", choices=["png", "svg", "none"])
    parser.add_argument("--week", default="latest")
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"no store at {args.data}; run `make data` first")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    head = (
        f"# Weekly report benchmark\n\n{dt.date.today().isoformat()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, load average at start {load:.1f}, data {Path(args.data).name}\n"
    )
    parts = [head]
    for jobs in (int(j) for j in args.jobs.split(",")):
        seconds, manifest = run(args.data, jobs, args.figures, args.week)
        text = table(seconds, manifest, jobs, args.figures)
        print(text + "\n", flush=True)
        parts.append(text + "\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(parts), encoding="utf-8")
    print(f"written {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
