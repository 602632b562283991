"""Sample-ratio mismatch check."""

from __future__ import annotations

import math

import pytest

from workbench.errors import ParameterError, ThinDataWarning
from workbench.stats import SRM_P_THRESHOLD, sample_ratio_check


def test_a_perfect_split_has_p_value_one():
    r = sample_ratio_check([5000, 5000], [0.5, 0.5])
    assert r.chi2 == 0.0
    assert r.p_value == pytest.approx(1.0)
    assert r.mismatch is False


def test_5000_vs_5400_is_flagged():
    r = sample_ratio_check([5000, 5400], [0.5, 0.5])
    # Expected 5200 each: chi² = 2 · 200² / 5200 = 15.3846; 1 df, so p = erfc(sqrt(chi²/2)) ≈ 8.8e-5.
    chi2 = 2 * 200**2 / 5200
    assert r.chi2 == pytest.approx(15.384615, abs=1e-6)
    assert r.chi2 == pytest.approx(chi2)
    assert r.p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)), rel=1e-9)
    assert r.p_value < 0.001
    assert r.mismatch is True
    assert r.expected == (5200.0, 5200.0)


def test_a_small_imbalance_is_not_flagged_at_the_strict_threshold():
    # 5000 vs 5150: chi² = 2 · 75² / 5075 = 2.217, p ≈ 0.137.
    r = sample_ratio_check([5000, 5150], [0.5, 0.5])
    assert r.chi2 == pytest.approx(2 * 75**2 / 5075)
    assert r.mismatch is False
    assert SRM_P_THRESHOLD == 0.001


def test_arms_by_name_with_a_ten_percent_holdout():
    r = sample_ratio_check({"treatment": 9000, "control": 1000}, {"control": 0.1, "treatment": 0.9})
    assert r.p_value == pytest.approx(1.0)
    assert dict(zip(r.arms, r.observed, strict=True)) == {"control": 1000, "treatment": 9000}
    # 12% holdout observed on a 10% plan: chi² = 200²/1000 + 200²/9000 = 44.4
    r = sample_ratio_check({"treatment": 8800, "control": 1200}, {"control": 0.1, "treatment": 0.9})
    assert r.chi2 == pytest.approx(200**2 / 1000 + 200**2 / 9000)
    assert r.mismatch


def test_no_units_gives_nan_and_a_warning():
    with pytest.warns(ThinDataWarning):
        r = sample_ratio_check([0, 0], [0.5, 0.5])
    assert math.isnan(r.p_value) and r.mismatch is False


def test_invalid_plans_raise_parameter_error():
    with pytest.raises(ParameterError, match="sum to 1"):
        sample_ratio_check([10, 10], [0.5, 0.6])
    with pytest.raises(ParameterError, match="same arm names"):
        sample_ratio_check({"treatment": 1, "control": 1}, {"treatment": 0.5, "holdout": 0.5})
    with pytest.raises(ParameterError, match="one share per arm"):
        sample_ratio_check([10, 10, 10], [0.5, 0.5])
    with pytest.raises(ParameterError, match="counts >= 0"):
        sample_ratio_check([-1, 10], [0.5, 0.5])
