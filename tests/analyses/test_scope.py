"""The analysis day: the data's range of local order days, and as_of checked against it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import order
from workbench.analyses import scope
from workbench.data import derived
from workbench.data.visits import home_store_visits


@pytest.fixture
def db(make_store, store_row):
    # Beijing times near midnight: the UTC days differ from the local ones at both ends.
    path = make_store(
        {
            "stores": [store_row()],
            "members": [{"member_id": "M1", "joined_at": "2026-01-05 00:10"}],
            "orders": [
                order("O2", "M1", "2026-01-07 12:00", 80.0),
                order("O1", "M1", "2026-01-05 00:30", 50.0),  # 2026-01-04 16:30 UTC
                order("O3", None, "2026-01-10 23:50", 30.0),  # 2026-01-10 15:50 UTC; not a member's
            ],
        }
    )
    store = wb.connect(path)
    yield store
    store.close()


def test_the_range_is_of_local_days_and_the_default_day_is_the_one_before_the_last(db):
    assert scope.order_day_range(db) == (dt.date(2026, 1, 5), dt.date(2026, 1, 10))
    assert scope.resolve_as_of(db) == dt.date(2026, 1, 9)  # the last day may still be filling up
    assert scope.resolve_as_of(db, "2026-01-05") == dt.date(2026, 1, 5)


def test_a_day_before_the_first_local_order_day_names_the_range(db):
    with pytest.raises(wb.ParameterError, match="2026-01-05 and 2026-01-10"):
        scope.resolve_as_of(db, "2026-01-04")


def test_a_store_without_orders_has_no_range_and_no_analysis_day(make_store, store_row):
    store = wb.connect(make_store({"stores": [store_row()], "orders": []}))
    try:
        assert scope.order_day_range(store) == (None, None)
        with pytest.raises(wb.ParameterError, match="has no orders"):
            scope.order_day_range(store, required=True)
        with pytest.raises(wb.ParameterError, match="has no orders"):
            scope.resolve_as_of(store, "2026-01-05")
    finally:
        store.close()


def test_member_ids_in_scope_are_those_of_scoped_members_without_their_attributes(make_store, store_row):
    # M2 joins at 00:30 on 8 January in Beijing, still 7 January in UTC: not in scope on the 7th. M4 has no
    # join store: its home is the store of its first order (S2); M5 has neither: no home store, city
    # 'unknown'. M4 and M5 have no join channel ('unknown'). M6 joined at S1 and first ordered at S2: its
    # home is S1.
    path = make_store(
        {
            "stores": [store_row(), store_row(store_id="S2", city="北京")],
            "members": [
                {"member_id": "M1", "joined_at": "2026-01-05 00:10", "join_store_id": "S1", "join_channel": "store_qr"},
                {"member_id": "M2", "joined_at": "2026-01-08 00:30", "join_store_id": "S2", "join_channel": "store_qr"},
                {"member_id": "M3", "joined_at": "2026-01-06 12:00", "join_store_id": "S2", "join_channel": "referral"},
                {"member_id": "M4", "joined_at": "2026-01-06 12:00"},
                {"member_id": "M5", "joined_at": "2026-01-06 12:00"},
                {"member_id": "M6", "joined_at": "2026-01-06 12:00", "join_store_id": "S1", "join_channel": "store_qr",
                 "vip_since": "2026-01-07 08:00"},
            ],
            # M4 joins a group on the 8th at 00:30 in Beijing (the 7th in UTC): in a group as of the 8th only.
            "groups": [{"group_id": "G1", "kind": "store", "store_id": "S2"}],
            "group_members": [{"group_id": "G1", "member_id": "M4", "joined_at": "2026-01-08 00:30"},
                              {"group_id": "G1", "member_id": "M3", "joined_at": "2026-01-06 13:00"}],
            "orders": [
                order("O1", "M1", "2026-01-05 12:00", 50.0),
                order("O2", None, "2026-01-10 12:00", 30.0),
                {**order("O3", "M4", "2026-01-06 13:00", 40.0), "store_id": "S2"},
                order("O4", "M4", "2026-01-07 13:00", 40.0),
                {**order("O5", "M6", "2026-01-06 13:00", 40.0), "store_id": "S2"},
            ],
        }
    )  # fmt: skip
    # Computed from the visits first, then with the derived tables, which keep the visits by home store:
    # the same members either way.
    for built in (False, True):
        if built:
            derived.refresh(path)
        with wb.connect(path) as db:
            assert derived.homes_fresh(db) is built
            if built:  # M6's visit at S2 is kept under S1, its join store; M4's under S2, its first store
                for store, visitors in [("S1", ["M1", "M6"]), ("S2", ["M4", "M4"])]:
                    home = home_store_visits(db, [store], as_of="2026-01-08").to_pandas()
                    assert sorted(home["member_id"]) == visitors, store
                two_days = home_store_visits(db, ["S2"], as_of="2026-01-06", numbered=True).to_pandas()
                assert two_days["visit_number"].tolist() == [1] and two_days["days_since_prev"].isna().all()
            for as_of, filters, expected in [
                ("2026-01-07", {}, {"M1", "M3", "M4", "M5", "M6"}),
                ("2026-01-08", {}, {"M1", "M2", "M3", "M4", "M5", "M6"}),
                ("2026-01-08", {"cities": ["北京"]}, {"M2", "M3", "M4"}),
                ("2026-01-08", {"stores": ["S2"]}, {"M2", "M3", "M4"}),
                ("2026-01-08", {"stores": ["S1"]}, {"M1", "M6"}),
                ("2026-01-08", {"cities": ["unknown"]}, {"M5"}),
                ("2026-01-08", {"join_channels": ["unknown"]}, {"M4", "M5"}),
                ("2026-01-08", {"stores": ["S2"], "join_channels": ["store_qr"]}, {"M2"}),
                ("2026-01-07", {"cities": ["北京"], "join_channels": ["referral", "unknown"]}, {"M3", "M4"}),
            ]:
                day = dt.date.fromisoformat(as_of)
                got = scope.scoped_member_ids(db, as_of=day, **filters).to_pandas()["member_id"]
                full = scope.scoped_members(db, as_of=day, **filters).to_pandas()["member_id"]
                assert set(got) == expected and len(got) == len(expected), (as_of, filters)
                assert set(full) == expected and len(full) == len(expected), (as_of, filters)
                # A store or city works out the attributes of its members only: the same as for everyone.
                narrowed = scope.scoped_members(db, as_of=day, **filters).to_pandas().drop(columns="segment")
                every = scope.member_attributes(db, as_of=day).to_pandas()
                every = every[every["member_id"].isin(expected)]
                pd.testing.assert_frame_equal(
                    narrowed.sort_values("member_id", ignore_index=True),
                    every.sort_values("member_id", ignore_index=True),
                )
                flags = every.set_index("member_id")
                if "M4" in expected:  # joined the group after the 7th ended in Beijing
                    assert flags.loc["M4", "in_group"] == (as_of == "2026-01-08")
                    assert flags.loc["M4", "visits"] == 2
                if "M6" in expected:
                    assert flags.loc["M6", "vip"] and not flags.loc["M1", "vip"]
                # Rows of the members a store or city keeps (their orders here), and nobody else's; every row
                # without such a filter, or for the city 'unknown' (no store to narrow by).
                narrowing = {k: v for k, v in filters.items() if k != "join_channels"}
                rows = scope.of_members_in_scope(db, db.orders, as_of=day, **narrowing).to_pandas()
                placed = {"O1": "M1", "O2": None, "O3": "M4", "O4": "M4", "O5": "M6"}
                exact = set(scope.scoped_member_ids(db, as_of=day, **narrowing).to_pandas()["member_id"])
                unchanged = not narrowing or narrowing.get("cities") == ["unknown"]
                want = set(placed) if unchanged else {o for o, m in placed.items() if m in exact}
                assert set(rows["order_id"]) == want, (as_of, filters)


def test_scope_key_is_equal_for_the_same_filters_and_tells_the_filters_apart():
    from workbench.analyses.scope import scope_key

    assert scope_key(stores="S1") == scope_key(stores=["S1"]) == scope_key(stores=("S1",), cities=[])
    assert scope_key(stores=["S1"]) != scope_key(cities=["S1"]) != scope_key(join_channels=["S1"])
    assert scope_key(stores=["S1", "S2"]) != scope_key(stores=["S1"])
    assert scope_key() == (None, None, None)
