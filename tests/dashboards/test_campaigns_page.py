"""The campaigns dashboard without a browser, on a hand-made store (``split_db``) of three campaigns that all
start on Monday 2026-03-02 (Beijing), with a 14-day outcome window, data through 2026-03-31:

  S1  randomised, planned holdout 10%, but 20 treatment + 20 control members (M00-M39): a broken split.
      Chi-square against 36 / 4 expected: (20-36)²/36 + (20-4)²/4 = 7.11 + 64 = 71.11, 1 degree of
      freedom, p ≈ 3e-17 < 0.001: a sample-ratio mismatch.
  B1  randomised, planned holdout 50%, 20 + 20 members (M40-M79): balanced, chi-square 0, p = 1.
  O1  no holdout: M80-M89 treated, nobody in a control arm: observational.

Member i visits in the window i % 3 + 1 times when treated, i % 2 times otherwise; even members also
visited once on 2026-02-10 (pre-period). Every member joined by store QR code except M00 (S1 treatment)
and M20 (S1 control), who joined by referral: the referral segment of S1 has 1 member in each arm, too few
for an estimate.
"""

from __future__ import annotations

import math
import re

import pytest
from scipy import stats as scipy_stats

import workbench as wb
from workbench.analyses.lift import campaign_lift
from workbench.dashboards.campaigns import campaign_dashboard
from workbench.figures.lift import METRICS

AS_OF = "2026-03-31"
REFERRAL = {"M00", "M20"}


def _member(i: int) -> str:
    return f"M{i:02d}"


@pytest.fixture
def split_db(make_store, store_row, order_row):
    members = [
        {
            "member_id": _member(i),
            "joined_at": "2025-10-01 12:00",
            "join_store_id": "S1",
            "join_channel": "referral" if _member(i) in REFERRAL else "store_qr",
        }
        for i in range(90)
    ]
    arms = {}  # member -> (campaign, arm)
    for i in range(40):
        arms[_member(i)] = ("S1", "treatment" if i < 20 else "control")
    for i in range(40, 80):
        arms[_member(i)] = ("B1", "treatment" if i < 60 else "control")
    for i in range(80, 90):
        arms[_member(i)] = ("O1", "treatment")
    assignments = [
        {"campaign_id": c, "member_id": m, "arm": arm, "assigned_at": "2026-03-02 09:00"}
        for m, (c, arm) in arms.items()
    ]
    orders = []
    for i in range(90):
        m = _member(i)
        treated = arms[m][1] == "treatment"
        if i % 2 == 0:
            orders.append(order_row(f"p{i}", m, "2026-02-10 12:00", 60))
        for k in range(i % 3 + 1 if treated else i % 2):
            orders.append(order_row(f"w{i}_{k}", m, f"2026-03-{4 + 3 * k:02d} 12:00", 50 + 10 * (i % 4)))
    coupons = [
        {
            "coupon_id": f"CP{m}",
            "campaign_id": c,
            "member_id": m,
            "issued_at": "2026-03-02 09:00",
            "face_value": 10,
        }
        for m, (c, arm) in arms.items()
        if arm == "treatment"
    ]
    campaign = {"kind": "coupon", "starts_at": "2026-03-02 00:00", "ends_at": "2026-03-08 23:59",
                "coupon_value": 10, "outcome_window_days": 14}  # fmt: skip
    campaigns = [
        {"campaign_id": "S1", "name": "比例失衡券", "holdout_share": 0.1, **campaign},
        {"campaign_id": "B1", "name": "均衡券", "holdout_share": 0.5, **campaign},
        {"campaign_id": "O1", "name": "全员券", "holdout_share": 0.0, **campaign},
    ]
    path = make_store(
        {"stores": [store_row()], "members": members, "orders": orders, "campaigns": campaigns,
         "assignments": assignments, "coupons": coupons},
        data_through=AS_OF,
    )  # fmt: skip
    db = wb.connect(path)
    yield db
    db.close()


def _dashboard(db, lang="en"):
    return campaign_dashboard(db, as_of=AS_OF, lang=lang, overview=False)


