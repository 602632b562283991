"""Messy client files for the loading tests, written into tmp_path, and a check that no row is lost.

Fixtures write small exports the way clients send them: GBK CSV with Chinese headers, UTF-8 with BOM,
Excel with a merged title row above the header (``write_text``, ``write_excel``, ``client_files``).
``store_counts(path)`` reads a store's real row counts, and ``no_row_lost(summary, path, before)`` holds
every load to: rows read = loaded + already present + quarantined, with the store's tables and quarantine
grown by exactly the summary's numbers.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from openpyxl import Workbook

from workbench.data import contract

STORES_CSV = "store_id,name,city\nS1,人民广场店,上海\nS2,徐家汇店,上海\n"

MEMBERS_CSV = (
    "member_id,joined_at,join_channel\n"
    "M1,2026-01-01 10:00,store_qr\n"
    "M2,2026-01-02 10:00,mini_program\n"
    "M3,2026-01-03 10:00,referral\n"
)

# A client's members export: Chinese headers, Chinese channel names, a phone and a name column.
CLIENT_MEMBERS = (
    "会员卡号,会员姓名,手机号,注册时间,注册渠道\n"
    "M1,张三,13800138000,2026-01-01 10:00,门店扫码\n"
    "M2,李四,+86 139-0013-9000,2026-01-02 11:00,小程序\n"
    "M3,王五,0086 13700137000,2026-01-03 12:00,外卖卡\n"
)
RAW_PHONES = ("13800138000", "13900139000", "13700137000", "139-0013-9000")
RAW_NAMES = ("张三", "李四", "王五")

CLIENT_ORDERS = (
    "订单号,门店,下单时间,实付金额,会员卡号,渠道\n"
    'O1,S1,2026-01-01 23:30,"￥1,234.50",M1,堂食\n'
    "O2,S1,2026-01-02 12:00,88元,M2,外卖\n"
    "O3,S2,2026-01-03 18:00,66.00,,小程序\n"
    "O4,S2,2026-01-04 19:00,120,M3,自提\n"
)

CLIENT_MAPPING = """\
tables:
  members:
    file: "members*.csv"
    columns: {会员卡号: member_id, 注册时间: joined_at, 注册渠道: join_channel}
    values:
      join_channel: {门店扫码: store_qr, 小程序: mini_program, 外卖卡: takeout_card}
    phone: 手机号
    pii: [会员姓名]
  orders:
    file: "orders*.csv"
    columns: {订单号: order_id, 门店: store_id, 下单时间: ordered_at, 实付金额: amount, 会员卡号: member_id, 渠道: channel}
    values:
      channel: {堂食: dine_in, 外卖: takeout_platform, 小程序: mini_program, 自提: pickup}
"""


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` in ``encoding`` ('gbk', 'utf-8-sig', ...) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_excel(path: Path, header: list, rows: list[list], *, title: str | None = None, blank_rows: int = 1):
    """An .xlsx with an optional merged title row (and blank rows) above the header."""
    book = Workbook()
    sheet = book.active
    sheet.title = "导出"
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        for _ in range(blank_rows):
            sheet.append([])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def counts(path) -> dict[str, int]:
    """Rows per contract table present, plus 'quarantine' (rows held) of a DuckDB store; {} if none."""
    if not Path(path).exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        out = {
            t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in contract.TABLES
            if t in present
        }
        if contract.QUARANTINE_TABLE in present:
            out["quarantine"] = con.execute(f'SELECT count(*) FROM "{contract.QUARANTINE_TABLE}"').fetchone()[
                0
            ]
        return out
    finally:
        con.close()


def assert_no_row_lost(summary, store_path, before: dict[str, int], *, new_quarantine: bool = True) -> None:
    """Every row read is loaded, already present or quarantined, and the store grew by exactly that.

    ``new_quarantine=False`` for a re-load whose quarantined rows were already held (not written again).
    """
    after = counts(store_path)
    for r in summary.results:
        if not r.rejected:
            assert r.rows_read == r.rows_loaded + r.rows_already_present + r.rows_quarantined, r
        else:
            assert r.rows_loaded == r.rows_already_present == r.rows_quarantined == 0
    for table in {r.table for r in summary.results}:
        added = sum(r.rows_loaded - r.rows_updated for r in summary.results if r.table == table)
        assert after.get(table, 0) - before.get(table, 0) == added, table
    released = sum(r.rows_released for r in summary.results)
    grown = after.get("quarantine", 0) - before.get("quarantine", 0) + released
    if new_quarantine:
        assert grown == summary.rows_quarantined
    else:
        assert grown == 0


@pytest.fixture
def client_files(tmp_path):
    """The client's export: stores (contract CSV), members (UTF-8 with BOM, Chinese headers, phone and name
    columns), orders (GBK, Chinese headers and channel names), the mapping; plus the raw phones and names."""
    folder = tmp_path / "export"
    return SimpleNamespace(
        stores=write_text(folder / "stores.csv", STORES_CSV),
        members=write_text(folder / "members_2026-01.csv", CLIENT_MEMBERS, "utf-8-sig"),
        orders=write_text(folder / "orders_2026-01.csv", CLIENT_ORDERS, "gbk"),
        mapping=write_text(folder / "client.yaml", CLIENT_MAPPING),
        members_csv=MEMBERS_CSV,
        phones=RAW_PHONES,
        names=RAW_NAMES,
    )


@pytest.fixture(name="write_text")
def write_text_fixture():
    """write_text(path, text, encoding='utf-8') -> path."""
    return write_text


@pytest.fixture(name="write_excel")
def write_excel_fixture():
    """write_excel(path, header, rows, title=None, blank_rows=1) -> path."""
    return write_excel


@pytest.fixture
def store_counts():
    """store_counts(path) -> {table: rows, 'quarantine': rows held}."""
    return counts


@pytest.fixture
def no_row_lost():
    """no_row_lost(summary, store_path, before, new_quarantine=True): the row accounting holds."""
    return assert_no_row_lost


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "client.duckdb"


@pytest.fixture(autouse=True)
def _no_salt_from_environment(monkeypatch):
    """Tests decide the salt themselves; an analyst's WORKBENCH_HASH_SALT must not leak in."""
    monkeypatch.delenv("WORKBENCH_HASH_SALT", raising=False)
