"""Mapping files (checked before any row is read), applying them, and the privacy helpers they rely on."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.data import privacy
from workbench.data.mapping import apply_mapping, load_mapping, parse_mapping, table_from_file_name
from workbench.errors import MappingError


def frame(columns: dict[str, list]) -> pd.DataFrame:
    out = pd.DataFrame(columns, dtype=object)
    out.index = pd.RangeIndex(1, len(out) + 1)
    return out


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"tables": {"orders": {"colums": {}}}},
            r"tables.orders has unknown key\(s\) colums; expected some of: file",
        ),
        ({"tabels": {}}, r"top level has unknown key\(s\) tabels"),
        (
            {"tables": {"order": {}}},
            r"names the table 'order', which is not in the contract; expected one of: stores",
        ),
        (
            {"tables": {"orders": {"columns": {"金额": "amt"}}}},
            r"'金额' is mapped to 'amt', which orders does not have",
        ),
        (
            {"tables": {"orders": {"columns": {"a": "amount", "b": "amount"}}}},
            r"both 'a' and 'b' are mapped to amount",
        ),
        (
            {"tables": {"orders": {"values": {"channel": {"堂食": "dinein"}}}}},
            r"maps '堂食' to 'dinein', which is not allowed; expected one of: dine_in",
        ),
        ({"tables": {"orders": {"values": {"渠道": {"堂食": "dine_in"}}}}}, r"values are given for '渠道'"),
        ({"tables": {"orders": {"phone": "手机"}}}, r"only members keeps a phone_hash"),
        (
            {"tables": {"members": {"columns": {"手机": "member_id"}, "phone": "手机"}}},
            r"both the phone column",
        ),
        ({"timezone": "Beijing", "tables": {"orders": {}}}, r"timezone 'Beijing' is not an IANA time zone"),
        ({"tables": {}}, r"no tables are mapped"),
        ({"files": [{"file": "x.csv"}]}, r"files entry 1 must be a mapping naming its 'table'"),
    ],
)
def test_a_malformed_mapping_is_refused_with_the_valid_choices(raw, message):
    with pytest.raises(MappingError, match=message) as caught:
        parse_mapping(raw, origin="client.yaml")
    assert str(caught.value).startswith("client.yaml")


def test_mapping_file_yaml_errors_name_the_line(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text("tables:\n  orders:\n    columns: {订单号: order_id\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"client.yaml is not valid YAML at line"):
        load_mapping(path)
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "nope.yaml")


def test_entries_are_found_by_file_pattern_or_table():
    mapping = parse_mapping(
        {
            "tables": {"orders": {"file": ["orders*.csv", "订单*.xlsx"]}, "stores": {}},
            "files": [{"table": "members", "file": "会员导出*.csv"}],
        },
        origin="m.yaml",
    )
    assert mapping.entry_for("Orders_2026-11.CSV").table == "orders"
    assert mapping.entry_for("订单 11月.xlsx").table == "orders"
    assert mapping.entry_for("会员导出2026.csv").table == "members"
    assert mapping.entry_for("export.duckdb", table="stores").table == "stores"  # no pattern: by table
    assert mapping.entry_for("anything.csv") is None


def test_overlapping_patterns_are_refused():
    mapping = parse_mapping(
        {"tables": {"orders": {"file": "*.csv"}, "members": {"file": "m*.csv"}}}, origin="m.yaml"
    )
    with pytest.raises(MappingError, match="matches several entries"):
        mapping.entry_for("members.csv")


@pytest.mark.parametrize(
    ("name", "table"),
    [("orders.csv", "orders"), ("Orders_2026-11.xlsx", "orders"), ("group_members.parquet", "group_members"),
     ("groups.csv", "groups"), ("ordersheet.csv", None), ("export.csv", None)],
)  # fmt: skip
def test_files_named_after_a_table_need_no_mapping(name, table):
    assert table_from_file_name(name) == table


def test_apply_mapping_renames_translates_hashes_and_drops_personal_columns():
    mapping = parse_mapping(
        {"tables": {"members": {
            "columns": {"会员卡号": "member_id", "注册时间": "joined_at", "注册渠道": "join_channel"},
            "values": {"join_channel": {"门店扫码": "store_qr"}},
            "phone": "手机号", "pii": ["备注"],
        }}},
        origin="m.yaml",
    )  # fmt: skip
    raw = frame({"会员卡号": ["M1"], "会员姓名": ["张三"], "手机号": ["13800138000"], "注册时间": ["2026-01-01"],
                 "注册渠道": ["门店扫码"], "备注": ["爱吃辣"], "积分": ["120"], "link_mode": ["none"]})  # fmt: skip
    out = apply_mapping(raw, table="members", entry=mapping.entry_for("x", table="members"), file_label="m.csv",
                        salt="s")  # fmt: skip
    assert list(out.frame.columns) == ["member_id", "joined_at", "join_channel", "link_mode", "phone_hash"]
    assert out.frame.iloc[0].to_dict() == {"member_id": "M1", "joined_at": "2026-01-01", "join_channel": "store_qr",
                                           "link_mode": "none", "phone_hash": privacy.hash_phone("13800138000", "s")}  # fmt: skip
    assert out.hashed == "手机号"
    assert set(out.dropped) == {"手机号", "会员姓名", "备注"}
    assert out.ignored == ["积分"]


def test_apply_mapping_names_the_missing_column_and_the_columns_the_file_has():
    mapping = parse_mapping({"tables": {"orders": {"columns": {"单号": "order_id"}}}}, origin="client.yaml")
    raw = frame({"订单号": ["O1"], "金额": ["1"]})
    with pytest.raises(MappingError) as caught:
        apply_mapping(raw, table="orders", entry=mapping.entries[0], file_label="orders.csv", salt="s")
    assert str(caught.value).startswith(
        "client.yaml: table orders, the column(s) 单号 are not in orders.csv, which has: 订单号, 金额."
    )


def test_a_members_file_without_mapping_has_its_phone_column_found_and_hashed():
    raw = frame(
        {"member_id": ["M1"], "joined_at": ["2026-01-01"], "mobile": ["138 0013 8000"], "name": ["Li"]}
    )
    out = apply_mapping(raw, table="members", entry=None, file_label="members.csv", salt="s")
    assert list(out.frame.columns) == ["member_id", "joined_at", "phone_hash"]
    assert out.frame.at[1, "phone_hash"] == privacy.hash_phone("13800138000", "s")


def test_a_raw_phone_mapped_straight_to_phone_hash_is_hashed_not_stored():
    raw = frame(
        {"member_id": ["M1", "M2"], "joined_at": ["2026-01-01"] * 2, "phone_hash": ["13800138000", "a" * 64]}
    )
    out = apply_mapping(raw, table="members", entry=None, file_label="members.csv", salt="s")
    assert list(out.frame["phone_hash"]) == [privacy.hash_phone("13800138000", "s"), "a" * 64]


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "+86 138-0013-8000",
        "0086 13800138000",
        "86 13800138000",
        "13800138000.0",
        "１３８００１３８０００",
    ],
)
def test_phone_numbers_normalise_to_the_same_digits(value):
    assert privacy.normalise_phone(value) == "13800138000"


def test_hashes_depend_on_the_salt_and_empty_phones_stay_empty():
    assert privacy.hash_phone("13800138000", "a") != privacy.hash_phone("13800138000", "b")
    assert len(privacy.hash_phone("13800138000", "a")) == 64
    assert privacy.hash_phone("  ", "a") is None and privacy.hash_phone(None, "a") is None


@pytest.mark.parametrize(
    ("column", "personal"),
    [("姓名", True), ("会员姓名", True), ("联系电话", True), ("手机号", True), ("name", True), ("member_name", True),
     ("mobileNo", True), ("Tel", True), ("email", True), ("channel", False), ("hotel", False), ("门店名称", False),
     ("renamed", False), ("金额", False)],
)  # fmt: skip
def test_personal_columns_are_recognised_by_name(column, personal):
    assert privacy.looks_personal(column) is personal
