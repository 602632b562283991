"""Derived tables a weekly run extends instead of rebuilding two years of work.

A DuckDB store keeps these tables computed from ``orders`` (names start with ``_``, beside the quarantine
and the load log):

  _visits               one row per member and local day: member_id, day, store_id (store of the day's
                        first order), orders, amount, discount, coupon_used, and the visit's place in the
                        member's history: visit_number (1 = first), prev_day and next_day (the member's
                        visits before and after; null when none). The unit of every analysis
                        (DESIGN.md, "Visit"); about 60% of the member order lines. visit_number and
                        prev_day hold whatever day an analysis looks from; next_day is read as null when
                        it falls after the analysis's day.
  _member_first_visit   one row per member who has visited: member_id, first_day, first_store_id,
                        first_ticket (amount of the first visit).
  _member_periods       one row per member and period with a visit: member_id, period ('week' / 'month'),
                        period_start, visits, amount.
  _store_orders         the orders again, stored by store (sorted on store_id, then ordered_at), with the
                        columns a question about a store's revenue and visits reads (STORE_ORDER_COLUMNS):
                        it reads that store's blocks of rows instead of every order of its weeks (at 1M
                        members, one store's orders of half a year: about 0.01 s instead of 0.2-0.3 s).
                        Orders a refresh adds go to its end; it is sorted again when those exceed
                        RESORT_SHARE of its rows.
  _home_visits          the rows of _visits again, each with its member's home store in front
                        (home_store_id: the join store, else the store of the first visit; the store
                        filter's definition), sorted on home_store_id, member_id, day: the visits of a
                        store's members are a few blocks of rows instead of a scan of every visit (at 1M
                        members, one store's wake-up list reads them in about 0.08 s instead of 0.4 s).
                        Visits a refresh adds go to its end and it is sorted again like _store_orders;
                        members whose home store changed (a members load that sets a join store) are
                        moved by the next refresh or members load. It records the members it reflects
                        (``_meta`` key ``home_visits_members``), and :func:`homes_fresh` tells a reader
                        whether it may use it.

Amounts are exact decimals of the orders' own type (DECIMAL(18,2)); a store whose tables hold the wider
sums an earlier version wrote (DECIMAL(38,2), far slower to read) is rebuilt by its next refresh.

``refresh(path, since=day)`` re-derives only what orders on or after ``day`` can change: the visits of those
days (numbered on from each member's earlier visits), the next_day of each member's last earlier visit, the
first visits on or after ``day`` (a first visit before it cannot change), and the periods that hold those
days. A load of new orders calls it with the earliest new order's day; ``refresh(path)`` without ``since``
rebuilds everything.
The store records which orders the tables reflect (``_meta`` keys ``derived_orders`` and
``derived_max_ordered_at``), and :func:`fresh` tells an analysis whether it may read them; when they are
stale (orders written by another tool), analyses compute from ``orders`` directly, which gives the same
numbers, only slower.

On engines other than a DuckDB file (Spark, a warehouse) the analyses compute visits from ``orders`` in the
engine; a chain can materialise the same tables there with its own scheduler.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import pandas as pd

from workbench.data import calendar, contract

VISITS = "_visits"
# Columns of _visits that place a visit in the member's history (older stores lack them: rebuilt).
NUMBERING = ("visit_number", "prev_day", "next_day")
FIRST_VISIT = "_member_first_visit"
PERIODS = "_member_periods"
STORE_ORDERS = "_store_orders"
STORE_ORDER_COLUMNS = ("store_id", "ordered_at", "member_id", "channel", "amount")
HOME_VISITS = "_home_visits"
DERIVED_TABLES = (VISITS, FIRST_VISIT, PERIODS, STORE_ORDERS, HOME_VISITS)
# Share of _store_orders appended since it was last sorted above which a refresh sorts it again (a week of
# orders is about 1% of two years', so about every fifth weekly load at most).
RESORT_SHARE = 0.05
# Stores in scope up to which an analysis reads _store_orders instead of orders (a city's hundreds of stores
# are spread over the whole table: orders, stored by time, skips more of it by the weeks asked for).
STORE_ORDERS_MAX_STORES = 8
# Periods kept in _member_periods: those cohorts and lifecycle use.
DERIVED_PERIODS = ("week", "month")
META_ORDERS = "derived_orders"
META_MAX_ORDERED_AT = "derived_max_ordered_at"
META_STORE_ORDERS_APPENDED = "store_orders_appended"  # rows appended to _store_orders since its last sort
META_HOME_APPENDED = "home_visits_appended"  # rows appended to _home_visits since its last sort
META_HOME_MEMBERS = "home_visits_members"  # the members' stamp (_members_stamp) _home_visits reflects


@dataclass
class RefreshResult:
    """What a refresh did: ``mode`` ('rebuild' or 'extend'), ``since`` (first day re-derived, None for a
    rebuild), rows now in each table, and ``seconds`` of wall time."""

    mode: str
    since: dt.date | None
    rows: dict[str, int]
    seconds: float


def _orders_stamp(backend) -> tuple[int, str]:
    """(rows, max ordered_at as text) of the orders table: what the derived tables reflect."""
    o = backend.table("orders")
    row = o.aggregate(n=o.count(), last=o.ordered_at.max()).to_pandas().iloc[0]
    last = "" if row["last"] is None or str(row["last"]) in ("NaT", "None") else str(row["last"])
    return int(row["n"]), last


def _visits_expr(backend, since: dt.date | None, timezone: str | None = None) -> ibis.Table:
    o = backend.table("orders")
    if since is not None and timezone is not None:
        # Orders from the instant the local day `since` begins: the engine skips older blocks by their
        # timestamps instead of working out the local day of every order first.
        o = o.filter(o.ordered_at >= ibis.literal(pd.Timestamp(since, tz=timezone)))
    o = o.filter(o.member_id.notnull()).mutate(day=calendar.local_day(o.ordered_at))
    if since is not None:
        o = o.filter(o.day >= calendar.date_literal(since))
    # Decimal sums are exact, so an extension equals a rebuild. They keep the orders' own type: DuckDB widens
    # a sum of DECIMAL(18,2) to DECIMAL(38,2), a 128-bit number that every later read sums about 80x slower.
    return o.group_by(["member_id", "day"]).aggregate(
        store_id=o.store_id.argmin(o.ordered_at),
        orders=o.count(),
        amount=o.amount.sum().cast(o.amount.type()),
        discount=o.discount.fill_null(0).sum().cast(o.discount.type()),
        coupon_used=o.coupon_id.notnull().any(),
    )


def _numbered(v: ibis.Table, before: ibis.Table | None = None) -> ibis.Table:
    """``v`` with visit_number, prev_day and next_day over each member's visits in ``v``; ``before``
    (member_id, n, last_day): each member's visits earlier than all of ``v``, which the numbering and
    prev_day continue from."""
    w = ibis.window(group_by=v.member_id, order_by=v.day)
    v = v.mutate(_rn=ibis.row_number().over(w), _prev=v.day.lag().over(w), next_day=v.day.lead().over(w))
    if before is None:
        return v.mutate(visit_number=v._rn + 1, prev_day=v._prev).drop("_rn", "_prev")
    j = v.left_join(before, v.member_id == before.member_id)
    return j.select(
        *[c for c in v.columns if c not in ("_rn", "_prev", "next_day")],
        visit_number=j._rn + 1 + j.n.fill_null(0),
        prev_day=j._prev.coalesce(j.last_day),
        next_day=j.next_day,
    )


def has_numbering(backend) -> bool:
    return set(NUMBERING) <= set(backend.table(VISITS).columns)


def has_order_types(backend) -> bool:
    """The derived amounts have the orders' amount type (older stores hold wider decimals: rebuilt)."""
    derived_type = backend.table(VISITS).schema()["amount"].copy(nullable=True)
    return derived_type == backend.table("orders").schema()["amount"].copy(nullable=True)


