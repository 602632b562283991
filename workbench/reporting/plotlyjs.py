"""Which plotly.js a report page or deck embeds: a bundle of only the trace types its figures use.

plotly's notebook renderer writes the whole of plotly.js (4.8 MB, every trace type, maps and WebGL
included) into each page. The browser spends about a second just compiling it. The workbench's figures
draw only a few trace types, so pages whose figures all fit ship ``static/plotly/plotly-workbench.min.js``
instead: the same plotly.js release built with those traces alone (1.5 MB; how it is built:
``scripts/plotly-bundle/``). A page that draws any other trace type (a consultant's own chart, say), or a
plotly whose plotly.js is another release than the bundle's, keeps the full plotly.js: nothing stops
drawing.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib.resources import files

BUNDLE = "reporting/static/plotly/plotly-workbench.min.js"
# "* plotly.js v4.1.1 (workbench bundle: scatter,bar,...)" in the bundle's first lines.
_HEADER = re.compile(r"plotly\.js v(?P<version>[\w.\-]+) \(workbench bundle: (?P<traces>[\w,]+)\)")
_VERSION = re.compile(r"plotly\.js v(?P<version>[\w.\-]+)")
# The renderer's call for each figure: Plotly.newPlot("<div id>", [traces], {layout}, {config}).
_NEW_PLOT = re.compile(r"Plotly\.newPlot\(\s*\"[^\"]*\",\s*")


@lru_cache(maxsize=1)
def bundle() -> tuple[str, str, frozenset[str]]:
    """The bundle's text, its plotly.js version and the trace types it draws."""
    text = files("workbench").joinpath(BUNDLE).read_text(encoding="utf-8")
    header = _HEADER.search(text[:300])
    if header is None:
        raise RuntimeError(f"{BUNDLE} has no 'plotly.js vX (workbench bundle: ...)' header")
    return text, header["version"], frozenset(header["traces"].split(","))


@lru_cache(maxsize=1)
def full() -> tuple[str, str]:
    """The plotly.js that plotly's renderer embeds, and its version."""
    from plotly.offline import get_plotlyjs

    text = get_plotlyjs()
    return text, _VERSION.search(text[:300])["version"]


def page_traces(html: str) -> set[str]:
    """Trace types drawn by the figures of an HTML page written by plotly's notebook renderer."""
    decoder = json.JSONDecoder()
    types: set[str] = set()
    for call in _NEW_PLOT.finditer(html):
        data, _ = decoder.raw_decode(html, call.end())
        types.update(trace.get("type", "scatter") for trace in data)
    return types


def slim(html: str) -> str:
    """``html`` with the full plotly.js swapped for the workbench bundle where every figure fits it."""
    full_text, full_version = full()
    if full_text not in html:
        return html
    text, version, traces = bundle()
    if version != full_version or not page_traces(html) <= traces:
        return html
    return html.replace(full_text, text)
