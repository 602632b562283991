"""Member-tag figures as objects: traces, values, axis titles and titles in both languages.

The chain, as of 2026-03-31 with a 90-day window (2026-01-01 ... 03-31), one store:
  A  visits 02-01, 03-01, 03-31 at 100        recency 0,  frequency 3, monetary 300
  B  visits 02-10, 03-30 at 50                recency 1,  frequency 2, monetary 100
  C  one visit 03-20 at 400                   recency 11, frequency 1, monetary 400
  D  one visit 01-10 at 30                    recency 80, frequency 1, monetary 30
  E  never visited
Four scored members: score = 1 + floor(5 L / 4), L = 0..3 -> 1, 2, 3, 4.
  R: D 1, C 2, B 3, A 4 (mean 2.5)   F: C and D tie at 1 (L = 0 -> 1), B 3, A 4 (mean 2.25)
  M: D 1, B 2, A 3, C 4 (mean 2.5)
  high = above the mean: R {A, B}, F {A, B}, M {A, C}
  -> A important_value, B general_value, C important_win_back, D general_win_back, E no_visit
  revenue 830: A 300, B 100, C 400, D 30.
Frequency tiers: A 3 visits over 59 days of exposure (02-01 .. 03-31) = 1.55 a month, B 2 over 50 days =
1.22: both medium; C and D have one visit ever: one_off; E inactive.
"""

import re

import numpy as np
import pytest

import workbench as wb
from workbench.analyses.segments import member_tags
from workbench.errors import ParameterError
from workbench.figures.segments import rfm_classes, rfm_grid, tag_distribution

AS_OF = "2026-03-31"
CJK = re.compile(r"[\u4e00-\u9fff]")


def order(oid, member, day, amount):
    return {
        "order_id": oid,
        "store_id": "S1",
        "ordered_at": f"{day} 12:00",
        "amount": amount,
        "member_id": member,
    }


@pytest.fixture
def tags(make_store):
    members = [{"member_id": m, "joined_at": "2025-12-01 10:00"} for m in "ABCDE"]
    orders = [
        order("a1", "A", "2026-02-01", 100), order("a2", "A", "2026-03-01", 100),
        order("a3", "A", "2026-03-31", 100), order("b1", "B", "2026-02-10", 50),
        order("b2", "B", "2026-03-30", 50), order("c1", "C", "2026-03-20", 400),
        order("d1", "D", "2026-01-10", 30),
    ]  # fmt: skip
    store = {"store_id": "S1", "name": "人民广场店", "city": "上海"}
    path = make_store({"stores": [store], "members": members, "orders": orders}, data_through=AS_OF)
    return member_tags(wb.connect(path), window_days=90)


def test_the_hand_case_classes(tags):
    # The figures below rely on these classes (worked out in the module docstring).
    assert tags.members.set_index("member_id").rfm_class.to_dict() == {
        "A": "important_value",
        "B": "general_value",
        "C": "important_win_back",
        "D": "general_win_back",
        "E": "no_visit",
    }


def test_rfm_classes_bars_give_member_and_revenue_shares(tags):
    fig = rfm_classes(tags, lang="en")
    members, revenue = fig.data
    assert (members.type, members.orientation, members.name) == ("bar", "h", "Share of members")
    assert revenue.name == "Share of revenue"
    assert list(members.y) == [
        "Important value", "Important development", "Important retention", "Important win-back",
        "General value", "General development", "General retention", "General win-back",
    ]  # fmt: skip
    # Shares of the four visiting members (E is left out by default), and of the revenue of 830.
    assert list(members.x) == [0.25, 0, 0, 0.25, 0.25, 0, 0, 0.25]
    assert list(revenue.x) == pytest.approx([300 / 830, 0, 0, 400 / 830, 100 / 830, 0, 0, 30 / 830])
    assert fig.layout.yaxis.autorange == "reversed"
    assert members.customdata[0].tolist() == [1, 300]  # members, revenue of important_value


def test_rfm_classes_can_include_members_who_never_visited(tags):
    bars = rfm_classes(tags, lang="zh", include_no_visit=True).data[0]
    assert bars.y[-1] == "未到店会员" and len(bars.y) == 9
    assert bars.x[0] == pytest.approx(1 / 5) and bars.x[-1] == pytest.approx(1 / 5)


def test_rfm_grid_counts_members_per_r_and_f_score(tags):
    fig = rfm_grid(tags, lang="en")
    (heat,) = fig.data
    z = np.array(heat.z, dtype=float)  # rows = F score 1..5, columns = R score 1..5
    expected = np.zeros((5, 5))
    expected[3, 3] = 1  # A: R 4, F 4
    expected[2, 2] = 1  # B: R 3, F 3
    expected[0, 1] = 1  # C: R 2, F 1
    expected[0, 0] = 1  # D: R 1, F 1
    assert (z == expected).all()
    assert list(heat.x) == [1, 2, 3, 4, 5] and list(heat.y) == [1, 2, 3, 4, 5]
    assert fig.layout.xaxis.title.text.startswith("R score") and fig.layout.yaxis.title.text.startswith(
        "F score"
    )
    assert heat.customdata[3][3][0] == pytest.approx(0.25)  # A's cell holds a quarter of the scored members


def test_tag_distribution_in_tier_order(tags):
    fig = tag_distribution(tags, "frequency_tier", lang="en")
    (bars,) = fig.data
    assert list(bars.x) == ["High frequency", "Medium frequency", "Low frequency", "One visit only",
                            "No visit in window"]  # fmt: skip
    assert list(bars.y) == [0, 0.4, 0, 0.4, 0.2]
    assert list(bars.text) == ["0", "2", "0", "2", "1"]
    assert fig.layout.xaxis.title.text == "Frequency tier"
    flags = tag_distribution(tags, "vip", lang="zh").data[0]
    assert list(flags.x) == ["是", "否"] and list(flags.y) == [0, 1]


@pytest.mark.parametrize(
    "build",
    [
        lambda t, lang: rfm_classes(t, lang=lang),
        lambda t, lang: rfm_grid(t, lang=lang),
        lambda t, lang: tag_distribution(t, "rfm_class", lang=lang),
    ],
)
def test_titles_follow_the_language(tags, build):
    zh, en = build(tags, "zh"), build(tags, "en")
    assert CJK.search(zh.layout.title.text) and not CJK.search(en.layout.title.text)
    assert "2026-03-31" in zh.layout.title.text and "2026-03-31" in en.layout.title.text
    assert zh.layout.font.family.startswith("Noto Sans CJK SC")  # the theme is applied


def test_bad_arguments_are_refused(tags):
    with pytest.raises(ParameterError, match="expected one of: rfm_class"):
        tag_distribution(tags, "favourite_dish", lang="en")
    with pytest.raises(ParameterError, match="lang"):
        rfm_grid(tags, lang="fr")
    with pytest.raises(ParameterError, match="member_tags"):
        rfm_classes(tags.members, lang="en")
