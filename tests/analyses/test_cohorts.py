"""Cohort retention, checked on chains small enough to work out on paper.

Main case: monthly cohorts, as_of 2026-03-15 (January and February complete, March not). Times are Beijing.

  member  joined      channel       orders (amount)                                     first visit
  A       2026-01-02  store_qr      01-03 12:00 (50) + 01-03 19:00 (30) same day;       Jan
                                    02-10 (40, takeout); 03-02 (20)
  B       2026-01-05  store_qr      01-20 (100)                                         Jan
  C       2025-12-20  mini_program  01-31 23:30 (60); 02-01 00:10 (10)                  Jan
  D       2026-01-10  mini_program  02-01 00:30 (35) = 01-31 16:30 UTC; 03-10 (25)      Feb
  E       2026-02-03  store_qr      02-05 (70)                                          Feb
  F       2026-01-15  referral      -                                                   -
  G       2026-03-01  store_qr      03-15 23:00 (45), on as_of                          Mar
  H       2026-01-08  mini_program  01-09 (20); 03-05 (30)                              Jan
  I       2026-03-10  referral      03-16 00:05 (15), after as_of                       -
  (plus one non-member order)

By first visit: Jan = {A, B, C, H} (4), Feb = {D, E} (2), Mar = {G} (1).
  Jan age 0: 4/4, revenue 80 + 100 + 60 + 20 = 260 -> 65 per member
  Jan age 1 (Feb): A, C -> 2/4, Wilson 95% (0.150, 0.850); revenue 40 + 10 = 50 -> 12.5; cumulative 77.5
  Jan age 1 unbounded (Feb or later): A, C, H -> 3/4
  Jan age 2 (Mar), Feb age 1, Mar age 0: March is not complete -> missing
  Feb age 0: 2/2, revenue 35 + 70 = 105 -> 52.5
  Curve: age 0 pools 6/6, revenue 365 / 6; age 1 only Jan: 2/4, cumulative 365 / 6 + 12.5
By joining: Dec 2025 = {C}, Jan = {A, B, D, F, H} (5), Feb = {E}, Mar = {G, I}.
  Dec: age 0 0/1, age 1 1/1, age 2 1/1, age 3 missing
  Jan age 0: A, B, H -> 3/5 (D's first visit is 1 February local time), unbounded 4/5; revenue 200 -> 40
  Jan age 1: A, D -> 2/5, unbounded A, D, H -> 3/5; revenue 40 + 35 = 75 -> 15, cumulative 55
"""

import datetime as dt
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.cohorts import (
    CURVE_COLUMNS,
    MEMBER_COLUMNS,
    TABLE_COLUMNS,
    cohort_members,
    cohort_retention,
)
from workbench.stats import wilson_interval

AS_OF = "2026-03-15"
JAN, FEB, MAR = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01"), pd.Timestamp("2026-03-01")


def order(oid, member, when, amount, channel="dine_in"):
    return {
        "order_id": oid,
        "store_id": "S1",
        "ordered_at": when,
        "amount": amount,
        "member_id": member,
        "channel": channel,
    }


def member(mid, joined, channel):
    return {"member_id": mid, "joined_at": f"{joined} 10:00", "join_channel": channel}


MEMBERS = [
    member("A", "2026-01-02", "store_qr"),
    member("B", "2026-01-05", "store_qr"),
    member("C", "2025-12-20", "mini_program"),
    member("D", "2026-01-10", "mini_program"),
    member("E", "2026-02-03", "store_qr"),
    member("F", "2026-01-15", "referral"),
    member("G", "2026-03-01", "store_qr"),
    member("H", "2026-01-08", "mini_program"),
    member("I", "2026-03-10", "referral"),
]
ORDERS = [
    order("a1", "A", "2026-01-03 12:00", 50),
    order("a2", "A", "2026-01-03 19:00", 30),
    order("a3", "A", "2026-02-10 12:00", 40, channel="takeout_platform"),
    order("a4", "A", "2026-03-02 12:00", 20),
    order("b1", "B", "2026-01-20 12:00", 100),
    order("c1", "C", "2026-01-31 23:30", 60),
    order("c2", "C", "2026-02-01 00:10", 10),
    order("d1", "D", "2026-02-01 00:30", 35),
    order("d2", "D", "2026-03-10 12:00", 25),
    order("e1", "E", "2026-02-05 12:00", 70),
    order("g1", "G", "2026-03-15 23:00", 45),
    order("h1", "H", "2026-01-09 12:00", 20),
    order("h2", "H", "2026-03-05 12:00", 30),
    order("i1", "I", "2026-03-16 00:05", 15),
    order("n1", None, "2026-01-09 13:00", 99),
]


