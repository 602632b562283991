"""One module per question. Each analysis takes a store and keyword parameters and returns tidy frames.

    cohorts       cohort_retention, cohort_members
    repurchase    repurchase_cycle, group_cycle_effect
    churn         churn_threshold, churn_thresholds, member_lifetimes, churn_survival, churn_drivers
    wake_up       wake_up_list, export_wake_up_list
    lift          campaign_lift, campaigns_overview
    holdout       holdout_plan
    lifecycle     lifecycle (new / active / returning / dormant / lost per period, flows)
    funnel        acquisition_funnel, funnel_members
    pareto        revenue_pareto
    vip           vip_comparison
    overview      weekly_kpis, weekly_kpi_trend, store_week_values (holidays_align: yoy_comparison_week)
    acquisition   acquisition_quality
    groups        group_overview, messaging_and_leaving
    link_modes    link_mode_quality
    touches       touch_response
    segments      member_tags (RFM eight classes and tags); member_lists: birthday_list, segment_members,
                  export_member_tags

Names are imported on first use, so ``import workbench`` stays quick (lifelines alone takes seconds).
"""

from __future__ import annotations

import importlib

EXPORTS = {
    "cohort_retention": "cohorts",
    "cohort_members": "cohorts",
    "CohortRetention": "cohorts",
    "repurchase_cycle": "repurchase",
    "group_cycle_effect": "repurchase",
    "RepurchaseCycle": "repurchase",
    "churn_threshold": "churn",
    "churn_thresholds": "churn",
    "member_lifetimes": "churn",
    "churn_survival": "churn",
    "churn_drivers": "churn",
    "wake_up_list": "wake_up",
    "export_wake_up_list": "wake_up",
    "campaign_lift": "lift",
    "campaigns_overview": "lift",
    "CampaignLift": "lift",
    "holdout_plan": "holdout",
    "lifecycle": "lifecycle",
    "Lifecycle": "lifecycle",
    "acquisition_funnel": "funnel",
    "funnel_members": "funnel",
    "Funnel": "funnel",
    "revenue_pareto": "pareto",
    "Pareto": "pareto",
    "vip_comparison": "vip",
    "VipComparison": "vip",
    "weekly_kpis": "overview",
    "weekly_kpi_trend": "overview",
    "store_week_values": "overview",
    "WeeklyKPIs": "overview",
    "yoy_comparison_week": "holidays_align",
    "acquisition_quality": "acquisition",
    "AcquisitionQuality": "acquisition",
    "group_overview": "groups",
    "messaging_and_leaving": "groups",
    "GroupOverview": "groups",
    "MessagingAndLeaving": "groups",
    "link_mode_quality": "link_modes",
    "LinkModeQuality": "link_modes",
    "touch_response": "touches",
    "TouchResponse": "touches",
    "member_tags": "segments",
    "MemberTags": "segments",
    "birthday_list": "member_lists",
    "segment_members": "member_lists",
    "export_member_tags": "member_lists",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(importlib.import_module(f"workbench.analyses.{EXPORTS[name]}"), name)
    raise AttributeError(f"module 'workbench.analyses' has no attribute {name!r}")


def __dir__():
    return __all__
