"""Pieces of the report machinery on hand-sized cases: parameters, anonymising, small cells, weeks, Excel."""

from __future__ import annotations

import warnings

import nbformat
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import ParameterError
from workbench.reporting.anonymise import AnonymisedStore, store_aliases, suppress, wake_up_counts
from workbench.reporting.export import export_tables
from workbench.reporting.runner import check_parameters, notebook_parameters
from workbench.reporting.weeks import campaigns_for_week, report_day, report_week


def write_notebook(path, params_src, body="x = 1"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params_src)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))
    return path


def test_unknown_parameter_is_an_error_naming_the_declared_ones(tmp_path):
    nb = write_notebook(tmp_path / "a.ipynb", 'data = "x.duckdb"\nlang = "zh"')
    assert check_parameters(nb, {"lang": "en"}) == {"lang": "en"}
    with pytest.raises(ParameterError, match="no parameter 'segmnt_by'.*data, lang"):
        check_parameters(nb, {"segmnt_by": "vip"})


def test_parameters_cell_must_hold_literals(tmp_path):
    nb = write_notebook(tmp_path / "b.ipynb", 'week = "2026-W47"\nstart = week[:4]')
    with pytest.raises(ParameterError, match="not a literal"):
        notebook_parameters(nb)
    ok = write_notebook(tmp_path / "c.ipynb", "k_min = 5\nstores = None\ncities = ['上海']")
    assert notebook_parameters(ok) == {"k_min": 5, "stores": None, "cities": ["上海"]}


@pytest.fixture
def two_store_db(make_store):
    # Stores S2 (listed first) and S1; three members, M1 and M2 at S1, M3 at S2.
    stores = [
        {"store_id": "S2", "name": "北京三里屯店", "city": "北京"},
        {"store_id": "S1", "name": "上海人民广场店", "city": "上海"},
    ]
    members = [
        {"member_id": m, "joined_at": "2026-01-05 12:00", "join_store_id": s, "phone_hash": "ab" * 32}
        for m, s in [("M1", "S1"), ("M2", "S1"), ("M3", "S2")]
    ]
    orders = [
        {
            "order_id": "o1",
            "store_id": "S1",
            "ordered_at": "2026-01-05 12:00",
            "amount": 50,
            "member_id": "M1",
        },
        {
            "order_id": "o2",
            "store_id": "S1",
            "ordered_at": "2026-01-06 12:00",
            "amount": 60,
            "member_id": "M1",
        },
        {
            "order_id": "o3",
            "store_id": "S2",
            "ordered_at": "2026-01-07 12:00",
            "amount": 70,
            "member_id": "M3",
        },
    ]
    return wb.connect(make_store({"stores": stores, "members": members, "orders": orders}))


def test_anonymised_store_numbers_stores_by_id_and_hides_members(two_store_db):
    anon = AnonymisedStore(two_store_db)
    assert store_aliases(two_store_db) == {"S1": "Store 01", "S2": "Store 02"}
    stores = anon.stores.to_pandas().sort_values("store_id")
    assert stores["store_id"].tolist() == ["Store 01", "Store 02"]
    assert stores["name"].tolist() == ["Store 01", "Store 02"]  # real names gone
    members = anon.members.to_pandas()
    assert members["phone_hash"].isna().all()
    assert not set(members["member_id"]) & {"M1", "M2", "M3"}
    assert members["member_id"].str.startswith("anon-").all()
    orders = anon.orders.to_pandas()
    # The same pseudonym in every table: M1's two orders still belong to one member, at Store 01.
    m1 = orders[orders["amount"].isin([50, 60])]
    assert m1["member_id"].nunique() == 1 and set(m1["member_id"]) <= set(members["member_id"])
    assert sorted(orders["store_id"]) == ["Store 01", "Store 01", "Store 02"]
    # Analyses run unchanged on it: 2 visiting members, 3 visits in all (M1 twice, M3 once).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lt = wb.member_lifetimes(anon, as_of="2026-01-31", threshold_days=30)
    assert len(lt) == 2 and lt["visits"].sum() == 3
    assert set(lt["home_store_id"]) == {"Store 01", "Store 02"}


