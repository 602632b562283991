"""Weekly KPIs on a hand-typed chain, and on a small simulated one around Spring Festival.

Hand case (Beijing times; as_of 2026-05-31). Week W20 = Mon 2026-05-11 .. Sun 05-17, W19 = 05-04 .. 05-10,
W18 = 04-27 .. 05-03; compare_weeks=2 averages W19 and W18. Year ago: 2025-W20 = 2025-05-12 .. 05-18 (no
holiday nearby, so the same week number). Stores S1 (上海), S2 (北京).

  member joined      channel           join store   orders (store, channel, amount)
  A      2025-02-01  store_qr          S1           2025-02-01 S1 100; 2025-05-13 S1 50; 2026-03-01 S1 60;
                                                    2026-05-12 12:00 S1 30 (coupon cp1) + 19:00 S1 20
  B      2026-05-05  mini_program      S1           2026-05-06 S1 70; 2026-05-14 S1 50 (takeout_platform)
  C      2026-05-12  store_qr          S2           2026-05-12 S2 90 (coupon cp3)
  D      2026-05-13  official_account  -            2026-05-16 S2 40 (mini_program) -> home store S2
  E      2025-05-14  store_qr          S1           2025-05-14 S1 80
  F      2026-04-28  referral          S2           2026-04-29 S2 60
  non-members: 2025-05-15 S1 40; 2026-04-30 S2 50; 2026-05-07 S1 100; 2026-05-15 S2 60; 2026-05-16 S1 20

                    W20                 W19            W18           2025-W20
  members           6 (all)             4 (A,B,E,F)    3 (A,E,F)     2 (A,E)
  new_members       2 (C,D)             1 (B)          1 (F)         1 (E)
  active_members    4 (A,B,C,D)         1 (B)          1 (F)         2 (A,E)
  private_revenue   30+20+50+90+40=230  70             60            50+80=130
  total_revenue     230+60+20=310       70+100=170     60+50=110     130+40=170
  private_share     230/310             70/170         60/110        130/170
  member_ticket     230/5 orders=46     70             60            130/2=65
  nonmember_ticket  80/2=40             100            50            40
  repurchase_rate   2/4: A (last 03-01, 71 days before Monday 05-11) and B (05-06) came back; C, D new
                    W19 0/1, W18 0/1; 2025-W20 0/2 (A's last visit 2025-02-01 is 100 > 90 days before)
  coupons (campaign K1): cp1 to A issued 05-05 (W19) redeemed 05-12; cp2 to B issued 05-11 not redeemed;
                    cp3 to C issued 05-12 redeemed 05-12 -> W20 issued 2, redeemed 2, rate to date 2/3;
                    W19 issued 1, redeemed 0, rate 0/1; W18 and 2025-W20 no activity (rate NaN)
  group_members     G1: A from 2026-03-01; B 05-06 .. left 05-16; C from 05-17 (Sunday of W20)
                    end of W20: A, C = 2; W19: A, B = 2; W18: A = 1; 2025-W20: 0
"""

import datetime as dt
import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.overview import KPI_COLUMNS, KPIS, store_week_values, weekly_kpi_trend, weekly_kpis
from workbench.errors import ParameterError

WEEK = "2026-W20"


def order(oid, member, when, amount, store="S1", channel="dine_in", coupon=None, discount=None):
    return {"order_id": oid, "store_id": store, "ordered_at": when, "amount": amount, "member_id": member,
            "channel": channel, "coupon_id": coupon, "discount": discount}  # fmt: skip


def member(mid, joined, channel, store):
    return {"member_id": mid, "joined_at": f"{joined} 10:00", "join_channel": channel, "join_store_id": store}


