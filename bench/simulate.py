"""Benchmark of the simulated chain: wall time, peak memory and file size by number of members.

    python bench/simulate.py [--sizes 30000,1000000] [--weeks 104] [--seed 7]

Each size runs in its own subprocess, so the peak resident memory (``ru_maxrss`` of the child) belongs
to that size alone. Prints a table and writes it to bench/results/simulate.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "simulate.md"

CHILD = """
import json, sys
from workbench.data.simulate import simulate_chain
summary = simulate_chain(sys.argv[1], members=int(sys.argv[2]), weeks=int(sys.argv[3]), seed=int(sys.argv[4]))
print(json.dumps({"orders": summary.orders, "stores": summary.stores, "touches": summary.rows["touches"],
                  "inner_seconds": summary.seconds}))
"""


def run_one(members: int, weeks: int, seed: int, folder: Path) -> dict:
    out = folder / f"bench_{members}.duckdb"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(members), str(weeks), str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"simulation of {members:,} members failed:\n{proc.stderr}")
    # ru_maxrss of the children: the largest child so far (sizes run smallest first); kilobytes on Linux.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kb = after.ru_maxrss
    peak_mb = peak_kb / 1024 if platform.system() != "Darwin" else peak_kb / 1024 / 1024
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    file_mb = out.stat().st_size / 2**20
    return {
        "members": members,
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak_mb,
        "file_mb": file_mb,
        **info,
    }


def table(rows: list[dict], weeks: int) -> str:
    head = (
        f"Simulated chain, {weeks} weeks; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{dt.date.today().isoformat()}. seconds = wall time of the child process; CPU seconds = its user + "
        "system time.\n\n"
        "| members | stores | orders | touches | seconds | CPU seconds | peak MB | file MB |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['members']:,} | {r['stores']:,} | {r['orders']:,} | {r['touches']:,} | {r['seconds']:.1f} "
        f"| {r['cpu']:.1f} | {r['peak_mb']:,.0f} | {r['file_mb']:,.0f} |\n"
        for r in rows
    )
    return head + body


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30000", help="comma-separated member counts (default 30000)")
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        for members in sizes:
            rows.append(run_one(members, args.weeks, args.seed, Path(tmp)))
            print(f"  {members:,} members: {rows[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    text = table(rows, args.weeks)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("# Benchmark: simulate_chain\n\n" + text, encoding="utf-8")


if __name__ == "__main__":
    main()
