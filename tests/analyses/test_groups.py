"""Community groups: member-days, messaging and leaving, checked by hand and against a simulated chain.

Main case (Beijing times), as_of 2026-03-31, window_days=31: the window is 1-31 March (31 days).

  G1 (store group of S1)                         G2 (welfare group, run by the brand)
    A in since 15 Feb, still in: 31 member-days    D in since 10 Jan, left 6 Mar: 1-5 Mar = 5 member-days
    B in 11 Mar 10:00, left 21 Mar 09:00:          E in since 1 Feb, still in: 31 member-days
      11-20 Mar = 10 member-days, 1 leave          A in 16 Mar 10:00, left 16 Mar 11:00: 0 member-days,
    C in 25 Mar: 25-31 Mar = 7 member-days           1 join and 1 leave
    member-days 31 + 10 + 7 = 48                   member-days 5 + 31 = 36
    joins 2 (B, C), leaves 1 (B)                   joins 1 (A), leaves 2 (D, A)
    leave rate 1 / 48 = 2.0833 per 100            leave rate 2 / 36 = 5.5556 per 100
  Messages in the window
    1 Mar x2 (A) -> 2 received                     3 Mar x1 (D, E) -> 2 received
    15 Mar x1 (A, B) -> 2                           20 Mar x2 (E) -> 2
    21 Mar x1 (A; B left that day) -> 1            messages 3, received 4
    25 Mar x1 (A, C) -> 2                          per day 3 / 31, per member-day 3 / 36,
    (+ 20 Feb x1, before the window)                 received per member-day 4 / 36
    messages 5, received 7; per day 5 / 31, per member-day 5 / 48, received per member-day 7 / 48
  Members now (end of 31 Mar): G1 = A, C; G2 = E.
    VIP: A (since 1 Feb) -> G1 1/2, G2 0/1.
    High frequency (>= 3 visits in the 90 days 1 Jan - 31 Mar): A has 2, 16, 18 Mar (3) -> yes; C has
    1 Feb, 26 Mar (2) -> no; E has 31 Dec (outside), 10 Feb, 10 Mar (2) -> no. G1 1/2, G2 0/1.
  Revenue while in the group, in the window:
    G1: A 2 Mar 50, 16 Mar 10:30 20, 18 Mar 30; B 12 Mar 60 (22 Mar 15 is after leaving); C 26 Mar 40
        -> 200 from 5 orders (C's 1 Feb order is before joining and before the window)
    G2: A 16 Mar 10:30 20 (in both groups at that moment); D 4 Mar 35 (7 Mar 5 after leaving);
        E 10 Mar 25 -> 80 from 3 orders
"""

import datetime as dt
import math
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.groups import (
    BAND_COLUMNS,
    GROUP_COLUMNS,
    KIND_COLUMNS,
    TREND_COLUMNS,
    group_overview,
    messaging_and_leaving,
    poisson_rate_interval,
)
from workbench.data import simulate
from workbench.errors import MissingTableError, ParameterError, ThinDataWarning

AS_OF = "2026-03-31"


def order(oid, member, when, amount):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}


def spell(group, member, joined, left=None):
    return {"group_id": group, "member_id": member, "joined_at": joined, "left_at": left}


def message(tid, group, when):
    return {"touch_id": tid, "sent_at": when, "medium": "group", "group_id": group}


