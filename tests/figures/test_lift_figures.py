"""Lift figures as objects: traces, axis titles and labels in both languages, the observational label."""

import dataclasses
import re

import pandas as pd
import pytest

from workbench.analyses.lift import campaign_lift
from workbench.errors import ParameterError
from workbench.figures import lift as figs


@pytest.fixture
def randomised(campaign_db):
    return campaign_lift(campaign_db, "C1", margin_rate=0.5)


def test_lift_intervals_show_raw_and_cuped_for_every_metric(randomised):
    fig = figs.lift_intervals(randomised, lang="en")
    assert [t.name for t in fig.data] == ["Raw", "CUPED-adjusted"]
    assert list(fig.data[0].y) == ["Conversion", "Visits", "Revenue", "Margin"]
    assert fig.data[0].x[1] == pytest.approx(2.0)  # visits: 0.75 vs 0.25
    assert fig.layout.xaxis.title.text == "Relative lift (treatment / control − 1)"
    zh = figs.lift_intervals(randomised, lang="zh")
    assert (
        list(zh.data[0].y) == ["到店转化率", "到店次数", "营收", "毛利"]
        and "活动增量" in zh.layout.title.text
    )
    assert "95% 区间" in zh.data[0].hovertemplate


def test_observational_figures_say_so_in_the_title(observational_db):
    r = campaign_lift(observational_db, "C2")
    fig = figs.lift_intervals(r, lang="en")
    assert "not causal" in fig.layout.title.text and len(fig.data) == 1  # no CUPED without a control
    assert "不能视为因果" in figs.lift_by_segment(r, lang="zh").layout.title.text


def test_cumulative_by_arm_has_one_line_per_arm(randomised):
    fig = figs.cumulative_by_arm(randomised, lang="en")
    assert sorted(t.name for t in fig.data) == ["Control", "Treatment"]
    treatment = next(t for t in fig.data if t.name == "Treatment")
    assert treatment.y[-1] == pytest.approx(0.75)
    assert fig.layout.xaxis.title.text == "Days since the campaign started"
    assert {t.name for t in figs.cumulative_by_arm(randomised, lang="zh").data} == {"实验组", "对照组"}


def _with_segments(result, segment_by, values):
    """``result`` re-labelled as split by ``segment_by`` into 'all' and ``values`` (the lift rows are the
    visits row of 'all' repeated: the names, not the numbers, are under test)."""
    row = result.lift[(result.lift.segment == "all") & (result.lift.metric == "visits")]
    lift = pd.concat([row.assign(segment=v) for v in ["all", *values]], ignore_index=True)
    return dataclasses.replace(result, lift=lift, params={**result.params, "segment_by": segment_by})


def test_lift_by_segment_names_flags_in_words_not_true_false(randomised):
    r = _with_segments(randomised, "price_sensitive", ["true", "false"])
    assert list(figs.lift_by_segment(r, lang="en").data[0].y) == [
        "All",
        "Price sensitive",
        "Not price sensitive",
    ]
    assert list(figs.lift_by_segment(r, lang="zh").data[0].y) == ["全部", "价格敏感", "非价格敏感"]
    vip = _with_segments(randomised, "vip", ["true", "false", "unknown"])
    assert list(figs.lift_by_segment(vip, lang="en").data[0].y) == ["All", "VIP", "Not VIP", "Unknown"]


def test_lift_by_segment_labels_attribute_values(randomised):
    r = _with_segments(randomised, "join_channel", ["store_qr", "referral"])
    assert list(figs.lift_by_segment(r, lang="zh").data[0].y) == ["全部", "门店扫码", "老带新"]
    en = figs.lift_by_segment(r, lang="en")
    assert list(en.data[0].y) == ["All", "Store QR code", "Referral"]
    assert not re.search(r"[\u4e00-\u9fff]", en.layout.title.text)
    with pytest.raises(ParameterError, match="lang"):
        figs.lift_by_segment(r, lang="fr")
