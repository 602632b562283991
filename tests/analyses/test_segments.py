"""Member tags, RFM classes and operator lists, checked on a chain small enough to work out on paper.

Main case: as_of 2026-03-31 (data_through), window 90 days = 2026-01-01 ... 2026-03-31. Stores S1, S2 in
上海 and S3 in 北京. Eight members with a visit in the window, designed so that each RFM class appears once;
amounts are per visit (ticket) and every visit is one order unless said otherwise.

  member  window visits (days; store)                                 ticket  before the window
  A       01-02 01-15* 02-01 02-15 03-01 03-10 03-20 03-31; S1 x5, S3 x3  100  2025-12-01 (S1)   VIP 02-01
  B       01-05 01-20 02-10 02-20 03-01 03-11 03-21; S1 x2, S2 x2, S3 x3  110  2025-11-01 (S3)   VIP after as_of
  C       01-10 02-05 (S1), 03-05 03-30 (S2)                              150  2025-12-15 (S1)
  D       03-05 03-08 03-11 (joined 03-01)                                170  -
  E       01-05c 01-25 02-05c 02-25 03-15 03-29 (c = with a coupon)      70  2025-12-20 (coupon)
  F       01-03 01-20c 02-01 02-20 03-01                                   60  2025-12-10
  G       01-20 (S1), 03-28 (S2)                                           90  -
  H       02-19c                                                           80  -
  I       -                                                                -   2025-10-15 (S3, 45)
  J       never ordered
  K       joined 2026-04-05, after as_of (not a member yet); A also orders on 04-01 (after as_of, ignored);
          one non-member order.
  * A's 01-15 visit is two orders (60 + 40): one visit of 100.

Scored members (visit in the window): n = 8, score = 1 + floor(5 L / 8) where L = members strictly worse,
so L = 0..7 give scores 1, 1, 2, 2, 3, 4, 4, 5 (mean 22 / 8 = 2.75; high = score > 2.75 = the top four).
  recency (as_of - last visit): A 0, C 1, E 2, G 3, B 10, D 20, F 30, H 40
      -> R: H 1, F 1, D 2, B 2, G 3, E 4, C 4, A 5
  frequency: A 8, B 7, E 6, F 5, C 4, D 3, G 2, H 1
      -> F: H 1, G 1, D 2, C 2, F 3, E 4, B 4, A 5
  monetary (frequency x ticket): A 800, B 770, C 600, D 510, E 420, F 300, G 180, H 80 (total 3,660)
      -> M: H 1, G 1, F 2, E 2, D 3, C 4, B 4, A 5
  classes (R F M high?): A +++ important_value, B -++ important_retention, C +-+ important_development,
      D --+ important_win_back, E ++- general_value, F -+- general_retention, G +-- general_development,
      H --- general_win_back; I (visited only before the window) scores 1 1 1 -> general_win_back;
      J never visited -> no_visit with no scores.
  spending power, terciles of the tickets 60 70 80 90 100 110 150 170 (numpy linear quantiles):
      1/3 at position 7/3: 80 + (90 - 80) / 3 = 83.33;  2/3 at position 14/3: 100 + (110 - 100) * 2/3 = 106.67
      -> low F, E, H; medium G, A; high B, C, D
  visits per month = frequency / max(exposure, 30) * 30.4375, exposure = days from max(window start, first
      visit) to as_of: A, B, C, E, F first visited before the window -> 90 days: A 8 / 90 * 30.4375 = 2.71,
      B 2.37, E 2.03, F 1.69, C 1.35; D 03-05 .. 03-31 = 27 days, floored to 30: 3.04; G 01-20 .. 03-31 =
      71 days: 2 / 71 * 30.4375 = 0.857; H has one visit ever -> one_off.
      Bands (0.5, 2): high A, B, E, D; medium F, C, G.  Bands (1, 2.5): high A, D; medium B, E, F, C; low G.
  coupons in the window: E 2 of 6 = 1/3 (>= 1/3: price sensitive; its coupon before the window does not
      count), F 1 of 5 = 0.2 (not), H 1 of 1 (price sensitive).
  favourites: A S1 / 上海; B S3 (3 visits) but 上海 (2 + 2 = 4 visits); C ties 2-2 in the window, S1 wins on
      all visits (3 with 2025-12-15); G ties 1-1 everywhere, S2 wins on the later visit; I S3 / 北京 from its
      visits before the window.
"""

import datetime as dt
import random

