"""Revenue Pareto, checked on chains small enough to work out on paper.

Main case, as_of 2026-03-31, window 30 days (from 2026-03-02). Ten paying members M0..M9 with revenue in
the window (on 2026-03-20; M1's 200 is two orders on that day, 120 + 80):

  M0 400, M1 200, M2 100, M3 100, M4 50, M5 50, M6 40, M7 30, M8 20, M9 10       total 1,000
  plus: M9 1,000 on 2026-01-10 (outside the window), M10 no order (not ranked), M11 joined after as_of
  with an order on 2026-04-02 (after as_of), and a non-member order of 999.

Top shares with n = 10 (members = ceil(share x 10), at least 1):
  1%, 5%, 10% -> 1 member: 400 / 1,000 = 0.40;  20% -> 2: 600 -> 0.60;  50% -> 5: 400+200+100+100+50 = 0.85
Curve (one point per rank, n <= 200): 0, .40, .60, .70, .80, .85, .90, .94, .97, .99, 1.00
Gini: sum over ordered pairs |x_i - x_j| / (2 n^2 mean). Ascending x = 10 20 30 40 50 50 100 100 200 400;
  sum_{i<j} (x_j - x_i) = sum_j x_j (2j - n - 1) = -90-140-150-120-50+50+300+500+1400+3600 = 5,300;
  ordered pairs 10,600 / (2 x 100 x 100) = 0.53.
All history: M9 has 1,010 and leads; total 2,000; top 10% = 1,010 / 2,000 = 0.505.
"""

import math

import numpy as np
import pytest

import workbench as wb
from workbench.analyses.pareto import (
    CURVE_COLUMNS,
    MAX_CURVE_POINTS,
    POINT_COLUMNS,
    curve_ranks,
    revenue_pareto,
)

AS_OF = "2026-03-31"
REVENUE = [400, 200, 100, 100, 50, 50, 40, 30, 20, 10]


def order(oid, member, when, amount, store="S1"):
    return {"order_id": oid, "store_id": store, "ordered_at": when, "amount": amount, "member_id": member}


def chain_tables(scale=1.0):
    members = [
        {"member_id": f"M{i}", "joined_at": "2025-12-01 10:00", "join_store_id": "S1"} for i in range(11)
    ]
    members.append({"member_id": "M11", "joined_at": "2026-04-01 10:00", "join_store_id": "S1"})
    orders = [order(f"o{i}", f"M{i}", "2026-03-20 12:00", r * scale) for i, r in enumerate(REVENUE) if i != 1]
    orders += [
        order("o1a", "M1", "2026-03-20 12:00", 120 * scale),
        order("o1b", "M1", "2026-03-20 19:00", 80 * scale),
        order("old", "M9", "2026-01-10 12:00", 1000 * scale),
        order("late", "M11", "2026-04-02 12:00", 500 * scale),
        order("walk", None, "2026-03-20 12:00", 999 * scale),
    ]
    return members, orders


@pytest.fixture
def build(make_store, store_row):
    def _build(scale=1.0, stores=None, extra_members=(), extra_orders=()):
        members, orders = chain_tables(scale)
        path = make_store(
            {
                "stores": stores or [store_row()],
                "members": members + list(extra_members),
                "orders": orders + list(extra_orders),
            },
            data_through=AS_OF,
        )
        return wb.connect(path)

    return _build


def test_top_shares_and_gini_match_the_hand_computation(build):
    result = revenue_pareto(build(), as_of=AS_OF, window_days=30)
    assert tuple(result.points.columns) == POINT_COLUMNS
    assert tuple(result.curve.columns) == CURVE_COLUMNS
    assert result.members == 10
    assert result.revenue == pytest.approx(1000)
    points = result.points.set_index("top_share")
    assert points["members"].tolist() == [1, 1, 1, 2, 5]
    assert points["revenue_share"].to_numpy() == pytest.approx([0.40, 0.40, 0.40, 0.60, 0.85])
    assert points.loc[0.20, "revenue"] == pytest.approx(600)
    assert points.loc[0.50, "member_share"] == pytest.approx(0.5)
    assert result.gini == pytest.approx(0.53)
    assert result.share_of_top(0.10) == pytest.approx(0.40)


def test_curve_has_one_point_per_rank_from_the_origin(build):
    curve = revenue_pareto(build(), as_of=AS_OF, window_days=30).curve
    assert curve["member_share"].to_numpy() == pytest.approx(np.arange(11) / 10)
    expected = [0, 0.40, 0.60, 0.70, 0.80, 0.85, 0.90, 0.94, 0.97, 0.99, 1.00]
    assert curve["revenue_share"].to_numpy() == pytest.approx(expected)
    assert curve["members"].tolist() == list(range(11))