@pytest.fixture
def hand_db(make_store, store_row):
    stores = [store_row(), store_row(store_id="S2", name="北京国贸店", city="北京")]
    members = [
        member("A", "2025-02-01", "store_qr", "S1"),
        member("B", "2026-05-05", "mini_program", "S1"),
        member("C", "2026-05-12", "store_qr", "S2"),
        member("D", "2026-05-13", "official_account", None),
        member("E", "2025-05-14", "store_qr", "S1"),
        member("F", "2026-04-28", "referral", "S2"),
    ]
    orders = [
        order("a1", "A", "2025-02-01 12:00", 100),
        order("a2", "A", "2025-05-13 12:00", 50),
        order("a3", "A", "2026-03-01 12:00", 60),
        order("a4", "A", "2026-05-12 12:00", 30, coupon="cp1", discount=10),
        order("a5", "A", "2026-05-12 19:00", 20),
        order("b1", "B", "2026-05-06 12:00", 70),
        order("b2", "B", "2026-05-14 12:00", 50, channel="takeout_platform"),
        order("c1", "C", "2026-05-12 12:30", 90, store="S2", coupon="cp3", discount=10),
        order("d1", "D", "2026-05-16 12:00", 40, store="S2", channel="mini_program"),
        order("e1", "E", "2025-05-14 12:00", 80),
        order("f1", "F", "2026-04-29 12:00", 60, store="S2"),
        order("n1", None, "2025-05-15 12:00", 40),
        order("n2", None, "2026-04-30 12:00", 50, store="S2"),
        order("n3", None, "2026-05-07 12:00", 100),
        order("n4", None, "2026-05-15 12:00", 60, store="S2"),
        order("n5", None, "2026-05-16 12:00", 20),
    ]
    campaigns = [{"campaign_id": "K1", "name": "五月券", "kind": "coupon", "starts_at": "2026-05-05 00:00",
                  "ends_at": "2026-05-20 00:00"}]  # fmt: skip
    coupons = [
        {"coupon_id": "cp1", "campaign_id": "K1", "member_id": "A", "issued_at": "2026-05-05 10:00",
         "redeemed_at": "2026-05-12 12:00", "order_id": "a4", "face_value": 10},
        {"coupon_id": "cp2", "campaign_id": "K1", "member_id": "B", "issued_at": "2026-05-11 10:00",
         "face_value": 10},
        {"coupon_id": "cp3", "campaign_id": "K1", "member_id": "C", "issued_at": "2026-05-12 10:00",
         "redeemed_at": "2026-05-12 12:30", "order_id": "c1", "face_value": 10},
    ]  # fmt: skip
    groups = [{"group_id": "G1", "kind": "store", "store_id": "S1", "created_at": "2025-01-01 10:00"}]
    group_members = [
        {"group_id": "G1", "member_id": "A", "joined_at": "2026-03-01 13:00"},
        {"group_id": "G1", "member_id": "B", "joined_at": "2026-05-06 13:00", "left_at": "2026-05-16 09:00"},
        {"group_id": "G1", "member_id": "C", "joined_at": "2026-05-17 10:00"},
    ]
    path = make_store(
        {"stores": stores, "members": members, "orders": orders, "campaigns": campaigns, "coupons": coupons,
         "groups": groups, "group_members": group_members},
        data_through="2026-05-31",
    )  # fmt: skip
    return wb.connect(path)


def kpi(result, code):
    return result.kpis.set_index("kpi").loc[code]


EXPECTED = {  # kpi: (W20, W19, W18, 2025-W20)
    "members": (6, 4, 3, 2),
    "new_members": (2, 1, 1, 1),
    "active_members": (4, 1, 1, 2),
    "private_revenue": (230, 70, 60, 130),
    "total_revenue": (310, 170, 110, 170),
    "private_share": (230 / 310, 70 / 170, 60 / 110, 130 / 170),
    "member_ticket": (46, 70, 60, 65),
    "nonmember_ticket": (40, 100, 50, 40),
    "repurchase_rate": (0.5, 0.0, 0.0, 0.0),
    "coupons_issued": (2, 1, 0, 0),
    "coupons_redeemed": (2, 0, 0, 0),
    "coupon_redemption_rate": (2 / 3, 0.0, math.nan, math.nan),
    "group_members": (2, 2, 1, 0),
}


