"""The status page in a real browser: Debian's chromium, headless, driven by Playwright.

One browser per module; each test opens its own page on its own server (a loopback port the
kernel picks). The daemon's time is a FakeClock the test moves, so what changes is decided by
the test; the browser's side is waited for with generous bounded deadlines, never a sleep.
Screenshots of the main views go to ``artifacts/screenshots/`` (not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.web.harness import ARTIFACTS, CHROMIUM, TOKEN, WebDaemon, chromium_problem

from vigil.go.duration import MILLISECOND
from vigil.testing import ProbeStep

pytestmark = pytest.mark.slow
WAIT_MS = 30_000  # a busy 2-core machine is slow, never this slow
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;'
SECRET_ENV = "s3cr3t-env-value-not-for-browsers"
SECRET_TEST = "Authorization: Bearer probe-secret"

if (problem := chromium_problem()) is not None:
    pytest.skip(problem, allow_module_level=True)  # one line for the whole module
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def documents(page: Page) -> list[str]:
    """Every document the page requests from now on (a reload would be one more)."""
    loaded: list[str] = []

    def on_request(request: Any) -> None:
        if request.resource_type == "document":
            loaded.append(request.url)

    page.on("request", on_request)
    return loaded


def row(page: Page, name: str) -> Any:
    return page.locator("article.service", has=page.locator(f"h2 >> text='{name}'"))


def test_a_service_turning_unhealthy_shows_on_an_open_page(web: WebDaemon, page: Page) -> None:
    """The open overview turns the row unhealthy when the service does: the change arrives
    over server-sent events (more messages than the snapshot), in the same document (no
    reload, no new navigation)."""
    web.add("api", [0, 0, 0, 1], retries=3)
    web.add("db", [0])
    web.run_for(3.5)
    loaded = documents(page)
    page.goto(web.url + "/")
    expect(row(page, "api")).to_have_attribute("data-health", "healthy", timeout=WAIT_MS)
    page.evaluate("window.__sameDocument = true")
    messages = int(page.evaluate("document.body.dataset.messages"))
    web.run_for(4)
    assert web.health("api") == "unhealthy"
    expect(row(page, "api")).to_have_attribute("data-health", "unhealthy", timeout=WAIT_MS)
    expect(row(page, "api").locator(".badge")).to_have_text("unhealthy")
    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert loaded == [web.url + "/"]
    assert int(page.evaluate("document.body.dataset.messages")) > messages
    assert page.evaluate("document.body.dataset.snapshots") == "1"
    expect(page.locator("#totals")).to_have_text("1 unhealthy · 1 healthy")
    screenshot(page, "overview")


def test_the_chart_draws_every_result_and_marks_failures(web: WebDaemon, page: Page) -> None:
    """The service page's SVG has one point per result, failures marked apart, and grows by
    one point when a new result arrives live."""
    steps: list[int | ProbeStep] = [
        ProbeStep(0, "ok", ms * MILLISECOND) for ms in (12, 15, 11, 30, 14)
    ] + [ProbeStep(1, "HTTP 503", 80 * MILLISECOND), ProbeStep(0, "ok", 13 * MILLISECOND)]
    web.add("api", steps)
    web.run_for(7.5)
    page.goto(web.url + "/services/api?range=1h")
    chart = page.locator("svg.chart")
    expect(chart).to_have_attribute("data-points", "7", timeout=WAIT_MS)
    assert chart.locator("circle.point").count() == 7
    assert chart.locator("circle.fail").count() == 1
    assert chart.get_attribute("data-failures") == "1"
    assert len(chart.locator("polyline").get_attribute("points").split()) == 7
    assert "exit 1 (fail)" in (chart.locator("circle.fail title").text_content() or "")
    web.run_for(1)
    expect(page.locator("svg.chart")).to_have_attribute("data-points", "8", timeout=WAIT_MS)
    expect(page.locator("table.results tbody tr")).to_have_count(8)
    screenshot(page, "service")


def test_hostile_output_is_shown_as_text_never_run(web: WebDaemon, page: Page) -> None:
    """Markup in probe output is shown literally, on the overview and the service page: no
    element is made from it and no script of it runs."""
    web.add("evil", [ProbeStep(1, HOSTILE)])
    web.run_for(1.5)
    for path in ("/", "/services/evil"):
        page.goto(web.url + path)
        output = page.locator("pre.output").first
        expect(output).to_have_text(HOSTILE, timeout=WAIT_MS)
        assert page.locator("main img").count() == 0
        assert page.locator("main script").count() == 0
        assert page.evaluate("window.__pwned") is None


def test_secrets_never_reach_the_browser(web: WebDaemon, page: Page) -> None:
    """Environment values and the probe's command are in no page the browser gets."""
    web.add("db", [0], environment={"PGPASSWORD": SECRET_ENV},
            test=("CMD", "curl", "-H", SECRET_TEST, "http://127.0.0.1/"))
    web.run_for(1.5)
    for path in ("/", "/services/db"):
        page.goto(web.url + path)
        expect(page.locator("pre.output").first).to_be_visible(timeout=WAIT_MS)
        html = page.content()
        assert SECRET_ENV not in html
        assert SECRET_TEST not in html
        assert "PGPASSWORD" not in html


