"""What every dashboard shares: the data source, the language switch, the busy indicator, the message
shown when a filter leaves no data, per-kernel caching of analysis results, and figures drawn in place.

A dashboard is an ipywidgets ``VBox`` subclass (:class:`Dashboard`) with

  controls   {name: widget}: the filters and the language switch (``controls["lang"]``)
  figures    {name: go.Figure}: the figures drawn last (what the browser shows)
  numbers    {name: float}: the headline numbers drawn last (the KPI cards)
  message    the text shown instead of a traceback ('' when all is well)

Its callbacks call an analysis (through :meth:`Dashboard.cached`) and then a figure builder, so a test can
set a control's value and read ``figures`` and ``numbers`` without a browser. Figures are shown in an
``Output`` widget as plotly's own mime bundle (``application/vnd.plotly.v1+json``), which Voila draws with
the workbench's renderer (see serve.py); redrawing replaces that one output (no FigureWidget, no anywidget).

Results (and the figures built from them) are shared on disk by every kernel of the store
(:mod:`workbench.dashboards.shared_results`) and computed ahead by :mod:`workbench.dashboards.warm`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import threading
import time
import traceback
import uuid
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext, suppress
from pathlib import Path

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio

import workbench as wb
from workbench import i18n
from workbench.analyses import scope
from workbench.dashboards.shared_results import MISSING, SharedResults
from workbench.data import calendar
from workbench.data.store import Store
from workbench.errors import ParameterError, ThinDataWarning, WorkbenchError

# The server passes the store to every kernel through this environment variable (see serve.py).
DATA_ENV = "WORKBENCH_DATA"
DEFAULT_DATA = "data/demo.duckdb"
# Results kept per kernel (one kernel per manager's page): the filter combinations seen and prefetched, each
# a small frame (cohort cells, curves, one row per KPI), so a hundred or so fit in a few tens of MB.
CACHE_SIZE = 128
# Figures kept built and serialised per dashboard (a few per cached result and language).
FIGURE_MEMO_SIZE = 160
# Results prefetched after a render at most: the likeliest other values of the main filters, not every
# combination (a preheated kernel nobody has opened yet prefetches too, beside the visitors' kernels).
PREFETCH_LIMIT = 16
# Seconds a page must stay unchanged after a render before its kernel prefetches: a manager clicking
# through values one after the other gets the machine to the page's own work (pandas in a prefetch
# thread holds the GIL the page's thread needs).
PREFETCH_IDLE_S = 2.0
# Seconds a page waits at most for an interrupted prefetch to let go of the engine.
STOP_PREFETCH_S = 2.0
# Plotly's mime type; Voila renders it with the workbench-plotly extension (JupyterLab with plotly's own).
PLOTLY_MIME = "application/vnd.plotly.v1+json"
# Figure options for managers: no plotly logo, fit the page width.
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
LANG_OPTIONS = (("中文", "zh"), ("English", "en"))
# Segment splits offered in the dashboards (a subset of scope.SEGMENT_COLUMNS a manager reads easily).
SEGMENT_CHOICES = ("none", "join_channel", "link_mode", "vip", "in_group", "price_sensitive", "city")

i18n.register(
    {
        "dash.lang": ("语言", "Language"),
        "dash.busy": ("计算中…", "Computing…"),
        "dash.as_of": ("数据截至 {day}（{week}）", "Data as of {day} ({week})"),
        "dash.empty": ("所选条件下没有数据。", "No data for the selected filters."),
        "dash.empty_hint": (
            "请放宽筛选条件（例如换一个门店、渠道、周或同期群范围）。",
            "Widen the filters (e.g. another store, channel, week or cohort range).",
        ),
        "dash.problem": ("无法按所选条件计算：", "Cannot compute for these filters: "),
        "dash.thin": (
            "提示：部分分组数据偏少，结果仅供参考。",
            "Note: some cells are thin; read them with care.",
        ),
        "dash.city": ("城市", "City"),
        "dash.store": ("门店", "Store"),
        "dash.segment": ("分组", "Split by"),
        "dash.all_cities": ("全部城市", "All cities"),
        "dash.all_stores": ("全部门店", "All stores"),
        "dash.week": ("周", "Week"),
        "dash.segment.none": ("不分组", "No split"),
        "dash.segment.join_channel": ("入会渠道", "Join channel"),
        "dash.segment.link_mode": ("连接方式", "Link mode"),
        "dash.segment.vip": ("付费会员", "VIP"),
        "dash.segment.in_group": ("在社群中", "In a community group"),
        "dash.segment.price_sensitive": ("价格敏感", "Price sensitive"),
        "dash.segment.city": ("城市", "City"),
        "dash.download": ("下载 CSV", "Download CSV"),
        "dash.loading": ("加载中…", "Loading…"),
    }
)

STYLE = """
<style>
.wb-dash { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; max-width: 1200px; }
.wb-kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 4px 0; }
.wb-kpi { border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 14px; min-width: 150px; background: #fafafa;
  flex: 1 1 150px; max-width: 260px; }
