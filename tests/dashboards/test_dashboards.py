"""Dashboards without a browser: set a control's value, read the figures and the numbers.

Hand case (``tiny_db``), Beijing times, data through Sunday 2026-03-29 (the dashboard's as_of):

  store  S1 上海, S2 北京
  A  joined S1, visits 2026-01-05 and 2026-02-10      first visit January
  B  joined S1, visit 2026-01-20                      first visit January
  C  joined S2, visit 2026-02-03                      first visit February
Monthly cohorts by first visit: January {A, B}, February {C}; three members in the cohorts.
Retention in the next period: January -> February is complete (A came back): 1 of 2; February -> March is
not complete on 29 March, so it does not count: retention_1 = 1 / 2 = 0.5.
City 北京 keeps C only: 1 member, no complete next period (NaN). City 北京 with store S1 leaves nobody.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
import os
import re
import threading

import pandas as pd
import pytest

import workbench as wb
from tests.conftest import one_store, write_store
from workbench.analyses.churn import churn_survival
from workbench.analyses.cohorts import cohort_retention
from workbench.analyses.lifecycle import lifecycle
from workbench.analyses.lift import campaign_lift
from workbench.analyses.overview import weekly_kpis
from workbench.analyses.wake_up import EXPORT_COLUMNS, wake_up_list
from workbench.dashboards import common
from workbench.dashboards.campaigns import campaign_dashboard
from workbench.dashboards.churn import churn_dashboard, download_link, wake_up_csv
from workbench.dashboards.cohorts import cohort_dashboard
from workbench.dashboards.overview import overview_dashboard
from workbench.data import simulate
from workbench.errors import ParameterError

CJK = re.compile(r"[\u4e00-\u9fff]")


def _order(oid, member, store, when, amount):
    return {"order_id": oid, "store_id": store, "ordered_at": when, "amount": amount, "member_id": member}


@pytest.fixture
def tiny_db(make_store, store_row):
    members = [
        {"member_id": "A", "joined_at": "2026-01-05 10:00", "join_store_id": "S1"},
        {"member_id": "B", "joined_at": "2026-01-20 10:00", "join_store_id": "S1"},
        {"member_id": "C", "joined_at": "2026-02-03 10:00", "join_store_id": "S2"},
    ]
    orders = [
        _order("a1", "A", "S1", "2026-01-05 12:00", 50),
        _order("a2", "A", "S1", "2026-02-10 12:00", 40),
        _order("b1", "B", "S1", "2026-01-20 12:00", 60),
        _order("c1", "C", "S2", "2026-02-03 12:00", 30),
    ]
    stores = [store_row(), store_row(store_id="S2", name="北京望京店", city="北京")]
    path = make_store({"stores": stores, "members": members, "orders": orders}, data_through="2026-03-29")
    return wb.connect(path)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("chain") / "chain.duckdb"
    simulate.simulate_chain(path, members=1500, weeks=40, seed=11, end="2026-11-22")
    db = wb.connect(path)
    yield db
    db.close()


# -- hand case ------------------------------------------------------------------------------------------


def test_cohort_numbers_match_the_hand_count(tiny_db):
    dash = cohort_dashboard(tiny_db, lang="en")
    assert dash.as_of == dt.date(2026, 3, 29)
    assert dash.message == ""
    assert dash.numbers["cohort_members"] == 3
    assert dash.numbers["retention_1"] == pytest.approx(0.5)
    assert 'data-key="retention_1" data-value="0.5"' in dash.kpis.value


def test_city_filter_narrows_the_numbers(tiny_db):
    dash = cohort_dashboard(tiny_db, lang="en")
    dash.controls["city"].value = "北京"
    assert dash.numbers["cohort_members"] == 1
    assert math.isnan(dash.numbers["retention_1"])


def test_a_filter_leaving_nobody_shows_a_message_not_a_traceback(tiny_db):
    dash = cohort_dashboard(tiny_db, lang="zh")
    # A cohort range with nobody: from 2026-02 to 2026-01 (a store outside the city cannot be chosen).
    dash.controls["last_cohort"].value = "2026-01"
    dash.controls["first_cohort"].value = "2026-02"
    assert "没有数据" in dash.message
    assert dash.message_box.layout.display is None and dash.body.layout.display == "none"
    assert 'data-kind="empty"' in dash.message_box.value
    dash.controls["lang"].value = "en"
    assert dash.message.startswith("No data for the selected filters")
    dash.controls["first_cohort"].value = "2026-01"
    assert dash.message == "" and dash.numbers["cohort_members"] == 2


def test_first_cohort_after_the_last_is_an_empty_window(tiny_db):
    dash = cohort_dashboard(tiny_db, lang="en")
    dash.controls["last_cohort"].value = "2026-01"
    assert dash.numbers["cohort_members"] == 2
    dash.controls["first_cohort"].value = "2026-02"
    assert "No data" in dash.message


# -- simulated chain: each control reaches the analysis -----------------------------------------------


def test_cohort_dashboard_follows_period_segment_and_language(chain):
    dash = cohort_dashboard(chain, lang="zh")
    assert set(dash.figures) == {"heatmap", "curves", "return"}
    assert CJK.search(dash.figures["heatmap"].layout.title.text)
    dash.controls["period"].value = "week"
    expected = cohort_retention(chain, as_of=dash.as_of, period="week")
    week_labels = [
        common.week_label(pd.Timestamp(c).date()) for c in sorted(expected.table["cohort"].unique())
    ]
    assert dash.controls["last_cohort"].value == week_labels[-1]
    assert dash.controls["first_cohort"].value == week_labels[-13]
    chosen = expected.table[
        expected.table["cohort"]
        >= pd.Timestamp(dt.date.fromisocalendar(*map(int, week_labels[-13].replace("W", "").split("-")), 1))
    ]
    assert dash.numbers["cohort_members"] == chosen.loc[chosen["age"] == 0, "cohort_size"].sum()
    dash.controls["segment"].value = "vip"
    names = {t.name for t in dash.figures["curves"].data}
    assert {"付费会员：是", "付费会员：否"} <= names  # a yes/no split names itself
    assert "median_return_days" not in dash.numbers  # with a split the card for all members is not shown
    dash.controls["lang"].value = "en"
    for fig in dash.figures.values():
        assert not CJK.search(fig.layout.title.text)
    assert {"VIP: Yes", "VIP: No"} <= {t.name for t in dash.figures["curves"].data}
    assert dash.controls["period"].options[0][0] == "Monthly"


def test_churn_dashboard_segment_and_city_reach_the_analysis(chain):
    dash = churn_dashboard(chain, lang="en")
    assert set(dash.figures) == {"survival", "hazard_ratios", "wake_up"}
    city = dash.controls["city"].options[2][1]
    dash.controls["city"].value = city
    dash.controls["segment"].value = "in_group"
    expected = churn_survival(chain, as_of=dash.as_of, segment_by="in_group", cities=[city])
    assert dash.numbers["members"] == expected.medians["members"].sum()
    assert dash.numbers["churned"] == expected.medians["churned"].sum()
    assert dash.numbers["threshold_days"] == expected.params["threshold_days"]
    wake = wake_up_list(chain, as_of=dash.as_of, cities=[city])
    assert dash.numbers["wake_up"] == len(wake)
    curves = [t for t in dash.figures["survival"].data if t.mode == "lines" and t.showlegend is not False]
    # A yes/no split names itself in the legend, and two curves keep their 95% bands.
    assert {t.name for t in curves} == {"In a community group: Yes", "In a community group: No"}
    assert len([t for t in dash.figures["survival"].data if t.fill == "tonexty"]) == 2
    dash.controls["segment"].value = "join_channel"  # six channels: no bands, the split named in the legend
    survival = dash.figures["survival"]
    assert not [t for t in survival.data if t.fill == "tonexty"]
    assert survival.layout.legend.title.text == "Join channel: "


def test_wake_up_download_carries_member_keys_and_nothing_else(chain):
    """The download carries member keys, never ids as stored, in the page's language."""
    from workbench.analyses.wake_up import MEMBER_KEY_PATTERN, resolve_member_keys

    dash = churn_dashboard(chain, lang="zh")
    frame = pd.read_csv(io.BytesIO(dash.csv), encoding="utf-8-sig", dtype=str)
    assert "会员编号" not in frame.columns and "member_id" not in frame.columns
    assert len(frame.columns) == len(EXPORT_COLUMNS) + 1  # every column, the key for the id, plus store names
    keys = frame["会员代码（已加密）"]
    assert keys.str.fullmatch(MEMBER_KEY_PATTERN.pattern).all() and len(frame) == dash.numbers["wake_up"]
    members = chain.members.select("member_id", "phone_hash").to_pandas()
    assert not set(keys) & (set(members["member_id"]) | set(members["phone_hash"].dropna()))
    assert resolve_member_keys(chain, keys) == dash.wake["member_id"].tolist()
    assert 'download="待唤醒会员_2026-11-22.csv"' in dash.download.value
    assert "phone" not in dash.csv.decode("utf-8-sig")
    table = dash.figures["wake_up"].data[0]  # the page's table shows the same keys, first rows first
    assert list(table.header.values)[1] == "会员代码（已加密）"
    assert list(table.cells.values[1]) == keys.head(len(table.cells.values[1])).tolist()


