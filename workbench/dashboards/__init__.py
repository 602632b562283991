"""Voila dashboards for store and operations managers: filters, zh / en labels, figures drawn in place.

    from workbench.dashboards import cohort_dashboard
    cohort_dashboard()        # the last line of a notebook under notebooks/dashboards/, served by Voila

    overview    overview_dashboard    weekly KPI cards, store and channel rankings, KPI trend, lifecycle flows
    cohorts     cohort_dashboard      retention heatmap and curves, time to return
    churn       churn_dashboard       survival by segment, hazard ratios, wake-up list with CSV download
    campaigns   campaign_dashboard    lift with intervals, by segment, ROI, SRM and observational banners
    serve       serve, voila_command  `workbench dashboard`: Voila over notebooks/dashboards/

The store comes from $WORKBENCH_DATA (set by ``workbench dashboard --data``), default data/demo.duckdb,
opened read-only. Names are imported on first use.
"""

from __future__ import annotations

import importlib

EXPORTS = {
    "overview_dashboard": "overview",
    "cohort_dashboard": "cohorts",
    "churn_dashboard": "churn",
    "campaign_dashboard": "campaigns",
    "serve": "serve",
    "voila_command": "serve",
    "DASHBOARDS": "serve",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(importlib.import_module(f"workbench.dashboards.{EXPORTS[name]}"), name)
    raise AttributeError(f"module 'workbench.dashboards' has no attribute {name!r}")


def __dir__():
    return __all__
