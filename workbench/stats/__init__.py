"""Pure statistics on sufficient statistics: intervals, lift tests, CUPED, SRM, power, incrementality.

The engine computes counts, sums and sums of squares (:class:`Moments`); these functions do the inference,
so the same code serves DuckDB and Spark. No tables, no engine, no plotting. Thin cells give NaN and a
``ThinDataWarning``; only invalid input raises ``ParameterError``.
"""

from workbench.stats.cuped import CupedResult, cuped_lift, cuped_theta
from workbench.stats.incrementality import (
    CampaignRoi,
    IncrementalTotal,
    RedemptionsAnyway,
    campaign_roi,
    incremental_total,
    redemptions_anyway,
)
from workbench.stats.intervals import mean_interval, wilson_interval
from workbench.stats.lift import LiftResult, compare_arms, mean_lift, proportion_lift
from workbench.stats.moments import Moments
from workbench.stats.power import PowerResult, minimum_detectable_effect, required_sample_size
from workbench.stats.srm import SRM_P_THRESHOLD, SrmResult, sample_ratio_check

__all__ = [
    "SRM_P_THRESHOLD",
    "CampaignRoi",
    "CupedResult",
    "IncrementalTotal",
    "LiftResult",
    "Moments",
    "PowerResult",
    "RedemptionsAnyway",
    "SrmResult",
    "campaign_roi",
    "compare_arms",
    "cuped_lift",
    "cuped_theta",
    "incremental_total",
    "mean_interval",
    "mean_lift",
    "minimum_detectable_effect",
    "proportion_lift",
    "redemptions_anyway",
    "required_sample_size",
    "sample_ratio_check",
    "wilson_interval",
]
