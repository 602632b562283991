"""VIP comparison, checked by hand and against the simulator's planted card effect.

Hand case: as_of 2026-06-30, before/after windows W = 30 days, all history, every order 50 except N1's 80.
All members joined 2026-01-01 (store_qr); the data start 2026-01-10, so every member is observed 172 days.

  member  card bought    visits (2026)
  V1      04-01 10:00    01-25, 02-15, 03-05, 03-12, 03-20, 04-01, 04-05, 04-10, 04-20, 04-28, 06-01  (11)
  V2      05-01 10:00    01-10, 03-15, 04-10, 05-01, 05-05, 05-15, 05-25                                (7)
  V3      06-20 10:00    01-15, 06-20                                                                    (2)
  V4      04-05 10:00    03-20, 04-05                                                                    (2)
  N1      -              01-20, 02-20 (80 each)                                                          (2)
  N2      -              03-01                                                                           (1)
  C1      -              04-01, 05-10, 05-20, 05-31, 06-10                                               (5)
  C2      -              04-01, 05-15, 05-31, 06-05, 06-15, 06-25                                        (6)

Naive groups (visits per 30 days = visits x 30 / 172):
  VIP mean visits (11 + 7 + 2 + 2) / 4 = 5.5; non-VIP (2 + 1 + 5 + 6) / 4 = 3.5; multiple 5.5 / 3.5
  average ticket: VIP 50; non-VIP revenue 160 + 50 + 250 + 300 = 760 over 14 visits = 54.2857
  second visit within 30 days: V1 (21 days), V4 (16) -> 2/4; non-VIP none (N1 31, C1 39, C2 44) -> 0/4
  second visit within 90 days (first visit by 04-01): V1, V2 (64), V4 -> 3/4; N1, C1, C2 -> 3/4
  active in the last 90 days (from 04-02), of those who visited before: VIP 4/4, non-VIP C1, C2 -> 2/4
Before / after (windows: 30 days before the purchase day, 30 days after, purchase day in neither):
  V1 before 03-02..03-31: 3, after 04-02..05-01: 4, visit after the window (06-01): still active
  V2 before 04-01..04-30: 1, after 05-02..05-31: 3, no later visit
  V3 bought 06-20: follow-up ends after as_of -> excluded; V4: first visit 16 days before buying -> excluded
  all: before 2, after 3.5, diff d = (1, 2): 1.5 +- t(1) x 0.5; ratio 7 / 4 = 1.75, residuals 4 - 1.75 x 3 =
  -1.25 and 3 - 1.75 = 1.25: se = sqrt(3.125 / 2) / 2 = 0.625, interval 1.75 x/÷ exp(1.96 x 0.625 / 1.75)
  still active: V1 alone (before 3, after 4), V2 left out as inactive
Matched (matching window = the 30 days before the before window, history of 60 days needed):
  V1 (66 days of history) and V2 (111) each have 1 visit in their matching window -> band 1-1.5, tenure
  90 / 120 days -> stratum '1-1.5|0-180|store_qr'. C1 and C2 have one eligible visit each (05-31: 60 days after
  their first visit, 30 days before as_of), 1 visit in the matching window (04-01), tenure 150: same stratum.
  C1 before 2 after 1 (d = -1), C2 before 1 after 3 (d = 2). V2 is also a candidate before its purchase
  (03-15) but with no visit in its matching window it lands in stratum '0-0.5|...', which has no VIP.
  effect = 1.5 - 0.5 = 1.0, var = 0.5 / 2 + 4.5 / 2 = 2.5; multiplier = 3.5 / (3.5 - 1.0) = 1.4
  revenue effect 50 x 1.0 -> margin 0.65 x 50 = 32.5 per month -> 199 / 32.5 months
"""

import json
import math
import warnings

import pytest
from scipy import stats as sps

import workbench as wb
from workbench.analyses.vip import (
    BEFORE_AFTER_COLUMNS,
    GROUP_COLUMNS,
    MATCHED_COLUMNS,
    METRICS,
    MULTIPLE_COLUMNS,
    PAYBACK_COLUMNS,
    ratio_interval,
    vip_comparison,
)
from workbench.data import simulate

