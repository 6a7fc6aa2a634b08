"""``on_unhealthy`` end to end in memory: the remediator subscribed to a real engine and
acting through a real ``Manager`` on a FakeClock, with scripted probes. The services are
watched ones (no process), so the clock never waits on the real world; restart, stop and
the guards go through the same Manager paths as for owned processes (``kill`` of a real
process is in tests/e2e/test_remediation.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.core.events import (
    ProbeCompleted,
    Remediated,
    RemediationExhausted,
    StatusChanged,
    TargetRestarted,
    TargetStopped,
)
from vigil.core.remediation import RemediationPolicy
from vigil.core.status import HealthStatus
from vigil.daemon.manager import Manager
from vigil.daemon.remediation import Remediator
from vigil.go.duration import SECOND
from vigil.runtime.engine import Engine
from vigil.testing import EventRecorder, FakeClock, ProbeStep, ScriptedProbe

S = SECOND
CHECK = HealthcheckConfig(test=("CMD", "true"), interval=1 * S, retries=1)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


class Scene:
    """A daemon's engine, manager and remediator on a fake clock; probes of service ``web``
    play ``steps``; every event is recorded."""

    def __init__(self, tmp: Path, policy: RemediationPolicy, steps: Sequence[int | ProbeStep],
                 *, actuator: Callable[[Manager], Any] | None = None) -> None:
        self.clock = FakeClock()
        self.engine = Engine(clock=self.clock,
                             probe_builder=lambda spec, ref: ScriptedProbe(steps))
        self.manager = Manager(clock=self.clock, engine=self.engine, log_dir=tmp)
        self.recorder = EventRecorder()
        self.engine.subscribe(self.recorder)
        self.manager.create(ServiceConfig("web", healthcheck=CHECK, on_unhealthy=policy))
        self.t0 = self.clock.now_ns()

        def policy_of(name: str) -> RemediationPolicy | None:
            config = self.manager.config_of(name)
            return None if config is None else config.on_unhealthy

        acting = self.manager if actuator is None else actuator(self.manager)
        self.remediator = Remediator(self.engine, acting, policy_of)
        self.remediator.start()

    def at(self, seconds: float) -> int:
        return self.t0 + int(seconds * S)

    def actions(self) -> list[tuple[float, str, int]]:
        """(seconds since t0, action, attempt) of every Remediated event."""
        return [((e.time_ns - self.t0) / S, e.action, e.attempt)
                for e in self.recorder.of(Remediated)]

    def statuses(self) -> list[HealthStatus]:
        return self.recorder.status_changes("web")

    async def close(self) -> None:
        await self.remediator.aclose()
        await self.manager.down()


@contextmanager
def errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.ERROR, logger="vigil"):
        yield


def test_restart_brings_a_broken_service_back(tmp_path: Path) -> None:
    """Unhealthy at the first probe; the restart is announced first, health goes back to
    starting (no event, as Docker), and the next probe makes it healthy."""

    async def scenario() -> None:
        scene = Scene(tmp_path, RemediationPolicy("restart"), [1, 0])
        await scene.manager.start("web")
        await scene.clock.run_for(5 * S)
        assert scene.actions() == [(1.0, "restart", 1)]
        names = [type(e).__name__ for e in scene.recorder.events
                 if isinstance(e, Remediated | TargetRestarted | StatusChanged)]
        assert names == ["StatusChanged", "Remediated", "TargetRestarted", "StatusChanged"]
        assert scene.statuses() == [HealthStatus.UNHEALTHY, HealthStatus.HEALTHY]
        remediated = scene.recorder.of(Remediated)[0]
        assert remediated.reason == "unhealthy (FailingStreak 1)"
        assert scene.engine.health("web").status is HealthStatus.HEALTHY
        await scene.close()

    run(scenario)


def test_backoff_then_exhaustion_then_the_window_moves_on(tmp_path: Path) -> None:
    """Always failing, max_restarts 2 in 100 s, back-off 5 s: act at 1 s, wait until 6 s,
    act, exhausted at 7 s (once, however often it is still found unhealthy), and act again
    at 101 s when the first action leaves the window."""

    async def scenario() -> None:
        policy = RemediationPolicy("restart", max_restarts=2, window=100 * S, backoff=5 * S)
        scene = Scene(tmp_path, policy, [1])
        await scene.manager.start("web")
        await scene.clock.run_for(100 * S)
        assert scene.actions() == [(1.0, "restart", 1), (6.0, "restart", 2)]
        exhausted = scene.recorder.of(RemediationExhausted)
        assert [((e.time_ns - scene.t0) / S, e.attempts) for e in exhausted] == [(7.0, 2)]
        assert exhausted[0].reason == "max_restarts (2) within 1m40s reached"
        await scene.clock.run_for(2 * S)
        assert scene.actions()[2:] == [(101.0, "restart", 2)]
        await scene.close()

    run(scenario)


def test_a_paused_service_is_left_alone(tmp_path: Path) -> None:
    """Pausing during the back-off cancels the wait; while paused nothing happens however
    long; after unpause the still failing service is acted on again."""

    async def scenario() -> None:
        policy = RemediationPolicy("restart", backoff=10 * S)
        scene = Scene(tmp_path, policy, [1])
        await scene.manager.start("web")
        await scene.clock.run_for(3 * S)  # acted at 1 s, unhealthy again at 2 s: wait to 11 s
        await scene.manager.pause("web")
        await scene.clock.run_for(3600 * S)
        assert scene.actions() == [(1.0, "restart", 1)]
        await scene.manager.unpause("web")
        await scene.clock.run_for(2 * S)
        assert scene.actions()[1:] == [(3604.0, "restart", 1)]  # the first left the window
        await scene.close()

    run(scenario)


def test_user_stop_cancels_the_wait_and_a_user_start_counts_afresh(tmp_path: Path) -> None:
    async def scenario() -> None:
        policy = RemediationPolicy("restart", max_restarts=1, window=1000 * S, backoff=0)
        scene = Scene(tmp_path, policy, [1])
        await scene.manager.start("web")
        await scene.clock.run_for(3 * S)  # acted at 1 s; exhausted at 2 s until 1001 s
        assert len(scene.recorder.of(RemediationExhausted)) == 1
        await scene.manager.stop("web")
        await scene.clock.run_for(2000 * S)
        assert scene.actions() == [(1.0, "restart", 1)]
        await scene.manager.start("web")
        await scene.clock.run_for(1 * S)
        assert scene.actions()[1:] == [(2004.0, "restart", 1)]  # a fresh count
        await scene.close()

    run(scenario)


def test_turning_healthy_cancels_the_wait(tmp_path: Path) -> None:
    """Unhealthy again during the back-off, then healthy before it ends: no second action."""

    async def scenario() -> None:
        policy = RemediationPolicy("restart", backoff=10 * S)
        scene = Scene(tmp_path, policy, [1, 1, 0])
        await scene.manager.start("web")
        await scene.clock.run_for(60 * S)
        assert scene.actions() == [(1.0, "restart", 1)]
        assert scene.statuses() == [HealthStatus.UNHEALTHY, HealthStatus.UNHEALTHY,
                                    HealthStatus.HEALTHY]
        await scene.close()

    run(scenario)


def test_stop_action_stops_the_service_for_good(tmp_path: Path) -> None:
    """``stop`` is ``vigil stop``: the service stays stopped (the user's intent is kept)."""

    async def scenario() -> None:
        scene = Scene(tmp_path, RemediationPolicy("stop"), [1])
        await scene.manager.start("web")
        await scene.clock.run_for(30 * S)
        assert scene.actions() == [(1.0, "stop", 1)]
        assert len(scene.recorder.of(TargetStopped)) == 1
        assert scene.manager.view("web").status == "exited"
        assert scene.manager.record("web").stopped is True
        await scene.close()

    run(scenario)


def test_no_action_while_the_user_holds_the_service(tmp_path: Path) -> None:
    """A start, stop, restart or removal under way (the service's lock held) or a user's
    stop: the Manager refuses to remediate, and nothing is announced."""

    async def scenario() -> None:
        scene = Scene(tmp_path, RemediationPolicy("restart"), [0])
        await scene.manager.start("web")
        announced: list[str] = []
        lock = scene.manager.lookup("web").lock
        async with lock:
            assert not scene.manager.remediable("web")
            assert not await scene.manager.remediate("web", "restart",
                                                     lambda: announced.append("x"))
        assert scene.manager.remediable("web")
        await scene.manager.pause("web")
        assert not scene.manager.remediable("web")
        await scene.manager.unpause("web")
        await scene.manager.stop("web")
        assert not scene.manager.remediable("web")
        assert not scene.manager.remediable("nonexistent")
        assert announced == []
        await scene.close()

    run(scenario)


class _Crashing:
    """An actuator whose action always raises."""

    def __init__(self, manager: Manager) -> None:
        self.manager = manager
        self.calls = 0

    def remediable(self, name: str) -> bool:
        return self.manager.remediable(name)

    def interventions(self, name: str) -> int:
        return self.manager.interventions(name)

    async def remediate(self, name: str, action: str, announce: Callable[[], None]) -> bool:
        self.calls += 1
        announce()
        raise RuntimeError("boom")


def test_a_crash_in_remediation_never_stops_probing(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The failed action is logged; probes go on, and so does remediation (after the
    back-off)."""

    async def scenario() -> None:
        crashing: list[_Crashing] = []

        def actuator(manager: Manager) -> _Crashing:
            crashing.append(_Crashing(manager))
            return crashing[0]

        policy = RemediationPolicy("restart", backoff=2 * S)
        scene = Scene(tmp_path, policy, [1], actuator=actuator)
        await scene.manager.start("web")
        await scene.clock.run_for(10 * S)
        assert crashing[0].calls >= 2
        assert len(scene.recorder.of(ProbeCompleted)) == 10
        await scene.close()

    with errors_logged(caplog):
        run(scenario)
    assert "on_unhealthy restart failed: boom" in caplog.text
