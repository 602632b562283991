"""Fixtures shared by every test folder.

``make_store`` writes a real DuckDB store from hand-typed rows, so an analysis can be checked on a case
small enough to work out on paper. Timestamps are written as local Beijing times ('2026-01-05 12:00')
unless they carry an offset; missing optional columns are null.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

import workbench as wb
from workbench.config import Settings
from workbench.data import contract
from workbench.data.store import open_for_write, set_meta


def write_store(path, tables: dict[str, list[dict]], *, timezone="Asia/Shanghai", data_through=None):
    """Write ``tables`` ({table: [row dicts]}) into a new DuckDB store at ``path`` and return the path."""
    con = open_for_write(path, settings=Settings(timezone=timezone))
    for name, rows in tables.items():
        spec = contract.table(name)
        frame = pd.DataFrame(rows, columns=spec.column_names)
        for column in spec.columns:
            if column.type == "timestamp":
                values = pd.to_datetime(frame[column.name])
                if values.dt.tz is None:
                    values = values.dt.tz_localize(timezone)
                frame[column.name] = values.dt.tz_convert("UTC")
            elif column.type == "date":
                frame[column.name] = pd.to_datetime(frame[column.name]).dt.date
            elif column.type == "decimal":
                frame[column.name] = frame[column.name].map(lambda v: None if pd.isna(v) else f"{v:.2f}")
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        con.register("incoming", arrow)
        casts = ", ".join(f'CAST("{c.name}" AS {c.duckdb_type}) AS "{c.name}"' for c in spec.columns)
        con.execute(f'INSERT INTO "{name}" SELECT {casts} FROM incoming')
        con.unregister("incoming")
    if data_through:
        set_meta(con, data_through=data_through)
    con.close()
    return path


@pytest.fixture
def make_store(tmp_path):
    """make_store(tables, timezone=..., data_through=...) -> path of a new DuckDB store in tmp_path."""
    counter = iter(range(10_000))

    def _make(tables, **kwargs):
        return write_store(tmp_path / f"store{next(counter)}.duckdb", tables, **kwargs)

    return _make


def one_store(**overrides) -> dict:
    """A stores row for hand-made cases."""
    row = {"store_id": "S1", "name": "上海人民广场店", "city": "上海", "format": "direct", "cuisine": "火锅"}
    row.update(overrides)
    return row


@pytest.fixture
def store_row():
    return one_store


# -- hand-sized campaigns (lift analyses and figures) ------------------------------------------------


def order(oid, member, when, amount, discount=None, coupon=None):
    return {
        "order_id": oid,
        "store_id": "S1",
        "ordered_at": when,
        "amount": amount,
        "member_id": member,
        "discount": discount,
        "coupon_id": coupon,
    }


@pytest.fixture
def campaign_db(make_store, store_row):
    """Campaign C1 of tests/analyses/test_lift_outcomes.py's docstring (randomised, 4 + 4 members)."""
    members = [
        {"member_id": m, "joined_at": "2025-10-01 12:00"}
        for m in ["T1", "T2", "T3", "T4", "K1", "K2", "K3", "K4"]
    ]
    assignments = [
        {
            "campaign_id": "C1",
            "member_id": m,
            "arm": "treatment" if m[0] == "T" else "control",
            "assigned_at": "2026-03-02 10:00",
        }
        for m in [r["member_id"] for r in members]
    ]
    coupons = [
        {
            "coupon_id": f"CP{m}",
            "campaign_id": "C1",
            "member_id": m,
            "issued_at": "2026-03-02 10:00",
            "face_value": 20,
        }
        for m in ["T1", "T2", "T3", "T4"]
    ]
    coupons[0] |= {"redeemed_at": "2026-03-03 12:00", "order_id": "w1"}
    coupons[1] |= {"redeemed_at": "2026-03-15 23:30", "order_id": "w3"}
    orders = [
        order("p1", "T1", "2026-01-10 12:00", 100),
        order("p2", "T1", "2026-02-10 12:00", 50),
        order("p3", "T3", "2026-02-20 12:00", 30),
        order("p4", "K1", "2026-02-01 12:00", 90),
        order("p5", "K3", "2026-01-05 12:00", 20),
        order("p6", "K3", "2026-01-06 12:00", 20),
        order("p7", "K3", "2026-01-07 12:00", 20),
        order("p8", "K4", "2026-03-01 23:59", 35),
        order("w1", "T1", "2026-03-03 12:00", 80, 20, "CPT1"),
        order("w2", "T1", "2026-03-10 12:00", 60),
        order("w3", "T2", "2026-03-15 23:30", 40, 20, "CPT2"),
        order("w4", "T3", "2026-03-16 00:10", 55),
        order("w5", "K1", "2026-03-05 12:00", 100),
    ]
    campaigns = [
        {
            "campaign_id": "C1",
            "name": "三月回流券",
            "kind": "coupon",
            "starts_at": "2026-03-02 00:00",
            "ends_at": "2026-03-08 23:59",
            "holdout_share": 0.5,
            "coupon_value": 20,
            "outcome_window_days": 14,
        }
    ]
    path = make_store(
        {
            "stores": [store_row()],
            "members": members,
            "orders": orders,
            "campaigns": campaigns,
            "assignments": assignments,
            "coupons": coupons,
        },
        data_through="2026-03-31",
    )
    return wb.connect(path)


