"""Minimum detectable effect and required sample size."""

from __future__ import annotations

import math

import pytest

from workbench.errors import ParameterError
from workbench.stats import minimum_detectable_effect, required_sample_size

Z_SUM = 1.959963984540054 + 0.8416212335729143  # z_{0.975} + z_{0.80}


def test_mde_for_a_ten_percent_conversion_with_ten_thousand_per_arm():
    r = minimum_detectable_effect(10_000, baseline_rate=0.10)
    by_hand = Z_SUM * math.sqrt(2 * 0.1 * 0.9 / 10_000)  # 0.011886...
    assert r.mde == pytest.approx(0.0119, abs=5e-5)
    # statsmodels also counts rejections in the wrong direction, which moves the MDE by < 0.01%.
    assert r.mde == pytest.approx(by_hand, rel=1e-4)
    assert r.mde_relative == pytest.approx(r.mde / 0.10)
    assert (r.n_treatment, r.n_control) == (10_000, 10_000)


def test_mde_with_a_small_holdout_by_hand():
    # 9,000 treated, 1,000 held out, revenue sd 120 CNY, control mean 80 CNY.
    r = minimum_detectable_effect(9_000, 1_000, sd=120.0, baseline_mean=80.0)
    by_hand = Z_SUM * 120 * math.sqrt(1 / 9_000 + 1 / 1_000)  # ≈ 11.21 CNY
    assert r.mde == pytest.approx(by_hand, rel=1e-4)
    assert r.mde_relative == pytest.approx(by_hand / 80, rel=1e-4)


def test_required_sample_size_round_trips_with_the_mde():
    mde = minimum_detectable_effect(10_000, baseline_rate=0.10).mde
    r = required_sample_size(mde, baseline_rate=0.10)
    assert (r.n_treatment, r.n_control) == (10_000, 10_000)
    mde = minimum_detectable_effect(9_000, 1_000, sd=120.0).mde
    r = required_sample_size(mde, sd=120.0, control_share=0.1)
    assert (r.n_treatment, r.n_control) == (9_000, 1_000)


def test_required_sample_size_for_a_relative_lift_by_hand():
    # +5% on an 80 CNY mean is 4 CNY; equal arms: n = 2 · (z·sd/δ)² = 2 · (2.8016 · 120 / 4)² ≈ 14,128.
    r = required_sample_size(relative_mde=0.05, sd=120.0, baseline_mean=80.0)
    by_hand = 2 * (Z_SUM * 120 / 4) ** 2
    assert r.mde == pytest.approx(4.0)
    assert r.n_treatment == pytest.approx(by_hand, rel=1e-3)
    assert r.n_treatment == math.ceil(r.n_treatment)


def test_more_power_or_a_smaller_effect_needs_more_members():
    base = required_sample_size(0.01, baseline_rate=0.1).n_treatment
    assert required_sample_size(0.01, baseline_rate=0.1, power=0.9).n_treatment > base
    assert required_sample_size(0.005, baseline_rate=0.1).n_treatment > base
    assert required_sample_size(0.01, baseline_rate=0.1, alpha=0.01).n_treatment > base


def test_invalid_power_inputs_raise_parameter_error():
    with pytest.raises(ParameterError, match="exactly one of sd"):
        minimum_detectable_effect(100, sd=1.0, baseline_rate=0.1)
    with pytest.raises(ParameterError, match="alpha"):
        minimum_detectable_effect(100, sd=1.0, alpha=5)
    with pytest.raises(ParameterError, match="n_treatment"):
        minimum_detectable_effect(0, sd=1.0)
    with pytest.raises(ParameterError, match="exactly one of mde"):
        required_sample_size(sd=1.0)
    with pytest.raises(ParameterError, match="needs baseline_mean"):
        required_sample_size(relative_mde=0.05, sd=1.0)
    with pytest.raises(ParameterError, match="control_share"):
        required_sample_size(0.1, sd=1.0, control_share=1.0)