import numpy as np
import openpyxl
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.member_lists import (
    BIRTHDAY_COLUMNS,
    SEGMENT_LIST_COLUMNS,
    birthday_list,
    export_member_tags,
    segment_members,
    upcoming_birthdays,
)
from workbench.analyses.segments import (
    CLASS_SUMMARY_COLUMNS,
    COLUMNS,
    RFM_CLASS_VALUES,
    member_tags,
    quintile_scores,
)
from workbench.errors import ParameterError

AS_OF = "2026-03-31"
WINDOW = 90

STORES = [
    {"store_id": "S1", "name": "人民广场店", "city": "上海", "format": "direct"},
    {"store_id": "S2", "name": "徐家汇店", "city": "上海", "format": "direct"},
    {"store_id": "S3", "name": "国贸店", "city": "北京", "format": "franchise"},
]


def member(mid, joined="2025-09-01", **extra):
    return {"member_id": mid, "joined_at": f"{joined} 10:00", "join_channel": "store_qr", **extra}


MEMBERS = [
    member("A", vip_since="2026-02-01 12:30", birthday_md="04-02", phone_hash="hash-a"),
    member("B", vip_since="2026-04-10 12:00", join_channel="mini_program"),
    member("C"),
    member("D", joined="2026-03-01"),
    member("E"),
    member("F"),
    member("G"),
    member("H"),
    member("I"),
    member("J"),
    member("K", joined="2026-04-05"),
]


def visits_of(mid, days, amount, *, stores=None, coupons=()):
    """One order per day at 12:00 (local), on store stores[i] (default S1), coupon on the listed days."""
    rows = []
    for i, day in enumerate(days):
        rows.append(
            {
                "order_id": f"{mid}-{day}",
                "store_id": stores[i] if stores else "S1",
                "ordered_at": f"{day} 12:00",
                "amount": amount,
                "member_id": mid,
                "coupon_id": f"cp-{mid}-{day}" if day in coupons else None,
            }
        )
    return rows


def orders():
    a_days = [
        "2026-01-02",
        "2026-02-01",
        "2026-02-15",
        "2026-03-01",
        "2026-03-10",
        "2026-03-20",
        "2026-03-31",
    ]
    rows = visits_of("A", a_days, 100, stores=["S1", "S1", "S3", "S3", "S3", "S1", "S1"])
    rows += [
        {"order_id": "A-15a", "store_id": "S1", "ordered_at": "2026-01-15 12:00", "amount": 60, "member_id": "A"},
        {"order_id": "A-15b", "store_id": "S1", "ordered_at": "2026-01-15 19:00", "amount": 40, "member_id": "A"},
        {"order_id": "A-pre", "store_id": "S1", "ordered_at": "2025-12-01 12:00", "amount": 50, "member_id": "A"},
        {"order_id": "A-late", "store_id": "S1", "ordered_at": "2026-04-01 12:00", "amount": 999, "member_id": "A"},
    ]  # fmt: skip
    b_days = [
        "2026-01-05",
        "2026-01-20",
        "2026-02-10",
        "2026-02-20",
        "2026-03-01",
        "2026-03-11",
        "2026-03-21",
    ]
    rows += visits_of("B", b_days, 110, stores=["S1", "S1", "S2", "S2", "S3", "S3", "S3"])
    rows += visits_of("B", ["2025-11-01"], 110, stores=["S3"])
    rows += visits_of("C", ["2025-12-15", "2026-01-10", "2026-02-05", "2026-03-05", "2026-03-30"], 150,
                      stores=["S1", "S1", "S1", "S2", "S2"])  # fmt: skip
    rows += visits_of("D", ["2026-03-05", "2026-03-08", "2026-03-11"], 170)
    e_days = [
        "2025-12-20",
        "2026-01-05",
        "2026-01-25",
        "2026-02-05",
        "2026-02-25",
        "2026-03-15",
        "2026-03-29",
    ]
    rows += visits_of("E", e_days, 70, coupons=("2025-12-20", "2026-01-05", "2026-02-05"))
    f_days = ["2025-12-10", "2026-01-03", "2026-01-20", "2026-02-01", "2026-02-20", "2026-03-01"]
    rows += visits_of("F", f_days, 60, coupons=("2026-01-20",))
    rows += visits_of("G", ["2026-01-20", "2026-03-28"], 90, stores=["S1", "S2"])
    rows += visits_of("H", ["2026-02-19"], 80, coupons=("2026-02-19",))
    rows += visits_of("I", ["2025-10-15"], 45, stores=["S3"])
    rows += visits_of("K", ["2026-04-05"], 50)
    rows += [{"order_id": "walk-in", "store_id": "S2", "ordered_at": "2026-03-01 12:00", "amount": 88}]
    return rows


