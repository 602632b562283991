"""Lift figures as objects: traces, axis titles and labels in both languages, the observational label."""

import pytest

from workbench.analyses.lift import campaign_lift
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
