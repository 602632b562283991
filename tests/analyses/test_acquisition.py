"""Acquisition quality on a hand-typed chain and on a small simulated one.

Hand case (as_of 2026-06-30; window: joined 2026-01-01 .. 2026-01-31; days counted from the joining day):
  member channel   joined      visits (day after joining: amount)
  A      store_qr  2026-01-05  day 0: 50; day 40: 30; day 70: 20          -> 60d yes, 90d yes, early 100
  B      store_qr  2026-01-10  day 0: 40; day 95: 60 (after the first 90)  -> 60d no, 90d no, early 40
  C      store_qr  2026-01-20  none                                       -> no, no, 0
  D      referral  2026-01-08  day 10: 80; day 61: 20                      -> 60d no, 90d yes, early 100
  E      referral  2025-12-31  day 45: 10 (joined before the window: out)
store_qr: 3 members, 60d 1/3, 90d 1/3, early mean (100 + 40 + 0) / 3 = 46.67
          (sd of 100, 40, 0: sqrt(((53.33)^2 + (6.67)^2 + (46.67)^2) / 2) = 50.33; t(2) 4.303 -> ±125.0)
referral: 1 member, 60d 0/1, 90d 1/1, early 100
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import workbench as wb
from workbench.analyses.acquisition import acquisition_quality
from workbench.data import simulate
from workbench.errors import ParameterError


def order(oid, member, when, amount):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}


@pytest.fixture
def hand_db(make_store, store_row):
    members = [
        {"member_id": m, "joined_at": f"{d} 10:00", "join_channel": c, "join_store_id": "S1"}
        for m, d, c in [("A", "2026-01-05", "store_qr"), ("B", "2026-01-10", "store_qr"),
                        ("C", "2026-01-20", "store_qr"), ("D", "2026-01-08", "referral"),
                        ("E", "2025-12-31", "referral")]
    ]  # fmt: skip
    orders = [
        order("a0", "A", "2026-01-05 12:00", 50), order("a1", "A", "2026-02-14 12:00", 30),
        order("a2", "A", "2026-03-16 12:00", 20), order("b0", "B", "2026-01-10 12:00", 40),
        order("b1", "B", "2026-04-15 12:00", 60), order("d0", "D", "2026-01-18 12:00", 80),
        order("d1", "D", "2026-03-10 12:00", 20), order("e0", "E", "2026-02-14 12:00", 10),
    ]  # fmt: skip
    path = make_store(
        {"stores": [store_row()], "members": members, "orders": orders}, data_through="2026-06-30"
    )
    return wb.connect(path)


def test_retention_and_early_revenue_match_the_hand_computation(hand_db):
    q = acquisition_quality(hand_db, by="join_channel", joined_from="2026-01-01", joined_to="2026-01-31",
                            min_members=2)  # fmt: skip
    t = q.table.set_index("group")
    qr, ref = t.loc["store_qr"], t.loc["referral"]
    assert (qr.members, qr.retained_60d, qr.retained_90d) == (3, 1, 1)
    assert (ref.members, ref.retained_60d, ref.retained_90d) == (1, 0, 1)
    assert qr.early_revenue_per_member == pytest.approx(140 / 3)
    sd = np.std([100, 40, 0], ddof=1)
    half = sps.t.ppf(0.975, 2) * sd / np.sqrt(3)
    assert qr.early_revenue_ci_high - qr.early_revenue_per_member == pytest.approx(half)
    assert ref.early_revenue_per_member == 100 and np.isnan(ref.early_revenue_ci_low)
    # referral is small (1 < min_members=2): ranked after store_qr although its 90-day retention is higher
    assert bool(ref.small) and list(q.table["group"]) == ["store_qr", "referral"]
    assert qr.retention_90d_ci_low < 1 / 3 < qr.retention_90d_ci_high


def test_by_store_and_city_sum_to_the_same_members(hand_db):
    kw = {"joined_from": "2026-01-01", "joined_to": "2026-01-31"}
    by_store = acquisition_quality(hand_db, by="join_store_id", **kw).table
    by_city = acquisition_quality(hand_db, by="city", **kw).table
    assert by_store["members"].sum() == by_city["members"].sum() == 4
    assert by_store.loc[0, "store_name"] == "上海人民广场店"


def test_bad_parameters_raise(hand_db):
    with pytest.raises(ParameterError, match="join_channel"):
        acquisition_quality(hand_db, by="channel")
    with pytest.raises(ParameterError, match="too recent"):
        acquisition_quality(hand_db, joined_to="2026-06-01")
    with pytest.raises(ParameterError, match="horizons"):
        acquisition_quality(hand_db, horizons=(10,))
    with pytest.raises(ParameterError, match="joined_from"):
        acquisition_quality(hand_db, joined_from="2026-02-01", joined_to="2026-01-01")


def test_summary_in_both_languages(hand_db):
    q = acquisition_quality(hand_db, joined_from="2026-01-01", joined_to="2026-01-31")
    assert "门店扫码" in q.summary("zh") and "Store QR code" in q.summary("en")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "chain.duckdb"
    simulate.simulate_chain(path, members=4000, weeks=70, seed=11, end="2026-03-29")
    return path


def test_channel_ranking_follows_the_planted_dropout_and_one_off_shares(simulated):
    """Planted per join channel: dropout hazard ratios, one-off (trial) shares and activation funnels. From
    the latent member table: the share of each channel's members still in the organic process 90 days after
    joining (activated, not a one-off, no dropout yet). Retention on days 61-90 must rank the channels the
    same way, and the extremes must be the same channels."""
    db = wb.connect(simulated)
    q = acquisition_quality(db, by="join_channel", joined_from="2025-03-01", joined_to="2025-11-30")
    latent = pd.read_parquet(simulate.truth_members_path(simulated))
    joined = db.members.select("member_id", "joined_at").to_pandas()
    latent = latent.merge(joined, on="member_id")
    day = (
        pd.to_datetime(latent["joined_at"]).dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).dt.normalize()
    )
    w = latent[(day >= "2025-03-01") & (day <= "2025-11-30")]
    joined_at = pd.to_datetime(w["joined_at"], utc=True)
    dropout = pd.to_datetime(w["dropout_at"], utc=True)
    alive = w["activated"] & ~w["one_off"] & (dropout.isna() | (dropout > joined_at + pd.Timedelta(days=90)))
    planted = alive.groupby(w["join_channel"]).mean()
    measured = q.table.set_index("group")["retention_90d"]
    rho = sps.spearmanr(planted.sort_index(), measured.reindex(planted.sort_index().index)).statistic
    assert rho >= 0.8
    assert set(measured.nlargest(2).index) <= set(planted.nlargest(3).index)
    assert set(measured.nsmallest(2).index) == set(planted.nsmallest(2).index)
