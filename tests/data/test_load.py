"""Loading client files: encodings, Excel title rows, mapping, privacy, quarantine, idempotence, accounting.

Every test loads real files into a real DuckDB store in tmp_path and checks counts worked out by hand,
then holds the load to the row accounting (read = loaded + already present + quarantined).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from workbench.data import privacy
from workbench.data.load import load_files
from workbench.errors import InputFileError, MappingError, WorkbenchError

NOW = "2026-11-22 12:00"  # 'now' of every load here: later timestamps are in the future
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"

ORDERS_HEAD = "order_id,store_id,ordered_at,amount\n"
STORES_CSV = "store_id,name,city\nS1,人民广场店,上海\nS2,徐家汇店,上海\n"


def rows(path, sql):
    """Query a store with timestamps shown in UTC."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def everything_in(path) -> str:
    """Every value of every table of a store (contract tables, quarantine, log, meta) as one text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(con.execute(f'SELECT * FROM "{n}"').fetchdf().to_csv() for n in names)
    finally:
        con.close()


# -- encodings, mapping, Excel --------------------------------------------------------------------------


def test_gbk_csv_with_chinese_headers_and_value_mapping_loads(
    client_files, store_path, store_counts, no_row_lost
):
    files = [client_files.orders, client_files.members, client_files.stores]  # orders first on purpose
    summary = load_files(files, into=store_path, mapping=client_files.mapping, now=NOW)

    assert summary.ok, summary.format()
    by_table = summary.files.set_index("table")
    assert by_table.loc["orders", "encoding"] == "GB18030 (GBK)"
    assert by_table.loc["members", "encoding"] == "UTF-8 with BOM"
    assert by_table.loc["stores", "encoding"] == "UTF-8"
    assert list(summary.files["table"]) == ["stores", "members", "orders"]  # dependency order
    assert store_counts(store_path) == {"stores": 2, "members": 3, "orders": 4, "quarantine": 0}
    assert rows(store_path, "SELECT order_id, channel, amount FROM orders ORDER BY order_id") == [
        ("O1", "dine_in", Decimal("1234.50")),
        ("O2", "takeout_platform", Decimal("88.00")),
        ("O3", "mini_program", Decimal("66.00")),
        ("O4", "pickup", Decimal("120.00")),
    ]
    assert rows(store_path, "SELECT member_id, join_channel FROM members ORDER BY 1") == [
        ("M1", "store_qr"),
        ("M2", "mini_program"),
        ("M3", "takeout_card"),
    ]
    no_row_lost(summary, store_path, {})


def test_naive_time_is_local_chain_time_and_offsets_are_converted(tmp_path, store_path, write_text):
    orders = write_text(
        tmp_path / "orders.csv",
        ORDERS_HEAD
        + "O1,S1,2026-01-01 23:30,10\nO2,S1,2026-01-01T23:30:00+09:00,10\nO3,S1,2026-01-01 15:30Z,10\n",
    )
    load_files(orders, into=store_path, now=NOW)
    assert rows(store_path, "SELECT order_id, ordered_at FROM orders ORDER BY 1") == [
        ("O1", dt.datetime(2026, 1, 1, 15, 30, tzinfo=dt.UTC)),  # 23:30 in Shanghai (UTC+8)
        ("O2", dt.datetime(2026, 1, 1, 14, 30, tzinfo=dt.UTC)),  # 23:30 in Tokyo (UTC+9)
        ("O3", dt.datetime(2026, 1, 1, 15, 30, tzinfo=dt.UTC)),
    ]


def test_utf8_bom_csv_reads_its_first_column(tmp_path, store_path, client_files, write_text, store_counts):
    members = write_text(tmp_path / "members.csv", client_files.members_csv, "utf-8-sig")
    summary = load_files(members, into=store_path, now=NOW)
    assert summary.ok, summary.format()
    assert summary.results[0].encoding == "UTF-8 with BOM"
    assert store_counts(store_path)["members"] == 3
    assert rows(store_path, "SELECT min(member_id) FROM members") == [("M1",)]


def test_csv_title_line_and_utf16_tab_separated_export(tmp_path, store_path, write_text, store_counts):
    titled = write_text(tmp_path / "stores.csv", "XX餐饮 门店列表 2026-11\n\n" + STORES_CSV, "gbk")
    utf16 = write_text(tmp_path / "members.txt", "member_id\tjoined_at\nM1\t2026-01-01 10:00\n", "utf-16")
    summary = load_files([titled, utf16], into=store_path, now=NOW)
    assert summary.ok, summary.format()
    assert list(summary.files["encoding"]) == ["GB18030 (GBK)", "UTF-16"]
    assert store_counts(store_path) == {"stores": 2, "members": 1, "quarantine": 0}


def test_excel_title_row_above_the_header_is_skipped(tmp_path, store_path, write_excel, no_row_lost):
    stores = write_excel(
        tmp_path / "stores.xlsx",
        ["store_id", "name", "city", "opened_on"],
        [["S1", "人民广场店", "上海", dt.datetime(2024, 1, 20)], ["S2", "西湖店", "杭州", None]],
        title="XX餐饮 门店列表 2026-11",
    )
    summary = load_files(stores, into=store_path, now=NOW)
    assert summary.ok, summary.format()
    assert summary.results[0].rows_loaded == 2
    assert "header on row 3" in summary.format()  # title on row 1, a blank row 2
    assert rows(store_path, "SELECT store_id, opened_on FROM stores ORDER BY 1") == [
        ("S1", dt.date(2024, 1, 20)),
        ("S2", None),
    ]
    no_row_lost(summary, store_path, {})


def test_excel_members_with_chinese_headers_numeric_phones_and_title_row(tmp_path, store_path, write_excel):
    members = write_excel(
        tmp_path / "会员导出.xlsx",
        ["会员卡号", "会员姓名", "手机号", "注册时间"],
        [
            ["M1", "张三", 13800138000, dt.datetime(2026, 1, 1, 23, 30)],
            ["M2", "李四", 13900139000, dt.datetime(2026, 1, 2, 9, 0)],
        ],
        title="XX餐饮 会员导出 2026-11",
        blank_rows=0,
    )
    mapping = {
        "tables": {
            "members": {
                "file": "会员*.xlsx",
                "columns": {"会员卡号": "member_id", "注册时间": "joined_at"},
                "phone": "手机号",
            }
        }
    }
    summary = load_files(members, into=store_path, mapping=mapping, now=NOW)
    assert summary.ok, summary.format()
    salt = privacy.store_salt(store_path)
    assert rows(store_path, "SELECT member_id, joined_at, phone_hash FROM members ORDER BY 1") == [
        ("M1", dt.datetime(2026, 1, 1, 15, 30, tzinfo=dt.UTC), privacy.hash_phone("13800138000", salt)),
        ("M2", dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC), privacy.hash_phone("13900139000", salt)),
    ]


def test_parquet_and_duckdb_files_load(tmp_path, store_path, store_counts):
    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "store_id": ["S1", "S1"],
            "ordered_at": pd.to_datetime(["2026-01-01 15:30", "2026-01-02 04:00"]).tz_localize("UTC"),
            "amount": [Decimal("10.50"), Decimal("20.00")],
        }
    )
    orders.to_parquet(tmp_path / "orders.parquet")
    source = tmp_path / "export.duckdb"
    con = duckdb.connect(str(source))
    con.execute("CREATE TABLE stores AS SELECT 'S1' AS store_id, '人民广场店' AS name, '上海' AS city")
    con.execute("CREATE TABLE notes AS SELECT 1 AS x")  # not a contract table: ignored
    con.close()

    summary = load_files([tmp_path / "orders.parquet", source], into=store_path, now=NOW)

    assert summary.ok, summary.format()
    assert list(summary.files["file"]) == ["export.duckdb:stores", "orders.parquet"]
    assert store_counts(store_path) == {"stores": 1, "orders": 2, "quarantine": 0}
    assert rows(store_path, "SELECT ordered_at, amount FROM orders WHERE order_id = 'O1'") == [
        (dt.datetime(2026, 1, 1, 15, 30, tzinfo=dt.UTC), Decimal("10.50"))
    ]


def test_samples_of_the_readme_quick_tour_load(tmp_path, store_counts, no_row_lost):
    store = tmp_path / "client.duckdb"
    files = [SAMPLES / "stores.xlsx", SAMPLES / "members.csv", SAMPLES / "orders.csv"]
    summary = load_files(files, into=store, mapping=SAMPLES / "client.yaml", now=NOW)
    # 4 stores, 12 members, 31 order lines of which one refund exported as -58.00 is quarantined.
    assert store_counts(store) == {"stores": 4, "members": 12, "orders": 30, "quarantine": 1}
    assert list(summary.problems["rule"]) == ["negative"]
    assert rows(store, "SELECT count(*) FROM members WHERE phone_hash IS NULL") == [(0,)]
    no_row_lost(summary, store, {})


# -- privacy -----------------------------------------------------------------------------------------------


def test_phones_and_names_never_reach_the_store_the_quarantine_or_the_summary(client_files, store_path):
    bad_member = "M4,赵六,13600136000,not a date,门店扫码\n"  # quarantined: its record must hold no phone
    client_files.members.write_bytes(client_files.members.read_bytes() + bad_member.encode("utf-8"))
    files = [client_files.stores, client_files.members, client_files.orders]

    summary = load_files(files, into=store_path, mapping=client_files.mapping, now=NOW)

    assert summary.results[1].rows_quarantined == 1
    secrets = (*client_files.phones, *client_files.names, "13600136000", "赵六")
    stored = everything_in(store_path)
    printed = summary.format() + summary.problems.to_csv() + summary.files.to_csv()
    raw_bytes = store_path.read_bytes()
    for secret in secrets:
        assert secret not in stored
        assert secret not in printed
        assert secret.encode("utf-8") not in raw_bytes
    record = json.loads(rows(store_path, "SELECT record FROM _quarantine")[0][0])
    assert set(record) == {"member_id", "joined_at", "join_channel", "phone_hash"}
    assert record["phone_hash"] == privacy.hash_phone("13600136000", privacy.store_salt(store_path))


def test_salt_file_is_private_beside_the_store_and_gives_the_same_hash_every_load(
    client_files, store_path, tmp_path
):
    load_files(client_files.members, into=store_path, mapping=client_files.mapping, now=NOW)
    salt_file = tmp_path / "client.duckdb.salt"
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600
    salt = salt_file.read_text().strip()
    assert salt not in everything_in(store_path)
    # '+86 139-0013-9000' is normalised before hashing, so it matches the plain number.
    expected = privacy.hash_phone("13900139000", salt)
    assert rows(store_path, "SELECT phone_hash FROM members WHERE member_id = 'M2'") == [(expected,)]

    again = load_files(client_files.members, into=store_path, mapping=client_files.mapping, now=NOW)
    assert again.results[0].rows_already_present == 3  # same salt, same hashes: nothing changed


def test_salt_from_the_environment_wins_and_no_salt_file_is_written(
    client_files, store_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("WORKBENCH_HASH_SALT", "chain-secret")
    load_files(client_files.members, into=store_path, mapping=client_files.mapping, now=NOW)
    assert not (tmp_path / "client.duckdb.salt").exists()
    expected = privacy.hash_phone("13800138000", "chain-secret")
    assert rows(store_path, "SELECT phone_hash FROM members WHERE member_id = 'M1'") == [(expected,)]


def test_a_store_with_phone_hashes_refuses_a_new_salt_when_its_salt_file_is_lost(client_files, store_path):
    load_files(client_files.members, into=store_path, mapping=client_files.mapping, now=NOW)
    privacy.salt_path(store_path).unlink()
    with pytest.raises(WorkbenchError, match="salt file"):
        load_files(client_files.members, into=store_path, mapping=client_files.mapping, now=NOW)


# -- duplicates and idempotence ------------------------------------------------------------------------


def test_same_key_twice_in_a_file(tmp_path, store_path, write_text, store_counts, no_row_lost):
    orders = write_text(
        tmp_path / "orders.csv",
        ORDERS_HEAD
        + "O1,S1,2026-01-01 12:00,10.00\n"
        + "O1,S1,2026-01-01 12:00,10.00\n"  # exact copy: quarantined, the first copy loads
        + "O2,S1,2026-01-02 12:00,20.00\n"
        + "O2,S1,2026-01-02 12:00,25.00\n"  # same key, other amount: both held back
        + "O3,S1,2026-01-03 12:00,30.00\n",
    )
    summary = load_files(orders, into=store_path, now=NOW)
    r = summary.results[0]
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (5, 2, 3)
    problems = summary.problems.set_index("rule")["rows"].to_dict()
    assert problems == {"duplicate_row": 1, "duplicate_key": 2}
    assert rows(store_path, "SELECT order_id FROM orders ORDER BY 1") == [("O1",), ("O3",)]
    assert store_counts(store_path)["quarantine"] == 3
    no_row_lost(summary, store_path, {})


def test_loading_the_same_files_twice_adds_nothing(client_files, store_path, store_counts, no_row_lost):
    files = [client_files.stores, client_files.members, client_files.orders]
    load_files(files, into=store_path, mapping=client_files.mapping, now=NOW)
    before = store_counts(store_path)

    again = load_files(files, into=store_path, mapping=client_files.mapping, now=NOW)

    assert list(again.files["rows_already_present"]) == [2, 3, 4]
    assert list(again.files["rows_loaded"]) == [0, 0, 0]
    assert store_counts(store_path) == before
    assert rows(store_path, "SELECT count(*), count(DISTINCT load_id) FROM _load_log") == [(6, 2)]
    no_row_lost(again, store_path, before)


def test_reloading_a_file_with_bad_rows_does_not_quarantine_them_twice(
    tmp_path, store_path, write_text, store_counts, no_row_lost
):
    orders = write_text(
        tmp_path / "orders.csv", ORDERS_HEAD + "O1,S1,2026-01-01 12:00,10\nO2,S1,2026-01-02 12:00,-5\n"
    )
    load_files(orders, into=store_path, now=NOW)
    before = store_counts(store_path)
    again = load_files(orders, into=store_path, now=NOW)
    r = again.results[0]
    assert (r.rows_read, r.rows_already_present, r.rows_quarantined) == (2, 1, 1)
    assert store_counts(store_path) == before == {"orders": 1, "quarantine": 1}
    no_row_lost(again, store_path, before, new_quarantine=False)


def test_newer_export_with_overlapping_rows_appends_only_new_keys(
    tmp_path, store_path, write_text, store_counts, no_row_lost
):
    first = write_text(
        tmp_path / "orders_2026-01.csv",
        ORDERS_HEAD + "O1,S1,2026-01-01 12:00,10\nO2,S1,2026-01-02 12:00,20\nO3,S1,2026-01-03 12:00,30\n",
    )
    newer = write_text(
        tmp_path / "orders_2026-02.csv",
        ORDERS_HEAD + "O2,S1,2026-01-02 12:00,20.00\nO3,S1,2026-01-03 12:00:00,30\n"
        "O4,S1,2026-02-01 12:00,40\nO5,S1,2026-02-02 12:00,50\n",
    )
    load_files(first, into=store_path, now=NOW)
    before = store_counts(store_path)
    summary = load_files(newer, into=store_path, now=NOW)
    r = summary.results[0]
    assert (r.rows_read, r.rows_loaded, r.rows_already_present, r.rows_quarantined) == (4, 2, 2, 0)
    assert store_counts(store_path)["orders"] == 5
    no_row_lost(summary, store_path, before)


def test_changed_member_is_updated_but_changed_order_is_quarantined(
    tmp_path, store_path, write_text, store_counts, no_row_lost
):
    members_head = "member_id,joined_at,vip_since\n"
    write_text(tmp_path / "a" / "members.csv", members_head + "M1,2026-01-01 10:00,\nM2,2026-01-02 10:00,\n")
    write_text(tmp_path / "a" / "orders.csv", ORDERS_HEAD + "O1,S1,2026-01-01 12:00,10.00\n")
    load_files([tmp_path / "a" / "members.csv", tmp_path / "a" / "orders.csv"], into=store_path, now=NOW)
    before = store_counts(store_path)

    # A month later M1 bought a VIP card; the POS re-exported O1 with another amount.
    write_text(
        tmp_path / "b" / "members.csv",
        members_head + "M1,2026-01-01 10:00,2026-02-01 12:00\nM2,2026-01-02 10:00,\n",
    )
    write_text(tmp_path / "b" / "orders.csv", ORDERS_HEAD + "O1,S1,2026-01-01 12:00,12.00\n")
    summary = load_files(
        [tmp_path / "b" / "members.csv", tmp_path / "b" / "orders.csv"], into=store_path, now=NOW
    )

    members, orders = summary.results
    assert (members.rows_loaded, members.rows_updated, members.rows_already_present) == (1, 1, 1)
    assert (orders.rows_loaded, orders.rows_quarantined) == (0, 1)
    assert rows(store_path, "SELECT vip_since FROM members WHERE member_id = 'M1'") == [
        (dt.datetime(2026, 2, 1, 4, 0, tzinfo=dt.UTC),)
    ]
    assert rows(store_path, "SELECT amount FROM orders") == [(Decimal("10.00"),)]  # the stored row is kept
    conflict = summary.problems.set_index("rule").loc["conflicts_with_store"]
    assert conflict["rows"] == 1
    assert "amount stored 10.00, file 12.00" in conflict["examples"]
    assert store_counts(store_path) == {**before, "quarantine": 1}
    no_row_lost(summary, store_path, before)


def test_rows_quarantined_as_orphans_are_released_once_their_member_arrives(
    tmp_path, store_path, client_files, write_text, store_counts
):
    write_text(tmp_path / "members.csv", "member_id,joined_at\nM1,2026-01-01 10:00\n")
    orders = write_text(
        tmp_path / "orders.csv",
        "order_id,store_id,ordered_at,amount,member_id\nO1,S1,2026-01-01 12:00,10,M1\nO2,S1,2026-01-02 12:00,10,M2\n",
    )
    load_files([tmp_path / "members.csv", orders], into=store_path, now=NOW)
    assert store_counts(store_path) == {"members": 1, "orders": 1, "quarantine": 1}

    write_text(tmp_path / "members.csv", "member_id,joined_at\nM2,2026-01-02 10:00\n")
    summary = load_files([tmp_path / "members.csv", orders], into=store_path, now=NOW)

    assert summary.ok
    assert summary.results[1].rows_loaded == 1 and summary.results[1].rows_released == 1
    assert store_counts(store_path) == {"members": 2, "orders": 2, "quarantine": 0}


# -- rules ---------------------------------------------------------------------------------------------


def test_orders_whose_member_or_store_does_not_exist_are_quarantined_as_orphans(
    client_files, tmp_path, store_path, write_text, store_counts, no_row_lost
):
    load_files(
        [client_files.stores, client_files.members], into=store_path, mapping=client_files.mapping, now=NOW
    )
    before = store_counts(store_path)
    orders = write_text(
        tmp_path / "orders.csv",
        "order_id,store_id,ordered_at,amount,member_id\n"
        "O1,S1,2026-01-01 12:00,10,M1\n"
        "O2,S1,2026-01-01 12:00,10,M9\n"  # unknown member
        "O3,S9,2026-01-01 12:00,10,M1\n"  # unknown store
        "O4,S2,2026-01-01 12:00,10,\n",  # a non-member order: no member to check
    )
    summary = load_files(orders, into=store_path, now=NOW)
    r = summary.results[0]
    assert (r.rows_loaded, r.rows_quarantined) == (2, 2)
    orphans = summary.problems.set_index("column")
    assert orphans.loc["member_id", "rule"] == "orphan" and orphans.loc["member_id", "rows"] == 1
    assert orphans.loc["store_id", "rule"] == "orphan" and "S9" in orphans.loc["store_id", "examples"]
    assert rows(store_path, "SELECT source_row, reason FROM _quarantine ORDER BY 1") == [
        (2, "member_id 'M9' is not in members.member_id"),
        (3, "store_id 'S9' is not in stores.store_id"),
    ]
    no_row_lost(summary, store_path, before)


def test_references_are_not_checked_when_the_referenced_table_is_unknown(tmp_path, store_path, write_text):
    orders = write_text(
        tmp_path / "orders.csv",
        "order_id,store_id,ordered_at,amount,member_id\nO1,S1,2026-01-01 12:00,10,M1\n",
    )
    summary = load_files(orders, into=store_path, now=NOW)
    assert summary.ok and summary.results[0].rows_loaded == 1


def test_negative_amounts_are_quarantined_with_a_readable_reason(
    tmp_path, store_path, write_text, no_row_lost
):
    orders = write_text(
        tmp_path / "orders.csv",
        "order_id,store_id,ordered_at,amount,discount\n"
        "O1,S1,2026-01-01 12:00,-12,\n"
        "O2,S1,2026-01-01 12:00,12,-1.5\n"
        "O3,S1,2026-01-01 12:00,0,0\n",
    )
    summary = load_files(orders, into=store_path, now=NOW)
    assert summary.results[0].rows_quarantined == 2
    assert rows(store_path, "SELECT source_row, rule, column_name, reason FROM _quarantine ORDER BY 1") == [
        (1, "negative", "amount", "amount is negative (-12.00)"),
        (2, "negative", "discount", "discount is negative (-1.50)"),
    ]
    no_row_lost(summary, store_path, {})


def test_future_timestamps_are_quarantined(tmp_path, store_path, write_text, no_row_lost):
    orders = write_text(
        tmp_path / "orders.csv",
        ORDERS_HEAD + "O1,S1,2026-11-22 11:59,10\nO2,S1,2026-11-22 12:01,10\nO3,S1,2027-01-01 00:00,10\n",
    )
    summary = load_files(orders, into=store_path, now=NOW)
    future = summary.problems.set_index("rule").loc["future"]
    assert future["rows"] == 2 and future["examples"].startswith("row 2 (order_id=O2)")
    no_row_lost(summary, store_path, {})


def test_unparseable_dates_are_quarantined_and_odd_but_clear_ones_load(
    tmp_path, store_path, write_text, no_row_lost
):
    orders = write_text(
        tmp_path / "orders.csv",
        ORDERS_HEAD
        + "O1,S1,2026-02-30 10:00,10\n"  # no such day
        + "O2,S1,yesterday,10\n"
        + "O3,S1,31/12/2025 10:00,10\n"  # day-first: ambiguous in general, so not guessed
        + "O4,S1,2026年1月5日 18:30,10\n"
        + "O5,S1,2026/1/5 18:30:05,10\n",
    )
    summary = load_files(orders, into=store_path, now=NOW)
    problem = summary.problems.set_index("rule").loc["unparseable"]
    assert (problem["column"], problem["rows"]) == ("ordered_at", 3)
    assert rows(store_path, "SELECT order_id, ordered_at FROM orders ORDER BY 1") == [
        ("O4", dt.datetime(2026, 1, 5, 10, 30, tzinfo=dt.UTC)),
        ("O5", dt.datetime(2026, 1, 5, 10, 30, 5, tzinfo=dt.UTC)),
    ]
    no_row_lost(summary, store_path, {})


def test_a_file_missing_a_required_column_loads_nothing_and_says_which(
    client_files, tmp_path, store_path, write_text, store_counts, no_row_lost
):
    orders = write_text(tmp_path / "orders.csv", "order_id,store_id,ordered_at\nO1,S1,2026-01-01 12:00\n")
    summary = load_files([orders, client_files.stores], into=store_path, now=NOW)

    assert not summary.ok
    rejected = summary.results[1]
    assert rejected.rejected and rejected.rows_read == 1 and rejected.rows_loaded == 0
    problem = summary.problems.iloc[0]
    assert (problem["file"], problem["column"], problem["rule"]) == ("orders.csv", "amount", "missing_column")
    assert "orders.csv" in summary.format() and "no amount column" in summary.format()
    assert store_counts(store_path) == {"stores": 2, "orders": 0, "quarantine": 0}  # the other file loaded
    no_row_lost(summary, store_path, {})


# -- errors before anything is written -------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_an_empty_file_raises_naming_it_and_writes_nothing(tmp_path, store_path, content):
    (tmp_path / "orders.csv").write_bytes(content)
    with pytest.raises(InputFileError, match="orders.csv is empty"):
        load_files(tmp_path / "orders.csv", into=store_path, now=NOW)
    assert not store_path.exists() and not privacy.salt_path(store_path).exists()


def test_an_unknown_file_type_raises(tmp_path, store_path):
    (tmp_path / "orders.xls").write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    with pytest.raises(InputFileError, match=r"orders.xls .*unknown file type '.xls'.*\.xlsx"):
        load_files(tmp_path / "orders.xls", into=store_path, now=NOW)


def test_a_mapping_naming_a_column_the_file_lacks_raises_with_the_columns_it_has(client_files, store_path):
    text = client_files.mapping.read_text(encoding="utf-8").replace(
        "下单时间: ordered_at", "下单日期: ordered_at"
    )
    client_files.mapping.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_files(
            [client_files.stores, client_files.orders], into=store_path, mapping=client_files.mapping, now=NOW
        )
    message = str(caught.value)
    for part in (
        "client.yaml",
        "table orders",
        "下单日期",
        "orders_2026-01.csv",
        "订单号, 门店, 下单时间, 实付金额",
    ):
        assert part in message
    assert not store_path.exists()  # nothing written, not even the stores file


def test_a_target_that_is_not_a_duckdb_store_raises(client_files, tmp_path):
    not_a_store = tmp_path / "client.duckdb"
    not_a_store.write_text("store_id,name\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="cannot be opened as a DuckDB store"):
        load_files(client_files.stores, into=not_a_store, now=NOW)


def test_a_file_that_names_no_table_raises(tmp_path, store_path, write_text):
    write_text(tmp_path / "export.csv", ORDERS_HEAD + "O1,S1,2026-01-01 12:00,10\n")
    with pytest.raises(MappingError, match="Cannot tell which table export.csv holds"):
        load_files(tmp_path / "export.csv", into=store_path, now=NOW)
    summary = load_files(tmp_path / "export.csv", into=store_path, table="orders", now=NOW)
    assert summary.results[0].rows_loaded == 1


def test_a_mapping_in_another_currency_is_refused(client_files, store_path):
    mapping = {"currency": "HKD", "tables": {"stores": {"file": "stores.csv"}}}
    load_files(client_files.stores, into=store_path, now=NOW)  # a CNY store
    with pytest.raises(MappingError, match="HKD.*holds CNY"):
        load_files(client_files.stores, into=store_path, mapping=mapping, now=NOW)


def test_summary_text_names_files_counts_and_problems(client_files, tmp_path, store_path, write_text):
    orders = write_text(tmp_path / "orders.csv", ORDERS_HEAD + "O1,S1,2026-01-01 12:00,-3\n")
    text = load_files([client_files.stores, orders], into=store_path, now=NOW).format()
    assert "stores.csv" in text and "orders.csv" in text
    assert "1 row(s) quarantined" in text
    assert "[negative]" in text and "row 1 (order_id=O1): -3.00" in text
    assert os.fspath(store_path) in text
