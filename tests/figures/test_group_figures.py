"""Figures of groups, link modes and touch response as objects: traces, values, titles in both languages.

Chain (as_of 2026-03-10, window 1-10 March):
  groups H0, H1, H2 (store groups of S1) with 0, 1, 2 messages every day of 1-10 March and
    H0: 19 stayers + 2 leavers (in 1-5 March)  -> 200 member-days, 2 leaves  -> 1.0 per 100 member-days
    H1: 17 stayers + 6 leavers                 -> 200 member-days, 6 leaves  -> 3.0
    H2: 15 stayers + 10 leavers                -> 200 member-days, 10 leaves -> 5.0
  so the fitted additive line is 0.01 + 0.02 x per member-day (1 + 2 x per 100 member-days).
  Members H0m0 and H1m0 visit; H0m0 (friend_only) gets a private chat on Tue 3 Feb and visits 5 Feb.
"""

import re

import numpy as np
import pytest

import workbench as wb
from workbench.analyses.groups import group_overview, messaging_and_leaving
from workbench.analyses.link_modes import link_mode_quality
from workbench.analyses.touches import touch_response
from workbench.errors import ParameterError
from workbench.figures.groups import (
    group_table,
    group_trend,
    leave_rate_by_intensity,
    link_mode_chart,
    touch_response_chart,
)

AS_OF = "2026-03-10"
CJK = re.compile(r"[\u4e00-\u9fff]")


def order(oid, member, when, amount):
    return {"order_id": oid, "store_id": "S1", "ordered_at": when, "amount": amount, "member_id": member}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from tests.conftest import one_store, write_store

    members, spells, touches = [], [], []
    for g, (x, stay, leave) in {"H0": (0, 19, 2), "H1": (1, 17, 6), "H2": (2, 15, 10)}.items():
        for i in range(stay + leave):
            m = f"{g}m{i}"
            mode = "friend_only" if g == "H0" else "group_only"
            members.append({"member_id": m, "joined_at": "2025-12-01 10:00", "link_mode": mode})
            left = None if i < stay else "2026-03-06 08:00"
            joined = "2026-02-01 10:00" if i < stay else "2026-03-01 08:00"
            spells.append({"group_id": g, "member_id": m, "joined_at": joined, "left_at": left})
        for day in range(1, 11):
            for k in range(x):
                touches.append({"touch_id": f"{g}-{day}-{k}", "sent_at": f"2026-03-{day:02d} {10 + k}:00",
                                "medium": "group", "group_id": g})  # fmt: skip
    touches.append(
        {"touch_id": "pc1", "sent_at": "2026-02-03 12:00", "medium": "private_chat", "member_id": "H0m0"}
    )
    groups = [{"group_id": g, "kind": "store", "store_id": "S1", "created_at": "2026-01-01 10:00"}
              for g in ("H0", "H1", "H2")]  # fmt: skip
    orders = [order("o1", "H0m0", "2025-12-20 12:00", 100), order("o2", "H0m0", "2026-02-05 12:00", 60),
              order("o3", "H1m0", "2025-12-21 12:00", 80), order("o4", "H0m0", "2026-03-02 12:00", 40)]  # fmt: skip
    tables = {"stores": [one_store()], "members": members, "orders": orders, "groups": groups,
              "group_members": spells, "touches": touches}  # fmt: skip
    path = write_store(tmp_path_factory.mktemp("fig") / "s.duckdb", tables, data_through=AS_OF)
    return wb.connect(path)


@pytest.fixture(scope="module")
def overview(db):
    return group_overview(db, as_of=AS_OF, window_days=10)


@pytest.fixture(scope="module")
def leaving(db):
    return messaging_and_leaving(db, as_of=AS_OF, window_days=10, bands=(0, 0.5, 1.5))


def test_group_table_lists_groups_with_their_numbers(overview):
    fig = group_table(overview, lang="en")
    table = fig.data[0]
    assert table.type == "table"
    assert table.header.values[0] == "Group" and "Leaves per 100 member-days" in table.header.values[-1]
    cells = table.cells.values
    # Busiest first: H0 has 19 members now, H1 17, H2 15.
    assert list(cells[0]) == ["H0", "H1", "H2"]
    assert list(cells[3]) == ["19", "17", "15"]
    assert list(cells[7]) == ["0.00", "1.00", "2.00"]  # messages per day
    assert list(cells[8]) == ["2", "6", "10"]
    assert cells[9][2].startswith("5.000 (")