MEMBERS = [
    {"member_id": m, "joined_at": "2025-12-01 10:00", "vip_since": "2026-02-01 12:00" if m == "A" else None}
    for m in "ABCDE"
]
GROUPS = [
    {"group_id": "G1", "kind": "store", "store_id": "S1", "created_at": "2026-01-01 10:00"},
    {"group_id": "G2", "kind": "welfare", "store_id": None, "created_at": "2026-01-01 10:00"},
]
SPELLS = [
    spell("G1", "A", "2026-02-15 12:00"),
    spell("G1", "B", "2026-03-11 10:00", "2026-03-21 09:00"),
    spell("G1", "C", "2026-03-25 18:00"),
    spell("G2", "D", "2026-01-10 12:00", "2026-03-06 08:00"),
    spell("G2", "E", "2026-02-01 12:00"),
    spell("G2", "A", "2026-03-16 10:00", "2026-03-16 11:00"),
]
MESSAGES = [
    message("t0", "G1", "2026-02-20 12:00"),
    message("t1", "G1", "2026-03-01 09:00"),
    message("t2", "G1", "2026-03-01 20:00"),
    message("t3", "G1", "2026-03-15 12:00"),
    message("t4", "G1", "2026-03-21 12:00"),
    message("t5", "G1", "2026-03-25 20:00"),
    message("t6", "G2", "2026-03-03 12:00"),
    message("t7", "G2", "2026-03-20 09:00"),
    message("t8", "G2", "2026-03-20 21:00"),
    {"touch_id": "t9", "sent_at": "2026-03-05 12:00", "medium": "private_chat", "member_id": "A"},
]
ORDERS = [
    order("a1", "A", "2026-03-02 12:00", 50),
    order("a2", "A", "2026-03-16 10:30", 20),
    order("a3", "A", "2026-03-18 12:00", 30),
    order("b1", "B", "2026-03-12 12:00", 60),
    order("b2", "B", "2026-03-22 12:00", 15),
    order("c0", "C", "2026-02-01 12:00", 10),
    order("c1", "C", "2026-03-26 12:00", 40),
    order("d1", "D", "2026-03-04 12:00", 35),
    order("d2", "D", "2026-03-07 12:00", 5),
    order("e0", "E", "2025-12-31 12:00", 10),
    order("e1", "E", "2026-02-10 12:00", 10),
    order("e2", "E", "2026-03-10 12:00", 25),
]


@pytest.fixture
def db(make_store, store_row):
    tables = {"stores": [store_row()], "members": MEMBERS, "orders": ORDERS, "groups": GROUPS,
              "group_members": SPELLS, "touches": MESSAGES}  # fmt: skip
    return wb.connect(make_store(tables, data_through=AS_OF))


@pytest.fixture
def overview(db):
    return group_overview(db, as_of=AS_OF, window_days=31)


def row(frame, group):
    return frame.set_index("group_id").loc[group]


def test_result_has_the_documented_columns(overview):
    assert tuple(overview.groups.columns) == GROUP_COLUMNS
    assert tuple(overview.by_kind.columns) == KIND_COLUMNS
    assert tuple(overview.trend.columns) == TREND_COLUMNS


def test_member_days_joins_and_leaves_follow_the_spells(overview):
    g1, g2 = row(overview.groups, "G1"), row(overview.groups, "G2")
    assert (g1.member_days, g1.joins, g1.leaves) == (48, 2, 1)
    assert (g2.member_days, g2.joins, g2.leaves) == (36, 1, 2)
    assert g1.leave_rate_per_100 == pytest.approx(100 / 48)
    assert g2.leave_rate_per_100 == pytest.approx(200 / 36)


def test_leave_rate_interval_is_the_exact_poisson_interval(overview):
    # Garwood 95% limits for a count of 1: 0.0253 and 5.5716; for 2: 0.2422 and 7.2247 (published tables).
    g1, g2 = row(overview.groups, "G1"), row(overview.groups, "G2")
    assert g1.leave_rate_ci_low == pytest.approx(0.0253 * 100 / 48, abs=1e-3)
    assert g1.leave_rate_ci_high == pytest.approx(5.5716 * 100 / 48, abs=1e-3)
    assert g2.leave_rate_ci_low == pytest.approx(0.2422 * 100 / 36, abs=1e-3)
    assert g2.leave_rate_ci_high == pytest.approx(7.2247 * 100 / 36, abs=1e-3)


