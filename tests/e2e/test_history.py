"""End to end: history in the real daemon's SQLite store (``<state dir>/vigil.db``).

A restart brings back each service's Log and health from the store (then ``starting``, as
the newest Docker), ``vigil history`` and ``/events --since`` reach back past the restart,
and ``kill -9`` in the middle of writing never corrupts the store nor loses more than
about a second of results. Waits are bounded reads of the daemon's event stream or its
``wait`` route; nothing sleeps.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vigil.cli.main import cli

pytestmark = pytest.mark.slow
Daemon = Any  # tests/e2e/conftest.py's Daemon
Factory = Callable[[str], Daemon]
WAIT_S = 30.0  # bound on any single wait
LOST_AT_MOST_NS = 1_000_000_000  # what a kill -9 may cost: the writer's last second
KILLS = 20


def _config(interval: str, services: int = 1) -> str:
    lines = ["services:"]
    for n in range(services):
        lines += [f"  svc{n}:", "    healthcheck:", '      test: ["CMD", "true"]',
                  f"      interval: {interval}"]
    return "\n".join(lines) + "\n"


def _probes(daemon: Daemon, count: int, since: float) -> list[dict[str, Any]]:
    """The first ``count`` health_probe events at or after ``since``, read live (bounded)."""
    until = f"{time.time() + WAIT_S:.9f}"
    seen = []
    for event in daemon.client.events(since=f"{since:.9f}", until=until,
                                      filters={"event": ["health_probe"]}):
        seen.append(event)
        if len(seen) >= count:
            break
    assert len(seen) >= count, f"only {len(seen)} probes in {WAIT_S} s"
    return seen


def test_a_restart_restores_log_and_health_and_history_reaches_back(
    daemon_factory: Factory, tmp_path: Path
) -> None:
    start = time.time()
    first = daemon_factory(_config("50ms"))
    _probes(first, 7, start)
    assert first.client.wait("svc0", "healthy", timeout="20s")["Met"]
    first_id = first.client.inspect("svc0")["Id"]
    assert first.terminate()
    first.client.close()

    second = daemon_factory(_config("1h"))  # no new result for an hour: the Log is the old one
    found = second.client.inspect("svc0")
    assert found["Id"] == first_id
    health = found["State"]["Health"]
    assert health["Status"] == "starting"  # Docker re-initialises the monitor on restore
    assert health["FailingStreak"] == 0
    entries = second.client.history("svc0")
    assert len(entries) >= 7
    assert health["Log"] == [
        {key: entry[key] for key in ("Start", "End", "ExitCode", "Output")}
        for entry in entries[-5:]
    ]
    assert all(entry["Outcome"] == "pass" and entry["Duration"] > 0 for entry in entries)

    replayed = second.events(service=["svc0"])
    actions = [event["Action"] for event in replayed]
    assert actions.count("create") == 2  # one per daemon: the replay reaches back
    assert "health_status: healthy" in actions[: actions.index("create", 1)]
    times = [event["timeNano"] for event in replayed]
    assert times == sorted(times)

    runner = CliRunner()
    env = {"VIGIL_HOST": second.host}
    table = runner.invoke(cli, ["history", "svc0", "--limit", "3"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["START", "DURATION", "EXIT", "CODE", "OUTCOME", "STATUS",
                                "OUTPUT"]
    assert len(lines) == 4
    assert all(" pass " in line for line in lines[1:])
    bad = runner.invoke(cli, ["history", "svc0", "--since", "yesterday"], env=env)
    assert bad.exit_code == 1
    assert "yesterday" in bad.output


def test_kill_9_mid_write_never_corrupts_and_loses_at_most_a_second(
    daemon_factory: Factory, tmp_path: Path, wait_gone: Callable[[int, float], bool]
) -> None:
    database = tmp_path / "state" / "vigil.db"
    for kill in range(KILLS):
        start = time.time()
        daemon = daemon_factory(_config("40ms", services=5))
        seen = _probes(daemon, 25, start)
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.stopped = wait_gone(daemon.pid, WAIT_S)
        assert daemon.stopped
        daemon.client.close()
        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", kill
            newest = db.execute("SELECT max(time_ns) FROM results").fetchone()[0]
        last_seen = max(int(event["timeNano"]) for event in seen)
        assert newest is not None
        assert last_seen - newest <= LOST_AT_MOST_NS, (kill, (last_seen - newest) / 1e9)
    final = daemon_factory(_config("1h", services=5))  # takes over and stops what is left
    assert len(final.client.history("svc0", limit=10_000)) >= KILLS  # all kept, readable


def test_an_ephemeral_daemon_keeps_history_in_memory_only(
    daemon_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_STORE", "memory")  # what `vigil up --ephemeral` passes on
    start = time.time()
    first = daemon_factory(_config("50ms"))
    _probes(first, 3, start)
    assert first.client.info()["Store"] == {"Driver": "memory", "Location": "",
                                            "Problem": ""}
    assert first.terminate()
    first.client.close()
    second = daemon_factory(_config("1h"))
    assert second.client.history("svc0") == []
    assert second.client.inspect("svc0")["State"]["Health"]["Log"] == []
    assert not (tmp_path / "state" / "vigil.db").exists()
