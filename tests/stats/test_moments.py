"""Moments: the sufficient statistics the engine hands to the statistics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ParameterError
from workbench.stats import Moments


def test_mean_and_sample_variance_from_hand_typed_values():
    # 2, 4, 4, 4, 5, 5, 7, 9: sum 40, mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32, var = 32/7.
    m = Moments.from_values([2, 4, 4, 4, 5, 5, 7, 9])
    assert (m.n, m.sum, m.sum_sq) == (8, 40.0, 232.0)
    assert m.mean == 5.0
    assert m.variance == pytest.approx(32 / 7)
    assert m.std == pytest.approx(math.sqrt(32 / 7))
    assert not m.has_covariate


def test_covariate_moments_match_numpy():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([2.0, 3.0, 5.0, 4.0, 6.0])
    m = Moments.from_values(y, x)
    assert m.has_covariate
    assert m.mean_x == 3.0
    assert m.variance_x == pytest.approx(np.var(x, ddof=1))
    # cov by hand: deviations of x -2..2, of y -2,-1,1,0,2 -> 4+1+0+0+4 = 9, / 4
    assert m.covariance_xy == pytest.approx(9 / 4)


def test_moments_of_two_groups_add_up_to_the_moments_of_the_union():
    a = Moments.from_values([1.0, 2.0, 3.0], [0.0, 1.0, 1.0])
    b = Moments.from_values([10.0, 20.0], [2.0, 5.0])
    whole = Moments.from_values([1.0, 2.0, 3.0, 10.0, 20.0], [0.0, 1.0, 1.0, 2.0, 5.0])
    pooled = a + b
    for field in ("n", "sum", "sum_sq", "sum_x", "sum_x_sq", "sum_xy"):
        assert getattr(pooled, field) == pytest.approx(getattr(whole, field))


def test_a_proportion_is_the_mean_of_a_zero_one_outcome():
    m = Moments.from_proportion(3, 10)
    raw = Moments.from_values([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    assert (m.n, m.sum, m.sum_sq) == (raw.n, raw.sum, raw.sum_sq)
    assert m.variance == pytest.approx(0.3 * 0.7 * 10 / 9)


def test_from_mapping_reads_a_row_of_arm_moments():
    row = pd.Series(
        {
            "arm": "control",
            "metric": "revenue",
            "n": 4,
            "sum": 10.0,
            "sum_sq": 30.0,
            "sum_x": 8.0,
            "sum_x_sq": 20.0,
            "sum_xy": 22.0,
        }
    )
    m = Moments.from_mapping(row)
    assert (m.n, m.sum, m.sum_x, m.sum_xy) == (4, 10.0, 8.0, 22.0)
    assert Moments.from_mapping({"n": 3, "sum": 3.0, "sum_sq": 5.0}).has_covariate is False


def test_constant_values_have_exactly_zero_variance_not_a_rounding_negative():
    m = Moments.from_values([0.1] * 7)
    assert m.variance == 0.0


def test_undefined_statistics_are_nan():
    assert math.isnan(Moments(0, 0.0, 0.0).mean)
    assert math.isnan(Moments(1, 5.0, 25.0).variance)
    assert math.isnan(Moments(5, 5.0, 25.0).variance_x)


def test_invalid_moments_raise_parameter_error():
    with pytest.raises(ParameterError, match="n=-1"):
        Moments(-1, 0.0, 0.0)
    with pytest.raises(ParameterError, match="missing: sum_sq"):
        Moments.from_mapping({"n": 3, "sum": 1.0})
    with pytest.raises(ParameterError, match="0 <= successes <= n"):
        Moments.from_proportion(11, 10)
    with pytest.raises(ParameterError, match="one x per y"):
        Moments.from_values([1, 2, 3], [1, 2])
