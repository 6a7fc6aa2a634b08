"""The engine and monitors on a FakeClock: Docker's scheduling and lifecycle, no real sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from vigil import (
    Engine,
    HealthcheckConfig,
    HealthStatus,
    MonitorStarted,
    MonitorStopped,
    Outcome,
    ProbeCompleted,
    ProbeReport,
    StatusChanged,
    TargetCreated,
    TargetEvent,
    TargetPaused,
    TargetRemoved,
    TargetStarted,
    TargetStopped,
    TargetUnpaused,
)
from vigil.core.probespec import ExecSpec
from vigil.go.duration import SECOND
from vigil.testing import EventRecorder, FakeClock, ProbeStep, ScriptedProbe

S = SECOND


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def check(**timing: Any) -> HealthcheckConfig:
    return HealthcheckConfig(test=("CMD", "x"), **timing)


async def started(clock: FakeClock, probe: Any, **timing: Any) -> tuple[Engine, EventRecorder, int]:
    engine = Engine(clock=clock)
    recorder = EventRecorder()
    engine.subscribe(recorder)
    engine.add("web", check(**timing), probe=probe)
    t0 = clock.now_ns()
    engine.start("web")
    return engine, recorder, t0


def starts(recorder: EventRecorder, t0: int) -> list[float]:
    return [(e.result.start - t0) / S for e in recorder.results()]


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({}, [30, 60, 90]),
        ({"interval": 10 * S}, [10, 20, 30]),
        ({"interval": 10 * S, "start_interval": 1 * S}, [10, 20, 30]),
        ({"interval": 10 * S, "start_period": 3 * S}, [5, 15, 25]),
        (
            {"interval": 10 * S, "start_period": 3 * S, "start_interval": 1 * S},
            [1, 2, 3, 13, 23],
        ),
    ],
)
def test_probe_cadence_follows_moby_get_interval(
    check: dict[str, int], expected: list[int]
) -> None:
    """The first probe waits one interval (one start interval inside a start period), never 0,
    and the start interval is used only while starting inside the start period."""

    async def scenario() -> None:
        clock = FakeClock()
        engine, recorder, t0 = await started(clock, ScriptedProbe([1]), **check)
        await clock.run_until(t0 + expected[-1] * S)
        assert starts(recorder, t0) == expected
        await engine.aclose()

    run(scenario)


def test_start_interval_stops_once_healthy() -> None:
    """A success inside the start period switches the cadence to the interval at once."""

    async def scenario() -> None:
        clock = FakeClock()
        check = {"interval": 10 * S, "start_period": 60 * S, "start_interval": 1 * S}
        engine, recorder, t0 = await started(clock, ScriptedProbe([1, 0]), **check)
        await clock.run_until(t0 + 22 * S)
        assert starts(recorder, t0) == [1, 2, 12, 22]
        await engine.aclose()

    run(scenario)


def test_next_probe_counts_from_the_previous_result() -> None:
    """Probes never overlap: the next Start is the previous End plus the interval."""

    async def scenario() -> None:
        clock = FakeClock()
        probe = ScriptedProbe([ProbeStep(0, duration_ns=4 * S)])
        engine, recorder, t0 = await started(clock, probe, interval=10 * S)
        await clock.run_until(t0 + 42 * S)
        results = [e.result for e in recorder.results()]
        assert [(r.start - t0) / S for r in results] == [10, 24, 38]
        assert all(r.end - r.start == 4 * S for r in results)
        await engine.aclose()

    run(scenario)


def test_walk_starting_healthy_unhealthy_healthy_emits_only_changes() -> None:
    """Statuses walk starting → healthy → unhealthy → healthy with one event per change."""

    async def scenario() -> None:
        clock = FakeClock()
        probe = ScriptedProbe([0, 1, 1, 1, 1, 0])
        engine, recorder, t0 = await started(clock, probe, interval=1 * S, retries=3)
        assert engine.health("web").status is HealthStatus.STARTING
        await clock.run_until(t0 + 6 * S)
        assert recorder.status_changes() == [
            HealthStatus.HEALTHY,
            HealthStatus.UNHEALTHY,
            HealthStatus.HEALTHY,
        ]
        assert [e.failing_streak for e in recorder.results()] == [0, 1, 2, 3, 4, 0]
        assert len(engine.health("web").log) == 5
        await engine.aclose()

    run(scenario)


def test_timeout_is_a_failure_with_dockers_text() -> None:
    """A probe that outlives the timeout ends with ExitCode -1 and Docker's message."""

    async def scenario() -> None:
        clock = FakeClock()
        probe = ScriptedProbe([ProbeStep(0, output="partial", duration_ns=60 * S)])
        engine, recorder, t0 = await started(clock, probe, interval=1 * S, timeout=2 * S)
        await clock.run_until(t0 + 3 * S)
        (done,) = recorder.results()
        assert done.result.exit_code == -1
        assert done.result.outcome is Outcome.TIMEOUT
        assert done.result.output == "Health check exceeded timeout (2s): partial"
        assert done.result.end - done.result.start == 2 * S
        await engine.aclose()

    run(scenario)