def test_a_long_wake_up_list_waits_for_a_click_before_it_rides_in_the_page(chain, monkeypatch):
    from workbench.dashboards import churn as churn_dash

    monkeypatch.setattr(churn_dash, "INLINE_CSV_MAX_BYTES", 100)  # the demo list counts as long
    dash = churn_dashboard(chain, lang="en")
    rows = int(dash.numbers["wake_up"])
    assert rows > 0 and len(dash.csv) > 100
    assert "wb-download-link" not in dash.download.value and "base64" not in dash.download.value
    assert dash.prepare.layout.display != "none"
    assert f"{rows:,} members" in dash.prepare.description and "MB" in dash.prepare.description
    dash.prepare.click()
    assert dash.prepare.layout.display == "none"
    link = dash.download.value
    assert "wb-download-link" in link
    payload = link.split("base64,", 1)[1].split('"', 1)[0]
    expected = wake_up_csv(dash.wake, lang="en", secret=dash.member_secret, store_names=dash.store_names)
    assert base64.b64decode(payload) == dash.csv == expected


def test_download_leaves_out_a_phone_hash_someone_joined_in():
    df = pd.DataFrame({"rank": [1], "member_id": ["M1"], "phone_hash": ["abc123"], "name": ["张三"]})
    text = wake_up_csv(df).decode("utf-8-sig")
    assert text.splitlines() == ["rank,member_id", "1,M1"]
    assert 'download="x.csv"' in download_link(b"a,b", "x.csv", "CSV", 1)