@pytest.fixture
def chain(make_store, store_row):
    def build(members=MEMBERS, orders=ORDERS):
        path = make_store({"stores": [store_row()], "members": members, "orders": orders}, data_through=AS_OF)
        return wb.connect(path)

    return build


@pytest.fixture
def db(chain):
    return chain()


def cell(table, cohort, age, segment="all"):
    rows = table[(table.segment == segment) & (table.cohort == pd.Timestamp(cohort)) & (table.age == age)]
    assert len(rows) == 1, f"expected one cell {segment} {cohort} {age}, found {len(rows)}"
    return rows.iloc[0]


def test_result_has_the_documented_columns(db):
    result = cohort_retention(db, as_of=AS_OF)
    assert tuple(result.table.columns) == TABLE_COLUMNS
    assert tuple(result.curve.columns) == CURVE_COLUMNS
    assert result.params["as_of"] == dt.date(2026, 3, 15)
    assert result.params["period"] == "month" and result.params["cohort_by"] == "first_visit"
    assert result.params["currency"] == "CNY"


def test_default_as_of_is_the_data_through_day(db):
    assert cohort_retention(db).params["as_of"] == dt.date(2026, 3, 15)


def test_first_visit_cohorts_by_hand(db):
    t = cohort_retention(db, as_of=AS_OF).table
    # Jan (ages 0-2), Feb (0-1), Mar (0): every age whose period has started by as_of.
    assert list(zip(t.cohort, t.age, strict=True)) == [
        (JAN, 0),
        (JAN, 1),
        (JAN, 2),
        (FEB, 0),
        (FEB, 1),
        (MAR, 0),
    ]
    assert list(t.period_start) == [JAN, FEB, MAR, FEB, MAR, MAR]
    assert list(t.cohort_size) == [4, 4, 4, 2, 2, 1]

    jan0 = cell(t, JAN, 0)
    assert (jan0.active, jan0.retention, jan0.revenue, jan0.revenue_per_member) == (4, 1.0, 260.0, 65.0)
    jan1 = cell(t, JAN, 1)
    assert (jan1.active, jan1.retention, jan1.unbounded_active, jan1.unbounded_retention) == (2, 0.5, 3, 0.75)
    assert jan1.ci_low == pytest.approx(0.1500, abs=1e-4) and jan1.ci_high == pytest.approx(0.8500, abs=1e-4)
    assert (jan1.revenue, jan1.revenue_per_member, jan1.cumulative_revenue_per_member) == (50.0, 12.5, 77.5)
    feb0 = cell(t, FEB, 0)
    assert (feb0.active, feb0.retention, feb0.revenue_per_member) == (2, 1.0, 52.5)


def test_age_zero_is_one_by_definition_for_first_visit_cohorts(db):
    t = cohort_retention(db, as_of=AS_OF, period="day").table
    age0 = t[(t.age == 0) & t.observable]
    assert len(age0) > 0 and (age0.retention == 1.0).all() and (age0.unbounded_retention == 1.0).all()


def test_incomplete_cohort_cells_are_missing_not_zero(db):
    t = cohort_retention(db, as_of=AS_OF).table
    missing = t[~t.observable]
    # March is not complete on 15 March: Jan age 2, Feb age 1 and the March cohort's age 0.
    assert list(zip(missing.cohort, missing.age, strict=True)) == [(JAN, 2), (FEB, 1), (MAR, 0)]
    for column in ("retention", "ci_low", "ci_high", "unbounded_retention", "revenue", "revenue_per_member"):
        assert missing[column].isna().all(), column
    assert missing.active.isna().all() and missing.unbounded_active.isna().all()
    assert missing.cumulative_revenue_per_member.isna().all()
    # G's only visit is on as_of itself: G is in the March cohort, whose cells are still open.
    assert cell(t, MAR, 0).cohort_size == 1


def test_a_period_is_complete_on_its_last_day(db):
    t = cohort_retention(db, as_of="2026-03-31").table
    assert t.observable.all()
    assert cell(t, JAN, 2).active == 2  # A on 2 March and H on 5 March
    assert cell(t, MAR, 0).retention == 1.0  # G, first visit on 15 March