@pytest.fixture
def observational_db(make_store, store_row):
    """Campaign C2 without a holdout: A1, A2 treated; B1, B2 not in the campaign. All have no visits in the
    90 days before 2 March except as listed, so all four sit in the pre-visit stratum '0-0'.

      A1: window (2-15 Mar) 2 visits of 50         A2: window 1 visit of 50
      B1: window 1 visit of 50                      B2: none
    Before/after differences d = window - the 14 days before: A 2, 1 (mean 1.5); B 1, 0 (mean 0.5).
    """
    members = [{"member_id": m, "joined_at": "2025-06-01 12:00"} for m in ["A1", "A2", "B1", "B2"]]
    orders = [
        order("a1", "A1", "2026-03-03 12:00", 50), order("a2", "A1", "2026-03-09 12:00", 50),
        order("a3", "A2", "2026-03-04 12:00", 50), order("b1", "B1", "2026-03-05 12:00", 50),
        order("old", "B2", "2025-06-01 12:00", 10),
    ]  # fmt: skip
    campaigns = [{"campaign_id": "C2", "name": "全员折扣日", "kind": "coupon", "starts_at": "2026-03-02 00:00",
                  "ends_at": "2026-03-02 23:59", "holdout_share": 0.0, "coupon_value": 10,
                  "outcome_window_days": 14}]  # fmt: skip
    assignments = [{"campaign_id": "C2", "member_id": m, "arm": "treatment", "assigned_at": "2026-03-02 09:00"}
                   for m in ["A1", "A2"]]  # fmt: skip
    path = make_store({"stores": [store_row()], "members": members, "orders": orders, "campaigns": campaigns,
                       "assignments": assignments}, data_through="2026-03-31")  # fmt: skip
    return wb.connect(path)


@pytest.fixture
def order_row():
    """order_row(order_id, member_id, local time, amount, discount=None, coupon=None) -> an orders row."""
    return order


# Debian's Chromium for the browser tests (Playwright cannot download its own here) and its flags.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def offline_tab(browser):
    """A new tab of ``browser`` that refuses every request but to the disk, with lists that collect what it
    tried to fetch and the errors of the page and its console: returns (tab, fetched, errors)."""
    tab = browser.new_page()
    fetched, errors = [], []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))

    def refuse_network(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            fetched.append(url)
            route.abort()

    tab.route("**/*", refuse_network)
    return tab, fetched, errors
