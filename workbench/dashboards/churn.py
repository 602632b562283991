"""Dashboard 3: churn and wake-up. Which members leave sooner, what goes with leaving, whom to call now.

    churn_dashboard()                        # in a notebook served by Voila
    dash = churn_dashboard(db, lang="en")    # in a test: dash.controls["segment"].value = "vip" ...

Figures: Kaplan-Meier curves of time to churn by the chosen segment (wb.churn_survival +
wb.figures.survival_curves), churn hazard ratios (wb.churn_drivers + wb.figures.hazard_ratios) and the
current wake-up list (wb.wake_up_list + wb.figures.wake_up_table), with a CSV download of the list (written
by wb.export_wake_up_list, which keeps only its own columns). Table and CSV carry ``member_key``, a keyed
hash of the member id (wb.analyses.wake_up.member_key, keyed by the store's salt; see member_key_secret),
never the id itself: whoever holds the store turns keys back into ids with ``workbench resolve-keys``.
The CSV speaks the page's language (headers, segment and cycle-source labels), rounds its figures and
names each home store. A list whose CSV passes INLINE_CSV_MAX_BYTES gets its link after a click on
"prepare" (see there).
Filters: segment, city, store. KPI cards (``numbers``):

  members          visiting members in scope (count)
  churned          of them, churned at as_of (count)
  threshold_days   T: days without a visit after which a member counts as churned
  wake_up          members on the wake-up list (count)
"""

from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

import ipywidgets as widgets

from workbench import i18n
from workbench.analyses.churn import churn_drivers, churn_survival
from workbench.analyses.wake_up import (
    export_wake_up_list,
    member_key_secret,
    wake_up_export_frame,
    wake_up_list,
)
from workbench.dashboards import common
from workbench.figures import churn as churn_figures

SEGMENTS = ("vip", "in_group", "link_mode", "join_channel", "price_sensitive", "city", "none")
# Members in the dashboard's Cox fit: a random sample keeps the fit to a few seconds at demo size (the
# analyst's default is 50,000); hazard ratios of common attributes keep intervals of about +-10%.
DASHBOARD_DRIVER_SAMPLE = 8_000
# Rows drawn in the wake-up table (all of them on the page, no scrolling); the CSV holds the whole list.
WAKE_UP_ROWS_SHOWN = 50
# Survival curves get their 95% bands up to this many segments; more bands overlap into one smear (the
# interval is still in each curve's hover).
MAX_SEGMENTS_WITH_BANDS = 3
# A CSV up to this size rides in the page as its download link. A longer list (a whole 1M-member chain's
# is about 100,000 members, 13 MB) waits for a click on "prepare": the page would otherwise carry it in its
# widget state and take minutes to open.
INLINE_CSV_MAX_BYTES = 1_500_000

i18n.register(
    {
        "dash.churn.title": ("流失与唤醒", "Churn and wake-up"),
        "dash.churn.members": ("到店会员", "Visiting members"),
        "dash.churn.churned": ("已流失", "Churned"),
        "dash.churn.threshold": ("流失判定（天未到店）", "Churn after (days without a visit)"),
        "dash.churn.wake_up": ("待唤醒会员", "Members to wake up"),
        "dash.churn.download_name": ("待唤醒会员", "wake_up"),
        "dash.churn.download_note": (
            "CSV 仅含加密会员代码（非会员编号）及到店指标，可用 Excel 打开；"
            "持有数据库者可用 workbench resolve-keys 换回会员编号。",
            "The CSV holds hashed member keys (not member ids) and visit figures only; it opens in Excel. "
            "Whoever holds the store turns keys back into ids with workbench resolve-keys.",
        ),
        "dash.churn.prepare": (
            "准备 CSV 下载（{rows} 人，{mb} MB）",
            "Prepare the CSV ({rows} members, {mb} MB)",
        ),
    }
)