def test_messages_are_counted_per_day_per_member_day_and_as_received(overview):
    g1, g2 = row(overview.groups, "G1"), row(overview.groups, "G2")
    assert (g1.messages, g2.messages) == (5, 3)  # the 20 Feb message and the private chat are not counted
    assert g1.group_days == 31
    assert g1.messages_per_day == pytest.approx(5 / 31)
    assert g1.messages_per_member_day == pytest.approx(5 / 48)
    assert g1.received_per_member_day == pytest.approx(7 / 48)
    assert g2.messages_per_member_day == pytest.approx(3 / 36)
    assert g2.received_per_member_day == pytest.approx(4 / 36)


def test_members_now_and_their_mix(overview):
    g1, g2 = row(overview.groups, "G1"), row(overview.groups, "G2")
    assert (g1.members_now, g2.members_now) == (2, 1)
    assert (g1.vip_share, g2.vip_share) == (0.5, 0.0)
    assert (g1.high_frequency_share, g2.high_frequency_share) == (0.5, 0.0)


def test_revenue_counts_orders_placed_while_in_the_group(overview):
    g1, g2 = row(overview.groups, "G1"), row(overview.groups, "G2")
    assert (g1.revenue, g1.orders) == (200.0, 5)
    assert (g2.revenue, g2.orders) == (80.0, 3)
    assert g1.revenue_per_member_day == pytest.approx(200 / 48)


def test_by_kind_sums_the_groups(overview):
    k = overview.by_kind.set_index("kind")
    assert list(k.index) == ["store", "welfare"]
    assert k.loc["store", "member_days"] == 48 and k.loc["welfare", "leaves"] == 2
    total = overview.groups[["member_days", "leaves", "messages", "members_now"]].sum()
    assert k[["member_days", "leaves", "messages", "members_now"]].sum().tolist() == total.tolist()


def test_weekly_trend(overview):
    t = overview.trend[overview.trend.group_id == "G1"].set_index("week")
    # The window starts on Sunday 1 March: the week of Monday 23 Feb has one day in it.
    assert t.loc[pd.Timestamp("2026-02-23"), ["days", "messages", "member_days"]].tolist() == [1, 2, 1]
    # 9-15 March: A all 7 days, B from the 11th (5 days); the 15 March message; B joined.
    week = t.loc[pd.Timestamp("2026-03-09")]
    assert (week.days, week.member_days, week.messages, week.joins, week.leaves, week.members_end) == (
        7, 12, 1, 1, 0, 2,
    )  # fmt: skip
    # 30-31 March: A and C, two days.
    assert t.loc[pd.Timestamp("2026-03-30"), ["days", "member_days", "members_end"]].tolist() == [2, 4, 2]
    assert t["member_days"].sum() == 48 and t["leaves"].sum() == 1


def test_summary_in_both_languages(overview):
    en, zh = overview.summary(lang="en"), overview.summary(lang="zh")
    assert "2 groups with 3 members now" in en and "Store group" in en
    assert "门店群" in zh and "3 名成员" in zh


# -- messaging and leaving ------------------------------------------------------------------------------


def test_bands_on_the_main_case(db):
    # Window from 1 March: the first group message (20 Feb) is earlier, so it does not move the start.
    with pytest.warns(ThinDataWarning):  # two groups: no regression
        ml = messaging_and_leaving(db, as_of=AS_OF, window_days=31, bands=(0, 0.125, 1))
    assert ml.params["start"] == dt.date(2026, 3, 1)
    assert tuple(ml.bands.columns) == BAND_COLUMNS
    b = ml.bands.set_index("band")
    # G2 receives 4/36 = 0.111 a day (first band), G1 7/48 = 0.146 (second band), none above 1.
    assert b.loc["0-0.125", ["groups", "member_days", "leaves"]].tolist() == [1, 36, 2]
    assert b.loc["0.125-1", ["groups", "member_days", "leaves"]].tolist() == [1, 48, 1]
    assert b.loc["0-0.125", "leave_rate"] == pytest.approx(2 / 36)
    assert b.loc["0.125-1", "intensity"] == pytest.approx(7 / 48)
    assert b.loc["1+", "groups"] == 0 and math.isnan(b.loc["1+", "leave_rate"])
    assert ml.fit.empty
    # Both groups post fewer than 0.5 messages a day: the rule of thumb cannot be tested.
    assert ml.verdict == "insufficient"
    assert "cannot be tested" in ml.verdict_text("en")


