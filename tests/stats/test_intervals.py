"""Wilson score interval and the mean interval from (n, sum, sum of squares)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from workbench.errors import ParameterError
from workbench.stats import mean_interval, wilson_interval

Z95 = 1.959963984540054  # standard normal 0.975 quantile


def wilson_by_hand(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927): (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    return (centre - half) / denom, (centre + half) / denom


def test_wilson_8_of_10_matches_the_published_interval():
    low, high = wilson_interval(8, 10)
    # 95% Wilson interval for 8 of 10, worked on paper from the formula: 0.4902 - 0.9433.
    assert low == pytest.approx(0.4902, abs=5e-5)
    assert high == pytest.approx(0.9433, abs=5e-5)
    hand_low, hand_high = wilson_by_hand(8, 10)
    assert (low, high) == pytest.approx((hand_low, hand_high), abs=1e-12)


def test_wilson_zero_successes_has_lower_bound_exactly_zero():
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    # With k = 0 the formula reduces to high = z² / (n + z²).
    assert high == pytest.approx(Z95**2 / (10 + Z95**2), rel=1e-12)


def test_wilson_all_successes_has_upper_bound_exactly_one():
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(10 / (10 + Z95**2), rel=1e-12)


def test_wilson_with_no_units_is_nan():
    low, high = wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)


def test_wilson_agrees_with_statsmodels_over_a_grid():
    ns = np.array([1, 2, 5, 17, 100, 1234])
    for confidence in (0.8, 0.95, 0.99):
        for n in ns:
            k = np.arange(n + 1)
            low, high = wilson_interval(k, np.full_like(k, n), confidence=confidence)
            ref_low, ref_high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
            np.testing.assert_allclose(low, ref_low, atol=1e-12)
            np.testing.assert_allclose(high, ref_high, atol=1e-12)


def test_wilson_takes_a_whole_retention_column_and_keeps_its_index():
    # A retention column: retained members and cohort sizes, an incomplete cell (NaN) and an empty cohort.
    retained = pd.Series([8.0, 0.0, np.nan, 0.0], index=["2026-W01", "2026-W02", "2026-W03", "2026-W04"])
    size = pd.Series([10, 10, 12, 0], index=retained.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = wilson_interval(retained, size)
    assert isinstance(low, pd.Series) and list(low.index) == list(retained.index)
    assert low["2026-W01"] == pytest.approx(wilson_by_hand(8, 10)[0])
    assert low["2026-W02"] == 0.0
    assert low[["2026-W03", "2026-W04"]].isna().all() and high[["2026-W03", "2026-W04"]].isna().all()
    assert ((low.dropna() >= 0) & (high.dropna() <= 1) & (low.dropna() <= high.dropna())).all()


def test_wilson_rejects_more_successes_than_units():
    with pytest.raises(ParameterError, match="0 <= successes <= n"):
        wilson_interval(np.array([3, 11]), np.array([10, 10]))
    with pytest.raises(ParameterError, match="confidence"):
        wilson_interval(1, 10, confidence=95)


def test_mean_interval_by_hand():
    # 2, 4, 4, 4, 5, 5, 7, 9: n 8, sum 40, sum of squares 232; mean 5, s² = 32/7, t(0.975, 7) = 2.364624.
    mean, low, high = mean_interval(8, 40.0, 232.0)
    half = 2.364624 * math.sqrt(32 / 7 / 8)
    assert mean == 5.0
    assert (low, high) == pytest.approx((5 - half, 5 + half), abs=1e-5)
    ref = sps.t.interval(0.95, 7, loc=5, scale=sps.sem([2, 4, 4, 4, 5, 5, 7, 9]))
    assert (low, high) == pytest.approx(ref, rel=1e-12)


def test_mean_interval_normal_method_uses_the_normal_quantile():
    _, low, high = mean_interval(8, 40.0, 232.0, method="normal")
    half = Z95 * math.sqrt(32 / 7 / 8)
    assert (low, high) == pytest.approx((5 - half, 5 + half), rel=1e-12)


def test_mean_interval_is_vectorised_and_nan_for_thin_cells():
    n = pd.Series([8, 1, 0], index=["a", "b", "c"])
    total = pd.Series([40.0, 3.0, 0.0], index=n.index)
    sum_sq = pd.Series([232.0, 9.0, 0.0], index=n.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, low, high = mean_interval(n, total, sum_sq)
    assert list(mean.index) == ["a", "b", "c"]
    assert mean["a"] == 5.0 and mean["b"] == 3.0 and math.isnan(mean["c"])
    assert low[["b", "c"]].isna().all() and high[["b", "c"]].isna().all()
    assert low["a"] < 5 < high["a"]
