"""Benchmark of the derived tables: extending them by one new week against rebuilding them.

    python bench/derived.py [--size demo|1m] [--repeats 3]

Works on a copy of the size's store (see bench/analyses.py). A rebuild derives every visit, first visit and
member period from all orders and stores the orders again sorted by store (_store_orders); an extension
re-derives only the last ISO week (and the month holding it) and appends its orders to that copy, as a
weekly load of new orders does (a load that finds more than derived.RESORT_SHARE of the copy appended
since its last sort sorts it again, which this benchmark's single week does not reach). Prints a table
and writes it to bench/results/derived-<size>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from analyses import RESULTS, ensure_store  # noqa: E402

from workbench.analyses import scope  # noqa: E402
from workbench.data import derived  # noqa: E402
from workbench.data.store import connect  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["demo", "1m"], default="demo")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    store = ensure_store(args.size, None)
    with connect(store) as db:
        as_of = scope.resolve_as_of(db, None)
    since = as_of - dt.timedelta(days=as_of.weekday())  # Monday of the last week
    rebuild, extend, rows = [], [], {}
    with tempfile.TemporaryDirectory(prefix="bench-derived-") as tmp:
        copy = Path(tmp) / store.name
        shutil.copy(store, copy)
        for _ in range(args.repeats):
            r = derived.refresh(copy)
            rebuild.append(r.seconds)
            e = derived.refresh(copy, since=since)
            extend.append(e.seconds)
            rows = e.rows
    rb, ex = statistics.median(rebuild), statistics.median(extend)
    text = (
        f"Derived tables at size **{args.size}** ({rows.get(derived.VISITS, 0):,} visits, "
        f"{rows.get(derived.PERIODS, 0):,} member periods); median of {args.repeats}; {dt.date.today().isoformat()}.\n\n"
        "| refresh | seconds |\n|---|---:|\n"
        f"| rebuild from all orders | {rb:.2f} |\n"
        f"| extend by the week from {since.isoformat()} | {ex:.2f} |\n"
        f"| extend / rebuild | {ex / rb:.2f} |\n"
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"derived-{args.size}.md").write_text(
        "# Benchmark: derived tables\n\n" + text, encoding="utf-8"
    )


if __name__ == "__main__":
    main()