@pytest.fixture
def chain(make_store):
    def build(members=MEMBERS, order_rows=None):
        rows = orders() if order_rows is None else order_rows
        path = make_store({"stores": STORES, "members": members, "orders": rows}, data_through=AS_OF)
        return wb.connect(path)

    return build


@pytest.fixture
def db(chain):
    return chain()


@pytest.fixture
def tags(db):
    return member_tags(db, as_of=AS_OF, window_days=WINDOW)


def by_member(tags):
    return tags.members.set_index("member_id")


# -- member_tags on the hand-made chain ----------------------------------------------------------------


def test_one_row_per_member_with_the_documented_columns_and_no_phone_hash(tags):
    m = tags.members
    assert tuple(m.columns) == COLUMNS
    assert "phone_hash" not in m.columns
    # K joined after as_of; the non-member order has no row.
    assert m.member_id.tolist() == list("ABCDEFGHIJ")
    assert tags.params["as_of"] == dt.date(2026, 3, 31)
    assert tags.thresholds["window_start"] == dt.date(2026, 1, 1)


def test_default_as_of_is_the_data_through_day(db):
    assert member_tags(db, window_days=WINDOW).as_of == dt.date(2026, 3, 31)


def test_recency_frequency_monetary_by_hand(tags):
    m = by_member(tags)
    assert m.recency_days[list("ACEGBDFH")].tolist() == [0, 1, 2, 3, 10, 20, 30, 40]
    assert m.recency_days["I"] == 167  # 2025-10-15 -> 2026-03-31: 16 + 30 + 31 + 31 + 28 + 31
    assert pd.isna(m.recency_days["J"])
    assert m.frequency[list("ABCDEFGHIJ")].tolist() == [8, 7, 4, 3, 6, 5, 2, 1, 0, 0]
    assert m.monetary[list("ABCDEFGHIJ")].tolist() == [800, 770, 600, 510, 420, 300, 180, 80, 0, 0]
    # Visits before the window count in lifetime_visits only; A's order after as_of not at all.
    assert m.lifetime_visits[list("ABCDEFGHIJ")].tolist() == [9, 8, 5, 3, 7, 6, 2, 1, 1, 0]
    assert m.avg_ticket["A"] == 100 and m.avg_ticket["D"] == 170 and np.isnan(m.avg_ticket["I"])
    assert m.last_visit_day["A"] == pd.Timestamp("2026-03-31")
    assert m.first_visit_day["A"] == pd.Timestamp("2025-12-01")


def test_quintile_scores_by_hand(tags):
    m = by_member(tags)
    order = list("ABCDEFGH")
    assert m.r_score[order].tolist() == [5, 2, 4, 2, 4, 1, 3, 1]
    assert m.f_score[order].tolist() == [5, 4, 2, 2, 4, 3, 1, 1]
    assert m.m_score[order].tolist() == [5, 4, 4, 3, 2, 2, 1, 1]
    # Visited only before the window: lowest scores; never visited: none.
    assert (m.r_score["I"], m.f_score["I"], m.m_score["I"]) == (1, 1, 1)
    assert m.loc["J", ["r_score", "f_score", "m_score"]].isna().all()
    th = tags.thresholds
    assert (th["r_cut"], th["f_cut"], th["m_cut"]) == (2.75, 2.75, 2.75)
    ranges = th["score_ranges"].set_index(["measure", "score"])
    assert ranges.loc[("frequency", 4)].tolist() == [2, 6, 7]  # B 7, E 6
    assert ranges.loc[("recency_days", 1)].tolist() == [2, 30, 40]  # H 40, F 30


def test_each_of_the_eight_classes_by_hand(tags):
    m = by_member(tags)
    assert m.rfm_class.to_dict() == {
        "A": "important_value",
        "B": "important_retention",
        "C": "important_development",
        "D": "important_win_back",
        "E": "general_value",
        "F": "general_retention",
        "G": "general_development",
        "H": "general_win_back",
        "I": "general_win_back",
        "J": "no_visit",
    }


