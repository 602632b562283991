"""The weekly-overview and cohorts pages without a browser: the city narrowing the store filter, the
thin-data note kept across a language switch, changes that round to zero, the ranking's value text clear
of its markers, the cohorts' default range ending on a complete cohort, yes/no splits named in legends."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import one_store, write_store
from workbench.analyses.cohorts import cohort_retention
from workbench.analyses.overview import format_change, weekly_kpis
from workbench.analyses.repurchase import repurchase_cycle
from workbench.dashboards import common
from workbench.dashboards.cohorts import cohort_dashboard, cohort_window
from workbench.dashboards.overview import overview_dashboard
from workbench.data import simulate
from workbench.errors import ThinDataWarning
from workbench.figures.cohorts import retention_curves, retention_heatmap
from workbench.figures.overview import DOWN_COLOR, FLAT_COLOR, UP_COLOR, _change_color, new_members_ranking
from workbench.figures.repurchase import time_to_return


def _order(oid, member, store, when, amount, channel="dine_in"):
    return {"order_id": oid, "store_id": store, "ordered_at": when, "amount": amount, "member_id": member,
            "channel": channel}  # fmt: skip


@pytest.fixture(scope="module")
def three_stores(tmp_path_factory):
    """S1 (上海), S2 and S3 (北京). W13 (2026-03-23..29): A at S1, C at S2, D joins at S3; last week B."""
    members = [
        {"member_id": "A", "joined_at": "2026-03-02 10:00", "join_store_id": "S1"},
        {"member_id": "B", "joined_at": "2026-03-17 10:00", "join_store_id": "S1"},
        {"member_id": "C", "joined_at": "2026-03-10 10:00", "join_store_id": "S2"},
        {"member_id": "D", "joined_at": "2026-03-24 10:00", "join_store_id": "S3"},
    ]
    orders = [
        _order("a1", "A", "S1", "2026-03-16 12:00", 50),
        _order("b1", "B", "S1", "2026-03-17 12:00", 40),
        _order("a2", "A", "S1", "2026-03-24 12:00", 60),
        _order("c1", "C", "S2", "2026-03-18 12:00", 20),
        _order("c2", "C", "S2", "2026-03-26 12:00", 30, "takeout_platform"),
        _order("d1", "D", "S3", "2026-03-24 12:00", 25),
    ]
    stores = [
        one_store(),
        one_store(store_id="S2", name="北京望京店", city="北京"),
        one_store(store_id="S3", name="北京国贸店", city="北京"),
    ]
    path = write_store(tmp_path_factory.mktemp("three") / "three.duckdb",
                       {"stores": stores, "members": members, "orders": orders}, data_through="2026-03-29")  # fmt: skip
    db = wb.connect(path)
    yield db
    db.close()


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Ends on Sunday 2026-11-22: the November cohort is still joining."""
    path = tmp_path_factory.mktemp("chain") / "chain.duckdb"
    simulate.simulate_chain(path, members=600, weeks=60, seed=3, end="2026-11-22")
    db = wb.connect(path)
    yield db
    db.close()


# -- 1. the city narrows the store filter --------------------------------------------------------------


@pytest.mark.parametrize("make", [overview_dashboard, cohort_dashboard])
def test_choosing_a_city_offers_only_its_stores(three_stores, make):
    dash = make(three_stores, lang="en")
    store = dash.controls["store"]
    assert [v for _, v in store.options] == ["", "S1", "S2", "S3"]
    dash.controls["city"].value = "北京"
    assert [v for _, v in store.options] == ["", "S2", "S3"]
    assert store.options[0][0] == "All stores" and store.options[1][0] == "S2 北京望京店"
    store.value = "S3"
    dash.controls["city"].value = "上海"  # S3 is not in 上海: back to all of 上海's stores
    assert [v for _, v in store.options] == ["", "S1"] and store.value == ""
    assert dash.message == ""
    store.value = "S1"
    dash.controls["city"].value = ""  # every store again, the choice kept
    assert [v for _, v in store.options] == ["", "S1", "S2", "S3"] and store.value == "S1"
    dash.controls["lang"].value = "zh"  # relabelling keeps the narrowed options
    dash.controls["city"].value = "北京"
    dash.controls["lang"].value = "en"
    assert [v for _, v in store.options] == ["", "S2", "S3"]


def test_the_overview_counts_the_city_after_the_store_was_reset(three_stores):
    dash = overview_dashboard(three_stores, lang="en")
    dash.controls["store"].value = "S1"
    dash.controls["city"].value = "北京"
    expected = weekly_kpis(three_stores, as_of=dash.as_of, cities=["北京"]).kpis.set_index("kpi")["value"]
    assert dash.numbers["members"] == expected["members"] == 2  # C and D, not S1's
    assert dash.numbers["private_revenue"] == pytest.approx(expected["private_revenue"]) == pytest.approx(55)


# -- 2. the thin-data note survives a language switch --------------------------------------------------


def _thin_analysis(db, *, n):
    warnings.warn(f"only {n} members", ThinDataWarning, stacklevel=2)
    return n


