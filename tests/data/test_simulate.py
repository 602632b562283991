"""The simulated chain: deterministic, complete, consistent with the contract, realistic, and truthful.

One small chain (4,000 members, 70 weeks ending 2026-11-22, so Spring Festival 2026 is inside) serves the
plausibility and truth checks; two smaller ones check determinism.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from workbench.config import Settings
from workbench.data import contract
from workbench.data.simulate import params as P
from workbench.data.simulate import simulate_chain, truth_members_path, truth_path
from workbench.data.simulate.timeline import (
    SPRING_FESTIVAL,
    Timeline,
    spring_festivals,
    spring_festivals_from_holidays,
)
from workbench.data.simulate.truth import TRUTH_KEYS

MEMBERS, WEEKS, SEED, END = 4_000, 70, 11, "2026-11-22"
START = dt.date(2026, 11, 22) - dt.timedelta(days=7 * WEEKS - 1)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "chain.duckdb"
    summary = simulate_chain(out, members=MEMBERS, weeks=WEEKS, seed=SEED, end=END)
    con = duckdb.connect(str(out), read_only=True)
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    yield {"path": out, "summary": summary, "con": con, "truth": truth}
    con.close()


def one(con, sql, *args):
    return con.execute(sql, list(args)).fetchone()[0]


def table_hashes(path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for name, spec in contract.TABLES.items():
            key = ", ".join(f'"{k}"' for k in spec.key)
            out[name] = one(
                con, f"SELECT md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY {key})) FROM \"{name}\" t"
            )
        return out
    finally:
        con.close()


# -- determinism --------------------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_truth_other_seed_differs(tmp_path):
    kwargs = dict(members=1_500, weeks=30, end=END)
    a = simulate_chain(tmp_path / "a.duckdb", seed=3, **kwargs)
    b = simulate_chain(tmp_path / "b.duckdb", seed=3, **kwargs)
    c = simulate_chain(tmp_path / "c.duckdb", seed=4, **kwargs)
    ha, hb, hc = (table_hashes(tmp_path / f"{x}.duckdb") for x in "abc")
    assert ha == hb
    assert all(v is not None for v in ha.values())
    assert all(ha[t] != hc[t] for t in ("members", "orders", "assignments", "coupons", "touches"))
    assert truth_path(tmp_path / "a.duckdb").read_text() == truth_path(tmp_path / "b.duckdb").read_text()
    assert a.rows == b.rows and a.revenue == b.revenue
    assert c.rows["members"] == a.rows["members"] == 1_500


def test_simulating_again_replaces_the_store_and_its_truth(tmp_path):
    out = tmp_path / "again.duckdb"
    out.write_text("not a database")
    truth_path(out).write_text("{stale")
    summary = simulate_chain(out, members=300, weeks=12, seed=1, end=END)
    con = duckdb.connect(str(out), read_only=True)
    assert one(con, "SELECT count(*) FROM members") == 300
    assert one(con, "SELECT value FROM _meta WHERE key = 'data_through'") == END
    assert one(con, "SELECT value FROM _meta WHERE key = 'simulated_seed'") == "1"
    con.close()
    assert json.loads(truth_path(out).read_text())["seed"] == 1
    assert summary.first_day == dt.date(2026, 8, 31) and summary.last_day == dt.date(2026, 11, 22)


def test_truth_files_sit_beside_the_store():
    assert truth_path("data/demo.duckdb").as_posix() == "data/demo.truth.json"
    assert truth_members_path("data/demo.duckdb").as_posix() == "data/demo.truth_members.parquet"


# -- the contract -------------------------------------------------------------------------------------


def test_every_contract_table_has_the_contract_columns_and_types(chain):
    con = chain["con"]
    for name, spec in contract.TABLES.items():
        described = con.execute(f'DESCRIBE "{name}"').fetchall()
        types = [(r[0], r[1].replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")) for r in described]
        assert types == [(c.name, c.duckdb_type) for c in spec.columns], name
        assert one(con, f'SELECT count(*) FROM "{name}"') > 0, f"{name} is empty"
        for column in spec.required_columns:
            assert one(con, f'SELECT count(*) FROM "{name}" WHERE "{column}" IS NULL') == 0, (name, column)


def test_keys_are_unique(chain):
    con = chain["con"]
    for name, spec in contract.TABLES.items():
        key = ", ".join(f'"{k}"' for k in spec.key)
        dupes = one(
            con, f'SELECT count(*) FROM (SELECT {key} FROM "{name}" GROUP BY {key} HAVING count(*) > 1)'
        )
        assert dupes == 0, name


def test_no_orphans(chain):
    con = chain["con"]
    refs = [*contract.references(), ("coupons", "order_id", "orders", "order_id")]
    for table, column, ref_table, ref_column in refs:
        orphans = one(
            con,
            f'SELECT count(*) FROM "{table}" t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
            f'(SELECT 1 FROM "{ref_table}" r WHERE r."{ref_column}" = t."{column}")',
        )
        assert orphans == 0, f"{table}.{column} -> {ref_table}.{ref_column}"


def test_values_follow_the_rules(chain):
    con = chain["con"]
    assert one(con, "SELECT count(*) FROM orders WHERE amount < 0 OR discount < 0") == 0
    assert (
        one(
            con,
            "SELECT count(*) FROM orders o JOIN stores s USING (store_id) WHERE o.ordered_at::DATE < s.opened_on",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT count(*) FROM orders o JOIN members m USING (member_id) WHERE o.ordered_at < m.joined_at",
        )
        == 0
    )
    assert one(con, "SELECT count(*) FROM members WHERE vip_since < joined_at") == 0
    assert one(con, "SELECT count(*) FROM group_members WHERE left_at < joined_at") == 0
    assert (
        one(
            con,
            "SELECT count(*) FROM group_members g JOIN members m USING (member_id) WHERE g.joined_at < m.joined_at",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT count(*) FROM group_members g JOIN groups USING (group_id) WHERE g.joined_at < created_at",
        )
        == 0
    )
    assert one(con, "SELECT count(*) FROM campaigns WHERE ends_at < starts_at") == 0
    assert one(con, "SELECT count(*) FROM touches WHERE (member_id IS NULL) = (group_id IS NULL)") == 0
    assert one(con, "SELECT count(*) FROM touches WHERE (medium = 'group') <> (group_id IS NOT NULL)") == 0
    # referrers joined earlier
    assert one(con, "SELECT count(*) FROM members WHERE referrer_id IS NOT NULL") > 0
    late = "SELECT count(*) FROM members m JOIN members r ON m.referrer_id = r.member_id WHERE r.joined_at >= m.joined_at"
    assert one(con, late) == 0
    assert (
        one(con, "SELECT count(*) FROM members WHERE referrer_id IS NOT NULL AND join_channel <> 'referral'")
        == 0
    )
    birthdays = [r[0] for r in con.execute("SELECT DISTINCT birthday_md FROM members").fetchall()]
    assert all(dt.datetime.strptime(f"2001-{b}", "%Y-%m-%d") for b in birthdays) and len(birthdays) > 300
    hashes = con.execute(
        "SELECT count(DISTINCT phone_hash), count(*), bool_and(regexp_full_match(phone_hash, '[0-9a-f]{64}')) FROM members"
    ).fetchone()
    assert hashes == (MEMBERS, MEMBERS, True)


def test_every_timestamp_lies_in_the_period(chain):
    con = chain["con"]
    start, end = START, dt.date.fromisoformat(END)
    for table, column in [
        ("orders", "ordered_at"),
        ("touches", "sent_at"),
        ("assignments", "assigned_at"),
        ("coupons", "issued_at"),
        ("coupons", "redeemed_at"),
        ("campaigns", "starts_at"),
        ("campaigns", "ends_at"),
    ]:
        lo, hi = con.execute(f'SELECT min("{column}")::DATE, max("{column}")::DATE FROM "{table}"').fetchone()
        assert start <= lo and hi <= end, (table, column, lo, hi)
    assert one(con, "SELECT max(left_at)::DATE FROM group_members") <= end  # spells may have ended before
    first, last = con.execute("SELECT min(ordered_at)::DATE, max(ordered_at)::DATE FROM orders").fetchone()
    assert (first, last) == (start, end)  # the first and last day both have trade
    assert one(con, "SELECT value FROM _meta WHERE key = 'data_through'") == END
    assert one(con, "SELECT value FROM _meta WHERE key = 'timezone'") == "Asia/Shanghai"
    # the initial stock joined before the period, the rest inside it
    assert one(con, "SELECT avg((joined_at::DATE < ?)::INT) FROM members", start) == pytest.approx(
        P.STOCK_SHARE, abs=0.01
    )
    assert one(con, "SELECT max(joined_at)::DATE FROM members") <= end


# -- plausibility -------------------------------------------------------------------------------------


def test_stores_cities_and_new_openings(chain):
    con = chain["con"]
    assert one(con, "SELECT count(*) FROM stores") == MEMBERS // P.MEMBERS_PER_STORE
    assert one(con, "SELECT count(DISTINCT city) FROM stores") >= 3
    assert one(con, "SELECT count(*) FROM stores WHERE opened_on >= ?", START) >= 1
    assert one(con, "SELECT bool_and(name LIKE city || '%店') FROM stores")
    tickets = dict(
        con.execute(
            "SELECT cuisine, avg(amount + discount) FROM orders JOIN stores USING (store_id) GROUP BY 1"
        ).fetchall()
    )
    if "火锅" in tickets and "茶饮" in tickets:
        assert tickets["火锅"] > 2.5 * tickets["茶饮"]


def test_every_join_channel_and_link_mode_is_used_and_store_qr_leads(chain):
    con = chain["con"]
    channels = dict(con.execute("SELECT join_channel, count(*) FROM members GROUP BY 1").fetchall())
    assert set(channels) == set(contract.JOIN_CHANNELS)
    assert max(channels, key=channels.get) == "store_qr"
    assert channels["store_qr"] / MEMBERS == pytest.approx(0.45, abs=0.03)
    modes = dict(con.execute("SELECT link_mode, count(*) FROM members GROUP BY 1").fetchall())
    assert set(modes) == set(contract.LINK_MODES) and min(modes.values()) > 0.05 * MEMBERS
    order_channels = dict(
        con.execute("SELECT channel, count(*) / sum(count(*)) OVER () FROM orders GROUP BY 1").fetchall()
    )
    assert set(order_channels) == set(contract.ORDER_CHANNELS)
    assert max(order_channels, key=order_channels.get) == "dine_in"


def test_funnel_some_members_never_order_and_most_store_qr_joins_order_at_once(chain):
    con = chain["con"]
    never = one(
        con,
        "SELECT avg((NOT EXISTS (SELECT 1 FROM orders o WHERE o.member_id = m.member_id))::INT) FROM members m WHERE joined_at::DATE >= ?",
        START,
    )
    assert 0.1 < never < 0.35
    same_day = con.execute(
        """SELECT join_channel, avg((first_order::DATE = joined_at::DATE)::INT)
           FROM members m JOIN (SELECT member_id, min(ordered_at) first_order FROM orders GROUP BY 1) USING (member_id)
           WHERE joined_at::DATE >= ? GROUP BY 1""",
        [START],
    ).fetchall()
    share = dict(same_day)
    assert share["store_qr"] > 0.85
    assert share["official_account"] < 0.1 and share["takeout_card"] < 0.1
    # the order placed while scanning the table's QR code: at the join store, dine-in, minutes after joining
    at_join = con.execute(
        """SELECT avg((o.store_id = m.join_store_id AND o.channel = 'dine_in')::INT),
                  max(date_diff('minute', m.joined_at, o.ordered_at))
           FROM members m JOIN orders o USING (member_id)
           WHERE m.join_channel = 'store_qr' AND m.joined_at::DATE >= ?
             AND o.ordered_at = (SELECT min(ordered_at) FROM orders x WHERE x.member_id = m.member_id)
             AND o.ordered_at::DATE = m.joined_at::DATE""",
        [START],
    ).fetchone()
    assert at_join[0] > 0.97 and at_join[1] <= 10


def test_repeat_rate_is_plausible(chain):
    con = chain["con"]
    repeat = one(
        con,
        """SELECT avg((n_days >= 2)::INT) FROM
           (SELECT member_id, count(DISTINCT ordered_at::DATE) n_days FROM orders WHERE member_id IS NOT NULL GROUP BY 1)""",
    )
    assert 0.55 < repeat < 0.9


def test_vip_share_about_eight_percent_and_vips_visit_more(chain):
    con = chain["con"]
    share = one(con, "SELECT avg((vip_since IS NOT NULL)::INT) FROM members")
    assert share == pytest.approx(0.08, abs=0.03)
    rows = dict(
        con.execute(
            """SELECT vip_since IS NOT NULL, avg(coalesce(n_days, 0)) FROM members m LEFT JOIN
               (SELECT member_id, count(DISTINCT ordered_at::DATE) n_days FROM orders GROUP BY 1) USING (member_id)
               GROUP BY 1"""
        ).fetchall()
    )
    assert rows[True] > 2 * rows[False]


def test_weekends_are_busier_than_weekdays(chain):
    con = chain["con"]
    per_day = dict(
        con.execute(
            """SELECT isodow(d) >= 6, avg(n) FROM (SELECT ordered_at::DATE d, count(*) n FROM orders GROUP BY 1)
               GROUP BY 1"""
        ).fetchall()
    )
    assert per_day[True] / per_day[False] == pytest.approx(P.WEEKEND_MULTIPLIER, abs=0.1)


def test_spring_festival_week_is_quiet_and_the_week_before_busy(chain):
    con = chain["con"]
    festivals = chain["truth"]["seasonality"]["spring_festival"]["in_period"]
    assert [f["new_year_day"] for f in festivals] == ["2026-02-17"]
    eve = dt.date(2026, 2, 16)

    def orders_in(first: dt.date) -> int:
        return one(
            con,
            "SELECT count(*) FROM orders WHERE ordered_at::DATE BETWEEN ? AND ?",
            first,
            first + dt.timedelta(days=6),
        )

    holiday, before = orders_in(eve), orders_in(eve - dt.timedelta(days=7))
    after = (orders_in(eve + dt.timedelta(days=14)) + orders_in(eve + dt.timedelta(days=21))) / 2
    assert holiday < 0.75 * after
    assert before > 1.1 * after


def test_orders_peak_at_lunch_and_dinner(chain):
    con = chain["con"]
    hours = dict(con.execute("SELECT hour(ordered_at), count(*) FROM orders GROUP BY 1").fetchall())
    assert hours[12] > 3 * hours[15] and hours[19] > 3 * hours[16]
    assert min(hours) >= 9 and max(hours) <= 23
    meals = one(
        con,
        """SELECT avg(((t BETWEEN 690 AND 810) OR (t BETWEEN 1050 AND 1230))::INT)
           FROM (SELECT hour(ordered_at) * 60 + minute(ordered_at) t FROM orders)""",  # minutes of the local day
    )
    assert meals > 0.7


def test_about_five_percent_of_visits_have_a_second_order_the_same_day(chain):
    con = chain["con"]
    share = one(
        con,
        """SELECT avg((n >= 2)::INT) FROM
           (SELECT member_id, ordered_at::DATE, count(*) n FROM orders WHERE member_id IS NOT NULL GROUP BY 1, 2)""",
    )
    assert share == pytest.approx(P.SAME_DAY_DOUBLE_SHARE, abs=0.012)


def test_non_member_orders_are_a_large_minority(chain):
    share = one(chain["con"], "SELECT avg((member_id IS NULL)::INT) FROM orders")
    expected = P.NON_MEMBER_TO_MEMBER_ORDERS / (1 + P.NON_MEMBER_TO_MEMBER_ORDERS)
    assert share == pytest.approx(expected, abs=0.02)


def test_groups_spells_and_messages(chain):
    con = chain["con"]
    kinds = {r[0] for r in con.execute("SELECT DISTINCT kind FROM groups").fetchall()}
    assert kinds == set(contract.GROUP_KINDS)
    in_groups = dict(
        con.execute(
            """SELECT link_mode, avg((EXISTS (SELECT 1 FROM group_members g WHERE g.member_id = m.member_id))::INT)
               FROM members m GROUP BY 1"""
        ).fetchall()
    )
    assert in_groups["none"] == 0 and in_groups["friend_only"] == 0
    assert in_groups["group_only"] > 0.95 and in_groups["group_then_friend"] > 0.95
    assert 0.6 < in_groups["friend_then_group"] <= 1
    delay = one(
        con,
        """SELECT median(date_diff('day', m.joined_at, g.joined_at)) FROM group_members g JOIN members m
           USING (member_id) WHERE link_mode = 'friend_then_group'""",
    )
    assert 14 <= delay <= 60
    assert one(con, "SELECT count(*) FROM group_members WHERE left_at IS NOT NULL") > 0


def test_touches_stay_below_half_the_orders(chain):
    con = chain["con"]
    assert one(con, "SELECT count(*) FROM touches") < 0.5 * one(con, "SELECT count(*) FROM orders")
    media = {r[0] for r in con.execute("SELECT DISTINCT medium FROM touches").fetchall()}
    assert media == set(contract.TOUCH_MEDIA)


# -- campaigns ----------------------------------------------------------------------------------------


def test_assignments_follow_the_planned_holdout(chain):
    con = chain["con"]
    rows = con.execute(
        """SELECT campaign_id, holdout_share, count(*), sum((arm = 'control')::INT) FROM campaigns
           JOIN assignments USING (campaign_id) GROUP BY 1, 2"""
    ).fetchall()
    assert len(rows) == one(con, "SELECT count(*) FROM campaigns")
    for _, holdout, n, control in rows:
        assert abs(control - holdout * n) <= 1
    assert any(h == 0 for _, h, _, _ in rows) and sum(h > 0 for _, h, _, _ in rows) >= 4
    kinds = {r[0] for r in con.execute("SELECT DISTINCT kind FROM campaigns").fetchall()}
    assert {"coupon", "birthday", "wake_up", "new_member"} <= kinds


def test_coupons_go_to_treated_members_and_redemptions_match_orders(chain):
    con = chain["con"]
    assert (
        one(
            con,
            """SELECT count(*) FROM coupons c LEFT JOIN assignments a USING (campaign_id, member_id)
           WHERE a.arm IS DISTINCT FROM 'treatment'""",
        )
        == 0
    )
    assert one(con, "SELECT count(*) FROM assignments WHERE arm = 'treatment'") == one(
        con, "SELECT count(*) FROM coupons"
    )
    bad = one(
        con,
        """SELECT count(*) FROM coupons c JOIN orders o USING (order_id) JOIN campaigns k USING (campaign_id)
           WHERE o.coupon_id <> c.coupon_id OR o.discount <> c.face_value OR o.member_id <> c.member_id
              OR o.ordered_at <> c.redeemed_at OR c.face_value <> k.coupon_value OR o.amount < 0
              OR c.redeemed_at <= c.issued_at
              OR c.redeemed_at::DATE >= c.issued_at::DATE + CAST(k.outcome_window_days AS INTEGER)""",
    )
    assert bad == 0
    assert one(con, "SELECT count(*) FROM coupons WHERE (order_id IS NULL) <> (redeemed_at IS NULL)") == 0
    assert one(con, "SELECT count(*) FROM orders WHERE coupon_id IS NOT NULL") == one(
        con, "SELECT count(order_id) FROM coupons"
    )
    assert one(con, "SELECT count(*) FROM orders WHERE coupon_id IS NULL AND discount <> 0") == 0
    assert 0.1 < one(con, "SELECT avg((order_id IS NOT NULL)::INT) FROM coupons") < 0.6


def test_treated_members_visit_more_than_controls_by_about_the_planted_effect(chain):
    """Pooled over the randomised campaigns (inverse-variance weights), the lift in visit-days inside the
    outcome window is the planted incremental visit-days per treated member, within three standard errors."""
    con = chain["con"]
    frame = con.execute(
        """WITH v AS (SELECT DISTINCT member_id, ordered_at::DATE d FROM orders WHERE member_id IS NOT NULL)
           SELECT a.campaign_id, a.arm, count(v.d) AS visits
           FROM assignments a JOIN campaigns c USING (campaign_id)
           LEFT JOIN v ON v.member_id = a.member_id AND v.d > a.assigned_at::DATE
                      AND v.d < a.assigned_at::DATE + CAST(c.outcome_window_days AS INTEGER)
           WHERE c.holdout_share > 0 GROUP BY a.campaign_id, a.member_id, a.arm"""
    ).df()
    planted = {
        c["campaign_id"]: c["segments"]["all"]["realised_incremental_visit_days_per_treated"]
        for c in chain["truth"]["campaigns"]
    }
    lifts, variances, truths = [], [], []
    for campaign, g in frame.groupby("campaign_id"):
        t, c = g.loc[g["arm"] == "treatment", "visits"], g.loc[g["arm"] == "control", "visits"]
        lifts.append(t.mean() - c.mean())
        variances.append(t.var() / len(t) + c.var() / len(c))
        truths.append(planted[campaign])
    w = 1 / np.array(variances)
    lift, se = np.sum(w * lifts) / w.sum(), np.sqrt(1 / w.sum())
    truth = np.sum(w * truths) / w.sum()
    assert len(lifts) >= 4
    assert abs(lift - truth) < 3 * se
    assert lift > 2 * se and 0.05 < truth < 0.2


# -- ground truth -------------------------------------------------------------------------------------


def test_truth_has_the_documented_keys(chain):
    import workbench.data.simulate as sim

    truth = chain["truth"]
    assert set(truth) == set(TRUTH_KEYS)
    for key in TRUTH_KEYS:
        assert re.search(rf"\b{key}\b", sim.__doc__), f"{key} is not documented"
    json.dumps(truth, allow_nan=False)  # plain JSON
    assert truth["counts"] == chain["summary"].rows
    assert {"join_channel", "link_mode", "vip", "in_group"} <= set(truth["segments"])
    ttsv = truth["repurchase"]["time_to_second_visit"]
    assert set(ttsv["by_join_channel"]) == set(contract.JOIN_CHANNELS)
    shares = [ttsv["all"]["returned_within_days"][str(d)] for d in P.RETURN_WITHIN_DAYS]
    assert shares == sorted(shares) and shares[0] > 0 and shares[-1] < 1
    assert set(truth["churn"]["hazard_ratio"]["link_mode"]) == set(contract.LINK_MODES)
    assert truth["churn"]["hazard_ratio"]["link_mode"]["none"] == 1.0
    assert set(truth["touches"]["response_within_7_days"]) == set(contract.TOUCH_MEDIA)


def test_truth_numbers_agree_with_the_tables(chain):
    con, truth = chain["con"], chain["truth"]
    for table, rows in truth["counts"].items():
        assert one(con, f'SELECT count(*) FROM "{table}"') == rows
    for c in truth["campaigns"]:
        arms = dict(
            con.execute(
                "SELECT arm, count(*) FROM assignments WHERE campaign_id = ? GROUP BY 1", [c["campaign_id"]]
            ).fetchall()
        )
        assert c["assigned"]["treatment"] == arms.get("treatment", 0)
        assert c["assigned"]["control"] == arms.get("control", 0)
        redeemed, cost = con.execute(
            "SELECT count(order_id), coalesce(sum(face_value) FILTER (WHERE order_id IS NOT NULL), 0) FROM coupons WHERE campaign_id = ?",
            [c["campaign_id"]],
        ).fetchone()
        seg = c["segments"]
        assert seg["all"]["redemptions"] == redeemed
        assert seg["price_sensitive"]["redemptions"] + seg["not_price_sensitive"]["redemptions"] == redeemed
        assert seg["all"]["coupon_cost"] == pytest.approx(float(cost))
        assert (
            seg["price_sensitive"]["treated"] + seg["not_price_sensitive"]["treated"]
            == c["assigned"]["treatment"]
        )
        assert c["randomised"] == (c["holdout_share"] > 0)
        if seg["price_sensitive"]["treated"] > 200:
            assert (
                seg["price_sensitive"]["extra_visit_prob"]
                > 3 * seg["not_price_sensitive"]["extra_visit_prob"]
            )
    vip = one(con, "SELECT count(*) FROM members WHERE vip_since IS NOT NULL")
    assert truth["vip"]["members"] == vip
    opened = [
        r[0]
        for r in con.execute(
            "SELECT store_id FROM stores WHERE opened_on >= ? ORDER BY 1", [START]
        ).fetchall()
    ]
    assert truth["stores"]["opened_in_period"] == opened
    for medium, rows in truth["touches"]["rows_without_campaign_by_medium"].items():
        assert (
            one(con, "SELECT count(*) FROM touches WHERE medium = ? AND campaign_id IS NULL", medium) == rows
        )


def test_truth_members_hold_one_row_of_latent_attributes_per_member(chain):
    con = chain["con"]
    latent = pq.read_table(truth_members_path(chain["path"])).to_pandas()
    ids = [r[0] for r in con.execute("SELECT member_id FROM members ORDER BY 1").fetchall()]
    assert sorted(latent["member_id"]) == ids
    for column in [
        "price_sensitive",
        "visit_rate_per_day",
        "mean_cycle_days",
        "dropout_at",
        "spend_factor",
        "join_channel",
        "link_mode",
        "vip",
        "in_group",
    ]:
        assert column in latent.columns
    assert latent["price_sensitive"].mean() == pytest.approx(P.PRICE_SENSITIVE_SHARE, abs=0.03)
    assert (latent["visit_rate_per_day"] * latent["mean_cycle_days"]).round(9).eq(1).all()
    dropped = latent.dropna(subset=["dropout_at"])
    assert (dropped["dropout_at"] >= dropped["first_visit_at"]).all()
    assert latent.loc[~latent["activated"], "dropout_at"].isna().all()
    # members never activated order only when a touch or a coupon brings them in: a minority
    never = set(latent.loc[~latent["activated"], "member_id"])
    ordered = {
        r[0]
        for r in con.execute("SELECT DISTINCT member_id FROM orders WHERE member_id IS NOT NULL").fetchall()
    }
    assert 0 < len(never & ordered) < 0.3 * len(never)


def test_truth_return_shares_match_the_data_where_nothing_is_censored(chain):
    """The Monte Carlo truth (independent draws) against new members' first visits in the data.

    Only first visits at least 30 days before the end count, so a 30-day return is never censored.
    """
    con, truth = chain["con"], chain["truth"]
    observed = one(
        con,
        """WITH v AS (SELECT DISTINCT o.member_id, o.ordered_at::DATE d FROM orders o JOIN members m USING (member_id)
                      WHERE m.joined_at::DATE >= ?),
           f AS (SELECT member_id, min(d) first_day FROM v GROUP BY 1)
           SELECT avg((EXISTS (SELECT 1 FROM v WHERE v.member_id = f.member_id AND v.d > f.first_day
                               AND v.d <= f.first_day + 30))::INT)
           FROM f WHERE f.first_day <= ?""",
        START,
        dt.date.fromisoformat(END) - dt.timedelta(days=30),
    )
    planted = truth["repurchase"]["time_to_second_visit"]["all"]["returned_within_days"]["30"]
    assert observed == pytest.approx(planted, abs=0.04)


def test_summary_names_the_numbers_a_demo_prints(chain):
    summary = chain["summary"]
    text = summary.format()
    for word in ("stores", "members", "orders", "revenue", "campaigns", str(START), END):
        assert word in text
    assert summary.orders == one(chain["con"], "SELECT count(*) FROM orders")
    assert summary.revenue == pytest.approx(float(one(chain["con"], "SELECT sum(amount) FROM orders")))
    assert 0.4 < summary.member_revenue_share < 0.8


# -- time zone ------------------------------------------------------------------------------------------


def test_local_times_become_utc_with_the_zone_of_each_day():
    tl = Timeline.build(dt.date(2026, 11, 22), 52, "Europe/Berlin", pre=0, post=0)
    winter = tl.day_of(dt.date(2026, 1, 15))
    summer = tl.day_of(dt.date(2026, 7, 15))
    noon = np.array([12.0])
    to_utc = lambda day: dt.datetime.fromtimestamp(tl.to_utc_us(np.array([day]), noon)[0] / 1e6, dt.UTC)  # noqa: E731
    assert to_utc(winter).hour == 11 and to_utc(summer).hour == 10
    shanghai = Timeline.build(dt.date(2026, 11, 22), 1, Settings().timezone, pre=0, post=0)
    assert dt.datetime.fromtimestamp(shanghai.to_utc_us(np.array([0]), noon)[0] / 1e6, dt.UTC).hour == 4


def test_seasonal_clock_runs_faster_on_weekends_and_slower_in_the_festival_week():
    tl = Timeline.build(dt.date(2026, 11, 22), 104, "Asia/Shanghai", pre=0, post=0)
    saturday, monday = tl.day_of(dt.date(2026, 3, 7)), tl.day_of(dt.date(2026, 3, 9))
    assert tl.day_multiplier(saturday) / tl.day_multiplier(monday) == pytest.approx(P.WEEKEND_MULTIPLIER)
    festival = tl.day_of(dt.date(2026, 2, 18))  # a Wednesday of the holiday week
    plain = tl.day_of(dt.date(2026, 3, 4))
    assert tl.day_multiplier(festival) / tl.day_multiplier(plain) == pytest.approx(
        P.SPRING_FESTIVAL_WEEK_MULTIPLIER
    )
    t = np.array([10.25, 100.5, 400.75])
    assert tl.calendar_time(tl.op_time(t)) == pytest.approx(t)


def test_spring_festival_dates_agree_with_the_holidays_package():
    years = sorted(SPRING_FESTIVAL)
    assert spring_festivals_from_holidays(years[0], years[-1]) == SPRING_FESTIVAL
    assert spring_festivals(2031, 2032) == [dt.date(2031, 1, 23), dt.date(2032, 2, 11)]  # beyond the table
