"""Link-mode quality, checked by hand and against the planted dropout hazards of a simulated chain.

Hand case: as_of 2026-06-30, horizon_days=60, so members need a first visit on or before 1 May; retained =
a visit on days 31..60 after the first visit; revenue over days 0..60.

  member  link_mode    visits (amount)                               retained  repeat  revenue
  F1      friend_only  10 Jan (100), 20 Feb = day 41 (50)            yes       1       150
  F2      friend_only  10 Jan (80), 20 Jan = day 10 (20),            no        1       100
                       1 Apr = day 81 (30, after the horizon)
  N1      none         1 Mar (40)                                    no        0       40
  N2      none         1 Jun (25): first visit after 1 May, not followed
  G1      group_only   1 Feb 12:00 (60) + 1 Feb 19:00 (10) one visit, yes       1       100
                       15 Mar = day 42 (30)
  X1      (no link mode recorded) -> 'unknown'; never visits

  friend_only: 1 of 2 retained (Wilson 95%: 0.0945-0.9055); repeat visits per 30 days 1 x 30/60 = 0.5
  each; revenue 150 and 100: mean 125, sd 35.355, 95% t interval 125 -/+ 12.706 x 25.
  none: 2 members, 1 first visitor, 0 retained. group_only: 1 of 1.
  Ranking by retention: group_only 1, friend_only 0.5, none 0.
"""

import json

import pandas as pd
import pytest
from scipy import stats as sps

import workbench as wb
from workbench.analyses.link_modes import TABLE_COLUMNS, link_mode_quality
from workbench.data import simulate
from workbench.errors import ParameterError

AS_OF = "2026-06-30"


def order(oid, member, when, amount):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}


MEMBERS = [
    {
        "member_id": "F1",
        "joined_at": "2026-01-01 10:00",
        "link_mode": "friend_only",
        "join_channel": "store_qr",
    },
    {
        "member_id": "F2",
        "joined_at": "2026-01-01 10:00",
        "link_mode": "friend_only",
        "join_channel": "store_qr",
    },
    {"member_id": "N1", "joined_at": "2026-01-01 10:00", "link_mode": "none", "join_channel": "store_qr"},
    {"member_id": "N2", "joined_at": "2026-05-20 10:00", "link_mode": "none", "join_channel": "store_qr"},
    {
        "member_id": "G1",
        "joined_at": "2026-01-01 10:00",
        "link_mode": "group_only",
        "join_channel": "store_qr",
    },
    {"member_id": "X1", "joined_at": "2026-01-01 10:00", "link_mode": None, "join_channel": "store_qr"},
]
ORDERS = [
    order("f1", "F1", "2026-01-10 12:00", 100),
    order("f2", "F1", "2026-02-20 12:00", 50),
    order("f3", "F2", "2026-01-10 12:00", 80),
    order("f4", "F2", "2026-01-20 12:00", 20),
    order("f5", "F2", "2026-04-01 12:00", 30),
    order("n1", "N1", "2026-03-01 12:00", 40),
    order("n2", "N2", "2026-06-01 12:00", 25),
    order("g1", "G1", "2026-02-01 12:00", 60),
    order("g2", "G1", "2026-02-01 19:00", 10),
    order("g3", "G1", "2026-03-15 12:00", 30),
]


@pytest.fixture
def db(make_store, store_row):
    tables = {"stores": [store_row()], "members": MEMBERS, "orders": ORDERS}
    return wb.connect(make_store(tables, data_through=AS_OF))


@pytest.fixture
def result(db):
    return link_mode_quality(db, as_of=AS_OF, horizon_days=60)


def test_table_has_the_documented_columns_and_every_link_mode(result):
    assert tuple(result.table.columns) == TABLE_COLUMNS
    assert set(result.table.link_mode) == {
        "friend_only", "group_only", "friend_then_group", "group_then_friend", "none", "unknown",
    }  # fmt: skip


def test_counts_and_retention(result):
    t = result.table.set_index("link_mode")
    assert t.loc["friend_only", ["members", "first_visitors", "retained"]].tolist() == [2, 2, 1]
    assert t.loc["none", ["members", "first_visitors", "retained"]].tolist() == [2, 1, 0]
    assert t.loc["group_only", "retention"] == 1.0
    assert t.loc["friend_only", "retention"] == 0.5
    assert t.loc["friend_only", "ci_low"] == pytest.approx(0.0945, abs=1e-4)
    assert t.loc["friend_only", "ci_high"] == pytest.approx(0.9055, abs=1e-4)
    assert t.loc["unknown", "members"] == 1 and t.loc["unknown", "first_visitors"] == 0