def test_campaign_dashboard_marks_observational_campaigns_and_filters_the_list(chain):
    dash = campaign_dashboard(chain, lang="en", overview=False)
    catalogue = dash.catalogue
    for cid in catalogue["campaign_id"]:
        dash.controls["campaign"].value = cid
        expected = campaign_lift(chain, cid, as_of=dash.as_of, segment_by="price_sensitive")
        arms = expected.arms[expected.arms["segment"] == "all"].set_index("arm")["members"]
        assert dash.numbers["treatment"] == arms.get("treatment", 0)
        assert dash.numbers["control"] == arms.get("control", 0)
        observational = 'data-kind="observational"' in dash.banners.value
        assert observational == expected.observational
        if expected.observational:
            assert "Observational" in dash.figures["lift"].layout.title.text
    kinds, years = set(catalogue["kind"]), set(catalogue["year"])
    pairs = {(k, y) for k in kinds for y in years} - set(
        zip(catalogue["kind"], catalogue["year"], strict=True)
    )
    if pairs:
        kind, year = sorted(pairs)[0]
        dash.controls["kind"].value = kind
        dash.controls["year"].value = year
        assert dash.message.startswith("No data")
    dash.controls["year"].value = ""
    assert dash.message == ""


def test_campaign_overview_lists_every_campaign(chain):
    dash = campaign_dashboard(chain, lang="zh", overview=True)
    for cid in dash.catalogue["campaign_id"]:
        assert f'data-campaign="{cid}"' in dash.overview_box.value


