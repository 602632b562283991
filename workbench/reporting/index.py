"""Index pages: one per week (its notebooks, figures, tables, data) and one of every published week.

Plain HTML with inline CSS and relative links, so the folder works from disk, a file share or any static
web server, offline. The week page is in the report's language; the page of all weeks is bilingual (weeks
may have been published in either language).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from workbench import i18n
from workbench.reporting.narrative import NOTEBOOK_TITLES

WEEK_DIR = re.compile(r"^\d{4}-W\d{2}$")
INDEX = "index.html"

i18n.register(
    {
        "report.index.week_title": ("会员分析周报 · {week}", "Member analytics weekly report · {week}"),
        "report.index.all_title": ("会员分析周报", "Member analytics weekly reports"),
        "report.index.as_of": ("数据截至 {as_of}", "Data as of {as_of}"),
        "report.index.notebook": ("报告", "Report"),
        "report.index.status": ("状态", "Status"),
        "report.index.seconds": ("用时（秒）", "Time (s)"),
        "report.index.notebook_file": ("可执行笔记本", "Executed notebook"),
        "report.index.ok": ("完成", "done"),
        "report.index.failed": ("失败", "failed"),
        "report.index.figures": ("图表包", "Figure pack"),
        "report.index.tables": ("Excel 表格", "Excel tables"),
        "report.index.manifest": (
            "运行清单（参数、数据指纹、版本）",
            "Manifest (parameters, data fingerprint, versions)",
        ),
        "report.index.rows": ("数据行数", "Rows"),
        "report.index.quarantined": ("隔离行数：{n}", "Quarantined rows: {n}"),
        "report.index.generated": ("生成于 {at}", "Generated {at}"),
        "report.index.all_weeks": ("所有周报", "All weekly reports"),
        "report.index.week": ("周", "Week"),
        "report.index.language": ("语言", "Language"),
        "report.index.back": ("← 所有周报", "← All weekly reports"),
    }
)

CSS = """
body { font-family: 'Noto Sans CJK SC', 'Noto Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif;
       margin: 2rem auto; max-width: 60rem; color: #222; padding: 0 1rem; }
h1 { color: #C8102E; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; }
th { background: #F2F2F2; }
.failed { color: #C8102E; } .muted { color: #777; font-size: .9rem; }
a { color: #1F77B4; }
"""


def _page(title: str, body: str, lang: str) -> str:
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def notebook_title(name: str, lang: str) -> str:
    return i18n.t(f"report.title.{name}", lang) if name in NOTEBOOK_TITLES else name


def week_title(week: str, lang: str, client: str | None) -> str:
    title = i18n.t("report.index.week_title", lang, week=week)
    return f"{client} · {title}" if client else title


def write_week_index(folder, manifest: dict) -> Path:
    """``folder/index.html`` from the week's manifest (see publish.py)."""
    folder = Path(folder)
    p = manifest["parameters"]
    lang, client = p["lang"], p.get("client")
    t = lambda key, **fmt: html.escape(i18n.t(key, lang, **fmt))  # noqa: E731
    title = week_title(manifest["week"], lang, client)
    rows = []
    for nb in manifest["notebooks"]:
        status = t("report.index.ok") if nb["status"] == "ok" else t("report.index.failed")
        css = "" if nb["status"] == "ok" else ' class="failed"'
        rows.append(
            f'<tr><td><a href="{html.escape(nb["html"])}">{html.escape(notebook_title(nb["name"], lang))}</a></td>'
            f"<td{css}>{status}</td><td>{nb['seconds']:.1f}</td>"
            f'<td><a href="{html.escape(nb["notebook"])}">{html.escape(nb["notebook"])}</a></td></tr>'
        )
    links = []
    if manifest.get("figures"):
        links.append(
            f'<li><a href="figures/">{t("report.index.figures")}</a> ({len(manifest["figures"])})</li>'
        )
    if manifest.get("excel"):
        links.append(f'<li><a href="{html.escape(manifest["excel"])}">{t("report.index.tables")}</a></li>')
    links.append(f'<li><a href="manifest.json">{t("report.index.manifest")}</a></li>')
    data = manifest["data"]
    counts = ", ".join(f"{k} {v['rows']:,}" for k, v in data["tables"].items())
    quarantined = t("report.index.quarantined", n=f"{data['quarantined']:,}")
    body = "\n".join(
        [
            f'<p class="muted"><a href="../{INDEX}">{t("report.index.back")}</a></p>',
            f"<h1>{html.escape(title)}</h1>",
            f"<p>{t('report.index.as_of', as_of=manifest['as_of'])}</p>",
            "<table>",
            f"<tr><th>{t('report.index.notebook')}</th><th>{t('report.index.status')}</th>"
            f"<th>{t('report.index.seconds')}</th><th>{t('report.index.notebook_file')}</th></tr>",
            *rows,
            "</table>",
            "<ul>",
            *links,
            "</ul>",
            f'<p class="muted">{t("report.index.rows")}: {html.escape(counts)}. {quarantined}</p>',
            f'<p class="muted">{t("report.index.generated", at=manifest["finished_at"])}</p>',
        ]
    )
    path = folder / INDEX
    path.write_text(_page(title, body, lang), encoding="utf-8")
    return path


def write_top_index(out) -> Path:
    """``out/index.html``: every published week (newest first), bilingual, written atomically."""
    out = Path(out)
    rows = []
    clients = set()
    for folder in sorted((d for d in out.iterdir() if d.is_dir() and WEEK_DIR.match(d.name)), reverse=True):
        manifest_path = folder / "manifest.json"
        if not manifest_path.exists():
            continue
        m = json.loads(manifest_path.read_text(encoding="utf-8"))
        p = m.get("parameters", {})
        if p.get("client"):
            clients.add(p["client"])
        names = " · ".join(notebook_title(nb["name"], p.get("lang", "zh")) for nb in m.get("notebooks", []))
        rows.append(
            f'<tr><td><a href="{folder.name}/{INDEX}">{folder.name}</a></td>'
            f"<td>{html.escape(str(m.get('as_of', '')))}</td><td>{html.escape(p.get('lang', ''))}</td>"
            f"<td>{html.escape(names)}</td></tr>"
        )
    both = lambda key: html.escape(f"{i18n.t(key, 'zh')} / {i18n.t(key, 'en')}")  # noqa: E731
    title = f"{i18n.t('report.index.all_title', 'zh')} / {i18n.t('report.index.all_title', 'en')}"
    if len(clients) == 1:
        title = f"{clients.pop()} · {title}"
    body = "\n".join(
        [
            f"<h1>{html.escape(title)}</h1>",
            "<table>",
            f"<tr><th>{both('report.index.week')}</th><th>{both('as_of')}</th>"
            f"<th>{both('report.index.language')}</th><th>{both('report.index.notebook')}</th></tr>",
            *rows,
            "</table>",
        ]
    )
    path = out / INDEX
    tmp = out / f".{INDEX}.tmp"
    tmp.write_text(_page(title, body, "zh"), encoding="utf-8")
    tmp.replace(path)
    return path
