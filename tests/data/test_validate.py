"""Validation rules on hand-made frames and stores: each rule, its count, its reason, and nothing lost."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pandas as pd
import pytest

from workbench.data import contract
from workbench.data.validate import (
    PROBLEM_COLUMNS,
    contract_schema,
    parse_column,
    validate_frame,
    validate_store,
)

NOW = "2026-11-22 12:00"


def text_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as text, as the readers give them (None for an empty cell)."""
    return pd.DataFrame(rows, dtype=object)


def order(order_id: str, amount="10", ordered_at="2026-01-01 12:00", store_id="S1", **more) -> dict:
    """An orders row as text."""
    return {"order_id": order_id, "store_id": store_id, "ordered_at": ordered_at, "amount": amount, **more}


def parsed(table: str, column: str, values: list, **kwargs) -> tuple[list, list]:
    out, failed = parse_column(
        pd.Series(values, dtype=object), contract.table(table).column(column), **kwargs
    )
    return [None if pd.isna(v) else v for v in out], list(failed)


def problems_by(result, *keys) -> dict:
    return {tuple(r[k] for k in keys): r["rows"] for _, r in result.problems.iterrows()}


def assert_every_row_accounted(df, result) -> None:
    assert len(result.good) + result.quarantine["source_row"].nunique() == len(df)
    assert set(result.good.index).isdisjoint(set(result.quarantine["source_row"]))


# -- converting text ------------------------------------------------------------------------------------


def test_money_reads_yuan_signs_thousands_and_accountants_negatives_exactly():
    values = ["¥1,234.50", "1234.5元", "￥88", "(12.00)", " 7 ", "RMB 3.2", "12.345", "abc", None]
    out, failed = parsed("orders", "amount", values)
    assert out[:6] == [Decimal("1234.50"), Decimal("1234.50"), Decimal("88.00"), Decimal("-12.00"),
                       Decimal("7.00"), Decimal("3.20")]  # fmt: skip
    assert all(isinstance(v, Decimal) for v in out[:6])
    assert failed == [False] * 6 + [True, True, False]  # 3 decimals are not rounded silently; None is empty


def test_timestamps_accept_common_layouts_and_reject_impossible_ones():
    values = ["2026-01-01 23:30", "2026/1/1 23:30:15", "2026年1月1日 23时30分", "2026-01-01T15:30:00Z",
              "2026-01-01 23:30:00+08:00", "2026-01-01", "2026-02-30 10:00", "01/02/2026", None]  # fmt: skip
    out, failed = parsed("orders", "ordered_at", values, timezone="Asia/Shanghai")
    utc = dt.UTC
    assert out[:6] == [
        pd.Timestamp(2026, 1, 1, 15, 30, tz=utc),
        pd.Timestamp(2026, 1, 1, 15, 30, 15, tz=utc),
        pd.Timestamp(2026, 1, 1, 15, 30, tz=utc),
        pd.Timestamp(2026, 1, 1, 15, 30, tz=utc),
        pd.Timestamp(2026, 1, 1, 15, 30, tz=utc),
        pd.Timestamp(2025, 12, 31, 16, 0, tz=utc),  # midnight in Shanghai
    ]
    assert failed == [False] * 6 + [True, True, False]


def test_timestamps_follow_an_explicit_format_and_zone():
    out, failed = parsed("orders", "ordered_at", ["01/02/2026 08:00", "2026-02-01 08:00"],
                         timezone="Europe/London", fmt="%d/%m/%Y %H:%M")  # fmt: skip
    assert out[0] == pd.Timestamp(2026, 2, 1, 8, 0, tz=dt.UTC)  # London is on UTC in February
    assert failed == [False, True]


def test_dates_month_days_shares_and_whole_numbers():
    assert parsed(
        "stores",
        "opened_on",
        ["2026-01-31", "2026/1/31", "2026年1月31日", "2026-01-31 00:00:00", "2026-01-31 10:00", "2026-02-30"],
    ) == (  # fmt: skip
        [dt.date(2026, 1, 31)] * 4 + [None, None],
        [False] * 4 + [True, True],
    )
    assert parsed(
        "members", "birthday_md", ["1990-03-15", "3月5日", "02-29", "12/01", "02-30", "spring"]
    ) == (
        ["03-15", "03-05", "02-29", "12-01", None, None],
        [False] * 4 + [True, True],
    )
    assert parsed("campaigns", "holdout_share", ["10%", "0.25", "1.5", "half"]) == (
        [0.1, 0.25, 1.5, None],
        [False, False, False, True],
    )
    assert parsed("campaigns", "outcome_window_days", ["30", "30天", "30.0", "3.5"]) == (
        [30, 30, 30, None],
        [False, False, False, True],
    )