def test_results_are_cached_per_parameters(chain):
    dash = cohort_dashboard(chain, lang="en")
    dash.cache = common.ResultCache()
    dash.controls["period"].value = "week"
    dash.controls["period"].value = "month"
    filled = len(dash.cache)  # week and month retention, one repurchase result (it has no period)
    assert filled == 3
    dash.controls["period"].value = "week"
    assert len(dash.cache) == filled
    result = dash.cache.get("probe", lambda **kw: object(), a=[1, 2])
    assert dash.cache.get("probe", lambda **kw: object(), a=(1, 2)) is result


def test_background_mode_draws_after_wait(chain):
    dash = cohort_dashboard(chain, lang="en", background=True)
    dash.wait(timeout=120)
    assert dash.renders == 1 and "heatmap" in dash.figures
    dash.controls["segment"].value = "in_group"
    dash.wait(timeout=120)
    assert dash.renders == 2 and dash.busy.layout.visibility == "hidden"


def test_figures_go_out_as_plotly_mime_bundles(tiny_db):
    dash = cohort_dashboard(tiny_db, lang="en")
    (output,) = dash.panes["heatmap"].outputs
    bundle = output["data"][common.PLOTLY_MIME]
    assert bundle["layout"]["title"]["text"] == dash.figures["heatmap"].layout.title.text
    assert bundle["config"]["displaylogo"] is False


def test_bad_parameters_name_the_choices(tiny_db):
    with pytest.raises(ParameterError, match="lang"):
        cohort_dashboard(tiny_db, lang="fr")
    dash = campaign_dashboard(tiny_db, lang="en")  # the store has no campaign: a message, no traceback
    assert dash.message.startswith("No data")


# -- weekly overview ------------------------------------------------------------------------------------
#
# Hand case (``week_db``), Beijing times, data through Sunday 2026-03-29 (ISO week 2026-W13; W12 is 16-22
# March). Stores S1 上海, S2 北京. First order 2026-03-16, so the week filter offers W13 and W12 only.
#
#   A  joined 2026-03-02 at S1   orders 03-16 S1 dine_in 50 (W12), 03-24 S1 dine_in 60 (W13)
#   B  joined 2026-03-24 at S1   order  03-25 S1 takeout_platform 40 (W13)
#   C  joined 2026-03-10 at S2   orders 03-18 S2 dine_in 20 (W12), 03-26 S2 dine_in 30 (W13)
#   non-members                   03-20 S2 dine_in 80 (W12), 03-27 S1 dine_in 100 (W13)
#
# W13, all: members 3 (A, B, C joined by the 29th), new 1 (B), active 3, private revenue 60+40+30 = 130,
#   total 130 + 100 = 230, member ticket 130 / 3 orders. W12: members 2 (A, C), active 2, private 50+20 = 70.
#   Week on week: private revenue 130/70 - 1 = 0.857..., active 3/2 - 1 = 0.5. A year ago is before the data.
# City 北京 (members with home store S2: C; orders placed at S2): W13 members 1, active 1, private 30,
#   total 30 (the non-member order at S2 is in W12), share 1.0.
# Channel dine_in: private 60 + 30 = 90, total 90 + 100 = 190, active 2 (A, C); members stay 3, new 1.
# Lifecycle into W13: A and C active -> active, B outside the pool -> new: 3 members in the flows.


@pytest.fixture(scope="module")
def week_db(tmp_path_factory):
    """Module-scoped: the dashboards share its per-kernel cache, as pages of one kernel would."""
    members = [
        {"member_id": "A", "joined_at": "2026-03-02 10:00", "join_store_id": "S1"},
        {"member_id": "B", "joined_at": "2026-03-24 10:00", "join_store_id": "S1"},
        {"member_id": "C", "joined_at": "2026-03-10 10:00", "join_store_id": "S2"},
    ]

    def o(oid, member, store, when, amount, channel):
        return {**_order(oid, member, store, when, amount), "channel": channel}

    orders = [
        o("a1", "A", "S1", "2026-03-16 12:00", 50, "dine_in"),
        o("a2", "A", "S1", "2026-03-24 12:00", 60, "dine_in"),
        o("b1", "B", "S1", "2026-03-25 12:00", 40, "takeout_platform"),
        o("c1", "C", "S2", "2026-03-18 12:00", 20, "dine_in"),
        o("c2", "C", "S2", "2026-03-26 12:00", 30, "dine_in"),
        o("n1", None, "S2", "2026-03-20 12:00", 80, "dine_in"),
        o("n2", None, "S1", "2026-03-27 12:00", 100, "dine_in"),
    ]
    stores = [one_store(), one_store(store_id="S2", name="北京望京店", city="北京")]
    path = write_store(
        tmp_path_factory.mktemp("week") / "week.duckdb",
        {"stores": stores, "members": members, "orders": orders},
        data_through="2026-03-29",
    )
    db = wb.connect(path)
    yield db
    db.close()


