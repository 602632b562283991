"""Churn figures as objects: traces, axis titles in both languages, hover with intervals, the at-risk table.

The survival result comes from hand counts (as_of 2026-03-31, T = 30, segments by link mode):
  friend_only: 2 churned on day 30, 1 on day 50, 1 censored on day 89
  none:        1 censored on day 0, 3 churned on day 30, 2 censored on day 58
The Cox result from a hand frame of 400 members where VIP halves the churn hazard.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.churn import drivers_from_frame, survival_from_counts
from workbench.figures.churn import hazard_ratios, survival_curves, wake_up_table

PARAMS = {
    "as_of": dt.date(2026, 3, 31),
    "threshold_days": 30,
    "segment_by": "link_mode",
    "marks": (0, 30, 90),
}


@pytest.fixture
def survival():
    counts = pd.DataFrame(
        {
            "segment": ["friend_only"] * 3 + ["none"] * 3,
            "duration_days": [30, 50, 89, 0, 30, 58],
            "churned": [True, True, False, False, True, False],
            "members": [2, 1, 1, 1, 3, 2],
        }
    )
    return survival_from_counts(counts, params=PARAMS, marks=(0, 30, 90), rmst_horizon_days=90)


@pytest.fixture
def drivers():
    rng = np.random.default_rng(4)
    n = 400
    vip = rng.random(n) < 0.4
    channel = rng.choice(["store_qr", "mini_program", "referral"], n)
    life = rng.exponential(60 * np.where(vip, 2.0, 1.0))
    frame = pd.DataFrame(
        {
            "member_id": [f"M{i:03d}" for i in range(n)],
            "duration_days": np.minimum(np.ceil(life), 120),
            "churned": life < 120,
            "vip": vip,
            "join_channel": channel,
        }
    )
    params = {"as_of": dt.date(2026, 3, 31), "threshold_days": 30}
    return drivers_from_frame(
        frame,
        covariates=("join_channel", "vip"),
        reference={"join_channel": "store_qr"},
        params=params,
        min_level_members=10,
    )


@pytest.fixture
def wake():
    df = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "member_id": ["W6", "W1", "W5"],
            "segment": ["all"] * 3,
            "home_store_id": ["SH", "SH", "BJ"],
            "city": ["上海", "上海", "北京"],
            "last_day": pd.to_datetime(["2026-03-17", "2026-03-15", "2026-03-20"]),
            "days_since_last": [14, 16, 11],
            "own_cycle_days": [7.0, 7.0, 7.0],
            "cycle_source": ["own", "own", "chain"],
            "overdue_ratio": [2.0, 16 / 7, 11 / 7],
            "visits": [2, 3, 1],
            "revenue": [600.0, 300.0, 50.0],
            "avg_ticket": [300.0, 100.0, 50.0],
            "p_active": [0.2, 0.1702, 0.2518],
            "expected_value": [771.4286, 218.78, 161.86],
            "phone_hash": ["h6", "h1", "h5"],
        }
    )
    df.attrs["as_of"] = dt.date(2026, 3, 31)
    return df


def test_survival_curves_have_a_band_a_step_curve_and_an_at_risk_row_per_segment(survival):
    fig = survival_curves(survival, lang="en")
    curves = [t for t in fig.data if t.mode == "lines" and t.showlegend is not False]
    assert [t.name for t in curves] == ["WeChat Work friend only", "Not linked"]
    assert all(t.line.shape == "hv" for t in fig.data if t.mode == "lines")
    assert len(fig.data) == 8  # per segment: band upper, band lower, curve, at-risk text
    first = curves[0]
    assert list(first.x) == [0, 30, 50, 89] and list(first.y) == pytest.approx([1, 0.5, 0.25, 0.25])
    assert "95% interval" in first.hovertemplate and "Members at risk" in first.hovertemplate
    band = [t for t in fig.data if t.fill == "tonexty"]
    assert len(band) == 2 and band[0].fillcolor.startswith("rgba(")


def test_at_risk_table_counts_members_at_each_mark(survival):
    fig = survival_curves(survival, lang="en")
    rows = {t.y[0]: list(t.text) for t in fig.data if t.mode == "text"}
    assert rows == {"WeChat Work friend only": ["4", "4", "0"], "Not linked": ["6", "5", "0"]}
    assert list(fig.layout.xaxis.tickvals) == [0, 30, 90]


def test_survival_axes_threshold_and_languages(survival):
    en, zh = survival_curves(survival, lang="en"), survival_curves(survival, lang="zh")
    assert (
        en.layout.xaxis.title.text == "Days since first visit"
        and zh.layout.xaxis.title.text == "首次到店后天数"
    )
    assert en.layout.yaxis.title.text == "Share not churned" and en.layout.yaxis.tickformat == ".0%"
    assert "as of 2026-03-31" in en.layout.title.text and "连续 30 天未到店" in zh.layout.title.text
    assert [s.x0 for s in en.layout.shapes] == [30]  # the dotted line at T
    assert "no churn before" in en.layout.annotations[0].text
    assert "仅企微好友" in [t.name for t in zh.data]
    assert len(survival_curves(survival, lang="en", show_ci=False).data) == 4


def test_at_risk_table_sits_below_the_day_axis_with_every_segment_named(survival):
    fig = survival_curves(survival, lang="en")
    curves, table = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    # Table below the curves, with room between them for the day axis' ticks and title (>= 60 px).
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert table[1] < curves[0] and (curves[0] - table[1]) * plot_px >= 60
    assert fig.layout.xaxis.showticklabels is True and fig.layout.xaxis2.visible is False
    assert list(fig.layout.yaxis2.tickvals) == ["WeChat Work friend only", "Not linked"]
    assert "Members at risk" in [
        a.text.replace("<b>", "").replace("</b>", "") for a in fig.layout.annotations
    ]


def test_empty_survival_says_no_data():
    with pytest.warns(wb.ThinDataWarning):
        empty = survival_from_counts(
            pd.DataFrame(columns=["segment", "duration_days", "churned", "members"]),
            params={**PARAMS, "segment_by": None},
        )
    fig = survival_curves(empty, lang="en")
    assert len(fig.data) == 0 and fig.layout.annotations[0].text == "No data for the selected filters"


def test_forest_plot_on_a_log_axis_with_intervals_and_references(drivers):
    fig = hazard_ratios(drivers, lang="en")
    est, ref = fig.data
    hr = drivers.hazard_ratios
    rows = hr[hr.level != hr.reference]
    assert list(est.x) == pytest.approx(list(rows.hazard_ratio))
    assert list(est.error_x.array) == pytest.approx(list(rows.ci_high - rows.hazard_ratio))
    assert list(est.error_x.arrayminus) == pytest.approx(list(rows.hazard_ratio - rows.ci_low))
    assert list(ref.x) == [1.0, 1.0]
    assert list(ref.y) == ["Join channel: Store QR code (reference)", "VIP: No (reference)"]
    assert "VIP: Yes" in list(est.y)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.xaxis.title.text.startswith("Hazard ratio")
    assert "95% interval" in est.hovertemplate and "p-value" in est.hovertemplate
    assert [s.x0 for s in fig.layout.shapes] == [1.0]
    assert fig.layout.height == 160 + 28 * len(hr)
    zh = hazard_ratios(drivers, lang="zh")
    assert "付费会员：是" in list(zh.data[0].y) and "付费会员：否（参照组）" in list(zh.data[1].y)


def test_forest_axis_ticks_are_round_ratios(drivers):
    fig = hazard_ratios(drivers, lang="en")
    ticks = list(fig.layout.xaxis.tickvals)
    assert 1 in ticks and set(ticks) <= {
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
        1,
        1.25,
        1.5,
        2,
        3,
        5,
        7,
        10,
    }
    low, high = (10**v for v in fig.layout.xaxis.range)
    assert all(low <= v <= high for v in ticks)
    assert list(fig.layout.xaxis.ticktext) == [f"{v:g}" for v in ticks]


def test_levels_whose_effect_changes_over_time_are_marked(drivers):
    ph = drivers.ph_check.copy()
    ph["violated"] = ph["covariate"] == "vip"
    marked = type(drivers)(**{**drivers.__dict__, "ph_check": ph})
    fig = hazard_ratios(marked, lang="en")
    assert "VIP: Yes †" in list(fig.data[0].y)
    assert any("changes over time" in a.text for a in fig.layout.annotations)


def test_wake_up_table_shows_formatted_columns_and_never_a_phone_hash(wake):
    fig = wake_up_table(wake, lang="zh")
    table = fig.data[0]
    header = list(table.header.values)
    assert header[:3] == ["排名", "会员编号", "城市"] and "唤醒预期价值" in header
    assert not any("phone" in h or "手机" in h for h in header)
    cells = dict(zip(header, table.cells.values, strict=True))
    assert list(cells["会员编号"]) == ["W6", "W1", "W5"]
    assert list(cells["最近到店日"]) == ["2026-03-17", "2026-03-15", "2026-03-20"]
    assert list(cells["唤醒预期价值"]) == ["771.43", "218.78", "161.86"]
    assert list(cells["仍活跃概率"]) == ["20%", "17%", "25%"]
    assert "h6" not in str(table.cells.values)
    assert "截至 2026-03-31" in fig.layout.title.text
    en = wake_up_table(wake, lang="en", max_rows=2)
    assert list(en.data[0].header.values)[1] == "Member ID" and len(en.data[0].cells.values[0]) == 2
    assert "first 2 of 3" in en.layout.title.text


def test_bad_language_and_rows_are_parameter_errors(survival, drivers, wake):
    with pytest.raises(wb.ParameterError, match="lang"):
        survival_curves(survival, lang="fr")
    with pytest.raises(wb.ParameterError, match="lang"):
        hazard_ratios(drivers, lang="fr")
    with pytest.raises(wb.ParameterError, match="max_rows"):
        wake_up_table(wake, max_rows=0)