def test_median_cut_gives_the_same_classes_here_and_a_fixed_cut_moves_the_edges(db, tags):
    # Median of 1 1 2 2 3 4 4 5 is 2.5: the same top four on every measure.
    median = member_tags(db, as_of=AS_OF, window_days=WINDOW, rfm_cut="median")
    assert median.thresholds["r_cut"] == 2.5
    assert median.members.rfm_class.tolist() == tags.members.rfm_class.tolist()
    # Cut 3: a score of 3 is no longer high. G (R 3) loses its high R, D (M 3) its high M.
    fixed = by_member(member_tags(db, as_of=AS_OF, window_days=WINDOW, rfm_cut=3))
    assert fixed.rfm_class["G"] == "general_win_back" and fixed.rfm_class["D"] == "general_win_back"
    assert fixed.rfm_class["A"] == "important_value" and fixed.rfm_class["C"] == "important_development"


def test_spending_power_terciles_and_fixed_bands(db, tags):
    low, high = tags.thresholds["spending_bands"]
    assert low == pytest.approx(83.3333, abs=1e-3) and high == pytest.approx(106.6667, abs=1e-3)
    m = by_member(tags)
    assert m.spending_power.to_dict() == {
        "A": "medium", "B": "high", "C": "high", "D": "high", "E": "low",
        "F": "low", "G": "medium", "H": "low", "I": "inactive", "J": "inactive",
    }  # fmt: skip
    fixed = by_member(member_tags(db, as_of=AS_OF, window_days=WINDOW, spending_bands=(100, 150)))
    assert fixed.spending_power[list("ABCDEFGH")].tolist() == [
        "medium", "medium", "high", "high", "low", "low", "low", "low",
    ]  # fmt: skip


def test_frequency_tiers_by_visits_per_month(db, tags):
    m = by_member(tags)
    assert m.visits_per_month["A"] == pytest.approx(8 / 90 * 30.4375)
    assert m.visits_per_month["D"] == pytest.approx(3 / 30 * 30.4375)  # 27 days of exposure floored to 30
    assert m.visits_per_month["G"] == pytest.approx(2 / 71 * 30.4375)
    assert m.frequency_tier.to_dict() == {
        "A": "high", "B": "high", "C": "medium", "D": "high", "E": "high",
        "F": "medium", "G": "medium", "H": "one_off", "I": "inactive", "J": "inactive",
    }  # fmt: skip
    other = by_member(member_tags(db, as_of=AS_OF, window_days=WINDOW, frequency_bands=(1, 2.5)))
    assert other.frequency_tier[list("ABCDEFGH")].tolist() == [
        "high", "medium", "medium", "high", "medium", "medium", "low", "one_off",
    ]  # fmt: skip


def test_price_sensitivity_counts_coupon_visits_in_the_window(tags):
    m = by_member(tags)
    assert m.coupon_visits[list("EFH")].tolist() == [2, 1, 1]
    assert m.price_sensitivity["E"] == pytest.approx(1 / 3) and m.price_sensitivity["F"] == 0.2
    assert m.price_sensitive[m.price_sensitive].index.tolist() == ["E", "H"]  # 1/3 is at the threshold
    assert np.isnan(m.price_sensitivity["I"]) and not m.price_sensitive["I"]


def test_favourite_store_and_city_with_their_tie_breaks(tags):
    m = by_member(tags)
    assert m.favourite_store_id[list("ABCGI")].tolist() == ["S1", "S3", "S1", "S2", "S3"]
    assert m.favourite_city[list("ABCGI")].tolist() == ["上海", "上海", "上海", "上海", "北京"]
    assert m.favourite_store_id["J"] is None and m.favourite_city["J"] is None


def test_flags_and_attributes(tags):
    m = by_member(tags)
    assert m.vip[m.vip].index.tolist() == ["A"]  # B buys the card after as_of
    assert m.join_channel["B"] == "mini_program"
    assert m.birthday_md["A"] == "04-02" and m.birthday_md["B"] is None
    assert m.home_store_id["B"] == "S3" and m.city["B"] == "北京"  # no join store: first-visit store


def test_window_days_limits_frequency_and_monetary(db):
    m = by_member(member_tags(db, as_of=AS_OF, window_days=30))
    # Window 2026-03-02 .. 03-31: A's 03-10, 03-20, 03-31.
    assert (m.frequency["A"], m.monetary["A"]) == (3, 300)
    assert m.rfm_class["F"] == "general_win_back"  # F's last visit 03-01 is outside: scores 1 1 1


