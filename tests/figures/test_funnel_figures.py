"""Funnel figures as objects: the funnel's bars and texts, grouped bars per channel with Wilson error bars.

The chain (window 30 days, retained within 7, as_of 2026-06-30; every member joined 05-01 at 09:00):
  A store_qr   visits 05-01, 05-04      activated, revenue, retained
  B store_qr   visits 05-02, 05-20      activated, revenue (second after 18 days: not retained)
  C store_qr   no visit
  D referral   visit 05-03              activated only
Total: 4, 3, 2, 1, 0. store_qr: 3, 2, 2, 1, 0 -> activated 2/3; referral: 1, 1, 0, 0, 0.
"""

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.funnel import acquisition_funnel
from workbench.errors import ParameterError
from workbench.figures.funnel import funnel_by_group, funnel_chart
from workbench.stats import wilson_interval

AS_OF = "2026-06-30"


def order(oid, member, when):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": 50, "member_id": member}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from tests.conftest import one_store, write_store

    members = [
        {"member_id": m, "joined_at": "2026-05-01 09:00", "join_channel": ch, "join_store_id": "S1"}
        for m, ch in [("A", "store_qr"), ("B", "store_qr"), ("C", "store_qr"), ("D", "referral")]
    ]
    orders = [
        order("n0", None, "2026-04-01 12:00"),
        order("a1", "A", "2026-05-01 12:00"),
        order("a2", "A", "2026-05-04 12:00"),
        order("b1", "B", "2026-05-02 12:00"),
        order("b2", "B", "2026-05-20 12:00"),
        order("d1", "D", "2026-05-03 12:00"),
    ]
    path = tmp_path_factory.mktemp("funnelfig") / "s.duckdb"
    write_store(path, {"stores": [one_store()], "members": members, "orders": orders}, data_through=AS_OF)
    return acquisition_funnel(wb.connect(path), as_of=AS_OF, window_days=30, retained_within_days=7)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_funnel_chart_shows_members_per_step_in_order(result):
    fig = funnel_chart(result, lang="en")
    f = fig.data[0]
    assert f.type == "funnel"
    assert list(f.y) == ["Acquired", "Activated (first visit)", "Repeat revenue", "Back within 7 days",
                         "Referred a new member"]  # fmt: skip
    assert list(f.x) == [4, 3, 2, 1, 0]
    assert f.text[2] == "2 · 50.0% · Conversion from previous step 66.7%"


def test_funnel_chart_of_one_group(result):
    fig = funnel_chart(result, lang="en", group="store_qr")
    assert list(fig.data[0].x) == [3, 2, 2, 1, 0]
    assert "Store QR code" in fig.layout.title.text


def test_titles_are_chinese_in_zh_and_not_in_en(result):
    for build in (funnel_chart, funnel_by_group):
        assert has_chinese(build(result, lang="zh").layout.title.text)
        assert not has_chinese(build(result, lang="en").layout.title.text)
    assert list(funnel_chart(result, lang="zh").data[0].y)[0] == "入会"


def test_funnel_by_group_has_one_bar_trace_per_step_with_wilson_error_bars(result):
    fig = funnel_by_group(result, lang="en")
    assert [t.name for t in fig.data] == ["Activated (first visit)", "Repeat revenue", "Back within 7 days",
                                          "Referred a new member"]  # fmt: skip
    act = fig.data[0]
    assert list(act.x) == ["Store QR code", "Referral"]
    assert list(act.y) == pytest.approx([2 / 3, 1.0])
    low, high = wilson_interval(2, 3)
    assert act.error_y.array[0] == pytest.approx(high - 2 / 3)
    assert act.error_y.arrayminus[0] == pytest.approx(2 / 3 - low)
    assert fig.layout.barmode == "group"
    assert fig.layout.xaxis.title.text == "Join channel"
    assert fig.layout.yaxis.tickformat == ".0%"


def test_funnel_by_group_can_show_conversion_from_the_previous_step(result):
    fig = funnel_by_group(result, lang="en", measure="conversion_from_previous", steps=["retained"])
    assert len(fig.data) == 1
    # store_qr: retained 1 of 2 at the revenue step; referral: nobody at the revenue step -> NaN
    y = list(fig.data[0].y)
    assert y[0] == pytest.approx(0.5) and np.isnan(y[1])


def test_bad_arguments_raise(result):
    with pytest.raises(ParameterError, match="group"):
        funnel_chart(result, lang="en", group="nope")
    with pytest.raises(ParameterError, match="share_of_acquired, conversion_from_previous"):
        funnel_by_group(result, lang="en", measure="revenue")
    with pytest.raises(ParameterError, match="steps"):
        funnel_by_group(result, lang="en", steps=["visited"])
    with pytest.raises(ParameterError, match="lang"):
        funnel_chart(result, lang="de")
    with pytest.raises(ParameterError, match="acquisition_funnel"):
        funnel_chart(pd.DataFrame(), lang="en")
