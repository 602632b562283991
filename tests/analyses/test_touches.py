"""Touch response, checked by hand and against the planted response per touch of a simulated chain.

Hand case: as_of 2026-03-31, since 2026-03-02, response_days=7, so touches of 2-24 March count and the
weekly control days are the Mondays 2, 9, 16 and 23 March. P1-P4 are WeCom friends (friend_only), N1 is
not linked; all joined on 1 January and have no visit before 9 March (recency 'none', frequency '0').

  touches                                           visits
  P1 private chat Tue 10 Mar                        P1 12 Mar
  P2 private chat Tue 10 Mar                        P2 18 Mar (day 8 after the touch: outside)
  P3 private chat Mon 9 Mar, campaign C1 (ignored)  N1 11 Mar
  N1 SMS Tue 10 Mar
  P4 private chat 28 Mar (after 24 Mar: ignored)
  group G1 (P1, P2 from 1 Feb): 1 message Mon 9 Mar

Private chat, stratum (week of 9 Mar, none, 0): touched P1 (visited), P2 (not): 1/2. Controls are the
  friends on Monday 9 Mar without a private chat that day (the campaign message does not count): P1
  (10-16 Mar holds 12 Mar: visited), P2, P3, P4 -> 1/4. Difference 1/4; variances (ddof 1) 0.5 / 2 and
  0.25 / 4, se = sqrt(0.3125).
SMS: touched N1 (visited 11 Mar): 1/1. Controls: everyone on 9 Mar without an SMS: P1 and N1 visited of
  5 -> 2/5. Difference 0.6; the single touched unit borrows the arm's variance (0), controls
  (2 - 4/5) / 4 / 5 = 0.06.
Group messages, stratum G1, clusters = Mondays: 9 Mar touched (1 message): P1 visited, P2 not -> 1/2
  (one cluster: unit variance 0.5 / 2). Controls 2, 16, 23 Mar (no message): only P2 on 16 Mar (18 Mar
  within 17-23 Mar) -> 1/6; cluster totals 0, 1, 0 of 2 each: residuals -1/3, 2/3, -1/3, sum of squares
  2/3, x 3/2 / 6^2 = 1/36. Difference 1/3, se = sqrt(1/4 + 1/36).
Moments: no touches.
"""

import json
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.touches import CELL_COLUMNS, TABLE_COLUMNS, touch_response
from workbench.data import simulate
from workbench.errors import MissingTableError, ParameterError

AS_OF = "2026-03-31"
EPOCH = pd.Timestamp("1970-01-01")
Z = 1.959964


def order(oid, member, when, amount=50):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}


def touch(tid, medium, when, member=None, group=None, campaign=None):
    return {"touch_id": tid, "sent_at": when, "medium": medium, "member_id": member, "group_id": group,
            "campaign_id": campaign}  # fmt: skip


MEMBERS = [
    {"member_id": m, "joined_at": "2026-01-01 10:00", "link_mode": "friend_only" if m[0] == "P" else "none"}
    for m in ("P1", "P2", "P3", "P4", "N1")
]
ORDERS = [
    order("p1", "P1", "2026-03-12 12:00"),
    order("p2", "P2", "2026-03-18 12:00"),
    order("n1", "N1", "2026-03-11 12:00"),
]
TOUCHES = [
    touch("t1", "private_chat", "2026-03-10 12:00", member="P1"),
    touch("t2", "private_chat", "2026-03-10 15:00", member="P2"),
    touch("t3", "private_chat", "2026-03-09 11:00", member="P3", campaign="C1"),
    touch("t4", "sms", "2026-03-10 12:00", member="N1"),
    touch("t5", "private_chat", "2026-03-28 12:00", member="P4"),
    touch("t6", "group", "2026-03-09 12:00", group="G1"),
]
GROUPS = [{"group_id": "G1", "kind": "store", "store_id": "S1", "created_at": "2026-01-01 10:00"}]
SPELLS = [{"group_id": "G1", "member_id": m, "joined_at": "2026-02-01 10:00"} for m in ("P1", "P2")]


@pytest.fixture
def db(make_store, store_row):
    tables = {"stores": [store_row()], "members": MEMBERS, "orders": ORDERS, "touches": TOUCHES,
              "groups": GROUPS, "group_members": SPELLS}  # fmt: skip
    return wb.connect(make_store(tables, data_through=AS_OF))


@pytest.fixture
def result(db):
    return touch_response(db, as_of=AS_OF, since="2026-03-02")


def medium_row(result, medium):
    return result.table.set_index("medium").loc[medium]


def test_result_has_the_documented_columns(result):
    assert tuple(result.table.columns) == TABLE_COLUMNS
    assert tuple(result.cells.columns) == CELL_COLUMNS
    assert result.table["medium"].tolist() == ["private_chat", "group", "moments", "sms"]
    assert (result.table["label"] == "observational").all()
    assert result.table["note"].str.contains("not causal").all()