def test_store_and_city_filters_keep_members_by_home_store(db):
    s3 = member_tags(db, as_of=AS_OF, window_days=WINDOW, stores=["S3"])
    assert s3.members.member_id.tolist() == ["B", "I"]
    beijing = member_tags(db, as_of=AS_OF, window_days=WINDOW, cities="北京")
    assert beijing.members.member_id.tolist() == ["B", "I"]
    # Scores are relative to the members in scope: B alone scores 1 and nothing is above the mean of 1.
    assert by_member(s3).rfm_class["B"] == "general_win_back"


def test_the_order_of_order_rows_does_not_matter(chain, tags):
    rows = orders()
    random.Random(4).shuffle(rows)
    shuffled = member_tags(chain(order_rows=rows), as_of=AS_OF, window_days=WINDOW)
    pd.testing.assert_frame_equal(shuffled.members, tags.members)


def test_class_summary_partitions_members_and_revenue(tags):
    s = tags.class_summary()
    assert tuple(s.columns) == CLASS_SUMMARY_COLUMNS
    assert s.rfm_class.tolist() == list(RFM_CLASS_VALUES)
    assert s.members.sum() == 10 and s.member_share.sum() == pytest.approx(1)
    assert s.revenue.sum() == 3660 and s.revenue_share.sum() == pytest.approx(1)
    row = s.set_index("rfm_class").loc["general_win_back"]
    assert (row.members, row.revenue, row.mean_recency_days) == (2, 80, (40 + 167) / 2)
    assert s.set_index("rfm_class").loc["important_value", "revenue_share"] == pytest.approx(800 / 3660)


def test_grid_and_tag_counts(tags):
    g = tags.grid().set_index(["r_score", "f_score"])
    assert len(g) == 25 and g.members.sum() == 9  # J has no scores
    assert g.loc[(1, 1), "members"] == 2  # H and I
    assert g.loc[(5, 5), "members"] == 1 and g.loc[(5, 5), "revenue"] == 800
    t = tags.tag_counts("frequency_tier").set_index("value")
    assert t.members.to_dict() == {"high": 4, "medium": 3, "low": 0, "one_off": 1, "inactive": 2}
    with pytest.raises(ParameterError, match="expected one of: rfm_class"):
        tags.tag_counts("favourite_dish")


def test_summary_in_both_languages(tags):
    zh, en = tags.summary("zh"), tags.summary("en")
    assert "重要价值客户：1 人（10.0%），营收占比 21.9%" in zh
    assert "Important value: 1 members (10.0%), 21.9% of revenue" in en
    assert "8 visited in the last 90 days (scored), 1 visited only before the window, 1 never visited" in en
    with pytest.raises(ParameterError, match="lang"):
        tags.summary("fr")