.wb-kpi-label { color: #555; font-size: 13px; }
.wb-kpi-value { font-size: 22px; font-weight: 600; color: #222; }
.wb-kpi-note { color: #777; font-size: 12px; }
.wb-kpi-change { font-size: 12px; color: #444; }
.wb-kpi-up { color: #2CA02C; }
.wb-kpi-down { color: #C8102E; }
.wb-asof { color: #666; font-size: 13px; }
.wb-filters { gap: 4px 16px; }
.wb-message-box { border-left: 4px solid #C8102E; background: #fff4f4; padding: 8px 12px; margin: 6px 0; }
.wb-note-box { border-left: 4px solid #FF7F0E; background: #fff8ee; padding: 6px 12px; margin: 6px 0; }
.wb-banner { border-left: 4px solid #FF7F0E; background: #fff8ee; padding: 6px 12px; margin: 6px 0; font-weight: 600; }
.wb-busy-text { color: #C8102E; font-weight: 600; }
.wb-dash table.wb-table { border-collapse: collapse; font-size: 13px; }
.wb-dash table.wb-table th, .wb-dash table.wb-table td { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: right; }
.wb-table-title { font-size: 17px; color: #2a3f5f; margin: 12px 0 2px 0; }
.wb-table-note { color: #666; font-size: 13px; margin-bottom: 6px; }
.wb-dash table.wb-table th { background: #F2F2F2; }
.wb-dash table.wb-table th:first-child, .wb-dash table.wb-table td:first-child { text-align: left; }
</style>
"""

_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def data_path(source=None) -> Path:
    """The store to open: ``source``, else $WORKBENCH_DATA, else data/demo.duckdb (from the current folder,
    else from the project folder above the package)."""
    text = os.fspath(source) if source is not None else os.environ.get(DATA_ENV, DEFAULT_DATA)
    path = Path(text)
    if not path.is_absolute() and not path.exists():
        project = Path(__file__).resolve().parents[2] / path
        if project.exists():
            return project
    return path


def open_store(source=None) -> Store:
    """The store, opened read-only once per kernel (a report may write elsewhere at the same time)."""
    if isinstance(source, Store):
        return source
    path = data_path(source)
    key = str(path.resolve()) if path.exists() else str(path)
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = wb.connect(path, read_only=True)
        return _STORES[key]


def latest_complete_week_end(db: Store, as_of=None) -> dt.date:
    """Sunday of the last ISO week complete by ``as_of`` (default the data's last complete day)."""
    day = scope.resolve_as_of(db, as_of)
    return calendar.parse_iso_week(calendar.last_complete_week(day))[1]


def week_label(day: dt.date) -> str:
    return calendar.iso_week_label(day)


class ResultCache:
    """Analysis results per kernel, keyed on the analysis and its parameters (least recently used out),
    in front of the results every kernel of the store shares on disk (``shared``, a
    :class:`~workbench.dashboards.shared_results.SharedResults`, or None): a result missing here is read
    from there before it is computed, and a computed one is written there for the other kernels.

    Safe across threads: the page's worker and the prefetch thread compute outside the lock, and a thread
    asking for a result another thread is computing waits for it instead of computing it again.
    ``computed`` counts the results this kernel computed, ``shared_hits`` those read from disk.
    """

    def __init__(self, size: int = CACHE_SIZE, *, shared: SharedResults | None = None):
        self.size = size
        self.shared = shared
        self.computed = 0
        self.shared_hits = 0
        self._items: OrderedDict = OrderedDict()
        self._origin: OrderedDict = OrderedDict()  # id(value) -> (value, origin); derived values too
        self._lock = threading.RLock()
        self._computing: dict = {}

    def get(self, name: str, fn: Callable, *, _engine=None, **params):
        """``fn(**params)``, computed once. ``_engine``: a Store to compute on instead of ``params['db']``
        (another connection to the same file, for another thread); the key stays that of ``params``.
        The ThinDataWarnings raised while computing are kept with the result and raised again whenever
        it is read, here or from disk, so a page shows its note for a cached result too."""
        key = (name, _freeze(params))
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    value, notes = self._items[key]
                    _warn_again(notes)
                    return value
                busy = self._computing.get(key)
                if busy is None:
                    busy = self._computing[key] = threading.Event()
                    break
            busy.wait()  # another thread computes it; then read it (or compute it, if that failed)
        try:
            stable = (name, _freeze(params, stable=True))
            hit = MISSING if self.shared is None else self.shared.load(*stable)
            if hit is MISSING:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    value = fn(**(params if _engine is None else {**params, "db": _engine}))
                notes = tuple(
                    (w.category, str(w.message)) for w in caught if issubclass(w.category, ThinDataWarning)
                )
                for w in caught:  # to the caller's own filters and records
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                self.computed += 1
                if self.shared is not None:
                    self.shared.save(*stable, (value, notes))
            else:
                value, notes = hit
                self.shared_hits += 1
                _warn_again(notes)
            with self._lock:
                self._items[key] = (value, notes)
                self._origin[id(value)] = (value, stable)
                if len(self._items) > self.size:
                    _, (dropped, _) = self._items.popitem(last=False)
                    self._origin.pop(id(dropped), None)
            return value
        finally:
            with self._lock:
                self._computing.pop(key, None)
            busy.set()

    def origin(self, value):
        """The (name, parameters) ``value`` was cached under, in its process-independent form; None for a
        value this cache did not return."""
        with self._lock:
            hit = self._origin.get(id(value))
        return hit[1] if hit is not None and hit[0] is value else None

    def derive(self, value, parent, *how):
        """Record that ``value`` was made from the cached ``parent`` by ``how`` (e.g. a slice's bounds),
        so figures of ``value`` can be shared too; returns ``value``."""
        origin = self.origin(parent)
        if origin is not None:
            with self._lock:
                self._origin[id(value)] = (value, ("derived", origin, _freeze(how, stable=True)))
                while len(self._origin) > 4 * self.size:
                    self._origin.popitem(last=False)
        return value

    def has(self, name: str, **params) -> bool:
        with self._lock:
            return (name, _freeze(params)) in self._items

    def at_hand(self, name: str, **params) -> bool:
        """Held here or written to the shared results: getting it takes no engine time."""
        if self.has(name, **params):
            return True
        target = None if self.shared is None else self.shared.file(name, _freeze(params, stable=True))
        return target is not None and target.exists()

    def __len__(self) -> int:
        return len(self._items)


def _warn_again(notes) -> None:
    for category, message in notes:
        warnings.warn(message, category, stacklevel=3)


def lowest_priority() -> None:
    """Run the calling thread at the lowest CPU priority (on Linux niceness is per thread): work done ahead
    of a click never slows a page being opened or a filter being changed, here or in another kernel."""
    with suppress(AttributeError, OSError):  # not Linux: the thread keeps the kernel's priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _freeze(value, *, stable: bool = False):
    """A hashable key for parameters. ``stable``: the same text in every process (the store as a constant,
    since each store has its own folder, not by object; sets sorted), for the results shared on disk."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v, stable=stable)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return tuple(sorted((_freeze(v, stable=stable) for v in value), key=repr))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v, stable=stable) for v in value)
    if isinstance(value, Store):
        return ("store",) if stable else ("store", id(value))  # on disk: one folder per store
    return value


CACHES: dict[int, ResultCache] = {}


def cache_for(db: Store) -> ResultCache:
    """The kernel's cache for one store (sharing results on disk with the store's other kernels when the
    store is a DuckDB file opened read-only, as :func:`open_store` opens it)."""
    if id(db) not in CACHES:
        CACHES[id(db)] = ResultCache(shared=SharedResults.for_store(db))
    return CACHES[id(db)]


def figure_output(fig: go.Figure, *, text: str | None = None, pane: str | None = None) -> dict:
    """A notebook output holding ``fig`` as plotly's mime bundle (JSON-safe: typed arrays as base64);
    ``text``: the figure's JSON when already at hand. ``pane``: a name for the place the output is shown,
    unique on the page; the dashboards' renderer draws a pane's next figure into the graph of its last
    one (Plotly.react), which redraws faster than a new graph."""
    data = json.loads(text if text is not None else figure_json(fig))
    data["config"] = dict(PLOTLY_CONFIG)
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIME: data, "text/plain": "Figure"},
        "metadata": {} if pane is None else {PLOTLY_MIME: {"pane": pane}},
    }


def figure_json(fig: go.Figure) -> str:
    return pio.to_json(fig, validate=False, remove_uids=False)


class FigureMap(MutableMapping):
    """Figures by pane name; a figure read as JSON from the shared results becomes a ``go.Figure`` only
    when someone reads it (a test, a script): the page itself needs the JSON alone."""

    def __init__(self):
        self._items: dict = {}

    def __getitem__(self, name: str) -> go.Figure:
        value = self._items[name]
        if isinstance(value, str):
            value = self._items[name] = pio.from_json(value, skip_invalid=True)
        return value

    def __setitem__(self, name: str, value) -> None:
        self._items[name] = value

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class FigurePane(widgets.Output):
    """An Output widget showing one plotly figure; :meth:`show` replaces it in place."""

    def __init__(self, name: str, **kwargs):
        super().__init__(**kwargs)
        self.name = name
        self.key = f"{name}-{uuid.uuid4().hex[:12]}"  # this pane on the page (figure_output's ``pane``)
        self.figure: go.Figure | None = None
        self._shown: str | None = None
        self.skipped = 0
        self.add_class("wb-figure")
        self.add_class(f"wb-figure-{name}")

    def show(self, fig: go.Figure | None, *, text: str | None = None) -> None:
        """Draw ``fig`` (``text``: its JSON when at hand, or in place of it; neither clears the pane); the
        same figure as the one on the page is not sent again (no message to the browser, no redraw there):
        a filter that changes one figure redraws that one only."""
        self.figure = fig
        if fig is not None and text is None:
            text = figure_json(fig)
        if text is not None and text == self._shown:
            self.skipped += 1
            return
        self._shown = text
        self.outputs = () if text is None else (figure_output(fig, text=text, pane=self.key),)


def kpi_html(cards: list[tuple], *, note: str = "") -> str:
    """KPI cards: (key, label, raw value, text[, notes]). The raw value sits in data-value for tests and
    tools; ``notes`` are lines under the value, (text, kind) with kind 'up', 'down' or 'flat' (its colour)."""
    parts = ['<div class="wb-kpis">']
    for key, label, value, text, *rest in cards:
        raw = "" if value is None else repr(float(value))
        lines = "".join(
            f'<div class="wb-kpi-change wb-kpi-{kind}">{html.escape(line)}</div>'
            for line, kind in (rest[0] if rest else ())
        )
        parts.append(
            f'<div class="wb-kpi" data-key="{key}" data-value="{raw}">'
            f'<div class="wb-kpi-label">{html.escape(label)}</div>'
            f'<div class="wb-kpi-value">{html.escape(text)}</div>{lines}</div>'
        )
    parts.append("</div>")
    if note:
        parts.append(f'<div class="wb-kpi-note">{html.escape(note)}</div>')
    return "".join(parts)


def html_table(columns, rows) -> str:
    """A ``wb-table``: a header of the ``columns`` (escaped here) over ``rows``, each a ``<tr>`` string
    whose cells are already escaped."""
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    return f'<table class="wb-table"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def segment_choice(value: str):
    """The ``segment_by`` argument of an analysis for a segment control value ('none' -> None)."""
    return None if value == "none" else value


def percent(x) -> str:
    return "–" if x is None or x != x else f"{x:.1%}"


def number(x, digits: int = 0) -> str:
    return "–" if x is None or x != x else f"{x:,.{digits}f}"


class Dashboard(widgets.VBox):
    """Base of every dashboard: header (title, as-of, language), filters, busy indicator, message, body.

    Subclasses set ``title_key``, build their controls and panes in ``build()`` (:meth:`add_control`,
    :meth:`add_pane`) and list their ``steps()``: (name, compute, draw) in the order they appear. ``compute``
    calls analyses only (through :meth:`cached`), ``draw`` figure builders and KPI cards only; a language
    switch runs the draws alone. Each step is drawn as soon as it is computed, so the first figure does not
    wait for the last.

    ``background``: compute every change after the opening render in a worker thread, so a filter change
    never blocks the kernel and the busy indicator shows meanwhile (default: inside a kernel, as under
    Voila). The opening render always runs in the constructor (under Voila: while the notebook runs,
    before the page loads the widgets; see :func:`hook_page_loads`). Without it (tests, scripts) every
    change is computed before the setter returns. :meth:`wait` waits for the worker.
    """

    title_key = "dash.title"

    def __init__(
        self,
        db=None,
        *,
        as_of=None,
        lang: str = "zh",
        background: bool | None = None,
        prefetch: bool | None = None,
    ):
        super().__init__()
        i18n.check_lang(lang)
        self.db = open_store(db)
        self.as_of = latest_complete_week_end(self.db, as_of)
        self.cache = cache_for(self.db)
        self.lang = lang
        self.controls: dict[str, widgets.Widget] = {}
        self.figures = FigureMap()
        self.numbers: dict[str, float] = {}
        self.panes: dict[str, FigurePane] = {}
        self.message = ""
        self.renders = 0
        self.timings: dict[str, float] = {}
        self._figure_memo: OrderedDict = OrderedDict()
        self.figure_hits = 0
        self.figures_shared = 0  # figures read as JSON from the shared results instead of built
        self._labels: dict[str, tuple[str, Callable | None]] = {}
        self._city_stores: dict[str, list[str]] | None = None  # see narrow_stores_by_city
        self._thin = False  # the thin-data note of the last computed render (a language switch keeps it)
        self._suspended = False
        self._requested = 0
        self._lock = threading.RLock()
        self._executor = None
        self._pending: list = []
        if background is None:
            background = _in_kernel()
        if background:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wb-dashboard")
        # Results for the filter values a manager is likely to pick next, computed after each render in a
        # thread of their own on a connection of their own, so a click never waits for them.
        self.prefetching = bool(background) if prefetch is None else bool(prefetch)
        self.prefetched = 0
        self.prefetch_stops = 0  # prefetch queries stopped because the page needed another result
        self._prefetcher = None
        self._prefetch_db = None
        self._prefetch_key = None  # the result the prefetch thread is computing
        self._prefetch_when_opened = None  # the render whose prefetch waits for a page (preheating)
        if self.prefetching and background and getattr(self.db, "path", None) is not None:
            self._prefetcher = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="wb-prefetch", initializer=lowest_priority
            )
        self.add_class("wb-dash")
        self.title = widgets.HTML()
        self.as_of_text = widgets.HTML()
        lang_toggle = widgets.ToggleButtons(options=list(LANG_OPTIONS), value=lang)
        lang_toggle.style.button_width = "80px"
        self.controls["lang"] = lang_toggle
        lang_toggle.add_class("wb-lang")
        lang_toggle.observe(self._on_lang, names="value")
        self.busy = widgets.HTML(layout=widgets.Layout(visibility="hidden"))
        self.busy.add_class("wb-busy")
        self.message_box = widgets.HTML(layout=widgets.Layout(display="none"))
        self.message_box.add_class("wb-message")
        self.note_box = widgets.HTML(layout=widgets.Layout(display="none"))
        self.note_box.add_class("wb-note")
        self.kpis = widgets.HTML()
        self.kpis.add_class("wb-kpi-cards")
        self.filters = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.filters.add_class("wb-filters")
        self.body = widgets.VBox()
        self.build()
        self.filters.children = [w for n, w in self.controls.items() if n != "lang"]
        header = widgets.HBox(
            [self.as_of_text, lang_toggle],
            layout=widgets.Layout(justify_content="space-between", align_items="center"),
        )
        self.children = [
            widgets.HTML(STYLE),
            header,
            self.filters,
            self.busy,
            self.message_box,
            self.note_box,
            self.kpis,
            self.body,
        ]
        self._relabel()
        # The opening render runs here, not in the worker: Voila's page reads every widget's state once when
        # it connects, after the notebook has run, and drops updates sent while it builds its models.
        self._submit(compute=True, inline=True)
        if background:
            _LIVE.add(self)
            hook_page_loads()

    # -- to override ------------------------------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def steps(self) -> list[tuple[str, Callable[[], None], Callable[[], None]]]:
        raise NotImplementedError

    def state(self) -> dict:
        """The filters' current values by control name (the language switch aside)."""
        return {name: w.value for name, w in self.controls.items() if name != "lang"}

    def scope(self, state: dict | None = None) -> dict:
        """The store and city filters as analysis parameters (``stores`` / ``cities``, None for all)."""
        s = self.state() if state is None else state
        return {
            "stores": [s["store"]] if s.get("store") else None,
            "cities": [s["city"]] if s.get("city") else None,
        }

    def draw_numbers(self) -> None:
        """Fill ``numbers`` and the KPI cards from the results at hand (called after every step)."""

    def prefetch_plan(self) -> list[tuple[str, Callable, dict]]:
        """(name, analysis, params) to compute ahead, most likely next first: the same keys
        :meth:`cached` uses for the other values of the main filters. Default: nothing."""
        return []

    def plan_for(self, state: dict) -> list[tuple[str, Callable, dict]]:
        """(name, analysis, params) the page asks :meth:`cached` for when its filters are ``state`` (pages
        with a store filter; :meth:`one_store_plan` uses it). Default: nothing."""
        return []

    def one_store_plan(self) -> list[tuple[str, Callable, dict]]:
        """The page's results for one store of the chosen city, when no store is chosen: the first store
        whose results are not at hand (in this kernel or the shared results); the kernel's own prefetch
        computes them after :meth:`prefetch_plan`. On a chain of more than warm.MAX_STORES stores nothing
        computes stores ahead, and the first store a kernel computes pays first-use costs of the store
        queries in that process (about 0.5 s at 1M members): this pays them before a manager picks one. A
        store another kernel computed is read, which would pay nothing, hence the first one not at hand.
        The warm run leaves it out (it calls prefetch_plan, once per filter value)."""
        s = self.state()
        if self._city_stores is None or s.get("store"):
            return []
        for store in self._city_stores.get(s.get("city", ""), []):
            plan = self.plan_for({**s, "store": store})
            if not all(self.cache.at_hand(name, **params) for name, _, params in plan):
                return plan
        return []

    # -- helpers for subclasses ---------------------------------------------------------------------------
    def t(self, key: str, **fmt) -> str:
        return i18n.t(key, self.lang, **fmt)

    def add_control(self, name: str, widget: widgets.Widget, label_key: str, option_label=None):
        """Register a filter: its description is ``label_key``; ``option_label(value, lang)`` names options."""
        widget.add_class(f"wb-{name}")
        widget.style.description_width = "initial"
        self.controls[name] = widget
        self._labels[name] = (label_key, option_label)
        widget.observe(self._on_filter, names="value")
        return widget

    def narrow_stores_by_city(self, stores) -> None:
        """Make the ``store`` control offer only the stores of the chosen ``city`` (plus 'all stores'):
        ``stores`` are (store_id, name, city) as :func:`store_choices` lists them. Choosing a city whose
        stores do not include the chosen store resets the store to all stores, before the page recomputes."""
        self._city_stores = {}
        for store_id, _, city in stores:
            self._city_stores.setdefault(city, []).append(store_id)
        self._city_stores[""] = [s for s, _, _ in stores]

    def _narrow_stores(self) -> None:
        city = self.controls["city"].value
        options = ["", *self._city_stores.get(city, [])]
        store = self.controls["store"].value
        self.set_options("store", options, value=store if store in options else "")

    def add_pane(self, name: str) -> FigurePane:
        pane = FigurePane(name)
        self.panes[name] = pane
        return pane

    def cached(self, name: str, fn: Callable, **params):
        """Run analysis ``fn`` with ``params`` once per kernel; later calls with the same params are free.
        When the result is not at hand, a prefetch computing another one is stopped first (see
        :meth:`_stop_prefetch`)."""
        if self._prefetch_key is not None and not self.cache.at_hand(name, **params):
            self._stop_prefetch((name, _freeze(params)))
        return self.cache.get(name, fn, **params)

    def _stop_prefetch(self, needed) -> None:
        """Interrupt the prefetch thread's query unless it computes ``needed``: both connections of the
        kernel share the engine's worker threads, which take queries' work in turn, so a page computing
        beside a prefetch would wait for it (at 1M, a second or more) whatever the threads' priorities.
        The interrupted result is dropped and computed again when next wanted. An analysis runs several
        queries, so this interrupts until the prefetch thread has left the result (at most STOP_PREFETCH_S)."""
        con = getattr(getattr(self._prefetch_db, "backend", None), "con", None)
        deadline = time.monotonic() + STOP_PREFETCH_S
        stopped = False
        while con is not None and self._prefetch_key not in (None, needed) and time.monotonic() < deadline:
            con.interrupt()
            stopped = True
            time.sleep(0.01)
        self.prefetch_stops += stopped

    def show_figure(self, name: str, fig: go.Figure) -> None:
        self.figures[name] = fig
        self.panes[name].show(fig)

    def draw(self, name: str, builder: Callable, result, **kwargs) -> go.Figure | None:
        """Show ``builder(result, lang=<current>, **kwargs)`` in pane ``name``. The figure and its JSON are
        kept per (builder, result, language, arguments), so redrawing a result seen before (a cached filter
        value, a language switched back) builds and serialises nothing. Returns the figure, or None when
        its JSON was read from the shared results (``figures[name]`` builds it on demand)."""
        key = (name, builder.__module__, builder.__qualname__, id(result), self.lang, _freeze(kwargs))
        hit = self._figure_memo.get(key)
        if hit is None or hit[0] is not result:  # the result is kept in the entry, so its id stays its own
            hit = (result, *self._build(name, builder, result, kwargs))
            self._figure_memo[key] = hit
            if len(self._figure_memo) > FIGURE_MEMO_SIZE:
                self._figure_memo.popitem(last=False)
        else:
            self._figure_memo.move_to_end(key)
            self.figure_hits += 1
        _, fig, text = hit
        self.figures[name] = fig if fig is not None else text  # a go.Figure only when someone reads it
        self.panes[name].show(fig, text=text)
        return fig

    def _build(self, name: str, builder: Callable, result, kwargs: dict) -> tuple[go.Figure | None, str]:
        """(figure, its JSON): built, or the JSON alone (figure None) when another kernel or the warm run
        built it from the same shared result, in this language, with these arguments."""
        shared, origin = self.cache.shared, self.cache.origin(result)
        if shared is None or origin is None:
            fig = builder(result, lang=self.lang, **kwargs)
            return fig, figure_json(fig)
        key = (
            name,
            builder.__module__,
            builder.__qualname__,
            origin,
            self.lang,
            _freeze(kwargs, stable=True),
        )
        text = shared.load("figure", key)
        if isinstance(text, str):
            self.figures_shared += 1
            return None, text
        fig = builder(result, lang=self.lang, **kwargs)
        text = figure_json(fig)
        shared.save("figure", key, text)
        return fig, text

    def set_options(self, name: str, values, *, value=None) -> None:
        """Replace a control's options (labels in the current language), keeping its value when possible."""
        w = self.controls[name]
        _, label = self._labels[name]
        values = list(values)
        keep = w.value if value is None else value
        was = self._suspended
        self._suspended = True
        try:
            w.options = [(label(v, self.lang) if label else str(v), v) for v in values]
            if keep in values:
                w.value = keep
        finally:
            self._suspended = was

    def empty(self) -> None:
        """Stop here and show the 'no data for these filters' message."""
        raise EmptySelection()

    # -- the cycle --------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute for the current filters and redraw (busy indicator on meanwhile)."""
        self._submit(compute=True)

    def wait(self, timeout: float | None = None, *, prefetch: bool = False) -> None:
        """Wait until every requested computation is drawn (no-op without a worker thread); with
        ``prefetch``, also until the background prefetch queued so far is done."""
        for future in list(self._pending):
            future.result(timeout=timeout)
        if prefetch and self._prefetcher is not None:
            self._prefetcher.submit(lambda: None).result(timeout=timeout)

    def prefetch(self, *, limit: int = PREFETCH_LIMIT, ticket: int | None = None) -> int:
        """Compute up to ``limit`` results of :meth:`prefetch_plan`, then :meth:`one_store_plan`, that are not
        cached yet, so that choosing those filter values later redraws from the cache. Stops as soon as a newer request comes in (when
        ``ticket`` is given: the worker thread's call). A value that fails is skipped (choosing it shows its
        message then). Returns how many results were computed."""
        return self.prefetch_items(self.prefetch_plan()[:limit] + self.one_store_plan(), ticket=ticket)

    def prefetch_items(self, items, *, ticket: int | None = None) -> int:
        """Compute the (name, analysis, params) ``items`` not cached yet (see :meth:`prefetch`)."""
        done = 0
        for name, fn, params in items:
            if ticket is not None and ticket != self._requested:
                break
            if self.cache.has(name, **params):
                continue
            self._prefetch_key = (name, _freeze(params))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.cache.get(name, fn, _engine=self.prefetch_engine(), **params)
                done += 1
            except Exception:  # noqa: BLE001 - a prefetch never disturbs the page (nor does its interruption)
                continue
            finally:
                self._prefetch_key = None
        self.prefetched += done
        return done

    def _submit(self, *, compute: bool, inline: bool = False) -> None:
        """Render for the current filters: in the worker thread, or here when there is none or ``inline``."""
        self._requested += 1
        ticket = self._requested
        self._show_busy()
        if self._executor is None or inline:
            self._run(compute=compute, ticket=ticket)
            render = Future()
            render.set_result(None)
        else:
            self._pending = [f for f in self._pending if not f.done()]
            render = self._executor.submit(self._run, compute=compute, ticket=ticket)
            self._pending.append(render)
        if self._prefetcher is not None:
            # Starts when the render is drawn; a newer request makes it stop between two results.
            self._prefetcher.submit(self._prefetch_after, render, ticket)

    def _prefetch_after(self, render, ticket: int) -> None:
        try:
            render.result()
        except Exception:  # noqa: BLE001 - the render shows its own message
            return
        # A kernel Voila runs ahead of the managers (preheating) prefetches once its page is open: the
        # kernels of pages nobody has opened would otherwise take the machine from the pages in use.
        if os.environ.get(VOILA_PREHEAT_ENV) == "True" and not PAGE_OPENED.is_set():
            self._prefetch_when_opened = ticket
            if PAGE_OPENED.is_set():  # opened meanwhile
                self._page_opened()
            return
        deadline = time.monotonic() + PREFETCH_IDLE_S
        while ticket == self._requested and time.monotonic() < deadline:
            time.sleep(0.1)
        if ticket == self._requested and not self.message:
            self.prefetch(ticket=ticket)

    def _page_opened(self) -> None:
        """A page opened this kernel: run the prefetch a preheating kernel put off, if still current."""
        ticket, self._prefetch_when_opened = self._prefetch_when_opened, None
        if ticket is not None and ticket == self._requested and self._prefetcher is not None:
            done = Future()
            done.set_result(None)
            self._prefetcher.submit(self._prefetch_after, done, ticket)

    def prefetch_engine(self):
        """The Store the prefetch thread computes on: a second read-only connection to the same file
        (a DuckDB connection serves one thread at a time); the page's own when not in the background."""
        if self._prefetcher is None:
            return None
        if self._prefetch_db is None:
            self._prefetch_db = wb.connect(self.db.path, read_only=True)
            self._prefetch_db._derived_fresh = getattr(self.db, "_derived_fresh", None)
            self._prefetch_db._homes_fresh = getattr(self.db, "_homes_fresh", None)
        return self._prefetch_db

    def _show_busy(self) -> None:
        self.busy.value = f'<span class="wb-busy-text">⏳ {html.escape(self.t("dash.busy"))}</span>'
        self.busy.layout.visibility = "visible"
        self.add_class("wb-computing")

    def _run(self, *, compute: bool, ticket: int) -> None:
        if ticket != self._requested:  # a newer request is queued: it will draw the current filters
            return
        with self._lock:
            started = time.perf_counter()
            self.message = ""
            thin = False
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ThinDataWarning)
                    for name, do_compute, do_draw in self.steps():
                        t0 = time.perf_counter()
                        if compute:
                            do_compute()
                        do_draw()
                        self.draw_numbers()
                        self._hide_message()
                        self.timings[name] = time.perf_counter() - t0
                        if ticket != self._requested:
                            return
                thin = any(issubclass(w.category, ThinDataWarning) for w in caught)
            except EmptySelection:
                self._show_message(self.t("dash.empty") + " " + self.t("dash.empty_hint"), kind="empty")
            except WorkbenchError as exc:
                self._show_message(self.t("dash.problem") + str(exc), kind="problem")
            except Exception as exc:  # noqa: BLE001 - a bug: a message on the page, the traceback in the log
                traceback.print_exc()
                self._show_message(self.t("dash.problem") + type(exc).__name__, kind="error")
            finally:
                if compute:
                    self._thin = thin
                else:  # a language switch draws the results at hand: their warnings were caught when computed
                    thin = self._thin and not self.message
                self.note_box.value = f'<div class="wb-note-box">{self.t("dash.thin")}</div>' if thin else ""
                self.note_box.layout.display = None if thin else "none"
                self.timings["total"] = time.perf_counter() - started
                if ticket == self._requested:
                    self.busy.layout.visibility = "hidden"
                    self.renders += 1
                    for cls in [c for c in self._dom_classes if c.startswith("wb-gen-")]:
                        self.remove_class(cls)
                    self.add_class(f"wb-gen-{self.renders}")
                    self.remove_class("wb-computing")

    def _show_message(self, text: str, *, kind: str) -> None:
        self.message = text
        self.message_box.value = f'<div class="wb-message-box" data-kind="{kind}">{html.escape(text)}</div>'
        self.message_box.layout.display = None
        self.body.layout.display = "none"
        self.kpis.layout.display = "none"

    def _hide_message(self) -> None:
        if self.message_box.layout.display != "none":
            self.message_box.value = ""
            self.message_box.layout.display = "none"
        self.body.layout.display = None
        self.kpis.layout.display = None

    def _on_filter(self, change) -> None:
        if self._suspended:
            return
        if self._city_stores is not None and change["owner"] is self.controls.get("city"):
            self._narrow_stores()
        self.refresh()

    def _on_lang(self, change) -> None:
        self.lang = change["new"]
        self._relabel()
        # Results for the current filters are at hand unless the last run ended in a message.
        self._submit(compute=bool(self.message))

    def _relabel(self) -> None:
        # The page title is the notebook's (both languages); the header names the dashboard and its day.
        self.title.value = self.t(self.title_key)
        text = self.t("dash.as_of", day=self.as_of.isoformat(), week=week_label(self.as_of))
        self.as_of_text.value = (
            f'<span class="wb-title" style="font-weight:600">{html.escape(self.title.value)}</span>'
            f' · <span class="wb-asof">{html.escape(text)}</span>'
        )
        for name, (key, label) in self._labels.items():
            w = self.controls[name]
            w.description = self.t(key)
            if label is not None and hasattr(w, "options"):
                self.set_options(name, [v for _, v in w.options])


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


# Dashboards of this kernel drawing from threads (the worker, the campaigns' table from the prefetch).
_LIVE: weakref.WeakSet = weakref.WeakSet()
# Set by Voila in the kernels it runs ahead of the managers ("True"), for the kernel's whole life.
VOILA_PREHEAT_ENV = "VOILA_PREHEAT"
# Set once a page has asked this kernel for its widgets (a manager opened it).
PAGE_OPENED = threading.Event()
_HOOKED = False
# Seconds after a page asked for the widgets' state at which every widget changed since is sent again.
RESEND_AFTER_S = (1.0, 3.0, 10.0)


def hook_page_loads() -> None:
    """Make a page that loads while a thread draws end up with what was drawn.

    A page (Voila's, JupyterLab's) asks the kernel once for the state of every widget (ipywidgets'
    ``request_states`` on the ``jupyter.widget.control`` comm), then builds its models; an update the kernel
    sends meanwhile reaches no model and is dropped, so the page would keep the older value (an empty KPI
    card, a missing render mark). After each such request every widget of a live dashboard whose state
    differs from what the page was sent is sent again, RESEND_AFTER_S seconds later (an update that did
    arrive changes nothing on the page when sent again). Registered once per kernel, in place of
    ipywidgets' own handler, which it calls."""
    global _HOOKED
    from comm import get_comm_manager

    manager = get_comm_manager()
    if manager is not None and not _HOOKED:
        manager.register_target("jupyter.widget.control", _control_comm_opened)
        _HOOKED = True


def _control_comm_opened(comm, msg) -> None:
    widgets.Widget.handle_control_comm_opened(comm, msg)
    comm.on_msg(_control_comm_msg)


def _control_comm_msg(msg) -> None:
    # What the page is about to be sent, read before ipywidgets reads it: a change in between is sent again.
    sent = [(dash, [(w, w.get_state()) for w in _widget_tree(dash)]) for dash in list(_LIVE)]
    widgets.Widget._handle_control_comm_msg(msg)
    if msg["content"]["data"].get("method") != "request_states":
        return
    page_opened()
    for delay in RESEND_AFTER_S:
        for dash, states in sent:
            timer = threading.Timer(delay, _resend_changed, args=(states,), kwargs={"lock": dash._lock})
            timer.daemon = True
            timer.start()


def page_opened() -> None:
    """A page asked this kernel for its widgets: the prefetches a preheating kernel put off start."""
    if not PAGE_OPENED.is_set():
        PAGE_OPENED.set()
        for dash in list(_LIVE):
            dash._page_opened()


def _resend_changed(states: list, *, lock=None) -> int:
    """Send again each widget whose state is no longer the one in ``states`` ((widget, state) pairs), under
    the dashboard's ``lock`` (never between a render's own updates); returns how many."""
    count = 0
    with lock or nullcontext():
        for widget, state in states:
            with suppress(Exception):  # a widget closed meanwhile
                if widget.comm is not None and widget.get_state() != state:
                    widget.send_state()
                    count += 1
    return count


def _widget_tree(root: widgets.Widget) -> list[widgets.Widget]:
    """``root`` and every widget its synced traits refer to (children, layouts, styles), each once."""
    seen: dict[int, widgets.Widget] = {}
    todo = [root]
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen[id(w)] = w
        for name in w.keys:
            value = getattr(w, name, None)
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, widgets.Widget):
                    todo.append(item)
    return list(seen.values())


class EmptySelection(WorkbenchError):
    """The filters leave nothing to show (a message for the page, not an error of the analysis)."""


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        from workbench.errors import choices_message

        raise ParameterError(choices_message(name, value, choices))


def store_choices(db: Store) -> list[tuple[str, str, str]]:
    """(store_id, name, city) of every store, by city then id (a small table: read once per kernel)."""
    frame = db.stores.select("store_id", "name", "city").order_by(["city", "store_id"]).to_pandas()
    return [(str(r.store_id), str(r.name), str(r.city)) for r in frame.itertuples()]


def segment_label(value, lang: str) -> str:
    return i18n.t(f"dash.segment.{value}", lang)