def test_every_kpi_matches_the_hand_computation(hand_db):
    r = weekly_kpis(hand_db, week=WEEK, compare_weeks=2)
    assert list(r.kpis.columns) == list(KPI_COLUMNS)
    assert list(r.kpis["kpi"]) == list(KPIS)
    for code, (now, prev, before, year_ago) in EXPECTED.items():
        row = kpi(r, code)
        np.testing.assert_allclose(
            [row.value, row.previous_week, row.mean_prev_4w, row.year_ago],
            [now, prev, (prev + before) / 2, year_ago],
            err_msg=code,
        )
    row = kpi(r, "private_revenue")
    assert row.change_wow == pytest.approx(230 / 70 - 1)
    assert row.change_vs_4w == pytest.approx(230 / 65 - 1)
    assert row.change_yoy == pytest.approx(230 / 130 - 1)
    assert math.isnan(kpi(r, "group_members").change_yoy)  # a base of 0 has no relative change
    assert set(r.kpis["yoy_week"]) == {"2025-W20"} and not r.kpis["yoy_aligned"].any()
    assert r.kpis.set_index("kpi")["unit"].to_dict()["private_share"] == "share"


def test_new_members_are_ranked_by_store_and_channel(hand_db):
    r = weekly_kpis(hand_db, week=WEEK, compare_weeks=2)
    # C joined at S2; D joined online and first ordered at S2, so S2's home-store count is 2; B (W19) and
    # E (2025-W20) are S1's
    stores = r.stores.set_index("store_id")
    assert list(r.stores["store_id"]) == ["S2", "S1"]
    assert stores.loc["S2", "new_members"] == 2 and stores.loc["S2", "share_of_new"] == 1.0
    assert stores.loc["S1", ["previous_week", "year_ago"]].tolist() == [1, 1]
    assert stores.loc["S2", "store_name"] == "北京国贸店" and stores.loc["S2", "city"] == "北京"
    # channels: store_qr (C) and official_account (D) tie at 1, neither had one last week -> by name
    channels = r.channels.set_index("join_channel")
    assert list(r.channels["join_channel"][:3]) == ["official_account", "store_qr", "mini_program"]
    assert channels.loc["mini_program", "previous_week"] == 1
    assert channels["new_members"].sum() == 2


def test_coupons_by_campaign(hand_db):
    r = weekly_kpis(hand_db, week=WEEK)
    row = r.coupons.iloc[0]
    assert (row.campaign_id, row.campaign_name, row.issued, row.redeemed) == ("K1", "五月券", 2, 2)
    assert (row.issued_to_date, row.redeemed_to_date) == (3, 2)
    assert row.redemption_rate == pytest.approx(2 / 3)


def test_filters_split_order_and_member_kpis(hand_db):
    s1 = weekly_kpis(hand_db, week=WEEK, stores="S1").kpis.set_index("kpi")["value"]
    # orders at S1 in W20: a4 30 + a5 20 + b2 50 = 100 member, n5 20 non-member; members with home S1: A, B, E
    assert (s1["private_revenue"], s1["total_revenue"], s1["members"], s1["active_members"]) == (
        100,
        120,
        3,
        2,
    )
    dine = weekly_kpis(hand_db, week=WEEK, channels=["dine_in"]).kpis.set_index("kpi")["value"]
    assert dine["private_revenue"] == 30 + 20 + 90  # b2 is takeout, d1 mini-program
    assert dine["members"] == 6  # order channels do not narrow member counts
    qr = weekly_kpis(hand_db, week=WEEK, join_channels="store_qr").kpis.set_index("kpi")["value"]
    assert (qr["private_revenue"], qr["total_revenue"], qr["active_members"], qr["members"]) == (
        140,
        310,
        2,
        3,
    )