AS_OF = "2026-06-30"
W = 30
Z = sps.norm.ppf(0.975)
VISITS = {
    "V1": ["01-25", "02-15", "03-05", "03-12", "03-20", "04-01", "04-05", "04-10", "04-20", "04-28", "06-01"],
    "V2": ["01-10", "03-15", "04-10", "05-01", "05-05", "05-15", "05-25"],
    "V3": ["01-15", "06-20"],
    "V4": ["03-20", "04-05"],
    "N1": ["01-20", "02-20"],
    "N2": ["03-01"],
    "C1": ["04-01", "05-10", "05-20", "05-31", "06-10"],
    "C2": ["04-01", "05-15", "05-31", "06-05", "06-15", "06-25"],
}
VIP_SINCE = {"V1": "04-01", "V2": "05-01", "V3": "06-20", "V4": "04-05"}


@pytest.fixture
def db(make_store, store_row):
    members = [
        {"member_id": m, "joined_at": "2026-01-01 09:00", "join_channel": "store_qr",
         "vip_since": f"2026-{VIP_SINCE[m]} 10:00" if m in VIP_SINCE else None}
        for m in VISITS
    ]  # fmt: skip
    orders = [
        {"order_id": f"{m}-{d}", "store_id": "S1", "ordered_at": f"2026-{d} 12:00",
         "amount": 80 if m == "N1" else 50, "member_id": m}
        for m, days in VISITS.items()
        for d in days
    ]  # fmt: skip
    path = make_store({"stores": [store_row()], "members": members, "orders": orders}, data_through=AS_OF)
    return wb.connect(path)


@pytest.fixture
def result(db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wb.ThinDataWarning)
        return vip_comparison(db, as_of=AS_OF, window_days=None, before_after_days=W)


def value(result, metric, group):
    rows = result.groups[(result.groups.metric == metric) & (result.groups.group == group)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_frames_have_the_documented_columns(result):
    assert tuple(result.groups.columns) == GROUP_COLUMNS
    assert tuple(result.multiples.columns) == MULTIPLE_COLUMNS
    assert tuple(result.before_after.columns) == BEFORE_AFTER_COLUMNS
    assert tuple(result.matched.columns) == MATCHED_COLUMNS
    assert tuple(result.payback.columns) == PAYBACK_COLUMNS
    assert result.multiples["metric"].tolist() == list(METRICS)


def test_naive_groups_match_the_hand_computation(result):
    assert value(result, "visits_per_30d", "vip").value == pytest.approx(5.5 * 30 / 172)
    assert value(result, "visits_per_30d", "non_vip").value == pytest.approx(3.5 * 30 / 172)
    assert value(result, "visits_per_30d", "vip").members == 4
    assert result.multiple("visits_per_30d") == pytest.approx(5.5 / 3.5)
    assert value(result, "revenue_per_30d", "non_vip").value == pytest.approx(760 / 4 * 30 / 172)
    assert value(result, "average_ticket", "vip").value == pytest.approx(50)
    assert value(result, "average_ticket", "non_vip").value == pytest.approx(760 / 14)
    assert value(result, "repurchase_30d", "vip").value == pytest.approx(2 / 4)
    assert value(result, "repurchase_30d", "non_vip").value == 0
    assert value(result, "repurchase_90d", "vip").value == pytest.approx(3 / 4)
    assert value(result, "repurchase_90d", "non_vip").value == pytest.approx(3 / 4)
    assert value(result, "active_last_90d", "vip").value == 1
    assert value(result, "active_last_90d", "non_vip").value == pytest.approx(2 / 4)


def test_share_intervals_are_wilson_and_mean_intervals_are_t(result):
    low, high = wb.stats.wilson_interval(2, 4)
    row = value(result, "repurchase_30d", "vip")
    assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))
    # VIP visits per 30 days: values (11, 7, 2, 2) x 30/172, mean 5.5 x 30/172, sd 4.3589 x 30/172, t(3)
    row = value(result, "visits_per_30d", "vip")
    sd = math.sqrt(((11 - 5.5) ** 2 + (7 - 5.5) ** 2 + 2 * (2 - 5.5) ** 2) / 3) * 30 / 172
    half = sps.t.ppf(0.975, 3) * sd / 2
    assert (row.ci_low, row.ci_high) == (pytest.approx(row.value - half), pytest.approx(row.value + half))


