"""Two-sample comparison of means (treatment vs control) from sufficient statistics.

The unit is a member; an outcome is a per-member mean (visits, revenue, margin) or a proportion (conversion:
the mean of a 0/1 outcome, so the same test). The absolute lift uses Welch's t (unequal variances, the
Welch–Satterthwaite degrees of freedom); the relative lift uses the delta method on the ratio of the means.

Delta method (chosen over Fieller's interval because it is symmetric, always finite and matches what
experiment platforms such as GrowthBook report; the two agree when the control mean is estimated precisely,
i.e. its coefficient of variation sd/(mean·sqrt(n)) is small, which holds for campaign-sized arms):

    R = mean_t / mean_c,   Var(R) ≈ var_t / (n_t·mean_c²) + mean_t²·var_c / (n_c·mean_c⁴)
    rel_lift = R − 1,      CI = rel_lift ± z·sqrt(Var(R)),   z = normal (1+confidence)/2 quantile.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats as sps

from workbench.stats._common import DEFAULT_CONFIDENCE, NAN, check_share, warn_thin
from workbench.stats.moments import Moments


@dataclass(frozen=True)
class LiftResult:
    """Treatment vs control comparison of one outcome.

    Fields (units of the outcome unless said otherwise):
      control_mean, treatment_mean   per-member means of each arm
      abs_lift, abs_low, abs_high    treatment_mean − control_mean and its Welch confidence interval
      rel_lift, rel_low, rel_high    treatment_mean / control_mean − 1 (share, 0.05 = +5%), delta-method CI
      p_value                        two-sided Welch t-test of equal means
      n_control, n_treatment         units (members) per arm
      std_error                      standard error of abs_lift
      df                             Welch–Satterthwaite degrees of freedom
      confidence                     level of the intervals (0.95)

    Thin cells (fewer than 2 units in an arm, or no variance in either arm) keep the arm means but have
    NaN lifts, intervals and p-value.
    """

    control_mean: float
    treatment_mean: float
    abs_lift: float
    abs_low: float
    abs_high: float
    rel_lift: float
    rel_low: float
    rel_high: float
    p_value: float
    n_control: float
    n_treatment: float
    std_error: float
    df: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (one row of a lift table)."""
        return asdict(self)


def mean_lift(
    control: Moments,
    treatment: Moments,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    label: str | None = None,
) -> LiftResult:
    """Absolute and relative lift of the treatment mean over the control mean, from each arm's Moments.

    Returns a :class:`LiftResult` (means and lifts in the outcome's units, rel_* as shares). The p-value
    is ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``; the absolute interval is
    abs_lift ± t_{df}·se with se = sqrt(var_t/n_t + var_c/n_c) and the Welch–Satterthwaite df
    (the interval ``scipy.stats.ttest_ind(equal_var=False).confidence_interval()`` gives on raw data).
    The relative interval is the delta method on the ratio of means (module docstring).

    Never raises on thin data: fewer than 2 units in an arm or zero variance in both arms gives NaN
    inference and a ThinDataWarning; a control mean <= 0 gives NaN relative lift and a warning. ``label``
    (e.g. "segment=VIP, metric=revenue") prefixes the warning.
    """
    return compare_arms(
        control.n,
        control.mean,
        control.variance,
        treatment.n,
        treatment.mean,
        treatment.variance,
        confidence=confidence,
        label=label,
    )


def proportion_lift(
    control_successes: float,
    control_n: float,
    treatment_successes: float,
    treatment_n: float,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    label: str | None = None,
) -> LiftResult:
    """Lift of a proportion (e.g. conversion: share of members with a visit in the window).

    Returns a :class:`LiftResult` whose means are shares (0-1) and abs_* are differences in share points
    (0.02 = two percentage points). Same test as :func:`mean_lift` on the 0/1 outcome
    (``Moments.from_proportion``): Welch's unpooled standard error, which for campaign-sized arms equals
    the unpooled two-proportion z-interval.
    """
    return mean_lift(
        Moments.from_proportion(control_successes, control_n),
        Moments.from_proportion(treatment_successes, treatment_n),
        confidence=confidence,
        label=label,
    )


def compare_arms(
    n_control: float,
    mean_control: float,
    var_control: float,
    n_treatment: float,
    mean_treatment: float,
    var_treatment: float,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    label: str | None = None,
) -> LiftResult:
    """The Welch / delta-method comparison from each arm's count, mean and sample variance (ddof=1).

    Returns a :class:`LiftResult`. This is the core of :func:`mean_lift`, exposed for statistics that
    are not plain moments (CUPED-adjusted means and variances, see ``workbench.stats.cuped``).
    """
    level = check_share("confidence", confidence)
    n_c, n_t = float(n_control), float(n_treatment)
    m_c, m_t = float(mean_control), float(mean_treatment)
    v_c, v_t = float(var_control), float(var_treatment)
    thin = LiftResult(
        control_mean=m_c if n_c > 0 else NAN,
        treatment_mean=m_t if n_t > 0 else NAN,
        abs_lift=NAN,
        abs_low=NAN,
        abs_high=NAN,
        rel_lift=NAN,
        rel_low=NAN,
        rel_high=NAN,
        p_value=NAN,
        n_control=n_c,
        n_treatment=n_t,
        std_error=NAN,
        df=NAN,
        confidence=level,
    )
    if n_c < 2 or n_t < 2:
        warn_thin(
            f"lift needs at least 2 members per arm; got {n_c:g} control and {n_t:g} treatment, so the lift is NaN.",
            label,
        )
        return thin
    if not (math.isfinite(v_c) and math.isfinite(v_t) and math.isfinite(m_c) and math.isfinite(m_t)):
        warn_thin("an arm's mean or variance is not finite, so the lift is NaN.", label)
        return thin
    se2_c, se2_t = v_c / n_c, v_t / n_t
    se2 = se2_c + se2_t
    if se2 <= 0:
        warn_thin(
            "every member of both arms has the same outcome (zero variance), so the lift has no interval "
            "and is NaN.",
            label,
        )
        return thin
    se = math.sqrt(se2)
    df = se2 * se2 / (se2_c * se2_c / (n_c - 1) + se2_t * se2_t / (n_t - 1))
    q = float(sps.t.ppf(0.5 + level / 2, df))
    diff = m_t - m_c
    p_value = float(
        sps.ttest_ind_from_stats(m_t, math.sqrt(v_t), n_t, m_c, math.sqrt(v_c), n_c, equal_var=False).pvalue
    )
    rel = rel_low = rel_high = NAN
    if m_c > 0:
        ratio = m_t / m_c
        var_ratio = se2_t / (m_c * m_c) + m_t * m_t * se2_c / m_c**4
        z = float(sps.norm.ppf(0.5 + level / 2))
        half = z * math.sqrt(var_ratio)
        rel, rel_low, rel_high = ratio - 1.0, ratio - 1.0 - half, ratio - 1.0 + half
    else:
        warn_thin(
            f"the control mean is {m_c:g}; a relative lift needs a positive control mean, so it is NaN.",
            label,
        )
    return LiftResult(
        control_mean=m_c,
        treatment_mean=m_t,
        abs_lift=diff,
        abs_low=diff - q * se,
        abs_high=diff + q * se,
        rel_lift=rel,
        rel_low=rel_low,
        rel_high=rel_high,
        p_value=p_value,
        n_control=n_c,
        n_treatment=n_t,
        std_error=se,
        df=df,
        confidence=level,
    )
