"""Dashboard 2: cohorts and repurchase. Do the members a period brought in come back, and how soon?

    cohort_dashboard()                       # in a notebook served by Voila (the store from $WORKBENCH_DATA)
    dash = cohort_dashboard(db, lang="en")   # in a test: set dash.controls["period"].value = "week" ...

Figures: the retention heatmap and mean retention curves of the chosen cohorts (wb.cohort_retention +
wb.figures.retention_heatmap / retention_curves), and the time to the next visit after the first one
(wb.repurchase_cycle + wb.figures.time_to_return). Filters: period (week / month), cohort range (default
the last DEFAULT_COHORTS cohorts whose own period is complete at as_of), segment split, city, store (choosing
a city narrows the stores offered to its own). KPI cards (``numbers``):

  cohort_members      members in the chosen cohorts (count)
  retention_1         share of them with a visit in the period after their cohort's, pooled over the chosen
                      cohorts that have a complete next period (0-1; NaN when none has)
  median_return_days  Kaplan-Meier median days from the first visit to the second (days; NaN = not reached);
                      over every member in scope when the split is off, else not shown
  back_within_30      share back within 30 days of the first visit (0-1), same scope
"""

from __future__ import annotations

import dataclasses

import ipywidgets as widgets
import pandas as pd

from workbench import i18n
from workbench.analyses import cohorts as cohort_analysis
from workbench.analyses.cohorts import cohort_retention
from workbench.analyses.repurchase import repurchase_cycle
from workbench.dashboards import common
from workbench.figures import cohorts as cohort_figures
from workbench.figures import repurchase as repurchase_figures

PERIODS = ("month", "week")
# Cohorts shown when the dashboard opens: the last year of monthly cohorts, the last quarter of weekly ones,
# ending on the last cohort whose own period is complete at as_of (the current month's cohort is still
# joining: it can be chosen, but is not counted by default).
DEFAULT_COHORTS = {"month": 12, "week": 13}
# The return horizon quoted on the KPI card (a month; DESIGN.md lists 7/14/30/60/90).
RETURN_HORIZON_DAYS = 30

i18n.register(
    {
        "dash.cohorts.title": ("同期群与复购", "Cohorts and repurchase"),
        "dash.cohorts.period": ("周期", "Period"),
        "dash.cohorts.from": ("同期群从", "Cohorts from"),
        "dash.cohorts.to": ("至", "to"),
        "dash.cohorts.period.month": ("按月", "Monthly"),
        "dash.cohorts.period.week": ("按周", "Weekly"),
        "dash.cohorts.members": ("所选同期群会员", "Members in these cohorts"),
        "dash.cohorts.retention_1": ("次期留存率", "Retention, next period"),
        "dash.cohorts.median_return": ("首次到店后回访中位天数", "Median days to 2nd visit"),
        "dash.cohorts.back_within": ("{h} 天内回访", "Back within {h} days"),
        "dash.cohorts.split_note": (
            "分组时各组数字见图；卡片为全部会员。",
            "With a split, each segment's numbers are in the figures; cards show all members.",
        ),
    }
)


def cohort_dashboard(
    db=None,
    *,
    as_of=None,
    lang: str = "zh",
    background: bool | None = None,
    prefetch: bool | None = None,
):
    """The cohorts-and-repurchase dashboard (an ipywidgets VBox; see the module docstring).

    ``db``: a Store or a path (default $WORKBENCH_DATA, else data/demo.duckdb), opened read-only;
    ``as_of``: analyses run to the Sunday of the last complete ISO week on or before it (default: of the
    data's last complete day); ``lang``: 'zh' or 'en' at opening. ``background``: compute in a worker
    thread (default: inside a kernel, as under Voila); ``prefetch``: after each render, compute in that
    thread the results for the other values of the main filters, so choosing them later redraws from the
    cache (default: when in the background).
    """
    return CohortDashboard(db, as_of=as_of, lang=lang, background=background, prefetch=prefetch)


