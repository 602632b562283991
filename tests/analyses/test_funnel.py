"""Acquisition funnel, checked by hand and against the activation funnel planted in a simulated chain.

Hand case: window_days W = 30, retained_within_days N = 7, as_of 2026-06-30, so members who joined by
2026-05-31 are mature. The data start on 2026-04-01 (a non-member order), so joined_from defaults to it.
Times are Beijing; amounts in CNY.

  member  joined      channel       join store  referrer  visits in the window (amount)
  P       05-01       store_qr      S1 (上海)   -         05-01 (50), 05-05 (30), 05-20 (40)
  Q       05-02       store_qr      S1          P         05-02 (60), 05-12 (20)       second after 10 days
  R       05-03       takeout_card  S2 (北京)   -         none (06-03 is day 31, outside the window)
  S       05-10       takeout_card  S2          -         05-15 (25); the 05-09 order is before joining
  T       05-31       mini_program  -           P         05-31 23:30 (10), 06-01 00:10 (15): two local days
  U       06-01       store_qr      S1          P         immature (joined after 05-31)
  V       04-20       store_qr      S1          -         never visits
  W       05-05       store_qr      S1          V         05-06 12:00 (35) + 18:00 (5): one visit

Steps (each needs the earlier ones):
  acquired   P Q R S T V W                       7
  activated  P Q S T W                           5   5/7
  revenue    P Q T (paid again in the window)    3   3/5
  retained   P (4 days), T (1 day); Q took 10    2   2/3
  referral   P (Q on day 1 and T on day 30 of P's window; U on day 31 does not count)   1   1/2
             any referrer: P and V (W joined 15 days after V)                          2
Window revenue: P 120, Q 80, S 25, T 25, W 40 = 290 (per acquired 290/7); after the first visit: P 70,
Q 20, T 15. revenue step members' revenue 225 (repeat 105); retained 145 (repeat 85); referral 120 (70).
By channel (most acquired first): store_qr P Q V W: 4, 3, 2, 1, 1 | takeout_card R S: 2, 1, 0, 0, 0 |
mini_program T: 1, 1, 1, 1, 0. By city of the join store: 上海 4, 北京 2, unknown (T) 1.
"""

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.funnel import (
    MEMBER_COLUMNS,
    STEP_COLUMNS,
    STEPS,
    acquisition_funnel,
    funnel_members,
)
from workbench.data import simulate
from workbench.errors import ParameterError, ThinDataWarning
from workbench.stats import wilson_interval

AS_OF = "2026-06-30"
HAND = {"as_of": AS_OF, "window_days": 30, "retained_within_days": 7}


def order(oid, member, when, amount):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}


def member(mid, joined, channel, store=None, referrer=None):
    return {"member_id": mid, "joined_at": f"{joined} 09:00", "join_channel": channel,
            "join_store_id": store, "referrer_id": referrer}  # fmt: skip


MEMBERS = [
    member("P", "2026-05-01", "store_qr", "S1"),
    member("Q", "2026-05-02", "store_qr", "S1", "P"),
    member("R", "2026-05-03", "takeout_card", "S2"),
    member("S", "2026-05-10", "takeout_card", "S2"),
    member("T", "2026-05-31", "mini_program", None, "P"),
    member("U", "2026-06-01", "store_qr", "S1", "P"),
    member("V", "2026-04-20", "store_qr", "S1"),
    member("W", "2026-05-05", "store_qr", "S1", "V"),
]
ORDERS = [
    order("n1", None, "2026-04-01 12:00", 99),
    order("p1", "P", "2026-05-01 12:00", 50), order("p2", "P", "2026-05-05 12:00", 30),
    order("p3", "P", "2026-05-20 12:00", 40),
    order("q1", "Q", "2026-05-02 12:00", 60), order("q2", "Q", "2026-05-12 12:00", 20),
    order("r1", "R", "2026-06-03 12:00", 70),
    order("s0", "S", "2026-05-09 12:00", 30), order("s1", "S", "2026-05-15 12:00", 25),
    order("t1", "T", "2026-05-31 23:30", 10), order("t2", "T", "2026-06-01 00:10", 15),
    order("u1", "U", "2026-06-02 12:00", 45),
    order("w1", "W", "2026-05-06 12:00", 35), order("w2", "W", "2026-05-06 18:00", 5),
]  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from tests.conftest import one_store, write_store

    stores = [one_store(), one_store(store_id="S2", name="北京国贸店", city="北京")]
    path = tmp_path_factory.mktemp("funnel_hand") / "store.duckdb"
    write_store(path, {"stores": stores, "members": MEMBERS, "orders": ORDERS}, data_through=AS_OF)
    return wb.connect(path)


