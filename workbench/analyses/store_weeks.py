"""Every store's weekly counts at once: what the weekly overview of one store reads instead of its queries.

A chain of 2,000 stores cannot compute each store's weekly overview ahead of its managers (the queries of
one store take about a second at 1M members), but the engine can count every store's orders, visits, new
members, group members and coupons per week in one pass
(:func:`workbench.analyses.overview.store_week_values`; at 1M members about 35-40 s, once per load, in
the warm run or a page's background prefetch). A read-only store keeps that result (:func:`keep`), and
:func:`~workbench.analyses.overview.weekly_kpis` and :func:`~workbench.analyses.overview.weekly_kpi_trend`
of one store then read its rows (:func:`one_store`) instead of querying: the same numbers, at 1M members
in under 0.1 s each instead of about 1 s and 0.3-0.4 s.

Only the plain store filter reads them: one store (its city may be named too), every order channel and
every join channel. Any other filter, a week the result does not cover, or a store that may change
(opened for writing) computes from the tables as before.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# Results kept per process (one per store file state and analysis day): a dashboard kernel needs one.
KEPT_SIZE = 4
_KEPT: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class OneStore:
    """One store's rows of :class:`StoreWeeks` (the columns of each frame without the store's id)."""

    orders: pd.DataFrame
    active: pd.DataFrame
    joins: pd.DataFrame
    group_members: pd.DataFrame | None
    coupons: pd.DataFrame | None

    def new_by_week(self) -> pd.DataFrame:
        """New members of the store by joining week: week_start, new_members (every week with a join)."""
        return self.joins.groupby("week_start", as_index=False)["new_members"].sum()


@dataclass(frozen=True, eq=False)
class StoreWeeks:
    """The result of :func:`~workbench.analyses.overview.store_week_values`, one pass over every store.

    Parameters: ``as_of`` (the analysis day), ``mondays`` (the Mondays of the weeks counted: each week of
    the page, the weeks it is compared with, and its year-ago week), ``cities`` (store_id -> city).

    ``orders``: one row per order store and week (Monday in ``mondays``) with an order: store_id,
      week_start (date), total_revenue, private_revenue, member_orders, nonmember_revenue,
      nonmember_orders (the definitions of ``weekly_kpis`` with ``stores=[store_id]``)
    ``active``: one row per order store and week with a member's visit: store_id, week_start,
      active_members (members with an order at the store in the week), returning (of whom also ordered at
      the store in the REPURCHASE_LOOKBACK_DAYS before the week)
    ``joins``: new members per home store (join store, else first-visit store; 'none' for neither), join
      channel ('unknown' when missing) and joining week, every week: home_store_id, join_channel,
      week_start, new_members
    ``group_members``: members in a community group at the end of each week's Sunday, per home store:
      home_store_id, week_start, group_members (None without a group_members table)
    ``coupons``: per home store of the coupon's member, campaign and week: home_store_id, campaign_id,
      week_start, issued, redeemed (None without a coupons table)
    """

    as_of: dt.date
    mondays: tuple[dt.date, ...]
    cities: dict
    orders: pd.DataFrame
    active: pd.DataFrame
    joins: pd.DataFrame
    group_members: pd.DataFrame | None
    coupons: pd.DataFrame | None

    def of_store(self, store_id: str) -> OneStore:
        """The rows of one store, with text and dates as :func:`compact` found them."""

        def rows(frame, key, *, drop=True):
            if frame is None:
                return None
            part = _plain(frame[frame[key] == store_id].reset_index(drop=True))
            return part.drop(columns=key) if drop else part

        return OneStore(
            orders=rows(self.orders, "store_id"),
            active=rows(self.active, "store_id"),
            joins=rows(self.joins, "home_store_id", drop=False),
            group_members=rows(self.group_members, "home_store_id"),
            coupons=rows(self.coupons, "home_store_id"),
        )


def compact(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """``frame`` with its text columns as categories and week_start (dates) as datetime64: at 1M members
    and 2,000 stores a tenth of the size, so that a kernel reads the shared result in a fraction of a
    second and picks a store's rows without comparing strings."""
    if frame is None:
        return None
    out = frame.copy()
    for column in out.columns:
        if column == "week_start":
            out[column] = pd.to_datetime(pd.Series(out[column], dtype="object")).astype("datetime64[ns]")
        elif out[column].dtype == object:
            out[column] = out[column].astype("category")
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A part of a :func:`compact` frame as the queries give it: text as objects, week_start as dates."""
    out = frame.copy()
    for column in out.columns:
        if column == "week_start":
            out[column] = [d.date() for d in out[column]]
        elif isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(object)
    return out


def _file_state(db) -> tuple | None:
    """The store file and its state (size, modification time): a load of new data gives another."""
    if not getattr(db, "remembers", False):
        return None
    path = Path(db.path).resolve()
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path), stat.st_size, stat.st_mtime_ns)


def keep(db, result: StoreWeeks) -> None:
    """Keep ``result`` for the analyses of one store on ``db`` (and any other read-only connection to the
    same file in this process) until the file changes; a store opened for writing keeps nothing."""
    state = _file_state(db)
    if state is None:
        return
    with _LOCK:
        _KEPT[(state, result.as_of)] = result
        _KEPT.move_to_end((state, result.as_of))
        while len(_KEPT) > KEPT_SIZE:
            _KEPT.popitem(last=False)


def kept(db, as_of) -> StoreWeeks | None:
    """The result kept for ``db`` at ``as_of`` (a date), or None."""
    state = _file_state(db)
    if state is None:
        return None
    with _LOCK:
        return _KEPT.get((state, as_of))


def one_store(db, *, as_of, mondays, stores, cities, channels, join_channels) -> OneStore | None:
    """The kept rows of the one store the filters name, when they cover ``mondays``; None when the
    filters are not one store alone (see the module's docstring) or nothing covers them."""
    if channels or join_channels or not stores or len(stores) != 1:
        return None
    result = kept(db, as_of)
    if result is None or not set(mondays) <= set(result.mondays):
        return None
    store = str(stores[0])
    if store not in result.cities or (cities and result.cities[store] not in cities):
        return None
    return result.of_store(store)