def test_overview_cards_match_the_hand_count(week_db):
    dash = overview_dashboard(week_db, lang="en")
    assert dash.message == "" and dash.controls["week"].value == "2026-W13"
    assert [v for _, v in dash.controls["week"].options] == ["2026-W13", "2026-W12"]
    n = dash.numbers
    assert (n["members"], n["new_members"], n["active_members"]) == (3, 1, 3)
    assert n["private_revenue"] == pytest.approx(130) and n["total_revenue"] == pytest.approx(230)
    assert n["private_share"] == pytest.approx(130 / 230)
    assert n["member_ticket"] == pytest.approx(130 / 3)
    assert n["private_revenue_wow"] == pytest.approx(130 / 70 - 1)
    assert n["active_members_wow"] == pytest.approx(0.5)
    assert math.isnan(n["private_revenue_yoy"])
    assert 'data-key="private_revenue" data-value="130.0"' in dash.kpis.value
    assert "vs last week +85.7% ▲" in dash.kpis.value and "wb-kpi-up" in dash.kpis.value
    flows = dash.figures["sankey"].data[0]
    assert sum(flows.link.value) == 3 and "2026-W13" in dash.figures["sankey"].layout.title.text
    trend = dash.figures["trend"]
    revenue = next(t for t in trend.data if t.name == "Private-domain revenue (member orders)")
    assert list(revenue.x) == ["2026-W12", "2026-W13"] and list(revenue.y) == pytest.approx([70, 130])


def test_overview_filters_reach_the_kpis(week_db):
    dash = overview_dashboard(week_db, lang="en")
    dash.controls["city"].value = "北京"
    n = dash.numbers
    assert (n["members"], n["active_members"]) == (1, 1)
    assert n["private_revenue"] == pytest.approx(30) and n["private_share"] == pytest.approx(1.0)
    dash.controls["city"].value = ""
    dash.controls["channel"].value = "dine_in"
    n = dash.numbers
    assert n["private_revenue"] == pytest.approx(90) and n["total_revenue"] == pytest.approx(190)
    assert (n["active_members"], n["members"], n["new_members"]) == (2, 3, 1)
    assert "order KPIs only" in dash.channel_note.value
    dash.controls["channel"].value = ""
    assert dash.channel_note.value == ""
    dash.controls["week"].value = "2026-W12"
    assert dash.message == ""
    assert dash.numbers["private_revenue"] == pytest.approx(70) and dash.numbers["members"] == 2
    # W12 is the data's first week: nobody flows in from a week before, the Sankey says so.
    assert dash.figures["sankey"].layout.annotations[0].text == "No data for the selected filters"


def test_overview_channel_without_orders_shows_the_message(week_db):
    dash = overview_dashboard(week_db, lang="zh")
    dash.controls["channel"].value = "mini_program"  # no mini-program order in W13
    assert "没有数据" in dash.message and 'data-kind="empty"' in dash.message_box.value
    dash.controls["lang"].value = "en"
    assert dash.message.startswith("No data for the selected filters")
    dash.controls["channel"].value = "takeout_platform"  # b1 at S1
    assert dash.message == "" and dash.numbers["private_revenue"] == pytest.approx(40)