def test_beijing_midnight_decides_the_cohort(db):
    members = cohort_retention(db, as_of=AS_OF).members(cohort="2026-02-01")
    # D ordered at 00:30 on 1 February Beijing time (31 January in UTC): a February member.
    assert list(members.member_id) == ["D", "E"]


def test_unbounded_retention_counts_any_later_visit(db):
    t = cohort_retention(db, as_of=AS_OF).table
    ok = t[t.observable]
    assert (ok.unbounded_retention >= ok.retention).all()
    assert cell(t, JAN, 0).unbounded_active == 4


def test_mean_curve_pools_observable_cohorts_weighted_by_size(db):
    c = cohort_retention(db, as_of=AS_OF).curve
    assert list(c.age) == [0, 1]
    age0, age1 = c.iloc[0], c.iloc[1]
    assert (age0.cohorts, age0.members, age0.active, age0.retention) == (2, 6, 6, 1.0)
    assert age0.revenue_per_member == pytest.approx(365 / 6)
    assert (age1.cohorts, age1.members, age1.active, age1.retention) == (1, 4, 2, 0.5)
    assert age1.ci_low == pytest.approx(0.1500, abs=1e-4)
    assert age1.cumulative_revenue_per_member == pytest.approx(365 / 6 + 12.5)


def test_join_cohorts_by_hand(db):
    t = cohort_retention(db, as_of=AS_OF, cohort_by="join").table
    dec = pd.Timestamp("2025-12-01")
    sizes = t[t.age == 0].set_index("cohort").cohort_size.to_dict()
    assert sizes == {dec: 1, JAN: 5, FEB: 1, MAR: 2}  # F never visited, I only after as_of: both count
    assert [cell(t, dec, k).retention for k in (0, 1, 2)] == [0.0, 1.0, 1.0]
    assert np.isnan(cell(t, dec, 3).retention)
    jan0, jan1 = cell(t, JAN, 0), cell(t, JAN, 1)
    assert (jan0.active, jan0.retention, jan0.unbounded_active) == (3, 0.6, 4)
    assert (jan1.active, jan1.retention, jan1.unbounded_active) == (2, 0.4, 3)
    assert (jan0.revenue_per_member, jan1.revenue_per_member, jan1.cumulative_revenue_per_member) == (
        40.0,
        15.0,
        55.0,
    )


def test_join_cohorts_ignore_visits_before_joining(make_store, store_row):
    members = [member("P", "2026-02-10", "store_qr")]
    orders = [order("p1", "P", "2026-01-25 12:00", 50), order("p2", "P", "2026-02-12 12:00", 30)]
    db = wb.connect(make_store({"stores": [store_row()], "members": members, "orders": orders}))
    t = cohort_retention(db, as_of="2026-02-28", cohort_by="join").table
    assert list(t.cohort) == [FEB] and cell(t, FEB, 0).revenue == 30.0
    by_visit = cohort_retention(db, as_of="2026-02-28").table
    assert list(by_visit.cohort) == [JAN, JAN] and list(by_visit.retention) == [1.0, 1.0]


def test_week_cohorts_follow_iso_weeks_across_the_new_year(make_store, store_row):
    # ISO week 2026-W01 runs Mon 29 Dec 2025 - Sun 4 Jan 2026.
    members = [member(m, "2025-12-01", "store_qr") for m in ("W1", "W2", "W3")]
    orders = [
        order("w1", "W1", "2026-01-04 23:30", 10),  # Sunday of W01
        order("w2", "W1", "2026-01-05 00:15", 10),  # Monday of W02: age 1
        order("w3", "W2", "2025-12-31 12:00", 10),  # Wednesday of W01, still 2025
        order("w4", "W2", "2026-01-11 20:00", 10),  # Sunday of W02: age 1
        order("w5", "W3", "2026-01-05 00:00", 10),  # Monday of W02: cohort W02
        order("w6", "W3", "2026-01-18 12:00", 10),  # after as_of
    ]
    db = wb.connect(make_store({"stores": [store_row()], "members": members, "orders": orders}))
    t = cohort_retention(db, as_of="2026-01-14", period="week").table
    w01, w02 = pd.Timestamp("2025-12-29"), pd.Timestamp("2026-01-05")
    assert list(zip(t.cohort, t.age, t.cohort_size, strict=True)) == [
        (w01, 0, 2),
        (w01, 1, 2),
        (w01, 2, 2),
        (w02, 0, 1),
        (w02, 1, 1),
    ]
    assert cell(t, w01, 1).retention == 1.0
    assert np.isnan(cell(t, w01, 2).retention)  # week of 12 January is not over on Wednesday the 14th
    assert cell(t, w02, 0).retention == 1.0 and np.isnan(cell(t, w02, 1).retention)