def churn_dashboard(
    db=None,
    *,
    as_of=None,
    lang: str = "zh",
    background: bool | None = None,
    prefetch: bool | None = None,
):
    """The churn-and-wake-up dashboard (an ipywidgets VBox; see the module docstring and
    :func:`workbench.dashboards.cohorts.cohort_dashboard` for the arguments)."""
    return ChurnDashboard(db, as_of=as_of, lang=lang, background=background, prefetch=prefetch)


class ChurnDashboard(common.Dashboard):
    title_key = "dash.churn.title"

    def build(self) -> None:
        self.survival = None
        self.drivers = None
        self.wake = None
        self.csv = b""
        self.keyed = None  # the list as shown: member keys in place of ids, home stores by name
        self._csv_of = None
        self.member_secret = member_key_secret(self.db)
        self.stores = common.store_choices(self.db)
        self.store_names = {s: n for s, n, _ in self.stores}
        names = {s: f"{s} {n}" for s, n, _ in self.stores}
        cities = sorted({c for _, _, c in self.stores})
        self.add_control(
            "segment",
            widgets.Dropdown(options=[(s, s) for s in SEGMENTS], value="vip"),
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
        self.download = widgets.HTML()
        self.download.add_class("wb-download")
        self.prepare = widgets.Button(layout=widgets.Layout(display="none", width="auto"))
        self.prepare.add_class("wb-prepare-download")
        self.prepare.on_click(lambda _: self._show_link())
        self.body.children = [
            self.add_pane("survival"),
            self.add_pane("hazard_ratios"),
            self.prepare,
            self.download,
            self.add_pane("wake_up"),
        ]

    def steps(self):
        return [
            ("survival", self.compute_survival, self.draw_survival),
            ("wake_up", self.compute_wake_up, self.draw_wake_up),
            ("drivers", self.compute_drivers, self.draw_drivers),
        ]

    def survival_params(self, state: dict | None = None) -> dict:
        s = self.state() if state is None else state
        return {"db": self.db, "as_of": self.as_of, "segment_by": common.segment_choice(s["segment"]),
                **self.scope(s)}  # fmt: skip

    def prefetch_plan(self):
        """Each other split, then each city (curves, wake-up list, then the slower Cox fit)."""
        s = self.state()
        plan = [
            ("churn_survival", churn_survival, self.survival_params({**s, "segment": g}))
            for g in SEGMENTS
            if g != s["segment"]
        ]
        for city in sorted({c for _, _, c in self.stores}):
            alt = {**s, "city": city, "store": ""}
            plan.append(("churn_survival", churn_survival, self.survival_params(alt)))
            plan.append(
                ("wake_up_list", wake_up_list, {"db": self.db, "as_of": self.as_of, **self.scope(alt)})
            )
        for city in sorted({c for _, _, c in self.stores}):
            alt = {**s, "city": city, "store": ""}
            params = {
                "db": self.db,
                "as_of": self.as_of,
                "sample": DASHBOARD_DRIVER_SAMPLE,
                **self.scope(alt),
            }
            plan.append(("churn_drivers", churn_drivers, params))
        return plan

    def plan_for(self, state):
        scope = {"db": self.db, "as_of": self.as_of, **self.scope(state)}
        return [
            ("churn_survival", churn_survival, self.survival_params(state)),
            ("wake_up_list", wake_up_list, scope),
            ("churn_drivers", churn_drivers, {**scope, "sample": DASHBOARD_DRIVER_SAMPLE}),
        ]

    # -- steps ----------------------------------------------------------------------------------------------
    def compute_survival(self) -> None:
        self.survival = self.cached("churn_survival", churn_survival, **self.survival_params())
        if self.survival.medians.empty:
            self.empty()

    def draw_survival(self) -> None:
        bands = len(self.survival.segments) <= MAX_SEGMENTS_WITH_BANDS
        self.draw("survival", churn_figures.survival_curves, self.survival, show_ci=bands)

    def compute_wake_up(self) -> None:
        self.wake = self.cached("wake_up_list", wake_up_list, db=self.db, as_of=self.as_of, **self.scope())
        if self._csv_of != (id(self.wake), self.lang):  # the CSV of a list seen before is at hand
            self.keyed = wake_up_export_frame(
                self.wake, secret=self.member_secret, store_names=self.store_names
            )
            self.csv = wake_up_csv(
                self.wake, lang=self.lang, secret=self.member_secret, store_names=self.store_names
            )
            self._csv_of = (id(self.wake), self.lang)

    def draw_wake_up(self) -> None:
        if self._csv_of != (id(self.wake), self.lang):  # a language switch redraws without computing
            self.compute_wake_up()
        self.draw("wake_up", churn_figures.wake_up_table, self.keyed, max_rows=WAKE_UP_ROWS_SHOWN)
        if len(self.csv) <= INLINE_CSV_MAX_BYTES:
            self._show_link()
            return
        rows, mb = f"{len(self.wake):,}", f"{len(self.csv) / 1e6:.1f}"
        self.prepare.description = self.t("dash.churn.prepare", rows=rows, mb=mb)
        self.prepare.layout.display = None
        self.download.value = self._download_note()

    def _show_link(self) -> None:
        """The download link of the current list (the CSV in the page), in place of the prepare button."""
        name = f"{self.t('dash.churn.download_name')}_{self.as_of.isoformat()}.csv"
        link = download_link(self.csv, name, self.t("dash.download"), len(self.wake))
        self.prepare.layout.display = "none"
        self.download.value = link + self._download_note()

    def _download_note(self) -> str:
        return f'<div class="wb-kpi-note">{html.escape(self.t("dash.churn.download_note"))}</div>'

    def compute_drivers(self) -> None:
        self.drivers = self.cached(
            "churn_drivers",
            churn_drivers,
            db=self.db,
            as_of=self.as_of,
            sample=DASHBOARD_DRIVER_SAMPLE,
            **self.scope(),
        )

    def draw_drivers(self) -> None:
        self.draw("hazard_ratios", churn_figures.hazard_ratios, self.drivers)

    def draw_numbers(self) -> None:
        n = {}
        if self.survival is not None and not self.survival.medians.empty:
            m = self.survival.medians
            n["members"] = float(m["members"].sum())
            n["churned"] = float(m["churned"].sum())
            n["threshold_days"] = float(self.survival.params["threshold_days"])
        if self.wake is not None:
            n["wake_up"] = float(len(self.wake))
        self.numbers = n
        labels = {
            "members": "dash.churn.members",
            "churned": "dash.churn.churned",
            "threshold_days": "dash.churn.threshold",
            "wake_up": "dash.churn.wake_up",
        }
        cards = [(k, self.t(labels[k]), v, common.number(v)) for k, v in n.items()]
        self.kpis.value = common.kpi_html(cards)


def wake_up_csv(df, *, lang: str | None = None, secret: bytes | None = None, store_names=None) -> bytes:
    """The wake-up list as the CSV bytes :func:`~workbench.analyses.wake_up.export_wake_up_list` writes
    (with ``secret``: member keys in place of ids; ``store_names``: home store names; ``lang``: labels)."""
    with tempfile.TemporaryDirectory() as folder:
        path = export_wake_up_list(
            df, Path(folder) / "wake_up.csv", lang=lang, secret=secret, store_names=store_names
        )
        return path.read_bytes()


def download_link(data: bytes, filename: str, label: str, rows: int) -> str:
    """An HTML anchor that downloads ``data`` as ``filename`` (a data: URI, so it works in Voila offline)."""
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<a class="wb-download-link" download="{html.escape(filename)}" '
        f'href="data:text/csv;charset=utf-8;base64,{b64}" '
        f'style="display:inline-block;padding:4px 12px;border:1px solid #C8102E;border-radius:4px;'
        f'color:#C8102E;text-decoration:none">⬇ {html.escape(label)} ({rows:,})</a>'
    )
