"""End to end: the real daemon on a unix socket, driven through the API client.

Waits are event-driven (the daemon's ``wait`` route and event replays), never sleeps; each
wait is bounded by a generous timeout so a broken daemon fails the test instead of hanging.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
Daemon = Any  # tests/e2e/conftest.py's Daemon: host, pid, client, events()
Factory = Callable[[str], Daemon]
LONG = "20s"  # bound on any single wait


def actions(daemon: Daemon, name: str) -> list[str]:
    return [
        str(e["Action"]) for e in daemon.events(service=[name])
        if e["Action"] != "health_probe"
    ]


def health(daemon: Daemon, name: str) -> dict[str, object]:
    state = daemon.client.inspect(name)["State"]
    assert isinstance(state, dict)
    shown = state.get("Health")
    assert isinstance(shown, dict)
    return shown


def test_health_walks_starting_healthy_unhealthy_healthy(daemon_factory: Factory,
                                                         tmp_path: Path) -> None:
    """A scripted probe (a flag file) walks the status through every state, one event each."""
    flag = tmp_path / "ok"
    flag.touch()
    daemon = daemon_factory(f"""
services:
  flappy:
    healthcheck:
      test: ["CMD", "test", "-f", "{flag}"]
      interval: 20ms
      retries: 2
""")
    assert daemon.client.wait("flappy", "healthy", timeout=LONG)["Met"] is True
    mark = time.time()
    flag.unlink()
    assert daemon.next_event("flappy", "health_status: unhealthy", mark) is not None
    reply = daemon.client.wait("flappy", "healthy", timeout=LONG)
    assert reply["Error"] == "service flappy is unhealthy"  # compose gives up on unhealthy
    assert health(daemon, "flappy")["FailingStreak"] >= 2
    mark = time.time()
    flag.touch()
    assert daemon.next_event("flappy", "health_status: healthy", mark) is not None
    assert [a for a in actions(daemon, "flappy") if a.startswith("health_status")] == [
        "health_status: healthy", "health_status: unhealthy", "health_status: healthy"]
    log = health(daemon, "flappy")["Log"]
    assert isinstance(log, list)
    assert 1 <= len(log) <= 5


def test_start_interval_runs_inside_the_start_period_only(daemon_factory: Factory) -> None:
    """While starting inside the start period probes come every start_interval; once healthy,
    every interval (here: an hour, so no second probe)."""
    daemon = daemon_factory("""
services:
  slowstart:
    healthcheck:
      test: ["CMD-SHELL", "exit 0"]
      interval: 1h
      start_period: 1h
      start_interval: 10ms
""")
    assert daemon.client.wait("slowstart", "healthy", timeout=LONG)["Met"] is True
    probes = [e for e in daemon.events(service=["slowstart"]) if e["Action"] == "health_probe"]
    assert len(probes) == 1  # healthy at the first start-interval probe; next one in 1h


def test_timeout_kills_the_probe_tree_and_keeps_output(daemon_factory: Factory,
                                                       tmp_path: Path) -> None:
    """A probe that outlives its timeout: ExitCode -1, Docker's text with the output, and no
    process of it left."""
    pidfile = tmp_path / "pids"
    daemon = daemon_factory(f"""
services:
  stuck:
    healthcheck:
      test: ["CMD-SHELL", "trap '' TERM; sleep 1000 & echo $! >> {pidfile}; echo started; wait"]
      interval: 10ms
      timeout: 200ms
      retries: 1
""")
    reply = daemon.client.wait("stuck", "healthy", timeout=LONG)
    assert reply["Error"] == "service stuck is unhealthy"
    entry = health(daemon, "stuck")["Log"][0]  # type: ignore[index]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (200ms): started\n"
    daemon.client.stop("stuck")
    first = int(pidfile.read_text().split()[0])
    assert not Path(f"/proc/{first}").exists()


def test_stop_pause_unpause_restart_and_kill_drive_health(daemon_factory: Factory) -> None:
    """Docker's lifecycle effects: stop/pause → unhealthy silently; start/restart → starting."""
    daemon = daemon_factory("""
services:
  sleeper:
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 20ms
""")
    c = daemon.client
    assert c.wait("sleeper", "healthy", timeout=LONG)["Met"] is True
    c.pause("sleeper")
    assert daemon.client.inspect("sleeper")["State"]["Status"] == "paused"
    assert health(daemon, "sleeper")["Status"] == "unhealthy"
    mark = time.time()
    c.unpause("sleeper")  # stays unhealthy until the next probe, one interval later
    assert daemon.next_event("sleeper", "health_status: healthy", mark) is not None
    c.restart("sleeper", t=1)
    assert c.wait("sleeper", "healthy", timeout=LONG)["Met"] is True
    c.kill("sleeper")
    assert c.wait("sleeper", "exited", timeout=LONG)["Met"] is True
    state = c.inspect("sleeper")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    assert state["Health"]["Status"] == "unhealthy"
    flow = actions(daemon, "sleeper")
    statuses = [a for a in flow if a.startswith("health_status")]
    assert statuses.count("health_status: unhealthy") == 0  # the silent transitions
    assert flow[:2] == ["create", "start"]
    assert {"pause", "unpause", "restart"} <= set(flow)
    assert flow[-2:] == ["kill", "die"]