def _first_visit_expr(v: ibis.Table) -> ibis.Table:
    w = ibis.window(group_by=v.member_id, order_by=v.day)
    return (
        v.mutate(rn=ibis.row_number().over(w))
        .filter(lambda t: t.rn == 0)
        .select("member_id", first_day="day", first_store_id="store_id", first_ticket="amount")
    )


def _periods_expr(v: ibis.Table) -> ibis.Table:
    parts = []
    for period in DERIVED_PERIODS:
        p = v.mutate(
            period=ibis.literal(period), period_start=calendar.period_start(v.day, period).cast("date")
        )
        parts.append(
            p.group_by(["member_id", "period", "period_start"]).aggregate(
                visits=p.count(), amount=p.amount.sum().cast(p.amount.type())
            )
        )
    return ibis.union(*parts)


def _sort_store_orders(con) -> None:
    """(Re)write _store_orders from orders, sorted by store."""
    cols = ", ".join(STORE_ORDER_COLUMNS)
    con.execute(
        f'CREATE OR REPLACE TABLE "{STORE_ORDERS}" AS SELECT {cols} FROM orders ORDER BY store_id, ordered_at'
    )


def _join_stores(con) -> str:
    """SQL: member_id, join_store_id of every member (none when the store has no members table yet)."""
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'members'").fetchone()[0]:
        return "(SELECT member_id, join_store_id FROM members)"
    return "(SELECT NULL::VARCHAR AS member_id, NULL::VARCHAR AS join_store_id WHERE false)"