def rows(result, group="all"):
    return result.steps[result.steps["group"] == group].set_index("step")


def test_steps_have_the_documented_columns_in_step_order(db):
    f = acquisition_funnel(db, **HAND)
    assert tuple(f.steps.columns) == STEP_COLUMNS
    assert list(f.steps["step"][:5]) == list(STEPS)
    assert list(dict.fromkeys(f.steps["group"])) == ["all", "store_qr", "takeout_card", "mini_program"]


def test_total_funnel_matches_the_hand_count(db):
    r = rows(acquisition_funnel(db, **HAND))
    assert r["members"].tolist() == [7, 5, 3, 2, 1]
    assert r["members_any"].tolist() == [7, 5, 3, 2, 2]
    assert r["share_of_acquired"].tolist() == pytest.approx([1, 5 / 7, 3 / 7, 2 / 7, 1 / 7])
    conv = r["conversion_from_previous"]
    assert np.isnan(conv["acquired"])
    assert conv[1:].tolist() == pytest.approx([5 / 7, 3 / 5, 2 / 3, 1 / 2])


def test_intervals_are_wilson_on_the_step_counts(db):
    r = rows(acquisition_funnel(db, **HAND))
    low, high = wilson_interval(3, 7)
    assert (r.loc["revenue", "ci_low"], r.loc["revenue", "ci_high"]) == pytest.approx((low, high))
    low, high = wilson_interval(2, 3)
    assert (r.loc["retained", "conversion_ci_low"], r.loc["retained", "conversion_ci_high"]) == pytest.approx(
        (low, high)
    )


def test_revenue_columns_match_the_hand_sums(db):
    r = rows(acquisition_funnel(db, **HAND))
    assert r["revenue"].tolist() == pytest.approx([290, 290, 225, 145, 120])
    assert r["repeat_revenue"].tolist() == pytest.approx([105, 105, 105, 85, 70])
    assert r.loc["acquired", "revenue_per_acquired"] == pytest.approx(290 / 7)


def test_groups_by_join_channel(db):
    f = acquisition_funnel(db, by="join_channel", **HAND)
    assert rows(f, "store_qr")["members"].tolist() == [4, 3, 2, 1, 1]
    assert rows(f, "store_qr")["members_any"].tolist() == [4, 3, 2, 1, 2]
    takeout = rows(f, "takeout_card")
    assert takeout["members"].tolist() == [2, 1, 0, 0, 0]
    assert np.isnan(takeout.loc["retained", "conversion_from_previous"])  # nobody at the step before
    assert rows(f, "mini_program")["members"].tolist() == [1, 1, 1, 1, 0]


def test_groups_by_city_use_the_join_store_never_the_first_visit(db):
    f = acquisition_funnel(db, by="city", **HAND)
    acquired = rows_by_group(f, "acquired")
    assert acquired == {"all": 7, "上海": 4, "北京": 2, "unknown": 1}


def test_groups_by_join_store(db):
    f = acquisition_funnel(db, by="join_store_id", **HAND)
    assert rows_by_group(f, "activated") == {"all": 5, "S1": 3, "S2": 1, "unknown": 1}


def rows_by_group(f, step):
    s = f.steps[f.steps["step"] == step]
    return dict(zip(s["group"], s["members"], strict=True))


def test_without_by_there_is_only_the_total(db):
    f = acquisition_funnel(db, by=None, **HAND)
    assert set(f.steps["group"]) == {"all"} and len(f.steps) == len(STEPS)


def test_groups_sum_to_the_total(db):
    f = acquisition_funnel(db, by="join_channel", **HAND)
    s = f.steps[f.steps["group"] != "all"].groupby("step")[["members", "members_any", "revenue"]].sum()
    total = rows(f)[["members", "members_any", "revenue"]]
    pd.testing.assert_frame_equal(s.loc[list(STEPS)], total, check_names=False)


def test_params_record_the_mature_range_and_the_immature_members(db):
    p = acquisition_funnel(db, **HAND).params
    assert p["joined_from"] == dt.date(2026, 4, 1)
    assert p["joined_to"] == dt.date(2026, 5, 31)
    assert p["immature_members"] == 1  # U


