"""The churn-and-wake-up dashboard in a real browser (Voila + Debian's Chromium; fixtures in conftest.py).

It loads without an error; a city, then a store, shows the numbers and curves the package computes for that
filter (computed here directly); the store list follows the city;
the CSV download carries member keys only (no member id, no phone hash), as many as the card says, which
resolve back to wake_up_list's members in order; the language switch changes labels and the CSV's
headers. Screenshots: tests/artifacts/dashboard_churn.png (zh) and dashboard_churn_en.png.
"""

from __future__ import annotations

import pandas as pd

from tests.dashboards.conftest import CJK, needs_browser
from workbench import i18n
from workbench.analyses.churn import churn_survival, level_label
from workbench.analyses.wake_up import MEMBER_KEY_PATTERN, resolve_member_keys, wake_up_list
from workbench.dashboards import common  # registers the filters' labels

pytestmark = needs_browser

AS_OF = pd.Timestamp("2026-11-22").date()
# A window tall enough for the whole page: curves, hazard ratios and the 50-row wake-up table.
SCREEN_PX = 3900
# The curves of the survival figure (the page's first plot): one legend entry per segment.
CURVE_NAMES_JS = """() => document.querySelectorAll('.js-plotly-plot')[0].data
    .filter(t => t.mode === 'lines' && t.showlegend !== false).map(t => t.name)"""


def _download(p, path, key_header: str) -> pd.DataFrame:
    with p.page.expect_download() as info:
        p.page.click(".wb-download-link")
    info.value.save_as(path)
    return pd.read_csv(path, encoding="utf-8-sig", dtype={key_header: str})


def _check_numbers(p, db, scope: dict, segment_by: str = "vip") -> None:
    survival = churn_survival(db, as_of=AS_OF, segment_by=segment_by, **scope)
    wake = wake_up_list(db, as_of=AS_OF, **scope)
    shown = p.numbers()
    assert shown["members"] == survival.medians["members"].sum()
    assert shown["churned"] == survival.medians["churned"].sum()
    assert shown["wake_up"] == len(wake)
    names = p.page.evaluate(CURVE_NAMES_JS)
    assert sorted(names) == sorted(
        level_label(segment_by, s, "zh", with_covariate=True) for s in survival.segments
    )


def test_churn_dashboard_in_the_browser(open_page, db, tmp_path):
    p = open_page("churn")
    assert p.errors == []
    p.screenshot("churn", height=SCREEN_PX)
    stores = db.stores.select("store_id", "name", "city").order_by("store_id").to_pandas()
    city = sorted(stores["city"])[0]
    p.change(".wb-city", label=city)
    _check_numbers(p, db, {"cities": [city]})
    assert p.page.evaluate(CURVE_NAMES_JS) and all("付费会员：" in n for n in p.page.evaluate(CURVE_NAMES_JS))

    # The download: member keys only, as many as the card, resolving to the list's members in order.
    key = i18n.t("wake_up.column.member_key", "zh")
    frame = _download(p, tmp_path / "wake.csv", key)
    assert key in frame.columns and "会员编号" not in frame.columns
    assert "phone_hash" not in frame.columns and "member_id" not in frame.columns
    keys = frame[key]
    assert keys.str.fullmatch(MEMBER_KEY_PATTERN.pattern).all()
    members = db.members.select("member_id", "phone_hash").to_pandas()
    assert not set(keys) & (set(members["member_id"]) | set(members["phone_hash"].dropna()))
    wake = wake_up_list(db, as_of=AS_OF, cities=[city])
    assert len(keys) == p.numbers()["wake_up"] == len(wake) > 0
    assert resolve_member_keys(db, keys) == wake["member_id"].tolist()
    text = (tmp_path / "wake.csv").read_text(encoding="utf-8-sig")
    assert not any(m in text for m in wake["member_id"])

    # A store of that city: its numbers; a store of another city: nothing, said in words.
    mine = stores[stores["city"] == city].iloc[0]
    p.change(".wb-store", label=f"{mine.store_id} {mine['name']}")
    _check_numbers(p, db, {"stores": [mine.store_id], "cities": [city]})
    segment = common.segment_label("join_channel", "zh")
    p.change(".wb-segment", label=segment)
    survival = churn_survival(
        db, as_of=AS_OF, segment_by="join_channel", stores=[mine.store_id], cities=[city]
    )
    assert len(p.page.evaluate(CURVE_NAMES_JS)) == len(survival.segments)
    p.change(".wb-segment", label=common.segment_label("vip", "zh"))
    # The store list offers the chosen city's stores only (a store without members, which leaves nothing,
    # is a unit case in test_churn_page.py: every store of the simulated chain has members).
    offered = p.page.eval_on_selector_all(".wb-store option", "os => os.map(o => o.textContent)")
    assert len(offered) == 1 + (stores["city"] == city).sum()

    p.change(".wb-store", label=i18n.t("dash.all_stores", "zh"))
    p.click(".wb-lang button:has-text('English')")
    titles = p.titles()
    assert titles and not any(CJK.search(t) for t in titles)
    assert all(n.startswith("VIP: ") for n in p.page.evaluate(CURVE_NAMES_JS))
    assert "Download CSV" in p.page.inner_text(".wb-download-link")
    english = _download(p, tmp_path / "wake_en.csv", "Member key (hashed)")
    assert english["Member key (hashed)"].tolist() == keys.tolist()
    assert english["Segment"].eq("All").all()
    p.screenshot("churn_en", height=SCREEN_PX)
    assert p.errors == []