def test_private_chat_against_friends_of_the_same_week(result):
    r = medium_row(result, "private_chat")
    assert (r.touched_units, r.touches, r.matched_units, r.unmatched_units, r.control_units) == (
        2,
        2,
        2,
        0,
        4,
    )
    assert (r.share_touched, r.share_control, r.difference) == pytest.approx((0.5, 0.25, 0.25))
    se = math.sqrt(0.5 / 2 + 0.25 / 4)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.25 - Z * se, 0.25 + Z * se), abs=1e-5)
    assert r.extra_visits_per_unit == pytest.approx(0.25)
    assert r.extra_visits_per_touch == pytest.approx(0.25)
    cell = result.cells[(result.cells.medium == "private_chat") & (result.cells.role == "touched")]
    assert cell[["stratum", "recency_band", "frequency_band", "units", "visited"]].values.tolist() == [
        ["2026-03-09", "none", "0", 2, 1]
    ]


def test_sms_reaches_every_member(result):
    r = medium_row(result, "sms")
    assert (r.touched_units, r.control_units) == (1, 5)
    assert (r.share_touched, r.share_control, r.difference) == pytest.approx((1.0, 0.4, 0.6))
    se = math.sqrt(0.0 + 0.3 / 5)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.6 - Z * se, 0.6 + Z * se), abs=1e-5)


def test_group_messages_are_compared_within_the_group_with_days_as_clusters(result):
    r = medium_row(result, "group")
    assert (r.touched_units, r.touches, r.control_units) == (2, 2, 6)
    assert (r.share_touched, r.share_control) == pytest.approx((0.5, 1 / 6))
    assert r.difference == pytest.approx(1 / 3)
    se = math.sqrt(0.25 + 1 / 36)
    assert (r.ci_low, r.ci_high) == pytest.approx((1 / 3 - Z * se, 1 / 3 + Z * se), abs=1e-5)


def test_a_medium_without_touches_has_no_estimate(result):
    r = medium_row(result, "moments")
    assert r.touched_units == 0 and r.matched_units == 0 and math.isnan(r.difference)


def test_summary_says_observational(result):
    assert "not causal" in result.summary(lang="en") and "Private chat" in result.summary(lang="en")
    zh = result.summary(lang="zh")
    assert "观察性结果" in zh and "私聊" in zh


def test_a_daily_visitor_counts_every_visit_of_the_window(make_store, store_row):
    # D1 visits every day from 9 to 17 March and gets a private chat on Monday 9 March, a day with a visit:
    # the 7 days after hold 7 visits (10-16 March). On Monday 16 March (a control day) the last visit was
    # the day before, 7 visits fall in the 90 days before (9-15 March) and one in the 7 after (17 March).
    members = [{"member_id": "D1", "joined_at": "2026-01-01 10:00", "link_mode": "friend_only"}]
    orders = [order(f"d{day}", "D1", f"2026-03-{day:02d} 12:00") for day in range(9, 18)]
    touches = [touch("t1", "private_chat", "2026-03-09 09:00", member="D1")]
    tables = {"stores": [store_row()], "members": members, "orders": orders, "touches": touches}
    db = wb.connect(make_store(tables, data_through=AS_OF))
    cells = touch_response(db, as_of=AS_OF, since="2026-03-02", mediums="private_chat").cells
    columns = ["role", "stratum", "recency_band", "frequency_band", "units", "touches", "visits", "visits_sq"]
    assert cells[columns].values.tolist() == [
        ["control", "2026-03-02", "none", "0", 1, 0, 1, 1],
        ["control", "2026-03-16", "1-7", "5+", 1, 0, 1, 1],
        ["control", "2026-03-23", "1-7", "5+", 1, 0, 0, 0],
        ["touched", "2026-03-09", "none", "0", 1, 1, 7, 49],
    ]


def test_mediums_selects_rows(db):
    r = touch_response(db, as_of=AS_OF, since="2026-03-02", mediums="sms")
    assert r.table["medium"].tolist() == ["sms"]