def test_a_later_joined_to_is_moved_back_to_the_last_mature_day(db):
    f = acquisition_funnel(db, joined_to="2026-06-15", **HAND)
    assert f.params["joined_to"] == dt.date(2026, 5, 31)
    assert rows(f).loc["acquired", "members"] == 7


def test_joining_range_narrows_the_cohort(db):
    # joined 05-01 .. 05-05: P, Q, R, W -> activated P, Q, W; revenue P, Q; retained P
    f = acquisition_funnel(db, joined_from="2026-05-01", joined_to="2026-05-05", **HAND)
    assert rows(f)["members"].tolist() == [4, 3, 2, 1, 1]


def test_a_longer_window_lets_late_visits_count(db):
    # W = 35 (mature: joined by 05-26, so T drops out): R's 06-03 visit is on day 31 of R's window -> activated
    f = acquisition_funnel(db, as_of=AS_OF, window_days=35, retained_within_days=7, by=None)
    r = rows(f)
    assert r.loc["acquired", "members"] == 6  # P Q R S V W
    assert r.loc["activated", "members"] == 5  # P Q R S W


def test_funnel_members_lists_who_is_behind_each_step(db):
    m = funnel_members(db, **HAND).set_index("member_id")
    assert tuple(m.reset_index().columns) == MEMBER_COLUMNS
    assert sorted(m.index) == ["P", "Q", "R", "S", "T", "V", "W"]
    assert m.loc["T", "first_day"] == pd.Timestamp("2026-05-31")
    assert m.loc["T", "second_day"] == pd.Timestamp("2026-06-01")
    assert m.loc["P", "referred_members"] == 2 and m.loc["V", "referred_members"] == 1
    assert m.loc["W", "visits"] == 1 and m.loc["W", "revenue"] == pytest.approx(40)
    assert m.loc["S", "first_day"] == pd.Timestamp("2026-05-15")
    assert m["retained"].sum() == 2 and not m.loc["V", "referral"]


def test_summary_in_both_languages(db):
    f = acquisition_funnel(db, **HAND)
    zh, en = f.summary("zh"), f.summary("en")
    assert "门店扫码" in zh and "入会 7 人" in zh
    assert "7 acquired" in en and "Back within 7 days 2" in en
    assert "1 more members joined less than 30 days ago" in en


@pytest.mark.parametrize("by", ["store", "join_store", "channel", ""])
def test_bad_by_names_the_choices(db, by):
    with pytest.raises(ParameterError, match="join_channel, join_store_id, city"):
        acquisition_funnel(db, by=by, **HAND)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window_days": 0}, "window_days"),
        ({"window_days": 30.5}, "window_days"),
        ({"retained_within_days": -1}, "retained_within_days"),
        ({"retained_within_days": True}, "retained_within_days"),
        ({"window_days": 30, "retained_within_days": 45}, "longer than window_days"),
        ({"joined_from": "2026-05-10", "joined_to": "2026-05-01"}, "joined_from <= joined_to"),
    ],
)
def test_bad_windows_raise_with_the_reason(db, kwargs, match):
    params = {"as_of": AS_OF, "window_days": 30, "retained_within_days": 7} | kwargs
    with pytest.raises(ParameterError, match=match):
        acquisition_funnel(db, **params)


def test_no_mature_cohort_gives_an_empty_result_and_a_warning(db):
    with pytest.warns(ThinDataWarning):
        f = acquisition_funnel(db, as_of="2026-04-15", window_days=30, retained_within_days=7)
    assert f.steps.empty and tuple(f.steps.columns) == STEP_COLUMNS
    assert "No member" in f.summary("en")


# -- planted truth on a simulated chain -----------------------------------------------------------------

SIM_MEMBERS, SIM_WEEKS, SIM_SEED = 5000, 40, 23
WINDOW = 90


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    path = tmp_path_factory.mktemp("funnel") / "chain.duckdb"
    simulate.simulate_chain(path, members=SIM_MEMBERS, weeks=SIM_WEEKS, seed=SIM_SEED, end="2026-11-22")
    truth = simulate.truth_path(path)
    import json

    db = wb.connect(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThinDataWarning)
        f = acquisition_funnel(db, by="join_channel", window_days=WINDOW)
        members = funnel_members(db, by="join_channel", window_days=WINDOW)
    latent = pd.read_parquet(simulate.truth_members_path(path))
    return json.loads(truth.read_text()), f, members, latent


