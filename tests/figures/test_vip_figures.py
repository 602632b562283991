"""Pareto and VIP figures as objects: traces, values, titles in both languages, annotations, bad input.

The chains are the hand cases of tests/analyses/test_pareto.py (ten paying members, top 10% = 40% of the
revenue) and tests/analyses/test_vip.py (two comparable VIPs, before 2 -> after 3.5 visits per 30 days).
"""

import re
import warnings

import plotly.graph_objects as go
import pytest

import workbench as wb
from tests.analyses.test_pareto import AS_OF as PARETO_AS_OF
from tests.analyses.test_pareto import chain_tables
from tests.analyses.test_vip import AS_OF as VIP_AS_OF
from tests.analyses.test_vip import VIP_SINCE, VISITS
from workbench.analyses.pareto import revenue_pareto
from workbench.analyses.vip import METRICS, vip_comparison
from workbench.figures.vip import pareto_curve, vip_before_after, vip_vs_non_vip

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def pareto(make_store, store_row):
    members, orders = chain_tables()
    path = make_store(
        {"stores": [store_row()], "members": members, "orders": orders}, data_through=PARETO_AS_OF
    )
    return revenue_pareto(wb.connect(path), as_of=PARETO_AS_OF, window_days=30)


@pytest.fixture
def vip(make_store, store_row):
    members = [
        {"member_id": m, "joined_at": "2026-01-01 09:00", "join_channel": "store_qr",
         "vip_since": f"2026-{VIP_SINCE[m]} 10:00" if m in VIP_SINCE else None}
        for m in VISITS
    ]  # fmt: skip
    orders = [
        {
            "order_id": f"{m}-{d}",
            "store_id": "S1",
            "ordered_at": f"2026-{d} 12:00",
            "amount": 50,
            "member_id": m,
        }
        for m, days in VISITS.items()
        for d in days
    ]
    path = make_store({"stores": [store_row()], "members": members, "orders": orders}, data_through=VIP_AS_OF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wb.ThinDataWarning)
        return vip_comparison(wb.connect(path), as_of=VIP_AS_OF, window_days=None, before_after_days=30)


def title(fig: go.Figure) -> str:
    return fig.layout.title.text


@pytest.mark.parametrize("builder, fixture", [(pareto_curve, "pareto"), (vip_vs_non_vip, "vip"),
                                              (vip_before_after, "vip")])  # fmt: skip
def test_titles_are_chinese_in_zh_and_not_in_en(builder, fixture, request):
    result = request.getfixturevalue(fixture)
    assert CJK.search(title(builder(result, lang="zh")))
    assert not CJK.search(title(builder(result, lang="en")))


def test_pareto_curve_draws_the_curve_points_and_the_top_ten_percent(pareto):
    fig = pareto_curve(pareto, lang="en")
    names = [t.name for t in fig.data]
    assert names == ["Everyone equal", "Concentration curve", "Top x% of members"]
    curve = fig.data[1]
    assert list(curve.y) == pytest.approx([0, 0.40, 0.60, 0.70, 0.80, 0.85, 0.90, 0.94, 0.97, 0.99, 1.00])
    assert list(fig.data[2].y) == pytest.approx([0.40, 0.40, 0.40, 0.60, 0.85])
    head = [a for a in fig.layout.annotations if a.name == "headline"][0]
    assert (head.x, head.y) == (pytest.approx(0.1), pytest.approx(0.4))
    assert head.text == "Top 10% bring 40%"
    assert "前 10% 会员贡献 40% 营收" in [a.text for a in pareto_curve(pareto, lang="zh").layout.annotations]
    gini = [a for a in fig.layout.annotations if a.name == "gini"][0]
    assert "0.53" in gini.text and "10 paying members" in gini.text
    assert fig.layout.xaxis.title.text == "Share of members (largest spenders first)"


def test_vip_vs_non_vip_has_one_panel_per_metric_with_intervals(vip):
    fig = vip_vs_non_vip(vip, lang="en")
    assert len(fig.data) == 2 * len(METRICS)
    visits_vip, visits_non = fig.data[0], fig.data[1]
    assert (visits_vip.name, visits_non.name) == ("VIP members", "Non-VIP members")
    assert visits_vip.y[0] == pytest.approx(5.5 * 30 / 172)
    row = vip.groups[(vip.groups.metric == "visits_per_30d") & (vip.groups.group == "vip")].iloc[0]
    assert visits_vip.error_y.array[0] == pytest.approx(row.ci_high - row.value)
    assert visits_vip.error_y.arrayminus[0] == pytest.approx(row.value - row.ci_low)
    titles = [a.text for a in fig.layout.annotations]
    assert f"Visits per 30 days ×{5.5 / 3.5:.2f}" in titles
    assert "Naive comparison" in title(fig)


def test_vip_before_after_shows_each_population_and_the_matched_comparison(vip):
    fig = vip_before_after(vip, lang="en")
    left = [t for t in fig.data if t.xaxis == "x"]
    right = [t for t in fig.data if t.xaxis == "x2"]
    assert [t.name for t in left] == ["All comparable VIPs", "VIPs still active after the window"]
    assert list(left[0].y) == pytest.approx([2, 3.5])
    assert list(left[1].y) == pytest.approx([3, 4])
    assert list(left[0].x) == ["30 days before", "30 days after"]
    # matched: only 'all' has a stratum with 2 VIPs; VIPs solid 2 -> 3.5, comparison dashed 1.5 -> 2
    assert len(right) == 2
    assert list(right[0].y) == pytest.approx([2, 3.5]) and right[0].line.dash == "solid"
    assert list(right[1].y) == pytest.approx([1.5, 2]) and right[1].line.dash == "dash"
    labels = [a.text for a in fig.layout.annotations]
    assert any(text.startswith("×1.75") for text in labels)
    assert any(text.startswith("×1.40") for text in labels)
    assert "Observational" in title(fig)


def test_empty_pareto_gives_a_no_data_figure(make_store, store_row):
    members, orders = chain_tables()
    path = make_store(
        {"stores": [store_row()], "members": members, "orders": orders}, data_through=PARETO_AS_OF
    )
    with pytest.warns(wb.ThinDataWarning):
        empty = revenue_pareto(wb.connect(path), as_of=PARETO_AS_OF, cities=["广州"])
    fig = pareto_curve(empty, lang="en")
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == "No data for the selected filters"


def test_wrong_result_or_language_is_refused(pareto, vip):
    with pytest.raises(wb.ParameterError, match="revenue_pareto"):
        pareto_curve(vip, lang="en")
    with pytest.raises(wb.ParameterError, match="vip_comparison"):
        vip_vs_non_vip(pareto, lang="en")
    with pytest.raises(wb.ParameterError, match="lang"):
        vip_before_after(vip, lang="fr")
