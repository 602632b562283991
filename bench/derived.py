"""Benchmark of the derived tables: extending them by one new week against rebuilding them.

    python bench/derived.py [--size demo|1m] [--repeats 3]

Works on a copy of the size's store (see bench/analyses.py). A rebuild derives every visit, first visit and
member period from all orders, stores the orders again sorted by store (_store_orders) and the visits again
sorted by their member's home store (_home_visits); an extension re-derives only the last ISO week (and the
month holding it) and appends its orders and visits to those copies, as a weekly load of new orders does (a
load that finds more than derived.RESORT_SHARE of a copy appended since its last sort sorts it again, which
this benchmark's single week does not reach). Last, a members load that sets one member's join store moves
that member's visits (derived.sync_homes). Prints a table and writes it to bench/results/derived-<size>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

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
    rebuild, extend, homes, rows = [], [], [], {}
    with tempfile.TemporaryDirectory(prefix="bench-derived-") as tmp:
        copy = Path(tmp) / store.name
        shutil.copy(store, copy)
        for _ in range(args.repeats):
            r = derived.refresh(copy)
            rebuild.append(r.seconds)
            e = derived.refresh(copy, since=since)
            extend.append(e.seconds)
            rows = e.rows
            # A members load that gives one member without a join store a join store: their visits move.
            con = duckdb.connect(str(copy))
            con.execute(
                "UPDATE members SET join_store_id = (SELECT max(store_id) FROM stores) WHERE member_id = "
                "(SELECT min(member_id) FROM members WHERE join_store_id IS NULL)"
            )
            con.close()
            t0 = time.perf_counter()
            derived.sync_homes(copy)
            homes.append(time.perf_counter() - t0)
    rb, ex = statistics.median(rebuild), statistics.median(extend)
    text = (
        f"Derived tables at size **{args.size}** ({rows.get(derived.VISITS, 0):,} visits, "
        f"{rows.get(derived.PERIODS, 0):,} member periods); median of {args.repeats}; {dt.date.today().isoformat()}.\n\n"
        "| refresh | seconds |\n|---|---:|\n"
        f"| rebuild from all orders | {rb:.2f} |\n"
        f"| extend by the week from {since.isoformat()} | {ex:.2f} |\n"
        f"| extend / rebuild | {ex / rb:.2f} |\n"
        f"| a members load that sets one join store (visits by home store moved) | {statistics.median(homes):.2f} |\n"
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"derived-{args.size}.md").write_text(
        "# Benchmark: derived tables\n\n" + text, encoding="utf-8"
    )


if __name__ == "__main__":
    main()
