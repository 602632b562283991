"""The figure pack (PNG or SVG) and the Excel workbook of a report's key tables.

Both are made from what the notebooks recorded (collect.py): figures as plotly JSON, tables as Parquet.
Figures are written in one batch by kaleido through the system Chromium (``plotly.io.write_images``: one
browser start for the whole pack; Noto Sans CJK renders the Chinese). Tables go to one sheet each with
headers in the report's language (tables.COLUMN_LABELS).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench import i18n
from workbench.errors import ParameterError, choices_message
from workbench.reporting.collect import item_name
from workbench.reporting.tables import column_label

FIGURE_FORMATS = ("png", "svg", "none")
# Pixel size of exported figures, and the PNG scale (2 = sharp on high-density screens and in slides).
EXPORT_WIDTH_PX, EXPORT_HEIGHT_PX, PNG_SCALE = 1100, 620, 2
# Excel allows at most 31 characters in a sheet name.
SHEET_NAME_MAX = 31


def export_figures(figure_files, out_dir, *, fmt: str = "png", prefix: str = "") -> list[Path]:
    """Write every recorded figure (plotly JSON files) as ``fmt`` into ``out_dir``; returns the paths.

    File names: ``<prefix><name>.<fmt>`` (the name given to ``rp.show``). A figure taller than the
    default (a heatmap with many cohorts) keeps its own height.
    """
    if fmt not in FIGURE_FORMATS:
        raise ParameterError(choices_message("figures", fmt, FIGURE_FORMATS))
    files = [Path(f) for f in figure_files]
    if fmt == "none" or not files:
        return []
    import plotly.io as pio

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figs, paths, heights = [], [], []
    for f in files:
        fig = pio.from_json(f.read_text(encoding="utf-8"))
        figs.append(fig)
        paths.append(out_dir / f"{prefix}{item_name(f)}.{fmt}")
        heights.append(int(fig.layout.height) if fig.layout.height else EXPORT_HEIGHT_PX)
    pio.write_images(
        figs,
        paths,
        format=fmt,
        width=EXPORT_WIDTH_PX,
        height=heights,
        scale=PNG_SCALE if fmt == "png" else 1,
    )
    return paths


def export_tables(tables: dict[str, list], path, *, lang: str = "zh") -> Path | None:
    """Write recorded tables to one Excel workbook; ``tables`` maps a notebook name to its Parquet files.

    One sheet per table, named '<notebook>.<table>' (cut to 31 characters, made unique), headers in
    ``lang``, dates as dates. Nothing recorded: no file (returns None).
    """
    i18n.check_lang(lang)
    items = [(nb, Path(f)) for nb, files in tables.items() for f in files]
    if not items:
        return None
    path = Path(path)
    used: set[str] = set()
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for nb, f in items:
            df = pd.read_parquet(f)
            for c in df.columns:
                if isinstance(df[c].dtype, pd.DatetimeTZDtype):
                    df[c] = df[c].dt.tz_localize(None)
            df.columns = [column_label(str(c), lang) for c in df.columns]
            sheet = _sheet_name(f"{nb}.{item_name(f)}", used)
            df.to_excel(writer, sheet_name=sheet, index=False)
            _fit_columns(writer.sheets[sheet], df)
    return path


def _sheet_name(name: str, used: set[str]) -> str:
    base = name[:SHEET_NAME_MAX]
    candidate, n = base, 2
    while candidate in used:
        suffix = f"~{n}"
        candidate, n = base[: SHEET_NAME_MAX - len(suffix)] + suffix, n + 1
    used.add(candidate)
    return candidate


def _fit_columns(sheet, df: pd.DataFrame) -> None:
    """Column widths that fit the header (a CJK character is about two Latin ones wide)."""
    from openpyxl.utils import get_column_letter

    for i, header in enumerate(df.columns, start=1):
        width = sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(header)) + 2
        sheet.column_dimensions[get_column_letter(i)].width = max(10, min(width, 40))