def test_quintile_scores_share_ties_and_fill_quintiles():
    # Ten distinct values: two per score.
    assert quintile_scores(pd.Series(range(10))).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Ties: 1 1 1 1 2 3: the four 1s have L = 0 -> 1; 2 has L = 4 -> 1 + floor(20/6) = 4; 3: L = 5 -> 5.
    assert quintile_scores(pd.Series([1, 1, 1, 1, 2, 3])).tolist() == [1, 1, 1, 1, 4, 5]
    assert quintile_scores(pd.Series([5, 1, 3]), higher_is_better=False).tolist() == [1, 4, 2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_days": 0}, "window_days=0"),
        ({"window_days": 30.5}, "whole number"),
        ({"rfm_cut": "average"}, "expected one of: mean, median"),
        ({"rfm_cut": 5}, "rfm_cut=5"),
        ({"frequency_bands": (2, 1)}, "two increasing numbers"),
        ({"spending_bands": "cheap"}, "spending_bands"),
        ({"join_channels": ["wechat"]}, "expected some of: store_qr"),
        ({"as_of": "2020-01-01"}, "before the data starts"),
    ],
)
def test_bad_parameters_name_the_valid_choices(db, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        member_tags(db, **kwargs)


# -- segment_members -------------------------------------------------------------------------------------


def test_segment_members_filters_and_sorts(tags, db):
    win_back = segment_members(tags, rfm_class="general_win_back")
    assert tuple(win_back.columns) == SEGMENT_LIST_COLUMNS
    assert win_back.member_id.tolist() == ["H", "I"]  # monetary 80, then 0
    important = segment_members(tags, rfm_class=["important_value", "important_retention"], vip=False)
    assert important.member_id.tolist() == ["B"]
    assert segment_members(tags, price_sensitive=True, frequency_tier="high").member_id.tolist() == ["E"]
    assert segment_members(tags, favourite_city="北京").member_id.tolist() == ["I"]
    assert segment_members(tags, spending_power="high", limit=2).member_id.tolist() == ["B", "C"]
    # From a store: member_tags is computed with the given window.
    from_db = segment_members(db, rfm_class="important_development", as_of=AS_OF, window_days=WINDOW)
    assert from_db.member_id.tolist() == ["C"] and from_db.attrs["window_days"] == WINDOW


def test_segment_members_rejects_unknown_classes_and_mixed_arguments(tags):
    with pytest.raises(
        ParameterError, match="rfm_class='important' is not valid; expected one of: important_value"
    ):
        segment_members(tags, rfm_class="important")
    with pytest.raises(ParameterError, match="frequency_tier"):
        segment_members(tags, frequency_tier=["high", "daily"])
    with pytest.raises(ParameterError, match="vip"):
        segment_members(tags, vip="yes")
    with pytest.raises(ParameterError, match="as_of apply when a store is passed"):
        segment_members(tags, as_of="2026-01-31")


# -- birthday_list ---------------------------------------------------------------------------------------


def test_upcoming_birthdays_across_the_year_end_and_the_leap_day():
    days = upcoming_birthdays(dt.date(2026, 12, 28), 7)
    assert list(days) == ["12-29", "12-30", "12-31", "01-01", "01-02", "01-03", "01-04"]
    assert days["01-04"] == dt.date(2027, 1, 4)
    # 2027 has no 29 February: members born that day celebrate on the 28th.
    days = upcoming_birthdays(dt.date(2027, 2, 25), 5)
    assert days["02-29"] == dt.date(2027, 2, 28) and "03-02" in days
    # 2028 has one.
    assert upcoming_birthdays(dt.date(2028, 2, 25), 5)["02-29"] == dt.date(2028, 2, 29)
    assert "02-29" not in upcoming_birthdays(dt.date(2027, 2, 20), 5)  # 02-21 .. 02-25


@pytest.fixture
def birthday_db(make_store, store_row):
    """as_of 2026-12-28. Birthdays: P 12-28 (today: not listed), Q 12-29, R 01-04, S 01-05 (8 days ahead),
    T 12-31 without visits, U 12-31 (spent 300), V 12-31 (spent 120), W none, X malformed '13-45',
    Y 02-29 (listed only in late February). Q, R, S, U, V, X, Y visited in December 2026."""
    birthdays = {"P": "12-28", "Q": "12-29", "R": "01-04", "S": "01-05", "T": "12-31", "U": "12-31",
                 "V": "12-31", "W": None, "X": "13-45", "Y": "02-29"}  # fmt: skip
    members = [member(m, birthday_md=b) for m, b in birthdays.items()]
    spend = {"P": 50, "Q": 50, "R": 60, "S": 70, "U": 300, "V": 120, "W": 40, "X": 30, "Y": 20}
    rows = [
        {"order_id": f"o{m}", "store_id": "S1", "ordered_at": "2026-12-10 12:00", "amount": a, "member_id": m}
        for m, a in spend.items()
    ]
    path = make_store(
        {"stores": [store_row()], "members": members, "orders": rows}, data_through="2026-12-28"
    )
    return wb.connect(path)


def test_birthday_list_across_the_year_end(birthday_db):
    out = birthday_list(birthday_db, days_ahead=7)
    assert tuple(out.columns) == BIRTHDAY_COLUMNS
    assert out.member_id.tolist() == ["Q", "U", "V", "R"]  # by day, then spend
    assert out.days_until.tolist() == [1, 3, 3, 7]
    assert out.birthday.tolist() == [
        pd.Timestamp(d) for d in ("2026-12-29", "2026-12-31", "2026-12-31", "2027-01-04")
    ]
    assert out.monetary.tolist() == [50, 300, 120, 60]
    assert out.attrs["as_of"] == dt.date(2026, 12, 28)
    # min_visits=0 adds T, who never visited.
    assert birthday_list(birthday_db, days_ahead=7, min_visits=0).member_id.tolist() == [
        "Q",
        "U",
        "V",
        "T",
        "R",
    ]
    assert birthday_list(birthday_db, days_ahead=8).member_id.tolist()[-1] == "S"


def test_birthday_list_leap_day_member_in_a_year_without_it(birthday_db):
    out = birthday_list(birthday_db, as_of="2027-02-25", days_ahead=5, min_visits=0)
    assert out.member_id.tolist() == ["Y"]
    assert (out.birthday[0], out.days_until[0]) == (pd.Timestamp("2027-02-28"), 3)


def test_birthday_list_from_tags_and_bad_parameters(birthday_db):
    tags = member_tags(birthday_db)
    assert birthday_list(tags, days_ahead=1).member_id.tolist() == ["Q"]
    with pytest.raises(ParameterError, match="days_ahead=0"):
        birthday_list(tags, days_ahead=0)
    with pytest.raises(ParameterError, match="<= 366"):
        birthday_list(tags, days_ahead=400)
    with pytest.raises(ParameterError, match="min_visits=-1"):
        birthday_list(tags, min_visits=-1)
    with pytest.raises(ParameterError, match="window_days apply when a store is passed"):
        birthday_list(tags, window_days=30)


# -- export -------------------------------------------------------------------------------------------


def test_csv_export_has_a_bom_chinese_headers_and_no_phone_hash(tags, tmp_path):
    frame = tags.members.assign(phone_hash="secret")  # someone added it: it must not leave
    path = export_member_tags(frame, tmp_path / "out" / "tags.csv", lang="zh")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert back.columns[0] == "会员编号" and "RFM 分层" in back.columns and "价格敏感" in back.columns
    assert len(back.columns) == len(COLUMNS)
    assert not any("phone" in c or "手机" in c for c in back.columns) and "secret" not in raw.decode(
        "utf-8-sig"
    )
    a = back.set_index("会员编号").loc["A"]
    assert (a["RFM 分层"], a["消费力"], a["VIP"], a["最近到店日"]) == (
        "重要价值客户",
        "中消费力",
        "是",
        "2026-03-31",
    )
    assert back.set_index("会员编号").loc["J", "RFM 分层"] == "未到店会员"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tags.csv"]  # no temporary file left behind


def test_excel_export_reads_back_in_english(tags, tmp_path):
    path = export_member_tags(tags, tmp_path / "tags.xlsx", lang="en")
    book = openpyxl.load_workbook(path, read_only=True)
    sheet = book["Member tags"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[0] == "Member ID" and "RFM class" in header and "Frequency tier" in header
    assert not any("phone" in str(h).lower() for h in header)
    # Read-only mode drops empty cells at the end of a row (J has no favourite store or city).
    body = {r[0]: dict(zip(header, r + (None,) * (len(header) - len(r)), strict=True)) for r in rows[1:]}
    assert sorted(body) == list("ABCDEFGHIJ")
    assert body["B"]["RFM class"] == "Important retention" and body["B"]["Spend in window (M)"] == 770
    assert body["H"]["Frequency tier"] == "One visit only" and body["J"]["Days since last visit (R)"] is None
    book.close()


def test_lists_export_too_and_other_suffixes_are_refused(tags, tmp_path):
    path = export_member_tags(birthday_list(tags, days_ahead=7), tmp_path / "birthdays.csv", lang="en")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert back["Member ID"].tolist() == ["A"] and back["Birthday"].tolist() == ["2026-04-02"]
    assert back["Days until birthday"].tolist() == ["2"]
    for name in ("tags.xls", "tags.txt", "tags"):
        with pytest.raises(ParameterError, match=r"expected one of: \.csv, \.xlsx"):
            export_member_tags(tags, tmp_path / name)
    with pytest.raises(ParameterError, match="lang"):
        export_member_tags(tags, tmp_path / "x.csv", lang="de")
    with pytest.raises(ParameterError, match="member_id"):
        export_member_tags(pd.DataFrame({"a": [1]}), tmp_path / "x.csv")


# -- the simulated chain --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from workbench.data import simulate

    out = tmp_path_factory.mktemp("sim") / "chain.duckdb"
    simulate.simulate_chain(out, members=3_000, weeks=60, seed=21, end="2026-11-22")
    truth = pd.read_parquet(simulate.truth_members_path(out))
    db = wb.connect(out)
    return db, member_tags(db), truth


def test_simulated_latent_price_sensitive_members_are_tagged_far_more_often(simulated):
    _, tags, truth = simulated
    m = tags.members.merge(truth[["member_id", "price_sensitive"]], on="member_id", suffixes=("", "_latent"))
    active = m[m.frequency > 0]
    share = active.groupby("price_sensitive_latent").price_sensitive.mean()
    # Planted: price-sensitive members redeem coupons on 60-70% of the campaign visits that would have
    # happened anyway against 25-40% for the others, and respond to coupons with extra visits 5-10x as often.
    assert share[True] > 3 * share[False]
    assert active.groupby("price_sensitive_latent").price_sensitivity.mean().diff().iloc[-1] > 0.03


def test_simulated_price_sensitive_members_have_the_planted_lower_ticket(simulated):
    _, tags, truth = simulated
    m = tags.members.merge(truth[["member_id", "price_sensitive"]], on="member_id", suffixes=("", "_latent"))
    active = m[m.frequency > 0]
    ticket = active.groupby("price_sensitive_latent").avg_ticket.mean()
    # Planted: price_sensitive_spend_factor 0.85 (cuisine and store are drawn independently of it). About
    # 650 and 1,400 members with tickets varying by a coefficient of about 0.6: standard error ~0.03.
    assert ticket[True] / ticket[False] == pytest.approx(0.85, abs=0.08)
    low = active.groupby("price_sensitive_latent").spending_power.apply(lambda s: (s == "low").mean())
    assert low[True] > low[False]


def test_simulated_vips_concentrate_in_the_high_frequency_tier(simulated):
    _, tags, truth = simulated
    m = tags.members
    # The vip tag is the simulator's VIP purchase, member by member.
    assert (m.set_index("member_id").vip == truth.set_index("member_id").vip.reindex(m.member_id)).all()
    active = m[m.frequency > 0]
    high = active.groupby("vip").frequency_tier.apply(lambda s: (s == "high").mean())
    # Planted: VIP buyers are selected on short cycles and then visit 1.3x as often.
    assert high[True] > 0.6 and high[True] > 2.5 * high[False]
    classes = active[active.vip].rfm_class.value_counts(normalize=True)
    assert classes.get("important_value", 0) > 0.5


def test_simulated_favourite_city_is_the_home_city(simulated):
    _, tags, truth = simulated
    m = tags.members.merge(
        truth[["member_id", "city", "home_store_id"]], on="member_id", suffixes=("", "_true")
    )
    visited = m[m.lifetime_visits > 0]
    # Planted: 85% of visits at the home store, the rest at another store of the same city.
    assert (visited.favourite_city == visited.city_true).all()
    assert (visited.favourite_store_id == visited.home_store_id_true).mean() > 0.9


def test_simulated_frequency_and_monetary_match_an_independent_count(simulated):
    db, tags, _ = simulated
    start = tags.thresholds["window_start"]
    o = db.orders.to_pandas()
    o = o[o.member_id.notna()]
    o["day"] = o.ordered_at.dt.tz_convert("Asia/Shanghai").dt.date
    o = o[(o.day >= start) & (o.day <= tags.as_of)]
    o["amount"] = o.amount.astype(float)
    expected = o.groupby("member_id").agg(frequency=("day", "nunique"), monetary=("amount", "sum"))
    got = tags.members.set_index("member_id")
    got = got[got.frequency > 0]
    assert sorted(got.index) == sorted(expected.index)
    assert (got.frequency == expected.frequency.reindex(got.index)).all()
    assert np.allclose(got.monetary, expected.monetary.reindex(got.index).round(2))
    # Classes partition the members; R scores are quintiles (ties only among members with the same day).
    assert tags.class_summary().members.sum() == len(tags.members)
    r = got.r_score.value_counts(normalize=True)
    assert r.between(0.15, 0.25).all()


def test_the_benchmarks_sql_reference_computes_the_same_member_rows(simulated):
    """bench/analyses.py times member_tags against one hand-written SQL query: it is a floor for the
    analysis only if it computes the same result, every column of every member."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "analyses.py"
    spec = importlib.util.spec_from_file_location("bench_analyses", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    db, tags, _ = simulated
    as_of = tags.params["as_of"]
    sql = bench.SQL["segments"].format(as_of=as_of.isoformat(), campaign=None)
    ref = db.backend.con.execute(sql).to_arrow_table().to_pandas().set_index("member_id")
    got = tags.members.set_index("member_id")
    assert list(ref.index) == list(got.index)
    assert set(ref.columns) == set(got.columns)
    for column in got.columns:
        a, b = got[column], ref[column]
        if column.endswith("_day"):
            a, b = pd.to_datetime(a), pd.to_datetime(b)
        if a.dtype.kind in "fiu" or str(a.dtype) in ("Int64", "Float64"):
            np.testing.assert_allclose(a.astype("float64"), b.astype("float64"), rtol=1e-9, err_msg=column)
        else:
            same = (a.astype(object) == b.astype(object)) | (a.isna() & b.isna())
            assert same.all(), (column, a[~same].head(), b[~same].head())
    assert (got["rfm_class"] != "no_visit").sum() > 1_000  # the comparison covers scored members