def planted_activation(truth, channel):
    a = truth["members"]["activation"][channel]
    return a["first_order_at_join"] + (1 - a["first_order_at_join"]) * a["later_order_share_of_rest"]


def test_members_with_a_planted_first_visit_in_the_window_are_activated(sim):
    # Member by member: the simulator's organic first visit (first_visit_at) inside days 0..90 of joining
    # must show as activated; nothing in the funnel may lose it.
    _, _, members, latent = sim
    m = members.merge(latent[["member_id", "first_visit_at"]], on="member_id")
    first = m["first_visit_at"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).dt.normalize()
    planted = (first - m["join_day"]).dt.days.between(0, WINDOW)
    assert planted.sum() > 1000
    assert m.loc[planted, "activated"].all()
    assert (m.loc[planted, "first_day"] <= first[planted]).all()


def test_activation_by_channel_recovers_the_planted_shares(sim):
    # Planted: P(active) = at_join + (1 - at_join) * later_share (delays are gamma with means of 7-21 days,
    # so all but < 0.2% of later first orders fall within 90 days). The data add first visits that touches
    # and coupons cause (a private chat brings a member in with probability 6%, a new-member coupon up to
    # 30%): those can only raise activation, by a share of the never-activated. We allow 3 binomial
    # standard errors below, and above 3 SE plus 15% of the never-activated share (the caused-visit
    # channels together stay well under that over 90 days: e.g. private chat 91/120 x 6% = 4.5%).
    truth, f, _, _ = sim
    checked = 0
    for channel in truth["members"]["activation"]:
        r = f.steps[(f.steps["group"] == channel)].set_index("step")
        n = r.loc["acquired", "members"]
        if n < 100:
            continue
        p = planted_activation(truth, channel)
        se = np.sqrt(p * (1 - p) / n)
        got = r.loc["activated", "share_of_acquired"]
        assert p - 3 * se <= got <= p + 3 * se + 0.15 * (1 - p), (channel, n, p, got)
        checked += 1
    assert checked >= 5
    # The ranking of channels is the planted one at the ends: store QR codes activate best, the official
    # account worst.
    act = f.steps[(f.steps["step"] == "activated") & (f.steps["group"] != "all")].set_index("group")
    shares = act["share_of_acquired"]
    assert shares.idxmax() == "store_qr" and shares.idxmin() == "official_account"


def test_overall_activation_matches_the_channel_mix(sim):
    # The total is the acquired-weighted mean of the planted per-channel shares (same tolerance argument).
    truth, f, _, _ = sim
    groups = f.steps[(f.steps["step"] == "acquired") & (f.steps["group"] != "all")].set_index("group")[
        "members"
    ]
    p = sum(planted_activation(truth, c) * n for c, n in groups.items() if c != "unknown") / groups.sum()
    n = groups.sum()
    got = f.steps[(f.steps["group"] == "all") & (f.steps["step"] == "activated")]["share_of_acquired"].iloc[0]
    se = np.sqrt(p * (1 - p) / n)
    assert p - 3 * se <= got <= p + 3 * se + 0.15 * (1 - p)


def test_one_off_customers_rarely_pay_again_and_set_a_floor_on_no_repeat(sim):
    # Trial customers (truth churn one_off_share_by_join_channel) drop out at their first visit: only a
    # touch or coupon brings them back, so few of them reach the revenue step, while the others mostly do.
    # Per channel the share of activated members with no repeat in the window is at least the planted one-off
    # share (minus 3 SE): one-offs never repeat on their own, and slow returners add to it.
    truth, f, members, latent = sim
    m = members.merge(latent[["member_id", "one_off"]], on="member_id")
    act = m[m["activated"]]
    assert act.loc[act["one_off"], "revenue_step"].mean() < 0.25
    assert act.loc[~act["one_off"], "revenue_step"].mean() > 0.6
    shares = truth["churn"]["one_off_share_by_join_channel"]
    for channel, planted in shares.items():
        r = f.steps[f.steps["group"] == channel].set_index("step")
        n = r.loc["activated", "members"]
        if n < 100:
            continue
        no_repeat = 1 - r.loc["revenue", "conversion_from_previous"]
        se = np.sqrt(planted * (1 - planted) / n)
        assert no_repeat >= planted - 3 * se, (channel, no_repeat, planted)