def test_a_store_keeps_the_member_homed_by_a_first_order_read_only_or_not(hand_db, tmp_path):
    # S2 in W20: C and F joined there, D joined at no store and first ordered there (home S2): 3 members,
    # new C and D, active C and D, member revenue c1 90 + d1 40. A read-only store reads a store's members
    # from those it keeps per scope (scope.scoped_members); a writable one works them out in each query.
    copy = tmp_path / "writable.duckdb"
    shutil.copy(hand_db.path, copy)
    assert hand_db.remembers
    with wb.connect(copy, read_only=False) as writable:
        assert not writable.remembers
        for db in (hand_db, writable):
            s2 = weekly_kpis(db, week=WEEK, stores="S2").kpis.set_index("kpi")["value"]
            got = (s2["members"], s2["new_members"], s2["active_members"], s2["private_revenue"])
            assert got == (3, 2, 2, 130), db.read_only
            trend = weekly_kpi_trend(db, weeks=2, week=WEEK, stores="S2")
            members = trend[trend["kpi"] == "members"]["value"].tolist()
            assert members == [1, 3], db.read_only  # end of W19: F only


def test_cities_partition_the_order_kpis(hand_db):
    total = weekly_kpis(hand_db, week=WEEK).kpis.set_index("kpi")["value"]
    sh, bj = (
        weekly_kpis(hand_db, week=WEEK, cities=c).kpis.set_index("kpi")["value"] for c in ("上海", "北京")
    )
    for code in ("total_revenue", "private_revenue", "members", "new_members"):
        assert sh[code] + bj[code] == pytest.approx(total[code]), code


def test_join_channels_partition_the_member_kpis(hand_db):
    total = weekly_kpis(hand_db, week=WEEK).kpis.set_index("kpi")["value"]
    parts = [
        weekly_kpis(hand_db, week=WEEK, join_channels=c).kpis.set_index("kpi")["value"]
        for c in ("store_qr", "mini_program", "official_account", "referral", "takeout_card", "other")
    ]
    for code in ("private_revenue", "active_members", "members", "new_members"):
        assert sum(p[code] for p in parts) == pytest.approx(total[code]), code


def test_summary_ranked_table_and_holiday_note_in_both_languages(hand_db):
    r = weekly_kpis(hand_db, week=WEEK, compare_weeks=2)
    zh, en = r.ranked("zh"), r.ranked("en")
    assert zh.iloc[0, 0] == "私域营收（会员订单）" and en.iloc[0, 1] == "¥230.0"
    assert en.iloc[0, 2] == "+228.6% ▲"  # 230 / 70 - 1
    assert en.set_index("KPI").loc["Private-domain share of revenue"].iloc[1].endswith("pp ▲")
    assert "2025-W20" in r.holiday_note["zh"] and "2025-W20" in r.holiday_note["en"]
    assert "去年同一周" in r.holiday_note["zh"]
    assert "北京国贸店" in r.summary("zh") and "New members by store" in r.summary("en")


def test_default_week_is_the_last_complete_week(hand_db):
    assert weekly_kpis(hand_db).week == "2026-W22"  # as_of 2026-05-31 is a Sunday


@pytest.mark.parametrize(
    "week, message",
    [("2026-W60", "does not exist"), ("abc", "not an ISO week"), ("2026-W23", "after as_of"),
     ("2025-W01", "before the data starts")],
)  # fmt: skip
def test_bad_weeks_raise_with_the_reason(hand_db, week, message):
    with pytest.raises(ParameterError, match=message):
        weekly_kpis(hand_db, week=week)


def test_bad_filters_raise_naming_the_choices(hand_db):
    with pytest.raises(ParameterError, match="S1, S2"):
        weekly_kpis(hand_db, week=WEEK, stores="S9")
    with pytest.raises(ParameterError, match="dine_in"):
        weekly_kpis(hand_db, week=WEEK, channels="store_qr")
    with pytest.raises(ParameterError, match="compare_weeks"):
        weekly_kpis(hand_db, week=WEEK, compare_weeks=0)


def test_trend_has_one_row_per_week_and_kpi(hand_db):
    trend = weekly_kpi_trend(hand_db, weeks=3, week=WEEK)
    assert list(trend["week"].unique()) == ["2026-W18", "2026-W19", "2026-W20"]
    pivot = trend.pivot(index="week", columns="kpi", values="value")
    assert pivot["private_revenue"].tolist() == [60, 70, 230]
    assert set(trend["kpi"]) == set(KPIS)


