"""Campaign outcomes per member, checked on a campaign small enough to work out on paper.

Campaign C1 starts Monday 2026-03-02, window 14 days (2-15 March), coupon 20 CNY, holdout 50%, margin rate
0.5. Treatment T1..T4, control K1..K4, all assigned 2026-03-02 10:00 Beijing time.

  member  pre-period (90 days before)   window
  T1      2 visits: 100, 50             3 Mar 80 paid + 20 coupon; 10 Mar 60
  T2      -                             15 Mar 23:30 40 paid + 20 coupon (last day of the window)
  T3      1 visit: 30                   16 Mar 00:10 -> day 14, outside the window
  T4      -                             -
  K1      1 visit: 90                   5 Mar 100
  K2      -                             -
  K3      3 visits: 20 each             -
  K4      1 Mar 23:59 -> pre-period     -
"""

import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.lift_outcomes import arm_moments, campaign_info, member_outcomes


@pytest.fixture
def db(campaign_db):
    return campaign_db


def outcomes(db, **kwargs):
    info = campaign_info(db, "C1")
    frame = member_outcomes(
        db, [info.campaign_id], as_of=pd.Timestamp("2026-03-31").date(), margin_rate=0.5, **kwargs
    )
    return frame.to_pandas().set_index("member_id").sort_index()


def test_window_visits_revenue_and_margin_by_hand(db):
    o = outcomes(db)
    assert o.loc["T1", ["visits", "revenue", "converted"]].tolist() == [2, 140.0, 1]
    # margin = paid - (paid + discount) * 0.5: (80 - 100*0.5) + (60 - 60*0.5) = 30 + 30
    assert o.loc["T1", "margin"] == pytest.approx(60.0)
    assert o.loc["T2", ["visits", "revenue"]].tolist() == [1, 40.0]  # 23:30 on the last day counts
    assert o.loc["T2", "margin"] == pytest.approx(40 - 60 * 0.5)
    assert o.loc["T3", "visits"] == 0  # 00:10 on 16 March is day 14: outside
    assert o.loc["K1", ["visits", "revenue"]].tolist() == [1, 100.0]
    assert o[["visits"]].sum().item() == 4


def test_pre_period_is_the_days_before_assignment(db):
    o = outcomes(db)
    assert o["pre_visits"].to_dict() == {
        "K1": 1,
        "K2": 0,
        "K3": 3,
        "K4": 1,
        "T1": 2,
        "T2": 0,
        "T3": 1,
        "T4": 0,
    }
    assert o.loc["T1", "pre_revenue"] == 150.0
    assert outcomes(db, pre_days=30).loc["K3", "pre_visits"] == 0  # 5-7 Jan is more than 30 days before


def test_coupons_issued_and_redeemed(db):
    o = outcomes(db)
    assert o["coupons_redeemed"].sum() == 2 and o["coupons_issued"].sum() == 4
    assert o.loc["T1", "coupon_cost"] == 20.0 and o.loc["K1", "coupon_cost"] == 0.0


def test_arm_moments_are_sums_by_hand(db):
    o = member_outcomes(db, "C1", as_of=pd.Timestamp("2026-03-31").date(), margin_rate=0.5)
    m = arm_moments(o.mutate(segment=o.arm.cast("string").re_replace(".*", "all")))
    visits = m[m.metric == "visits"].set_index("arm")
    assert visits.loc["treatment", ["n", "sum", "sum_sq"]].tolist() == [4, 3.0, 5.0]  # 2,1,0,0
    assert visits.loc["control", ["n", "sum", "sum_sq"]].tolist() == [4, 1.0, 1.0]
    # pre-visits x: treatment 2,0,1,0; visits y: 2,1,0,0 -> sum_xy = 4
    assert visits.loc["treatment", ["sum_x", "sum_x_sq", "sum_xy"]].tolist() == [3.0, 5.0, 4.0]
    assert visits.loc["treatment", "coupon_cost"] == 40.0


def test_unknown_campaign_names_the_valid_ids(db):
    with pytest.raises(
        wb.ParameterError, match="campaign_id='C9' is not a campaign of this store; expected one of: C1"
    ):
        campaign_info(db, "C9")