def test_leave_rate_figure_has_bands_with_intervals_and_the_fitted_line(leaving):
    fig = leave_rate_by_intensity(leaving, lang="en")
    names = [t.name for t in fig.data]
    assert names == ["Groups", "Leave rate by band", "Poisson regression fit"]
    bands = fig.data[1]
    # Bands 0-0.5 (H0), 0.5-1.5 (H1), 1.5+ (H2): 1, 3, 5 leaves per 100 member-days.
    assert list(bands.y) == pytest.approx([1.0, 3.0, 5.0])
    assert list(bands.x) == pytest.approx([0.0, 1.0, 2.0])
    assert bands.error_y.array[0] > 0 and bands.error_y.arrayminus[0] > 0
    line = fig.data[2]
    assert line.y[0] == pytest.approx(1.0, rel=1e-3)  # intercept 0.01 per member-day
    assert line.y[-1] == pytest.approx(1.0 + 2.0 * line.x[-1], rel=1e-3)
    assert fig.layout.shapes[0].x0 == 0.5 and fig.layout.shapes[0].x1 == 1.0  # the rule-of-thumb band
    assert fig.layout.xaxis.title.text == "Messages received per member per day"


def test_group_trend_for_one_group_and_all(overview):
    fig = group_trend(overview, lang="en", group_id="H2")
    bars = {t.name: list(t.y) for t in fig.data if t.type == "bar"}
    # 1-10 March: the week of 23 Feb holds 1 March (a Sunday), then 2-8 and 9-10 March.
    assert bars["Messages"] == [2, 14, 4]
    assert bars["Leaves"] == [0, 10, 0]
    members = [t for t in fig.data if t.type == "scatter"][0]
    assert list(members.y) == [25, 15, 15]
    everyone = group_trend(overview, lang="en")
    assert [t for t in everyone.data if t.name == "Leaves"][0].y[1] == 18
    with pytest.raises(ParameterError, match="group_id='G9' is not valid; expected one of: H0, H1, H2"):
        group_trend(overview, lang="en", group_id="G9")


def test_link_mode_chart_has_three_panels_with_intervals(db):
    result = link_mode_quality(db, as_of=AS_OF, horizon_days=60)
    fig = link_mode_chart(result, lang="en")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 3
    assert list(bars[0].x) == ["WeChat Work friend only", "Group only"]
    assert list(bars[0].y) == pytest.approx([1.0, 0.0])  # H0m0 came back on day 47 (5 Feb); H1m0 never
    assert bars[0].error_y.arrayminus[0] > 0
    assert fig.layout.annotations[-1].text.startswith("Descriptive")


def test_touch_response_chart_shows_differences_and_says_observational(db):
    result = touch_response(db, as_of=AS_OF, since="2026-02-02", mediums=["private_chat", "sms"])
    fig = touch_response_chart(result, lang="en")
    point = fig.data[0]
    assert list(point.y) == ["Private chat"]  # no SMS was sent: no row
    r = result.table.set_index("medium").loc["private_chat"]
    assert point.x[0] == pytest.approx(r.difference)
    assert point.error_x.array[0] == pytest.approx(r.ci_high - r.difference)
    assert "Observational" in fig.layout.title.text
    assert "观察性" in touch_response_chart(result, lang="zh").layout.title.text


@pytest.mark.parametrize("builder", ["table", "leave", "trend", "link", "touch"])
def test_titles_are_chinese_in_zh_and_not_in_en(builder, db, overview, leaving):
    results = {
        "table": (group_table, overview),
        "leave": (leave_rate_by_intensity, leaving),
        "trend": (group_trend, overview),
        "link": (link_mode_chart, link_mode_quality(db, as_of=AS_OF, horizon_days=60)),
        "touch": (
            touch_response_chart,
            touch_response(db, as_of=AS_OF, since="2026-02-02", mediums=["private_chat"]),
        ),
    }
    build, result = results[builder]
    zh, en = build(result, lang="zh").layout.title.text, build(result, lang="en").layout.title.text
    assert CJK.search(zh)
    assert not CJK.search(en)


def test_wrong_result_or_language_is_refused(overview, leaving):
    with pytest.raises(ParameterError, match="wb.group_overview"):
        group_table(leaving, lang="en")
    with pytest.raises(ParameterError, match="lang"):
        leave_rate_by_intensity(leaving, lang="fr")


def test_empty_results_give_a_no_data_figure(make_store, store_row):
    db = wb.connect(make_store({"stores": [store_row()], "members": [{"member_id": "A", "joined_at": "2026-01-01"}],
                                "orders": [order("o", "A", "2026-01-02 12:00", 10)]}, data_through=AS_OF))  # fmt: skip
    fig = group_table(group_overview(db, as_of=AS_OF), lang="en")
    assert fig.layout.annotations[0].text == "No data for the selected filters"
    assert np.all([t.type != "table" for t in fig.data])
