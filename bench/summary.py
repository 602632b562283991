"""One file and one verdict for a `make bench` run: the tables of the four benchmarks of a size, together.

    python bench/summary.py --size 1m      # after analyses.py, derived.py, report.py and dashboard.py

Reads bench/results/{analyses,derived}-<size>.md and {report,dashboard}-<store name>.md, writes them one
after the other into bench/results/bench-<size>.md, and prints which targets the tables say were missed
(a line with MISSED or "NOT met"), or that none was. A table that is missing is named, never skipped
in silence.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SECTIONS = ("analyses", "derived", "report", "dashboard")
MISSED_MARKS = ("MISSED", "NOT met")


def sources(size: str, store: str) -> dict[str, Path]:
    return {
        "analyses": RESULTS / f"analyses-{size}.md",
        "derived": RESULTS / f"derived-{size}.md",
        "report": RESULTS / f"report-{store}.md",
        "dashboard": RESULTS / f"dashboard-{store}.md",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="demo")
    parser.add_argument(
        "--data", default="data/demo.duckdb", help="the store report.py and dashboard.py ran on"
    )
    args = parser.parse_args()
    files = sources(args.size, Path(args.data).stem)
    missing = [name for name, path in files.items() if not path.exists()]
    parts = [
        f"# Benchmarks, size {args.size}\n\n{dt.date.today().isoformat()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, data {Path(args.data).name}\n"
    ]
    missed = []
    for name, path in files.items():
        if path.exists():
            text = path.read_text(encoding="utf-8")
            parts.append(text.strip() + "\n")
            missed += [
                f"{name}: {line.strip()}"
                for line in text.splitlines()
                if any(m in line for m in MISSED_MARKS)
            ]
    out = RESULTS / f"bench-{args.size}.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    print(f"\nall tables: {out.relative_to(HERE.parent)}")
    if missing:
        print("no results from: " + ", ".join(missing))
    print("targets missed:\n  " + "\n  ".join(missed) if missed else "targets missed: none")
    if missing:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