def test_srm_warning_shows_for_the_broken_split_and_not_for_the_balanced_one(split_db):
    dash = _dashboard(split_db)
    dash.controls["campaign"].value = "S1"
    expected = campaign_lift(split_db, "S1", as_of=AS_OF, segment_by="price_sensitive")
    assert expected.srm_mismatch
    hand_p = scipy_stats.chi2.sf((20 - 36) ** 2 / 36 + (20 - 4) ** 2 / 4, df=1)  # the docstring's case
    assert hand_p < 1e-15
    assert dash.numbers["srm_p"] == pytest.approx(hand_p, rel=1e-6)
    assert 'data-kind="srm"' in dash.banners.value
    assert 'data-key="srm"' in dash.kpis.value and "Mismatch" in dash.kpis.value
    assert 'data-mismatch="1"' in dash.kpis.value
    assert "Sample ratio mismatch" in dash.figures["lift"].layout.title.text

    dash.controls["campaign"].value = "B1"
    assert not campaign_lift(split_db, "B1", as_of=AS_OF).srm_mismatch
    assert dash.numbers["srm_p"] == pytest.approx(1.0)
    assert 'data-kind="srm"' not in dash.banners.value
    assert 'data-mismatch="0"' in dash.kpis.value and "Mismatch" not in dash.kpis.value


@pytest.mark.parametrize("cid", ["S1", "O1"])
def test_cards_show_the_package_lift_of_the_chosen_metric(split_db, cid):
    dash = _dashboard(split_db)
    dash.controls["campaign"].value = cid
    expected = campaign_lift(split_db, cid, as_of=AS_OF, segment_by="price_sensitive")
    impact = expected.impact.set_index("segment").loc["all"]
    seen = set()
    for metric in METRICS:
        dash.controls["metric"].value = metric
        row = expected.lift.set_index(["segment", "metric"]).loc[("all", metric)]
        n = dash.numbers
        got = [n[k] for k in ("lift", "lift_low", "lift_high", "rel_lift", "rel_low", "rel_high")]
        want = [row[c] for c in ("abs_lift", "abs_low", "abs_high", "rel_lift", "rel_low", "rel_high")]
        assert got == pytest.approx(want, nan_ok=True)
        assert f'data-metric="{metric}"' in dash.kpis.value
        seen.add(round(n["lift"], 9))
        assert [n["roi"], n["roi_low"], n["roi_high"]] == pytest.approx(
            [impact["roi"], impact["roi_low"], impact["roi_high"]], nan_ok=True
        )
    assert len(seen) == len(METRICS)  # the metric changes the card
    assert not math.isnan(dash.numbers["lift_low"])  # an absolute interval even when observational
    assert math.isnan(dash.numbers["rel_low"]) == expected.observational


def test_observational_campaign_is_marked_in_the_list_the_banner_the_cards_and_the_chart(split_db):
    for lang, words in (("en", "observational (no control)"), ("zh", "观察性（无对照组）")):
        dash = _dashboard(split_db, lang=lang)
        labels = dict((v, k) for k, v in dash.controls["campaign"].options)
        assert labels["O1"].endswith(words) and words not in labels["S1"]
        dash.controls["campaign"].value = "O1"
        assert 'data-kind="observational"' in dash.banners.value
        assert ("not the campaign" if lang == "en" else "不能视为") in dash.banners.value
        fig = dash.figures["lift"]
        # every relative lift of an observational campaign lacks an interval: open markers and a note
        assert set(fig.data[0].marker.symbol) == {"circle-open"}
        notes = " ".join(a.text for a in fig.layout.annotations)
        assert ("no randomised control" if lang == "en" else "没有随机对照组") in notes
        dash.controls["campaign"].value = "B1"
        assert 'data-kind="observational"' not in dash.banners.value
        assert not dash.figures["lift"].layout.annotations or all(
            "randomised" not in a.text for a in dash.figures["lift"].layout.annotations
        )


def test_segment_with_too_few_members_says_so_in_the_chart(split_db):
    dash = _dashboard(split_db, lang="zh")
    dash.controls["campaign"].value = "S1"
    dash.controls["segment"].value = "join_channel"
    expected = campaign_lift(split_db, "S1", as_of=AS_OF, segment_by="join_channel")
    visits = expected.lift[expected.lift.metric == "visits"].set_index("segment")
    assert math.isnan(visits.loc["referral", "abs_lift"])  # one member in each arm
    fig = dash.figures["by_segment"]
    shown = dict(zip(fig.data[0].y, fig.data[0].x, strict=True))
    assert list(shown) == [
        "全部",
        "老带新（样本不足：实验组 1 人，对照组 1 人）",
        "门店扫码",
    ]  # segments sorted
    assert [shown["全部"], shown["门店扫码"]] == pytest.approx(
        list(visits.loc[["all", "store_qr"], "abs_lift"])
    )
    dash.controls["lang"].value = "en"
    assert dash.figures["by_segment"].data[0].y[1] == "Referral (too few members: 1 treated, 1 control)"
    assert not any(re.search(r"[\u4e00-\u9fff]", y) for y in dash.figures["by_segment"].data[0].y)
