"""Lifecycle figures as objects: bar traces per state, Sankey nodes and links, the localised flows table.

The chain (weeks, D = 10, L = 20, as_of Sunday 2026-03-22): W10 (03-02), W11 (03-09), W12 (03-16 .. 03-22).
  A (store_qr): visits 03-02, 03-10   W10 new, W11 active, W12 dormant (r = 03-22 - 03-10 = 12 > 10)
  B (store_qr): visit 03-03           W10 new, W11 dormant (r = 12), W12 dormant (r = 19 < 20)
  C (referral): visits 03-09, 03-20   W11 new, W12 active
Counts: W10 new 2 | W11 new 1, active 1, dormant 1 | W12 active 1, dormant 2.
Flows into W12: new->active 1 (C), active->dormant 1 (A), dormant->dormant 1 (B);
into W11: new->active 1 (A), new->dormant 1 (B), none->new 1 (C).
"""

import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.lifecycle import STATES, lifecycle
from workbench.errors import ParameterError
from workbench.figures.lifecycle import flows_table, lifecycle_counts, lifecycle_sankey

AS_OF = "2026-03-22"


def order(oid, member, when):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": 50, "member_id": member}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from tests.conftest import one_store, write_store

    members = [
        {"member_id": m, "joined_at": "2026-02-01 10:00", "join_channel": ch}
        for m, ch in [("A", "store_qr"), ("B", "store_qr"), ("C", "referral")]
    ]
    orders = [
        order("a1", "A", "2026-03-02 12:00"),
        order("a2", "A", "2026-03-10 12:00"),
        order("b1", "B", "2026-03-03 12:00"),
        order("c1", "C", "2026-03-09 12:00"),
        order("c2", "C", "2026-03-20 12:00"),
    ]
    path = tmp_path_factory.mktemp("lcfig") / "s.duckdb"
    write_store(path, {"stores": [one_store()], "members": members, "orders": orders}, data_through=AS_OF)
    return wb.connect(path)


@pytest.fixture(scope="module")
def result(db):
    return lifecycle(db, as_of=AS_OF, dormant_after_days=10, lost_after_days=20)


@pytest.fixture(scope="module")
def split(db):
    return lifecycle(db, as_of=AS_OF, dormant_after_days=10, lost_after_days=20, segment_by="join_channel")


def test_counts_figure_stacks_one_bar_trace_per_state(result):
    fig = lifecycle_counts(result, lang="en")
    assert [t.name for t in fig.data] == ["New", "Active", "Returning", "Dormant", "Lost"]
    assert fig.layout.barmode == "stack"
    assert list(fig.data[0].x) == ["2026-W10", "2026-W11", "2026-W12"]
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name["New"] == [2, 1, 0]
    assert by_name["Active"] == [0, 1, 1]
    assert by_name["Dormant"] == [0, 1, 2]
    assert fig.layout.xaxis.title.text == "Week"


def test_counts_figure_can_show_shares_and_one_segment(split):
    fig = lifecycle_counts(split, lang="en", segment="store_qr", share=True)
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name["Dormant"] == pytest.approx([0, 0.5, 1.0])
    assert fig.layout.yaxis.tickformat == ".0%"
    assert "Store QR code" in fig.layout.title.text


def test_counts_figure_sums_segments_by_default(split, result):
    a = {t.name: list(t.y) for t in lifecycle_counts(split, lang="en").data}
    b = {t.name: list(t.y) for t in lifecycle_counts(result, lang="en").data}
    assert a == b


def test_titles_are_chinese_in_zh_and_not_in_en(result):
    for build in (lifecycle_counts, lifecycle_sankey):
        zh, en = build(result, lang="zh"), build(result, lang="en")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.layout.title.text)
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in en.layout.title.text)
    zh_names = [t.name for t in lifecycle_counts(result, lang="zh").data]
    assert zh_names == ["新客", "活跃", "回流", "沉睡", "流失"]


def test_sankey_defaults_to_the_last_period_and_carries_the_flows(result):
    fig = lifecycle_sankey(result, lang="en")
    s = fig.data[0]
    assert "2026-W11 → 2026-W12" in fig.layout.title.text
    labels = list(s.node.label)
    links = {
        (labels[a], labels[b]): v for a, b, v in zip(s.link.source, s.link.target, s.link.value, strict=True)
    }
    assert links == {
        ("New (2026-W11)", "Active (2026-W12)"): 1,
        ("Active (2026-W11)", "Dormant (2026-W12)"): 1,
        ("Dormant (2026-W11)", "Dormant (2026-W12)"): 1,
    }


def test_sankey_for_an_earlier_period_shows_the_inflow(result):
    for period_to in ("2026-W11", "2026-03-11"):
        s = lifecycle_sankey(result, lang="en", period_to=period_to).data[0]
        labels = list(s.node.label)
        links = {
            (labels[a], labels[b]): v
            for a, b, v in zip(s.link.source, s.link.target, s.link.value, strict=True)
        }
        assert links[("Outside the pool (no visit yet)", "New (2026-W11)")] == 1
        assert sum(s.link.value) == 3  # the pool of W11: A, B, C


def test_sankey_rejects_a_period_without_flows(result):
    with pytest.raises(ParameterError, match="2026-W11, 2026-W12"):
        lifecycle_sankey(result, lang="en", period_to="2026-W10")


def test_flows_table_has_localised_headers_and_shares(result, split):
    t = flows_table(result, lang="en")
    assert list(t.columns) == [
        "From period",
        "To period",
        "From state",
        "To state",
        "Members",
        "Share of the from-state",
    ]
    row = t[(t["To period"] == "2026-W12") & (t["From state"] == "Active")].iloc[0]
    assert row["To state"] == "Dormant" and row["Members"] == 1 and row["Share of the from-state"] == 1.0
    inflow = t[t["From state"] == "Outside the pool (no visit yet)"]
    assert inflow["Share of the from-state"].isna().all()
    zh = flows_table(split, lang="zh")
    assert "分组" in zh.columns and "门店扫码" in set(zh["分组"])
    assert len(zh) == len(split.flows)


def test_bad_inputs_raise(result):
    with pytest.raises(ParameterError, match="lang"):
        lifecycle_counts(result, lang="fr")
    with pytest.raises(ParameterError, match="segment"):
        lifecycle_counts(result, lang="en", segment="nope")
    with pytest.raises(ParameterError, match="wb.lifecycle"):
        lifecycle_sankey(pd.DataFrame(), lang="en")


def test_states_constant_matches_the_figure_order():
    assert STATES == ("new", "active", "returning", "dormant", "lost")
