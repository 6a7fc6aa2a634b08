"""Fleet end-to-end helpers: ``vigil up -d`` agents as separate processes, and an HTTP target
on loopback that records which agent process sent each probe.

The target learns the prober from the kernel, not from anything the agent says: while a
request's connection is open it finds the client socket's inode in /proc/net/tcp and the
agent process holding it in /proc/PID/fd. Every wait is bounded.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.e2e.conftest import _wait_gone as wait_gone

from vigil.client import Client

STOP_TIMEOUT_S = 20.0
WAIT_S = 60.0  # generous: never reached when things work


@dataclass
class Agent:
    node: str
    host: str
    pid: int
    client: Client
    workdir: Path
    alive: bool = True

    def log(self) -> str:
        path = self.workdir / "state" / "vigil.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        assert wait_gone(self.pid, STOP_TIMEOUT_S)
        self.alive = False
        self.client.close()

    def stop(self) -> None:
        """``vigil down``, bounded; SIGKILL by PID if it does not end."""
        if not self.alive:
            return
        self.alive = False
        try:
            self.client.down()
        finally:
            self.client.close()
            if not wait_gone(self.pid, STOP_TIMEOUT_S):
                os.kill(self.pid, signal.SIGKILL)
                wait_gone(self.pid, 5)
                raise AssertionError(f"agent {self.node} did not stop on `vigil down`")


def start_agent(workdir: Path, config: str, *, node: str, fleet_url: str,
                lease_ttl: str) -> Agent:
    """``vigil up -d --fleet URL --node NODE --lease-ttl TTL --ephemeral`` in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "vigil.yaml").write_text(config)
    host = f"unix://{workdir}/vigil.sock"
    env = {**os.environ, "VIGIL_HOST": host, "VIGIL_FLEET": fleet_url}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "up", "-d", "-f", str(workdir / "vigil.yaml"),
         "--state-dir", str(workdir / "state"), "--node", node, "--lease-ttl", lease_ttl,
         "--ephemeral"],
        env=env, capture_output=True, text=True, timeout=90, check=False,
    )
    log = workdir / "state" / "vigil.log"
    assert done.returncode == 0, done.stderr + (log.read_text() if log.exists() else "")
    client = Client(host)
    return Agent(node, host, int(client.version()["Pid"]), client, workdir)


def _inode_of_local_port(port: int) -> str | None:
    wanted = f"0100007F:{port:04X}"
    for table in ("/proc/net/tcp",):
        with open(table) as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] == wanted:
                    return parts[9]
    return None


def _holder(inode: str, pids: list[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


@dataclass
class Probe:
    at: float  # time.monotonic() when the request arrived
    check: str
    pid: int | None


@dataclass
class ProbeTarget:
    """An HTTP server on 127.0.0.1: ``GET /<check>`` answers 200 and is recorded with the
    prober's PID (one of ``pids()``)."""

    pids: Callable[[], list[int]]
    probes: list[Probe] = field(default_factory=list)

    def __post_init__(self) -> None:
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                arrived = time.monotonic()
                inode = _inode_of_local_port(self.client_address[1])
                pid = _holder(inode, target.pids()) if inode else None
                with target._lock:
                    target.probes.append(Probe(arrived, self.path.strip("/"), pid))
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the agent gave the probe up (stopped probing): fine
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def url(self, check: str) -> str:
        return f"http://127.0.0.1:{self.port}/{check}"

    def snapshot(self) -> list[Probe]:
        with self._lock:
            return list(self.probes)

    def probers_since(self, since: float) -> dict[str, set[int | None]]:
        """Which processes probed each check since ``since`` (monotonic)."""
        seen: dict[str, set[int | None]] = {}
        for probe in self.snapshot():
            if probe.at >= since:
                seen.setdefault(probe.check, set()).add(probe.pid)
        return seen

    def wait_until(self, condition: Callable[[], bool], what: str,
                   timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
            time.sleep(0.05)


def max_overlap(probes: list[Probe], active_s: float) -> dict[str, float]:
    """Per check, the longest stretch during which two processes were both probing it. A
    process counts as probing for ``active_s`` after each of its probes (say 1.5 intervals),
    so a clean hand-over shows at most ``active_s`` and a double prober the whole time."""
    result: dict[str, float] = {}
    spans: dict[str, dict[int | None, list[list[float]]]] = {}
    for probe in sorted(probes, key=lambda p: p.at):
        runs = spans.setdefault(probe.check, {}).setdefault(probe.pid, [])
        if runs and probe.at <= runs[-1][1]:
            runs[-1][1] = probe.at + active_s
        else:
            runs.append([probe.at, probe.at + active_s])
    for check, by_pid in spans.items():
        worst = 0.0
        for a, b in itertools.combinations(by_pid.values(), 2):
            for start_a, end_a in a:
                for start_b, end_b in b:
                    worst = max(worst, min(end_a, end_b) - max(start_a, start_b))
        result[check] = worst
    return result


def max_gap(probes: list[Probe], since: float, until: float) -> dict[str, float]:
    """Per check, the longest time without any probe between ``since`` and ``until``."""
    result: dict[str, float] = {}
    by_check: dict[str, list[float]] = {}
    for probe in probes:
        if since <= probe.at <= until:
            by_check.setdefault(probe.check, []).append(probe.at)
    for check, times in by_check.items():
        times = [since, *sorted(times), until]
        result[check] = max(b - a for a, b in itertools.pairwise(times))
    return result
