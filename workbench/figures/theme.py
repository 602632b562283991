"""One look for every figure: fonts that render Chinese, colours, margins, hover style.

Figure builders call :func:`apply` last; nothing else sets fonts or colours.
"""

from __future__ import annotations

import plotly.graph_objects as go

# Fonts in order of preference; Noto Sans CJK (Debian fonts-noto-cjk) renders Chinese in static exports,
# the others cover Windows and macOS browsers.
FONT_FAMILY = "Noto Sans CJK SC, Noto Sans SC, PingFang SC, Microsoft YaHei, Source Han Sans SC, sans-serif"
COLORWAY = ["#C8102E", "#1F77B4", "#2CA02C", "#FF7F0E", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F", "#17BECF"]
BAND_OPACITY = 0.18


def apply(fig: go.Figure, *, title: str | None = None) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        font={"family": FONT_FAMILY, "size": 13},
        colorway=COLORWAY,
        margin={"l": 60, "r": 30, "t": 70, "b": 50},
        hoverlabel={"font": {"family": FONT_FAMILY}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
    )
    if title is not None:
        fig.update_layout(title={"text": title, "x": 0, "xanchor": "left"})
    return fig


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
