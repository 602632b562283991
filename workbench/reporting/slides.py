"""A report notebook as a reveal.js deck: code hidden, one figure or key table per slide.

The notebooks carry the slide layout in their cells' metadata (``slideshow.slide_type``): the title, each
summary, each figure (with the sentence on how to read it) and each key table start a slide; the
parameters and setup cells are skipped. The deck embeds plotly.js and the figures' data.

Offline: the deck is one HTML file that presents with no network connection. nbconvert's reveal template
loads reveal.js (unpkg), require.js, jQuery and MathJax (cdnjs) from CDNs; here the CDN addresses are
emptied (html.CDN_TRAITS), and reveal.js 5, its notes plugin and the white theme, shipped in
``static/reveal/`` (MIT), are written into the page. The template's ``require([...], start)`` call is served
by a two-line stand-in that hands it the inlined Reveal and RevealNotes; MathJax is not needed (the figures
use no LaTeX).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workbench import i18n
from workbench.errors import ParameterError
from workbench.reporting import plotlyjs, runner
from workbench.reporting.anonymise import K_MIN
from workbench.reporting.html import CDN_TRAITS, CJK_CSS, EXTERNAL_SCRIPT, HIDDEN_TAGS

# reveal.js shipped with the package (see static/reveal/README.md).
REVEAL_DIR = Path(__file__).resolve().parent / "static" / "reveal"
# A <script> with an empty src (the CDN addresses emptied), and any src= or href= to another host.
EMPTY_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"'][\"'][^>]*>\s*</script>", re.IGNORECASE)
EXTERNAL_REF = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\s(?:src|href)=[\"'](?:https?:)?//", re.IGNORECASE
)
# The reveal template imports mermaid from a CDN on every deck (its address is not configurable); decks have
# no mermaid diagrams, so the import goes.
MERMAID_IMPORT = re.compile(r"<script[^>]*>[^<]*\bimport mermaid from[^<]*</script>", re.IGNORECASE)
# The prefix the template puts before reveal.js's files; every reference to it is replaced by inlined files.
_PREFIX = "workbench-reveal"
# Stands in for require.js (the template starts the deck with require([...], start)) and for MathJax (the
# template re-typesets formulas on each slide change).
_SHIM = (
    "window.require = function (config, deps, start) { start(window.Reveal, window.RevealNotes); };\n"
    "window.MathJax = window.MathJax || {Hub: {getAllJax: function () { return null; }, Rerender: function () {}}};"
)
# Slide size in pixels: plotly figures are 525 px high by default, which leaves room for a sentence.
SLIDE_WIDTH_PX, SLIDE_HEIGHT_PX = 1200, 760


@dataclass(frozen=True)
class SlidesResult:
    """path of the deck, the week, slides (count), offline (True: the deck loads nothing from the network)."""

    path: Path
    week: str
    slides: int
    offline: bool


def build_slides(
    notebook: str,
    *,
    data,
    week: str | None = None,
    latest: bool = False,
    out="reports/slides",
    lang: str = "zh",
    anonymise: bool = False,
    client: str | None = None,
    k_min: int = K_MIN,
    notebooks_dir=None,
) -> SlidesResult:
    """Execute ``notebook`` for the week and write ``<out>/<notebook>-<week>.slides.html``.

    Raises ParameterError for an unknown notebook, a bad week or parameters; a failing cell raises
    publish.NotebookFailed (exit code 1) naming the notebook and the error.
    """
    from workbench.data.store import connect
    from workbench.reporting.index import notebook_title
    from workbench.reporting.publish import NotebookFailed
    from workbench.reporting.weeks import report_week

    i18n.check_lang(lang)
    folder = Path(notebooks_dir) if notebooks_dir is not None else runner.NOTEBOOKS_DIR
    available = runner.available_notebooks(folder)
    name = Path(str(notebook)).stem
    if name not in available:
        from workbench.errors import choices_message

        raise ParameterError(choices_message("notebook", notebook, available))
    if (week is None) == (not latest):
        raise ParameterError("give either week (e.g. --week 2026-W47) or --latest.")
    data_path = Path(data).resolve()
    db = connect(data_path)
    try:
        label = report_week(db, week=week, latest=latest)
    finally:
        db.close()
    params = runner.base_parameters(
        data=data_path, week=label, lang=lang, anonymise=anonymise, client=client, k_min=k_min
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".slides-", dir=out) as tmp:
        executed = Path(tmp) / f"{name}.ipynb"
        outcome = runner.run_notebook(folder / f"{name}.ipynb", executed, parameters=params, cwd=folder)
        if not outcome.ok:
            kept = out / f"{name}-{label}.failed.ipynb"
            if executed.exists():
                shutil.copyfile(executed, kept)
            raise NotebookFailed(
                f"notebook {name} failed at cell {outcome.cell}: {outcome.error}. No deck was written; the "
                f"executed notebook is {kept}.",
                notebook=name,
                failures=kept,
            )
        title = f"{notebook_title(name, lang)} · {label}"
        if client:
            title = f"{client} · {title}"
        body, slides = _deck(executed, title=title)
        path = out / f"{name}-{label}.slides.html"
        tmp_html = Path(tmp) / path.name
        tmp_html.write_text(body, encoding="utf-8")
        os.replace(tmp_html, path)
    return SlidesResult(path=path, week=label, slides=slides, offline=not EXTERNAL_REF.search(body))


def _deck(executed: Path, *, title: str) -> tuple[str, int]:
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:  # papermill's injected cell has no slide type: skip it like the parameters
        if set(cell.metadata.get("tags", [])) & set(HIDDEN_TAGS):
            cell.metadata.setdefault("slideshow", {})["slide_type"] = "skip"
    settings = {
        "exclude_input": True,
        "exclude_input_prompt": True,
        "exclude_output_prompt": True,
        "reveal_width": str(SLIDE_WIDTH_PX),
        "reveal_height": str(SLIDE_HEIGHT_PX),
        "reveal_url_prefix": _PREFIX,
        "reveal_theme": "white",
        **{trait: "" for trait in CDN_TRAITS},
    }
    config = Config(
        {
            "SlidesExporter": settings,
            "TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": list(HIDDEN_TAGS)},
        }
    )
    body, _ = SlidesExporter(config=config).from_notebook_node(nb, resources={"metadata": {"name": title}})
    slides = sum(1 for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide")
    return plotlyjs.slim(_inline_reveal(body)), slides


def _inline_reveal(body: str) -> str:
    """The deck with reveal.js written into it and no script or stylesheet from elsewhere."""

    def asset(name: str) -> str:
        return (REVEAL_DIR / name).read_text(encoding="utf-8")

    def script(js: str) -> str:
        return "<script>\n" + js.replace("</script", "<\\/script") + "\n</script>"

    for href, css in (
        (f"{_PREFIX}/dist/reveal.css", "reveal.css"),
        (f"{_PREFIX}/dist/theme/white.css", "white.css"),
    ):
        link = re.compile(r"<link[^>]*\shref=[\"']" + re.escape(href) + r"[\"'][^>]*>")
        style = "<style>\n" + asset(css) + "\n</style>"
        body, found = link.subn(lambda m, style=style: style, body, count=1)
        if not found:
            raise RuntimeError(
                f"the reveal template no longer links {href}; the deck would not present offline"
            )
    body = MERMAID_IMPORT.sub("", EXTERNAL_SCRIPT.sub("", EMPTY_SCRIPT.sub("", body)))
    start = body.find("require(")
    open_tag = body.rfind("<script", 0, start)
    if start < 0 or open_tag < 0:
        raise RuntimeError(
            "the reveal template no longer starts the deck with require(); cannot inline reveal.js"
        )
    inlined = "\n".join(script(js) for js in (asset("reveal.js"), asset("notes.js"), _SHIM))
    body = body[:open_tag] + inlined + "\n" + body[open_tag:]
    return body.replace("</head>", CJK_CSS + "\n</head>", 1)
