"""The weekly-overview and cohorts dashboards in a real browser (fixtures in conftest.py): each filter
changes the cards to what the package computes for that filter (computed here directly), the city narrows
the store filter, the language switch relabels the page, a filter that leaves nothing shows the message.
Screenshots go to tests/artifacts/ (dashboard_overview*.png, dashboard_cohorts*.png).
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from tests.dashboards.conftest import CJK, needs_browser
from workbench import i18n
from workbench.analyses.cohorts import cohort_retention
from workbench.analyses.overview import weekly_kpis
from workbench.dashboards.overview import CARD_KPIS
from workbench.data import calendar
from workbench.data.contract import ORDER_CHANNELS

pytestmark = needs_browser

AS_OF = pd.Timestamp("2026-11-22").date()


def _same(shown: float, expected: float) -> bool:
    return (math.isnan(shown) and math.isnan(expected)) or shown == pytest.approx(expected)


def _assert_cards(p, db, **filters):
    expected = weekly_kpis(db, as_of=AS_OF, **filters).kpis.set_index("kpi")["value"]
    shown = p.numbers()
    assert set(shown) == set(CARD_KPIS)
    for kpi in CARD_KPIS:
        assert _same(shown[kpi], float(expected[kpi])), (kpi, filters, shown[kpi], expected[kpi])


def _store_options(p) -> list[str]:
    labels = p.page.eval_on_selector_all(".wb-store option", "os => os.map(o => o.textContent)")
    return [t.replace("\xa0", " ") for t in labels]  # the page draws spaces as no-break spaces


def _selected(p, selector: str) -> str:
    return p.page.eval_on_selector(f"{selector} select", "s => s.options[s.selectedIndex].textContent")


def test_overview_dashboard_in_the_browser(open_page, db):
    p = open_page("overview")
    assert p.errors == []
    # Figures are drawn by the workbench's renderer (plotly.js of the workbench's traces), not plotly's own.
    extensions = p.page.evaluate("Object.keys(window._JUPYTERLAB)")
    assert "workbench-plotly" in extensions and "jupyterlab-plotly" not in extensions
    _assert_cards(p, db)
    titles = p.titles()
    assert all(CJK.search(t) for t in titles)
    assert "环比上周" in p.page.inner_text(".wb-kpis")
    # The KPI table is HTML: every KPI of the week, its value as the package formats it.
    table = p.page.eval_on_selector_all(
        ".wb-kpi-table tr[data-kpi]", "rs => rs.map(r => [r.dataset.kpi, r.cells[1].textContent])"
    )
    week_kpis = weekly_kpis(db, as_of=AS_OF)
    assert table == [
        [k, v] for k, v in zip(week_kpis.kpis["kpi"], week_kpis.ranked("zh").iloc[:, 1], strict=True)
    ]
    p.screenshot("overview", height=3000)

    stores = db.stores.select("store_id", "city").to_pandas()
    city = sorted(stores["city"].unique())[-1]
    in_city = sorted(stores.loc[stores["city"] == city, "store_id"])
    graphs = ".wb-figure .js-plotly-plot"
    # Once drawn, each graph is redrawn three times more when the browser is idle (the renderer's rehearsal,
    # which readies plotly's redraw code for the first filter change), with the same figure.
    rehearsed = "es => es.length === 5 && es.every(e => e._wbRehearsals === 3)"
    p.page.wait_for_function(f"() => ({rehearsed})([...document.querySelectorAll('{graphs}')])")
    assert p.titles() == titles
    p.page.eval_on_selector_all(graphs, "es => es.forEach(e => { e.wbFirstDrawn = true; })")
    ranking = ".wb-figure-ranking_store .js-plotly-plot"
    before = p.page.eval_on_selector(ranking, "e => JSON.stringify(e.data)")
    # The store names widened the ranking's left margin (plotly's automargin: theme 60 px)...
    drawn = p.page.eval_on_selector(ranking, "e => Math.ceil(e._fullLayout._size.l)")
    assert drawn > 60
    p.change(".wb-city", label=city)
    # ... and the city's ranking starts from that margin, so plotly draws it once, not twice.
    assert p.page.eval_on_selector(ranking, "e => e.layout.margin.l") == drawn
    options = _store_options(p)
    assert options[0] == "全部门店" and [o.split()[0] for o in options[1:]] == in_city
    _assert_cards(p, db, cities=[city])
    # The city's figures are drawn into the graphs already on the page (Plotly.react), one per pane.
    assert p.page.eval_on_selector(ranking, "e => JSON.stringify(e.data)") != before
    kept = p.page.eval_on_selector_all(graphs, "es => es.map(e => e.wbFirstDrawn === true)")
    panes = p.page.eval_on_selector_all(
        ".wb-figure", "es => es.map(e => e.querySelectorAll('.js-plotly-plot').length)"
    )
    assert len(kept) == 5 and all(kept) and set(panes) == {1}
    assert p.page.eval_on_selector_all(graphs, rehearsed)  # (not rehearsed again for the city's figures)

    store = in_city[-1]
    p.change(".wb-store", label=p.option(".wb-store", store))
    _assert_cards(p, db, cities=[city], stores=[store])
    p.change(".wb-channel", label=i18n.value_label("channel", "takeout_platform", "zh"))
    _assert_cards(p, db, cities=[city], stores=[store], channels=["takeout_platform"])
    assert "订单渠道只筛选订单类指标" in p.page.inner_text(".wb-channel-note")
    p.change(".wb-channel", label="全部渠道")
    p.change(".wb-week", index=3)
    week = _selected(p, ".wb-week")[:8]
    _assert_cards(p, db, week=week, cities=[city], stores=[store])
    assert any(week in t for t in p.titles())
    p.change(".wb-week", index=0)

    p.click(".wb-lang button:has-text('English')")
    titles = p.titles()
    assert titles and not any(CJK.search(t) for t in titles)
    assert p.page.inner_text(".wb-title") == "Weekly overview"
    assert "vs last week" in p.page.inner_text(".wb-kpis")
    assert "vs last week" in p.page.inner_text(".wb-kpi-table th:nth-child(3)")
    assert _store_options(p)[0] == "All stores" and len(_store_options(p)) == len(in_city) + 1
    p.change(".wb-city", label="All cities")  # every store offered again, the chosen one kept
    assert len(_store_options(p)) == len(stores) + 1
    _assert_cards(p, db, stores=[store])
    p.change(".wb-store", label="All stores")
    _assert_cards(p, db)
    p.screenshot("overview_en", height=3000)

    # A store and an order channel with no order in the week: the page says so instead of empty cards.
    orders = db.orders.select("store_id", "channel", "ordered_at").to_pandas()
    day = pd.to_datetime(orders["ordered_at"], utc=True).dt.tz_convert("Asia/Shanghai").dt.date
    start, end = calendar.parse_iso_week(calendar.iso_week_label(AS_OF))
    week = orders[(day >= start) & (day <= end)]
    seen = set(zip(week["store_id"], week["channel"], strict=True))
    store, channel = min((s, c) for s in stores["store_id"] for c in ORDER_CHANNELS if (s, c) not in seen)
    kpis = weekly_kpis(db, as_of=AS_OF, stores=[store], channels=[channel]).kpis.set_index("kpi")["value"]
    assert kpis["total_revenue"] == 0 and kpis["active_members"] == 0
    p.change(".wb-store", label=p.option(".wb-store", store))
    p.change(".wb-channel", label=i18n.value_label("channel", channel, "en"))
    assert p.message().startswith("No data for the selected filters")
    p.change(".wb-channel", label="All channels")
    assert p.message() == ""
    _assert_cards(p, db, stores=[store])
    assert p.errors == []


def _cohort_cards(db, *, period="month", first=None, last=None, n=12, **filters):
    """(members, next-period retention) of the cohorts first..last (labels), by default the last ``n``
    cohorts whose own period is complete at AS_OF, straight from cohort_retention's table."""
    t = cohort_retention(db, as_of=AS_OF, period=period, **filters).table
    label = pd.to_datetime(t["cohort"]).map(
        lambda c: c.strftime("%Y-%m") if period == "month" else calendar.iso_week_label(c.date())
    )
    if first is None:
        complete = sorted(set(label[(t["age"] == 0) & t["observable"].astype(bool)]))
        first, last = complete[-n], complete[-1]
    t = t[(label >= first) & (label <= last)]
    nxt = t[(t["age"] == 1) & t["observable"].astype(bool)]
    return t.loc[t["age"] == 0, "cohort_size"].sum(), nxt["active"].sum() / nxt["cohort_size"].sum()


