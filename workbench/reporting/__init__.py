"""Weekly reports, slides, figure packs and Excel tables from the parameterised notebooks.

    publish_report(week="2026-W47", data="data/demo.duckdb", out="reports")   # what `workbench report` runs
    build_slides("cohorts", week="2026-W47", data=..., out=...)               # what `workbench slides` runs

Inside a report notebook (``from workbench import reporting as rp``):

    db = rp.open_store(data, anonymise=anonymise)        # an anonymising view when asked
    as_of = rp.report_day(db, week=week, as_of=as_of)    # the Sunday of the week, or as_of, or the data's day
    rp.title("cohorts", lang=lang, week=week, as_of=as_of, client=client)
    rp.show(wb.figures.retention_heatmap(res, lang=lang), "retention_heatmap")   # display + collect
    rp.table(res.curve, "retention_curve", lang=lang)                            # display + collect
    rp.say(res, lang=lang)                                                       # the result's summary

Modules: runner (papermill, parameter check), publish (build folder, atomic move, failures, lock),
manifest (fingerprint, versions), html (code hidden, offline), index (week and top-level pages), slides,
export (figure pack, Excel), anonymise, narrative, collect, tables, weeks. Names are imported on first use.
"""

from __future__ import annotations

import importlib

EXPORTS = {
    "open_store": "anonymise",
    "AnonymisedStore": "anonymise",
    "protect": "anonymise",
    "suppress": "anonymise",
    "wake_up_counts": "anonymise",
    "store_aliases": "anonymise",
    "title": "narrative",
    "read": "narrative",
    "say": "narrative",
    "campaign_note": "narrative",
    "show": "collect",
    "table": "collect",
    "wake_up": "collect",
    "report_day": "weeks",
    "report_week": "weeks",
    "campaigns_for_week": "weeks",
    "notebook_parameters": "runner",
    "check_parameters": "runner",
    "run_notebook": "runner",
    "available_notebooks": "runner",
    "publish_report": "publish",
    "ReportResult": "publish",
    "NotebookFailed": "publish",
    "ReportLocked": "publish",
    "build_slides": "slides",
    "export_figures": "export",
    "export_tables": "export",
    "data_fingerprint": "manifest",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(importlib.import_module(f"workbench.reporting.{EXPORTS[name]}"), name)
    raise AttributeError(f"module 'workbench.reporting' has no attribute {name!r}")


def __dir__():
    return __all__
