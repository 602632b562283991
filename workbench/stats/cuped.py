"""CUPED: lift with a pre-period covariate, from sufficient statistics (Deng, Xu, Kohavi & Walker 2013).

Each arm's Moments carry the outcome y and the pre-period covariate x (sum_x, sum_x_sq, sum_xy). With
within-arm sums of squares S_xx, S_xy (deviations from each arm's own means):

    theta        = (S_xy,c + S_xy,t) / (S_xx,c + S_xx,t)        pooled over both arms
    adj mean_a   = mean_y,a − theta · (mean_x,a − mean_x)      mean_x over both arms together
    adj var_a    = var_y,a − 2·theta·cov_xy,a + theta²·var_x,a  (sample, ddof=1)

then the Welch / delta-method inference of ``workbench.stats.lift`` runs on the adjusted statistics.
Pooling theta within arms makes the adjusted difference identical to the treatment coefficient of the
OLS regression y ~ 1 + treatment + (x − mean_x). Theta is treated as known (its estimation adds a term of
order 1/n to the variance, negligible at campaign sizes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workbench.errors import ParameterError
from workbench.stats._common import DEFAULT_CONFIDENCE, NAN
from workbench.stats.lift import LiftResult, compare_arms
from workbench.stats.moments import Moments, centered_sum_sq


@dataclass(frozen=True)
class CupedResult(LiftResult):
    """A :class:`LiftResult` on CUPED-adjusted statistics, plus the adjustment itself.

    Fields: every LiftResult field (control_mean and treatment_mean are the *adjusted* means, units of y),
    and
      theta               the pooled within-arm regression slope of y on x (units of y per unit of x)
      variance_reduction  1 − Var(adjusted abs_lift) / Var(unadjusted abs_lift): the share of the lift's
                          variance the covariate removes (0-1; ≈ rho², the squared within-arm correlation
                          of x and y, when the arms are alike). NaN when the unadjusted variance is 0 or
                          undefined.
    """

    theta: float
    variance_reduction: float


def cuped_theta(control: Moments, treatment: Moments) -> float:
    """The CUPED coefficient theta = pooled within-arm cov(x, y) / var(x) (units of y per unit of x).

    Returns 0.0 when x does not vary within the arms (the covariate then carries no information and the
    adjustment is none); NaN when an arm has no units.
    """
    _require_covariate(control, treatment)
    if control.n <= 0 or treatment.n <= 0:
        return NAN
    s_xx = _s_xx(control) + _s_xx(treatment)
    s_xy = _s_xy(control) + _s_xy(treatment)
    return s_xy / s_xx if s_xx > 0 else 0.0


def cuped_lift(
    control: Moments,
    treatment: Moments,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    label: str | None = None,
) -> CupedResult:
    """Lift of the treatment over the control adjusted for the pre-period covariate x (CUPED).

    Both Moments need sum_x, sum_x_sq and sum_xy (a ParameterError names the arm otherwise). Returns a
    :class:`CupedResult`: the LiftResult fields on adjusted means and variances (units of y; rel_* shares),
    theta and the variance reduction share. Thin arms give NaN and a ThinDataWarning, as in ``mean_lift``.
    """
    theta = cuped_theta(control, treatment)
    if math.isnan(theta):  # an empty arm: compare_arms warns and returns NaN.
        theta = 0.0
    n = control.n + treatment.n
    mean_x = (control.sum_x + treatment.sum_x) / n if n > 0 else NAN
    adjusted = {}
    for name, arm in (("control", control), ("treatment", treatment)):
        adj_mean = arm.mean - theta * (arm.mean_x - mean_x)
        adj_var = NAN
        if arm.n >= 2:
            adj_var = max(arm.variance - 2 * theta * arm.covariance_xy + theta * theta * arm.variance_x, 0.0)
        adjusted[name] = (arm.n, adj_mean, adj_var)
    lift = compare_arms(*adjusted["control"], *adjusted["treatment"], confidence=confidence, label=label)
    reduction = NAN
    if control.n >= 2 and treatment.n >= 2:
        raw = control.variance / control.n + treatment.variance / treatment.n
        adj = adjusted["control"][2] / control.n + adjusted["treatment"][2] / treatment.n
        if raw > 0:
            reduction = 1.0 - adj / raw
    return CupedResult(**lift.to_dict(), theta=theta, variance_reduction=reduction)


def _require_covariate(control: Moments, treatment: Moments) -> None:
    for name, arm in (("control", control), ("treatment", treatment)):
        if not arm.has_covariate:
            raise ParameterError(
                f"CUPED needs the pre-period covariate in both arms; the {name} Moments have "
                f"sum_x={arm.sum_x!r}, sum_x_sq={arm.sum_x_sq!r}, sum_xy={arm.sum_xy!r}; expected finite numbers."
            )


def _s_xx(m: Moments) -> float:
    """Within-group sum of squared deviations of x."""
    return float(centered_sum_sq(m.n, m.sum_x_sq, m.sum_x))


def _s_xy(m: Moments) -> float:
    """Within-group sum of cross deviations of x and y."""
    return m.sum_xy - m.sum_x * m.sum / m.n