def test_segments_sum_to_the_total(db):
    total = cohort_retention(db, as_of=AS_OF).table
    split = cohort_retention(db, as_of=AS_OF, segment_by="join_channel").table
    assert set(split.segment) == {"store_qr", "mini_program"}  # no referral member has visited by as_of
    summed = split.groupby(["cohort", "age"]).agg(
        cohort_size=("cohort_size", "sum"), revenue=("revenue", lambda s: s.sum(min_count=1))
    )
    assert summed.cohort_size.tolist() == total.cohort_size.tolist()
    pd.testing.assert_series_equal(
        summed.revenue.reset_index(drop=True), total.revenue.reset_index(drop=True), check_names=False
    )
    ok = split[split.observable]
    active = ok.groupby(["cohort", "age"]).active.sum().tolist()
    assert active == total[total.observable].active.tolist()
    # mini_program: Jan {C, H}, C back in February; store_qr: Jan {A, B}, A back; Feb {E} vs {D}.
    assert cell(split, JAN, 1, "mini_program").retention == 0.5
    assert cell(split, JAN, 1, "store_qr").retention == 0.5
    assert cell(split, FEB, 0, "store_qr").cohort_size == 1


def test_a_segment_without_a_cohort_gets_missing_cells(db):
    t = cohort_retention(db, as_of=AS_OF, cohort_by="join", segment_by="join_channel").table
    # Referral members joined in January (F) and March (I); their December cohort is empty.
    empty = cell(t, "2025-12-01", 0, "referral")
    assert empty.cohort_size == 0 and np.isnan(empty.retention) and np.isnan(empty.ci_low)
    assert np.isnan(empty.revenue_per_member)
    f = cell(t, JAN, 0, "referral")
    assert (f.cohort_size, f.retention) == (1, 0.0)


def test_empty_scope_gives_an_empty_frame_not_a_crash(db):
    with pytest.warns(wb.ThinDataWarning, match="no members in scope"):
        result = cohort_retention(db, as_of=AS_OF, cities=["北京"])
    assert result.table.empty and tuple(result.table.columns) == TABLE_COLUMNS
    assert result.curve.empty and tuple(result.curve.columns) == CURVE_COLUMNS
    assert "No members" in result.summary(lang="en")


def test_nothing_complete_yet_warns_and_keeps_cells_missing(db):
    with pytest.warns(wb.ThinDataWarning, match="no month is complete"):
        result = cohort_retention(db, as_of="2026-01-20")
    assert result.table.retention.isna().all() and result.curve.empty


def test_input_order_does_not_matter(chain):
    a = cohort_retention(chain(), as_of=AS_OF, segment_by="join_channel")
    b = cohort_retention(chain(MEMBERS[::-1], ORDERS[::-1]), as_of=AS_OF, segment_by="join_channel")
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.curve, b.curve)


def test_channels_limit_the_orders_counted(db):
    t = cohort_retention(db, as_of=AS_OF, channels=["dine_in"]).table
    # A's February order was a takeout: only C comes back in February.
    assert cell(t, JAN, 1).active == 1 and cell(t, JAN, 1).revenue == 10.0


def test_max_age_keeps_the_first_ages(db):
    t = cohort_retention(db, as_of="2026-03-31", max_age=1).table
    assert t.age.max() == 1
    assert cell(t, JAN, 0).unbounded_active == 4  # later visits still count as "or later"
    assert cell(t, JAN, 1).unbounded_active == 3


def test_members_behind_a_cell(db):
    result = cohort_retention(db, as_of=AS_OF)
    active = result.members(cohort="2026-01-20", age=1)  # any day of the cohort month
    assert tuple(active.columns) == MEMBER_COLUMNS
    assert list(active.member_id) == ["A", "C"]
    assert list(active.revenue) == [40.0, 10.0] and list(active.visits) == [1, 1]
    assert (active.period_start == FEB).all() and (active.period_end == pd.Timestamp("2026-02-28")).all()
    assert len(active) == cell(result.table, JAN, 1).active

    whole = result.members(cohort=JAN)
    assert list(whole.member_id) == ["A", "B", "C", "H"]
    a = whole.set_index("member_id").loc["A"]
    assert (a.visits, a.orders, a.revenue) == (3, 4, 140.0)  # two same-day orders are one visit
    assert whole.age.isna().all()

    later = result.members(cohort=JAN, age=1, unbounded=True)
    assert list(later.member_id) == ["A", "C", "H"]


