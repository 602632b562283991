"""Figure builders: each takes an analysis result and ``lang`` ('zh' or 'en') and returns a plotly Figure.

    wb.figures.retention_heatmap(result, lang="en")       wb.figures.cohorts.retention_heatmap(...)

Names shared by two modules (e.g. ``group_effect``) are reached through their module.
"""

from __future__ import annotations

import importlib

EXPORTS = {
    "retention_heatmap": "cohorts",
    "retention_curves": "cohorts",
    "ltv_curve": "cohorts",
    "interval_distribution": "repurchase",
    "time_to_return": "repurchase",
    "cycle_by_segment": "repurchase",
    "survival_curves": "churn",
    "hazard_ratios": "churn",
    "wake_up_table": "churn",
    "lift_intervals": "lift",
    "lift_by_segment": "lift",
    "cumulative_by_arm": "lift",
    "lifecycle_counts": "lifecycle",
    "lifecycle_sankey": "lifecycle",
    "flows_table": "lifecycle",
    "funnel_chart": "funnel",
    "funnel_by_group": "funnel",
    "pareto_curve": "vip",
    "vip_vs_non_vip": "vip",
    "vip_before_after": "vip",
    "kpi_table": "overview",
    "kpi_trend": "overview",
    "new_members_ranking": "overview",
    "acquisition_quality_chart": "acquisition",
    "group_table": "groups",
    "leave_rate_by_intensity": "groups",
    "group_trend": "groups",
    "link_mode_chart": "groups",
    "touch_response_chart": "groups",
    "rfm_classes": "segments",
    "rfm_grid": "segments",
    "tag_distribution": "segments",
}
MODULES = (
    "cohorts",
    "repurchase",
    "churn",
    "lift",
    "lifecycle",
    "funnel",
    "vip",
    "overview",
    "acquisition",
    "groups",
    "segments",
    "theme",
)

__all__ = sorted([*EXPORTS, *MODULES])


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(importlib.import_module(f"workbench.figures.{EXPORTS[name]}"), name)
    if name in MODULES:
        return importlib.import_module(f"workbench.figures.{name}")
    raise AttributeError(f"module 'workbench.figures' has no attribute {name!r}")


def __dir__():
    return __all__
