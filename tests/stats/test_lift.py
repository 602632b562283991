"""Welch absolute lift and delta-method relative lift from Moments."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep

from workbench.errors import ThinDataWarning
from workbench.stats import LiftResult, Moments, mean_lift, proportion_lift

# Hand-typed arms: control mean 70/5 = 14, treatment mean 120/6 = 20.
CONTROL = [12.0, 15.0, 9.0, 20.0, 14.0]
TREATMENT = [18.0, 22.0, 17.0, 25.0, 16.0, 22.0]
# Squared deviations: control 4+1+25+36+0 = 66 -> s² = 16.5; treatment 4+4+9+25+16+4 = 62 -> s² = 12.4.
SE2 = 16.5 / 5 + 12.4 / 6  # 3.3 + 2.0667
DF = SE2**2 / ((16.5 / 5) ** 2 / 4 + (12.4 / 6) ** 2 / 5)  # Welch–Satterthwaite, ≈ 8.05


def quiet_lift(control, treatment, **kwargs) -> LiftResult:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return mean_lift(control, treatment, **kwargs)


def test_welch_lift_on_hand_typed_samples():
    r = quiet_lift(Moments.from_values(CONTROL), Moments.from_values(TREATMENT))
    assert (r.control_mean, r.treatment_mean) == pytest.approx((14.0, 20.0))
    assert r.abs_lift == pytest.approx(6.0)
    assert r.std_error == pytest.approx(math.sqrt(SE2))
    assert r.df == pytest.approx(DF)
    assert r.df == pytest.approx(8.0524, abs=1e-4)  # by hand: 5.3667² / (3.3²/4 + 2.0667²/5)
    assert (r.n_control, r.n_treatment) == (5, 6)

    ref = sps.ttest_ind(TREATMENT, CONTROL, equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(confidence_level=0.95)
    assert (r.abs_low, r.abs_high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    # and by hand: 6 ± t(0.975, df) · se
    q = sps.t.ppf(0.975, DF)
    assert (r.abs_low, r.abs_high) == pytest.approx((6 - q * math.sqrt(SE2), 6 + q * math.sqrt(SE2)))


def test_relative_lift_delta_method_by_hand():
    r = quiet_lift(Moments.from_values(CONTROL), Moments.from_values(TREATMENT))
    # R = 20/14; Var(R) ≈ var_t/(n_t·m_c²) + m_t²·var_c/(n_c·m_c⁴)
    var_ratio = (12.4 / 6) / 14**2 + 20**2 * (16.5 / 5) / 14**4
    half = 1.959963984540054 * math.sqrt(var_ratio)
    assert r.rel_lift == pytest.approx(20 / 14 - 1)
    assert (r.rel_low, r.rel_high) == pytest.approx((20 / 14 - 1 - half, 20 / 14 - 1 + half))


def test_a_lower_confidence_gives_a_narrower_interval():
    wide = quiet_lift(Moments.from_values(CONTROL), Moments.from_values(TREATMENT), confidence=0.99)
    narrow = quiet_lift(Moments.from_values(CONTROL), Moments.from_values(TREATMENT), confidence=0.80)
    assert wide.abs_low < narrow.abs_low < narrow.abs_high < wide.abs_high
    assert wide.rel_low < narrow.rel_low < narrow.rel_high < wide.rel_high


def test_relative_lift_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(20260105)
    reps, n = 2000, 40
    true_rel = 12.0 / 10.0 - 1
    control = rng.normal(10.0, 3.0, size=(reps, n))
    treatment = rng.normal(12.0, 3.0, size=(reps, n))
    covered = 0
    for c, t in zip(control, treatment, strict=True):
        r = mean_lift(Moments.from_values(c), Moments.from_values(t))
        covered += r.rel_low <= true_rel <= r.rel_high
    assert 0.93 <= covered / reps <= 0.97


def test_proportion_lift_matches_the_unpooled_two_proportion_interval():
    # 100 of 1000 control members converted, 130 of 1000 treated: +3 points, +30%.
    r = proportion_lift(100, 1000, 130, 1000)
    assert (r.control_mean, r.treatment_mean) == pytest.approx((0.10, 0.13))
    assert r.abs_lift == pytest.approx(0.03)
    assert r.rel_lift == pytest.approx(0.30)
    low, high = confint_proportions_2indep(130, 1000, 100, 1000, method="wald", compare="diff")
    # Welch uses s² = p(1−p)·n/(n−1) and a t quantile with ~1,950 df: the Wald interval's width to ~0.1%.
    assert r.abs_high - r.abs_low == pytest.approx(high - low, rel=5e-3)
    assert (r.abs_low + r.abs_high) / 2 == pytest.approx((low + high) / 2)
    # By hand: 0.03 ± 1.96·sqrt(0.1·0.9/1000 + 0.13·0.87/1000) = 0.03 ± 0.0281
    assert r.abs_high - r.abs_lift == pytest.approx(1.96 * math.sqrt(0.09 / 1000 + 0.1131 / 1000), rel=5e-3)
    assert r.p_value < 0.05


def test_an_arm_with_fewer_than_two_members_gives_nan_and_a_thin_data_warning():
    with pytest.warns(ThinDataWarning, match="segment=VIP: lift needs at least 2 members"):
        r = mean_lift(Moments.from_values([5.0]), Moments.from_values(TREATMENT), label="segment=VIP")
    assert r.control_mean == 5.0 and r.treatment_mean == pytest.approx(20.0)
    for field in ("abs_lift", "abs_low", "abs_high", "rel_lift", "rel_low", "rel_high", "p_value"):
        assert math.isnan(getattr(r, field)), field


def test_an_empty_arm_gives_nan_means_and_a_warning():
    with pytest.warns(ThinDataWarning):
        r = mean_lift(Moments(0, 0.0, 0.0), Moments.from_values(TREATMENT))
    assert math.isnan(r.control_mean) and math.isnan(r.abs_lift) and r.n_control == 0


def test_no_variance_in_either_arm_gives_nan_and_a_warning():
    # Nobody converted in either arm; and every member spent exactly 35.5 (rounding must not hide it).
    with pytest.warns(ThinDataWarning, match="zero variance"):
        r = proportion_lift(0, 500, 0, 500)
    assert math.isnan(r.abs_lift) and math.isnan(r.p_value)
    with pytest.warns(ThinDataWarning, match="zero variance"):
        r = mean_lift(Moments.from_values([35.5] * 9), Moments.from_values([35.5] * 11))
    assert math.isnan(r.abs_low)


def test_a_zero_control_mean_keeps_the_absolute_lift_and_warns_about_the_relative_one():
    with pytest.warns(ThinDataWarning, match="positive control mean"):
        r = proportion_lift(0, 200, 12, 200)
    assert r.abs_lift == pytest.approx(0.06)
    assert r.abs_low < 0.06 < r.abs_high
    assert math.isnan(r.rel_lift) and math.isnan(r.rel_low)


def test_result_is_a_row_with_the_documented_fields():
    row = quiet_lift(Moments.from_values(CONTROL), Moments.from_values(TREATMENT)).to_dict()
    for field in (
        "control_mean",
        "treatment_mean",
        "abs_lift",
        "abs_low",
        "abs_high",
        "rel_lift",
        "rel_low",
        "rel_high",
        "p_value",
        "n_control",
        "n_treatment",
    ):
        assert field in row
