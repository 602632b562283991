"""Dashboard 1: the weekly overview (私域周报). How did the private domain do this week, where, and who moved?

    overview_dashboard()                        # in a notebook served by Voila
    dash = overview_dashboard(db, lang="en")    # in a test: dash.controls["city"].value = "上海" ...

KPI cards of the week with week-on-week and year-on-year change (wb.weekly_kpis; the year-ago week is
aligned on Spring Festival and National Day), new members ranked by store and by join channel
(wb.figures.new_members_ranking), the weekly trend of the headline KPIs (wb.weekly_kpi_trend +
wb.figures.kpi_trend), the member lifecycle: flows into the week and members per state per week
(wb.lifecycle with period="week" + wb.figures.lifecycle_sankey / lifecycle_counts), and the full KPI table
with the holiday note (:func:`kpi_table_html`: an HTML table with the colours of wb.figures.kpi_table,
which the browser redraws in a fraction of a plotly table's time).

Filters: week (the last WEEK_CHOICES complete ISO weeks, default the latest), city, store, order channel.
City and store narrow every panel (members by home store, orders by the store they were placed at); the
order channel narrows the order KPIs only (revenue, tickets, active members, repurchase): member counts, the
new-member rankings (by home store and by join channel, as DESIGN.md lists them) and the lifecycle count
members whatever channel they ordered through, and the page and the rankings' subtitles say so. Choosing a
city narrows the store filter to its stores. The page shows the 'no data' message when the filters leave no
member and no order, or when an order channel is chosen and the week has no order of it in scope.

``numbers`` holds, for every KPI code of :data:`workbench.analyses.overview.KPIS` in the result:

  <kpi>         the week's value (members, currency, share 0-1 or coupons; see ``KPI_UNITS``)
  <kpi>_wow     relative change against the week before (value / previous_week - 1; NaN without a base)
  <kpi>_yoy     relative change against the aligned week a year before (NaN without a base)

and the KPI cards show CARD_KPIS with both changes (shares: changes in percentage points).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html

import ipywidgets as widgets

from workbench import i18n
from workbench.analyses import scope, store_weeks
from workbench.analyses.lifecycle import lifecycle, period_label
from workbench.analyses.overview import (
    KPI_UNITS,
    format_change,
    format_value,
    kpi_label,
    store_week_values,
    weekly_kpi_trend,
    weekly_kpis,
)
from workbench.dashboards import common, warm
from workbench.data import calendar, contract
from workbench.figures import lifecycle as lifecycle_figures
from workbench.figures import overview as overview_figures

# Weeks offered in the week filter: half a year of complete ISO weeks, newest first (also the trend's span).
WEEK_CHOICES = 26
# The cards a manager reads first (the full table lists every KPI).
CARD_KPIS = (
    "private_revenue",
    "private_share",
    "active_members",
    "new_members",
    "repurchase_rate",
    "member_ticket",
)
# Stores drawn in the new-member ranking (the analysis ranks every store).
RANKING_TOP_STORES = 10
# Order channels offered in the channel filter (the contract's vocabulary).
ORDER_CHANNELS = contract.ORDER_CHANNELS

i18n.register(
    {
        "dash.overview.title": ("私域周报", "Weekly overview"),
        "dash.overview.channel": ("订单渠道", "Order channel"),
        "dash.overview.all_channels": ("全部渠道", "All channels"),
        "dash.overview.week_option": ("{week}（{start} 至 {end}）", "{week} ({start} to {end})"),
        "dash.overview.wow": ("环比上周 {change}", "vs last week {change}"),
        "dash.overview.yoy": ("同比 {change}", "vs a year ago {change}"),
        "dash.overview.yoy_week": ("同比对比周：{week}", "Year-ago week: {week}"),
        "dash.overview.channel_note": (
            "订单渠道只筛选订单类指标（营收、客单价、活跃、复购）；会员数、新增会员与生命周期按全部渠道统计。",
            "The order channel narrows the order KPIs only (revenue, tickets, active members, repurchase); "
            "member counts, new members and the lifecycle count every channel.",
        ),
    }
)


def overview_dashboard(
    db=None,
    *,
    week: str | None = None,
    as_of=None,
    lang: str = "zh",
    background: bool | None = None,
    prefetch: bool | None = None,
):
    """The weekly overview dashboard (an ipywidgets VBox; see the module docstring).

    ``db``: a Store or a path (default $WORKBENCH_DATA, else data/demo.duckdb), opened read-only;
    ``week``: ISO week to open on ('2026-W47'; one of the last WEEK_CHOICES complete weeks, default the
    latest complete one); ``as_of``: the data's day (default its last complete day); ``lang``: 'zh' or
    'en' at opening. Raises ParameterError for a week outside the choices, naming them.
    """
    return OverviewDashboard(db, week=week, as_of=as_of, lang=lang, background=background, prefetch=prefetch)


class OverviewDashboard(common.Dashboard):
    title_key = "dash.overview.title"

    def __init__(self, db=None, *, week: str | None = None, **kwargs):
        self.start_week = week
        super().__init__(db, **kwargs)

    def build(self) -> None:
        self.kpis_result = None
        self.trend = None
        self.life = None
        self._no_flows = None
        self.weeks = week_choices(self.db, self.as_of)
        if self.start_week is not None:
            common.check_choice("week", self.start_week, self.weeks)
        self.stores = common.store_choices(self.db)
        self.store_city = {s: c for s, _, c in self.stores}
        names = {s: f"{s} {n}" for s, n, _ in self.stores}
        cities = sorted({c for _, _, c in self.stores})
        spans = {w: calendar.parse_iso_week(w) for w in self.weeks}
        self.add_control(
            "week",
            widgets.Dropdown(
                options=[(w, w) for w in self.weeks or [""]],
                value=self.start_week or (self.weeks[0] if self.weeks else ""),
                layout={"width": "300px"},
            ),
            "dash.week",
            lambda v, lang: week_option_label(v, spans.get(v), lang),
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
        self.add_control(
            "channel",
            widgets.Dropdown(options=[(c, c) for c in ["", *ORDER_CHANNELS]], value=""),
            "dash.overview.channel",
            lambda v, lang: (
                i18n.value_label("channel", v, lang) if v else i18n.t("dash.overview.all_channels", lang)
            ),
        )
        self.narrow_stores_by_city(self.stores)
        self.channel_note = widgets.HTML()
        self.channel_note.add_class("wb-channel-note")
        self.kpi_table = widgets.HTML()
        self.kpi_table.add_class("wb-kpi-table")
        self.body.children = [
            self.channel_note,
            _side_by_side(self.add_pane("ranking_store"), self.add_pane("ranking_channel")),
            _side_by_side(self.add_pane("sankey"), self.add_pane("lifecycle_counts")),
            self.add_pane("trend"),
            self.kpi_table,
        ]

    def steps(self):
        return [
            ("kpis", self.compute_kpis, self.draw_kpis),
            ("lifecycle", self.compute_lifecycle, self.draw_lifecycle),
            ("trend", self.compute_trend, self.draw_trend),
        ]

    # -- filters as analysis parameters -------------------------------------------------------------------
    def kpi_params(self, state: dict | None = None) -> dict:
        s = self.state() if state is None else state
        channels = [s["channel"]] if s["channel"] else None
        return {"db": self.db, "week": s["week"], "as_of": self.as_of, "channels": channels, **self.scope(s)}

    def trend_params(self, state: dict | None = None) -> dict:
        s = self.state() if state is None else state
        channels = [s["channel"]] if s["channel"] else None
        week = self.weeks[0] if self.weeks else None  # the trend spans every week of the filter
        return {"db": self.db, "weeks": len(self.weeks), "week": week, "as_of": self.as_of,
                "channels": channels, **self.scope(s)}  # fmt: skip

    def lifecycle_params(self, state: dict | None = None) -> dict:
        # From the week before the oldest choice, so that every week of the filter has its inflows.
        start = calendar.parse_iso_week(self.weeks[-1])[0] - dt.timedelta(weeks=1) if self.weeks else None
        return {"db": self.db, "period": "week", "as_of": self.as_of, "start": start, **self.scope(state)}

    def store_weeks_params(self) -> dict:
        return {"db": self.db, "weeks": tuple(self.weeks), "as_of": self.as_of}

    def keep_store_weeks(self) -> None:
        """Let the analyses of one store read every store's weekly counts (wb.store_week_values, see
        :mod:`workbench.analyses.store_weeks`) once this kernel or the shared results hold them: a store
        change then computes only its lifecycle."""
        if not self.weeks or store_weeks.kept(self.db, self.as_of) is not None:
            return
        params = self.store_weeks_params()
        if self.cache.at_hand("store_weeks", **params):
            store_weeks.keep(self.db, self.cache.get("store_weeks", store_week_values, **params))

    def _check_scope(self, state: dict | None = None) -> None:
        s = self.state() if state is None else state
        if not self.weeks or (s["store"] and s["city"] and self.store_city.get(s["store"]) != s["city"]):
            self.empty()

    # -- steps --------------------------------------------------------------------------------------------
    def compute_kpis(self) -> None:
        self._check_scope()
        if self.controls["store"].value:
            self.keep_store_weeks()
        self.kpis_result = self.cached("weekly_kpis", weekly_kpis, **self.kpi_params())
        k = self.kpis_result.kpis.set_index("kpi")["value"]
        no_orders = k.get("total_revenue", 0) == 0
        # Nothing at all; or an order channel chosen (the page is then about its orders) with no order.
        if no_orders and (k.get("members", 0) == 0 or self.controls["channel"].value):
            self.empty()

    def draw_kpis(self) -> None:
        r = self.kpis_result
        ranking = overview_figures.new_members_ranking
        self.draw("ranking_store", ranking, r, by="store", top=RANKING_TOP_STORES)
        self.draw("ranking_channel", ranking, r, by="channel")
        self.kpi_table.value = kpi_table_html(r, self.lang)
        note = self.t("dash.overview.channel_note") if self.controls["channel"].value else ""
        self.channel_note.value = f'<div class="wb-note-box">{html.escape(note)}</div>' if note else ""

    def compute_lifecycle(self) -> None:
        self.life = self.cached("lifecycle", lifecycle, **self.lifecycle_params())

    def draw_lifecycle(self) -> None:
        week = self.controls["week"].value
        life = self.life
        flows_into = {period_label(p, "week") for p in life.flows["period_to"]}
        if week not in flows_into:  # the first week of the data: nobody flows in from a week before
            if self._no_flows is None or self._no_flows[0] is not life:
                no_flows = dataclasses.replace(life, flows=life.flows.iloc[0:0])
                self._no_flows = (life, self.cache.derive(no_flows, life, "no_flows"))
            life = self._no_flows[1]
        self.draw("sankey", lifecycle_figures.lifecycle_sankey, life, period_to=week)
        self.draw("lifecycle_counts", lifecycle_figures.lifecycle_counts, self.life)

    def compute_trend(self) -> None:
        self.trend = self.cached("weekly_kpi_trend", weekly_kpi_trend, **self.trend_params())

    def draw_trend(self) -> None:
        self.draw("trend", overview_figures.kpi_trend, self.trend)

    def draw_numbers(self) -> None:
        if self.kpis_result is None:
            self.numbers = {}
            self.kpis.value = ""
            return
        r, lang = self.kpis_result, self.lang
        currency = r.params["currency"]
        n = {}
        cards = []
        for row in r.kpis.itertuples(index=False):
            n[row.kpi] = float(row.value)
            n[f"{row.kpi}_wow"] = float(row.change_wow)
            n[f"{row.kpi}_yoy"] = float(row.change_yoy)
            if row.kpi not in CARD_KPIS:
                continue
            unit = KPI_UNITS[row.kpi]
            wow = format_change(row.value, row.previous_week, unit, lang)
            yoy = format_change(row.value, row.year_ago, unit, lang)
            notes = [
                (self.t("dash.overview.wow", change=wow), _direction(wow)),
                (self.t("dash.overview.yoy", change=yoy), _direction(yoy)),
            ]
            cards.append(
                (row.kpi, kpi_label(row.kpi, lang), row.value, format_value(row.value, unit, currency, lang),
                 notes)
            )  # fmt: skip
        self.numbers = n
        cards.sort(key=lambda c: CARD_KPIS.index(c[0]))
        self.kpis.value = common.kpi_html(
            cards, note=self.t("dash.overview.yoy_week", week=r.params["yoy_week"])
        )

    # -- ahead of the manager's next click -----------------------------------------------------------------
    def prefetch_plan(self):
        """The current filters with each other city, each order channel, then the weeks before this one;
        and every store's weekly counts (wb.store_week_values), which make a store change fast: first on a
        chain of more stores than the warm run computes one by one, else last."""
        s = self.state()
        plan = []
        # (kept only by a store opened read-only, as the served pages open it)
        keeps = self.weeks and getattr(self.db, "remembers", False)
        counts = [("store_weeks", store_week_values, self.store_weeks_params())] if keeps else []
        many_stores = len(self.stores) > warm.MAX_STORES
        cities = sorted({c for _, _, c in self.stores})
        for city in cities:
            plan += self.plan_for({**s, "city": city, "store": ""})
        for channel in ORDER_CHANNELS:
            alt = {**s, "channel": channel}
            plan += [
                ("weekly_kpis", weekly_kpis, self.kpi_params(alt)),
                ("weekly_kpi_trend", weekly_kpi_trend, self.trend_params(alt)),
            ]
        for week in self.weeks[:PREFETCH_WEEKS]:
            plan.append(("weekly_kpis", weekly_kpis, self.kpi_params({**s, "week": week})))
        return counts + plan if many_stores else plan + counts

    def one_store_plan(self):
        self.keep_store_weeks()  # (in the prefetch thread, after prefetch_plan computed them)
        return super().one_store_plan()

    def plan_for(self, state):
        return [
            ("weekly_kpis", weekly_kpis, self.kpi_params(state)),
            ("lifecycle", lifecycle, self.lifecycle_params(state)),
            ("weekly_kpi_trend", weekly_kpi_trend, self.trend_params(state)),
        ]


# Weeks before the chosen one whose KPIs are computed ahead (the ones a manager steps back to).
PREFETCH_WEEKS = 4


def week_choices(db, as_of: dt.date) -> list[str]:
    """The last WEEK_CHOICES complete ISO weeks at ``as_of`` that start on or after the first order day,
    newest first ('2026-W47', '2026-W46', ...)."""
    last_monday = calendar.parse_iso_week(calendar.last_complete_week(as_of))[0]
    first_day = scope.order_day_range(db)[0]
    if first_day is None:
        return []
    mondays = [last_monday - dt.timedelta(weeks=k) for k in range(WEEK_CHOICES)]
    return [calendar.iso_week_label(m) for m in mondays if m >= first_day]


def week_option_label(week: str, span, lang: str) -> str:
    if not week or span is None:
        return week or "-"
    start, end = span
    return i18n.t(
        "dash.overview.week_option", lang, week=week, start=start.strftime("%m-%d"), end=end.strftime("%m-%d")
    )


def kpi_table_html(result, lang: str) -> str:
    """The ranked KPI table of a wb.weekly_kpis result (``result.ranked(lang)``: KPI, this week, vs last
    week, vs the mean of the weeks before, vs a year ago) as HTML, with its title and holiday note; changes
    coloured as in wb.figures.kpi_table. Each row carries its KPI code in ``data-kpi``."""
    table = result.ranked(lang)
    colors = overview_figures.change_colors(result)
    esc = html.escape
    rows = []
    for i, (kpi, cells) in enumerate(zip(result.kpis["kpi"], table.itertuples(index=False), strict=True)):
        tds = [f"<td>{esc(str(cells[0]))}</td>", f"<td>{esc(str(cells[1]))}</td>"]
        tds += [f'<td style="color:{colors[j][i]}">{esc(str(v))}</td>' for j, v in enumerate(cells[2:])]
        rows.append(f'<tr data-kpi="{esc(kpi)}">{"".join(tds)}</tr>')
    title = i18n.t("overview.fig.table_title", lang, week=result.week)
    return (
        f'<div class="wb-table-title">{esc(title)}</div>'
        f'<div class="wb-table-note">{esc(result.holiday_note[lang])}</div>'
        + common.html_table(table.columns, rows)
    )


def _side_by_side(left, right) -> widgets.HBox:
    """Two figures in one row, half the page each (plotly fits each to its half)."""
    for pane in (left, right):
        pane.layout.width = "50%"
    return widgets.HBox([left, right], layout=widgets.Layout(width="100%"))


def _direction(change_text: str) -> str:
    return "up" if "▲" in change_text else ("down" if "▼" in change_text else "flat")
