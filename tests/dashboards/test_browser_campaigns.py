"""The campaigns dashboard in a real browser (fixtures in conftest.py): for a randomised and an observational
campaign the cards show the lift of the chosen metric with its interval, the ROI and the sample-ratio check
that wb.campaign_lift computes (computed here directly); the metric and the segment split change them and the
chart by segment to the package's numbers; the observational and SRM banners appear exactly when the package
says so; the language switch; a filter that leaves no campaign shows the message. Screenshots go to
tests/artifacts/ (dashboard_campaigns*.png).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.dashboards.conftest import CJK, PAGE_TIMEOUT_MS, needs_browser
from workbench import i18n
from workbench.analyses.lift import campaign_lift
from workbench.dashboards.campaigns import kind_label

pytestmark = needs_browser

AS_OF = pd.Timestamp("2026-11-22").date()  # the browser chain's last complete week (conftest.py)
LIFT_CARD = {"value": "abs_lift", "low": "abs_low", "high": "abs_high",
             "rel": "rel_lift", "relLow": "rel_low", "relHigh": "rel_high"}  # fmt: skip


def _num(v) -> float:
    return float("nan") if v in (None, "", "nan") else float(v)


def _card(p, key: str) -> dict:
    """The data attributes of KPI card ``key`` (dataset names: data-rel-low -> relLow)."""
    return p.page.eval_on_selector(f".wb-kpi[data-key='{key}']", "e => ({...e.dataset})")


def _banners(p) -> set[str]:
    return set(p.page.eval_on_selector_all(".wb-banner", "es => es.map(e => e.dataset.kind)"))


def _segment_chart(p) -> dict:
    """The chart by segment as drawn: its labels, points and upper error bars."""
    return p.page.eval_on_selector(
        ".wb-figure-by_segment .js-plotly-plot",
        """e => { const t = e._fullData[0];
            return {y: Array.from(t.y), x: Array.from(t.x), plus: Array.from(t.error_x.array)}; }""",
    )


def _check_cards(p, expected, metric: str) -> None:
    """Every card equals ``expected`` (wb.campaign_lift): arms, the metric's lift, ROI, SRM, banners."""
    arms = expected.arms[expected.arms["segment"] == "all"].set_index("arm")["members"]
    shown = p.numbers()
    assert shown["treatment"] == arms.get("treatment", 0) and shown["control"] == arms.get("control", 0)
    row = expected.lift.set_index(["segment", "metric"]).loc[("all", metric)]
    card = _card(p, "lift")
    assert card["metric"] == metric
    assert [_num(card[k]) for k in LIFT_CARD] == pytest.approx(
        [row[c] for c in LIFT_CARD.values()], nan_ok=True
    )
    impact = expected.impact.set_index("segment").loc["all"]
    roi = _card(p, "roi")
    assert [_num(roi[k]) for k in ("value", "low", "high")] == pytest.approx(
        [impact["roi"], impact["roi_low"], impact["roi_high"]], nan_ok=True
    )
    assert shown["incremental_revenue"] == pytest.approx(impact["incremental_revenue"])
    srm = _card(p, "srm")
    p_value = float(expected.srm["p_value"].min()) if not expected.srm.empty else float("nan")
    assert _num(srm["value"]) == pytest.approx(p_value, nan_ok=True)
    assert srm["mismatch"] == str(int(expected.srm_mismatch))
    kinds = _banners(p)
    assert ("observational" in kinds) == expected.observational
    assert ("srm" in kinds) == expected.srm_mismatch


def test_campaign_dashboard_in_the_browser(open_page, db):
    p = open_page("campaigns")
    assert p.errors == []
    # The table of every campaign is drawn by the kernel's background pass, whenever it ends: the page gets
    # it even when it was drawn while the page was loading the widgets. The screenshot waits for it.
    p.page.wait_for_selector(".wb-overview [data-campaign]", state="attached", timeout=PAGE_TIMEOUT_MS)
    catalogue = db.campaigns.order_by("starts_at").to_pandas()["campaign_id"].tolist()
    assert len(p.page.query_selector_all(".wb-overview [data-campaign]")) == len(catalogue)
    assert p.page.query_selector(".wb-overview [data-loading]") is None
    p.screenshot("campaigns")

    lifts = {c: campaign_lift(db, c, as_of=AS_OF, segment_by="price_sensitive") for c in catalogue}
    observational = next(c for c in catalogue if lifts[c].observational)
    randomised = [c for c in catalogue if not lifts[c].observational][-1]
    for cid in dict.fromkeys([*catalogue[:2], observational, randomised]):
        p.change(".wb-campaign", label=p.option(".wb-campaign", cid))
        _check_cards(p, lifts[cid], "visits")
    assert not any(lifts[c].srm_mismatch for c in catalogue)  # the SRM case: test_campaigns_page.py

    # The observational campaign: marked in the list, a banner, no relative interval (open points + note).
    p.change(".wb-campaign", label=p.option(".wb-campaign", observational))
    assert p.option(".wb-campaign", observational).endswith("观察性（无对照组）")
    assert "不能视为活动的因果效果" in p.page.inner_text(".wb-banner[data-kind='observational']")
    assert all("观察性" in t for t in p.titles()[:2])
    assert math.isnan(_num(_card(p, "lift")["relLow"]))
    p.screenshot("campaigns_observational")

    # A randomised campaign: the metric changes the lift card, the split changes the chart by segment.
    p.change(".wb-campaign", label=p.option(".wb-campaign", randomised))
    p.change(".wb-metric", label=i18n.t("lift.metric.revenue", "zh"))
    _check_cards(p, lifts[randomised], "revenue")
    p.change(".wb-segment", label=i18n.t("dash.segment.join_channel", "zh"))
    by_channel = campaign_lift(db, randomised, as_of=AS_OF, segment_by="join_channel")
    _check_cards(p, by_channel, "revenue")
    rows = by_channel.lift[by_channel.lift["metric"] == "revenue"]
    chart = _segment_chart(p)
    assert len(chart["y"]) == len(rows) > 2
    assert chart["x"] == pytest.approx(list(rows["abs_lift"]), nan_ok=True)
    assert chart["plus"] == pytest.approx(list(rows["abs_high"] - rows["abs_lift"]), nan_ok=True)
    for label, value in zip(chart["y"], rows["abs_lift"], strict=True):
        assert ("样本不足" in label) == math.isnan(value)  # an empty row says why

    p.click(".wb-lang button:has-text('English')")
    assert p.page.inner_text(".wb-title") == "Campaigns"
    assert "Kind" in p.page.inner_text(".wb-kind")
    assert p.option(".wb-campaign", observational).replace("\xa0", " ").endswith("observational (no control)")
    name = lifts[randomised].campaign.name  # the campaign's own name is data, kept as it is
    assert not any(CJK.search(t.replace(name, "")) for t in p.titles())
    assert "Lift per member: Revenue" in p.page.inner_text(".wb-kpi[data-key='lift']")
    p.screenshot("campaigns_en")
    # A kind with no campaign starting in some year: the list is empty, the page says so.
    frame = db.campaigns.to_pandas()
    frame["year"] = (
        pd.to_datetime(frame["starts_at"], utc=True).dt.tz_convert("Asia/Shanghai").dt.year.astype(str)
    )
    present = set(zip(frame["kind"], frame["year"], strict=True))
    kind, year = min((k, y) for k in set(frame["kind"]) for y in set(frame["year"]) if (k, y) not in present)
    p.change(".wb-year", label=year)
    p.change(".wb-kind", label=kind_label(kind, "en"))
    assert p.message().startswith("No data for the selected filters")
    assert p.errors == []