def test_before_after_pairs_each_vip_with_itself(result):
    ba = result.before_after.set_index("population")
    everyone = ba.loc["all"]
    assert (everyone.vips, everyone.excluded_follow_up, everyone.excluded_history) == (4, 1, 1)
    assert everyone.members == 2
    assert (everyone.before_rate, everyone.after_rate) == (pytest.approx(2), pytest.approx(3.5))
    half = sps.t.ppf(0.975, 1) * 0.5
    assert (everyone["diff"], everyone.diff_low, everyone.diff_high) == (
        pytest.approx(1.5), pytest.approx(1.5 - half), pytest.approx(1.5 + half))  # fmt: skip
    spread = math.exp(Z * 0.625 / 1.75)
    assert everyone.ratio == pytest.approx(1.75)
    assert (everyone.ratio_low, everyone.ratio_high) == (
        pytest.approx(1.75 / spread),
        pytest.approx(1.75 * spread),
    )
    active = ba.loc["still_active"]
    assert (active.members, active.excluded_inactive) == (1, 1)
    assert (active.before_rate, active.after_rate, active.ratio) == (3, 4, pytest.approx(4 / 3))
    assert math.isnan(active.ratio_low)


def test_matched_difference_in_differences_by_hand(result):
    m = result.matched.set_index(["population", "outcome"])
    visits = m.loc[("all", "visits_per_30d")]
    assert (visits.vips, visits.vips_unmatched, visits.comparison_members, visits.strata) == (2, 1, 2, 1)
    assert (visits.vip_before, visits.vip_after) == (pytest.approx(2), pytest.approx(3.5))
    assert (visits.comparison_before, visits.comparison_after) == (pytest.approx(1.5), pytest.approx(2))
    se = math.sqrt(2.5)
    assert visits.effect == pytest.approx(1.0)
    assert (visits.effect_low, visits.effect_high) == (pytest.approx(1 - Z * se), pytest.approx(1 + Z * se))
    assert visits.multiplier == pytest.approx(1.4)
    assert visits.multiplier_low == pytest.approx(3.5 / (3.5 + Z * se - 1))
    assert visits.multiplier_high == math.inf  # the effect's upper bound exceeds the VIPs' after rate
    revenue = m.loc[("all", "revenue_per_30d")]
    assert revenue.effect == pytest.approx(50.0)
    # still active: V1 alone, no stratum with 2 VIPs
    assert math.isnan(m.loc[("still_active", "visits_per_30d")].effect)


def test_payback_uses_the_matched_revenue_effect(result):
    pb = result.payback.iloc[0]
    assert pb.incremental_margin_per_month == pytest.approx(0.65 * 50)
    assert pb.payback_months == pytest.approx(199 / 32.5)
    assert pb.payback_months_low == pytest.approx(199 / (0.65 * 50 * (1 + Z * math.sqrt(2.5))))
    assert pb.payback_months_high == math.inf  # the margin's lower bound is negative


def test_margin_and_fee_change_only_the_payback(db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wb.ThinDataWarning)
        other = vip_comparison(
            db, as_of=AS_OF, window_days=None, before_after_days=W, margin_rate=0.5, vip_fee=99
        )
    assert other.payback.iloc[0].payback_months == pytest.approx(99 / 25)


def test_thin_cells_warn(db):
    with pytest.warns(wb.ThinDataWarning):
        vip_comparison(db, as_of=AS_OF, window_days=None, before_after_days=W)


def test_summary_in_both_languages(result):
    zh, en = result.summary("zh"), result.summary("en")
    assert "观察性" in zh and "每 30 天到店次数" in zh
    assert "Observational" in en and "Visits per 30 days" in en and "VIPs; left out" in en


def test_ratio_interval_by_hand():
    # pairs (x, y) = (1, 2), (2, 2), (3, 5): R = 9 / 6 = 1.5; residuals 0.5, -1, 0.5; sum sq 1.5
    # se = sqrt(1.5 / (3 x 2)) / 2 = 0.25
    ratio, low, high, se = ratio_interval(3, 9, 6, 4 + 4 + 25, 1 + 4 + 9, 2 + 4 + 15)
    assert (ratio, se) == (pytest.approx(1.5), pytest.approx(0.25))
    assert low == pytest.approx(1.5 / math.exp(Z * 0.25 / 1.5))
    assert high == pytest.approx(1.5 * math.exp(Z * 0.25 / 1.5))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"before_after_days": 0}, "before_after_days"),
        ({"before_after_days": 30.5}, "before_after_days"),
        ({"window_days": -1}, "window_days"),
        ({"window_days": "365"}, "window_days"),
        ({"margin_rate": 0}, "margin_rate"),
        ({"margin_rate": 1.5}, "margin_rate"),
        ({"vip_fee": -199}, "vip_fee"),
        ({"vip_fee": "free"}, "vip_fee"),
    ],
)
def test_bad_parameters_are_refused_with_their_name(db, kwargs, name):
    with pytest.raises(wb.ParameterError, match=name):
        vip_comparison(db, as_of=AS_OF, **kwargs)


