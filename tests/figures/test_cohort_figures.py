"""Cohort figures as objects: traces, axis titles in both languages, hover with intervals, gaps for NaN.

The chain: monthly cohorts as of 2026-03-15 (March not complete).
  January by first visit: A, B (store_qr), C (mini_program); A and C come back in February.
  February: D (mini_program). March: E (store_qr), whose cells are still open.
"""

import warnings

import numpy as np
import pytest

import workbench as wb
from workbench.analyses.cohorts import cohort_retention
from workbench.dashboards.cohorts import cohort_window
from workbench.figures.cohorts import ltv_curve, retention_curves, retention_heatmap

AS_OF = "2026-03-15"


def order(oid, member, when, amount):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}


@pytest.fixture
def db(make_store, store_row):
    members = [
        {"member_id": m, "joined_at": "2026-01-01 10:00", "join_channel": ch}
        for m, ch in [("A", "store_qr"), ("B", "store_qr"), ("C", "mini_program"), ("D", "mini_program")]
    ] + [{"member_id": "E", "joined_at": "2026-03-01 10:00", "join_channel": "store_qr"}]
    orders = [
        order("a1", "A", "2026-01-03 12:00", 50),
        order("a2", "A", "2026-02-03 12:00", 40),
        order("b1", "B", "2026-01-10 12:00", 100),
        order("c1", "C", "2026-01-20 12:00", 60),
        order("c2", "C", "2026-02-20 12:00", 20),
        order("d1", "D", "2026-02-05 12:00", 30),
        order("e1", "E", "2026-03-02 12:00", 70),
    ]
    path = make_store({"stores": [store_row()], "members": members, "orders": orders}, data_through=AS_OF)
    return wb.connect(path)


@pytest.fixture
def result(db):
    return cohort_retention(db, as_of=AS_OF)


@pytest.fixture
def split(db):
    return cohort_retention(db, as_of=AS_OF, segment_by="join_channel")


def test_heatmap_rows_are_cohorts_with_their_sizes(result):
    fig = retention_heatmap(result, lang="en")
    assert len(fig.data) == 1
    heat = fig.data[0]
    assert list(heat.y) == ["2026-01 (3)", "2026-02 (1)", "2026-03 (1)"]
    assert list(heat.x) == [0, 1, 2]
    assert fig.layout.yaxis.autorange == "reversed"  # oldest cohort on top


def test_heatmap_has_gaps_where_cells_are_not_observable(result):
    z = np.array(retention_heatmap(result, lang="en").data[0].z, dtype=float)
    assert z[0, 0] == 1.0 and z[0, 1] == pytest.approx(2 / 3)
    # January age 2, February age 1 (both March) and the March cohort are open; cells past as_of don't exist.
    assert np.isnan(z[0, 2]) and np.isnan(z[1, 1]) and np.isnan(z[2, 0])
    assert np.isnan(z[1, 2]) and np.isnan(z[2, 1])


def test_heatmap_hover_gives_the_interval_and_counts(result):
    en = retention_heatmap(result, lang="en").data[0].hovertext
    assert "95% interval: 20.8%–93.9%" in en[0][1]  # Wilson 2 of 3
    assert "Members who visited: 2 / 3" in en[0][1] and "Cohort: 2026-01 (3)" in en[0][1]
    assert en[0][2] == ""  # no hover on a missing cell
    zh = retention_heatmap(result, lang="zh").data[0].hovertext
    assert "95% 置信区间: 20.8%–93.9%" in zh[0][1] and "到店会员: 2 / 3" in zh[0][1]


@pytest.mark.parametrize(
    ("lang", "x_title", "y_title", "title"),
    [
        (
            "en",
            "Months since first visit",
            "Cohort (members)",
            "Cohort retention<br><sub>As of 2026-03-15</sub>",
        ),
        ("zh", "距首次到店月数", "同期群（人数）", "同期群留存率<br><sub>截至 2026-03-15</sub>"),
    ],
)
def test_heatmap_labels_in_both_languages(result, lang, x_title, y_title, title):
    fig = retention_heatmap(result, lang=lang)
    assert fig.layout.xaxis.title.text == x_title
    assert fig.layout.yaxis.title.text == y_title
    assert fig.layout.title.text == title
    assert fig.layout.coloraxis.colorbar.title.text == ("Retention" if lang == "en" else "留存率")


def test_heatmap_of_join_cohorts_by_week(db):
    weekly = cohort_retention(db, as_of=AS_OF, period="week", cohort_by="join")
    fig = retention_heatmap(weekly, lang="en")
    assert fig.layout.xaxis.title.text == "Weeks since joining"
    assert fig.data[0].y[0] == "2026-W01 (4)"  # joined Thursday 1 January 2026: ISO week 2026-W01
    assert retention_heatmap(weekly, lang="zh").layout.xaxis.title.text == "距入会周数"


