"""One real daemon per test module, started with ``vigil up -d`` on a temporary unix socket."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.client import Client

STOP_TIMEOUT_S = 20.0


@dataclass
class Daemon:
    host: str
    pid: int
    client: Client
    workdir: Path
    stopped: bool = False

    def terminate(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM the daemon and wait (bounded) until it is gone."""
        os.kill(self.pid, signal.SIGTERM)
        self.stopped = _wait_gone(self.pid, timeout_s)
        return self.stopped

    def events(self, **filters: list[str]) -> list[dict[str, object]]:
        """Every event so far (replay from the epoch up to now)."""
        now = f"{time.time():.9f}"  # "0s" would be truncated to the second, as Docker does
        return list(self.client.events(since="0", until=now, filters=filters or None))

    def next_event(self, service: str, action: str, since: float,
                   timeout_s: float = 20.0) -> dict[str, object] | None:
        """The first ``action`` event of ``service`` at or after ``since`` (Unix seconds),
        waiting for it at most ``timeout_s`` (the stream's ``until``)."""
        until = f"{time.time() + timeout_s:.9f}"
        stream = self.client.events(since=f"{since:.9f}", until=until,
                                    filters={"service": [service], "event": [action]})
        for event in stream:
            if event["Action"] == action:
                return event
        return None


def _wait_gone(pid: int, timeout_s: float) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        return bool(readable)
    finally:
        os.close(fd)


def start_daemon(tmp: Path, config: str) -> Daemon:
    (tmp / "vigil.yaml").write_text(config)
    host = f"unix://{tmp}/vigil.sock"
    env = {**os.environ, "VIGIL_HOST": host}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "up", "-d", "-f", str(tmp / "vigil.yaml"),
         "--state-dir", str(tmp / "state")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    log = tmp / "state" / "vigil.log"
    assert done.returncode == 0, done.stderr + (log.read_text() if log.exists() else "")
    client = Client(host)
    return Daemon(host, int(client.version()["Pid"]), client, tmp)


def stop_daemon(daemon: Daemon) -> None:
    if daemon.stopped:
        daemon.client.close()
        return
    try:
        daemon.client.down()
    finally:
        daemon.client.close()
        if not _wait_gone(daemon.pid, STOP_TIMEOUT_S):
            os.kill(daemon.pid, signal.SIGKILL)
            _wait_gone(daemon.pid, 5)
            pytest.fail("the daemon did not stop on `vigil down`")


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Daemon] = []

    def factory(config: str) -> Daemon:
        daemon = start_daemon(tmp_path, config)
        started.append(daemon)
        return daemon

    yield factory
    for daemon in started:
        stop_daemon(daemon)


@pytest.fixture
def wait_gone() -> Callable[[int, float], bool]:
    """``wait_gone(pid, timeout_s)``: True once the process has ended (pidfd, no polling)."""
    return _wait_gone