def test_visits_and_revenue_with_intervals(result):
    t = result.table.set_index("link_mode")
    assert t.loc["friend_only", "visits_per_30d"] == pytest.approx(0.5)
    assert t.loc["friend_only", "revenue_per_member"] == pytest.approx(125.0)
    half = sps.t.ppf(0.975, 1) * 25.0  # sd of (150, 100) is 35.355, / sqrt(2) = 25
    assert t.loc["friend_only", "revenue_ci_low"] == pytest.approx(125 - half)
    assert t.loc["friend_only", "revenue_ci_high"] == pytest.approx(125 + half)
    assert t.loc["group_only", "revenue_per_member"] == pytest.approx(100.0)  # same-day orders are one visit
    assert t.loc["none", "visits_per_30d"] == 0.0


def test_ranking_by_retention(result):
    assert result.ranking() == ["group_only", "friend_only", "none"]
    t = result.table.set_index("link_mode")
    assert pd.isna(t.loc["friend_then_group", "rank"])  # no members


def test_one_join_channel_leaves_standardised_retention_unchanged(result):
    t = result.table.dropna(subset=["rank"])
    assert t["retention_std"].tolist() == pytest.approx(t["retention"].tolist())


def test_standardisation_reweights_join_channels(make_store, store_row):
    # friend_only: 2 store_qr members, both retained; 2 referral members, 0 retained.
    # none: 1 store_qr member retained. All first visitors: store_qr 3, referral 2 -> weights 0.6, 0.4.
    # friend_only standardised = 0.6 x 1 + 0.4 x 0 = 0.6 (crude 0.5); none has store_qr only -> 1.
    members, orders = [], []
    for i, (mode, channel, back) in enumerate(
        [("friend_only", "store_qr", True), ("friend_only", "store_qr", True), ("friend_only", "referral", False),
         ("friend_only", "referral", False), ("none", "store_qr", True)]
    ):  # fmt: skip
        m = f"M{i}"
        members.append(
            {"member_id": m, "joined_at": "2026-01-01 10:00", "link_mode": mode, "join_channel": channel}
        )
        orders.append(order(f"o{i}", m, "2026-01-10 12:00", 50))
        if back:
            orders.append(order(f"r{i}", m, "2026-02-25 12:00", 50))  # day 46: retained
    db = wb.connect(
        make_store({"stores": [store_row()], "members": members, "orders": orders}, data_through=AS_OF)
    )
    t = link_mode_quality(db, as_of=AS_OF, horizon_days=60).table.set_index("link_mode")
    assert t.loc["friend_only", "retention"] == 0.5
    assert t.loc["friend_only", "retention_std"] == pytest.approx(0.6)
    assert t.loc["none", "retention_std"] == pytest.approx(1.0)


def test_summary_names_the_modes_and_says_it_is_descriptive(result):
    en, zh = result.summary(lang="en"), result.summary(lang="zh")
    assert "1. Group only" in en and "not causal" in en
    assert "仅社群" in zh and "不能视为因果" in zh


@pytest.mark.parametrize("horizon", [0, 30, -1, 90.5, "90"])
def test_bad_horizon_raises(db, horizon):
    with pytest.raises(ParameterError, match="horizon_days"):
        link_mode_quality(db, as_of=AS_OF, horizon_days=horizon)


def test_member_order_does_not_matter(make_store, store_row, result):
    tables = {"stores": [store_row()], "members": MEMBERS[::-1], "orders": ORDERS[::-1]}
    other = link_mode_quality(
        wb.connect(make_store(tables, data_through=AS_OF)), as_of=AS_OF, horizon_days=60
    )
    pd.testing.assert_frame_equal(other.table, result.table)


# -- planted truth --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("link_modes") / "chain.duckdb"
    simulate.simulate_chain(path, members=5000, weeks=78, seed=11, end="2026-11-22")
    truth = json.loads(simulate.truth_path(path).read_text(encoding="utf-8"))
    return wb.connect(path), truth


def test_ranking_follows_the_planted_dropout_hazards(chain):
    db, truth = chain
    planted = truth["churn"]["hazard_ratio"]["link_mode"]
    result = link_mode_quality(db, horizon_days=180)
    observed = result.ranking()
    expected = sorted(planted, key=planted.get)  # lowest hazard ratio = best retention
    # friend_then_group has the lowest planted hazard (0.55) and none the highest (1.0).
    assert observed[0] == expected[0] == "friend_then_group"
    assert observed[-1] == expected[-1] == "none"
    rho = sps.spearmanr([expected.index(m) for m in observed], range(len(observed))).statistic
    assert rho >= 0.7
    # The best mode's retention is clearly above the unlinked members' (intervals apart).
    t = result.table.set_index("link_mode")
    assert t.loc["friend_then_group", "ci_low"] > t.loc["none", "ci_high"]
