"""Containment with real processes: every escape kind, for probes and services, on each
backend this machine offers (the others are skipped); 0 survivors, counted by a marker."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.linux import escapes

from vigil.core.config import ServiceConfig
from vigil.core.events import TargetDied
from vigil.core.results import Outcome
from vigil.go.duration import SECOND
from vigil.linux import contain
from vigil.probes.exec import ExecProbe
from vigil.runtime.clock import Cancellable, call_later_by_sleeping
from vigil.targets.logs import ServiceLog
from vigil.targets.supervised import Supervisor
from vigil.testing import FakeClock

KINDS = list(escapes.KINDS)


@pytest.fixture
def marker() -> Iterator[int]:
    """A unique ``sleep`` argument: the processes of this test, and only them."""
    value = random.randrange(900_000_000, 999_999_999)
    yield value
    escapes.kill_survivors(value)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "ready"
    os.mkfifo(path)
    return path


@pytest.fixture
def escapee(tmp_path: Path) -> Path:
    return escapes.write_escapee(tmp_path)


class FifoClock:
    """The probe's timeout fires once the probe wrote its pid into ``fifo`` (every escapee
    then exists); the 30 s start limit never fires. No sleeps."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Cancellable:
        return call_later_by_sleeping(self, delay_ns, callback)  # type: ignore[arg-type]

    def now_ns(self) -> int:
        return 0

    async def sleep_ns(self, duration_ns: int) -> None:
        if duration_ns != SECOND:
            await asyncio.get_running_loop().create_future()  # never
        await read_line(self.fifo)


async def read_line(fifo: Path) -> bytes:
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # never EOF, never blocks the opener
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
        return os.read(fd, 100)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


# -- probes ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_timed_out_probe_leaves_nothing(contain_backend: str, kind: str, subreaper: None,
                                          marker: int, escapee: Path, tmp_path: Path) -> None:
    """The probe times out once its escapee runs: the escapee dies with it."""
    fifo, done = tmp_path / "escaped", tmp_path / "done"
    os.mkfifo(fifo)
    os.mkfifo(done)
    probe = ExecProbe(("CMD-SHELL", escapes.script(
        [kind], escapee, fifo, marker, f"echo $$ > {done}; sleep {marker}")))
    report = asyncio.run(probe.run(timeout_ns=SECOND, clock=FifoClock(done)))
    assert report.outcome is Outcome.TIMEOUT
    assert escapes.settled_survivors(marker) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_probe_that_exits_leaves_nothing(contain_backend: str, kind: str, subreaper: None,
                                           marker: int, escapee: Path, fifo: Path) -> None:
    """A probe that passes with an escapee still running: the escapee is killed at its end."""
    probe = ExecProbe(("CMD-SHELL", escapes.script([kind], escapee, fifo, marker, "exit 0")))
    report = asyncio.run(probe.run(timeout_ns=SECOND, clock=FakeClock()))
    assert report.outcome is Outcome.PASS
    assert escapes.settled_survivors(marker) == []


def test_probes_of_one_target_reuse_one_jail(contain_backend: str) -> None:
    """A jail per probe object, not per run: a run costs a write, not a mkdir."""
    probe = ExecProbe(("CMD", "true"))

    async def twice() -> None:
        for _ in range(2):
            await probe.run(timeout_ns=SECOND, clock=FakeClock())

    before = set(contain._jails)
    asyncio.run(twice())
    assert len(set(contain._jails) - before) == 1


# -- services ----------------------------------------------------------------------------


