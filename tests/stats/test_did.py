"""Stratified difference-in-differences on numbers worked out by hand."""

import math

import pytest

from workbench.errors import ThinDataWarning
from workbench.stats import Moments
from workbench.stats.did import stratified_did


def test_one_stratum_is_a_difference_of_means_with_welch_like_variance():
    t = Moments.from_values([2, 4, 6])  # mean 4, var 4
    c = Moments.from_values([1, 1, 3, 3])  # mean 2, var 4/3
    r = stratified_did({"a": t}, {"a": c})
    assert r.effect == pytest.approx(2.0)
    se = math.sqrt(4 / 3 + (4 / 3) / 4)
    assert (r.high - r.low) / 2 == pytest.approx(1.959964 * se, rel=1e-5)
    assert (r.treated_matched, r.comparison_units, r.strata) == (3, 4, 1)


def test_strata_are_weighted_by_treated_units_and_unmatched_are_counted():
    # stratum a: 2 treated, diff 1 - 0 = 1; stratum b: 4 treated, diff 5 - 2 = 3; c: no comparison units
    treated = {
        "a": Moments.from_values([1, 1]),
        "b": Moments.from_values([5, 5, 5, 5]),
        "c": Moments.from_values([9, 9, 9]),
    }
    comparison = {"a": Moments.from_values([0, 0, 0]), "b": Moments.from_values([2, 2])}
    r = stratified_did(treated, comparison)
    assert r.effect == pytest.approx((2 * 1 + 4 * 3) / 6)
    assert (r.treated_matched, r.treated_unmatched) == (6, 3)


def test_no_comparable_units_is_nan_with_a_warning():
    with pytest.warns(ThinDataWarning):
        r = stratified_did({"a": Moments.from_values([1, 2])}, {"b": Moments.from_values([1, 2])})
    assert math.isnan(r.effect) and r.treated_unmatched == 2
