"""Derived tables: a load of new orders extends them, and the extension equals a rebuild."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

import workbench as wb
from workbench.data import derived, simulate
from workbench.data.visits import home_store_visits, numbered_visits, visits

CUT = "2026-03-01"  # orders on and after this local day arrive in a second load


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("derived") / "chain.duckdb"
    simulate.simulate_chain(path, members=600, weeks=20, seed=4, end="2026-03-22")
    return path


def _copy(source, store, *statements):
    """A copy of the store ``source`` at ``store``, changed by the SQL ``statements``."""
    shutil.copy(source, store)
    con = duckdb.connect(str(store))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    return store


def _table_rows(path, name):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(con.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
    finally:
        con.close()


def test_simulated_store_has_fresh_derived_tables(chain):
    with wb.connect(chain) as db:
        assert derived.fresh(db)
        n = db.backend.table(derived.VISITS).count().execute()
        assert n == visits(db).count().execute() > 0


def test_a_load_of_new_orders_extends_the_tables_to_what_a_rebuild_gives(chain, tmp_path, monkeypatch):
    store = tmp_path / "store.duckdb"
    shutil.copy(chain, store)
    # The simulated chain keeps no salt file; orders carry no phone numbers, any salt will do.
    monkeypatch.setenv("WORKBENCH_HASH_SALT", "simulated")
    late = tmp_path / "orders.parquet"
    con = duckdb.connect(str(store))
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    late_rows = con.execute(
        f"SELECT count(*) FROM orders WHERE CAST(ordered_at AS DATE) >= DATE '{CUT}'"
    ).fetchone()[0]
    con.execute(
        f"COPY (SELECT * FROM orders WHERE CAST(ordered_at AS DATE) >= DATE '{CUT}') TO '{late}' (FORMAT parquet)"
    )
    con.execute(f"DELETE FROM orders WHERE CAST(ordered_at AS DATE) >= DATE '{CUT}'")
    con.close()
    before = derived.refresh(store)  # the store as it was before the new orders
    assert before.mode == "rebuild"

    summary = wb.load_files([late], into=store, table="orders")
    assert summary.results[0].rows_loaded == late_rows > 0

    with wb.connect(store) as db:
        assert derived.fresh(db)
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(store, rebuilt)
    assert derived.refresh(rebuilt).mode == "rebuild"
    for name in derived.DERIVED_TABLES:
        assert _table_rows(store, name) == _table_rows(rebuilt, name), name
    # and both equal the tables of the chain that never lost its orders
    for name in derived.DERIVED_TABLES:
        assert _table_rows(store, name) == _table_rows(chain, name), name


def test_orders_written_behind_the_workbench_make_the_tables_stale(chain, tmp_path):
    store = _copy(
        chain,
        tmp_path / "store.duckdb",
        "DELETE FROM orders WHERE order_id IN (SELECT order_id FROM orders LIMIT 1)",
    )
    with wb.connect(store) as db:
        assert not derived.fresh(db)


def test_analyses_give_the_same_numbers_with_and_without_the_derived_tables(chain):
    import pandas as pd

    from workbench.analyses import scope

    results, thresholds = {}, {}
    for use in (True, False):
        with wb.connect(chain) as db:
            db._derived_fresh = use  # force one path or the other
            attrs = scope.member_attributes(db, as_of="2026-02-15").to_pandas()
            ret = wb.cohort_retention(db, period="week", as_of="2026-02-15")
            # Visits numbered in the member's history, seen from a day before the data's last: a
            # next visit after that day is not known yet.
            nv = numbered_visits(db, as_of="2026-02-15").to_pandas()
            nv = nv.sort_values(["member_id", "day"]).reset_index(drop=True)
            threshold = wb.churn_threshold(db, as_of="2026-02-15")
            cycle = wb.repurchase_cycle(db, as_of="2026-02-15").durations
            results[use] = (attrs.sort_values("member_id").reset_index(drop=True), ret.table, nv, cycle)
            thresholds[use] = threshold
    for mine, theirs in zip(results[True], results[False], strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    assert thresholds[True] == thresholds[False]
    nv = results[True][2]
    assert nv["next_day"].max() <= pd.Timestamp("2026-02-15") and nv["next_day"].isna().any()
    assert (nv.loc[nv["visit_number"] == 1, "prev_day"].isna()).all()


def _column_types(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns()").fetchall()
    finally:
        con.close()
    return {(t, c): d for t, c, d in rows}


def test_derived_amounts_keep_the_orders_decimal_type(chain):
    # A sum of DECIMAL(18,2) is DECIMAL(38,2) in DuckDB: 128-bit numbers that later sums read far slower.
    types = _column_types(chain)
    assert types[("orders", "amount")] == "DECIMAL(18,2)"
    for table, column in [
        (derived.VISITS, "amount"),
        (derived.VISITS, "discount"),
        (derived.PERIODS, "amount"),
        (derived.FIRST_VISIT, "first_ticket"),
    ]:
        assert types[(table, column)] == "DECIMAL(18,2)", (table, column)


def test_a_refresh_from_a_day_extends_a_store_built_by_this_version(chain, tmp_path):
    store = _copy(chain, tmp_path / "current.duckdb")
    result = derived.refresh(store, since=CUT)
    assert result.mode == "extend" and result.since.isoformat() == CUT
    for name in derived.DERIVED_TABLES:
        assert _table_rows(store, name) == _table_rows(chain, name), name


def test_an_older_store_with_wide_derived_decimals_is_rebuilt_on_the_next_extension(chain, tmp_path):
    store = _copy(
        chain, tmp_path / "older.duckdb", f'ALTER TABLE "{derived.VISITS}" ALTER amount TYPE DECIMAL(38,2)'
    )
    result = derived.refresh(store, since=CUT)
    assert result.mode == "rebuild"
    assert _column_types(store)[(derived.VISITS, "amount")] == "DECIMAL(18,2)"
    assert _table_rows(store, derived.VISITS) == _table_rows(chain, derived.VISITS)


def _order_rows(path):
    """The orders' rows with the columns _store_orders keeps."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = ", ".join(derived.STORE_ORDER_COLUMNS)
        return sorted(con.execute(f"SELECT {cols} FROM orders").fetchall(), key=repr)
    finally:
        con.close()


