"""`workbench ...`: a thin shell over the Python API.

Every command parses its options, calls one function of the package and prints its summary. A problem
the user can fix (a missing file, a bad mapping, invalid rows) ends with a one-paragraph message on stderr
and a non-zero exit, never a traceback:

  0  done
  2  nothing done: the input or a parameter is wrong (the message says what and where)
  3  done, but rows failed validation and were quarantined or a file was rejected (``workbench load``),
     or the store has problems (``workbench validate``), or member keys match no member
     (``workbench resolve-keys``)
  1  ``workbench report`` / ``slides``: a notebook failed (the message names it, the cell and the error;
     nothing was published), or another report run holds the output folder
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import click

from workbench.errors import WorkbenchError

EXIT_PROBLEMS = 3


def _fail(exc: WorkbenchError) -> None:
    message = textwrap.fill(str(exc), width=100, break_long_words=False, break_on_hyphens=False)
    click.echo(f"error: {message}", err=True)
    sys.exit(exc.exit_code)


class _Group(click.Group):
    """Turns our errors into a message and an exit code instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            _fail(exc)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workbench")
def main():
    """Member analytics for restaurant chains: simulate, load, validate, summarise."""


@main.command()
@click.option(
    "--members", default=30_000, show_default=True, type=click.IntRange(min=100), help="Members to simulate."
)
@click.option(
    "--weeks", default=104, show_default=True, type=click.IntRange(min=8), help="ISO weeks of history."
)
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed; same seed, same data.")
@click.option("--end", default="2026-11-22", show_default=True, help="Last simulated day (a Sunday).")
@click.option("--timezone", default=None, help="Chain time zone (default Asia/Shanghai).")
@click.option(
    "--out",
    default="data/demo.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file to write (replaced).",
)
def simulate(members, weeks, seed, end, timezone, out):
    """Write a simulated chain and its ground truth (<out>.truth.json)."""
    from workbench.config import Settings
    from workbench.data.simulate import simulate_chain, truth_path

    settings = Settings(timezone=timezone) if timezone else None
    summary = simulate_chain(
        out, members=members, weeks=weeks, seed=seed, end=end, settings=settings, progress=sys.stderr.isatty()
    )
    click.echo(summary.format())
    click.echo(f"ground truth: {truth_path(out)}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--into", required=True, type=click.Path(dir_okay=False), help="DuckDB store to load into.")
@click.option(
    "--mapping", type=click.Path(dir_okay=False), help="YAML mapping of the client's columns and values."
)
@click.option(
    "--table", default=None, help="Contract table for all FILES (otherwise from the file name or mapping)."
)
@click.option(
    "--timezone", default=None, help="Time zone of timestamps without an offset (default: the store's)."
)
def load(files, into, mapping, table, timezone):
    """Load a client's export (CSV, Excel, Parquet, DuckDB) into a store, quarantining bad rows."""
    from workbench.config import Settings
    from workbench.data.load import load_files

    settings = Settings(timezone=timezone) if timezone else None
    summary = load_files(list(files), into=into, mapping=mapping, settings=settings, table=table)
    click.echo(summary.format())
    if summary.results and all(r.rejected for r in summary.results):
        sys.exit(WorkbenchError.exit_code)  # nothing loaded at all: the input is wrong
    if not summary.ok:
        sys.exit(EXIT_PROBLEMS)


@main.command()
@click.argument("store", type=click.Path())
def validate(store):
    """Check every rule of the contract on a store and report all problems at once."""
    from workbench.data.validate import validate_store

    report = validate_store(store)
    click.echo(report.format())
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


@main.command()
@click.argument("store", type=click.Path(), default="data/demo.duckdb")
def info(store):
    """Summarise a store: stores, members, orders, revenue, date range, campaigns, quarantine."""
    from workbench.data.summary import store_summary

    if not Path(store).exists():
        raise WorkbenchError(f"No store at {store}. Create one with `workbench simulate --out {store}`.")
    click.echo(store_summary(store).format())


@main.command()
@click.argument("name", required=False, type=click.Choice(["overview", "cohorts", "churn", "campaigns"]))
@click.option("--data", default="data/demo.duckdb", show_default=True, type=click.Path(dir_okay=False))
@click.option("--port", default=8866, show_default=True, type=click.IntRange(1, 65535))
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to bind; others need --token.")
@click.option(
    "--token",
    default=None,
    envvar="WORKBENCH_DASHBOARD_TOKEN",  # serve.TOKEN_ENV: kept off the command line, which `ps` shows
    help="Token visitors must give (?token=...); required off 127.0.0.1. Better from $WORKBENCH_DASHBOARD_TOKEN.",
)
@click.option(
    "--preheat/--no-preheat", default=True, show_default=True, help="Run kernels ahead of visitors."
)
@click.option(
    "--warm/--no-warm",
    default=True,
    show_default=True,
    help="Compute every filter value's results ahead, in the background.",
)
def dashboard(name, data, port, ip, token, preheat, warm):
    """Serve the Voila dashboards (all of them, or NAME) and print the URL; Ctrl-C stops."""
    from workbench.dashboards.serve import serve

    sys.exit(
        serve(
            data=data,
            port=port,
            ip=ip,
            token=token,
            dashboard=name,
            preheat=preheat,
            warm=warm,
            echo=click.echo,
        )
    )


