"""End to end: ``web:`` in vigil.yaml serves the status page from the real daemon, with real
probes; an open page in a real browser sees a service turn unhealthy."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from vigil.web.token import TOKEN_FILE

pytestmark = pytest.mark.slow
Factory = Callable[[str], Any]
WAIT_MS = 30_000
URL = re.compile(
    r"status page on (http://127\.0\.0\.1:\d+/) \(its actions need the token in (.+)\)")


def config(tmp_path: Path) -> str:
    return f"""
web: 127.0.0.1:0
services:
  app:
    command: ["sleep", "1000"]
    environment:
      APP_SECRET: e2e-secret-value
    healthcheck:
      test: ["CMD", "test", "-f", "{tmp_path}/ok"]
      interval: 100ms
      retries: 1
"""


def page_url(tmp_path: Path) -> tuple[str, Path]:
    """The page's address and token file, from the daemon's log (written before ``up -d``
    returned: the daemon reports ready once the page serves)."""
    found = URL.search((tmp_path / "state" / "vigil.log").read_text())
    assert found is not None
    return found[1], Path(found[2])


def test_the_daemon_serves_the_page_and_its_token_guards_actions(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    """``web:`` → the page on the port the kernel chose, logged; the action token kept in
    the state directory (0600); actions refused without it, done with it; no secret shown."""
    (tmp_path / "ok").touch()
    daemon = daemon_factory(config(tmp_path))
    url, token_file = page_url(tmp_path)
    assert token_file == tmp_path / "state" / TOKEN_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert daemon.client.wait("app", "healthy", timeout="20s")["Met"] is True
    with httpx.Client(base_url=url, timeout=20) as http:
        data = http.get("/api/overview").json()
        assert [(s["name"], s["health"]) for s in data["services"]] == [("app", "healthy")]
        assert "e2e-secret-value" not in http.get("/api/services/app").text
        scraped = http.get("/metrics")  # the API's exposition, on the page's address too
        assert scraped.status_code == 200
        assert 'vigil_health_status{service="app",status="healthy"} 1.0' in scraped.text
        assert http.post("/api/actions/app/restart").status_code == 401
        done = http.post("/api/actions/app/restart", headers={"Authorization": f"Bearer {token}"})
        assert done.status_code == 204
    assert daemon.client.wait("app", "healthy", timeout="20s")["Met"] is True
    assert daemon.client.inspect("app")["RestartCount"] == 0  # a manual restart: Docker's rule


def test_an_open_page_sees_a_real_service_turn_unhealthy(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    """A real probe fails (its file is gone): the open page shows it, without a reload."""
    from tests.web.harness import CHROMIUM, chromium_problem

    if (problem := chromium_problem()) is not None:
        pytest.skip(problem)
    from playwright.sync_api import expect, sync_playwright

    (tmp_path / "ok").touch()
    daemon = daemon_factory(config(tmp_path))
    url, _ = page_url(tmp_path)
    assert daemon.client.wait("app", "healthy", timeout="20s")["Met"] is True
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(url)
            card = page.locator("article.service")
            expect(card).to_have_attribute("data-health", "healthy", timeout=WAIT_MS)
            page.evaluate("window.__sameDocument = true")
            (tmp_path / "ok").unlink()
            expect(card).to_have_attribute("data-health", "unhealthy", timeout=WAIT_MS)
            assert page.evaluate("window.__sameDocument") is True
        finally:
            browser.close()
