"""Repurchase figures as objects: traces, axis titles in both languages, hover, horizon marks, empty cases.

The chains are those of tests/analyses/test_repurchase.py (store_qr and mini_program members as of 2026-03-31,
and three members who joined a community group), where the numbers are worked out by hand.
"""

import numpy as np
import plotly.graph_objects as go
import pytest

import workbench as wb
from workbench.analyses.repurchase import repurchase_cycle
from workbench.figures.repurchase import cycle_by_segment, group_effect, interval_distribution, time_to_return

AS_OF = "2026-03-31"
HORIZONS = (1, 3, 7, 10)

# Visit days in March 2026 (noon unless a time is given); see the analysis tests for the worked numbers.
VISITS = {
    "A": ["03-01", "03-03", "03-10"],
    "B": ["03-01", "03-01 19:00", "03-05"],
    "C": ["03-28"],
    "D": ["03-21"],
    "E": ["03-01", "03-09"],
    "F": ["03-31"],
    "G": ["03-14 23:59", "03-15 00:01"],
    "H": ["03-02", "03-12", "03-22"],
    "I": ["03-30"],
}
CHANNEL = {m: "store_qr" for m in "ABCDEFG"} | {"H": "mini_program", "I": "mini_program"}
# Community groups: mean interval before / after joining is 10 / 5 (P), 8 / 7 (Q), 7 / 6.5 (R).
GROUP_VISITS = {
    "P": ["01-02", "01-12", "01-22", "02-01", "02-06", "02-11"],
    "Q": ["01-21", "01-29", "02-06", "02-12", "02-16", "02-22", "03-05"],
    "R": ["02-01", "02-05", "02-15", "02-20", "02-28"],
}
GROUP_JOINS = {"P": "2026-02-01 10:00", "Q": "2026-02-11 00:30", "R": "2026-02-15 12:00"}


def tables(visits, channel):
    orders = []
    for m, days in visits.items():
        for i, d in enumerate(days):
            when = f"2026-{d}" if " " in d else f"2026-{d} 12:00"
            orders.append(
                {"order_id": f"{m}{i}", "store_id": "S1", "ordered_at": when, "amount": 50, "member_id": m}
            )
    members = [
        {"member_id": m, "joined_at": "2025-12-01 10:00", "join_channel": ch} for m, ch in channel.items()
    ]
    return {"members": members, "orders": orders}


@pytest.fixture
def db(make_store, store_row):
    t = tables(VISITS, CHANNEL) | {"stores": [store_row()]}
    return wb.connect(make_store(t, data_through=AS_OF))


@pytest.fixture
def result(db):
    return repurchase_cycle(db, as_of=AS_OF, segment_by="join_channel", horizons=HORIZONS)


@pytest.fixture
def grouped(make_store, store_row):
    t = tables(GROUP_VISITS, dict.fromkeys(GROUP_VISITS, "store_qr")) | {"stores": [store_row()]}
    t["groups"] = [{"group_id": "G1", "kind": "store", "store_id": "S1"}]
    t["group_members"] = [{"group_id": "G1", "member_id": m, "joined_at": j} for m, j in GROUP_JOINS.items()]
    return repurchase_cycle(wb.connect(make_store(t, data_through=AS_OF)), as_of=AS_OF)


def named(fig, name):
    return [t for t in fig.data if t.name == name]


# -- time to return ----------------------------------------------------------------------------------------


def test_time_to_return_has_a_step_curve_band_and_horizon_markers_per_segment(result):
    fig = time_to_return(result, lang="en")
    assert isinstance(fig, go.Figure)
    curve = [
        t for t in fig.data if t.name == "Store QR code" and t.mode == "lines" and t.showlegend is not False
    ]
    assert len(curve) == 1
    c = curve[0]
    assert list(c.x) == [0, 1, 2, 3, 4, 8, 10]
    np.testing.assert_allclose(c.y, 1 - np.array([1, 5 / 6, 2 / 3, 2 / 3, 4 / 9, 2 / 9, 2 / 9]))
    assert c.line.shape == "hv"
    bands = [t for t in fig.data if t.name == "Store QR code 95% interval"]
    assert len(bands) == 2 and bands[1].fill == "tonexty"
    markers = [t for t in fig.data if t.mode == "markers" and t.legendgroup == "Store QR code"]
    assert list(markers[0].x) == [1, 3, 7, 10]
    np.testing.assert_allclose(markers[0].y, [1 / 6, 1 / 3, 5 / 9, 7 / 9])
    assert "Back within %{x}d" in markers[0].hovertemplate
    # Both segments drawn, each with band (2), curve and markers.
    assert {t.legendgroup for t in fig.data} == {"Store QR code", "Mini-program"}
    # One dotted line per horizon, labelled.
    assert [s.x0 for s in fig.layout.shapes] == list(HORIZONS)
    assert [a.text for a in fig.layout.annotations] == ["1d", "3d", "7d", "10d"]