class CohortDashboard(common.Dashboard):
    title_key = "dash.cohorts.title"

    def build(self) -> None:
        self.retention = None
        self.window = None
        self.cycle = None
        self.cycle_all = None
        self.stores = common.store_choices(self.db)
        names = {s: f"{s} {n}" for s, n, _ in self.stores}
        cities = sorted({c for _, _, c in self.stores})
        self.add_control(
            "period",
            widgets.Dropdown(options=[(p, p) for p in PERIODS], value="month"),
            "dash.cohorts.period",
            lambda v, lang: i18n.t(f"dash.cohorts.period.{v}", lang),
        )
        for name, key in (("first_cohort", "dash.cohorts.from"), ("last_cohort", "dash.cohorts.to")):
            self.add_control(
                name, widgets.Dropdown(options=[("-", "")], value="", layout={"width": "200px"}), key
            )
        self.add_control(
            "segment",
            widgets.Dropdown(options=[(s, s) for s in common.SEGMENT_CHOICES], value="none"),
            "dash.segment",
            common.segment_label,
        )
        self.add_control(
            "city",
            widgets.Dropdown(options=[(c, c) for c in ["", *cities]], value=""),
            "dash.city",
            lambda v, lang: v or i18n.t("dash.all_cities", lang),
        )
        self.add_control(
            "store",
            widgets.Dropdown(options=[(s, s) for s in ["", *names]], value=""),
            "dash.store",
            lambda v, lang: names.get(v) or i18n.t("dash.all_stores", lang),
        )
        self.narrow_stores_by_city(self.stores)
        self._period_seen = None
        self._windows: dict = {}  # (id of the retention result, first, last) -> (result, window)
        self.body.children = [self.add_pane("heatmap"), self.add_pane("curves"), self.add_pane("return")]

    def steps(self):
        return [
            ("cohorts", self.compute_cohorts, self.draw_cohorts),
            ("return", self.compute_return, self.draw_return),
        ]

    # -- filters as analysis parameters --------------------------------------------------------------------
    def retention_params(self, state: dict | None = None) -> dict:
        s = self.state() if state is None else state
        return {"db": self.db, "as_of": self.as_of, "period": s["period"],
                "segment_by": common.segment_choice(s["segment"]), **self.scope(s)}  # fmt: skip

    def return_params(self, state: dict | None = None) -> dict:
        s = self.state() if state is None else state
        return {"db": self.db, "as_of": self.as_of, "max_visit_number": 1,
                "segment_by": common.segment_choice(s["segment"]), **self.scope(s)}  # fmt: skip

    def prefetch_plan(self):
        """The other period, then each split, then each city, for the filters at hand."""
        s = self.state()
        states = [{**s, "period": p} for p in PERIODS if p != s["period"]]
        states += [{**s, "segment": g} for g in common.SEGMENT_CHOICES if g != s["segment"]]
        states += [{**s, "city": c, "store": ""} for c in sorted({c for _, _, c in self.stores})]
        return [item for alt in states for item in self.plan_for(alt)]

    def plan_for(self, state):
        return [
            ("cohort_retention", cohort_retention, self.retention_params(state)),
            ("repurchase_cycle", repurchase_cycle, self.return_params(state)),
        ]

    # -- steps ----------------------------------------------------------------------------------------------
    def compute_cohorts(self) -> None:
        c = self.controls
        period = c["period"].value
        self.retention = self.cached("cohort_retention", cohort_retention, **self.retention_params())
        table = self.retention.table
        if table.empty or int(table.loc[table["age"] == 0, "cohort_size"].sum()) == 0:
            self.window = None
            self.empty()
        labels = cohort_labels(self.retention)
        complete = cohort_labels(self.retention, complete=True) or labels
        default_first = complete[max(0, len(complete) - DEFAULT_COHORTS[period])]
        default_last = complete[-1]
        lo, hi = c["first_cohort"].value, c["last_cohort"].value
        if self._period_seen != period:  # a new period opens on its last DEFAULT_COHORTS complete cohorts
            lo, hi = default_first, default_last
            self._period_seen = period
        self.set_options("first_cohort", labels, value=lo if lo in labels else default_first)
        self.set_options("last_cohort", labels, value=hi if hi in labels else default_last)
        lo, hi = c["first_cohort"].value, c["last_cohort"].value
        key = (id(self.retention), lo, hi)
        if key not in self._windows or self._windows[key][0] is not self.retention:
            if len(self._windows) >= common.CACHE_SIZE:  # keep it as small as the result cache
                self._windows.clear()
            window = self.cache.derive(
                cohort_window(self.retention, lo, hi), self.retention, "window", lo, hi
            )
            self._windows[key] = (self.retention, window)
        self.window = self._windows[key][1]  # the same window object: its figures are drawn once
        if self.window.table.empty:  # e.g. the first cohort after the last one
            self.window = None
            self.empty()

    def draw_cohorts(self) -> None:
        if self.window is None:
            return
        self.draw("heatmap", cohort_figures.retention_heatmap, self.window)
        self.draw("curves", cohort_figures.retention_curves, self.window)

    def compute_return(self) -> None:
        params = self.return_params()
        self.cycle = self.cached("repurchase_cycle", repurchase_cycle, **params)
        self.cycle_all = self.cycle if params["segment_by"] is None else None

    def draw_return(self) -> None:
        if self.cycle is None:
            return
        self.draw("return", repurchase_figures.time_to_return, self.cycle)

    def draw_numbers(self) -> None:
        n = {}
        if self.window is not None:
            t = self.window.table
            n["cohort_members"] = float(t.loc[t["age"] == 0, "cohort_size"].sum())
            next_period = t[(t["age"] == 1) & t["observable"]]
            size = next_period["cohort_size"].sum()
            n["retention_1"] = float(next_period["active"].sum() / size) if size else float("nan")
        if self.cycle_all is not None:
            med = self.cycle_all.medians
            first = med[med["from_visit"] == 1]
            n["median_return_days"] = float(first["median_days"].iloc[0]) if len(first) else float("nan")
            w = self.cycle_all.within
            w = w[(w["from_visit"] == 1) & (w["horizon_days"] == RETURN_HORIZON_DAYS)]
            n["back_within_30"] = float(w["share_returned"].iloc[0]) if len(w) else float("nan")
        self.numbers = n
        cards = []
        if "cohort_members" in n:
            cards.append(
                ("cohort_members", self.t("dash.cohorts.members"), n["cohort_members"],
                 common.number(n["cohort_members"]))
            )  # fmt: skip
            cards.append(
                ("retention_1", self.t("dash.cohorts.retention_1"), n["retention_1"],
                 common.percent(n["retention_1"]))
            )  # fmt: skip
        if "median_return_days" in n:
            days = n["median_return_days"]
            cards.append(
                ("median_return_days", self.t("dash.cohorts.median_return"), days, common.number(days))
            )
            cards.append(
                ("back_within_30", self.t("dash.cohorts.back_within", h=RETURN_HORIZON_DAYS),
                 n["back_within_30"], common.percent(n["back_within_30"]))
            )  # fmt: skip
        note = self.t("dash.cohorts.split_note") if self.controls["segment"].value != "none" else ""
        self.kpis.value = common.kpi_html(cards, note=note)


# -- views of a result (no statistics: the analysis' own pooling on a subset of its cells) ----------------


def cohort_labels(result, *, complete: bool = False) -> list[str]:
    """Labels of the result's cohorts, oldest first: '2026-03' (month) or '2026-W12' (week); with
    ``complete``, only the cohorts whose own period (age 0) has ended by the result's as_of."""
    period = result.params["period"]
    table = result.table
    if complete:
        table = table[(table["age"] == 0) & table["observable"].astype(bool)]
    cohorts = sorted(pd.to_datetime(table["cohort"].unique()))
    return [cohort_figures._cohort_label(c, period) for c in cohorts]


def cohort_window(result, first: str, last: str):
    """``result`` restricted to the cohorts labelled ``first`` .. ``last``, with the curve pooled over them
    exactly as :func:`~workbench.analyses.cohorts.cohort_retention` pools (observable cells, by size)."""
    period = result.params["period"]
    table = result.table
    labels = table["cohort"].map(lambda c: cohort_figures._cohort_label(c, period))
    keep = (labels >= first) & (labels <= last)
    sub = table[keep].reset_index(drop=True)
    return dataclasses.replace(result, table=sub, curve=cohort_analysis._mean_curve(sub))