def test_overview_language_switch_relabels_everything(week_db):
    dash = overview_dashboard(week_db, lang="zh")
    assert all(CJK.search(f.layout.title.text) for f in dash.figures.values())
    assert "环比上周" in dash.kpis.value and dash.controls["week"].options[0][0].startswith("2026-W13（03-23")
    assert "环比上周" in dash.kpi_table.value
    dash.controls["lang"].value = "en"
    assert set(dash.figures) == {"ranking_store", "ranking_channel", "trend", "sankey", "lifecycle_counts"}
    assert "vs last week" in dash.kpi_table.value and not CJK.search(dash.kpi_table.value)
    for fig in dash.figures.values():
        assert not CJK.search(fig.layout.title.text)
    assert dash.controls["channel"].options[1][0] == "Dine-in"
    assert dash.controls["week"].options[0][0] == "2026-W13 (03-23 to 03-29)"


def test_overview_prefetch_makes_the_next_city_a_cache_hit(week_db):
    dash = overview_dashboard(week_db, lang="en", prefetch=False)
    dash.cache = common.ResultCache()  # as a new kernel's: nothing computed ahead yet
    dash.refresh()
    beijing = {**dash.state(), "city": "北京"}
    assert not dash.cache.has("weekly_kpis", **dash.kpi_params(beijing))
    assert dash.prefetch(limit=6) > 0  # the first two cities' results (上海 then 北京)
    assert dash.cache.has("weekly_kpis", **dash.kpi_params(beijing))
    assert dash.cache.has("lifecycle", **dash.lifecycle_params(beijing))
    filled = len(dash.cache)
    dash.controls["city"].value = "北京"
    assert len(dash.cache) == filled and dash.numbers["members"] == 1


def test_overview_bad_week_names_the_choices(week_db):
    with pytest.raises(ParameterError, match="expected one of: 2026-W13, 2026-W12"):
        overview_dashboard(week_db, week="2026-W01")


def test_overview_numbers_equal_weekly_kpis_on_the_chain(chain):
    dash = overview_dashboard(chain, lang="zh", week="2026-W45")
    city = dash.controls["city"].options[1][1]
    dash.controls["city"].value = city
    dash.controls["channel"].value = "takeout_platform"
    expected = weekly_kpis(
        chain, week="2026-W45", as_of=dash.as_of, cities=[city], channels=["takeout_platform"]
    ).kpis.set_index("kpi")
    for kpi, row in expected.iterrows():
        assert dash.numbers[kpi] == pytest.approx(row["value"], nan_ok=True)
        assert dash.numbers[f"{kpi}_yoy"] == pytest.approx(row["change_yoy"], nan_ok=True)
    shown = dash.figures["ranking_store"].data[0]
    assert (
        list(shown.x)
        == weekly_kpis(chain, week="2026-W45", as_of=dash.as_of, cities=[city])
        .stores["new_members"]
        .head(len(shown.x))
        .tolist()
    )
    life = lifecycle(chain, period="week", as_of=dash.as_of, cities=[city])
    into = life.flows[life.flows["period_to"] == pd.Timestamp(dt.date(2026, 11, 2))]
    assert sum(dash.figures["sankey"].data[0].link.value) == into["members"].sum()


def test_a_figure_that_did_not_change_is_not_sent_again(week_db):
    dash = overview_dashboard(week_db, lang="en")
    sent = {name: pane.outputs for name, pane in dash.panes.items()}
    dash.controls["week"].value = "2026-W12"  # the trend and the lifecycle counts span every week
    assert dash.message == ""
    assert dash.panes["trend"].skipped == 1 and dash.panes["trend"].outputs is sent["trend"]
    assert dash.panes["lifecycle_counts"].skipped == 1
    assert dash.panes["ranking_store"].skipped == 0
    assert dash.panes["ranking_store"].outputs is not sent["ranking_store"]


def test_campaign_table_waits_for_the_background_pass_in_a_kernel(chain):
    shared = common.CACHES.pop(id(chain), None)  # a new kernel: nothing computed yet
    try:
        dash = campaign_dashboard(chain, lang="en", background=True, prefetch=False)
        dash.wait(timeout=300)
        assert dash.overview is None and 'data-loading="1"' in dash.overview_box.value
        assert "treatment" in dash.numbers  # the chosen campaign is drawn meanwhile
        dash.prefetch(limit=0)  # the table of every campaign comes first, then the plan (none here)
        assert 'data-loading="1"' not in dash.overview_box.value
        for cid in dash.catalogue["campaign_id"]:
            assert f'data-campaign="{cid}"' in dash.overview_box.value
    finally:
        if shared is not None:
            common.CACHES[id(chain)] = shared


