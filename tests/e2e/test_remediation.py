"""End to end: ``on_unhealthy`` and ``hooks`` in the real daemon (``vigil up`` on a unix
socket). Waits are for events (replays bounded by ``until``), never sleeps."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
Daemon = Any  # tests/e2e/conftest.py's Daemon
Factory = Callable[[str], Daemon]
LONG = "20s"


def attributes(event: dict[str, Any]) -> dict[str, str]:
    return dict(event["Actor"]["Attributes"])


def of(daemon: Daemon, name: str, action: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events(service=[name]) if e["Action"] == action]


def vigil_events(daemon: Daemon, *filters: str) -> list[str]:
    """``vigil events`` from the epoch until now, as the CLI prints them."""
    args = [arg for f in filters for arg in ("--filter", f)]
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "events", "--since", "0",
         "--until", f"{time.time():.9f}", *args],
        env={**os.environ, "VIGIL_HOST": daemon.host}, capture_output=True, text=True,
        timeout=60, check=True)
    return done.stdout.splitlines()


def test_restart_brings_a_broken_service_back(daemon_factory: Factory, tmp_path: Path) -> None:
    """Its health needs a file its command creates on start: removing the file makes it
    unhealthy, the restart recreates it and health comes back through starting."""
    flag = tmp_path / "ready"
    daemon = daemon_factory(f"""
services:
  app:
    command: ["sh", "-c", "touch {flag}; exec sleep 1000"]
    healthcheck: {{test: ["CMD", "test", "-f", "{flag}"], interval: 50ms, retries: 3}}
    on_unhealthy: restart
""")
    c = daemon.client
    assert c.wait("app", "healthy", timeout=LONG)["Met"] is True
    pid = c.inspect("app")["State"]["Pid"]
    mark = time.time()
    flag.unlink()
    remediated = daemon.next_event("app", "remediate", mark)
    assert remediated is not None
    assert attributes(remediated) == {"action": "restart", "attempt": "1", "name": "app",
                                      "reason": "unhealthy (FailingStreak 3)"}
    assert daemon.next_event("app", "health_status: healthy", mark) is not None
    assert c.inspect("app")["State"]["Pid"] != pid
    flow = [e["Action"] for e in daemon.events(service=["app"])
            if e["Action"] != "health_probe" and e["timeNano"] >= mark * 1e9]
    assert flow == ["health_status: unhealthy", "remediate", "kill", "die", "stop", "start",
                    "restart", "health_status: healthy"]


def test_backoff_and_max_restarts_end_in_remediation_exhausted(daemon_factory: Factory) -> None:
    """Never healthy: two restarts at least the back-off apart, then one
    ``remediation_exhausted`` (seen with ``vigil events``) and no more restarts."""
    daemon = daemon_factory("""
services:
  broken:
    command: ["sleep", "1000"]
    healthcheck: {test: ["CMD", "false"], interval: 30ms, retries: 1}
    on_unhealthy: {action: restart, max_restarts: 2, window: 1h, backoff: 300ms}
""")
    assert daemon.next_event("broken", "remediation_exhausted", 0) is not None
    lines = vigil_events(daemon, "event=remediation_exhausted")
    assert len(lines) == 1
    assert "service remediation_exhausted" in lines[0]
    assert "action=restart, attempts=2, name=broken" in lines[0]
    assert "reason=max_restarts (2) within 1h0m0s reached" in lines[0]
    # Later probes still fail; none of them brings another restart within the hour.
    probes = len(of(daemon, "broken", "health_probe"))
    for _ in range(5):
        assert daemon.next_event("broken", "health_probe", time.time()) is not None
    assert len(of(daemon, "broken", "health_probe")) >= probes + 5
    restarts = of(daemon, "broken", "remediate")
    assert [attributes(e)["attempt"] for e in restarts] == ["1", "2"]
    assert restarts[1]["timeNano"] - restarts[0]["timeNano"] >= 300_000_000
    assert len(of(daemon, "broken", "remediation_exhausted")) == 1


def test_a_paused_service_is_left_alone(daemon_factory: Factory, tmp_path: Path) -> None:
    """Two services fail the same way; one is paused during its back-off. The other one's
    second restart comes; the paused one gets none and stays paused."""
    config = "services:\n"
    for name in ("frozen", "sentinel"):
        config += f"""
  {name}:
    command: ["sleep", "1000"]
    healthcheck: {{test: ["CMD", "test", "-f", "{tmp_path / name}"], interval: 30ms,
                  retries: 1}}
    on_unhealthy: {{action: restart, backoff: 3s}}
