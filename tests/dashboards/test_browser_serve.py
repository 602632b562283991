"""The landing page of `workbench dashboard` in a real browser: the server's root lists the four dashboards
by their Chinese titles (and English ones), loads with no error and no request off the server, and its
link opens a dashboard that draws its figures. Fixtures (server, browser) are in conftest.py; the
screenshot goes to tests/artifacts/dashboard_index.png.
"""

from __future__ import annotations

from tests.dashboards.conftest import ARTIFACTS, PAGE_TIMEOUT_MS, needs_browser
from workbench import i18n
from workbench.dashboards.serve import DASHBOARDS, dashboard_titles

pytestmark = needs_browser


def test_the_landing_page_links_every_dashboard_by_its_title(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)

    def local_only(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            errors.append(f"external request: {route.request.url}")
            route.abort()

    page.route("**/*", local_only)
    try:
        page.goto(f"{server}/", timeout=PAGE_TIMEOUT_MS)
        links = page.eval_on_selector_all(
            ".wb-landing a", "as => as.map(a => [a.getAttribute('href'), a.innerText])"
        )
        assert [href for href, _ in links] == [f"/voila/render/{name}.ipynb" for name in DASHBOARDS]
        for (_, text), name in zip(links, DASHBOARDS, strict=True):
            titles = dashboard_titles(name)
            assert text.startswith(titles["zh"]) and titles["en"] in text
        body = page.inner_text("body")
        assert all(i18n.t(f"landing.{name}", "zh") in body for name in DASHBOARDS)
        assert "Voilà" not in body and ".ipynb" not in body  # not Voila's file tree
        assert errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_index.png"), full_page=True)

        page.click(f".wb-landing a:has-text('{dashboard_titles('churn')['zh']}')")
        page.wait_for_selector(".js-plotly-plot", timeout=PAGE_TIMEOUT_MS)
        assert page.url == f"{server}/voila/render/churn.ipynb"
        assert page.inner_text(".wb-title") == dashboard_titles("churn")["zh"]
        assert errors == []
    finally:
        context.close()
