"""Visits: same-day orders count once; days follow the chain's midnight; gaps between visits."""

import datetime as dt

import pandas as pd
import pytest

import workbench as wb
from workbench.analyses import scope
from workbench.data.visits import numbered_visits, visits


@pytest.fixture
def db(make_store, store_row):
    orders = [
        # M1: two orders on 5 Jan (lunch and dinner) are one visit; 23:59 on 10 Jan and 00:01 on 11 Jan are
        # two visits on two local days.
        {
            "order_id": "a",
            "store_id": "S1",
            "ordered_at": "2026-01-05 12:00",
            "amount": 100,
            "member_id": "M1",
        },
        {
            "order_id": "b",
            "store_id": "S2",
            "ordered_at": "2026-01-05 19:00",
            "amount": 50,
            "member_id": "M1",
            "coupon_id": "C1",
            "discount": 10,
        },
        {
            "order_id": "c",
            "store_id": "S1",
            "ordered_at": "2026-01-10 23:59",
            "amount": 30,
            "member_id": "M1",
        },
        {
            "order_id": "d",
            "store_id": "S1",
            "ordered_at": "2026-01-11 00:01",
            "amount": 20,
            "member_id": "M1",
        },
        {
            "order_id": "e",
            "store_id": "S1",
            "ordered_at": "2026-01-06 12:00",
            "amount": 80,
            "member_id": "M2",
        },
        {
            "order_id": "f",
            "store_id": "S1",
            "ordered_at": "2026-01-06 13:00",
            "amount": 15,
            "member_id": None,
        },
    ]
    members = [
        {
            "member_id": "M1",
            "joined_at": "2026-01-05 11:00",
            "join_channel": "store_qr",
            "join_store_id": "S1",
        },
        {"member_id": "M2", "joined_at": "2026-01-01 09:00", "join_channel": "mini_program"},
        {"member_id": "M3", "joined_at": "2026-01-20 09:00", "join_channel": "referral"},
    ]
    path = make_store(
        {
            "stores": [store_row(), store_row(store_id="S2", city="杭州")],
            "members": members,
            "orders": orders,
        },
        data_through="2026-01-31",
    )
    return wb.connect(path)


def test_same_day_orders_are_one_visit_and_midnight_splits_days(db):
    v = visits(db).order_by(["member_id", "day"]).to_pandas()
    m1 = v[v.member_id == "M1"]
    assert [pd.Timestamp(d).date() for d in m1.day] == [
        dt.date(2026, 1, 5),
        dt.date(2026, 1, 10),
        dt.date(2026, 1, 11),
    ]
    first = m1.iloc[0]
    assert (first.orders, first.amount, first.discount, bool(first.coupon_used)) == (2, 150.0, 10.0, True)
    assert first.store_id == "S1"  # the store of the day's first order
    assert len(v) == 4  # the non-member order is not a visit


def test_gaps_between_visits(db):
    v = numbered_visits(db).filter(lambda t: t.member_id == "M1").order_by("day").to_pandas()
    assert list(v.visit_number) == [1, 2, 3]
    assert v.days_since_prev.isna().iloc[0]
    assert list(v.days_since_prev.iloc[1:]) == [5, 1]


def test_as_of_cuts_visits(db):
    v = visits(db, as_of="2026-01-10").to_pandas()
    assert len(v) == 3


def test_default_as_of_is_data_through(db):
    assert scope.resolve_as_of(db) == dt.date(2026, 1, 31)


def test_as_of_before_the_data_is_a_clear_error(db):
    with pytest.raises(wb.ParameterError, match="before the data starts .2026-01-05."):
        scope.resolve_as_of(db, "2025-12-31")


def test_member_attributes_by_hand(db):
    a = (
        scope.member_attributes(db, as_of="2026-01-31")
        .order_by("member_id")
        .to_pandas()
        .set_index("member_id")
    )
    assert list(a.index) == ["M1", "M2", "M3"]
    assert a.loc["M1", "visits"] == 3 and a.loc["M1", "coupon_visits"] == 1
    assert bool(a.loc["M1", "price_sensitive"])  # 1 of 3 visits with a coupon = the one-third threshold
    assert not bool(a.loc["M2", "price_sensitive"])
    assert a.loc["M1", "first_ticket"] == 150.0 and a.loc["M1", "first_ticket_band"] == "100-200"
    assert a.loc["M2", "home_store_id"] == "S1"  # no join store: the store of the first visit
    assert a.loc["M3", "first_ticket_band"] == "no visit" and a.loc["M3", "visits"] == 0
    # as_of before M3 joined: M3 is not a member yet.
    early = scope.member_attributes(db, as_of="2026-01-15").to_pandas()
    assert set(early.member_id) == {"M1", "M2"}


def test_scope_filters_and_segments(db):
    hz = scope.scoped_members(db, as_of="2026-01-31", cities=["杭州"]).to_pandas()
    assert hz.empty  # both visiting members' home store is S1 in 上海
    seg = scope.scoped_members(db, as_of="2026-01-31", segment_by="join_channel").to_pandas()
    assert dict(zip(seg.member_id, seg.segment, strict=True)) == {
        "M1": "store_qr",
        "M2": "mini_program",
        "M3": "referral",
    }
    frame = pd.DataFrame({"member_id": ["M1"], "tier": ["gold"]})
    custom = scope.scoped_members(db, as_of="2026-01-31", segment_by=frame).to_pandas()
    assert dict(zip(custom.member_id, custom.segment, strict=True)) == {
        "M1": "gold",
        "M2": "unknown",
        "M3": "unknown",
    }


def test_unknown_segment_names_the_choices(db):
    with pytest.raises(
        wb.ParameterError,
        match="segment_by='chanel' is not a member attribute; expected one of: join_channel",
    ):
        scope.scoped_members(db, as_of="2026-01-31", segment_by="chanel")