def run_service(tmp_path: Path, command: str,
                scenario: Callable[[Supervisor, FakeClock, asyncio.Event], Any]) -> None:
    """Run ``scenario(supervisor, clock, died)`` on a service running ``sh -c command`` with
    a 1 s grace period; ``died`` is set when the supervisor reports the exit. Whatever
    happens, the service is closed."""

    async def main() -> None:
        died = asyncio.Event()
        clock = FakeClock()

        def report(event: object) -> None:
            if isinstance(event, TargetDied):
                died.set()

        supervisor = Supervisor(
            ServiceConfig(name="web", command=("sh", "-c", command), stop_grace_period=SECOND),
            clock=clock, log=ServiceLog(tmp_path / "web.log"), report=report)
        try:
            await scenario(supervisor, clock, died)
        finally:
            await supervisor.close(timeout_ns=0)

    asyncio.run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_a_stopped_service_leaves_nothing(contain_backend: str, kind: str, subreaper: None,
                                          marker: int, escapee: Path, fifo: Path,
                                          tmp_path: Path) -> None:
    """Every escapee of a service dies when it is stopped (grace expired: SIGKILL)."""
    done = tmp_path / "done"
    os.mkfifo(done)
    command = escapes.script([kind], escapee, fifo, marker,
                             f"trap '' TERM; echo > {done}; sleep {marker}")

    async def scenario(supervisor: Supervisor, clock: FakeClock, died: asyncio.Event) -> None:
        await supervisor.start()
        await read_line(done)  # the escapee exists
        stopping = asyncio.ensure_future(supervisor.stop())  # SIGTERM: ignored
        await clock.run_for(SECOND)  # the grace period expires: SIGKILL
        await stopping

    run_service(tmp_path, command, scenario)
    assert escapes.swept_survivors(marker) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_service_whose_main_process_exits_leaves_nothing(
        contain_backend: str, kind: str, subreaper: None, marker: int, escapee: Path,
        fifo: Path, tmp_path: Path) -> None:
    """The main process exits on its own: what it left behind is killed (Docker's PID 1)."""
    command = escapes.script([kind], escapee, fifo, marker, "exit 3")

    async def scenario(supervisor: Supervisor, clock: FakeClock, died: asyncio.Event) -> None:
        await supervisor.start()
        await asyncio.wait_for(died.wait(), escapes.SAFETY_S)  # after its escapee announced

    run_service(tmp_path, command, scenario)
    assert escapes.swept_survivors(marker) == []


# -- a killed vigil: the guardian of `vigil check`, and reclaiming a dead daemon's runs ------

DEAD_DAEMON = """
import asyncio, json, sys
from pathlib import Path
from vigil.core.config import ServiceConfig
from vigil.linux import contain
from vigil.probes.exec import ExecProbe
from vigil.runtime.clock import SystemClock
from vigil.targets.logs import ServiceLog
from vigil.targets.supervised import Supervisor

async def main() -> None:
    directory, command, probe_command = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    service = ServiceConfig(name="web", command=("sh", "-c", command),
                            stop_grace_period=10**9, stop_signal="SIGUSR1")
    supervisor = Supervisor(service, clock=SystemClock(), log=ServiceLog(directory / "log"),
                            report=lambda event: None)
    await supervisor.start()
    probe = asyncio.ensure_future(ExecProbe(("CMD-SHELL", probe_command)).run(
        timeout_ns=3600 * 10**9, clock=SystemClock()))
    await asyncio.sleep(0)
    sys.stdin.readline()  # the test says: everything runs
    print(json.dumps({"record": supervisor.run_record(), "parent": contain.parent_path()}),
          flush=True)
    await probe

asyncio.run(main())
"""


def test_reclaim_stops_a_killed_daemons_run_and_probe_jails(
        contain_backend: str, marker: int, escapee: Path, fifo: Path, tmp_path: Path) -> None:
    """A daemon killed with -9 leaves a service (every escape kind, SIGTERM ignored) and a
    probe running: ``reclaim`` of the run record sends the stop signal, then kills the
    whole run; ``reclaim_parent`` kills the probe jails. Nothing survives."""
    done = tmp_path / "done"
    os.mkfifo(done)
    command = escapes.script(KINDS, escapee, fifo, marker,
                             f"trap '' TERM USR1; echo > {done}; sleep {marker}")
    probing = tmp_path / "probing"
    os.mkfifo(probing)
    probe = f"echo > {probing}; exec sleep {marker}"
    with subprocess.Popen(
        [sys.executable, "-c", DEAD_DAEMON, str(tmp_path), command, probe],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, contain.BACKEND_ENV: contain_backend},
    ) as daemon:
        try:
            asyncio.run(read_line(done))  # the main process is at its sleep: all escaped
            asyncio.run(read_line(probing))
            assert daemon.stdin is not None
            assert daemon.stdout is not None
            daemon.stdin.write("go\n")
            daemon.stdin.flush()
            told = json.loads(daemon.stdout.readline())
        finally:
            daemon.kill()
    record, parent = told["record"], told["parent"]
    assert len(escapes.settled_survivors(marker, len(KINDS) + 2)) == len(KINDS) + 2  # +main, probe
    assert set(record) == {"pid", "starttime", "token", "jail", "stop_signal", "stop_grace_ns"}
    assert record["stop_signal"] == signal.SIGUSR1

    stopped = asyncio.run(contain.reclaim(record))
    assert stopped >= len(KINDS) + 1
    if contain_backend == "proc":
        assert parent is None
        escapes.kill_survivors(marker)  # the probe: without cgroups, no one can find it
    else:
        assert not Path(record["jail"]).exists()
        assert asyncio.run(contain.reclaim_parent(parent)) >= 1
        assert not Path(parent).exists()
    assert escapes.settled_survivors(marker) == []