def test_all_history_includes_older_orders(build):
    result = revenue_pareto(build(), as_of=AS_OF)
    assert result.revenue == pytest.approx(2000)
    assert result.share_of_top(0.10) == pytest.approx(0.505)


def test_summary_quotes_the_top_ten_percent_in_both_languages(build):
    result = revenue_pareto(build(), as_of=AS_OF, window_days=30)
    assert "前 10% 的会员贡献了 40% 的会员营收" in result.summary("zh")
    assert "The top 10% of members bring 40% of member revenue" in result.summary("en")


def test_shares_and_gini_do_not_depend_on_the_currency_scale(build):
    one = revenue_pareto(build(), as_of=AS_OF, window_days=30)
    ten = revenue_pareto(build(scale=10.0), as_of=AS_OF, window_days=30)
    assert ten.points["revenue_share"].to_numpy() == pytest.approx(one.points["revenue_share"].to_numpy())
    assert ten.gini == pytest.approx(one.gini)
    assert ten.revenue == pytest.approx(10 * one.revenue)


def test_many_members_are_sampled_at_most_max_curve_points(make_store, store_row):
    # Member i (1..450) spends i: total 450 x 451 / 2 = 101,475; top 10% = ranks 1..45 = members 406..450,
    # sum 45 x (406 + 450) / 2 = 19,260 -> 0.18980; Gini of 1..n = (n - 1) / (3n) = 449 / 1,350.
    n = 450
    members = [{"member_id": f"M{i:03d}", "joined_at": "2026-01-01 10:00"} for i in range(1, n + 1)]
    orders = [order(f"o{i}", f"M{i:03d}", "2026-03-10 12:00", i) for i in range(1, n + 1)]
    db = wb.connect(make_store({"stores": [store_row()], "members": members, "orders": orders}))
    result = revenue_pareto(db, as_of=AS_OF)
    assert len(result.curve) == MAX_CURVE_POINTS + 1
    assert result.curve["members"].iloc[-1] == n
    assert result.curve["revenue_share"].iloc[-1] == pytest.approx(1.0)
    assert result.share_of_top(0.10) == pytest.approx(19260 / 101475)
    assert result.gini == pytest.approx((n - 1) / (3 * n))
    # each sampled point lies on the exact curve: top k members bring sum of the k largest
    for k, share in zip(result.curve["members"], result.curve["revenue_share"], strict=True):
        assert share == pytest.approx(sum(range(n - k + 1, n + 1)) / 101475)


def test_curve_ranks_are_even_and_end_at_n():
    assert curve_ranks(3) == [1, 2, 3]
    ranks = curve_ranks(1000)
    assert len(ranks) == MAX_CURVE_POINTS and ranks[0] == 5 and ranks[-1] == 1000
    assert np.diff(ranks).tolist() == [5] * (MAX_CURVE_POINTS - 1)


def test_city_filter_keeps_members_of_home_stores_there(build, store_row):
    stores = [store_row(), store_row(store_id="S2", name="北京店", city="北京")]
    extra = [{"member_id": "B1", "joined_at": "2025-12-01 10:00", "join_store_id": "S2"}]
    orders = [order("b1", "B1", "2026-03-21 12:00", 5000, store="S2")]
    db = build(stores=stores, extra_members=extra, extra_orders=orders)
    shanghai = revenue_pareto(db, as_of=AS_OF, window_days=30, cities=["上海"])
    beijing = revenue_pareto(db, as_of=AS_OF, window_days=30, cities="北京")
    both = revenue_pareto(db, as_of=AS_OF, window_days=30)
    assert (shanghai.members, shanghai.revenue) == (10, pytest.approx(1000))
    assert (beijing.members, beijing.revenue) == (1, pytest.approx(5000))
    assert both.members == 11 and both.share_of_top(0.10) == pytest.approx((5000 + 400) / 6000)


def test_no_paying_member_gives_nan_and_a_warning(build):
    with pytest.warns(wb.ThinDataWarning):
        result = revenue_pareto(build(), as_of=AS_OF, window_days=30, cities=["广州"])
    assert result.members == 0 and math.isnan(result.gini) and result.curve.empty
    assert "没有有消费的会员" in result.summary("zh")


@pytest.mark.parametrize("bad", [0, -7, 1.5, "30", True])
def test_bad_window_names_the_valid_values(build, bad):
    with pytest.raises(wb.ParameterError, match="window_days"):
        revenue_pareto(build(), as_of=AS_OF, window_days=bad)


def test_as_of_before_the_data_is_refused(build):
    with pytest.raises(wb.ParameterError, match="before the data starts"):
        revenue_pareto(build(), as_of="2020-01-01")


def test_bad_top_share_lookup_names_the_choices(build):
    with pytest.raises(wb.ParameterError, match="0.1"):
        revenue_pareto(build(), as_of=AS_OF, window_days=30).share_of_top(0.3)