def test_cohort_members_by_segment_and_join(db):
    m = cohort_members(
        db, cohort="2026-01-01", cohort_by="join", segment_by="join_channel", segment="referral"
    )
    assert list(m.member_id) == ["F"] and m.visits.tolist() == [0] and m.revenue.tolist() == [0.0]
    assert pd.isna(m.last_visit_day.iloc[0])


def test_a_custom_segment_frame_splits_cohorts(db):
    tiers = pd.DataFrame({"member_id": ["A", "C"], "tier": ["gold", "gold"]})
    result = cohort_retention(db, as_of=AS_OF, segment_by=tiers)
    assert result.params["segment_by"] == "custom"
    assert result.segments == ["gold", "unknown"]
    assert cell(result.table, JAN, 1, "gold").retention == 1.0  # A and C both came back in February
    assert cell(result.table, JAN, 1, "unknown").retention == 0.0  # B and H did not
    assert list(result.members(cohort=JAN, age=1, segment="gold").member_id) == ["A", "C"]


def test_summary_reads_as_a_sentence(db):
    result = cohort_retention(db, as_of=AS_OF)
    en = result.summary(lang="en")
    assert "as of 2026-03-15" in en
    assert "month 1 retention 50% (95% CI 15–85%) across 1 cohorts, 4 members" in en
    assert "through month 1: 73.3 CNY" in en  # 365 / 6 + 12.5
    zh = result.summary(lang="zh")
    assert "第 1 个月留存率 50%" in zh and "截至 2026-03-15" in zh
    assert "no cohort" in result.summary(lang="en", age=5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period": "quarter"}, "period='quarter' is not valid; expected one of: day, week, month"),
        ({"cohort_by": "signup"}, "cohort_by='signup' is not valid; expected one of: first_visit, join"),
        ({"segment_by": "chanel"}, "segment_by='chanel' is not a member attribute; expected one of"),
        ({"as_of": "2025-06-30"}, "before the data starts"),
        ({"max_age": -1}, "max_age=-1 is not valid"),
        ({"channels": ["delivery"]}, "channels='delivery' is not valid; expected one of: dine_in"),
    ],
)
def test_bad_input_names_the_valid_choices(db, kwargs, message):
    with pytest.raises(wb.ParameterError, match=message.replace("(", r"\(")):
        cohort_retention(db, **kwargs)


def test_shares_stay_in_unit_interval(db):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no division by zero on empty cohorts
        warnings.simplefilter("error", wb.ThinDataWarning)
        for period in ("day", "week", "month"):
            t = cohort_retention(db, as_of=AS_OF, period=period, cohort_by="join").table
            for column in ("retention", "ci_low", "ci_high", "unbounded_retention"):
                values = t[column].dropna()
                assert ((values >= 0) & (values <= 1)).all(), (period, column)
            ok = t[t.observable & (t.cohort_size > 0)]
            assert (ok.ci_low <= ok.retention).all() and (ok.retention <= ok.ci_high).all()


# -- a simulated chain: invariants, planted effects and an independent computation ---------------------

# Month-1 retention of a first-visit cohort, computed straight in SQL without the workbench's Ibis code:
# members whose first local order day falls in month c, and of them those with an order in month c + 1.
MONTH_ONE_SQL = """
WITH v AS (
  SELECT o.member_id, CAST(o.ordered_at AS DATE) AS d
  FROM orders o JOIN members m ON o.member_id = m.member_id
  WHERE CAST(o.ordered_at AS DATE) <= DATE '{as_of}' AND CAST(m.joined_at AS DATE) <= DATE '{as_of}'
),
f AS (SELECT member_id, date_trunc('month', min(d)) AS c FROM v GROUP BY member_id),
back AS (
  SELECT DISTINCT f.member_id, f.c FROM f JOIN v ON v.member_id = f.member_id
  WHERE date_trunc('month', v.d) = f.c + INTERVAL 1 MONTH
)
SELECT CAST(f.c AS DATE) AS cohort, count(*) AS cohort_size, count(back.member_id) AS active
FROM f LEFT JOIN back ON back.member_id = f.member_id
GROUP BY f.c ORDER BY f.c
"""


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from workbench.data import simulate

    out = tmp_path_factory.mktemp("sim") / "chain.duckdb"
    simulate.simulate_chain(out, members=3_000, weeks=40, seed=11)
    return out


