"""Targets behind one protocol, reporting through the engine: the watched kind on a FakeClock,
and the order Docker keeps when an owned process exits (the monitor stops first)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.core.events import (
    MonitorStopped,
    TargetDied,
    TargetEvent,
    TargetExiting,
    TargetPaused,
    TargetRef,
    TargetStarted,
    TargetStopped,
    TargetUnpaused,
)
from vigil.core.lifecycle import ProcessStatus
from vigil.core.status import HealthStatus
from vigil.daemon.manager import Manager
from vigil.go.duration import SECOND
from vigil.runtime.engine import Engine
from vigil.store import TargetRecord
from vigil.store.memory import MemoryStore
from vigil.targets.base import Target
from vigil.targets.logs import ServiceLog
from vigil.targets.supervised import Supervisor
from vigil.targets.watched import WatchedTarget
from vigil.testing import FakeClock, ScriptedProbe

S = SECOND
SAFETY_S = 10.0  # real-time safety net for waits on real processes; never reached normally


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_both_kinds_are_targets(tmp_path: Path) -> None:
    """The supervised and the watched kind satisfy the one Target protocol."""
    engine = Engine()
    ref = engine.add("web")
    watched = WatchedTarget(ref, clock=FakeClock(), report=engine.report)
    owned = Supervisor(ServiceConfig(name="web", command=("true",)), clock=FakeClock(),
                       log=ServiceLog(tmp_path / "web.log"), report=engine.report, ref=ref)
    assert isinstance(watched, Target)
    assert isinstance(owned, Target)
    assert (watched.owned, owned.owned) == (False, True)


def test_watched_target_lifecycle_drives_health_through_the_engine() -> None:
    """start → starting and probing; pause → unhealthy, silent; unpause → probing again;
    stop → exited 0 with die and stop; it cannot be signalled."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)
        events = engine.events()
        ref = engine.add("web", HealthcheckConfig(test=("CMD", "x"), interval=S),
                         probe=ScriptedProbe([0]))
        target = WatchedTarget(ref, clock=clock, report=engine.report)
        await target.start()
        assert (target.state.status, engine.health("web").status) == (
            ProcessStatus.RUNNING, HealthStatus.STARTING)
        await clock.run_for(1 * S)
        assert engine.health("web").status is HealthStatus.HEALTHY
        assert target.pause()
        assert not target.pause()
        assert engine.health("web").status is HealthStatus.UNHEALTHY
        assert not engine.probing("web")
        assert target.unpause()
        assert engine.probing("web")
        assert not target.kill(signal.SIGTERM)
        t_stop = clock.now_ns()
        await target.stop()
        state = target.state
        assert (state.status, state.exit_code, state.finished_at) == (
            ProcessStatus.EXITED, 0, t_stop)
        lifecycle: list[type] = []
        while events.pending:
            event = await anext(events)
            if isinstance(event, TargetStarted | TargetPaused | TargetUnpaused | TargetDied
                          | TargetStopped):
                lifecycle.append(type(event))
        assert lifecycle == [TargetStarted, TargetPaused, TargetUnpaused, TargetDied,
                             TargetStopped]
        await engine.aclose()

    run(scenario)


@pytest.mark.usefixtures("subreaper")
def test_exit_stops_the_monitor_first_even_when_a_leftover_holds_the_pipe(
    tmp_path: Path,
) -> None:
    """Docker's handleContainerExit: when the main process exits, probing stops at once
    (unhealthy, silently), before leftovers are collected; a child that escaped with a
    cleared environment and keeps stdout open cannot keep the service 'healthy'. (The
    leftover is then killed at once with the run's jail, so how long the service still
    shows 'running' is no longer something to assert.)"""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe([0]))
        manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
        events = engine.events()
        escaped, go = tmp_path / "escaped", tmp_path / "go"
        os.mkfifo(escaped)  # the main process exits once the leftover has escaped
        os.mkfifo(go)  # ... and the test has seen it healthy
        script = (f'setsid env -i /bin/sh -c "echo \\$\\$; echo > {escaped}; exec sleep 60" '
                  f"& read _ < {escaped}; read _ < {go}; exit 3")
        manager.create(ServiceConfig(
            name="web", command=("sh", "-c", script),
            healthcheck=HealthcheckConfig(test=("CMD", "x"), interval=S)))
        follower = manager.log("web").follow()
        await manager.start("web")
        leftover = int((await asyncio.wait_for(anext(follower), SAFETY_S)).log)
        try:
            await clock.run_for(1 * S)
            assert engine.health("web").status is HealthStatus.HEALTHY
            release = os.open(go, os.O_RDWR)  # never blocks; kept open until read
            os.write(release, b"\n")
            seen: list[TargetEvent] = []
            while not any(isinstance(e, TargetExiting) for e in seen):
                seen.append(await asyncio.wait_for(anext(events), SAFETY_S))
            os.close(release)
            exiting = seen[-1]
            assert isinstance(exiting, TargetExiting)
            assert exiting.exit_code == 3
            assert isinstance(seen[-2], MonitorStopped)
            assert engine.health("web").status is HealthStatus.UNHEALTHY
            assert not engine.probing("web")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):  # reparented to us: no zombie left
                os.waitpid(leftover, 0)  # noqa: ASYNC222 - just SIGKILLed: returns at once
        died = await asyncio.wait_for(anext(events), SAFETY_S)
        while not isinstance(died, TargetDied):
            died = await asyncio.wait_for(anext(events), SAFETY_S)
        assert died.exit_code == 3
        assert manager.view("web").status == "exited"
        await manager.down()

    run(scenario)


def test_a_name_the_store_knows_keeps_its_identity(tmp_path: Path) -> None:
    """Stable identity: a service whose name the store already holds gets the same ID and
    creation time back (what a durable store gives across daemon restarts); ``rm`` forgets
    it, so a new service of that name is a new target."""

    async def scenario() -> None:
        clock = FakeClock()
        store = MemoryStore()
        known = TargetRef("7" * 64, "web")
        store.save_target(TargetRecord(known, 1_000))
        manager = Manager(clock=clock, engine=Engine(clock=clock, store=store), log_dir=tmp_path)
        assert manager.create(ServiceConfig(name="web")) == known.id
        assert manager.view("web").created_ns == 1_000
        other = manager.create(ServiceConfig(name="db"))
        assert [r.ref for r in store.targets()] == [known, TargetRef(other, "db")]
        await manager.remove("web")
        assert manager.create(ServiceConfig(name="web")) != known.id
        await manager.down()

    run(scenario)
