"""Show a figure or a table in a notebook, and record it for the figure pack and the Excel workbook.

A report notebook displays its figures and key tables through :func:`show` and :func:`table`. In
JupyterLab they only display. Under ``workbench report`` the runner sets COLLECT_ENV to a folder for the
notebook, and each call also writes the object there (a figure as plotly JSON, a table as Parquet, numbered
in the order of the notebook); after the run the figure pack (PNG / SVG) and tables.xlsx are made from those
files, so the pack holds exactly what the reader saw, and no analysis runs twice.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from workbench import i18n
from workbench.errors import ParameterError

COLLECT_ENV = "WORKBENCH_REPORT_COLLECT"
FIGURES, TABLES = "figures", "tables"
# Rows of a table shown on the page (all rows go to Excel): a report table is read, not scrolled.
MAX_DISPLAY_ROWS = 40
# Rows of the wake-up list shown in a report (the full list is the store team's export).
WAKE_UP_ROWS = 50
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,60}$")

i18n.register({"report.wake_up.counts": ("待唤醒会员（按城市汇总）", "Members to wake up, by city")})


def collect_dir() -> Path | None:
    """The folder the runner asked to collect into, or None (interactive use)."""
    value = os.environ.get(COLLECT_ENV)
    return Path(value) if value else None


def show(fig, name: str):
    """Record ``fig`` (a plotly Figure) as ``name`` when collecting, and return it for display."""
    _check_name(name)
    folder = collect_dir()
    if folder is not None:
        path = _next_path(folder / FIGURES, name, ".json")
        path.write_text(fig.to_json(), encoding="utf-8")
    return fig


def table(df: pd.DataFrame, name: str, *, lang: str = "zh", max_rows: int = MAX_DISPLAY_ROWS) -> pd.DataFrame:
    """Record ``df`` as ``name`` when collecting; return it with headers in ``lang`` for display.

    The displayed copy has readable headers, dates as YYYY-MM-DD, numbers rounded (tables.DISPLAY_DECIMALS)
    and at most ``max_rows`` rows; the recorded one is the full frame with its column names (Excel
    translates the headers itself).
    """
    from workbench.reporting.tables import localise

    _check_name(name)
    i18n.check_lang(lang)
    folder = collect_dir()
    if folder is not None:
        path = _next_path(folder / TABLES, name, ".parquet")
        _parquet_safe(df).to_parquet(path, index=False)
    return localise(df.head(max_rows), lang=lang)


def wake_up(df: pd.DataFrame, *, lang: str = "zh", anonymise: bool = False, k_min: int = 5):
    """The wake-up list for a report: the ranked table (first WAKE_UP_ROWS), or counts per city when
    ``anonymise`` (no member id leaves the store; see anonymise.wake_up_counts)."""
    from workbench.figures.churn import wake_up_table
    from workbench.reporting.anonymise import wake_up_counts

    if anonymise:
        return table(wake_up_counts(df, k_min=k_min), "wake_up_counts", lang=lang)
    return show(wake_up_table(df, lang=lang, max_rows=WAKE_UP_ROWS), "wake_up_list")


def collected(folder: Path) -> tuple[list[Path], list[Path]]:
    """(figure JSON files, table Parquet files) recorded in ``folder``, in notebook order."""
    figs = sorted((folder / FIGURES).glob("*.json")) if (folder / FIGURES).is_dir() else []
    tabs = sorted((folder / TABLES).glob("*.parquet")) if (folder / TABLES).is_dir() else []
    return figs, tabs


def item_name(path: Path) -> str:
    """'03-retention_heatmap.json' -> 'retention_heatmap'."""
    return path.stem.split("-", 1)[1] if "-" in path.stem else path.stem


def _next_path(folder: Path, name: str, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    n = len(list(folder.glob(f"*{suffix}"))) + 1
    return folder / f"{n:02d}-{name}{suffix}"


def _check_name(name) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ParameterError(
            f"name={name!r} is not valid; expected letters, digits, '_', '-' or '.' (it names a file)."
        )


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reset_index(drop=True).copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: v if v is None or isinstance(v, str | bytes) else str(v))
    out.columns = [str(c) for c in out.columns]
    return out