def _line_case(make_store, store_row):
    """Three groups over 1-10 March (as_of 10 March, window_days=10), each with stayers (10 member-days
    each) and leavers (in 1-5 March: 5 member-days each), messages every day:
      H0: 0 a day,  19 stayers + 2 leavers  -> 200 member-days, 2 leaves  -> rate 0.01
      H1: 1 a day,  17 stayers + 6 leavers  -> 200 member-days, 6 leaves  -> rate 0.03
      H2: 2 a day,  15 stayers + 10 leavers -> 200 member-days, 10 leaves -> rate 0.05
    The rates lie on the line 0.01 + 0.02 x, so the additive Poisson fit is exactly a = 0.01, b = 0.02.
    """
    members, spells, touches = [], [], []
    for g, (x, stay, leave) in {"H0": (0, 19, 2), "H1": (1, 17, 6), "H2": (2, 15, 10)}.items():
        for i in range(stay + leave):
            m = f"{g}m{i}"
            members.append({"member_id": m, "joined_at": "2026-01-01 10:00"})
            if i < stay:
                spells.append(spell(g, m, "2026-02-01 10:00"))
            else:
                spells.append(spell(g, m, "2026-03-01 08:00", "2026-03-06 08:00"))
        for day in range(1, 11):
            for k in range(x):
                touches.append(message(f"{g}-{day}-{k}", g, f"2026-03-{day:02d} {10 + k}:00"))
    groups = [{"group_id": g, "kind": "store", "store_id": "S1", "created_at": "2026-01-01 10:00"}
              for g in ("H0", "H1", "H2")]  # fmt: skip
    orders = [order("o1", "H0m0", "2026-03-02 12:00", 10)]
    tables = {"stores": [store_row()], "members": members, "orders": orders, "groups": groups,
              "group_members": spells, "touches": touches}  # fmt: skip
    return wb.connect(make_store(tables, data_through="2026-03-10"))


def test_additive_poisson_fit_recovers_rates_on_a_line(make_store, store_row):
    db = _line_case(make_store, store_row)
    ml = messaging_and_leaving(db, as_of="2026-03-10", window_days=10)
    g = ml.groups.set_index("group_id")
    assert g["member_days"].tolist() == [200, 200, 200]
    assert g["received_per_member_day"].tolist() == pytest.approx([0.0, 1.0, 2.0])
    assert ml.coefficient("intercept")["estimate"] == pytest.approx(0.01, rel=1e-4)
    assert ml.coefficient("slope")["estimate"] == pytest.approx(0.02, rel=1e-4)
    slope = ml.coefficient("slope")
    assert slope["ci_low"] < 0.02 < slope["ci_high"]
    assert ml.coefficient("rate_ratio", model="log_linear")["estimate"] > 1
    # Rule of thumb: H0 below (0 a day), H1 and H2 at 1 and 2 a day, above the band; the band is empty.
    r = ml.rule_of_thumb.set_index("band")
    assert r["groups"].tolist() == [1, 0, 2]
    assert ml.verdict == "insufficient"


def test_window_starts_no_earlier_than_the_first_group_message(make_store, store_row):
    db = _line_case(make_store, store_row)  # messages from 1 March only
    ml = messaging_and_leaving(db, as_of="2026-03-10", window_days=365)
    assert ml.params["start"] == dt.date(2026, 3, 1)
    assert ml.groups["member_days"].tolist() == [200, 200, 200]


def test_poisson_rate_interval_matches_the_chi_square_limits():
    low, high = poisson_rate_interval(np.array([0, 1, 10]), np.array([10.0, 10.0, 10.0]))
    # Published exact limits: 0 -> (0, 3.689); 1 -> (0.0253, 5.5716); 10 -> (4.7954, 18.3904).
    assert low == pytest.approx([0.0, 0.00253, 0.47954], abs=1e-4)
    assert high == pytest.approx([0.3689, 0.55716, 1.83904], abs=1e-4)


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bands", [(0.5, 1), (0, 1, 1), "abc", ()])
def test_bad_bands_raise(db, bands):
    with pytest.raises(ParameterError, match="bands="):
        messaging_and_leaving(db, as_of=AS_OF, bands=bands)


