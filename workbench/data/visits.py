"""Visits: a member's orders on one local calendar day count as one visit (DESIGN.md, "Visit").

These are Ibis expressions, computed in the engine; analyses build on them and pull only aggregates or
one row per member into pandas.
"""

from __future__ import annotations

import ibis

from workbench.data import calendar, derived
from workbench.data.store import Store


def member_orders(db: Store, *, as_of=None, channels=None) -> ibis.Table:
    """Member orders up to and including the local day ``as_of``, with their local ``day``.

    Columns: order_id, member_id, store_id, ordered_at, day (local date), amount, discount (0 when
    missing), coupon_used (bool), channel.
    """
    o = db.orders
    o = o.filter(o.member_id.notnull())
    day = calendar.local_day(o.ordered_at)
    o = o.mutate(day=day)
    if as_of is not None:
        o = o.filter(o.day <= calendar.date_literal(as_of))
    if channels:
        o = o.filter(o.channel.isin(list(channels)))
    return o.select(
        "order_id",
        "member_id",
        "store_id",
        "ordered_at",
        "day",
        amount=o.amount.cast("float64"),
        discount=o.discount.cast("float64").fill_null(0.0),
        coupon_used=o.coupon_id.notnull(),
        channel=o.channel,
    )


def visits(db: Store, *, as_of=None, channels=None) -> ibis.Table:
    """One row per member and local day with at least one order.

    Columns: member_id, day (local date), store_id (store of the day's first order), orders (count),
    amount (sum paid, currency), discount (sum, currency), coupon_used (any order of the day used a coupon).

    Read from the store's derived ``_visits`` table when it reflects the current orders
    (:mod:`workbench.data.derived`) and no order channel filter applies; the same rows either way.
    """
    if not channels and derived.fresh(db):
        return _derived(db, as_of=as_of, numbered=False)
    o = member_orders(db, as_of=as_of, channels=channels)
    return o.group_by(["member_id", "day"]).aggregate(
        store_id=o.store_id.argmin(o.ordered_at),
        orders=o.count(),
        amount=o.amount.sum(),
        discount=o.discount.sum(),
        coupon_used=o.coupon_used.any(),
    )


def numbered_visits(db: Store, *, as_of=None, channels=None) -> ibis.Table:
    """Visits with their order in the member's history and the gap to the previous and next visit.

    Adds: visit_number (1 = first visit), prev_day, next_day (null when none up to as_of),
    days_since_prev (null for the first visit). Read from the derived ``_visits`` table, where they are
    worked out once, when it is fresh and no channel filter applies; computed with window functions
    otherwise (the same rows either way).
    """
    if not channels and derived.fresh(db):  # numbered once, when the derived table was built
        return _with_gap(_derived(db, as_of=as_of, numbered=True))
    v = visits(db, as_of=as_of, channels=channels)
    w = ibis.window(group_by=v.member_id, order_by=v.day)
    v = v.mutate(
        visit_number=ibis.row_number().over(w) + 1,
        prev_day=v.day.lag().over(w),
        next_day=v.day.lead().over(w),
    )
    return _with_gap(v)


def _with_gap(v: ibis.Table) -> ibis.Table:
    """Numbered visits with days_since_prev (days since the previous visit; null for the first)."""
    return v.mutate(days_since_prev=v.day.delta(v.prev_day, unit="day"))


def home_store_visits(db: Store, stores, *, as_of=None, numbered: bool = False) -> ibis.Table | None:
    """The visits up to ``as_of`` of the members whose home store (join store, else first-visit store) is
    one of ``stores``, with the columns of :func:`visits` (``numbered``: of :func:`numbered_visits`), read
    from the derived ``_home_visits``, which keeps them in a few blocks of rows per home store; None when
    the store cannot give them so (derived tables stale or absent, more than
    ``derived.STORE_ORDERS_MAX_STORES`` stores): read :func:`visits` and narrow them instead."""
    wanted = [str(s) for s in stores]
    if not wanted or len(wanted) > derived.STORE_ORDERS_MAX_STORES or not derived.homes_fresh(db):
        return None
    h = db.backend.table(derived.HOME_VISITS)
    v = _derived(db, as_of=as_of, numbered=numbered, table=h.filter(h.home_store_id.isin(wanted)))
    return _with_gap(v) if numbered else v


def _derived(db: Store, *, as_of, numbered: bool, table: ibis.Table | None = None) -> ibis.Table:
    """The derived ``_visits`` rows (or those of ``table``, rows of the same columns) up to ``as_of`` with the
    columns and types :func:`visits` gives, and with ``numbered`` those of :func:`numbered_visits` (a next
    visit after ``as_of`` is not known yet)."""
    v = db.backend.table(derived.VISITS) if table is None else table
    cut = None if as_of is None else calendar.date_literal(as_of)
    if cut is not None:
        v = v.filter(v.day <= cut)
    numbering = {}
    if numbered:
        next_day = (
            v.next_day if cut is None else ibis.ifelse(v.next_day <= cut, v.next_day, ibis.null("date"))
        )
        numbering = {
            "visit_number": v.visit_number.cast("int64"),
            "prev_day": v.prev_day,
            "next_day": next_day,
        }
    return v.select(
        "member_id",
        "day",
        "store_id",
        "orders",
        amount=v.amount.cast("float64"),
        discount=v.discount.cast("float64"),
        coupon_used=v.coupon_used,
        **numbering,
    )