class _ThinPage(common.Dashboard):
    title_key = "dash.cohorts.title"  # any registered title

    def build(self):
        self.value = None

    def steps(self):
        return [("thin", self.compute, lambda: None)]

    def compute(self):
        self.value = self.cached("thin_test", _thin_analysis, db=self.db, n=3)


def test_the_thin_note_stays_after_a_language_switch(three_stores):
    page = _ThinPage(three_stores, lang="zh")
    assert page.note_box.layout.display is None and "数据偏少" in page.note_box.value
    page.controls["lang"].value = "en"  # redrawn from the results at hand: nothing computed, no warning
    assert page.note_box.layout.display is None and "thin" in page.note_box.value
    page.controls["lang"].value = "zh"
    assert page.note_box.layout.display is None and "数据偏少" in page.note_box.value


def test_the_overview_keeps_its_thin_note_after_a_language_switch(three_stores):
    dash = overview_dashboard(three_stores, lang="zh")  # four members: thin cells
    assert dash.note_box.layout.display is None and "数据偏少" in dash.note_box.value
    dash.controls["lang"].value = "en"
    assert dash.note_box.layout.display is None and "thin" in dash.note_box.value
    dash.controls["week"].value = "2026-W12"  # computed again: still thin
    assert dash.note_box.layout.display is None


# -- 3. changes that round to zero; the ranking's value text ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "base", "unit", "lang", "text"),
    [
        (0.3500, 0.3504, "share", "zh", "0.0个百分点"),  # -0.04 pp: was '-0.0个百分点 ▼'
        (0.3504, 0.3500, "share", "en", "0.0 pp"),
        (0.30, 0.35, "share", "zh", "-5.0个百分点 ▼"),
        (0.351, 0.350, "share", "en", "+0.1 pp ▲"),
        (10_000, 10_004, "currency", "en", "0.0%"),  # -0.04 %
        (110, 100, "members", "en", "+10.0% ▲"),
        (8, 9, "members", "zh", "-11.1% ▼"),
        (5, 0, "members", "en", "–"),
        (5, float("nan"), "members", "en", "–"),
    ],
)
def test_format_change_hand_cases(value, base, unit, lang, text):
    assert format_change(value, base, unit, lang) == text


def test_a_change_that_rounds_to_zero_is_neutral_in_the_table():
    assert _change_color(0.3500, 0.3504, "share") == FLAT_COLOR
    assert _change_color(10_000, 10_004, "currency") == FLAT_COLOR
    assert _change_color(0.30, 0.35, "share") == DOWN_COLOR
    assert _change_color(110, 100, "members") == UP_COLOR


@pytest.mark.parametrize("by", ["store", "channel"])
def test_ranking_text_sits_right_of_the_bar_and_both_markers(three_stores, by):
    result = weekly_kpis(three_stores, week="2026-W13", as_of="2026-03-29")
    fig = new_members_ranking(result, lang="zh", by=by)
    bars, last_week, year_ago, text = fig.data
    assert bars.text is None  # no text on the bar, where the markers are drawn
    assert text.mode == "text" and text.textposition == "middle right"
    for i in range(len(bars.x)):
        ends = [bars.x[i], last_week.x[i], 0 if pd.isna(year_ago.x[i]) else year_ago.x[i]]
        assert text.x[i] > max(ends)  # a gap after the farthest of bar and markers
    assert fig.layout.xaxis.range[1] > max(text.x)  # room for the text inside the plot
    frame = result.stores if by == "store" else result.channels
    first = frame.iloc[0]
    change = format_change(first["new_members"], first["previous_week"], "members", "zh")
    assert text.text[0].strip() == f"{int(first['new_members'])}（{change}）"
    assert "订单渠道" in fig.layout.title.text  # the subtitle says the order channel does not apply


# -- 5. the cohorts' default range; 6. yes/no splits named ---------------------------------------------


def test_default_monthly_range_ends_on_the_last_complete_cohort(chain):
    dash = cohort_dashboard(chain, lang="zh")
    assert dash.as_of.isoformat() == "2026-11-22"
    labels = [v for _, v in dash.controls["last_cohort"].options]
    assert labels[-1] == "2026-11"  # the joining cohort can still be chosen
    assert dash.controls["last_cohort"].value == "2026-10"
    assert dash.controls["first_cohort"].value == "2025-11"
    t = cohort_retention(chain, as_of=dash.as_of, period="month").table
    month = pd.to_datetime(t["cohort"]).dt.strftime("%Y-%m")
    chosen = t[(month >= "2025-11") & (month <= "2026-10")]
    assert dash.numbers["cohort_members"] == chosen.loc[chosen["age"] == 0, "cohort_size"].sum()
    nov = t[(month == "2026-11") & (t["age"] == 0)]
    assert nov["cohort_size"].sum() > 0 and not nov["observable"].any()  # left out, not empty