def test_background_prefetch_runs_beside_the_page_on_its_own_connection(week_db, monkeypatch):
    from workbench.dashboards import overview as module

    dash = overview_dashboard(week_db, lang="en", background=True, prefetch=True)
    dash.cache = common.ResultCache()  # as a new kernel's
    dash.refresh()
    dash.wait(timeout=300, prefetch=True)
    beijing = {**dash.state(), "city": "北京"}
    assert dash.cache.has("weekly_kpis", **dash.kpi_params(beijing))  # keyed on the page's store
    assert dash.prefetch_engine() is not dash.db and dash.prefetched > 0

    def not_again(**kw):
        raise AssertionError("computed again")

    for name in ("weekly_kpis", "lifecycle", "weekly_kpi_trend"):
        monkeypatch.setattr(module, name, not_again)
    dash.controls["city"].value = "北京"  # drawn from the prefetched results alone
    dash.wait(timeout=300)
    assert dash.message == "" and dash.numbers["members"] == 1


def test_a_page_needing_another_result_interrupts_the_prefetch_query(week_db):
    # The kernel's two connections share the engine's worker threads: a page computing beside a long
    # prefetch query would wait behind it. The page stops it instead, and draws its own result.
    import threading

    dash = overview_dashboard(week_db, lang="en", background=True, prefetch=True)
    dash.wait(timeout=300, prefetch=True)
    dash.cache = common.ResultCache()  # nothing computed yet, as in a new kernel
    started, seen = threading.Event(), {}

    def endless(db):
        started.set()
        try:
            return db.backend.con.execute("SELECT count(*) FROM range(10000000000000)").fetchone()
        except Exception as exc:
            seen["error"] = type(exc).__name__
            raise

    job = dash._prefetcher.submit(dash.prefetch_items, [("endless", endless, {"db": week_db})])
    try:
        assert started.wait(60)
        dash.controls["city"].value = "北京"
        dash.wait(timeout=300)
        assert dash.message == "" and dash.numbers["members"] == 1
        assert job.result(timeout=60) == 0 and seen == {"error": "InterruptException"}
        assert dash.prefetch_stops == 1 and not dash.cache.has("endless", db=week_db)
    finally:  # never leave the query running, whatever failed
        dash.prefetch_engine().backend.con.interrupt()


def test_a_preheated_kernel_prefetches_once_its_page_is_open(week_db, monkeypatch):
    import threading

    monkeypatch.setenv("VOILA_PREHEAT", "True")  # as Voila starts the kernels it runs ahead of visitors
    monkeypatch.setattr(common, "PAGE_OPENED", threading.Event())
    dash = overview_dashboard(week_db, lang="en", background=True, prefetch=True)
    dash.wait(timeout=300, prefetch=True)
    dash.cache = common.ResultCache()  # nothing computed yet
    dash.refresh()
    dash.wait(timeout=300, prefetch=True)
    beijing = {**dash.state(), "city": "北京"}
    assert dash.prefetched == 0 and not dash.cache.has("weekly_kpis", **dash.kpi_params(beijing))
    common.page_opened()  # what a page's first request for the widgets' state does
    dash.wait(timeout=300, prefetch=True)
    assert dash.prefetched > 0 and dash.cache.has("weekly_kpis", **dash.kpi_params(beijing))


def test_a_result_another_kernel_shared_is_at_hand_without_the_engine(tmp_path):
    from workbench.dashboards.shared_results import SharedResults

    calls = []
    mine, other = (common.ResultCache(shared=SharedResults(tmp_path)) for _ in range(2))
    assert not mine.at_hand("x", a=1)
    other.get("x", lambda **kw: calls.append(kw) or "value", a=1)
    assert mine.at_hand("x", a=1) and not mine.has("x", a=1) and not mine.at_hand("x", a=2)
    assert mine.get("x", lambda **kw: calls.append(kw) or "again", a=1) == "value" and len(calls) == 1