def test_on_failure_restarts_with_back_off_then_gives_up(daemon_factory: Factory) -> None:
    """restart: on-failure:2 restarts a failing process twice, then leaves it exited."""
    daemon = daemon_factory("""
services:
  crashy:
    command: ["sh", "-c", "exit 3"]
    restart: on-failure:2
""")
    c = daemon.client
    for _ in range(3):
        if c.inspect("crashy")["RestartCount"] == 2 and \
                c.inspect("crashy")["State"]["Status"] == "exited":
            break
        c.wait("crashy", "exited", timeout=LONG)
    state = c.inspect("crashy")
    assert state["RestartCount"] == 2
    assert state["State"]["ExitCode"] == 3
    assert actions(daemon, "crashy").count("die") >= 2


def test_depends_on_service_healthy_orders_start(daemon_factory: Factory,
                                                 tmp_path: Path) -> None:
    """app starts only after db reports healthy."""
    daemon = daemon_factory("""
services:
  app:
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_healthy}
  db:
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 30ms
""")
    assert daemon.client.wait("app", "running", timeout=LONG)["Met"] is True
    flow = [(e["Action"], e["Actor"]["Attributes"]["name"])  # type: ignore[index]
            for e in daemon.events() if e["Action"] != "health_probe"]
    assert flow.index(("health_status: healthy", "db")) < flow.index(("start", "app"))


def test_api_validation_errors_are_dockers(daemon_factory: Factory) -> None:
    """Bad input answers 400 with a one-line message naming the field and value."""
    from vigil.exceptions import ApiError

    daemon = daemon_factory("services: {}\n")
    with pytest.raises(ApiError) as bad:
        daemon.client.list_services(filters={"health": ["sick"]})
    assert bad.value.status == 400
    assert bad.value.message == ("invalid filter 'health=sick': invalid value for health (sick): "
                                 "must be one of none, starting, healthy, unhealthy")
    with pytest.raises(ApiError) as bad:
        daemon.client.create("xx", {"healthcheck": {"test": "true", "interval": "0.1ms"}})
    assert "Interval in Healthcheck cannot be less than 1ms" in bad.value.message
    with pytest.raises(ApiError) as missing:
        daemon.client.inspect("nope")
    assert (missing.value.status, missing.value.message) == (404, "No such service: nope")


def test_down_leaves_no_process_behind(daemon_factory: Factory, tmp_path: Path) -> None:
    """A service that forks a setsid'd grandchild ignoring SIGTERM leaves nothing on down."""
    pidfile = tmp_path / "grandchild"
    script = (f"setsid sh -c 'trap \"\" TERM; echo $$ > {pidfile}; exec sleep 1000' & "
              "trap '' TERM; sleep 1000")
    daemon = daemon_factory(f"""
services:
  forker:
    command: ["sh", "-c", "{script.replace('"', chr(92) + '"')}"]
    stop_grace_period: 200ms
""")
    assert daemon.client.wait("forker", "running", timeout=LONG)["Met"] is True
    for _ in range(1000):  # the grandchild writes its pid right after the fork
        if pidfile.exists() and pidfile.read_text().strip():
            break
        os.sched_yield()
    grandchild = int(pidfile.read_text())
    assert Path(f"/proc/{grandchild}").exists()
    daemon.client.stop("forker")
    assert not Path(f"/proc/{grandchild}").exists()


def test_sigterm_stops_every_service_and_leaves_no_orphan(daemon_factory: Factory,
                                                          tmp_path: Path) -> None:
    """SIGTERM to the daemon stops its services, escaped descendants included, then exits."""
    pidfile = tmp_path / "grandchild"
    script = (f"setsid sh -c 'trap \\\"\\\" TERM; echo $$ > {pidfile}; exec sleep 1000' & "
              "exec sleep 1000")
    daemon = daemon_factory(f"""
services:
  forker:
    command: ["sh", "-c", "{script}"]
    stop_grace_period: 200ms
  plain:
    command: ["sleep", "1000"]
    depends_on: [forker]
""")
    assert daemon.client.wait("plain", "running", timeout=LONG)["Met"] is True
    for _ in range(1000):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        os.sched_yield()
    grandchild = int(pidfile.read_text())
    mains = [daemon.client.inspect(n)["State"]["Pid"] for n in ("forker", "plain")]
    assert daemon.terminate()
    for pid in [grandchild, *mains]:
        assert not Path(f"/proc/{pid}").exists(), pid
