"""An executed notebook as one self-contained HTML page: code hidden, no CDN, Chinese readable.

nbconvert's lab template with the inputs and prompts excluded. Its script and stylesheet URLs (require.js,
MathJax, jQuery, the widget renderer, mermaid) all point to CDNs, so each is emptied: the page needs none
of them (figures bring their own plotly.js, embedded once per page by the runner's renderer, and cut down
to the trace types the page draws by ``plotlyjs.slim``). Cells tagged
REMOVE_TAG (the Markdown notes for JupyterLab users) are left out: the page's title comes from the
notebook's output, in the report's language.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from workbench.reporting import plotlyjs

REMOVE_TAG = "remove-in-report"
# Cells that hold no reader-facing output.
HIDDEN_TAGS = (REMOVE_TAG, "parameters", "injected-parameters")
# Every URL trait of nbconvert's HTML-based exporters that points to a CDN by default.
CDN_TRAITS = (
    "require_js_url",
    "mathjax_url",
    "jquery_url",
    "widget_renderer_url",
    "jupyter_widgets_base_url",
    "mermaid_js_url",
    "mermaid_layout_elk_js_url",
)
# plotly's notebook renderer adds a MathJax <script> from a CDN to every figure (plotly 6-7 hard-code it);
# the figures use no LaTeX, so any external script tag is dropped from the page.
EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>", re.IGNORECASE)
# CJK fonts first, so Chinese text renders the same on every machine that has one of them.
CJK_CSS = (
    "<style>body, .jp-RenderedHTMLCommon, .jp-RenderedMarkdown, table { font-family: 'Noto Sans CJK SC', "
    "'Noto Sans SC', 'PingFang SC', 'Microsoft YaHei', 'Source Han Sans SC', sans-serif; }</style>"
)


def exporter_config(exporter: str = "HTMLExporter") -> dict:
    """traitlets config for nbconvert: code hidden, no CDN, notes for JupyterLab users removed."""
    settings = {
        "exclude_input": True,
        "exclude_input_prompt": True,
        "exclude_output_prompt": True,
        **{trait: "" for trait in CDN_TRAITS},
    }
    return {
        exporter: settings,
        "TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": list(HIDDEN_TAGS)},
    }


def notebook_to_html(notebook, html_path, *, title: str) -> Path:
    """Write ``notebook`` (a path) as an HTML page with ``title``; returns the path."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(config=Config(exporter_config()), template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = EXTERNAL_SCRIPT.sub("", body).replace("</head>", CJK_CSS + "\n</head>", 1)
    body = plotlyjs.slim(body)
    html_path = Path(html_path)
    html_path.write_text(body, encoding="utf-8")
    return html_path
