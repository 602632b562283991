"""Dashboard 4: campaigns. Did a campaign add visits and revenue, or discount visits that would have come?

    campaign_dashboard()                        # in a notebook served by Voila
    dash = campaign_dashboard(db, lang="en")    # in a test: dash.controls["campaign"].value = "C03" ...

Figures of the chosen campaign (wb.campaign_lift + workbench/figures/lift.py): relative lift of each metric
with its 95% interval (raw and CUPED), absolute lift by segment, cumulative outcomes by arm; a table of
every campaign (wb.campaigns_overview), filled in after the chosen campaign is drawn. A campaign without a
randomised control is labelled observational in the campaign list, in a banner that says what that means,
in every figure title and in the table; a sample-ratio mismatch gets a warning banner. Filters: kind, year
started (they narrow the campaign list), campaign, segment split, metric (of the lift card and the chart by
segment). KPI cards (``numbers``; every value also sits in the card's data attributes, see
:meth:`CampaignDashboard.draw_numbers`), all of the whole campaign (segment 'all'):

  treatment, control             members in each arm (count; control 0 when observational)
  lift, lift_low, lift_high      the chosen metric per member, treatment minus control (or the
                                 difference-in-differences), with its 95% interval (metric units per member)
  rel_lift, rel_low, rel_high    the same as a share of the control mean (0.10 = +10%; no interval when
                                 observational: NaN)
  incremental_revenue (+ _low, _high)   revenue the campaign added over the treated arm (currency)
  roi, roi_low, roi_high         (margin gained - coupon cost) / coupon cost (ratio; NaN without coupon cost)
  srm_p                          p-value of the sample-ratio check (NaN without a planned holdout)
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd

from workbench import i18n
from workbench.analyses.lift import campaign_lift, campaigns_overview
from workbench.dashboards import common
from workbench.figures import lift as lift_figures

SEGMENTS = ("price_sensitive", "vip", "in_group", "join_channel", "link_mode", "none")
METRICS = lift_figures.METRICS
# Campaigns just before the chosen one whose lifts are prefetched ahead of the (slow) table of every
# campaign: the ones a manager steps back to first.
PREFETCH_NEIGHBOURS = 2
# The observational and SRM banners stand out from the orange notes (provisional window, thin data): red.
BANNER_STYLE = {
    kind: ' style="border-left:6px solid #C8102E;background:#fdecee;color:#7a0019"'
    for kind in ("observational", "srm")
}

i18n.register(
    {
        "dash.campaigns.title": ("营销活动效果", "Campaigns"),
        "dash.campaigns.kind": ("活动类型", "Kind"),
        "dash.campaigns.year": ("开始年份", "Started in"),
        "dash.campaigns.campaign": ("活动", "Campaign"),
        "dash.campaigns.metric": ("指标", "Metric"),
        "dash.campaigns.all_kinds": ("全部类型", "All kinds"),
        "dash.campaigns.all_years": ("全部年份", "All years"),
        "dash.campaigns.kind.coupon": ("优惠券", "Coupon"),
        "dash.campaigns.kind.wake_up": ("唤醒", "Wake-up"),
        "dash.campaigns.kind.new_member": ("新会员", "New member"),
        "dash.campaigns.kind.birthday": ("生日", "Birthday"),
        "dash.campaigns.randomised": ("随机对照", "randomised"),
        "dash.campaigns.observational_short": ("观察性", "observational"),
        "dash.campaigns.observational_option": (
            "{label} · 观察性（无对照组）",
            "{label} · observational (no control)",
        ),
        "dash.campaigns.observational_banner": (
            "观察性活动：没有随机对照组。增量是与未参加活动、活动前到店习惯相近的会员比较（双重差分）得出的估计，"
            "不能视为活动的因果效果；相对增量没有 95% 区间。",
            "Observational campaign: there is no randomised control group. The lift compares members in the "
            "campaign with similar members outside it (difference-in-differences); it is not the campaign's "
            "causal effect, and the relative lift has no 95% interval.",
        ),
        "dash.campaigns.no_control": ("观察性活动：无对照组", "Observational: no control group"),
        "dash.campaigns.lift": ("人均增量：{metric}", "Lift per member: {metric}"),
        "dash.campaigns.relative": ("相对 {value}", "relative {value}"),
        "dash.campaigns.no_interval": ("无区间", "no interval"),
        "dash.campaigns.ci": ("95% 区间 {value}", "95% interval {value}"),
        "dash.campaigns.srm_card": ("分组比例检验（SRM）", "Sample ratio check (SRM)"),
        "dash.campaigns.srm_ok": ("正常", "OK"),
        "dash.campaigns.srm_bad": ("⚠ 比例异常", "⚠ Mismatch"),
        "dash.campaigns.srm_none": ("不适用", "n/a"),
        "dash.campaigns.srm_no_control": ("观察性活动没有对照组", "no control group (observational)"),
        "dash.campaigns.treatment": ("实验组会员", "Treatment members"),
        "dash.campaigns.control": ("对照组会员", "Control members"),
        "dash.campaigns.incremental_revenue": ("增量营收（{currency}）", "Incremental revenue ({currency})"),
        "dash.campaigns.roi": ("投入产出比 ROI", "ROI"),
        "dash.campaigns.srm": (
            "⚠ 实验组与对照组人数比例与计划不符（SRM，p={p}），分组可能有问题，结果需谨慎解读。",
            "⚠ The arms' sizes do not match the planned holdout (SRM, p={p}); the split may be broken, read "
            "the lift with care.",
        ),
        "dash.campaigns.window": (
            "效果观察期尚未结束（已观察 {days}/{window} 天），结果为暂定。",
            "The outcome window is not over ({days} of {window} days observed); the lift is provisional.",
        ),
        "dash.campaigns.overview": ("全部活动一览", "All campaigns"),
        "dash.campaigns.col.campaign": ("活动", "Campaign"),
        "dash.campaigns.col.design": ("设计", "Design"),
        "dash.campaigns.col.members": ("会员数", "Members"),
        "dash.campaigns.col.visits_lift": ("人均到店增量 [95% 区间]", "Visits lift [95% CI]"),
        "dash.campaigns.col.incremental_revenue": ("增量营收", "Incremental revenue"),
        "dash.campaigns.col.roi": ("ROI", "ROI"),
        "dash.campaigns.col.srm": ("SRM", "SRM"),
    }
)


def campaign_dashboard(
    db=None,
    *,
    as_of=None,
    lang: str = "zh",
    background: bool | None = None,
    overview: bool = True,
    prefetch: bool | None = None,
):
    """The campaigns dashboard (an ipywidgets VBox; see the module docstring and
    :func:`workbench.dashboards.cohorts.cohort_dashboard` for the arguments). ``overview=False`` leaves
    out the table of every campaign (one lift per campaign: the slowest part); in a kernel it is computed
    after the chosen campaign is drawn, in the background pass."""
    return CampaignDashboard(
        db, as_of=as_of, lang=lang, background=background, overview=overview, prefetch=prefetch
    )


class CampaignDashboard(common.Dashboard):
    title_key = "dash.campaigns.title"

    def __init__(self, db=None, *, overview: bool = True, **kwargs):
        self.with_overview = overview
        super().__init__(db, **kwargs)

    def build(self) -> None:
        self.db.require("campaigns", "assignments", needed_by="the campaigns dashboard")
        self.lift = None
        self.overview = None
        self.catalogue = campaign_catalogue(self.db)
        kinds = sorted(self.catalogue["kind"].unique())
        years = sorted(self.catalogue["year"].unique())
        self.add_control(
            "kind",
            widgets.Dropdown(options=[(k, k) for k in ["", *kinds]], value=""),
            "dash.campaigns.kind",
            lambda v, lang: kind_label(v, lang) if v else i18n.t("dash.campaigns.all_kinds", lang),
        )
        self.add_control(
            "year",
            widgets.Dropdown(options=[(y, y) for y in ["", *years]], value=""),
            "dash.campaigns.year",
            lambda v, lang: v or i18n.t("dash.campaigns.all_years", lang),
        )
        labels = dict(zip(self.catalogue["campaign_id"], self.catalogue["label"], strict=True))
        observational = set(self.catalogue.loc[self.catalogue["observational"], "campaign_id"])
        ids = self.catalogue["campaign_id"].tolist()
        self.add_control(
            "campaign",
            widgets.Dropdown(
                options=[(c, c) for c in ids or [""]],
                value=ids[-1] if ids else "",  # open on the latest campaign
                layout={"width": "460px"},  # room for the label of an observational campaign
            ),
            "dash.campaigns.campaign",
            lambda v, lang: (
                i18n.t("dash.campaigns.observational_option", lang, label=labels.get(v, v))
                if v in observational
                else labels.get(v, v)
            ),
        )
        self.add_control(
            "segment",
            widgets.Dropdown(options=[(s, s) for s in SEGMENTS], value="price_sensitive"),
            "dash.segment",
            common.segment_label,
        )
        self.add_control(
            "metric",
            widgets.Dropdown(options=[(m, m) for m in METRICS], value="visits"),
            "dash.campaigns.metric",
            lambda v, lang: i18n.t(f"lift.metric.{v}", lang),
        )
        self.banners = widgets.HTML()
        self.banners.add_class("wb-banners")
        self.overview_box = widgets.HTML()
        self.overview_box.add_class("wb-overview")
        self.body.children = [
            self.banners,
            self.add_pane("lift"),
            self.add_pane("by_segment"),
            self.add_pane("cumulative"),
            self.overview_box,
        ]

    def steps(self):
        steps = [("lift", self.compute_lift, self.draw_lift)]
        if self.with_overview:
            steps.append(("overview", self.compute_overview, self.draw_overview))
        return steps

    def lift_params(self, campaign_id: str, segment: str | None = None) -> dict:
        segment = self.controls["segment"].value if segment is None else segment
        return {"db": self.db, "campaign_id": campaign_id, "as_of": self.as_of,
                "segment_by": common.segment_choice(segment)}  # fmt: skip

    def prefetch_plan(self):
        """The other campaigns with the split at hand, newest first, then the other splits of the
        campaign at hand (the table of every campaign comes before them: see :meth:`prefetch`)."""
        plan = []
        current = self.controls["campaign"].value
        ids = [c for c in reversed(self.catalogue["campaign_id"].tolist()) if c != current]
        plan += [("campaign_lift", campaign_lift, self.lift_params(c)) for c in ids]
        plan += [
            ("campaign_lift", campaign_lift, self.lift_params(current, g))
            for g in SEGMENTS
            if g != self.controls["segment"].value
        ]
        return plan

    # -- steps ----------------------------------------------------------------------------------------------
    def compute_lift(self) -> None:
        c = self.controls
        cat = self.catalogue
        keep = pd.Series(True, index=cat.index)
        if c["kind"].value:
            keep &= cat["kind"] == c["kind"].value
        if c["year"].value:
            keep &= cat["year"] == c["year"].value
        ids = cat.loc[keep, "campaign_id"].tolist()
        if not ids:
            self.lift = None
            self.empty()
        self.set_options(
            "campaign", ids, value=c["campaign"].value if c["campaign"].value in ids else ids[-1]
        )
        self.lift = self.cached("campaign_lift", campaign_lift, **self.lift_params(c["campaign"].value))
        if self.lift.days_observed <= 0:
            self.empty()

    def draw_lift(self) -> None:
        r = self.lift
        self.draw("lift", lift_figures.lift_intervals, r)
        metric = self.controls["metric"].value
        self.draw("by_segment", lift_figures.lift_by_segment, r, metric=metric)
        self.draw("cumulative", lift_figures.cumulative_by_arm, r)
        banners = []
        if r.observational:
            banners.append(("observational", self.t("dash.campaigns.observational_banner")))
        if r.srm_mismatch:
            p = float(r.srm["p_value"].min())
            banners.append(("srm", self.t("dash.campaigns.srm", p=f"{p:.2g}")))
        if not r.window_complete:
            banners.append(
                (
                    "window",
                    self.t("dash.campaigns.window", days=r.days_observed, window=r.campaign.window_days),
                )
            )
        self.banners.value = "".join(
            f'<div class="wb-banner" data-kind="{k}"{BANNER_STYLE.get(k, "")}>{html.escape(text)}</div>'
            for k, text in banners
        )

    def compute_overview(self) -> None:
        # One lift per campaign: the slowest part. In a kernel it is left to the background pass after
        # the chosen campaign is drawn (see prefetch), unless an earlier pass already computed it.
        params = {"db": self.db, "as_of": self.as_of}
        if self._executor is None or self.cache.has("campaigns_overview", **params):
            self.overview = self.cached("campaigns_overview", campaigns_overview, **params)

    def draw_overview(self) -> None:
        if self.overview is None:
            loading = html.escape(self.t("dash.loading"))
            self.overview_box.value = (
                f"<h3>{html.escape(self.t('dash.campaigns.overview'))}</h3>"
                f'<div class="wb-kpi-note" data-loading="1">{loading}</div>'
            )
            return
        self.overview_box.value = overview_html(
            self.overview, self.catalogue, self.lang, self.db.settings.currency
        )

    def prefetch(self, *, limit: int = common.PREFETCH_LIMIT, ticket: int | None = None) -> int:
        """The lifts of the PREFETCH_NEIGHBOURS campaigns before the chosen one, then the table of every
        campaign (drawn as soon as it is ready), then the rest of the plan."""
        plan = self.prefetch_plan()[:limit]
        done = self.prefetch_items(plan[:PREFETCH_NEIGHBOURS], ticket=ticket)
        if self.with_overview and self.overview is None and (ticket is None or ticket == self._requested):
            overview = self.cache.get(
                "campaigns_overview",
                campaigns_overview,
                _engine=self.prefetch_engine(),
                db=self.db,
                as_of=self.as_of,
            )
            with self._lock:  # drawn between two renders, never during one
                self.overview = overview
                if ticket is None or ticket == self._requested:
                    self.draw_overview()
            done += 1
        return done + self.prefetch_items(plan[PREFETCH_NEIGHBOURS:], ticket=ticket)

    def draw_numbers(self) -> None:
        """The cards of the whole campaign; each card's data-value holds its number and, where it has one,
        data-low / data-high its 95% interval (the lift card also data-rel, data-rel-low, data-rel-high and
        data-metric; the SRM card data-mismatch), so a test reads exactly what the page shows."""
        if self.lift is None:
            self.numbers = {}
            self.kpis.value = ""
            return
        r, metric = self.lift, self.controls["metric"].value
        arms = r.arms[r.arms["segment"] == "all"].set_index("arm")["members"]
        lv = r.lift[(r.lift["segment"] == "all") & (r.lift["metric"] == metric)].iloc[0]
        imp = r.impact[r.impact["segment"] == "all"].iloc[0]
        srm_p = float(r.srm["p_value"].min()) if not r.srm.empty else float("nan")
        n = {"treatment": float(arms.get("treatment", 0)), "control": float(arms.get("control", 0))}
        n |= {k: float(lv[c]) for k, c in LIFT_NUMBERS.items()}
        n |= {k: float(imp[c]) for k, c in IMPACT_NUMBERS.items()}
        n["srm_p"] = srm_p
        self.numbers = n
        currency = (
            i18n.t("currency_cny", self.lang)
            if self.db.settings.currency == "CNY"
            else self.db.settings.currency
        )
        digits = 3 if metric in ("converted", "visits") else 2
        ci = lambda low, high, spec: (self.t("dash.campaigns.ci", value=interval(low, high, spec)), "flat")  # noqa: E731
        rel = f"{n['rel_lift']:+.1%}" if n["rel_lift"] == n["rel_lift"] else "–"
        rel += " " + (
            interval(n["rel_low"], n["rel_high"], "+.1%")
            if n["rel_low"] == n["rel_low"]
            else f"({self.t('dash.campaigns.no_interval')})"
        )
        if r.observational:
            srm_text, srm_notes = (
                self.t("dash.campaigns.srm_none"),
                [(self.t("dash.campaigns.srm_no_control"), "flat")],
            )
        else:
            srm_text = self.t("dash.campaigns.srm_bad" if r.srm_mismatch else "dash.campaigns.srm_ok")
            srm_notes = [(f"p={srm_p:.2g}", "down" if r.srm_mismatch else "flat")]
        control_notes = [(self.t("dash.campaigns.no_control"), "down")] if r.observational else []
        cards = [
            ("treatment", self.t("dash.campaigns.treatment"), n["treatment"], common.number(n["treatment"])),
            ("control", self.t("dash.campaigns.control"), n["control"], common.number(n["control"]),
             control_notes),
            ("lift", self.t("dash.campaigns.lift", metric=self.t(f"lift.metric.{metric}")), n["lift"],
             f"{n['lift']:+.{digits}f}", [ci(n["lift_low"], n["lift_high"], f"+.{digits}f"),
                                          (self.t("dash.campaigns.relative", value=rel), "flat")]),
            ("incremental_revenue", self.t("dash.campaigns.incremental_revenue", currency=currency),
             n["incremental_revenue"], common.number(n["incremental_revenue"]),
             [ci(n["incremental_revenue_low"], n["incremental_revenue_high"], ",.0f")]),
            ("roi", self.t("dash.campaigns.roi"), n["roi"], common.number(n["roi"], 2),
             [ci(n["roi_low"], n["roi_high"], "+.2f")]),
            ("srm", self.t("dash.campaigns.srm_card"), srm_p, srm_text, srm_notes),
        ]  # fmt: skip
        extra = {
            "lift": {"low": n["lift_low"], "high": n["lift_high"], "rel": n["rel_lift"],
                     "rel-low": n["rel_low"], "rel-high": n["rel_high"], "metric": metric},
            "incremental_revenue": {"low": n["incremental_revenue_low"], "high": n["incremental_revenue_high"]},
            "roi": {"low": n["roi_low"], "high": n["roi_high"]},
            "srm": {"mismatch": int(r.srm_mismatch)},
        }  # fmt: skip
        self.kpis.value = with_data(common.kpi_html(cards), extra)


# numbers of the lift card: key -> column of CampaignLift.lift (segment 'all', the chosen metric)
LIFT_NUMBERS = {"lift": "abs_lift", "lift_low": "abs_low", "lift_high": "abs_high",
                "rel_lift": "rel_lift", "rel_low": "rel_low", "rel_high": "rel_high"}  # fmt: skip
# ... and of the revenue and ROI cards: key -> column of CampaignLift.impact (segment 'all')
IMPACT_NUMBERS = {
    "incremental_revenue": "incremental_revenue",
    "incremental_revenue_low": "incremental_revenue_low",
    "incremental_revenue_high": "incremental_revenue_high",
    "roi": "roi",
    "roi_low": "roi_low",
    "roi_high": "roi_high",
}


def interval(low: float, high: float, spec: str) -> str:
    """'[low, high]' formatted with ``spec``; '[–]' when a bound is missing."""
    if low != low or high != high:
        return "[–]"
    return f"[{low:{spec}}, {high:{spec}}]"


def with_data(cards_html: str, extra: dict[str, dict]) -> str:
    """``cards_html`` (common.kpi_html) with more data attributes on the cards: {card key: {name: value}}
    -> data-name="value" (numbers as repr, like data-value)."""
    for key, attrs in extra.items():
        marker = f'data-key="{key}"'
        assert cards_html.count(marker) == 1, f"no single KPI card {key!r}"
        text = "".join(
            f' data-{name}="{html.escape(repr(float(v)) if isinstance(v, float) else str(v))}"'
            for name, v in attrs.items()
        )
        cards_html = cards_html.replace(marker, marker + text)
    return cards_html


def campaign_catalogue(db) -> pd.DataFrame:
    """campaign_id, name, kind, year (text, of the local start day), label, observational (True when no
    member is assigned to a control arm: wb.campaign_lift's design 'observational'): one row per campaign,
    by start."""
    c = db.campaigns
    frame = c.select("campaign_id", "name", "kind", "starts_at").order_by("starts_at").to_pandas()
    start = pd.to_datetime(frame["starts_at"], utc=True).dt.tz_convert(db.settings.timezone)
    frame["year"] = start.dt.year.astype(str)
    frame["label"] = frame["campaign_id"] + " " + frame["name"] + " (" + start.dt.strftime("%Y-%m-%d") + ")"
    a = db.assignments
    controlled = set(a.filter(a.arm == "control").select("campaign_id").distinct().to_pandas()["campaign_id"])
    frame["observational"] = ~frame["campaign_id"].isin(controlled)
    return frame[["campaign_id", "name", "kind", "year", "label", "observational"]].reset_index(drop=True)


def kind_label(kind: str, lang: str) -> str:
    try:
        return i18n.t(f"dash.campaigns.kind.{kind}", lang)
    except KeyError:
        return kind


def overview_html(overview: pd.DataFrame, catalogue: pd.DataFrame, lang: str, currency: str) -> str:
    """wb.campaigns_overview as an HTML table; observational campaigns say so in the design column."""
    t = lambda key: i18n.t(key, lang)  # noqa: E731
    head = ["campaign", "design", "members", "visits_lift", "incremental_revenue", "roi", "srm"]
    rows = []
    labels = dict(zip(catalogue["campaign_id"], catalogue["label"], strict=True))
    for r in overview.itertuples():
        design = (
            t("dash.campaigns.observational_short")
            if r.design == "observational"
            else t("dash.campaigns.randomised")
        )
        cells = [
            labels.get(r.campaign_id, r.campaign_id),
            design,
            f"{r.members:,}",
            f"{r.visits_lift:+.3f} [{r.visits_low:+.3f}, {r.visits_high:+.3f}]",
            common.number(r.incremental_revenue),
            common.number(r.roi, 2),
            "⚠" if r.srm_mismatch else "",
        ]
        style = (
            ' style="background:#fdecee;color:#7a0019;font-weight:600"' if r.design == "observational" else ""
        )
        rows.append(
            f'<tr data-campaign="{html.escape(r.campaign_id)}"{style}>'
            + "".join(f"<td>{html.escape(str(x))}</td>" for x in cells)
            + "</tr>"
        )
    columns = [t(f"dash.campaigns.col.{h}") for h in head]
    return f"<h3>{html.escape(t('dash.campaigns.overview'))}</h3>" + common.html_table(columns, rows)