def test_stop_drops_the_inflight_result_and_goes_unhealthy_silently() -> None:
    """Stopping mid-probe cancels it, keeps the log, sets unhealthy and emits no status event."""

    async def scenario() -> None:
        clock = FakeClock()
        probe = ScriptedProbe([0, ProbeStep(0, duration_ns=5 * S)])
        engine, recorder, t0 = await started(clock, probe, interval=1 * S)
        await clock.run_until(t0 + 3 * S)  # first result at 1s, second probe in flight
        assert engine.health("web").status is HealthStatus.HEALTHY
        await engine.stop("web")
        await clock.run_for(60 * S)
        health = engine.health("web")
        assert health.status is HealthStatus.UNHEALTHY
        assert len(health.log) == 1
        assert health.failing_streak == 0
        assert recorder.status_changes() == [HealthStatus.HEALTHY]
        assert isinstance(recorder.events[-2], MonitorStopped)
        assert isinstance(recorder.events[-1], TargetStopped)
        assert probe.runs == 2

    run(scenario)


def test_restart_resets_to_starting_and_keeps_the_log() -> None:
    """start() on a running target: starting, streak 0, log kept, new cadence from now."""

    async def scenario() -> None:
        clock = FakeClock()
        engine, _, t0 = await started(clock, ScriptedProbe([1]), interval=1 * S)
        await clock.run_until(t0 + 4 * S)
        assert engine.health("web").status is HealthStatus.UNHEALTHY
        engine.start("web")
        health = engine.health("web")
        assert (health.status, health.failing_streak, len(health.log)) == (
            HealthStatus.STARTING,
            0,
            4,
        )
        await clock.run_for(1 * S)
        assert engine.health("web").failing_streak == 1
        await engine.aclose()

    run(scenario)


def test_resume_after_pause_keeps_unhealthy_until_next_result() -> None:
    """Unpause resumes probing one interval later with the status left by the pause."""

    async def scenario() -> None:
        clock = FakeClock()
        engine, _, t0 = await started(clock, ScriptedProbe([0]), interval=10 * S)
        await clock.run_until(t0 + 10 * S)
        engine.pause("web")
        engine.resume("web")
        assert engine.health("web").status is HealthStatus.UNHEALTHY
        await clock.run_for(9 * S)
        assert engine.health("web").status is HealthStatus.UNHEALTHY
        await clock.run_for(1 * S)
        assert engine.health("web").status is HealthStatus.HEALTHY
        await engine.aclose()

    run(scenario)


class _Exploding:
    async def run(self, *, timeout_ns: int, clock: Any) -> ProbeReport:
        raise RuntimeError("probe bug")