def test_each_scope_keeps_its_own_coupon_kpis_when_a_page_moves_between_them(hand_db):
    # The store is read-only, so the week's KPIs and the trend share a scope's coupon weeks. Issued in W19:
    # cp1 (A, home S1); in W20: cp2 (B, S1) and cp3 (C, S2). Asked for in turn, each scope gives its own.
    assert hand_db.read_only
    for stores, w19, w20 in [("S1", 1, 1), ("S2", 0, 1), (None, 1, 2), ("S1", 1, 1)]:
        r = kpi(weekly_kpis(hand_db, week=WEEK, stores=stores), "coupons_issued")
        assert (r.previous_week, r.value) == (w19, w20), stores
        trend = weekly_kpi_trend(hand_db, weeks=2, week=WEEK, stores=stores)
        issued = trend[trend["kpi"] == "coupons_issued"]["value"].tolist()
        assert issued == [w19, w20], stores


def test_weeks_before_the_data_are_missing_not_zero(hand_db):
    r = weekly_kpis(hand_db, week="2025-W07")  # data starts 2025-02-01 (W05); a year ago is unknown
    assert kpi(r, "private_revenue").year_ago != 0 and math.isnan(kpi(r, "private_revenue").year_ago)
    assert math.isnan(kpi(r, "repurchase_rate").value)  # the 90 days before reach before the data


# -- the simulated chain: Spring Festival -------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from workbench.data import simulate

    path = tmp_path_factory.mktemp("sim") / "chain.duckdb"
    simulate.simulate_chain(path, members=4000, weeks=70, seed=11, end="2026-03-29")
    return wb.connect(path)


def test_spring_festival_week_is_compared_with_last_years_festival_week(simulated):
    """Planted: visits x0.6 in the 7 days from New Year's Eve (2026: 16-22 Feb = all of W08; 2025: 28 Jan -
    3 Feb = Tue-Sun of W05) and x1.25 the week before. Against plain weeks, 2026-W08 dips to about 0.6
    (less: visits caused by messages are not seasonal); against 2025-W05 (also a festival week) the
    year-on-year ratio is the chain's growth, while the same week number (2025-W08, plain) would show a dip.
    """
    r = weekly_kpis(simulated, week="2026-W08")
    assert r.params["yoy_week"] == "2025-W05" and r.params["yoy_holiday"] == "spring_festival"
    assert "春节" in r.holiday_note["zh"] and "Spring Festival" in r.holiday_note["en"]
    trend = weekly_kpi_trend(simulated, weeks=70, week="2026-W13")
    revenue = trend[trend["kpi"] == "private_revenue"].set_index("week")["value"]
    plain = revenue[["2026-W04", "2026-W05", "2026-W06"]].mean()
    assert 0.5 < revenue["2026-W08"] / plain < 0.8
    growth = revenue[["2026-W12", "2026-W13"]].sum() / revenue[["2025-W12", "2025-W13"]].sum()
    aligned = (1 + kpi(r, "private_revenue").change_yoy) / growth
    naive = revenue["2026-W08"] / revenue["2025-W08"] / growth
    assert 0.8 < aligned < 1.2
    assert naive < aligned - 0.15
    assert kpi(r, "private_revenue").change_vs_4w < -0.2  # W04-W07 include the pre-festival rush


def test_simulated_invariants(simulated):
    r = weekly_kpis(simulated, week="2026-W12")
    k = r.kpis.set_index("kpi")
    assert r.stores["new_members"].sum() == r.channels["new_members"].sum() == k.loc["new_members", "value"]
    shares = k[k["unit"] == "share"]["value"].dropna()
    assert ((shares >= 0) & (shares <= 1)).all()
    assert k.loc["members", "value"] >= k.loc["members", "previous_week"]


