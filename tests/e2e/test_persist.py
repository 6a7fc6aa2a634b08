"""End to end: what survives a restart of the real daemon on the same state directory.

A clean restart keeps every service (``run -d`` ones too), its ID, the user's stop and its
old logs; after ``kill -9`` the next daemon stops the old processes with their stop signal
before starting anything, so exactly one copy of each service runs (counted by a unique
argv marker in /proc); a second daemon on the same directory is refused. Waits go through
the daemon's ``wait`` route, bounded; nothing sleeps.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.linux.contain import find_tagged_processes
from vigil.linux.process import reap_orphans
from vigil.linux.tree import is_alive

pytestmark = pytest.mark.slow
Daemon = Any  # tests/e2e/conftest.py's Daemon
Factory = Callable[[str], Daemon]
LONG = "20s"  # bound on any single wait
KILL9_WAIT_S = 20.0


class Services:
    """Commands whose every process is found by a marker argument, and whose main process
    writes ``<name>.term`` when it gets SIGTERM, then exits 0."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.run_id = uuid.uuid4().hex[:8]

    def marker(self, name: str) -> str:
        return f"vigil-persist-{name}-{self.run_id}"

    def command(self, name: str) -> list[str]:
        script = (f"echo up $$; trap 'echo term >> {self.tmp}/{name}.term; exit 0' TERM; "
                  "sleep 1000 & wait")
        return ["sh", "-c", script, self.marker(name)]

    def yaml(self, *names: str) -> str:
        lines = ["services:"]
        for name in names:
            args = ", ".join(f'"{arg}"' for arg in self.command(name))
            lines += [f"  {name}:", f"    command: [{args}]"]
        return "\n".join(lines) + "\n"

    def copies(self, name: str) -> list[int]:
        """Live processes whose argv holds the service's marker (zombies have none)."""
        marker = self.marker(name).encode()
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    cmdline = Path(entry.path, "cmdline").read_bytes()
                except OSError:
                    continue
                if marker in cmdline.split(b"\0"):
                    found.append(int(entry.name))
        return found

    def terms(self, name: str) -> str:
        path = self.tmp / f"{name}.term"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    made = Services(tmp_path)
    yield made
    for name in ("web", "idle", "job"):  # a failed test must not leave sleepers behind
        for pid in made.copies(name):
            os.killpg(pid, signal.SIGKILL)
    reap_orphans()


def token_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [token] = [v[len(b"VIGIL_SERVICE_ID="):] for v in environ if v.startswith(b"VIGIL_SERVICE_ID=")]
    return token.decode()


def ids(daemon: Daemon, *names: str) -> dict[str, str]:
    return {name: str(daemon.client.inspect(name)["Id"]) for name in names}


def state(daemon: Daemon, name: str) -> dict[str, Any]:
    shown = daemon.client.inspect(name)["State"]
    assert isinstance(shown, dict)
    return shown


def running(daemon: Daemon, *names: str) -> None:
    for name in names:
        assert daemon.client.wait(name, "running", timeout=LONG)["Met"] is True, name


def test_a_clean_restart_keeps_services_ids_intent_and_logs(
    daemon_factory: Factory, services: Services, tmp_path: Path
) -> None:
    """After ``vigil down``-like SIGTERM and ``vigil up`` again: the file's services and the
    ``run -d`` ones are back with their IDs; the stopped one stays stopped; an
    ``unless-stopped`` one runs again, a ``no`` one is back exited; old log lines show;
    ``rm`` removes the service's directory."""
    config = services.yaml("web", "idle")
    first = daemon_factory(config)
    first.client.create("job", {"command": services.command("job"), "restart": "unless-stopped"})
    first.client.start("job")
    first.client.create("once", {"command": ["sh", "-c", "echo once-ran"]})
    first.client.start("once")
    running(first, "web", "idle", "job")
    assert first.client.wait("once", "exited", timeout=LONG)["Met"] is True
    first.client.stop("idle")
    before = ids(first, "web", "idle", "job", "once")
    old_web_pid = state(first, "web")["Pid"]
    assert first.terminate()

    second = daemon_factory(config)
    assert ids(second, "web", "idle", "job", "once") == before
    running(second, "web", "job")
    assert state(second, "idle")["Status"] == "exited"
    assert state(second, "once")["Status"] == "exited"
    assert "".join(second.client.logs("once")) == "once-ran\n"
    assert f"up {old_web_pid}\n" in list(second.client.logs("web"))
    assert [len(services.copies(name)) for name in ("web", "idle", "job")] == [1, 0, 1]

    second.client.remove("once")
    second.client.remove("job", force=True)
    for name in ("once", "job"):
        assert not (tmp_path / "state" / "services" / before[name]).exists()
    assert (tmp_path / "state" / "services" / before["web"]).is_dir()