def test_simulated_chain_invariants(simulated):
    db = wb.connect(simulated)
    result = cohort_retention(db)
    t, as_of = result.table, result.params["as_of"]
    for column in ("retention", "ci_low", "ci_high", "unbounded_retention"):
        values = t[column].dropna()
        assert ((values >= 0) & (values <= 1)).all(), column
    # Cells whose month ends after as_of are missing; every complete cell of a non-empty cohort is not.
    month_end = t.period_start + pd.offsets.MonthEnd(0)
    assert (t.observable == (month_end <= pd.Timestamp(as_of))).all()
    assert t.loc[~t.observable, "retention"].isna().all()
    assert t.loc[t.observable & (t.cohort_size > 0), "retention"].notna().all()
    # Cohort sizes add up to the members with an order up to as_of (counted directly in DuckDB).
    con = db.backend.con
    with_order = con.execute(
        f"SELECT count(DISTINCT o.member_id) FROM orders o JOIN members m ON o.member_id = m.member_id "
        f"WHERE CAST(o.ordered_at AS DATE) <= DATE '{as_of}' AND CAST(m.joined_at AS DATE) <= DATE '{as_of}'"
    ).fetchone()[0]
    assert t[t.age == 0].cohort_size.sum() == with_order
    # Segments add up to the total.
    split = cohort_retention(db, segment_by="join_channel").table
    assert split.groupby(["cohort", "age"]).cohort_size.sum().tolist() == t.cohort_size.tolist()


def test_simulated_month_one_retention_matches_an_independent_count(simulated):
    db = wb.connect(simulated)
    result = cohort_retention(db)
    as_of = result.params["as_of"]
    expected = db.backend.con.execute(MONTH_ONE_SQL.format(as_of=as_of.isoformat())).df()
    expected["cohort"] = pd.to_datetime(expected["cohort"])
    month_one = result.table[(result.table.age == 1) & result.table.observable]
    merged = month_one.merge(expected, on="cohort", suffixes=("", "_sql"))
    assert len(merged) == len(month_one) >= 5
    assert merged.cohort_size.tolist() == merged.cohort_size_sql.tolist()
    assert merged.active.astype(int).tolist() == merged.active_sql.tolist()
    pooled = result.curve[result.curve.age == 1].iloc[0]
    assert pooled.active == merged.active_sql.sum() and pooled.members == merged.cohort_size_sql.sum()


def test_simulated_month_one_retention_follows_the_planted_channels(simulated):
    # The simulator plants shorter visit cycles and lower dropout hazards for referral and mini-program
    # members than for official-account and "other" members (truth JSON: churn.hazard_ratio.join_channel,
    # repurchase.base_cycle_days_by_join_channel), so month-1 retention must be higher for the former.
    truth = json.loads(simulated.with_name(simulated.stem + ".truth.json").read_text(encoding="utf-8"))
    cycle = truth["repurchase"]["base_cycle_days_by_join_channel"]
    hazard = truth["churn"]["hazard_ratio"]["join_channel"]
    loyal, loose = ("referral", "mini_program"), ("official_account", "other")
    assert max(cycle[c] for c in loyal) < min(cycle[c] for c in loose)
    assert max(hazard[c] for c in loyal) < min(hazard[c] for c in loose)
    curve = cohort_retention(wb.connect(simulated), segment_by="join_channel").curve
    age1 = curve[curve.age == 1].set_index("segment")

    def pooled(channels):
        rows = age1.loc[list(channels)]
        return rows.active.sum(), rows.members.sum()

    (a_loyal, n_loyal), (a_loose, n_loose) = pooled(loyal), pooled(loose)
    assert a_loyal / n_loyal > a_loose / n_loose
    # ... and clearly so: the 95% intervals of the two pooled shares do not overlap.
    (lo_loyal,), (hi_loose,) = (
        wilson_interval([a_loyal], [n_loyal])[0],
        wilson_interval([a_loose], [n_loose])[1],
    )
    assert lo_loyal > hi_loose