def test_suppress_drops_cohorts_smaller_than_k(make_store, store_row):
    # Six members first visit in January 2026, two in February; both cohorts visit again in March.
    members = [{"member_id": f"J{i}", "joined_at": "2026-01-01 10:00"} for i in range(6)]
    members += [{"member_id": f"F{i}", "joined_at": "2026-01-01 10:00"} for i in range(2)]
    orders = [
        {"order_id": f"a{m['member_id']}", "store_id": "S1", "amount": 10, "member_id": m["member_id"],
         "ordered_at": "2026-01-10 12:00" if m["member_id"][0] == "J" else "2026-02-10 12:00"}
        for m in members
    ] + [
        {"order_id": f"b{m['member_id']}", "store_id": "S1", "amount": 10, "member_id": m["member_id"],
         "ordered_at": "2026-03-10 12:00"}
        for m in members
    ]  # fmt: skip
    db = wb.connect(make_store({"stores": [store_row()], "members": members, "orders": orders}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ret = wb.cohort_retention(db, as_of="2026-03-31", period="month")
    assert set(ret.table["cohort_size"]) == {6, 2}
    kept = suppress(ret, k_min=5)
    assert set(kept.table["cohort_size"]) == {6}  # the February cohort of 2 is gone
    # Curve: age 0 pools 6 + 2 = 8 members (kept); age 2 only January's 6 (kept); age 1 pools 6 + 2 = 8.
    assert (kept.curve["members"] >= 5).all()
    assert suppress(ret, k_min=9).table.empty
    with pytest.raises(ParameterError, match="k_min"):
        suppress(ret, k_min=0)


def test_wake_up_counts_pool_small_cities_and_show_no_member():
    # Shanghai 6 overdue members, Beijing 2, Hangzhou 3: with k=5, Beijing and Hangzhou pool into
    # 'other' (5 members, kept). Expected value: Shanghai 6 x 10 = 60; other 2 x 1 + 3 x 2 = 8.
    rows = [("上海", 10.0)] * 6 + [("北京", 1.0)] * 2 + [("杭州", 2.0)] * 3
    df = pd.DataFrame(
        {
            "member_id": [f"M{i}" for i in range(11)],
            "city": [c for c, _ in rows],
            "expected_value": [v for _, v in rows],
            "days_since_last": [20] * 11,
            "overdue_ratio": [2.0] * 11,
        }
    )
    out = wake_up_counts(df, k_min=5)
    assert out["city"].tolist() == ["上海", "other"]
    assert out["overdue_members"].tolist() == [6, 5]
    assert out["expected_value"].tolist() == [60.0, 8.0]
    assert "member_id" not in out.columns
    # With k=6 the pool of 5 is dropped too.
    assert wake_up_counts(df, k_min=6)["city"].tolist() == ["上海"]


def test_excel_headers_follow_the_language(tmp_path):
    frame = pd.DataFrame({"segment": ["all"], "age": [1], "retention": [0.25]})
    frame.to_parquet(tmp_path / "01-retention_curve.parquet")
    for lang, header in (("zh", "留存率"), ("en", "Retention")):
        path = export_tables(
            {"cohorts": [tmp_path / "01-retention_curve.parquet"]}, tmp_path / f"{lang}.xlsx", lang=lang
        )
        sheets = pd.read_excel(path, sheet_name=None)
        assert list(sheets) == ["cohorts.retention_curve"]
        assert header in sheets["cohorts.retention_curve"].columns
        assert sheets["cohorts.retention_curve"].iloc[0, 2] == 0.25


def test_report_weeks_are_complete_weeks_of_the_data(make_store, store_row):
    # Orders from Monday 2026-11-02 to Wednesday 2026-11-18; data_through 2026-11-18 (a Wednesday).
    orders = [
        {"order_id": "o1", "store_id": "S1", "ordered_at": "2026-11-02 12:00", "amount": 10},
        {"order_id": "o2", "store_id": "S1", "ordered_at": "2026-11-18 12:00", "amount": 10},
    ]
    db = wb.connect(make_store({"stores": [store_row()], "orders": orders}, data_through="2026-11-18"))
    # The last complete ISO week ends Sunday 2026-11-15: 2026-W46.
    assert report_week(db, latest=True) == "2026-W46"
    assert report_week(db, week="2026-w45") == "2026-W45"
    with pytest.raises(ParameterError, match="not complete.*2026-W46"):
        report_week(db, week="2026-W47")
    with pytest.raises(ParameterError, match="before the data starts"):
        report_week(db, week="2026-W40")
    with pytest.raises(ParameterError, match="ISO week"):
        report_week(db, week="last week")
    assert report_day(db, week="2026-W46").isoformat() == "2026-11-15"
    assert report_day(db, week="2026-W46", as_of="2026-11-10").isoformat() == "2026-11-10"


def test_campaigns_of_a_week(make_store, store_row):
    # C1 runs 11-02..11-04 with a 7-day outcome window (to 11-11); C2 starts 11-20 (after the week).
    camp = [
        {"campaign_id": "C1", "name": "a", "kind": "coupon", "starts_at": "2026-11-02 00:00",
         "ends_at": "2026-11-04 23:00", "outcome_window_days": 7},
        {"campaign_id": "C2", "name": "b", "kind": "coupon", "starts_at": "2026-11-20 00:00",
         "ends_at": "2026-11-22 23:00", "outcome_window_days": 7},
    ]  # fmt: skip
    orders = [{"order_id": "o1", "store_id": "S1", "ordered_at": "2026-11-01 12:00", "amount": 10}]
    db = wb.connect(
        make_store({"stores": [store_row()], "orders": orders, "campaigns": camp, "assignments": []})
    )
    # W46 = 11-09..11-15 overlaps C1's window (to 11-11): active.
    assert campaigns_for_week(db, as_of="2026-11-15", week="2026-W46") == (["C1"], "active")
    # W47 = 11-16..11-22: C2 starts 11-20, within the week: active.
    assert campaigns_for_week(db, as_of="2026-11-22", week="2026-W47") == (["C2"], "active")
    # W51: nothing active any more; the latest started campaign is shown.
    assert campaigns_for_week(db, as_of="2026-12-20", week="2026-W51") == (["C2"], "latest")
    assert campaigns_for_week(db, as_of="2026-11-22", campaign="C1") == (["C1"], "chosen")
    with pytest.raises(ParameterError, match="C9.*C1, C2"):
        campaigns_for_week(db, as_of="2026-11-22", campaign="C9")