def test_the_benchmarks_sql_reference_computes_the_same_numbers(simulated):
    """bench/analyses.py times weekly_kpis against one hand-written SQL query: it is a floor for the
    analysis only if it computes the same result: every KPI of the week, the week before, the 4 weeks
    before and the year-ago week, new members by home store and by join channel, coupons per campaign."""
    import importlib.util
    from pathlib import Path

    import pandas as pd

    from workbench.analyses.scope import resolve_as_of

    path = Path(__file__).resolve().parents[2] / "bench" / "analyses.py"
    spec = importlib.util.spec_from_file_location("bench_analyses", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    db = simulated
    as_of = resolve_as_of(db)
    week = "2026-W09"  # coupons issued (Spring Festival campaign); redeemed that week and after
    params = bench.reference_params(as_of, db.settings.timezone, week)
    sql = bench.SQL["weekly_kpis"].format(as_of=as_of.isoformat(), campaign=None, **params)
    ref = db.backend.con.execute(sql).to_arrow_table().to_pandas()
    ref["w"] = [pd.Timestamp(d).date() for d in ref["w"]]
    got = weekly_kpis(db, as_of=as_of, week=week)
    p = got.params
    monday, yoy = p["week_start"], calendar_monday(p["yoy_week"])
    before = [monday - dt.timedelta(weeks=k) for k in range(1, 5)]
    kpis = ref[ref["part"] == "kpi"].pivot(index="w", columns="key", values="value")
    table = got.kpis.set_index("kpi")
    assert set(table.index) == set(kpis.columns)
    for code, row in table.iterrows():
        assert row["value"] == pytest.approx(kpis.loc[monday, code], rel=1e-9, nan_ok=True), code
        assert row["previous_week"] == pytest.approx(kpis.loc[before[0], code], rel=1e-9, nan_ok=True), code
        assert row["year_ago"] == pytest.approx(kpis.loc[yoy, code], rel=1e-9, nan_ok=True), code
        mean = kpis.loc[before, code].mean()
        assert row["mean_prev_4w"] == pytest.approx(mean, rel=1e-9, nan_ok=True), code
    assert table.loc["coupons_issued", "value"] > 0 and table.loc["coupons_redeemed", "value"] > 0
    assert table.loc["repurchase_rate", "value"] > 0 and table.loc["group_members", "value"] > 0

    for part, frame, key in (("store", got.stores, "store_id"), ("channel", got.channels, "join_channel")):
        counts = ref[ref["part"] == part].pivot(index="key", columns="w", values="value").fillna(0)
        for column, week in (("new_members", monday), ("previous_week", before[0]), ("year_ago", yoy)):
            expected = counts[week] if week in counts else pd.Series(dtype="float64")
            shown = frame.set_index(key)[column]
            assert shown[shown > 0].sort_index().to_dict() == expected[expected > 0].sort_index().to_dict(), (
                part,
                column,
            )
    coupons = ref[(ref["part"].str.startswith("coupon_")) & (ref["w"] == monday)]
    coupons = coupons.pivot(index="key", columns="part", values="value").fillna(0)
    table = got.coupons.set_index("campaign_id")
    assert sorted(table.index) == sorted(coupons.index) and len(table) > 0
    for column in ("issued", "redeemed", "issued_to_date", "redeemed_to_date"):
        assert table[column].to_dict() == coupons[f"coupon_{column}"].astype("int64").to_dict(), column


def calendar_monday(label: str) -> dt.date:
    from workbench.data import calendar

    return calendar.parse_iso_week(label)[0]


def test_every_stores_weekly_counts_match_the_hand_computation(hand_db):
    # Order side by the order's store, member side by the member's home store (D: first order at S2).
    sw = store_week_values(hand_db, weeks=[WEEK], compare_weeks=2)
    assert set(sw.mondays) == {dt.date(2026, 5, d) for d in (11, 4)} | {
        dt.date(2026, 4, 27),
        dt.date(2025, 5, 12),
    }
    w20, w19 = pd.Timestamp("2026-05-11"), pd.Timestamp("2026-05-04")  # (week_start: datetime64)
    orders = sw.orders.set_index(["store_id", "week_start"])
    # W20 at S1: member orders a4 30, a5 20, b2 50 and non-member n5 20; at S2: c1 90, d1 40 and n4 60.
    assert orders.loc[("S1", w20), ["total_revenue", "private_revenue", "member_orders"]].tolist() == [
        120,
        100,
        3,
    ]
    assert orders.loc[("S2", w20), ["total_revenue", "private_revenue", "nonmember_orders"]].tolist() == [
        190,
        130,
        1,
    ]
    active = sw.active.set_index(["store_id", "week_start"])
    # S1: A (S1 visit 71 days before) and B (05-06) came back; S2: C and D are new.
    assert active.loc[("S1", w20)].tolist() == [2, 2] and active.loc[("S2", w20)].tolist() == [2, 0]
    joins = sw.joins.groupby(["home_store_id", "week_start"], observed=True)["new_members"].sum()
    assert joins[("S2", w20)] == 2 and joins[("S1", w19)] == 1 and joins.sum() == 6
    groups = sw.group_members.set_index(["home_store_id", "week_start"])["group_members"]
    assert groups[("S1", w20)] == 1 and groups[("S2", w20)] == 1 and groups[("S1", w19)] == 2
    coupons = sw.coupons.groupby(["home_store_id", "week_start"], observed=True)[["issued", "redeemed"]].sum()
    assert coupons.loc[("S1", w20)].tolist() == [1, 1] and coupons.loc[("S2", w20)].tolist() == [1, 1]


def test_one_store_reads_the_kept_counts_with_the_same_numbers(hand_db, monkeypatch):
    from workbench.analyses import overview, store_weeks

    before = {s: weekly_kpis(hand_db, week=WEEK, stores=s) for s in ("S1", "S2")}
    trend = weekly_kpi_trend(hand_db, weeks=3, week=WEEK, stores="S2")
    store_weeks.keep(hand_db, store_week_values(hand_db, weeks=[WEEK]))

    def no_query(*args, **kwargs):
        raise AssertionError("a store with kept counts queried its members")

    with monkeypatch.context() as m:
        m.setattr(overview, "_member_scope", no_query)
        for s, queried in before.items():
            kept = weekly_kpis(hand_db, week=WEEK, stores=s, cities=["北京"] if s == "S2" else None)
            for part in ("kpis", "stores", "channels", "coupons"):
                pd.testing.assert_frame_equal(getattr(kept, part), getattr(queried, part), check_dtype=False)
        s2 = kept.kpis.set_index("kpi")["value"]
        assert (s2["members"], s2["new_members"], s2["active_members"], s2["private_revenue"]) == (
            3,
            2,
            2,
            130,
        )
        pd.testing.assert_frame_equal(weekly_kpi_trend(hand_db, weeks=3, week=WEEK, stores="S2"), trend)
        # Filters the counts do not hold, and weeks they do not cover, query as before.
        for kwargs in ({"channels": "dine_in"}, {"join_channels": "store_qr"}, {"stores": ["S1", "S2"]},
                       {"week": "2026-W21"}):  # fmt: skip
            with pytest.raises(AssertionError, match="queried its members"):
                weekly_kpis(hand_db, **{"week": WEEK, "stores": "S2", **kwargs})
    # A load of new data changes the file: the counts kept for its earlier state are not read.
    stat = hand_db.path.stat()
    os.utime(hand_db.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert store_weeks.kept(hand_db, before["S1"].params["as_of"]) is None


def test_every_stores_counts_give_each_stores_kpis_on_a_simulated_chain(simulated):
    from workbench.analyses import store_weeks

    weeks = ["2026-W12", "2026-W08"]
    stores = simulated.stores.select("store_id").to_pandas()["store_id"].tolist()[:3]
    queried = {(s, w): weekly_kpis(simulated, week=w, stores=s) for s in stores for w in weeks}
    trends = {s: weekly_kpi_trend(simulated, weeks=8, week=weeks[0], stores=s) for s in stores}
    store_weeks.keep(simulated, store_week_values(simulated, weeks=weeks))
    for (s, w), q in queried.items():
        kept = weekly_kpis(simulated, week=w, stores=s)
        assert kept.kpis.set_index("kpi").loc["active_members", "value"] > 0
        for part in ("kpis", "stores", "channels", "coupons"):
            pd.testing.assert_frame_equal(getattr(kept, part), getattr(q, part), check_dtype=False)
    for s, trend in trends.items():
        pd.testing.assert_frame_equal(weekly_kpi_trend(simulated, weeks=8, week=weeks[0], stores=s), trend)