def test_unknown_metric_names_the_choices(result):
    with pytest.raises(wb.ParameterError, match="visits_per_30d"):
        result.multiple("visits")


# ---------------------------------------------------------------------------------------------------------
# Planted truth on a simulated chain
# ---------------------------------------------------------------------------------------------------------
# The simulator multiplies a VIP's organic visit rate by 1.3 from the purchase on, halves the dropout hazard,
# and sells cards more readily to frequent visitors. Tolerances: the estimates below have a standard error of
# about 0.03 (95% half-width ~0.06) on this chain; visits caused by touches and coupons are not multiplied
# (they pull the ratio towards 1 by ~1%) and the window after a purchase starts at a visit (pushes it up by
# ~1%), so 0.1 (three standard errors plus those) is the tolerance for the within-member and matched ratios.
TOLERANCE = 0.1


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("vip") / "chain.duckdb"
    simulate.simulate_chain(path, members=6000, weeks=104, seed=11, end="2026-11-22")
    truth = json.loads(simulate.truth_path(path).read_text(encoding="utf-8"))["vip"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wb.ThinDataWarning)
        return vip_comparison(wb.connect(path)), truth


def test_naive_multiple_is_far_above_the_planted_effect(simulated):
    result, truth = simulated
    selection = truth["selection"]["mean_cycle_days_non_vip"] / truth["selection"]["mean_cycle_days_vip"]
    # buyers already visited ~1.9x as often, and the card multiplies by 1.3: the naive multiple exceeds both
    assert result.multiple("visits_per_30d") > selection * truth["rate_multiplier"]
    assert result.multiples.set_index("metric").loc["visits_per_30d", "ci_low"] > 2 * truth["rate_multiplier"]


def test_within_member_ratio_of_active_vips_recovers_the_planted_multiplier(simulated):
    result, truth = simulated
    active = result.before_after.set_index("population").loc["still_active"]
    assert active.members > 100
    assert active.ratio == pytest.approx(truth["rate_multiplier"], abs=TOLERANCE)
    assert active.ratio_low < truth["rate_multiplier"] < active.ratio_high


def test_lapsing_after_purchase_pulls_the_all_vip_ratio_down(simulated):
    result, _ = simulated
    ba = result.before_after.set_index("population")
    assert ba.loc["all", "ratio"] < ba.loc["still_active", "ratio"]
    assert ba.loc["still_active", "excluded_inactive"] > 0


def test_matched_estimate_recovers_the_planted_multiplier(simulated):
    result, truth = simulated
    m = result.matched.set_index(["population", "outcome"]).loc[("still_active", "visits_per_30d")]
    assert m.vips > 50 and m.comparison_members > m.vips
    assert m.multiplier == pytest.approx(truth["rate_multiplier"], abs=TOLERANCE)
    assert m.multiplier_low < truth["rate_multiplier"] < m.multiplier_high


def test_matched_estimate_over_all_vips_adds_the_lower_dropout(simulated):
    # Comparison members lapse at twice the VIPs' hazard (planted ratio 0.5), so over all VIPs the card's
    # effect on visits is its rate multiplier plus the visits kept by staying: larger than among the active.
    result, truth = simulated
    m = result.matched.set_index(["population", "outcome"])
    assert truth["dropout_hazard_ratio"] < 1
    everyone, active = m.loc[("all", "visits_per_30d")], m.loc[("still_active", "visits_per_30d")]
    assert everyone.multiplier > active.multiplier
    assert everyone.comparison_after < everyone.comparison_before


def test_payback_is_finite_and_consistent_on_the_simulated_chain(simulated):
    result, _ = simulated
    pb = result.payback.iloc[0]
    assert pb.incremental_revenue_per_month > 0
    assert pb.payback_months == pytest.approx(
        pb.vip_fee / (pb.margin_rate * pb.incremental_revenue_per_month)
    )
    assert pb.payback_months_low <= pb.payback_months <= pb.payback_months_high


def test_groups_are_shares_in_range_and_vips_are_the_flagged_members(simulated):
    result, truth = simulated
    shares = result.groups[result.groups.metric.str.startswith(("repurchase", "active"))]
    assert shares["value"].between(0, 1).all()
    assert (shares["ci_low"] <= shares["value"]).all() and (shares["value"] <= shares["ci_high"]).all()
    assert result.before_after["vips"].iloc[0] == truth["members"]
