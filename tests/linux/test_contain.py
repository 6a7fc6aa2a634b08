"""Containment with real processes: every escape kind, for probes and services, on each
backend this machine offers (the others are skipped); 0 survivors, counted by a marker."""

from __future__ import annotations

import asyncio
import os
import random
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
    assert escapes.settled_survivors(marker) == []


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
    assert escapes.settled_survivors(marker) == []