def test_after_kill_9_the_next_daemon_stops_the_leftovers_first(
    daemon_factory: Factory, services: Services, wait_gone: Callable[[int, float], bool]
) -> None:
    """kill -9 leaves the services running; the next ``vigil up`` sends each old main process
    its stop signal (the trap writes one ``term``), kills the rest of the old run, then
    starts the services: exactly one copy of each, with new pids."""
    config = services.yaml("web")
    first = daemon_factory(config)
    first.client.create("job", {"command": services.command("job"), "restart": "always"})
    first.client.start("job")
    running(first, "web", "job")
    old = {name: int(state(first, name)["Pid"]) for name in ("web", "job")}
    tokens = {name: token_of(pid) for name, pid in old.items()}
    os.kill(first.pid, signal.SIGKILL)
    assert wait_gone(first.pid, KILL9_WAIT_S)
    first.stopped = True
    assert {name: services.copies(name) for name in old} == {n: [p] for n, p in old.items()}

    second = daemon_factory(config)
    running(second, "web", "job")
    for name, pid in old.items():
        assert services.terms(name) == "term\n", name  # the old one, by its stop signal
        assert find_tagged_processes(tokens[name]) == []  # its child `sleep` too
        assert not is_alive(pid)  # gone (or a zombie of its new parent)
        assert services.copies(name) == [int(state(second, name)["Pid"])]
        assert state(second, name)["Pid"] != pid


def test_a_second_daemon_on_the_same_state_directory_is_refused(
    daemon_factory: Factory, services: Services, tmp_path: Path
) -> None:
    """One clear line naming the directory and the daemon that holds it; exit status 1."""
    first = daemon_factory(services.yaml("web"))
    env = {**os.environ, "VIGIL_HOST": f"unix://{tmp_path}/other.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "up", "-f", str(tmp_path / "vigil.yaml"),
         "--state-dir", str(tmp_path / "state")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: state directory {tmp_path / 'state'} is in use by another vigil daemon "
        f"(pid {first.pid}); stop it first or pass another --state-dir"]
    assert first.client.ping() == "OK"


def test_after_kill_9_the_next_daemon_kills_the_probes_it_left(
    daemon_factory: Factory, services: Services, tmp_path: Path,
    wait_gone: Callable[[int, float], bool],
) -> None:
    """A probe in flight when the daemon is killed (here one whose command escaped into a
    session of its own) lives in the dead daemon's cgroup; the next daemon kills it."""
    from vigil.linux import contain

    if contain.parent_path() is None:
        pytest.skip("no writable cgroup here: probe jails of a killed daemon are not kept")
    marker = services.marker("probe")
    fifo = tmp_path / "probe-started"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the probe says when it runs
    probe = f"setsid sh -c 'echo started > {fifo}; sleep 1000; :' {marker} & sleep 1000"
    config = services.yaml("web") + (
        "    healthcheck:\n"
        f"      test: [\"CMD-SHELL\", \"{probe}\"]\n"
        "      interval: 1s\n      timeout: 5m\n"
    )
    first = daemon_factory(config)
    running(first, "web")
    try:
        ready, _, _ = select.select([reader], [], [], KILL9_WAIT_S)
    finally:
        os.close(reader)
    assert ready, "the probe did not start"
    os.kill(first.pid, signal.SIGKILL)
    assert wait_gone(first.pid, KILL9_WAIT_S)
    first.stopped = True
    assert services.copies("probe")  # a kill -9 leaves it running

    second = daemon_factory(services.yaml("web"))
    running(second, "web")
    assert services.copies("probe") == []