def _assert_cohort_cards(p, db, **kwargs):
    members, retention = _cohort_cards(db, **kwargs)
    shown = p.numbers()
    assert shown["cohort_members"] == members and shown["retention_1"] == pytest.approx(retention), kwargs


def test_cohort_dashboard_in_the_browser(open_page, db):
    p = open_page("cohorts")
    assert p.errors == []
    _assert_cohort_cards(p, db)
    assert _selected(p, ".wb-last_cohort") == "2026-10"  # November is still joining on 2026-11-22
    assert all(CJK.search(t) for t in p.titles())
    p.screenshot("cohorts", height=3000)

    p.change(".wb-period", label="按周")
    _assert_cohort_cards(p, db, period="week", n=13)
    p.change(".wb-segment", label="付费会员")
    _assert_cohort_cards(p, db, period="week", n=13, segment_by="vip")
    names = p.page.eval_on_selector_all(
        ".wb-figure-curves .js-plotly-plot", "es => es.flatMap(e => e.data.map(t => t.name))"
    )
    assert {"付费会员：是", "付费会员：否"} <= set(names)
    first, last = _selected(p, ".wb-first_cohort"), _selected(p, ".wb-last_cohort")
    later = calendar.parse_iso_week(first)[0] + dt.timedelta(weeks=6)
    p.change(".wb-first_cohort", label=calendar.iso_week_label(later))
    first = _selected(p, ".wb-first_cohort")
    _assert_cohort_cards(p, db, period="week", first=first, last=last, segment_by="vip")

    stores = db.stores.select("store_id", "city").to_pandas()
    city = sorted(stores["city"].unique())[0]
    p.change(".wb-city", label=city)
    in_city = sorted(stores.loc[stores["city"] == city, "store_id"])
    assert [o.split()[0] for o in _store_options(p)[1:]] == in_city
    _assert_cohort_cards(p, db, period="week", first=first, last=last, segment_by="vip", cities=[city])

    p.click(".wb-lang button:has-text('English')")
    titles = p.titles()
    assert titles and not any(CJK.search(t) for t in titles)
    assert p.page.inner_text(".wb-title") == "Cohorts and repurchase"
    p.screenshot("cohorts_en", height=3000)

    # A cohort range with nobody: from the latest cohort to the oldest.
    p.change(".wb-last_cohort", index=0)
    assert p.message().startswith("No data for the selected filters")
    assert p.errors == []