def test_categories_ignore_case_and_spacing_but_keep_unknown_values():
    out, failed = parsed("orders", "channel", ["Dine In", "TAKEOUT_PLATFORM", "mini-program", "堂食", " "])
    assert out == ["dine_in", "takeout_platform", "mini_program", "堂食", None]
    assert failed == [False] * 5


# -- validate_frame -------------------------------------------------------------------------------------


def test_each_failing_row_is_quarantined_once_with_all_its_reasons():
    df = text_frame(
        [
            order("O1", channel="dine_in"),
            order("O2", amount=None, channel="dine_in"),
            order("O3", amount="abc", channel="x"),
            order("O4", amount="-1", ordered_at="2027-01-01 12:00", channel=None),
        ]
    )
    result = validate_frame("orders", df, source_file="orders.csv", now=NOW)

    assert list(result.good.index) == [1]
    assert result.good.loc[1, "amount"] == Decimal("10.00")
    assert problems_by(result, "column", "rule") == {
        ("amount", "missing_value"): 1,
        ("amount", "unparseable"): 1,  # not also reported as missing
        ("channel", "not_allowed"): 1,
        ("ordered_at", "future"): 1,
        ("amount", "negative"): 1,
    }
    q = result.quarantine.set_index("source_row")
    assert q.loc[3, "rule"] == "unparseable,not_allowed"
    future = "ordered_at 2027-01-01 12:00:00 is in the future (after 2026-11-22 12:00:00)"
    assert q.loc[4, "reason"] == f"{future}; amount is negative (-1.00)"
    assert json.loads(q.loc[3, "record"]) == {"order_id": "O3", "store_id": "S1", "ordered_at": "2026-01-01 12:00",
                                              "amount": "abc", "channel": "x"}  # fmt: skip
    assert list(result.problems.columns) == PROBLEM_COLUMNS
    assert_every_row_accounted(df, result)


def test_examples_name_at_most_three_rows_with_their_keys():
    df = text_frame([{"order_id": f"O{i}", "store_id": "S1", "ordered_at": "2026-01-01", "amount": "-1"}
                     for i in range(1, 6)])  # fmt: skip
    result = validate_frame("orders", df, source_file="orders.csv", now=NOW)
    problem = result.problems.iloc[0]
    assert problem["rows"] == 5
    assert (
        problem["examples"]
        == "row 1 (order_id=O1): -1.00; row 2 (order_id=O2): -1.00; row 3 (order_id=O3): -1.00"
    )


def test_missing_required_column_rejects_every_row():
    df = text_frame([{"order_id": "O1", "store_id": "S1", "ordered_at": "2026-01-01"}])
    result = validate_frame("orders", df, source_file="orders.csv", now=NOW)
    assert result.good.empty and result.quarantine.empty
    assert problems_by(result, "column", "rule") == {("amount", "missing_column"): 1}


def test_orphans_are_checked_against_given_keys_and_a_table_against_itself():
    df = text_frame(
        [
            {"member_id": "M1", "joined_at": "2026-01-01", "join_store_id": "S1", "referrer_id": None},
            {"member_id": "M2", "joined_at": "2026-01-01", "join_store_id": "S9", "referrer_id": "M1"},
            {"member_id": "M3", "joined_at": "2026-01-01", "join_store_id": None, "referrer_id": "M7"},
        ]
    )
    result = validate_frame(
        "members", df, source_file="m.csv", now=NOW, reference_keys={"stores.store_id": {"S1"}}
    )
    assert problems_by(result, "column", "rule") == {
        ("join_store_id", "orphan"): 1,
        ("referrer_id", "orphan"): 1,
    }
    assert list(result.good.index) == [1]
    with_old_members = validate_frame("members", df, source_file="m.csv", now=NOW,
                                      reference_keys={"members.member_id": {"M7"}})  # fmt: skip
    assert with_old_members.problems.empty  # M7 is in the store; stores.store_id is not checked