def _home_rows(con, where: str = "") -> str:
    """SQL: the rows of _visits (``where`` on them, alias v) with their member's home store in front, sorted
    as _home_visits is."""
    return (
        f'SELECT coalesce(m.join_store_id, f.first_store_id) AS home_store_id, v.* FROM "{VISITS}" AS v '
        f'JOIN "{FIRST_VISIT}" AS f ON f.member_id = v.member_id LEFT JOIN {_join_stores(con)} AS m '
        f"ON m.member_id = v.member_id {where} ORDER BY home_store_id, v.member_id, v.day"
    )


def _sort_home_visits(con) -> None:
    """(Re)write _home_visits from _visits, sorted by home store."""
    con.execute(f'CREATE OR REPLACE TABLE "{HOME_VISITS}" AS {_home_rows(con)}')


def _members_stamp(con) -> str:
    """What _home_visits depends on in members, as text: their count and an order-free hash of each
    member's join store."""
    n, h = con.execute(
        f"SELECT count(*), bit_xor(hash(member_id, coalesce(join_store_id, ''))) FROM {_join_stores(con)}"
    ).fetchone()
    return f"{n}:{h}"


def _rehome(con) -> int:
    """Move the visits of members whose home store is not the one _home_visits holds them under (a join
    store set or changed since), and add those of members missing from it; returns the rows written."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _moved AS "
        f'WITH now AS (SELECT f.member_id, coalesce(m.join_store_id, f.first_store_id) AS home FROM "{FIRST_VISIT}" '
        f"AS f LEFT JOIN {_join_stores(con)} AS m ON m.member_id = f.member_id), "
        f'was AS (SELECT DISTINCT member_id, home_store_id AS home FROM "{HOME_VISITS}") '
        "SELECT DISTINCT member_id FROM ((SELECT * FROM now EXCEPT SELECT * FROM was) "
        "UNION ALL (SELECT * FROM was EXCEPT SELECT * FROM now))"
    )
    try:
        if not con.execute("SELECT count(*) FROM _moved").fetchone()[0]:
            return 0
        con.execute(f'DELETE FROM "{HOME_VISITS}" WHERE member_id IN (SELECT member_id FROM _moved)')
        moved = _home_rows(con, "WHERE v.member_id IN (SELECT member_id FROM _moved)")
        return int(con.execute(f'INSERT INTO "{HOME_VISITS}" {moved}').fetchone()[0])
    finally:
        con.execute("DROP TABLE IF EXISTS _moved")


def sync_homes(path) -> None:
    """Bring _home_visits of the DuckDB store at ``path`` in line with its members after a load that wrote
    members and no orders (a join store set or changed); nothing when it already is, or when the store has
    no derived tables yet."""
    from workbench.data.store import set_meta

    con = duckdb.connect(str(path))
    try:
        if HOME_VISITS not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
            return
        meta = dict(con.execute(f'SELECT key, value FROM "{contract.META_TABLE}"').fetchall())
        stamp = _members_stamp(con)
        if meta.get(META_HOME_MEMBERS) == stamp:
            return
        con.execute("BEGIN TRANSACTION")
        try:
            appended = int(meta.get(META_HOME_APPENDED) or 0) + _rehome(con)
            set_meta(con, **{META_HOME_MEMBERS: stamp, META_HOME_APPENDED: appended})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def _create(con, name: str, expr: ibis.Table, *, temp: bool = False) -> None:
    kind = "TEMP TABLE" if temp else "TABLE"
    con.execute(f'CREATE OR REPLACE {kind} "{name}" AS {ibis.to_sql(expr, dialect="duckdb")}')


def _insert(con, name: str, expr: ibis.Table) -> int:
    """Insert the rows of ``expr`` into table ``name``; returns how many."""
    cols = ", ".join(f'"{c}"' for c in expr.columns)
    return int(
        con.execute(f'INSERT INTO "{name}" ({cols}) {ibis.to_sql(expr, dialect="duckdb")}').fetchone()[0]
    )


def refresh(path, *, since=None) -> RefreshResult:
    """Build (``since=None``) or extend (``since`` = the earliest day with new or changed orders) the
    derived tables of the DuckDB store at ``path``; returns a :class:`RefreshResult`.

    Extending re-derives visits on and after ``since``, first visits on or after it (of members with no
    earlier visit), and every week and month that holds a day on or after ``since``; the result equals a rebuild.
    """
    from workbench.data.store import connect, read_meta, set_meta

    t0 = time.perf_counter()
    path = Path(path)
    db = connect(path, read_only=False)
    backend = db.backend
    con = backend.con
    con.execute("SET enable_progress_bar = false")
    try:
        present = set(backend.list_tables())
        # What the visits by home store will reflect: a refresh writes no members.
        stamp = _members_stamp(con)
        since_day = calendar.as_date(since) if since is not None else None
        if (
            since_day is None
            or not set(DERIVED_TABLES) <= present
            or not has_numbering(backend)
            or not has_order_types(backend)
        ):
            mode, since_day = "rebuild", None
            _create(con, VISITS, _numbered(_visits_expr(backend, None)))
            v = backend.table(VISITS)
            _create(con, FIRST_VISIT, _first_visit_expr(v))
            _create(con, PERIODS, _periods_expr(v))
            # DuckDB's date_trunc gives timestamps; keep the column a date as documented.
            con.execute(f'ALTER TABLE "{PERIODS}" ALTER period_start TYPE DATE')
            _sort_store_orders(con)
            _sort_home_visits(con)
            appended = home_appended = 0
        else:
            mode = "extend"
            day = since_day.isoformat()
            # Periods holding `since`: re-derive from the start of the earliest such period.
            period_from = min(
                since_day - dt.timedelta(days=since_day.weekday()),  # ISO week start (Monday)
                since_day.replace(day=1),
            )
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM \"{VISITS}\" WHERE day >= DATE '{day}'")
                con.execute(f"UPDATE \"{VISITS}\" SET next_day = NULL WHERE next_day >= DATE '{day}'")
                _create(con, "_new_visits", _visits_expr(backend, since_day, db.settings.timezone), temp=True)
                new = backend.table("_new_visits")
                old = backend.table(VISITS)
                earlier = old.semi_join(new, old.member_id == new.member_id)
                _create(
                    con,
                    "_earlier",
                    earlier.group_by("member_id").aggregate(n=earlier.count(), last_day=earlier.day.max()),
                    temp=True,
                )
                _insert(con, VISITS, _numbered(new, backend.table("_earlier")).select(*old.columns))
                # The last earlier visit of each member who came back on or after `since` points to it.
                con.execute(
                    f'UPDATE "{VISITS}" AS v SET next_day = f.first_day FROM ('
                    "SELECT e.member_id, e.last_day, min(n.day) AS first_day FROM _earlier AS e "
                    "JOIN _new_visits AS n ON n.member_id = e.member_id GROUP BY e.member_id, e.last_day"
                    ") AS f WHERE v.member_id = f.member_id AND v.day = f.last_day"
                )
                con.execute("DROP TABLE IF EXISTS _new_visits")
                con.execute("DROP TABLE IF EXISTS _earlier")
                v = backend.table(VISITS)
                # Visits before `since` did not change, so neither did a first visit before it; the members
                # without one left get theirs from the visits on and after `since`.
                con.execute(f"DELETE FROM \"{FIRST_VISIT}\" WHERE first_day >= DATE '{day}'")
                f = backend.table(FIRST_VISIT)
                recent = v.filter(v.day >= calendar.date_literal(since_day))
                newcomers = recent.anti_join(f, recent.member_id == f.member_id)
                _insert(con, FIRST_VISIT, _first_visit_expr(newcomers))
                con.execute(
                    f"DELETE FROM \"{PERIODS}\" WHERE period_start >= DATE '{period_from.isoformat()}'"
                )
                recent = v.filter(v.day >= calendar.date_literal(period_from))
                fresh_periods = _periods_expr(recent)
                fresh_periods = fresh_periods.filter(
                    fresh_periods.period_start >= calendar.date_literal(period_from)
                )
                _insert(con, PERIODS, fresh_periods)
                # Orders from the instant `since` begins, again (a changed order replaces its old row).
                start = pd.Timestamp(since_day, tz=db.settings.timezone)
                con.execute(f'DELETE FROM "{STORE_ORDERS}" WHERE ordered_at >= ?', [start.to_pydatetime()])
                o = backend.table("orders")
                later = o.filter(o.ordered_at >= ibis.literal(start)).select(*STORE_ORDER_COLUMNS)
                added = _insert(con, STORE_ORDERS, later.order_by(["store_id", "ordered_at"]))
                meta = read_meta(backend)
                appended = int(meta.get(META_STORE_ORDERS_APPENDED) or 0) + added
                # The visits again by home store: those re-derived above, and the next_day of each member's
                # last earlier visit, as in _visits.
                con.execute(f"DELETE FROM \"{HOME_VISITS}\" WHERE day >= DATE '{day}'")
                con.execute(f"UPDATE \"{HOME_VISITS}\" SET next_day = NULL WHERE next_day >= DATE '{day}'")
                home_appended = int(meta.get(META_HOME_APPENDED) or 0)
                home_appended += int(
                    con.execute(
                        f'INSERT INTO "{HOME_VISITS}" {_home_rows(con, f"WHERE v.day >= DATE {day!r}")}'
                    ).fetchone()[0]
                )
                con.execute(
                    f'UPDATE "{HOME_VISITS}" AS h SET next_day = v.next_day FROM "{VISITS}" AS v '
                    f"WHERE h.member_id = v.member_id AND h.day = v.day AND v.day < DATE '{day}' "
                    f"AND v.next_day >= DATE '{day}'"
                )
                if meta.get(META_HOME_MEMBERS) != stamp:  # a join store set since
                    home_appended += _rehome(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        rows, last = _orders_stamp(backend)
        if appended > RESORT_SHARE * rows:  # too many orders stored in load order after the stores' blocks
            _sort_store_orders(con)
            appended = 0
        if home_appended > RESORT_SHARE * con.execute(f'SELECT count(*) FROM "{HOME_VISITS}"').fetchone()[0]:
            _sort_home_visits(con)
            home_appended = 0
        set_meta(
            con,
            **{
                META_ORDERS: rows,
                META_MAX_ORDERED_AT: last,
                META_STORE_ORDERS_APPENDED: appended,
                META_HOME_APPENDED: home_appended,
                META_HOME_MEMBERS: stamp,
            },
        )
        counts = {name: int(backend.table(name).count().execute()) for name in DERIVED_TABLES}
    finally:
        db.close()
    return RefreshResult(mode=mode, since=since_day, rows=counts, seconds=time.perf_counter() - t0)


def fresh(db) -> bool:
    """True when ``db`` (a Store) holds derived tables that reflect its current orders."""
    cache = getattr(db, "_derived_fresh", None)
    if cache is not None:
        return cache
    ok = False
    try:
        present = set(db.backend.list_tables())
        if set(DERIVED_TABLES) <= present and contract.META_TABLE in present and has_numbering(db.backend):
            from workbench.data.store import read_meta

            meta = read_meta(db.backend)
            rows, last = _orders_stamp(db.backend)
            ok = meta.get(META_ORDERS) == str(rows) and meta.get(META_MAX_ORDERED_AT) == last
    except Exception:  # an engine without these tables or without _meta: compute from orders
        ok = False
    db._derived_fresh = ok
    return ok


def homes_fresh(db) -> bool:
    """True when ``db`` (a Store) may read _home_visits: the derived tables are fresh (:func:`fresh`) and
    _home_visits reflects the current members' join stores."""
    cache = getattr(db, "_homes_fresh", None)
    if cache is not None:
        return cache
    ok = False
    if fresh(db):
        try:
            from workbench.data.store import read_meta

            con = db.backend.con
            ok = HOME_VISITS in db.backend.list_tables() and read_meta(db.backend).get(
                META_HOME_MEMBERS
            ) == _members_stamp(con)
        except Exception:  # not a DuckDB file: the analyses read _visits or the orders
            ok = False
    db._homes_fresh = ok
    return ok


def orders_for(db, store_ids) -> ibis.Table:
    """The orders table to read for a question about the stores ``store_ids`` (None: every store) that reads
    only STORE_ORDER_COLUMNS: the copy stored by store (_store_orders) for up to STORE_ORDERS_MAX_STORES
    stores when the derived tables are fresh, else ``orders``. Both hold the same orders."""
    if store_ids is not None and len(store_ids) <= STORE_ORDERS_MAX_STORES and fresh(db):
        return db.backend.table(STORE_ORDERS)
    return db.orders
