"""End to end: network checks through `vigil up`, the API and `vigil run`, against a real
HTTP server that the daemon itself supervises (python -m http.server on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.probes.netservers import closed_port

pytestmark = pytest.mark.slow
Daemon = Any
Factory = Callable[[str], Daemon]
LONG = "30s"


def test_http_and_tcp_checks_through_vigil_up_the_api_and_vigil_run(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    port = closed_port()  # free now; the supervised server takes it
    site = tmp_path / "site"
    site.mkdir()
    (site / "ready.txt").write_text("yes\n")
    daemon = daemon_factory(f"""
services:
  web:
    command: ["{sys.executable}", "-m", "http.server", "{port}", "--bind", "127.0.0.1",
              "--directory", "{site}"]
    healthcheck:
      test: ["HTTP", "http://127.0.0.1:{port}/ready.txt"]
      expect_body: "yes"
      headers: {{X-Probe: vigil}}
      interval: 50ms
      timeout: 5s
      retries: 2
      start_period: 60s
      start_interval: 50ms
  port:
    depends_on:
      web: {{condition: service_healthy}}
    healthcheck:
      test: ["TCP", "127.0.0.1:{port}"]
      interval: 50ms
""")
    client = daemon.client
    assert client.wait("web", "healthy", timeout=LONG)["Met"] is True
    assert client.wait("port", "healthy", timeout=LONG)["Met"] is True
    log = client.inspect("web")["State"]["Health"]["Log"]
    assert log[-1]["ExitCode"] == 0
    assert log[-1]["Output"].startswith("HTTP 200 OK in ")

    # The API's create body takes the same keys as vigil.yaml.
    created = client.create("missing", {"healthcheck": {
        "test": ["HTTP", f"http://127.0.0.1:{port}/nope"], "expect_status": [404],
        "interval": "50ms"}})
    assert created["Id"]
    client.start("missing")
    assert client.wait("missing", "healthy", timeout=LONG)["Met"] is True
    config = client.inspect("missing")["Config"]
    assert config["Healthcheck"] == {"Test": ["HTTP", f"http://127.0.0.1:{port}/nope"],
                                     "Interval": 50_000_000}
    assert config["HealthcheckHTTP"] == {"ExpectStatus": [404]}

    # vigil run --health-tcp, through the CLI.
    env = {**os.environ, "VIGIL_HOST": daemon.host}
    ran = subprocess.run(
        [sys.executable, "-m", "vigil", "run", "-d", "--name", "sleeper", "--health-tcp",
         f"127.0.0.1:{port}", "--health-interval", "50ms", "--", "sleep", "60"],
        env=env, capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    assert client.wait("sleeper", "healthy", timeout=LONG)["Met"] is True
    assert client.inspect("sleeper")["Config"]["Healthcheck"]["Test"] == [
        "TCP", f"127.0.0.1:{port}"]

    # The body rule turns the service unhealthy, with the reason in its log.
    mark = time.time()
    (site / "ready.txt").write_text("no\n")
    assert daemon.next_event("web", "health_status: unhealthy", mark, 30) is not None
    last = client.inspect("web")["State"]["Health"]["Log"][-1]
    assert last["ExitCode"] == 1
    assert last["Output"].endswith(': body does not contain "yes"')


def test_bad_network_checks_are_refused_at_create_naming_the_field(
    daemon_factory: Factory,
) -> None:
    from vigil.exceptions import ApiError

    daemon = daemon_factory("services: {}\n")
    with pytest.raises(ApiError) as bad:
        daemon.client.create(
            "bad", {"healthcheck": {"test": ["TCP", "127.0.0.1"], "method": "GET"}})
    assert bad.value.status == 400
    assert "services.bad.healthcheck.test.1: address 127.0.0.1: missing port in address" in (
        bad.value.message)
    assert "services.bad.healthcheck.method: only for an HTTP test" in bad.value.message