def test_cross_column_row_rules_and_campaigns_planned_ahead():
    campaigns = text_frame(
        [
            {"campaign_id": "C1", "name": "春节", "kind": "coupon", "starts_at": "2026-02-01", "ends_at": "2026-01-01"},
            {"campaign_id": "C2", "name": "双十二", "kind": "coupon", "starts_at": "2026-12-01", "ends_at": "2026-12-31",
             "holdout_share": "1.5"},
            {"campaign_id": "C3", "name": "会员日", "kind": "coupon", "starts_at": "2026-11-01", "ends_at": "2027-01-01",
             "holdout_share": "10%"},
        ]
    )  # fmt: skip
    result = validate_frame("campaigns", campaigns, source_file="c.csv", now=NOW)
    assert problems_by(result, "column", "rule") == {("ends_at", "ends_after_start"): 1,
                                                     ("holdout_share", "out_of_range"): 1}  # fmt: skip
    assert list(result.good.index) == [3] and result.good.loc[3, "holdout_share"] == 0.1

    spells = text_frame(
        [{"group_id": "G1", "member_id": "M1", "joined_at": "2026-03-01", "left_at": "2026-02-01"}]
    )
    assert problems_by(validate_frame("group_members", spells, source_file="g.csv", now=NOW), "rule") == {
        ("left_after_joined",): 1
    }
    touches = text_frame(
        [
            {"touch_id": "T1", "sent_at": "2026-03-01", "medium": "sms", "member_id": "M1"},
            {"touch_id": "T2", "sent_at": "2026-03-01", "medium": "group", "member_id": None},
            {"touch_id": "T3", "sent_at": "2026-03-01", "medium": "email", "member_id": "M1"},
        ]
    )
    result = validate_frame("touches", touches, source_file="t.csv", now=NOW)
    assert problems_by(result, "column", "rule") == {
        ("member_id", "member_or_group"): 1,
        ("medium", "not_allowed"): 1,
    }
    assert_every_row_accounted(touches, result)


def test_duplicates_compare_parsed_values_not_text():
    df = text_frame(
        [
            {"order_id": "O1", "store_id": "S1", "ordered_at": "2026-01-01 12:00", "amount": "10"},
            {"order_id": "O1", "store_id": "S1", "ordered_at": "2026/01/01 12:00:00", "amount": "10.00"},
        ]
    )
    result = validate_frame("orders", df, source_file="o.csv", now=NOW)
    assert problems_by(result, "rule") == {("duplicate_row",): 1}
    assert list(result.good.index) == [1]


def test_contract_schema_is_a_pandera_schema_for_typed_rows():
    schema = contract_schema("orders", now=pd.Timestamp(NOW, tz="UTC"))
    good = pd.DataFrame({"order_id": ["O1"], "store_id": ["S1"], "ordered_at": [pd.Timestamp("2026-01-01", tz="UTC")],
                         "amount": [Decimal("1.00")]})  # fmt: skip
    schema.validate(good)
    with pytest.raises(Exception, match="negative"):
        schema.validate(good.assign(amount=[Decimal("-1.00")]))


# -- validate_store -------------------------------------------------------------------------------------


def test_validate_store_reports_every_problem_without_changing_the_store(make_store, store_row):
    path = make_store(
        {
            "stores": [store_row()],
            "members": [{"member_id": "M1", "joined_at": "2026-01-01 10:00"}],
            "orders": [
                order("O1", amount=10, member_id="M1"),
                order("O2", amount=-5, member_id="M9"),
                order("O3", amount=7, store_id="S2", ordered_at="2026-01-03 12:00"),
                order("O3", amount=8, ordered_at="2026-01-03 12:00"),
            ],
        }
    )
    before = path.read_bytes()
    report = validate_store(path, now=NOW)
    assert not report.ok
    assert problems_by(report, "table", "column", "rule") == {
        ("orders", "amount", "negative"): 1,
        ("orders", "member_id", "orphan"): 1,
        ("orders", "store_id", "orphan"): 1,
        ("orders", "order_id", "duplicate_key"): 2,
    }
    assert report.tables.set_index("table")["rows"].to_dict()["orders"] == 4
    text = report.format()
    assert "[orphan]" in text and "M9" in text
    assert path.read_bytes() == before


def test_validate_store_of_a_clean_store_is_ok_and_names_missing_required_tables(make_store, store_row):
    clean = make_store({"stores": [store_row()], "members": [{"member_id": "M1", "joined_at": "2026-01-01"}],
                        "orders": [{"order_id": "O1", "store_id": "S1", "ordered_at": "2026-01-02", "amount": 1}]})  # fmt: skip
    assert validate_store(clean, now=NOW).ok
    no_orders = make_store(
        {"stores": [store_row()], "members": [{"member_id": "M1", "joined_at": "2026-01-01"}]}
    )
    report = validate_store(no_orders, now=NOW)
    assert problems_by(report, "table", "rule") == {("orders", "missing_table"): 0}
    assert "no orders rows" in report.format()