def _store_runs(path) -> tuple[int, int]:
    """(runs, stores): how many runs of equal store_id _store_orders holds in its stored order (the stores when
    it is sorted by store; more when orders of a store sit in several places)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        ids = [r[0] for r in con.execute(f'SELECT store_id FROM "{derived.STORE_ORDERS}"').fetchall()]
        stores = con.execute(f'SELECT count(DISTINCT store_id) FROM "{derived.STORE_ORDERS}"').fetchone()[0]
    finally:
        con.close()
    return sum(1 for i, s in enumerate(ids) if i == 0 or ids[i - 1] != s), stores


def test_the_orders_stored_by_store_are_sorted_and_sorted_again_once_appended_orders_pass_the_share(
    chain, tmp_path, monkeypatch
):
    runs, stores = _store_runs(chain)
    assert runs == stores > 1  # a rebuild stores each store's orders in one block
    store = _copy(chain, tmp_path / "store.duckdb")
    # A day's orders are far below the share: they are appended at the end, after every store's block.
    monkeypatch.setattr(derived, "RESORT_SHARE", 0.5)
    derived.refresh(store, since="2026-03-21")
    runs, _ = _store_runs(store)
    assert runs > stores
    assert _table_rows(store, derived.STORE_ORDERS) == _order_rows(chain)
    # Past the share (here every order appended since the rebuild counts), the next refresh sorts again.
    monkeypatch.setattr(derived, "RESORT_SHARE", 0.0)
    derived.refresh(store, since="2026-03-22")
    assert _store_runs(store)[0] == stores
    assert _table_rows(store, derived.STORE_ORDERS) == _order_rows(chain)


def test_weekly_kpis_of_a_few_stores_read_from_the_orders_stored_by_store_equal_those_from_orders(chain):
    import pandas as pd

    with wb.connect(chain) as db:
        ids = sorted(db.stores.to_pandas()["store_id"])
    results = {}
    for use in (True, False):
        with wb.connect(chain) as db:
            db._derived_fresh = use
            assert (derived.orders_for(db, ids[:1]).get_name() == derived.STORE_ORDERS) is use
            results[use] = [
                wb.weekly_kpis(db, week="2026-W11", stores=ids[:1]).kpis,
                wb.weekly_kpis(db, week="2026-W11", stores=ids[1:3], channels=["dine_in"]).kpis,
                wb.weekly_kpi_trend(db, week="2026-W11", weeks=8, stores=ids[:1]),
            ]
    for mine, theirs in zip(results[True], results[False], strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    kpis = results[True][0].set_index("kpi")["value"]
    assert kpis["total_revenue"] > 0


def test_the_visits_by_home_store_are_the_visits_each_under_its_members_home_store_in_one_block(chain):
    con = duckdb.connect(str(chain), read_only=True)
    try:
        home = con.execute(f'SELECT * FROM "{derived.HOME_VISITS}"').df()  # in stored order
        every = con.execute(f'SELECT * FROM "{derived.VISITS}"').df()
        joined = con.execute("SELECT member_id, join_store_id FROM members").df()
    finally:
        con.close()
    # The home store worked out here: the join store, else the store of the member's earliest visit.
    first = every.sort_values(["member_id", "day"]).groupby("member_id")["store_id"].first()
    want = joined.set_index("member_id")["join_store_id"].fillna(first)
    assert len(home) == len(every) > 0
    assert (home["home_store_id"] == home["member_id"].map(want)).all()
    key = ["member_id", "day"]
    pd.testing.assert_frame_equal(
        home.drop(columns="home_store_id").sort_values(key, ignore_index=True),
        every.sort_values(key, ignore_index=True),
    )
    blocks = (home["home_store_id"] != home["home_store_id"].shift()).sum()
    assert blocks == home["home_store_id"].nunique() > 1  # each home store's visits in one block


def test_a_join_store_set_later_moves_the_members_visits_and_until_then_they_are_not_read_by_home(
    chain, tmp_path, monkeypatch
):
    con = duckdb.connect(str(chain), read_only=True)
    try:  # a member without a join store, with several visits, and a store other than the first one
        member, first_store, visits_n = con.execute(
            "SELECT v.member_id, f.first_store_id, count(*) FROM _visits v JOIN members m USING (member_id) "
            "JOIN _member_first_visit f USING (member_id) WHERE m.join_store_id IS NULL "
            "GROUP BY ALL HAVING count(*) >= 3 ORDER BY v.member_id LIMIT 1"
        ).fetchone()
        other = con.execute("SELECT min(store_id) FROM stores WHERE store_id <> ?", [first_store]).fetchone()[
            0
        ]
        row = con.execute("SELECT * FROM members WHERE member_id = ?", [member]).df()
    finally:
        con.close()
    store = _copy(chain, tmp_path / "store.duckdb")
    # The member's row again, now with a join store: a members load updates it.
    monkeypatch.setenv("WORKBENCH_HASH_SALT", "simulated")
    row["join_store_id"] = other
    members_csv = tmp_path / "members.csv"
    row.drop(columns=[c for c in row.columns if c == "phone_hash"]).to_csv(members_csv, index=False)
    with wb.connect(store) as db:
        assert member in set(scope_ids(db, first_store)) and member not in set(scope_ids(db, other))
    summary = wb.load_files([members_csv], into=store, table="members")
    assert summary.results[0].rows_updated == 1, summary.format()
    with wb.connect(store) as db:
        assert derived.homes_fresh(db)
        moved = home_store_visits(db, [other]).to_pandas()
        assert (moved["member_id"] == member).sum() == visits_n
        assert member not in set(home_store_visits(db, [first_store]).to_pandas()["member_id"])
        assert member in set(scope_ids(db, other)) and member not in set(scope_ids(db, first_store))
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(store, rebuilt)
    derived.refresh(rebuilt)
    assert _table_rows(store, derived.HOME_VISITS) == _table_rows(rebuilt, derived.HOME_VISITS)

    # Written behind the workbench, a join store leaves the visits by home store unread until a refresh.
    behind = _copy(chain, tmp_path / "behind.duckdb", f"UPDATE members SET join_store_id = '{other}' "
                   f"WHERE member_id = '{member}'")  # fmt: skip
    with wb.connect(behind) as db:
        assert derived.fresh(db) and not derived.homes_fresh(db)
        assert home_store_visits(db, [other]) is None
        assert member in set(scope_ids(db, other))  # read from all the visits instead


def scope_ids(db, store):
    """The members in the store's scope on the chain's last day, through the wake-up list's visit read."""
    from workbench.analyses import scope

    day = scope.resolve_as_of(db)
    members = scope.scoped_member_ids(db, as_of=day, stores=[store])
    v = scope.visits_in_scope(db, as_of=day, stores=[store])
    return v.semi_join(members, "member_id").to_pandas()["member_id"]