"""
        (tmp_path / name).touch()
    daemon = daemon_factory(config)
    c = daemon.client
    for name in ("frozen", "sentinel"):
        assert c.wait(name, "healthy", timeout=LONG)["Met"] is True
    mark = time.time()
    for name in ("frozen", "sentinel"):
        (tmp_path / name).unlink()
    first = daemon.next_event("frozen", "remediate", mark)
    assert first is not None
    after = first["timeNano"] / 1e9  # unhealthy again after the restart: the back-off runs
    assert daemon.next_event("frozen", "health_status: unhealthy", after) is not None
    c.pause("frozen")
    while len(of(daemon, "sentinel", "remediate")) < 2:
        assert daemon.next_event("sentinel", "remediate", time.time()) is not None
    assert len(of(daemon, "frozen", "remediate")) == 1
    assert c.inspect("frozen")["State"]["Status"] == "paused"


def test_kill_lets_the_restart_policy_bring_it_back(daemon_factory: Factory,
                                                    tmp_path: Path) -> None:
    """``kill`` is a crash, not a manual stop: SIGKILL, exit 137, and ``restart: always``
    starts it again (RestartCount 1)."""
    flag = tmp_path / "ready"
    daemon = daemon_factory(f"""
services:
  app:
    command: ["sh", "-c", "touch {flag}; exec sleep 1000"]
    restart: always
    healthcheck: {{test: ["CMD", "test", "-f", "{flag}"], interval: 50ms, retries: 3}}
    on_unhealthy: kill
""")
    c = daemon.client
    assert c.wait("app", "healthy", timeout=LONG)["Met"] is True
    mark = time.time()
    flag.unlink()
    assert daemon.next_event("app", "remediate", mark) is not None
    died = daemon.next_event("app", "die", mark)
    assert died is not None
    assert attributes(died)["exitCode"] == "137"
    assert daemon.next_event("app", "health_status: healthy", mark) is not None
    assert c.inspect("app")["RestartCount"] == 1


def test_hooks_see_the_change_in_their_environment(daemon_factory: Factory,
                                                   tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    out = tmp_path / "hook"
    daemon = daemon_factory(f"""
services:
  watched:
    environment: {{MODE: prod}}
    healthcheck: {{test: ["CMD-SHELL", "cat {flag}"], interval: 30ms, retries: 1}}
    hooks:
      on_unhealthy: ["CMD-SHELL", "env | grep -E '^(VIGIL_|MODE=)' > {out}.$VIGIL_STATUS"]
      timeout: 5s
""")
    c = daemon.client
    service_id = c.inspect("watched")["Id"]
    ran = daemon.next_event("watched", "hook", 0)
    assert ran is not None
    assert attributes(ran)["hook"] == "on_unhealthy"
    assert attributes(ran)["exitCode"] == "0"
    lines = (tmp_path / "hook.unhealthy").read_text().splitlines()
    seen = dict(line.split("=", 1) for line in lines if "=" in line)  # the output ends in \n
    assert seen.pop("VIGIL_TIME").endswith("Z")
    assert seen.pop("VIGIL_OUTPUT").startswith("cat: ")
    assert seen == {
        "MODE": "prod",
        "VIGIL_SERVICE": "watched",
        "VIGIL_SERVICE_ID": service_id,
        "VIGIL_STATUS": "unhealthy",
        "VIGIL_PREVIOUS_STATUS": "starting",
        "VIGIL_EXIT_CODE": "1",
        "VIGIL_FAILING_STREAK": "1",
    }
