"""Incremental totals, ROI after coupon cost, and redemptions the campaign did not cause."""

from __future__ import annotations

import math

import pytest

from workbench.errors import ParameterError, ThinDataWarning
from workbench.stats import LiftResult, campaign_roi, incremental_total, redemptions_anyway


def lift(abs_lift: float, low: float, high: float, n_treatment: float) -> LiftResult:
    return LiftResult(
        control_mean=50.0,
        treatment_mean=50.0 + abs_lift,
        abs_lift=abs_lift,
        abs_low=low,
        abs_high=high,
        rel_lift=abs_lift / 50.0,
        rel_low=low / 50.0,
        rel_high=high / 50.0,
        p_value=0.01,
        n_control=100.0,
        n_treatment=n_treatment,
        std_error=1.0,
        df=500.0,
        confidence=0.95,
    )


def test_incremental_revenue_is_lift_per_member_times_treated_members():
    # +5 CNY per treated member (CI 1 to 9) over 1,000 treated members.
    r = incremental_total(lift(5.0, 1.0, 9.0, 1_000))
    assert (r.incremental, r.low, r.high) == (5_000.0, 1_000.0, 9_000.0)
    assert r.n_treatment == 1_000


def test_roi_after_coupon_cost():
    # 5,000 CNY incremental margin (CI 1,000 to 9,000) for 2,000 CNY of coupons.
    r = campaign_roi(incremental_total(lift(5.0, 1.0, 9.0, 1_000)), 2_000.0)
    assert r.net_return == 3_000.0
    assert r.roi == 1.5  # (5000 - 2000) / 2000
    assert (r.roi_low, r.roi_high) == (-0.5, 3.5)  # (1000 - 2000) / 2000, (9000 - 2000) / 2000


def test_roi_on_a_margin_already_net_of_coupons_does_not_subtract_the_cost_twice():
    r = campaign_roi(3_000.0, 2_000.0, margin_net_of_coupons=True)
    assert r.net_return == 3_000.0
    assert r.roi == 1.5
    assert math.isnan(r.roi_low)  # a bare number carries no interval


def test_roi_without_coupon_cost_is_nan_with_a_warning():
    with pytest.warns(ThinDataWarning, match="no coupon cost"):
        r = campaign_roi(500.0, 0.0)
    assert math.isnan(r.roi)
    with pytest.raises(ParameterError, match="coupon_cost"):
        campaign_roi(500.0, -1.0)


def test_redemptions_that_would_have_happened_anyway():
    # 0.5 redemptions per treated member; 1.4 visits per treated member vs 1.2 per control member:
    # 0.2 incremental visits, so 0.5 - 0.2 = 0.3 redemptions came anyway: 60%.
    r = redemptions_anyway(0.5, 1.4, 1.2, visit_lift_low=0.05, visit_lift_high=0.35)
    assert r.incremental_visits == pytest.approx(0.2)
    assert r.anyway == pytest.approx(0.3)
    assert r.share == pytest.approx(0.6)
    # The share falls as the visit lift rises: (0.5 - 0.35) / 0.5 = 0.3, (0.5 - 0.05) / 0.5 = 0.9.
    assert (r.share_low, r.share_high) == pytest.approx((0.3, 0.9))


def test_redemption_share_is_clipped_to_zero_and_one():
    # More incremental visits than redemptions: every redemption was incremental.
    assert redemptions_anyway(0.5, 2.0, 1.2).share == 0.0
    # Fewer visits in the treated arm than in control: every redemption would have happened anyway.
    r = redemptions_anyway(0.5, 1.1, 1.2)
    assert r.anyway == 0.5 and r.share == 1.0
    assert math.isnan(r.share_low)


def test_no_redemptions_gives_nan_share_with_a_warning():
    with pytest.warns(ThinDataWarning, match="no coupon was redeemed"):
        r = redemptions_anyway(0.0, 1.4, 1.2)
    assert math.isnan(r.share)
