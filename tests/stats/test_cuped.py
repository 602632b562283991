"""CUPED from moments with a pre-period covariate."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from workbench.errors import ParameterError, ThinDataWarning
from workbench.stats import Moments, cuped_lift, cuped_theta, mean_lift

# Hand-sized campaign: x = pre-period visits, y = visits in the window.
CONTROL_X = [1.0, 2.0, 3.0, 4.0, 5.0]
CONTROL_Y = [2.0, 3.0, 5.0, 4.0, 6.0]
TREAT_X = [2.0, 3.0, 4.0, 6.0, 7.0, 8.0]
TREAT_Y = [4.0, 5.0, 7.0, 8.0, 9.0, 11.0]


def arms():
    return Moments.from_values(CONTROL_Y, CONTROL_X), Moments.from_values(TREAT_Y, TREAT_X)


def quiet_cuped(control, treatment):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cuped_lift(control, treatment)


def test_theta_is_the_pooled_within_arm_slope_by_hand():
    # control: S_xx = 10, S_xy = 9 (deviations -2..2 and -2,-1,1,0,2)
    # treatment: mean x 5, mean y 44/6; S_xx = 9+4+1+1+4+9 = 28,
    # S_xy = sum(x·y) - 6·5·44/6 = (8+15+28+48+63+88) - 220 = 30
    assert cuped_theta(*arms()) == pytest.approx((9 + 30) / (10 + 28))


def test_cuped_equals_the_regression_adjusted_estimate():
    control, treatment = arms()
    r = quiet_cuped(control, treatment)
    x = np.array(CONTROL_X + TREAT_X)
    y = np.array(CONTROL_Y + TREAT_Y)
    treat = np.r_[np.zeros(5), np.ones(6)]
    design = sm.add_constant(np.column_stack([treat, x - x.mean()]))
    fit = sm.OLS(y, design).fit()
    intercept, effect, slope = fit.params
    assert r.abs_lift == pytest.approx(effect, rel=1e-12)
    assert r.theta == pytest.approx(slope, rel=1e-12)
    assert r.control_mean == pytest.approx(intercept, rel=1e-12)
    assert r.treatment_mean == pytest.approx(intercept + effect, rel=1e-12)


def test_cuped_interval_is_welch_on_the_member_level_adjusted_outcomes():
    control, treatment = arms()
    r = quiet_cuped(control, treatment)
    theta = 39 / 38
    x_mean = (sum(CONTROL_X) + sum(TREAT_X)) / 11
    adj_c = np.array(CONTROL_Y) - theta * (np.array(CONTROL_X) - x_mean)
    adj_t = np.array(TREAT_Y) - theta * (np.array(TREAT_X) - x_mean)
    ref = sps.ttest_ind(adj_t, adj_c, equal_var=False)
    ci = ref.confidence_interval()
    assert (r.abs_low, r.abs_high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    raw = mean_lift(control, treatment)
    assert r.abs_high - r.abs_low < raw.abs_high - raw.abs_low
    assert r.variance_reduction == pytest.approx(1 - r.std_error**2 / raw.std_error**2)


def test_variance_reduction_matches_the_squared_correlation():
    # y = x + noise with sd(x) = 1 and sd(noise) = 0.75: rho² = 1 / (1 + 0.75²) = 0.64,
    # so the variance left is 1 − rho² = 0.36 and the reduction share is 0.64.
    rng = np.random.default_rng(7)
    n = 20_000
    rho2 = 1 / (1 + 0.75**2)
    x_c, x_t = rng.normal(5, 1, n), rng.normal(5, 1, n)
    control = Moments.from_values(x_c + rng.normal(0, 0.75, n), x_c)
    treatment = Moments.from_values(x_t + 0.1 + rng.normal(0, 0.75, n), x_t)
    r = quiet_cuped(control, treatment)
    assert r.variance_reduction == pytest.approx(1 - (1 - rho2), abs=0.01)
    assert r.theta == pytest.approx(1.0, abs=0.02)


def test_adjusted_lift_is_unbiased_in_simulation():
    rng = np.random.default_rng(11)
    reps, n, effect = 400, 200, 0.3
    lifts, covered = [], 0
    for _ in range(reps):
        x_c, x_t = rng.gamma(2.0, 1.5, n), rng.gamma(2.0, 1.5, n)
        y_c = 1.0 + 0.8 * x_c + rng.normal(0, 1, n)
        y_t = 1.0 + 0.8 * x_t + effect + rng.normal(0, 1, n)
        r = cuped_lift(Moments.from_values(y_c, x_c), Moments.from_values(y_t, x_t))
        lifts.append(r.abs_lift)
        covered += r.abs_low <= effect <= r.abs_high
    lifts = np.array(lifts)
    # The estimator's sd is about sqrt(2/200) = 0.1, so the mean of 400 has sd 0.005.
    assert lifts.mean() == pytest.approx(effect, abs=0.02)
    assert 0.92 <= covered / reps <= 0.98


def test_a_constant_covariate_means_no_adjustment():
    control = Moments.from_values(CONTROL_Y, [0.0] * 5)
    treatment = Moments.from_values(TREAT_Y, [0.0] * 6)
    r = quiet_cuped(control, treatment)
    raw = mean_lift(control, treatment)
    assert r.theta == 0.0
    assert r.variance_reduction == pytest.approx(0.0)
    assert (r.abs_lift, r.abs_low, r.abs_high) == pytest.approx((raw.abs_lift, raw.abs_low, raw.abs_high))


def test_missing_covariate_is_a_parameter_error_naming_the_arm():
    control, _ = arms()
    with pytest.raises(ParameterError, match="treatment Moments"):
        cuped_lift(control, Moments.from_values(TREAT_Y))


def test_thin_arm_gives_nan_and_a_warning():
    control, _ = arms()
    with pytest.warns(ThinDataWarning):
        r = cuped_lift(control, Moments.from_values([3.0], [1.0]))
    assert math.isnan(r.abs_lift) and math.isnan(r.variance_reduction)