def test_reclaim_refuses_a_malformed_record() -> None:
    with pytest.raises(ValueError, match="pid must be an integer"):
        asyncio.run(contain.reclaim({"pid": "12"}))


def test_reclaim_leaves_a_reused_pid_alone(marker: int) -> None:
    """pid and start time must both match: a process that merely has the pid is spared."""
    bystander = subprocess.Popen(["sleep", str(marker)])
    try:
        record = {"pid": bystander.pid, "starttime": 1, "token": "", "jail": None,
                  "stop_signal": 15, "stop_grace_ns": 0}
        assert asyncio.run(contain.reclaim(record)) == 0
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_reclaim_parent_touches_only_vigil_cgroups() -> None:
    assert asyncio.run(contain.reclaim_parent("/sys/fs/cgroup/unified")) == 0
    assert asyncio.run(contain.reclaim_parent("/tmp")) == 0


@pytest.mark.parametrize("backend", [b for b in contain.BACKENDS if contain.available(b)])
def test_a_killed_vigil_check_takes_its_probe_along(
        backend: str, marker: int, escapee: Path, fifo: Path, tmp_path: Path) -> None:
    """SIGKILL `vigil check` while its probe runs: its guardian kills the probe and (with a
    cgroup) every escapee; without cgroups, the probe's tree and group."""
    done = tmp_path / "done"
    os.mkfifo(done)
    kinds = KINDS if backend != "proc" else ["holding_the_pipe"]  # see README: limits
    command = escapes.script(kinds, escapee, fifo, marker, f"echo > {done}; sleep {marker}")
    check = subprocess.Popen(
        [sys.executable, "-m", "vigil", "check", "--health-timeout", "1h",
         "--health-cmd", command],
        stdout=subprocess.DEVNULL, env={**os.environ, contain.BACKEND_ENV: backend})
    try:
        asyncio.run(read_line(done))
        if backend != "proc":  # an escapee placed late is swept within 50 ms: wait for it
            assert all_jailed(marker)
    finally:
        check.kill()
        check.wait()
    assert escapes.settled_survivors(marker) == []


def all_jailed(marker: int) -> bool:
    """Whether every ``sleep MARKER`` is in a vigil jail (spin, no sleep, bounded)."""

    def jailed() -> bool:
        for pid in escapes.survivors(marker):
            try:
                if "/vigil-" not in Path(f"/proc/{pid}/cgroup").read_text():
                    return False
            except OSError:
                continue
        return True

    deadline = time.monotonic() + escapes.SAFETY_S
    while not jailed() and time.monotonic() < deadline:
        os.sched_yield()
    return jailed()


def test_the_sweep_spares_a_running_services_daemonized_child(
        contain_backend: str, subreaper: None, marker: int, fifo: Path, tmp_path: Path) -> None:
    """A service that double-forks a daemon (the orphan comes back to vigil): while the
    service runs its jail (or, without cgroups, its token) claims it, so the sweep leaves it
    alone; the stop takes it along."""
    done = tmp_path / "done"
    os.mkfifo(done)
    command = f"(sleep {marker} &); echo > {done}; exec sleep {marker}"

    async def scenario(supervisor: Supervisor, clock: FakeClock, died: asyncio.Event) -> None:
        await supervisor.start()
        await read_line(done)
        assert len(escapes.settled_survivors(marker, 2)) == 2
        assert contain.sweep() == 0
        assert len(escapes.survivors(marker)) == 2
        stopping = asyncio.ensure_future(supervisor.stop())
        await clock.run_for(SECOND)
        await stopping

    run_service(tmp_path, command, scenario)
    assert escapes.settled_survivors(marker) == []


def test_the_sweep_kills_an_orphan_nobody_claims(subreaper: None, marker: int) -> None:
    """A process that came back to us as an orphan and belongs to no jail is a leftover."""
    subprocess.run(["sh", "-c", f"(sleep {marker} &)"], check=True)
    assert len(escapes.settled_survivors(marker, 1)) == 1
    assert contain.sweep() == 1
    assert escapes.settled_survivors(marker) == []


def test_the_sweep_spares_children_of_a_program_that_embeds_vigil(
        subreaper: None, marker: int) -> None:
    """A library user's own processes are not leftovers: without ``own_children`` the sweep
    does nothing."""
    contain.own_children(False)
    subprocess.run(["sh", "-c", f"(sleep {marker} &)"], check=True)
    assert len(escapes.settled_survivors(marker, 1)) == 1
    assert contain.sweep() == 0
    assert len(escapes.survivors(marker)) == 1