def test_an_action_is_refused_without_the_token_and_done_with_it(
    web: WebDaemon, page: Page
) -> None:
    """Pause from the page: refused (401, said on the page) without the token, nothing
    changes; done with it, and the new state arrives live."""
    web.add("api", [0])
    web.run_for(1.5)
    page.goto(web.url + "/services/api")
    result = page.locator("#action-result")
    page.locator("button[data-action=pause]").click()
    expect(result).to_have_attribute("data-ok", "false", timeout=WAIT_MS)
    expect(result).to_contain_text("unauthorized")
    assert web.call(_status(web)) == "running"
    page.locator("#token").fill(TOKEN)
    page.locator("button[data-action=pause]").click()
    expect(result).to_have_text("pause: done", timeout=WAIT_MS)
    assert web.call(_status(web)) == "paused"
    expect(page.locator(".facts dd").first).to_have_text("paused", timeout=WAIT_MS)


async def _status(web: WebDaemon) -> str:
    return web.manager.view("api").status


def test_phone_and_dark_mode_render(web: WebDaemon, browser: Browser) -> None:
    """On a phone-sized screen in dark mode: dark colours, one column, nothing wider than
    the screen."""
    web.add("api", [0])
    web.add("a-service-with-a-rather-long-name-for-a-phone", [ProbeStep(1, "x" * 300)])
    web.run_for(1.5)
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark",
                                  is_mobile=True, device_scale_factor=2)
    try:
        phone = context.new_page()
        for path, name in (("/", "phone-dark-overview"), ("/services/api", "phone-dark-service")):
            phone.goto(web.url + path)
            expect(phone.locator("#connection")).to_have_attribute("data-state", "live",
                                                                   timeout=WAIT_MS)
            background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(15, 18, 22)"
            assert phone.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth") is True
            screenshot(phone, name)
        phone.goto(web.url + "/")
        card = phone.locator("article.service").first
        expect(card).to_be_visible(timeout=WAIT_MS)
        box = card.bounding_box()
        assert box is not None
        assert box["width"] > 300  # one card per row: the columns stacked
    finally:
        context.close()
    for scheme, background in (("dark", "rgb(15, 18, 22)"), ("light", "rgb(246, 247, 249)")):
        desktop_context = browser.new_context(color_scheme=scheme,
                                              viewport={"width": 1100, "height": 800})
        try:
            desktop = desktop_context.new_page()
            desktop.goto(web.url + "/")
            expect(desktop.locator("article.service").first).to_be_visible(timeout=WAIT_MS)
            assert desktop.evaluate("getComputedStyle(document.body).backgroundColor") == (
                background)
            if scheme == "dark":
                screenshot(desktop, "dark-overview")
        finally:
            desktop_context.close()


def test_the_page_reconnects_after_the_daemon_restarts(web: WebDaemon, page: Page) -> None:
    """When the daemon goes away the page says so; when it is back on the same address the
    page catches up (a fresh snapshot) without a reload."""
    web.add("api", [0, 0, 1], retries=1)
    web.run_for(1.5)
    loaded = documents(page)
    page.goto(web.url + "/")
    expect(row(page, "api")).to_have_attribute("data-health", "healthy", timeout=WAIT_MS)
    web.stop_server()
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting",
                                                          timeout=WAIT_MS)
    web.run_for(2)  # unhealthy while the page cannot hear it
    web.start_server()
    expect(row(page, "api")).to_have_attribute("data-health", "unhealthy", timeout=WAIT_MS)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    assert int(page.evaluate("document.body.dataset.snapshots")) >= 2  # one more, at least
    assert loaded == [web.url + "/"]