def test_response_window_is_a_parameter(db):
    # With 8 days P2's visit on 18 Mar (8 days after the touch) counts; the control window of Monday
    # 9 Mar becomes 10-17 Mar and still misses it.
    r = touch_response(db, as_of=AS_OF, since="2026-03-02", response_days=8, mediums=["private_chat"])
    assert medium_row(r, "private_chat").share_touched == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"response_days": 0}, "response_days"),
        ({"response_days": "7"}, "response_days"),
        ({"mediums": ["email"]}, "mediums='email' is not valid; expected one of: private_chat, group"),
        ({"mediums": []}, "mediums"),
        ({"since": "2026-03-30"}, "since=2026-03-30 is after the last touch day"),
    ],
)
def test_bad_parameters_raise(db, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        touch_response(db, as_of=AS_OF, **kwargs)


def _drop(db, table):
    path = db.path
    db.close()
    con = duckdb.connect(str(path))
    con.execute(f'DROP TABLE "{table}"')
    con.close()
    return wb.connect(path)


def test_missing_touches_table_is_named(db):
    db = _drop(db, "touches")
    with pytest.raises(MissingTableError, match="touch_response needs the table.*touches"):
        touch_response(db, as_of=AS_OF)


def test_group_messages_need_group_members(db):
    db = _drop(db, "group_members")
    with pytest.raises(MissingTableError, match="group_members"):
        touch_response(db, as_of=AS_OF, since="2026-03-02")
    r = touch_response(db, as_of=AS_OF, since="2026-03-02", mediums=["private_chat", "sms"])
    assert r.table["medium"].tolist() == ["private_chat", "sms"]


# -- planted truth --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("touches") / "chain.duckdb"
    simulate.simulate_chain(path, members=5000, weeks=78, seed=11, end="2026-11-22")
    truth = json.loads(simulate.truth_path(path).read_text(encoding="utf-8"))
    return wb.connect(path), truth


@pytest.fixture(scope="module")
def chain_result(chain):
    db, truth = chain
    return touch_response(db, since="2025-06-01"), truth


def test_planted_response_per_touch_is_recovered(chain_result):
    """The simulator plants the probability that one touch adds a visit on days 1-7 after it. The
    estimate comparable to it is extra visits per touch. Its 95% interval should cover the planted value:
    the only systematic gap is that a caused visit landing on a day the member visits anyway is not an
    extra visit-day, which happens on a few per cent of days (members visit every few weeks), so the
    bias is a few per cent of the response, far inside the interval. Campaign touches are left out (they
    carry no response of their own)."""
    result, truth = chain_result
    assert truth["touches"]["campaign_touches_have_no_own_response"]
    planted = truth["touches"]["response_within_7_days"]
    t = result.table.set_index("medium")
    for medium, value in planted.items():
        r = t.loc[medium]
        assert r.per_touch_ci_low < value < r.per_touch_ci_high, (medium, r.extra_visits_per_touch, value)
    # Private chat works (0.06 planted): the interval excludes zero and the other media's estimates.
    pc = t.loc["private_chat"]
    assert pc.per_touch_ci_low > 0.03
    for medium in ("group", "moments", "sms"):
        assert t.loc[medium, "extra_visits_per_touch"] < pc.per_touch_ci_low
    # The share visiting moves by the response times the share who would not have come anyway.
    assert 0.03 < pc.difference < 0.07


# -- every cell against a count by definition ---------------------------------------------------------


def _local_days(values, timezone):
    return pd.to_datetime(values, utc=True).dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def _reference_cells(db, params) -> pd.DataFrame:
    """The cells worked out unit by unit from the tables, as the module docstring defines them: every
    member (once joined) on every Monday, and every (member, day) with a non-campaign touch; for each, the
    days since the last visit before it, the visits in the 90 days before and in the 7 days after."""
    tz = db.settings.timezone
    start, until, days = params["since"], params["until"], params["response_days"]
    mondays = pd.date_range(start, until, freq="W-MON")
    members = db.members.to_pandas()
    members["join"] = _local_days(members["joined_at"], tz)
    members["friend"] = members["link_mode"].isin(["friend_only", "friend_then_group", "group_then_friend"])
    orders = db.orders.select("member_id", "ordered_at").to_pandas().dropna()
    orders["day"] = _local_days(orders["ordered_at"], tz)
    visits = orders[["member_id", "day"]].drop_duplicates()
    visits = visits[visits["day"] <= pd.Timestamp(until) + pd.Timedelta(days=days)]
    touches = db.touches.to_pandas()
    touches["day"] = _local_days(touches["sent_at"], tz)
    window = (touches["day"] >= pd.Timestamp(start)) & (touches["day"] <= pd.Timestamp(until))
    own = touches[window & touches["member_id"].notna() & touches["campaign_id"].isna()]
    own = own[own["medium"] != "group"]
    counts = own.groupby(["member_id", "day", "medium"]).size().unstack(fill_value=0).reset_index()

    grid = members.merge(pd.DataFrame({"day": mondays}), how="cross")
    grid = grid[grid["join"] <= grid["day"]][["member_id", "day"]]
    units = pd.concat([grid, counts[["member_id", "day"]]]).drop_duplicates()
    units = units.merge(counts, on=["member_id", "day"], how="left").fillna(0)
    units = units.merge(members[["member_id", "friend"]], on="member_id", how="left")
    units["is_grid"] = units["day"].isin(mondays)

    # Visits before, in the 90 days before, and in the days after each unit, from sorted day numbers.
    code = {m: i for i, m in enumerate(members["member_id"])}
    key = visits["member_id"].map(code).to_numpy() * 100_000 + (visits["day"] - EPOCH).dt.days.to_numpy()
    key = np.sort(key)
    u = units["member_id"].map(code).to_numpy() * 100_000 + (units["day"] - EPOCH).dt.days.to_numpy()
    before = np.searchsorted(key, u, "left")
    prior = before - np.searchsorted(key, u - 90, "left")
    post = np.searchsorted(key, u + days, "right") - np.searchsorted(key, u, "right")
    has_last = (before > 0) & (key[np.maximum(before - 1, 0)] // 100_000 == u // 100_000)
    recency = np.where(has_last, u - key[np.maximum(before - 1, 0)], 10**6)
    rec_edges = [1, 8, 15, 31, 61, 91, 181, 366]
    rec_names = ["1-7", "8-14", "15-30", "31-60", "61-90", "91-180", "181-365"]
    units["recency_band"] = [
        "none" if r > 365 else rec_names[np.searchsorted(rec_edges, r, "right") - 1] for r in recency
    ]
    units["frequency_band"] = [["0", "1", "2", "3-4", "3-4"][p] if p < 5 else "5+" for p in prior]
    units["post"] = post
    units["week"] = (units["day"] - pd.to_timedelta(units["day"].dt.weekday, unit="D")).dt.strftime(
        "%Y-%m-%d"
    )

    parts = []
    for medium in ("private_chat", "moments", "sms"):
        n = units.get(medium, 0)
        reach = units["is_grid"] & (units["friend"].fillna(False).astype(bool) if medium != "sms" else True)
        for role, rows in (("touched", units[n > 0]), ("control", units[reach & (n == 0)])):
            touches_col = rows.get(medium, 0)
            rows = rows.assign(
                touches=touches_col, visited=(rows["post"] > 0).astype(int), sq=rows["post"] ** 2
            )
            cells = rows.groupby(["week", "recency_band", "frequency_band"]).agg(
                units=("post", "size"), touches=("touches", "sum"), visited=("visited", "sum"),
                visits=("post", "sum"), visits_sq=("sq", "sum"),
            )  # fmt: skip
            parts.append(cells.reset_index().assign(medium=medium, role=role))
    out = pd.concat(parts).rename(columns={"week": "stratum"}).assign(cluster="")

    # Group messages: members in a group (and members) on a Monday, touched when the group sent one.
    spells = db.group_members.to_pandas()
    spells["join"], spells["leave"] = _local_days(spells["joined_at"], tz), _local_days(spells["left_at"], tz)
    present = spells.merge(pd.DataFrame({"day": mondays}), how="cross")
    present = present[(present["join"] <= present["day"]) & ~(present["leave"] <= present["day"])]
    present = present.merge(members[["member_id", "join"]], on="member_id", suffixes=("", "_member"))
    present = present[present["join_member"] <= present["day"]]
    sent = touches[touches["group_id"].notna()].groupby(["group_id", "day"]).size().rename("touches")
    present = present.join(sent, on=["group_id", "day"]).fillna({"touches": 0})
    g = present["member_id"].map(code).to_numpy() * 100_000 + (present["day"] - EPOCH).dt.days.to_numpy()
    present["post"] = np.searchsorted(key, g + days, "right") - np.searchsorted(key, g, "right")
    present = present.assign(
        role=np.where(present["touches"] > 0, "touched", "control"),
        visited=(present["post"] > 0).astype(int), sq=present["post"] ** 2,
        cluster=present["day"].dt.strftime("%Y-%m-%d"),
    )  # fmt: skip
    groups = present.groupby(["role", "group_id", "cluster"]).agg(
        units=("post", "size"), touches=("touches", "sum"), visited=("visited", "sum"),
        visits=("post", "sum"), visits_sq=("sq", "sum"),
    )  # fmt: skip
    groups = groups.reset_index().rename(columns={"group_id": "stratum"})
    out = pd.concat([out, groups.assign(medium="group", recency_band="all", frequency_band="all")])
    out = out[list(CELL_COLUMNS)].astype({c: "int64" for c in CELL_COLUMNS[6:]})
    return out.sort_values(list(CELL_COLUMNS[:6])).reset_index(drop=True)


def test_every_cell_equals_a_count_unit_by_unit(chain, chain_result):
    """The engine derives each unit's covariates from the member's neighbouring visits and generates the
    weekly control days from the gaps between visits; counting each unit by definition gives the same
    cells, for all four media."""
    db, _ = chain
    result, _ = chain_result
    expected = _reference_cells(db, result.params)
    assert len(expected) > 1000 and set(expected["medium"]) == {"private_chat", "group", "moments", "sms"}
    pd.testing.assert_frame_equal(result.cells, expected)