@pytest.mark.parametrize(
    ("lang", "yes", "no"), [("zh", "付费会员：是", "付费会员：否"), ("en", "VIP: Yes", "VIP: No")]
)
def test_a_yes_no_split_names_itself(chain, lang, yes, no):
    ret = cohort_retention(chain, as_of="2026-11-22", period="month", segment_by="vip")
    assert {yes, no} <= {t.name for t in retention_curves(ret, lang=lang).data}
    titles = {a.text for a in retention_heatmap(ret, lang=lang).layout.annotations}
    assert {yes, no} <= titles
    cycle = repurchase_cycle(chain, as_of="2026-11-22", segment_by="vip", max_visit_number=1)
    assert {yes, no} <= {t.name for t in time_to_return(cycle, lang=lang).data}
    joined = cohort_retention(chain, as_of="2026-11-22", period="month", segment_by="join_channel")
    names = {t.name for t in retention_curves(joined, lang=lang).data}
    assert not any("：" in n or ": " in n for n in names)  # other splits keep their value labels


def test_the_heatmap_leaves_out_a_segment_with_nobody_in_the_cohorts(chain):
    ret = cohort_retention(chain, as_of="2026-11-22", period="month", segment_by="vip")
    vip = ret.table[(ret.table["segment"] == "true") & (ret.table["age"] == 0)]
    nobody = vip.loc[vip["cohort_size"] == 0, "cohort"]
    assert len(nobody), "the chain has a month with no VIP joining"
    window = cohort_window(ret, *[f"{pd.Timestamp(nobody.iloc[0]):%Y-%m}"] * 2)
    fig = retention_heatmap(window, lang="en")
    assert [a.text for a in fig.layout.annotations if a.text.startswith("VIP")] == ["VIP: No"]
    assert [t.name for t in fig.data] == ["VIP: No"]


def test_the_kernels_prefetch_computes_one_store_of_the_city_which_is_then_read_not_computed(three_stores):
    dash = overview_dashboard(three_stores, background=False, prefetch=False)
    dash.controls["city"].value = "北京"
    plan = dash.one_store_plan()
    assert [name for name, _, _ in plan] == ["weekly_kpis", "lifecycle", "weekly_kpi_trend"]
    assert all(params["stores"] == ["S2"] for _, _, params in plan)  # the city's first store
    dash.prefetch()
    assert all(dash.cache.has(name, **params) for name, _, params in plan)
    computed = dash.cache.computed
    dash.controls["store"].value = "S2"
    assert dash.cache.computed == computed  # every result of the page came from the prefetch
    assert (
        dash.numbers["new_members"]
        == weekly_kpis(three_stores, stores=["S2"], cities=["北京"])
        .kpis.set_index("kpi")
        .loc["new_members", "value"]
    )
    assert dash.one_store_plan() == []  # a store is chosen: nothing more to warm
    # Back to the city: S2 is at hand (here, or read from another kernel's results, which would warm
    # nothing), so the plan moves on to the city's next store, and once every store is at hand, to none.
    dash.controls["store"].value = ""
    assert all(params["stores"] == ["S3"] for _, _, params in dash.one_store_plan())
    dash.prefetch()
    assert dash.one_store_plan() == []


def test_a_store_change_reads_every_stores_weekly_counts_once_the_prefetch_has_them(
    chain, tmp_path, monkeypatch
):
    # A chain of more stores than the warm run computes one by one: the page's prefetch first counts every
    # store's weeks (wb.store_week_values); a store change then shows that store's KPIs without querying
    # its members, with the numbers the tables give (worked out on a writable copy, which keeps nothing).
    import shutil

    from workbench.analyses import overview as overview_analysis
    from workbench.dashboards import warm

    monkeypatch.setattr(warm, "MAX_STORES", 1)
    dash = overview_dashboard(chain, background=False, prefetch=False)
    plan = dash.prefetch_plan()
    assert plan[0][0] == "store_weeks"
    store = dash.stores[1][0]
    copy = tmp_path / "writable.duckdb"
    shutil.copy(chain.path, copy)
    with wb.connect(copy, read_only=False) as writable:
        params = {**dash.kpi_params({**dash.state(), "store": store}), "db": writable}
        expected = weekly_kpis(**params).kpis.set_index("kpi")["value"]
    assert expected["active_members"] > 0
    dash.prefetch_items(plan[:1])

    def no_query(*args, **kwargs):
        raise AssertionError("queried the store's members")

    monkeypatch.setattr(overview_analysis, "_member_scope", no_query)
    dash.controls["store"].value = store
    assert not dash.message
    for kpi, value in expected.items():
        assert dash.numbers[kpi] == pytest.approx(value, nan_ok=True), kpi


def test_cohorts_and_churn_plan_one_store_too(chain):
    from workbench.dashboards.churn import churn_dashboard

    for dash, names in (
        (cohort_dashboard(chain, background=False, prefetch=False), ["cohort_retention", "repurchase_cycle"]),
        (
            churn_dashboard(chain, background=False, prefetch=False),
            ["churn_survival", "wake_up_list", "churn_drivers"],
        ),
    ):
        plan = dash.one_store_plan()
        assert [name for name, _, _ in plan] == names
        first = sorted(s for s, _, _ in common.store_choices(chain))[0]
        assert all(params["stores"] == [first] for _, _, params in plan)