@pytest.mark.parametrize("days", [0, -5, 1.5, "90"])
def test_bad_window_raises(db, days):
    with pytest.raises(ParameterError, match="window_days"):
        group_overview(db, as_of=AS_OF, window_days=days)


@pytest.mark.parametrize("table", ["groups", "group_members", "touches"])
def test_missing_tables_are_named(db, table):
    path = db.path
    db.close()
    con = duckdb.connect(str(path))
    con.execute(f'DROP TABLE "{table}"')
    con.close()
    db = wb.connect(path)
    with pytest.raises(MissingTableError, match=f"group_overview needs the table.*{table}"):
        group_overview(db, as_of=AS_OF)
    with pytest.raises(MissingTableError, match=table):
        messaging_and_leaving(db, as_of=AS_OF)


# -- invariance -----------------------------------------------------------------------------------------


def test_row_order_does_not_matter(make_store, store_row):
    tables = {"stores": [store_row()], "members": MEMBERS[::-1], "orders": ORDERS[::-1], "groups": GROUPS[::-1],
              "group_members": SPELLS[::-1], "touches": MESSAGES[::-1]}  # fmt: skip
    db = wb.connect(make_store(tables, data_through=AS_OF))
    a = group_overview(db, as_of=AS_OF, window_days=31)
    b = group_overview(wb.connect(make_store({"stores": [store_row()], "members": MEMBERS, "orders": ORDERS,
                                              "groups": GROUPS, "group_members": SPELLS, "touches": MESSAGES},
                                             data_through=AS_OF)), as_of=AS_OF, window_days=31)  # fmt: skip
    pd.testing.assert_frame_equal(a.groups, b.groups)
    pd.testing.assert_frame_equal(a.trend, b.trend)


# -- planted truth --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("groups") / "chain.duckdb"
    simulate.simulate_chain(path, members=5000, weeks=78, seed=11, end="2026-11-22")
    import json

    truth = json.loads(simulate.truth_path(path).read_text(encoding="utf-8"))
    return wb.connect(path), truth


def test_planted_leave_hazard_is_recovered(chain):
    db, truth = chain
    planted = truth["groups"]["leave_hazard_per_day"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ThinDataWarning)
        ml = messaging_and_leaving(db, window_days=600)
    a, b = ml.coefficient("intercept"), ml.coefficient("slope")
    # The additive Poisson model is the planted one (hazard = intercept + slope x messages per member-day,
    # each message reaching every member), so its 95% intervals should cover the planted numbers.
    assert a["ci_low"] < planted["intercept"] < a["ci_high"]
    assert b["ci_low"] < planted["slope_per_message_per_member_day"] < b["ci_high"]
    assert b["ci_low"] > 0
    # Leaving rises with every message: the rule-of-thumb band is already worse than below it.
    assert ml.verdict == "linear"
    bands = ml.bands[ml.bands.member_days > 0]
    assert bands["leave_rate"].is_monotonic_increasing


def test_overview_on_the_chain_is_consistent(chain):
    db, _ = chain
    ov = group_overview(db)
    g = ov.groups
    assert ((g["vip_share"].dropna() >= 0) & (g["vip_share"].dropna() <= 1)).all()
    assert (g.loc[g.kind == "vip", "vip_share"].dropna() == 1.0).all()  # VIP groups hold card holders only
    assert g["leaves"].sum() == ov.trend["leaves"].sum()
    assert g["member_days"].sum() == ov.trend["member_days"].sum()
    # Members now equal the last week's members at week end.
    last = ov.trend[ov.trend.week == ov.trend.week.max()].set_index("group_id")["members_end"]
    assert (g.set_index("group_id")["members_now"].reindex(last.index) == last).all()
