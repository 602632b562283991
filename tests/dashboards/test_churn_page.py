"""The churn page's member keys and CSV, without a browser: hashing, resolving keys back to ids, formatting.

Hand case for the key (worked out with openssl, independently of the package):
  salt 's3cret'  ->  secret = HMAC-SHA256('s3cret', 'workbench member key v1')
                          = 8e38f00b81a9881c5710d4e4075449b63726dd0c0d1eda5220308deba792f5d0
  member 'M0001' ->  HMAC-SHA256(secret, 'M0001') starts 82503002492f034a  ->  key 'k-82503002492f034a'
  member 'M0002' ->  key 'k-cf570f4d8c6fc1d9'
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import one_store
from workbench.analyses.wake_up import (
    MEMBER_KEY_PATTERN,
    export_wake_up_list,
    member_key,
    member_key_secret,
    member_keys,
    resolve_member_keys,
    resolve_wake_up_csv,
    wake_up_export_frame,
)
from workbench.data import privacy
from workbench.figures.churn import TABLE_ROW_PX, wake_up_table

ROOT = Path(__file__).resolve().parents[2]
HAND_SECRET = bytes.fromhex("8e38f00b81a9881c5710d4e4075449b63726dd0c0d1eda5220308deba792f5d0")


@pytest.fixture(autouse=True)
def no_salt_env(monkeypatch):
    monkeypatch.delenv(privacy.SALT_ENV, raising=False)


@pytest.fixture
def members_db(make_store):
    """Three members with phone hashes; no salt file beside the store."""
    members = [
        {"member_id": m, "joined_at": "2026-01-05 10:00", "join_store_id": "S1", "phone_hash": h}
        for m, h in (("M0001", "a" * 64), ("M0002", "b" * 64), ("M0003", "c" * 64))
    ]
    path = make_store({"stores": [one_store()], "members": members})
    with wb.connect(path) as db:
        yield db


def _wake(rows: int = 2) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "rank": [1, 2][:rows],
            "member_id": ["M0001", "M0002"][:rows],
            "segment": ["all", "all"][:rows],
            "home_store_id": ["S1", "S9"][:rows],
            "city": ["上海", "上海"][:rows],
            "last_day": pd.to_datetime(["2026-03-17", "2026-03-20"][:rows]),
            "days_since_last": [14, 11][:rows],
            "own_cycle_days": [7.25, 5.0][:rows],
            "cycle_source": ["own", "chain"][:rows],
            "overdue_ratio": [14 / 7.25, 2.2][:rows],
            "visits": [3, 1][:rows],
            "revenue": [368.70000000000005, 120.0][:rows],
            "avg_ticket": [122.9, 120.0][:rows],
            "p_active": [0.21212121, 0.25][:rows],
            "expected_value": [771.428571, 161.86][:rows],
            "phone_hash": ["h1", "h2"][:rows],  # someone joined it in: never exported nor shown
        }
    )
    frame.attrs["as_of"] = dt.date(2026, 3, 31)
    return frame


def test_member_key_matches_the_hand_computed_hmac():
    assert member_key("M0001", HAND_SECRET) == "k-82503002492f034a"
    assert member_key("M0002", HAND_SECRET) == "k-cf570f4d8c6fc1d9"
    assert MEMBER_KEY_PATTERN.fullmatch(member_key("M0001", HAND_SECRET))


def test_the_secret_comes_from_the_salt_file_beside_the_store_and_creates_no_file(members_db):
    assert not privacy.salt_path(members_db.path).exists()
    fallback = member_key_secret(members_db)
    assert not privacy.salt_path(members_db.path).exists()  # a read-only page writes nothing
    privacy.write_salt(members_db.path, "s3cret")
    assert member_key_secret(members_db) == HAND_SECRET != fallback
    assert member_keys(members_db, ["M0001", "M0002"]) == ["k-82503002492f034a", "k-cf570f4d8c6fc1d9"]


def test_the_salt_in_the_environment_wins(members_db, monkeypatch):
    privacy.write_salt(members_db.path, "another salt")
    monkeypatch.setenv(privacy.SALT_ENV, "s3cret")
    assert member_key_secret(members_db) == HAND_SECRET


def test_a_store_without_salt_gets_a_stable_secret_made_of_its_own_members(members_db, make_store):
    again = wb.connect(members_db.path)
    try:
        assert member_key_secret(again) == member_key_secret(members_db)  # run after run, the same keys
    finally:
        again.close()
    other = make_store(
        {
            "stores": [one_store()],
            "members": [
                {
                    "member_id": "M0001",
                    "joined_at": "2026-01-05 10:00",
                    "join_store_id": "S1",
                    "phone_hash": "d" * 64,
                }
            ],
        }  # fmt: skip
    )
    with wb.connect(other) as db:  # same member id, other phone hash: another secret, another key
        assert member_keys(db, ["M0001"]) != member_keys(members_db, ["M0001"])


def test_keys_resolve_back_to_member_ids_in_order(members_db):
    keys = member_keys(members_db, ["M0003", "M0001"])
    assert resolve_member_keys(members_db, [*keys, "k-0000000000000000"]) == ["M0003", "M0001", None]


def test_the_csv_carries_keys_labels_rounded_figures_and_store_names():
    text = (
        wake_up_export_frame(_wake(), lang="zh", secret=HAND_SECRET, store_names={"S1": "上海人民广场店"})
        .to_csv(index=False)
        .splitlines()
    )
    assert text[0] == (
        "排名,会员代码（已加密）,分组,归属门店,归属门店名称,城市,最近到店日,未到店天数,个人复购周期（天）,"
        "周期来源,逾期倍数,到店次数,累计消费,客单价,仍活跃概率,唤醒预期价值"
    )
    assert text[1] == (
        "1,k-82503002492f034a,全部,S1,上海人民广场店,上海,2026-03-17,14,7.2,本人,1.93,3,368.7,122.9,0.212,771.43"
    )
    assert text[2].startswith("2,k-cf570f4d8c6fc1d9,全部,S9,,上海,2026-03-20,11,5.0,全品牌中位数,2.2,")
    en = wake_up_export_frame(_wake(), lang="en", secret=HAND_SECRET)
    assert list(en.columns[:3]) == ["Rank", "Member key (hashed)", "Segment"]
    assert en["Segment"].tolist() == ["All", "All"] and en["Cycle from"].tolist() == ["Own", "Chain median"]


def test_the_written_csv_holds_no_member_id_nor_phone_hash(tmp_path):
    path = export_wake_up_list(_wake(), tmp_path / "wake.csv", lang="en", secret=HAND_SECRET)
    raw = path.read_bytes().decode("utf-8-sig")
    assert "M0001" not in raw and "M0002" not in raw and "h1" not in raw
    assert pd.read_csv(path, encoding="utf-8-sig")["Member key (hashed)"].tolist() == [
        "k-82503002492f034a",
        "k-cf570f4d8c6fc1d9",
    ]


def test_the_page_table_shows_keys_and_store_names_and_is_as_tall_as_its_rows():
    keyed = wake_up_export_frame(_wake(), secret=HAND_SECRET, store_names={"S1": "上海人民广场店"})
    fig = wake_up_table(keyed, lang="zh", max_rows=1)
    table = fig.data[0]
    cells = dict(zip(table.header.values, table.cells.values, strict=True))
    assert list(cells["会员代码（已加密）"]) == ["k-82503002492f034a"] and "会员编号" not in cells
    assert list(cells["归属门店"]) == ["上海人民广场店"]
    assert "显示前 1 名，共 2 名" in fig.layout.title.text
    two = wake_up_table(keyed, lang="zh", max_rows=2)
    assert two.layout.height - fig.layout.height == TABLE_ROW_PX  # one more row, one row's height more
    assert "M0001" not in str(two.data[0].cells.values)


def test_resolve_keys_adds_member_ids_beside_the_keys(members_db, tmp_path):
    keys = member_keys(members_db, ["M0002", "M0001"])
    src = tmp_path / "wake.csv"
    pd.DataFrame({"排名": [1, 2, 3], "会员代码（已加密）": [*keys, "k-ffffffffffffffff"]}).to_csv(
        src, index=False, encoding="utf-8-sig"
    )
    result = resolve_wake_up_csv(members_db, src, tmp_path / "out.csv")
    assert (result.rows, result.unresolved) == (3, 1)
    back = pd.read_csv(result.path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == ["排名", "会员代码（已加密）", "会员编号"]
    assert back["会员编号"].tolist() == ["M0002", "M0001", ""]
    with pytest.raises(wb.WorkbenchError, match="no member key column"):
        pd.DataFrame({"member_id": ["M0001"]}).to_csv(tmp_path / "ids.csv", index=False)
        resolve_wake_up_csv(members_db, tmp_path / "ids.csv", tmp_path / "x.csv")


def test_the_resolve_keys_command(members_db, tmp_path):
    privacy.write_salt(members_db.path, "s3cret")
    src = tmp_path / "wake.csv"
    pd.DataFrame({"member_key": ["k-cf570f4d8c6fc1d9", "k-82503002492f034a"]}).to_csv(src, index=False)
    env = {k: v for k, v in os.environ.items() if k != privacy.SALT_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "resolve-keys", str(src), "--data", str(members_db.path),
         "--out", str(tmp_path / "out.csv")],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    back = pd.read_csv(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8-sig")))
    assert back.columns.tolist() == ["member_key", "member_id"]
    assert back["member_id"].tolist() == ["M0002", "M0001"]


def test_a_store_without_members_shows_the_message_and_the_store_list_follows_the_city(make_store):
    from workbench.dashboards.churn import churn_dashboard

    # S1 (上海) has two members who visit; S2 (北京) has no member and no order.
    members = [{"member_id": m, "joined_at": "2026-01-05 10:00", "join_store_id": "S1"} for m in ("A", "B")]
    orders = [
        {"order_id": f"{m}{i}", "store_id": "S1", "ordered_at": f"2026-0{i}-10 12:00", "amount": 50,
         "member_id": m}
        for m in ("A", "B") for i in (1, 2)
    ]  # fmt: skip
    stores = [one_store(), one_store(store_id="S2", name="北京望京店", city="北京")]
    path = make_store({"stores": stores, "members": members, "orders": orders})
    with wb.connect(path) as db:
        dash = churn_dashboard(db, lang="zh", background=False, prefetch=False)
        assert dash.message == "" and dash.numbers["members"] == 2
        dash.controls["city"].value = "北京"
        assert [value for _, value in dash.controls["store"].options] == ["", "S2"]
        dash.controls["store"].value = "S2"
        assert "没有数据" in dash.message
        assert 'data-kind="empty"' in dash.message_box.value
        dash.controls["lang"].value = "en"
        assert dash.message.startswith("No data for the selected filters")
        dash.controls["city"].value = ""
        assert dash.controls["store"].value == "S2" and dash.message.startswith("No data")
        dash.controls["store"].value = ""
        assert dash.message == "" and dash.numbers["members"] == 2