def test_time_to_return_axis_titles_and_hover_in_both_languages(result):
    en = time_to_return(result, lang="en")
    zh = time_to_return(result, lang="zh")
    assert en.layout.xaxis.title.text == "Days since visit 1"
    assert en.layout.yaxis.title.text == "Share returned"
    assert zh.layout.xaxis.title.text == "距第1次到店天数"
    assert zh.layout.yaxis.title.text == "已回访占比"
    assert en.layout.yaxis.tickformat == ".0%"
    assert "Return after visit 1" in en.layout.title.text and "2026-03-31" in en.layout.title.text
    assert "第1次到店后的回访" in zh.layout.title.text
    hover = [t.hovertemplate for t in zh.data if t.name == "门店扫码" and t.mode == "lines"][0]
    assert "95% 置信区间" in hover and "仍在观察" in hover


def test_time_to_return_for_the_second_visit_and_bad_visit_number(result):
    fig = time_to_return(result, lang="en", from_visit=2)
    assert fig.layout.xaxis.title.text == "Days since visit 2"
    with pytest.raises(wb.ParameterError, match="from_visit=9 is not valid; expected one of: 1, 2, 3, 4, 5"):
        time_to_return(result, lang="en", from_visit=9)
    with pytest.raises(wb.ParameterError, match="lang='de'"):
        time_to_return(result, lang="de")
    with pytest.raises(wb.ParameterError, match="repurchase_cycle"):
        time_to_return(result.medians, lang="en")


# -- intervals and medians ------------------------------------------------------------------------------


def test_interval_distribution_lines_are_shares_of_completed_intervals(result):
    fig = interval_distribution(result, lang="en", from_visit=1)
    qr = named(fig, "Store QR code")[0]
    assert list(qr.x) == [1, 2, 4, 8] and list(qr.y) == [0.25, 0.25, 0.25, 0.25]
    assert list(qr.customdata) == [1, 1, 1, 1]
    assert fig.layout.xaxis.title.text == "Interval between visits (days)"
    assert fig.layout.yaxis.title.text == "Share of intervals"
    assert "Intervals: %{customdata:,}" in qr.hovertemplate
    zh = interval_distribution(result, lang="zh")
    assert zh.layout.xaxis.title.text == "到店间隔（天）" and "仅描述" in zh.layout.title.text
    pooled = named(zh, "门店扫码")[0]
    assert list(pooled.x) == [1, 2, 4, 7, 8]  # visit 2 -> 3 adds A's 7 days


def test_cycle_by_segment_marks_medians_with_their_intervals(result):
    fig = cycle_by_segment(result, lang="en")
    first = named(fig, "1→2")[0]
    assert list(first.x) == ["Mini-program", "Store QR code"]
    assert list(first.y) == [10, 4]
    assert fig.layout.yaxis.title.text == "Median days to return"
    assert fig.layout.xaxis.title.text == "Segment"
    # store_qr: median 4, CI from 1 to no upper end (NaN: no whisker drawn).
    assert first.error_y.arrayminus[1] == 3 and np.isnan(first.error_y.array[1])
    assert "Members" in first.hovertemplate and "Returned" in first.hovertemplate
    # Visit 3 -> 4: nobody back, no median: NaN, drawn as nothing.
    assert all(np.isnan(named(fig, "3→4")[0].y))
    zh = cycle_by_segment(result, lang="zh", from_visit=1)
    assert [t.name for t in zh.data] == ["第1→2次"]
    assert zh.layout.yaxis.title.text == "回访中位天数" and zh.layout.xaxis.title.text == "分组"


# -- groups --------------------------------------------------------------------------------------------


def test_group_effect_bars_before_and_after_with_the_cycle_factor(grouped):
    fig = group_effect(grouped, lang="en")
    before, after = fig.data
    assert (before.name, after.name) == ("Before joining", "After joining")
    assert before.y[0] == pytest.approx((10 + 8 + 7) / 3) and after.y[0] == pytest.approx((5 + 7 + 6.5) / 3)
    assert after.text[0].startswith("×0.")
    assert fig.layout.yaxis.title.text == "Mean interval between visits (days)"
    assert "p-value" in after.hovertemplate and "Observational" in fig.layout.title.text
    zh = group_effect(grouped, lang="zh")
    assert [t.name for t in zh.data] == ["入群前", "入群后"] and "观察性" in zh.layout.title.text


def test_group_effect_without_members_says_so(result):
    fig = group_effect(result, lang="en")
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == "No member has intervals both before and after joining a group"


# -- empty results -------------------------------------------------------------------------------------------


def test_every_figure_draws_an_empty_result_as_a_message(db):
    empty = repurchase_cycle(db, as_of=AS_OF, cities=["北京"])
    for draw in (time_to_return, interval_distribution, cycle_by_segment):
        for lang, text in (("zh", "所选条件下没有数据"), ("en", "No data for the selected filters")):
            fig = draw(empty, lang=lang)
            assert len(fig.data) == 0 and fig.layout.annotations[0].text == text
    assert group_effect(empty, lang="zh").layout.annotations[0].text == "没有会员在加入社群前后都有到店间隔"
