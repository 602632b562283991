"""A report notebook as a reveal.js deck: code hidden, one figure or key table per slide.

The notebooks carry the slide layout in their cells' metadata (``slideshow.slide_type``): the title, each
summary, each figure (with the sentence on how to read it) and each key table start a slide; the
parameters and setup cells are skipped. The deck embeds plotly.js and the figures' data.

Offline: not yet. nbconvert ships no copy of reveal.js, and its reveal template loads reveal.js (unpkg),
require.js, jQuery and MathJax (cdnjs) from CDNs, so the deck needs a network connection to present. Pass
``reveal_prefix`` (or set WORKBENCH_REVEAL_PREFIX) to a local copy of reveal.js 4 (a folder with dist/ and
plugin/, e.g. unpacked from ``npm pack reveal.js@4``) to take reveal.js itself off the network; the HTML
report pages (html.py) need no network at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from workbench import i18n
from workbench.errors import ParameterError
from workbench.reporting import runner
from workbench.reporting.anonymise import K_MIN
from workbench.reporting.html import HIDDEN_TAGS

REVEAL_PREFIX_ENV = "WORKBENCH_REVEAL_PREFIX"
# Slide size in pixels: plotly figures are 525 px high by default, which leaves room for a sentence.
SLIDE_WIDTH_PX, SLIDE_HEIGHT_PX = 1200, 760


@dataclass(frozen=True)
class SlidesResult:
    """path of the deck, the week, slides (count), offline (False: see the module docstring)."""

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
    reveal_prefix: str | None = None,
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
    params = {
        "data": str(data_path),
        "week": label,
        "lang": lang,
        "anonymise": bool(anonymise),
        "client": client,
        "k_min": k_min,
    }
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
        prefix = reveal_prefix or os.environ.get(REVEAL_PREFIX_ENV) or ""
        body, slides = _deck(executed, title=title, reveal_prefix=prefix)
        path = out / f"{name}-{label}.slides.html"
        tmp_html = Path(tmp) / path.name
        tmp_html.write_text(body, encoding="utf-8")
        os.replace(tmp_html, path)
    return SlidesResult(path=path, week=label, slides=slides, offline=False)


def _deck(executed: Path, *, title: str, reveal_prefix: str) -> tuple[str, int]:
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
    }
    if reveal_prefix:
        settings["reveal_url_prefix"] = reveal_prefix
    config = Config(
        {
            "SlidesExporter": settings,
            "TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": list(HIDDEN_TAGS)},
        }
    )
    body, _ = SlidesExporter(config=config).from_notebook_node(nb, resources={"metadata": {"name": title}})
    slides = sum(1 for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide")
    return body, slides
