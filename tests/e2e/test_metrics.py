"""End to end: ``GET /metrics`` of the real daemon (``vigil up``) over its unix socket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow
Daemon = Any  # tests/e2e/conftest.py's Daemon
LONG = "20s"


def scrape(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    socket = daemon.host.removeprefix("unix://")
    transport = httpx.HTTPTransport(uds=socket)
    with httpx.Client(transport=transport, base_url="http://vigil", timeout=30) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples}


def test_the_daemon_serves_its_metrics(daemon_factory: Callable[[str], Daemon]) -> None:
    """A passing service, one whose probe cannot run (CMD of a missing binary: Docker's
    failed counter counts it) and one the restart policy restarts twice; the passing one is
    restarted by hand."""
    daemon = daemon_factory("""
services:
  ok:
    healthcheck:
      test: ["CMD", "true"]
      interval: 50ms
  broken:
    healthcheck:
      test: ["CMD", "/nonexistent/vigil-probe"]
      interval: 50ms
      retries: 1
  crashy:
    command: ["sh", "-c", "exit 3"]
    restart: on-failure:2
""")
    assert daemon.client.wait("ok", "healthy", timeout=LONG)["Met"] is True
    reply = daemon.client.wait("broken", "healthy", timeout=LONG)
    assert reply["Error"] == "service broken is unhealthy"
    for _ in range(3):  # each wait ends at an exit; the third is the last (2 restarts)
        if daemon.client.inspect("crashy")["RestartCount"] == 2 and \
                daemon.client.inspect("crashy")["State"]["Status"] == "exited":
            break
        daemon.client.wait("crashy", "exited", timeout=LONG)
    daemon.client.restart("ok")
    assert daemon.client.wait("ok", "healthy", timeout=LONG)["Met"] is True
    got = scrape(daemon)
    assert got["vigil_service_restarts_total", (("service", "crashy"),)] == 2  # the policy's
    assert got["vigil_service_restarts_total", (("service", "ok"),)] == 1  # a manual one
    ok, broken = (("service", "ok"),), (("service", "broken"),)
    assert got["vigil_health_status", (("service", "ok"), ("status", "healthy"))] == 1
    assert got["vigil_health_status", (("service", "broken"), ("status", "unhealthy"))] == 1
    assert got["vigil_probes_total", (("result", "pass"), ("service", "ok"))] >= 1
    errors = got["vigil_probes_total", (("result", "error"), ("service", "broken"))]
    assert errors >= 1
    assert got["vigil_health_failing_streak", broken] >= 1
    assert got["vigil_probe_duration_seconds_count", ok] >= 1
    assert got["engine_daemon_health_checks_failed_total", ()] >= errors
    assert got["engine_daemon_health_checks_total", ()] >= (
        got["vigil_probe_duration_seconds_count", ok]
        + got["vigil_probe_duration_seconds_count", broken])