@main.command("warm-dashboards")
@click.option("--data", default="data/demo.duckdb", show_default=True, type=click.Path(dir_okay=False))
@click.option(
    "--dashboards",
    default=None,
    help="Dashboards to warm, e.g. overview,churn (default: all).",
)
@click.option(
    "--max-stores",
    default=None,
    type=click.IntRange(0),
    help="Skip the store filter of a chain with more stores than this (default 100).",
)
def warm_dashboards(data, dashboards, max_stores):
    """Compute the dashboards' results for every filter value ahead (e.g. after a load, from cron)."""
    from workbench.dashboards.warm import FACTORIES, MAX_STORES, warm
    from workbench.errors import ParameterError, choices_message

    names = None
    if dashboards:
        names = [n.strip() for n in dashboards.split(",") if n.strip()]
        for n in names:
            if n not in FACTORIES:
                raise ParameterError(choices_message("dashboard", n, tuple(FACTORIES)))
    if not Path(data).exists():
        raise WorkbenchError(f"No store at {data}. Create one with `workbench simulate --out {data}`.")
    limit = MAX_STORES if max_stores is None else max_stores
    table = warm(data, dashboards=names, max_stores=limit, echo=click.echo)
    click.echo(table.to_string(index=False))


@main.command("resolve-keys")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--data", default="data/demo.duckdb", show_default=True, type=click.Path(), help="The store.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CSV to write, with member ids.")
def resolve_keys(file, data, out):
    """Put member ids beside the member keys of a wake-up CSV from the churn dashboard."""
    from workbench.analyses.wake_up import resolve_wake_up_csv
    from workbench.data.store import connect

    if not Path(data).exists():
        raise WorkbenchError(f"No store at {data}: the member keys can only be resolved with their store.")
    with connect(data) as db:
        result = resolve_wake_up_csv(db, file, out)
    click.echo(result.format())
    if result.unresolved:
        sys.exit(EXIT_PROBLEMS)


@main.command()
@click.option("--week", default=None, help="ISO week to report, e.g. 2026-W47.")
@click.option("--latest", is_flag=True, help="The last complete ISO week of the data.")
@click.option("--data", default="data/demo.duckdb", show_default=True, type=click.Path(), help="The store.")
@click.option(
    "--out", default="reports", show_default=True, type=click.Path(file_okay=False), help="Reports folder."
)
@click.option("--lang", default="zh", show_default=True, type=click.Choice(["zh", "en"]), help="Language.")
@click.option("--anonymise", is_flag=True, help="Numbered stores, no member ids, small cells hidden.")
@click.option(
    "--k-min",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Smallest cell shown when anonymised.",
)
@click.option("--client", default=None, help="Client name for every title (white label).")
@click.option("--quiet", is_flag=True, help="No progress output (for cron).")
@click.option(
    "--figures",
    default="png",
    show_default=True,
    type=click.Choice(["png", "svg", "none"]),
    help="Figure pack format.",
)
@click.option("--excel/--no-excel", default=True, show_default=True, help="Write tables.xlsx.")
@click.option("--notebooks", default=None, help="Notebooks to run, e.g. cohorts,churn (default: all).")
@click.option(
    "--notebooks-dir", default=None, type=click.Path(file_okay=False), help="Folder of report notebooks."
)
@click.option(
    "--jobs",
    default=None,
    type=click.IntRange(min=1),
    help="Kernels running notebooks at once (default 2); each runs its notebooks in turn.",
)
@click.option(
    "--wait",
    default=3600,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for another run's lock.",
)
def report(
    week,
    latest,
    data,
    out,
    lang,
    anonymise,
    k_min,
    client,
    quiet,
    figures,
    excel,
    notebooks,
    notebooks_dir,
    jobs,
    wait,
):
    """Run every report notebook for a week and publish HTML, figures, Excel and an index under OUT/WEEK/."""
    from workbench.reporting.publish import echo_progress, publish_report

    result = publish_report(
        data=data, week=week, latest=latest, out=out, lang=lang, anonymise=anonymise, k_min=k_min,
        client=client, figures=figures, excel=excel, notebooks=notebooks, notebooks_dir=notebooks_dir,
        jobs=jobs, wait=wait, progress=echo_progress(quiet),
    )  # fmt: skip
    if not quiet:
        click.echo(f"report {result.week}: {result.index}")
        click.echo(f"open {result.top_index.resolve().as_uri()}")


@main.command()
@click.argument("notebook")
@click.option("--week", default=None, help="ISO week, e.g. 2026-W47.")
@click.option("--latest", is_flag=True, help="The last complete ISO week of the data.")
@click.option("--data", default="data/demo.duckdb", show_default=True, type=click.Path(), help="The store.")
@click.option("--lang", default="zh", show_default=True, type=click.Choice(["zh", "en"]), help="Language.")
@click.option(
    "--out",
    default="reports/slides",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the deck.",
)
@click.option("--anonymise", is_flag=True, help="Numbered stores, no member ids, small cells hidden.")
@click.option("--client", default=None, help="Client name for the title (white label).")
@click.option(
    "--notebooks-dir", default=None, type=click.Path(file_okay=False), help="Folder of report notebooks."
)
def slides(notebook, week, latest, data, lang, out, anonymise, client, notebooks_dir):
    """A reveal.js deck of one report notebook (e.g. cohorts): code hidden, one figure or table per slide."""
    from workbench.reporting.slides import build_slides

    result = build_slides(
        notebook, data=data, week=week, latest=latest, out=out, lang=lang, anonymise=anonymise,
        client=client, notebooks_dir=notebooks_dir,
    )  # fmt: skip
    click.echo(f"{result.slides} slides: {result.path}")
    click.echo(f"open {result.path.resolve().as_uri()}")


if __name__ == "__main__":  # pragma: no cover
    main()