def test_heatmap_of_revenue_and_unbounded_retention(result):
    revenue = retention_heatmap(result, lang="en", value="revenue_per_member")
    assert revenue.data[0].z[0][0] == pytest.approx(70.0)  # (50 + 100 + 60) / 3
    assert revenue.layout.coloraxis.colorbar.title.text == "Revenue per member (CNY)"
    assert "Revenue: 210 CNY" in revenue.data[0].hovertext[0][0]
    assert retention_heatmap(
        result, lang="zh", value="revenue_per_member"
    ).layout.coloraxis.colorbar.title.text == ("人均营收（元）")
    unbounded = retention_heatmap(result, lang="en", value="unbounded_retention")
    assert unbounded.data[0].z[0][1] == pytest.approx(2 / 3)
    assert "95% interval" in unbounded.data[0].hovertext[0][1]


def test_heatmap_has_one_panel_per_segment(split):
    fig = retention_heatmap(split, lang="en")
    assert len(fig.data) == 2
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["Mini-program", "Store QR code"]
    assert [a.text for a in retention_heatmap(split, lang="zh").layout.annotations] == ["小程序", "门店扫码"]
    one = retention_heatmap(split, lang="en", segment="store_qr")
    assert len(one.data) == 1 and list(one.data[0].y) == ["2026-01 (2)", "2026-02 (0)", "2026-03 (1)"]


def test_retention_curves_have_a_band_and_a_line_per_segment(split):
    fig = retention_curves(split, lang="en")
    assert len(fig.data) == 4
    bands, lines = fig.data[0::2], fig.data[1::2]
    assert all(b.fill == "toself" and b.hoverinfo == "skip" and b.mode == "lines" for b in bands)
    assert [line.name for line in lines] == ["Mini-program", "Store QR code"]
    assert "95% interval" in lines[0].hovertemplate
    assert fig.layout.xaxis.title.text == "Months since first visit"
    assert fig.layout.yaxis.title.text == "Retention"
    zh = retention_curves(split, lang="zh")
    assert zh.layout.yaxis.title.text == "留存率" and zh.data[1].name == "小程序"
    assert "95% 置信区间" in zh.data[1].hovertemplate


def test_a_segment_without_members_in_the_cohorts_is_named_not_drawn(result, split):
    # February's only cohort member is D (mini_program): store_qr has nobody in it.
    february = cohort_window(split, "2026-02", "2026-02")
    heatmap = retention_heatmap(february, lang="en")
    assert [t.name for t in heatmap.data] == ["Mini-program"]
    for fig in (heatmap, retention_curves(february, lang="en"), ltv_curve(february, lang="en")):
        assert fig.layout.title.text.endswith(" · No members in these cohorts: Store QR code</sub>")
    assert "这些同期群中无会员的分组：门店扫码" in retention_heatmap(february, lang="zh").layout.title.text
    # Every segment drawn (both have members from January on), or no split: no such note.
    for both in (split, cohort_window(split, "2026-01", "2026-02")):
        assert "No members" not in retention_heatmap(both, lang="en").layout.title.text
    assert "No members" not in retention_curves(split, lang="en").layout.title.text
    unsplit = cohort_window(result, "2026-02", "2026-02")
    assert "No members" not in retention_heatmap(unsplit, lang="en").layout.title.text


def test_ltv_curve_per_segment_in_the_chain_currency(result, split):
    fig = ltv_curve(result, lang="en")
    assert len(fig.data) == 1 and fig.data[0].name == "All"
    # Age 0 pools January and February: (210 + 30) / 4; age 1 adds January's February: 60 / 3.
    assert list(fig.data[0].y) == pytest.approx([60.0, 80.0])
    assert fig.layout.yaxis.title.text == "Cumulative revenue per member (CNY)"
    assert ltv_curve(result, lang="zh").layout.yaxis.title.text == "人均累计营收（元）"
    assert len(ltv_curve(split, lang="en").data) == 2


def test_an_empty_result_draws_a_no_data_figure(db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wb.ThinDataWarning)
        empty = cohort_retention(db, as_of=AS_OF, cities=["北京"])
    for draw in (retention_heatmap, retention_curves, ltv_curve):
        fig = draw(empty, lang="en")
        assert len(fig.data) == 0
        assert fig.layout.annotations[0].text == "No data for the selected filters"


def test_bad_figure_input_names_the_choices(result, split):
    with pytest.raises(wb.ParameterError, match="value='retention_rate' is not valid; expected one of"):
        retention_heatmap(result, value="retention_rate")
    with pytest.raises(
        wb.ParameterError, match="segment='referral' is not valid; expected one of: mini_program"
    ):
        retention_heatmap(split, segment="referral")
    with pytest.raises(wb.ParameterError, match="lang='fr' is not valid"):
        retention_curves(result, lang="fr")
    with pytest.raises(wb.ParameterError, match="expected the result of wb.cohort_retention"):
        ltv_curve(result.table, lang="en")
