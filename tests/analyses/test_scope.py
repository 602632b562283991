"""The analysis day: the data's range of local order days, and as_of checked against it."""

from __future__ import annotations

import datetime as dt

import pytest

import workbench as wb
from tests.conftest import order
from workbench.analyses import scope


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
