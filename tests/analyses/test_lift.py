"""Campaign lift on hand-sized campaigns (see tests/analyses/conftest.py for the cases)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import workbench as wb
from workbench.analyses.lift import campaign_lift, campaigns_overview

# Outcomes of campaign C1 by member, read off the case table: treatment T1..T4, control K1..K4.
VISITS = {"treatment": [2, 1, 0, 0], "control": [1, 0, 0, 0]}
REVENUE = {"treatment": [140, 40, 0, 0], "control": [100, 0, 0, 0]}


@pytest.fixture
def result(campaign_db):
    return campaign_lift(campaign_db, "C1", margin_rate=0.5)


def row(result, metric, segment="all"):
    r = result.lift
    return r[(r.segment == segment) & (r.metric == metric)].iloc[0]


def test_randomised_visit_lift_equals_welch_on_the_member_values(result):
    v = row(result, "visits")
    assert (v.control_mean, v.treatment_mean, v.abs_lift) == pytest.approx((0.25, 0.75, 0.5))
    welch = st.ttest_ind(VISITS["treatment"], VISITS["control"], equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert (v.abs_low, v.abs_high) == pytest.approx((ci.low, ci.high))
    assert v.p_value == pytest.approx(welch.pvalue)
    assert v.rel_lift == pytest.approx(2.0)  # 0.75 / 0.25 - 1
    assert result.design == "randomised" and not result.observational


def test_conversion_revenue_and_margin_by_hand(result):
    assert (row(result, "converted").treatment_mean, row(result, "converted").control_mean) == (0.5, 0.25)
    assert row(result, "revenue").abs_lift == pytest.approx(np.mean(REVENUE["treatment"]) - 25.0)
    # margin at rate 0.5: T1 30 + 30, T2 40 - 60*0.5 = 10, K1 100 - 50 = 50 -> means 17.5 and 12.5
    assert row(result, "margin").abs_lift == pytest.approx(5.0)


def test_impact_roi_and_redemptions_by_hand(result):
    imp = result.impact.set_index("segment").loc["all"]
    assert imp.incremental_visits == pytest.approx(2.0)  # 0.5 per member x 4 treated
    assert imp.incremental_revenue == pytest.approx(80.0)
    assert imp.coupon_cost == 40.0 and imp.redemption_rate == 0.5
    # margin is net of the coupons: ROI = incremental margin 20 / coupon cost 40
    assert imp.roi == pytest.approx(0.5)
    # 0.5 redemptions per treated member, 0.5 incremental visits per member: none redeemed "anyway"
    assert imp.anyway_share == pytest.approx(0.0)


def test_sample_ratio_matches_the_planned_holdout(result):
    assert list(result.srm.observed) == [4, 4] and not result.srm_mismatch
    assert result.srm.p_value.iloc[0] == pytest.approx(1.0)


def test_cumulative_visits_per_member_by_day(result):
    c = result.cumulative.set_index(["arm", "day"])
    assert c.loc[("treatment", 0), "visits_per_member"] == 0
    assert c.loc[("treatment", 1), "visits_per_member"] == 0.25  # T1 on 3 March
    assert c.loc[("treatment", 13), "visits_per_member"] == 0.75  # T2 at 23:30 on 15 March
    assert c.loc[("control", 13), "visits_per_member"] == 0.25
    assert result.window_complete and result.days_observed == 14


def test_segments_are_measured_before_the_campaign_and_add_up(campaign_db):
    r = campaign_lift(campaign_db, "C1", segment_by="price_sensitive", margin_rate=0.5)
    arms = r.arms
    totals = arms[arms.segment == "all"].set_index("arm")["members"]
    parts = arms[arms.segment != "all"].groupby("arm")["members"].sum()
    assert totals.to_dict() == parts.to_dict() == {"control": 4, "treatment": 4}
    # nobody used a coupon before 2 March, so nobody is price sensitive yet
    assert set(arms.segment) == {"all", "false"}


def test_segments_come_in_a_fixed_order_whatever_order_the_engine_returns(campaign_db):
    # The engine groups in no fixed order; the results always list "all" first, then segments sorted.
    seg = pd.DataFrame(
        {"member_id": ["T1", "T2", "T3", "T4", "K1", "K2", "K3", "K4"], "segment": list("zazazaza")}
    )
    r = campaign_lift(campaign_db, "C1", segment_by=seg)
    for frame in (r.arms, r.lift, r.impact):
        assert list(frame.segment.drop_duplicates()) == ["all", "a", "z"]


def test_window_not_yet_complete_is_flagged(campaign_db):
    with pytest.warns(wb.ThinDataWarning, match="only 9 of 14 outcome days"):
        r = campaign_lift(campaign_db, "C1", as_of="2026-03-10")
    assert not r.window_complete and "9" in r.summary("en")


def test_observational_campaign_is_difference_in_differences_and_labelled(observational_db):
    r = campaign_lift(observational_db, "C2")
    assert r.observational and r.design == "observational"
    v = row(r, "visits")
    assert v.method == "difference-in-differences (observational)"
    assert v.abs_lift == pytest.approx(1.0)  # mean d: treated 1.5, comparison 0.5
    half_width = 1.959964 * math.sqrt(0.5 / 2 + 0.5 / 2)
    assert (v.abs_low, v.abs_high) == pytest.approx((1 - half_width, 1 + half_width), rel=1e-5)
    assert (v.n_treatment, v.n_control) == (2, 2)
    assert "not causal" in r.summary("en") and "不能视为因果" in r.summary("zh")
    assert r.srm.empty


def test_summary_in_both_languages(result):
    assert "C1" in result.summary("en") and "ROI" in result.summary("en")
    assert "投资回报率" in result.summary("zh")


def test_overview_lists_every_campaign(campaign_db):
    o = campaigns_overview(campaign_db)
    assert list(o.campaign_id) == ["C1"] and o.visits_lift.iloc[0] == pytest.approx(0.5)


def test_unknown_campaign_and_segment_are_clear_errors(campaign_db):
    with pytest.raises(wb.ParameterError, match="expected one of: C1"):
        campaign_lift(campaign_db, "nope")
    with pytest.raises(wb.ParameterError, match="segment_by='tier' is not a member attribute"):
        campaign_lift(campaign_db, "C1", segment_by="tier")


def test_a_store_without_campaign_tables_names_them(make_store, store_row):
    path = make_store({"stores": [store_row()], "members": [], "orders": []})
    db = wb.connect(path)
    # the store has empty campaign tables created by open_for_write; a store without them:
    db.tables = ("stores", "members", "orders")
    with pytest.raises(wb.MissingTableError, match="campaigns, assignments"):
        campaign_lift(db, "C1")


def test_holdout_plan_uses_the_chains_baseline(campaign_db):
    """The baseline is measured on members with a visit in the 90 days before the last 14 days."""
    from workbench.analyses.holdout import holdout_plan

    plan = holdout_plan(campaign_db, holdout_shares=(0.5,), as_of="2026-03-20")
    # as of 20 March the window is 7-20 March: T1 (10 Mar) and T2 (15 Mar) visit once; T3 (16 Mar) once.
    # Eligible: a visit in the 90 days before 7 March: T1, T3, K1, K3, K4 (T2's only visit is in the window).
    row = plan.iloc[0]
    assert (row.n_treatment + row.n_control) == 5
    assert row.baseline_mean == pytest.approx(2 / 5)  # T1 and T3 visited in the window
    assert row.sd == pytest.approx(np.std([1, 1, 0, 0, 0], ddof=1))
    with pytest.raises(wb.ParameterError, match="expected one of: visits, revenue, converted"):
        holdout_plan(campaign_db, metric="margin")


def test_a_campaign_with_no_visits_in_the_control_arm(make_store, store_row, order_row):
    """Treatment visits 1, 0, 1; control 0, 0, 0: the lift is 2/3 visit, relative lift undefined (NaN)."""
    members = [
        {"member_id": m, "joined_at": "2026-01-01 12:00"} for m in ["T1", "T2", "T3", "K1", "K2", "K3"]
    ]
    assignments = [
        {"campaign_id": "C3", "member_id": m, "arm": "treatment" if m[0] == "T" else "control",
         "assigned_at": "2026-03-02 10:00"} for m in ["T1", "T2", "T3", "K1", "K2", "K3"]
    ]  # fmt: skip
    orders = [order_row("x1", "T1", "2026-03-03 12:00", 30), order_row("x2", "T3", "2026-03-04 12:00", 30)]
    campaigns = [{"campaign_id": "C3", "name": "test", "kind": "coupon", "starts_at": "2026-03-02 00:00",
                  "ends_at": "2026-03-02 23:00", "holdout_share": 0.5, "outcome_window_days": 7}]  # fmt: skip
    path = make_store({"stores": [store_row()], "members": members, "orders": orders, "campaigns": campaigns,
                       "assignments": assignments}, data_through="2026-03-31")  # fmt: skip
    r = campaign_lift(wb.connect(path), "C3")
    v = row(r, "visits")
    assert v.control_mean == 0 and v.abs_lift == pytest.approx(2 / 3)
    assert math.isnan(v.rel_lift)
    welch = st.ttest_ind([1, 0, 1], [0, 0, 0], equal_var=False)
    assert (v.abs_low, v.abs_high) == pytest.approx(tuple(welch.confidence_interval(0.95)))
    assert math.isnan(r.impact.iloc[0].roi)  # no coupons issued: no cost to return on
