"""Benchmark of the weekly report at demo size: wall time of `workbench report` and of each notebook.

    python bench/report.py [--data data/demo.duckdb] [--jobs 2] [--figures png] [--week latest]

Publishes into a temporary folder (the real reports/ is left alone), with ``jobs`` kernels at a time
(several values compare: ``--jobs 1,2``). Prints one table per run: each notebook's seconds (execution +
HTML), then the total, which includes the figure pack, Excel and the move into place, and the seconds each
published page takes to open in headless Chromium from disk (navigation to every figure drawn; the median
of --opens fresh pages, with no network). Targets: the report under 90 s on a 2-core machine, a page open
under 2 s. Writes the tables to bench/results/report-<store name>.md.
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
TARGET_S = 90  # demo size (issue: weekly report); a chain of LARGE_MEMBERS or more: LARGE_TARGET_S
LARGE_MEMBERS, LARGE_TARGET_S = 500_000, 180
PAGE_TARGET_S = 2


def run(data: str, jobs: int, figures: str, week: str, opens: int) -> tuple[float, dict, dict]:
    from workbench.reporting.publish import publish_report

    with tempfile.TemporaryDirectory(prefix="bench-report-") as out:
        t0 = time.perf_counter()
        kwargs = {"latest": True} if week == "latest" else {"week": week}
        result = publish_report(data=data, out=out, jobs=jobs, figures=figures, **kwargs)
        seconds = time.perf_counter() - t0
        pages = page_open_seconds(result.folder, [nb["name"] for nb in result.manifest["notebooks"]], opens)
        return seconds, result.manifest, pages


def page_open_seconds(folder: Path, names: list[str], opens: int) -> dict[str, float]:
    """Median seconds from navigation to every figure drawn, per page (empty without Chromium)."""
    import re
    import statistics

    from dashboard import ARGS, CHROMIUM  # the browser the dashboard benchmark drives (bench/ is on the path)
    from playwright.sync_api import sync_playwright

    if opens < 1 or not Path(CHROMIUM).exists():
        return {}
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for name in names:
            path = folder / f"{name}.html"
            figures = len(re.findall(r"Plotly\.newPlot\(", path.read_text(encoding="utf-8")))
            runs = []
            for _ in range(opens):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.route(
                    "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
                )
                t0 = time.perf_counter()
                page.goto(path.as_uri())
                page.wait_for_function(
                    "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
                    arg=figures,
                    timeout=120_000,
                )
                runs.append(time.perf_counter() - t0)
                page.close()
            out[name] = statistics.median(runs)
        browser.close()
    return out


def table(seconds: float, manifest: dict, jobs: int, figures: str, pages: dict[str, float]) -> str:
    members = _members(manifest)
    target = LARGE_TARGET_S if members >= LARGE_MEMBERS else TARGET_S
    lines = [
        f"week {manifest['week']}, jobs={jobs}, figures={figures}",
        "",
        "| notebook | seconds | page opens in (s) |",
        "|---|---:|---:|",
        *[
            f"| {nb['name']} | {nb['seconds']:.1f} | "
            + (f"{pages[nb['name']]:.2f} |" if nb["name"] in pages else "— |")
            for nb in manifest["notebooks"]
        ],
        f"| **total (wall)** | **{seconds:.1f}** | |",
        "",
        f"target report < {target} s ({members:,} members): {'met' if seconds < target else 'NOT met'}",
    ]
    if pages:
        slowest = max(pages.values())
        lines.append(
            f"target page open < {PAGE_TARGET_S} s: {'met' if slowest < PAGE_TARGET_S else 'NOT met'} "
            f"(slowest {slowest:.2f} s)"
        )
    return "\n".join(lines)


def _members(manifest: dict) -> int:
    """Members of the reported store, from the manifest's data fingerprint (0 when not recorded)."""
    members = manifest.get("data", {}).get("tables", {}).get("members", {})
    return int(members.get("rows", 0) or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/demo.duckdb")
    parser.add_argument("--jobs", default="2", help="comma-separated, e.g. 1,2")
    parser.add_argument("--figures", default="png", choices=["png", "svg", "none"])
    parser.add_argument("--week", default="latest")
    parser.add_argument("--opens", type=int, default=3, help="browser opens per page (0: skip)")
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
        seconds, manifest, pages = run(args.data, jobs, args.figures, args.week, args.opens)
        text = table(seconds, manifest, jobs, args.figures, pages)
        print(text + "\n", flush=True)
        parts.append(text + "\n")
    results = HERE / "results" / f"report-{Path(args.data).stem}.md"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("\n".join(parts), encoding="utf-8")
    print(f"written {results.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
