"""Not executed: mypy checks that the public API is usable as documented, fully typed."""

from __future__ import annotations

import vigil
from vigil.testing import EventRecorder, FakeClock, ProbeStep, ScriptedProbe


async def library_use() -> None:
    check = vigil.HealthcheckConfig(
        test=("CMD-SHELL", "curl -f http://localhost/"),
        interval=vigil.parse_duration("5s"),
        retries=3,
    )
    async with vigil.Engine() as engine:
        unsubscribe = engine.subscribe(lambda event: None)
        ref: vigil.TargetRef = engine.add("web", check)
        async for event in engine.events():
            target: vigil.TargetRef = event.target
            when: int = event.time_ns
            if isinstance(event, vigil.StatusChanged):
                new: vigil.HealthStatus = event.new
                del new
            del target, when
            break
        engine.start("web")
        state: vigil.HealthState = engine.health("web")
        status: vigil.HealthStatus = state.status
        streak: int = state.failing_streak
        log: tuple[vigil.ProbeResult, ...] = state.log
        await engine.stop("web")
        unsubscribe()
    del status, streak, log, ref


async def testing_use() -> None:
    clock = FakeClock()
    recorder = EventRecorder()
    async with vigil.Engine(clock=clock) as engine:
        engine.subscribe(recorder)
        probe: vigil.Probe = ScriptedProbe([0, 1, ProbeStep(1, "slow", 10**9)])
        engine.add("x", vigil.HealthcheckConfig(test=("CMD", "true")), probe=probe)
        engine.add("y", vigil.HealthcheckConfig(test=("CMD", "true")),
                   probe=vigil.ExecSpec(("CMD", "true"), environment={"A": "1"}))
        engine.start("x")
        await clock.run_for(60 * 10**9)
    changes: list[vigil.HealthStatus] = recorder.status_changes("x")
    del changes


class MyProbe:
    async def run(self, *, timeout_ns: int, clock: vigil.Clock) -> vigil.ProbeReport:
        return vigil.ProbeReport(vigil.Outcome.PASS, 0, "ok")


def custom_probe_conforms() -> vigil.Probe:
    return MyProbe()


def durations() -> str:
    return vigil.format_duration(vigil.parse_duration("1h30m"))
