"""One look for every figure: fonts that render Chinese, colours, margins, hover style.

Figure builders call :func:`apply` last; nothing else sets fonts or colours.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

# Fonts in order of preference; Noto Sans CJK (Debian fonts-noto-cjk) renders Chinese in static exports,
# the others cover Windows and macOS browsers.
FONT_FAMILY = "Noto Sans CJK SC, Noto Sans SC, PingFang SC, Microsoft YaHei, Source Han Sans SC, sans-serif"
COLORWAY = ["#C8102E", "#1F77B4", "#2CA02C", "#FF7F0E", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F", "#17BECF"]
BAND_OPACITY = 0.18
FONT_SIZE = 13

# The page around the plot. The top margin is not fixed: it is made to hold the title (one line per <br>),
# the legend above the plot and the subplot titles of the top row, so none of them overlap whatever the
# number of subtitle lines or legend entries. A builder may ask for more room on any side (e.g. a note
# under the plot); apply() keeps the larger of the two.
MARGIN = {"l": 60, "r": 30, "t": 30, "b": 50}
TITLE_TOP_PX = 26  # from the top edge to the title's anchor (plotly draws CJK titles about 15 px above it)
TITLE_LINE_PX = 24  # the title's first line (plotly draws titles at 1.4x the font size)
SUBTITLE_LINE_PX = 18  # each further line (<sub>, <sup>: smaller)
LEGEND_ROW_PX = 24  # one row of a horizontal legend
SUBPLOT_TITLE_PX = 22  # subplot titles stand above the top row of plots
GAP_PX = 8  # between the blocks
# Plotly's height when a figure does not set one, and the width assumed to wrap legend rows.
DEFAULT_HEIGHT_PX = 450
DEFAULT_WIDTH_PX = 1000
# Width of a legend entry: the symbol and padding, plus per character (CJK characters are about twice
# as wide as Latin ones).
LEGEND_ENTRY_PX, LATIN_CHAR_PX, CJK_CHAR_PX = 44, 7, 13
# Trace types whose traces never make a legend entry (tables, Sankeys and heatmaps carry their own keys).
NO_LEGEND_TYPES = frozenset(
    {"table", "sankey", "heatmap", "indicator", "parcoords", "contour", "histogram2d"}
)


# The template: plotly's "plotly_white" with the defaults of the trace types the package draws only. The
# full one carries defaults for 24 trace types (3D, maps, polar...); copied into every figure it took most
# of the time a figure took to build (about 50 ms of 60) and half of its JSON.
TEMPLATE = "workbench_white"
TEMPLATE_TRACES = ("scatter", "bar", "heatmap", "table", "sankey", "funnel")


def _register_template() -> None:
    base = pio.templates["plotly_white"]
    data = {kind: base.data[kind] for kind in TEMPLATE_TRACES if base.data[kind]}
    pio.templates[TEMPLATE] = go.layout.Template(layout=base.layout, data=data)


_register_template()


def apply(fig: go.Figure, *, title: str | None = None) -> go.Figure:
    """The house style; call last. Sets fonts, colours and hover style, the title (left, at the top) and
    a horizontal legend between the title and the plot, with a top margin that fits both."""
    fig.update_layout(
        template=TEMPLATE,
        font={"family": FONT_FAMILY, "size": FONT_SIZE},
        colorway=COLORWAY,
        hoverlabel={"font": {"family": FONT_FAMILY}},
    )
    if title is not None:
        fig.update_layout(title={"text": title})
    text = fig.layout.title.text or ""
    height = fig.layout.height or DEFAULT_HEIGHT_PX
    title_px = _title_px(text)
    rows = _legend_rows(fig)
    top = TITLE_TOP_PX + title_px + GAP_PX + rows * LEGEND_ROW_PX
    top += SUBPLOT_TITLE_PX if _has_top_subplot_titles(fig) else 0
    asked = fig.layout.margin
    margin = {side: max(px, getattr(asked, side) or 0) for side, px in MARGIN.items()}
    margin["t"] = max(margin["t"], top + GAP_PX)
    fig.update_layout(
        margin=margin,
        title={"x": 0, "xanchor": "left", "xref": "container", "yref": "container", "yanchor": "top",
               "y": 1 - TITLE_TOP_PX / height, "pad": {"l": margin["l"] // 4}},
        legend={"orientation": "h", "xanchor": "left", "x": 0, "yref": "container", "yanchor": "top",
                "y": 1 - (TITLE_TOP_PX + title_px + GAP_PX) / height},
    )  # fmt: skip
    return fig


def _title_px(text: str) -> int:
    if not text:
        return 0
    return TITLE_LINE_PX + SUBTITLE_LINE_PX * text.count("<br>")


def _legend_rows(fig: go.Figure) -> int:
    """Rows the horizontal legend takes (0 when plotly shows none)."""
    if fig.layout.showlegend is False:
        return 0
    entries = [
        t
        for t in fig.data
        if t.type not in NO_LEGEND_TYPES
        and getattr(t, "showlegend", None) is not False
        and getattr(t, "visible", None) is not False
    ]
    names = [str(t.name or "") for t in entries]
    shown = fig.layout.showlegend is True or len(names) >= 2 or any(t.showlegend for t in entries)
    if not shown or not names:
        return 0
    width = (fig.layout.width or DEFAULT_WIDTH_PX) - MARGIN["l"] - MARGIN["r"]
    rows, used = 1, 0
    for name in names:
        entry = LEGEND_ENTRY_PX + sum(CJK_CHAR_PX if ord(c) > 0x2E7F else LATIN_CHAR_PX for c in name)
        if used and used + entry > width:
            rows, used = rows + 1, 0
        used += entry
    return rows


def _has_top_subplot_titles(fig: go.Figure) -> bool:
    """Subplot titles (make_subplots) of the top row: annotations just above the plot area."""
    return any(
        a.xref == "paper" and a.yref == "paper" and a.yanchor == "bottom" and (a.y or 0) >= 0.98
        for a in fig.layout.annotations
    )


def band_color(hex_color: str, opacity: float = BAND_OPACITY) -> str:
    """rgba() of a #RRGGBB colour at ``opacity``, for interval bands."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{opacity})"


def interval_band(
    x, low, high, *, color: str, name: str, label: str, shape: str = "linear"
) -> list[go.Scatter]:
    """Two traces that shade the interval [low, high] along x (upper edge, then lower edge filled to it).

    ``shape='hv'`` draws steps, as Kaplan-Meier curves need. The traces join the legend group ``name`` (the
    curve's), are called ``label`` (e.g. "上海 95% 置信区间"), stay out of the legend and skip hover, so the
    curve itself carries the numbers.
    """
    edge = {"width": 0, "shape": shape, "color": color}
    common = {"mode": "lines", "hoverinfo": "skip", "showlegend": False, "legendgroup": name}
    return [
        go.Scatter(x=x, y=high, line=edge, name=label, **common),
        go.Scatter(x=x, y=low, line=edge, fill="tonexty", fillcolor=band_color(color), name=label, **common),
    ]