def test_a_result_being_computed_by_another_thread_is_waited_for_not_recomputed():
    import threading

    cache = common.ResultCache()
    calls, started, release = [], threading.Event(), threading.Event()

    def slow(**kw):
        calls.append(kw)
        started.set()
        release.wait(5)
        return "value"

    other = threading.Thread(target=lambda: cache.get("x", slow, a=1))
    other.start()
    started.wait(5)
    threading.Timer(0.2, release.set).start()
    assert cache.get("x", slow, a=1) == "value" and len(calls) == 1
    other.join(5)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities are a POSIX call")
def test_prefetch_threads_run_at_the_lowest_priority_and_the_page_thread_does_not():
    seen = {}

    def probe():
        common.lowest_priority()
        seen["prefetch"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=probe)
    t.start()
    t.join()
    assert seen["prefetch"] == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before < 19


def test_an_unexpected_error_shows_a_message_and_the_traceback_goes_to_the_log(tiny_db, capsys):
    dash = cohort_dashboard(tiny_db, lang="en")
    renders = dash.renders

    def broken():
        raise RuntimeError("a bug")

    dash.steps = lambda: [("broken", broken, lambda: None)]
    dash.refresh()
    assert dash.renders == renders + 1  # the render is over (the busy indicator is off)
    assert dash.message.endswith("RuntimeError") and 'data-kind="error"' in dash.message_box.value
    assert "a bug" not in dash.message_box.value  # no traceback text on the page
    assert "RuntimeError: a bug" in capsys.readouterr().err


def test_the_opening_render_is_drawn_before_the_constructor_returns_even_in_the_background(tiny_db):
    # Voila's page reads the widgets once, after the notebook ran: the opening render must be in them.
    dash = cohort_dashboard(tiny_db, lang="en", background=True, prefetch=False)
    assert dash.renders == 1 and "heatmap" in dash.figures and dash.numbers
    assert dash.busy.layout.visibility == "hidden" and "wb-gen-1" in dash._dom_classes


def test_widgets_changed_after_a_page_read_them_are_sent_again(tiny_db, monkeypatch):
    dash = cohort_dashboard(tiny_db, lang="en")
    tree = common._widget_tree(dash)
    assert dash.kpis in tree and dash.busy.layout in tree and dash.panes["heatmap"] in tree
    assert len(tree) == len({id(w) for w in tree})
    sent = [(w, w.get_state()) for w in tree]  # what a page was sent
    resent = []
    monkeypatch.setattr(type(dash.kpis), "send_state", lambda self, key=None: resent.append(self))
    monkeypatch.setattr(type(dash.busy.layout), "send_state", lambda self, key=None: resent.append(self))
    assert common._resend_changed(sent) == 0 and resent == []
    dash.kpis.value = "<div>later</div>"  # a thread drew meanwhile
    dash.busy.layout.visibility = "visible"
    resent.clear()  # the setters sent their own updates (the ones a loading page may drop)
    assert common._resend_changed(sent, lock=dash._lock) == 2
    assert {id(w) for w in resent} == {id(dash.kpis), id(dash.busy.layout)}


def test_a_page_state_request_sends_again_what_changed_while_ipywidgets_answered_it(tiny_db, monkeypatch):
    dash = cohort_dashboard(tiny_db, lang="en")
    monkeypatch.setattr(common, "_LIVE", {dash})
    monkeypatch.setattr(common, "RESEND_AFTER_S", (0.0,))
    answered = []

    def answer(msg):  # ipywidgets' own handler; a render thread draws while it answers
        answered.append(msg)
        dash.kpis.value = "<div>drawn meanwhile</div>"

    monkeypatch.setattr(common.widgets.Widget, "_handle_control_comm_msg", answer)
    resent = threading.Event()
    monkeypatch.setattr(type(dash.kpis), "send_state", lambda self, key=None: resent.set())
    common._control_comm_msg({"content": {"data": {"method": "request_states"}}})
    assert answered and resent.wait(timeout=10)  # sent again by the timer, after ipywidgets answered