def test_a_raising_probe_is_an_error_result_and_the_monitor_lives_on() -> None:
    """An exception in a probe becomes ExitCode -1 with its text; probing continues."""

    async def scenario() -> None:
        clock = FakeClock()
        engine, recorder, t0 = await started(clock, _Exploding(), interval=1 * S)
        await clock.run_until(t0 + 3 * S)
        results = recorder.results()
        assert len(results) == 3
        assert {(r.result.exit_code, r.result.output, r.result.outcome) for r in results} == {
            (-1, "probe bug", Outcome.ERROR)
        }
        await engine.aclose()

    run(scenario)


def test_a_slow_target_never_delays_another() -> None:
    """Each target has its own monitor: a probe stuck until its timeout delays nobody else."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)
        recorder = EventRecorder()
        engine.subscribe(recorder)
        engine.add(
            "slow",
            check(interval=1 * S, timeout=50 * S),
            probe=ScriptedProbe([ProbeStep(0, duration_ns=100 * S)]),
        )
        engine.add("fast", check(interval=1 * S), probe=ScriptedProbe([0]))
        t0 = clock.now_ns()
        engine.start("slow")
        engine.start("fast")
        await clock.run_until(t0 + 10 * S)
        assert [(e.result.start - t0) // S for e in recorder.results("fast")] == list(range(1, 11))
        assert recorder.results("slow") == []
        await engine.aclose()

    run(scenario)


def test_a_failing_subscriber_does_not_stop_delivery() -> None:
    """A subscriber that raises is logged; later subscribers and the monitor carry on."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)

        def broken(event: object) -> None:
            raise ValueError("subscriber bug")

        engine.subscribe(broken)
        recorder = EventRecorder()
        engine.subscribe(recorder)
        engine.add("web", check(interval=1 * S), probe=ScriptedProbe([0]))
        engine.start("web")
        await clock.run_for(3 * S)
        assert len(recorder.results()) == 3
        await engine.aclose()

    run(scenario)


@pytest.mark.parametrize("test", [(), ("NONE",), ("cmd", "true"), ("http", "http://x/")])
def test_no_probe_means_health_none(
    test: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    """Empty, NONE and unknown (case-sensitive) test types run no monitor: health none; an
    unknown type is logged at every start as Docker's getProbe does, naming the ID."""

    async def scenario() -> None:
        engine = Engine(clock=FakeClock())
        ref = engine.add("web", HealthcheckConfig(test=test))
        engine.start("web")
        engine.start("web")
        assert engine.health("web").status is HealthStatus.NONE
        assert not engine.probing("web")
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        if test and test[0] not in ("NONE",):
            assert warnings == [
                f"Unknown healthcheck type '{test[0]}' (expected 'CMD') in service {ref.id}"] * 2
        else:
            assert warnings == []
        await engine.aclose()

    run(scenario)


def test_unsubscribe_stops_delivery() -> None:
    """The function subscribe returns removes the subscriber."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)
        recorder = EventRecorder()
        unsubscribe: Callable[[], None] = engine.subscribe(recorder)
        engine.add("web", check(interval=1 * S), probe=ScriptedProbe([0]))
        engine.start("web")
        await clock.run_for(1 * S)
        unsubscribe()
        count = len(recorder.events)
        await clock.run_for(5 * S)
        assert len(recorder.events) == count
        await engine.aclose()

    run(scenario)


def test_events_stream_every_fact_in_order_with_identity_and_time() -> None:
    """``engine.events()`` yields lifecycle and health events of every target, in publish
    order, each naming its target and stamped on the engine's clock."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)
        events = engine.events()
        ref = engine.add("web", check(interval=1 * S, retries=1), probe=ScriptedProbe([0, 1]))
        t0 = clock.now_ns()
        engine.start("web")
        await clock.run_for(2 * S)
        engine.pause("web")
        engine.resume("web")
        await engine.remove("web")
        got: list[TargetEvent] = []
        while events.pending:
            got.append(await anext(events))
        assert [type(e) for e in got] == [
            TargetCreated, TargetStarted, MonitorStarted,
            ProbeCompleted, StatusChanged, ProbeCompleted, StatusChanged,
            MonitorStopped, TargetPaused, TargetUnpaused, MonitorStarted,
            MonitorStopped, TargetRemoved,
        ]
        assert {e.target for e in got} == {ref}
        assert [e.time_ns - t0 for e in got[:5]] == [0, 0, 0, 1 * S, 1 * S]
        assert [e.new for e in got if isinstance(e, StatusChanged)] == [
            HealthStatus.HEALTHY, HealthStatus.UNHEALTHY]
        await engine.aclose()

    run(scenario)


def test_events_since_replays_from_the_store_without_gap() -> None:
    """``events(since_ns=...)`` starts with what the store kept, then live events."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)
        engine.add("web", check(interval=1 * S), probe=ScriptedProbe([0]))
        engine.start("web")
        await clock.run_for(1 * S)
        events = engine.events(since_ns=0)
        await clock.run_for(1 * S)
        kinds = []
        while events.pending:
            kinds.append(type(await anext(events)).__name__)
        assert kinds == ["TargetCreated", "TargetStarted", "MonitorStarted", "ProbeCompleted",
                         "StatusChanged", "ProbeCompleted"]
        await engine.aclose()

    run(scenario)


def test_a_stalled_subscriber_never_delays_probes() -> None:
    """A subscription nobody reads fills to its bound and is closed (counted); probing and
    other subscribers go on at the same cadence."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock)
        stalled = engine.events(maxsize=5)
        recorder = EventRecorder()
        engine.subscribe(recorder)
        engine.add("web", check(interval=1 * S), probe=ScriptedProbe([0]))
        t0 = clock.now_ns()
        engine.start("web")
        await clock.run_for(20 * S)
        assert [(e.result.start - t0) // S for e in recorder.results()] == list(range(1, 21))
        assert stalled.closed
        assert stalled.pending == 5
        assert engine.stream.overflows == 1
        await engine.aclose()

    run(scenario)


def test_a_spec_is_built_into_a_probe_with_the_target_identity() -> None:
    """``add`` builds a ``ProbeSpec`` with the engine's builder, passing the target's ref;
    without a probe the check's own test is run as an exec spec."""

    async def scenario() -> None:
        built: list[tuple[object, object]] = []

        def builder(spec: object, ref: object) -> ScriptedProbe:
            built.append((spec, ref))
            return ScriptedProbe([0])

        engine = Engine(clock=FakeClock(), probe_builder=builder)  # type: ignore[arg-type]
        spec = ExecSpec(("CMD", "true"), environment={"A": "1"})
        web = engine.add("web", check(), probe=spec, target_id="f" * 64)
        db = engine.add("db", HealthcheckConfig(test=("CMD-SHELL", "pg_isready")))
        assert built == [(spec, web), (ExecSpec(("CMD-SHELL", "pg_isready")), db)]
        assert web.id == "f" * 64
        assert len(db.id) == 64
        await engine.aclose()

    run(scenario)


def test_probe_start_observers_see_each_probe_as_it_begins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``observe_probe_starts``: called before the probe runs (so a probe stopped mid-way was
    seen), never stops probing when it fails, and no more once stopped."""

    async def scenario() -> None:
        clock = FakeClock()
        probe = ScriptedProbe([ProbeStep(0, duration_ns=3 * S)])
        engine, recorder, t0 = await started(clock, probe, interval=S, timeout=10 * S)
        began: list[tuple[str, int]] = []

        def broken(target: Any) -> None:
            raise RuntimeError("bug")

        engine.observe_probe_starts(broken)
        stop = engine.observe_probe_starts(lambda t: began.append((t.name, probe.runs)))
        assert await clock.run_until_true(lambda: probe.runs == 1)
        assert began == [("web", 0)]  # before the probe ran
        await clock.run_until(t0 + 4 * S)
        assert len(recorder.results()) == 1
        stop()
        await clock.run_until(t0 + 8 * S)  # the second probe: t0+5 to t0+8
        await engine.aclose()
        assert probe.runs == 2
        assert began == [("web", 0)]
        assert "probe observer" in caplog.text

    run(scenario)
