"""``EngineMetrics`` through a real engine on a FakeClock with scripted probes, scraped in the
text format and read back with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from vigil import (
    Engine,
    HealthcheckConfig,
    Outcome,
    ProbeCompleted,
    ProbeReport,
    TargetEvent,
    TargetRestarted,
    TargetRestarting,
)
from vigil.core.events import Remediated, RemediationExhausted
from vigil.go.duration import MILLISECOND, SECOND
from vigil.metrics import DURATION_BUCKETS_S, EngineMetrics, exposition, render
from vigil.runtime.clock import Clock
from vigil.runtime.engine import CALLBACK_QUEUE_LIMIT
from vigil.testing import FakeClock, ProbeStep, ScriptedProbe

S = SECOND
MANY = CALLBACK_QUEUE_LIMIT + 2_000  # more than any subscriber queue holds
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def scrape(metrics: EngineMetrics) -> Samples:
    """Every sample of a text-format scrape, by name and labels."""
    body, content_type = render(metrics.registry)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def of_service(samples: Samples, service: str) -> Samples:
    return {key: v for key, v in samples.items() if ("service", service) in key[1]}


class Steps:
    """A probe playing exit codes, ``ProbeStep``s or "error" (the probe raises: it could not
    run, as an exec that fails to start), then repeating the last."""

    def __init__(self, steps: Iterable[int | ProbeStep | str]) -> None:
        self._steps = list(steps)
        self.runs = 0
        self.running = False  # a probe has begun and not ended (nor been cancelled)

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        step = self._steps[min(self.runs, len(self._steps) - 1)]
        self.runs += 1
        if step == "error":
            raise OSError("exec: no such file or directory")
        assert not isinstance(step, str)
        self.running = True
        try:
            return await ScriptedProbe([step]).run(timeout_ns=timeout_ns, clock=clock)
        finally:
            self.running = False


@contextlib.asynccontextmanager
async def metered() -> AsyncIterator[tuple[FakeClock, Engine, EngineMetrics]]:
    """An engine on a fake clock with metrics attached before any target."""
    clock = FakeClock()
    async with Engine(clock=clock) as engine:
        yield clock, engine, EngineMetrics(engine)


def check(**timing: int) -> HealthcheckConfig:
    return HealthcheckConfig(test=("CMD", "x"), **timing)


def results(engine: Engine, name: str) -> int:
    return len(engine.health(name).log)


def test_a_scenario_scraped_series_by_series() -> None:
    """Pass, fail, fail (unhealthy), timeout, error, pass: each series counts exactly that."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            probe = Steps([ProbeStep(0, duration_ns=20 * MILLISECOND), 1, 1,
                           ProbeStep(0, duration_ns=10 * S), "error", 0])
            engine.add("web", check(interval=S, timeout=5 * S, retries=2), probe=probe)
            engine.start("web")
            assert await clock.run_until_true(lambda: results(engine, "web") == 3)
            mid = scrape(metrics)
            assert value(mid, "vigil_health_failing_streak", service="web") == 2
            assert {status: value(mid, "vigil_health_status", service="web", status=status)
                    for status in ("none", "starting", "healthy", "unhealthy")} == {
                "none": 0, "starting": 0, "healthy": 0, "unhealthy": 1}
            assert await clock.run_until_true(lambda: probe.runs == 6)
            assert await clock.run_until_true(lambda: engine.health("web").failing_streak == 0)
            end = scrape(metrics)

        assert value(end, "engine_daemon_health_checks_total") == 6
        assert value(end, "engine_daemon_health_checks_failed_total") == 1  # the "error" only
        assert {outcome.value: value(end, "vigil_probes_total", service="web",
                                     result=outcome.value) for outcome in Outcome} == {
            "pass": 2, "fail": 2, "timeout": 1, "error": 1}
        assert value(end, "vigil_health_status", service="web", status="healthy") == 1
        assert value(end, "vigil_health_failing_streak", service="web") == 0
        # durations: 20 ms, 0, 0, 5 s (the timeout), 0, 0
        assert value(end, "vigil_probe_duration_seconds_count", service="web") == 6
        assert value(end, "vigil_probe_duration_seconds_sum", service="web") == pytest.approx(
            5.02)
        buckets = {le: value(end, "vigil_probe_duration_seconds_bucket", service="web", le=le)
                   for le in ("0.005", "0.025", "2.5", "5.0", "300.0", "+Inf")}
        assert buckets == {"0.005": 4, "0.025": 5, "2.5": 5, "5.0": 6, "300.0": 6, "+Inf": 6}
        assert value(end, "vigil_service_restarts_total", service="web") == 0

    run(scenario)


def test_buckets_span_milliseconds_to_minutes() -> None:
    assert DURATION_BUCKETS_S[0] <= 0.005
    assert DURATION_BUCKETS_S[-1] >= 300
    assert list(DURATION_BUCKETS_S) == sorted(DURATION_BUCKETS_S)


def test_failing_checks_and_timeouts_are_not_failed_health_checks() -> None:
    """Docker's failed counter counts probes that returned no exit code, not exit 1 nor
    (newest moby) timeouts; the total counts every probe."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            probe = Steps([1, ProbeStep(0, duration_ns=2 * S), 1])
            engine.add("web", check(interval=S, timeout=S), probe=probe)
            engine.start("web")
            assert await clock.run_until_true(lambda: results(engine, "web") == 3)
            samples = scrape(metrics)
        assert value(samples, "engine_daemon_health_checks_total") == 3
        assert value(samples, "engine_daemon_health_checks_failed_total") == 0

    run(scenario)


async def _stop(engine: Engine) -> None:
    await engine.stop("web")


async def _pause(engine: Engine) -> None:
    engine.pause("web")
    await engine.probe_gone("web")


async def _restart(engine: Engine) -> None:
    engine.start("web")  # a start while running replaces the monitor (a restart)


async def _remove(engine: Engine) -> None:
    await engine.remove("web")


@pytest.mark.parametrize("cut", [_stop, _pause, _restart, _remove],
                         ids=["stop", "pause", "restart", "remove"])
def test_a_probe_cut_short_counts_as_a_failed_health_check(
    cut: Callable[[Engine], Coroutine[Any, Any, None]]
) -> None:
    """moby cancels the exec of a probe in flight on stop, pause, exit or restart; the
    cancelled exec returns an error, which counts in health_checks_failed_total (and the
    probe had counted in health_checks_total as it began). No result is recorded."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            probe = Steps([ProbeStep(0, duration_ns=3 * S)])
            engine.add("web", check(interval=S, timeout=10 * S), probe=probe)
            engine.start("web")
            assert await clock.run_until_true(lambda: probe.runs == 1)
            before = scrape(metrics)
            await cut(engine)
            after = scrape(metrics)
        assert value(before, "engine_daemon_health_checks_total") == 1  # counted as it began
        assert value(before, "engine_daemon_health_checks_failed_total") == 0
        assert value(after, "engine_daemon_health_checks_total") == 1
        assert value(after, "engine_daemon_health_checks_failed_total") == 1
        if cut is not _remove:
            assert value(after, "vigil_probe_duration_seconds_count", service="web") == 0
            assert value(after, "vigil_probes_total", service="web", result="pass") == 0

    run(scenario)


def test_stopping_an_idle_monitor_fails_nothing() -> None:
    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            engine.add("web", check(interval=S), probe=ScriptedProbe([0]))
            engine.start("web")
            assert await clock.run_until_true(lambda: results(engine, "web") == 2)
            await engine.stop("web")
            engine.start("web")
            samples = scrape(metrics)
        assert value(samples, "engine_daemon_health_checks_total") == 2
        assert value(samples, "engine_daemon_health_checks_failed_total") == 0

    run(scenario)


def test_status_gauges_follow_the_silent_transitions() -> None:
    """One gauge per status, 1 for the current one, including the changes Docker makes
    without an event: start → starting, stop → unhealthy. No check: none."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            engine.add("web", check(interval=S), probe=ScriptedProbe([0]))
            engine.add("plain")  # no healthcheck

            def current(name: str) -> list[str]:
                samples = scrape(metrics)
                return [status for status in ("none", "starting", "healthy", "unhealthy")
                        if value(samples, "vigil_health_status", service=name, status=status)]

            assert current("web") == ["none"]
            engine.start("web")
            assert current("web") == ["starting"]
            assert await clock.run_until_true(lambda: results(engine, "web") == 1)
            assert current("web") == ["healthy"]
            await engine.stop("web")
            assert current("web") == ["unhealthy"]
            assert current("plain") == ["none"]

    run(scenario)


def test_removed_series_go_and_a_new_service_of_the_name_starts_fresh() -> None:
    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            engine.add("web", check(interval=S), probe=ScriptedProbe([1]))
            engine.add("db", check(interval=S), probe=ScriptedProbe([0]))
            engine.start("web")
            engine.start("db")
            assert await clock.run_until_true(lambda: results(engine, "web") == 3)
            engine.report(TargetRestarted(engine.ref("web"), clock.now_ns()))
            engine.publish(Remediated(engine.ref("web"), clock.now_ns(), "stop", "unhealthy", 1))
            assert len(of_service(scrape(metrics), "web")) > 20
            await engine.stop("web")
            await engine.remove("web")
            gone = scrape(metrics)
            assert of_service(gone, "web") == {}
            assert of_service(gone, "db") != {}
            assert value(gone, "engine_daemon_health_checks_total") >= 3  # daemon-wide: kept

            engine.add("web", check(interval=S), probe=ScriptedProbe([0]))
            fresh = of_service(scrape(metrics), "web")
        assert fresh == of_service(await scrape_of_new_service(), "web")

    run(scenario)


async def scrape_of_new_service() -> Samples:
    """What a service that was just created shows: zeros, status none."""
    async with Engine(clock=FakeClock()) as engine:
        metrics = EngineMetrics(engine)
        engine.add("web", check(interval=S), probe=ScriptedProbe([0]))
        samples = scrape(metrics)
    assert value(samples, "vigil_health_status", service="web", status="none") == 1
    assert value(samples, "vigil_probe_duration_seconds_count", service="web") == 0
    assert value(samples, "vigil_service_restarts_total", service="web") == 0
    return samples


def test_restarts_count_policy_manual_and_remediation_restarts() -> None:
    """vigil_service_restarts_total: restart policy (each ``TargetRestarting``, as Docker's
    RestartCount) and ``restart`` events (manual, and remediation's, which restarts through
    the manager and so reports one); ``remediate`` events count only in
    vigil_remediations_total, by action."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            web = engine.add("web", check(interval=S), probe=ScriptedProbe([0]))
            other = engine.add("other")
            now = clock.now_ns()
            engine.report(TargetRestarting(web, now, delay_ns=100 * MILLISECOND,
                                           restart_count=1))
            engine.report(TargetRestarting(web, now, delay_ns=200 * MILLISECOND,
                                           restart_count=2))
            engine.report(TargetRestarted(web, now))
            engine.publish(Remediated(web, now, "restart", "unhealthy", 1))
            engine.publish(Remediated(web, now, "kill", "unhealthy", 2))
            engine.publish(RemediationExhausted(web, now, "restart", "unhealthy", 2))
            engine.report(TargetRestarted(other, now))
            samples = scrape(metrics)
        assert value(samples, "vigil_service_restarts_total", service="web") == 3
        assert value(samples, "vigil_service_restarts_total", service="other") == 1
        assert value(samples, "vigil_remediations_total", service="web", action="restart") == 1
        assert value(samples, "vigil_remediations_total", service="web", action="kill") == 1
        assert ("vigil_remediations_total",
                frozenset({("service", "other"), ("action", "restart")})) not in samples

    run(scenario)


def test_counts_stay_exact_when_subscribers_fall_behind() -> None:
    """Thousands of events with a subscriber that never reads (its queue overflows and is
    closed) and probes of many services: the metrics miss none."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            stalled = engine.events(maxsize=10)
            probes = {f"s{i}": ScriptedProbe([0, 1]) for i in range(50)}
            for name, probe in probes.items():
                engine.add(name, check(interval=S), probe=probe)
                engine.start(name)
            web = engine.ref("s0")
            for attempt in range(MANY):
                engine.publish(Remediated(web, clock.now_ns(), "restart", "unhealthy", attempt))
            await clock.run_for(20 * S)
            for name in probes:
                await engine.stop(name)
            samples = scrape(metrics)
            assert stalled.closed
        assert value(samples, "vigil_remediations_total", service="s0", action="restart") == MANY
        total = sum(probe.runs for probe in probes.values())
        assert total >= 50 * 19
        assert value(samples, "engine_daemon_health_checks_total") == total
        assert sum(value(samples, "vigil_probes_total", service=name, result=r)
                   for name in probes for r in ("pass", "fail")) == total

    run(scenario)


def test_services_there_before_the_metrics_are_counted_from_then_on() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with Engine(clock=clock) as engine:
            engine.add("web", check(interval=S), probe=ScriptedProbe([0]))
            metrics = EngineMetrics(engine)
            engine.start("web")
            assert await clock.run_until_true(lambda: results(engine, "web") == 2)
            samples = scrape(metrics)
            metrics.close()
            assert list(metrics.registry.collect()) == []
        assert value(samples, "vigil_probes_total", service="web", result="pass") == 2

    run(scenario)


def test_two_engines_in_one_process_do_not_collide() -> None:
    """Each EngineMetrics has its own registry (never prometheus_client's global one)."""

    async def scenario() -> None:
        async with Engine(clock=FakeClock()) as one, Engine(clock=FakeClock()) as two:
            first, second = EngineMetrics(one), EngineMetrics(two)
            one.add("web")
            assert first.registry is not second.registry
            assert of_service(scrape(first), "web") != {}
            assert of_service(scrape(second), "web") == {}

    run(scenario)


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text; version=1.0.0"])
def test_a_big_scrape_renders_off_the_loop_the_same_text(accept: str | None) -> None:
    """Past INLINE_ROWS services the text is made on a worker thread from a snapshot taken
    on the loop: byte for byte what rendering on the loop gives."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            for i in range(exposition.INLINE_ROWS + 5):
                engine.add(f"s{i}", check(interval=S), probe=ScriptedProbe([i % 2]))
                engine.start(f"s{i}")
            await clock.run_for(3 * S)
            body, content_type = await exposition.scrape(metrics, accept)
            assert (body, content_type) == render(metrics, accept)
            assert body.count(b"vigil_health_failing_streak{") == exposition.INLINE_ROWS + 5

    run(scenario)


# ---- a property: the counts against what happened, on random lifecycles ------------------

STEP = st.one_of(
    st.just("error"),
    st.builds(ProbeStep, exit_code=st.sampled_from([0, 1]),
              duration_ns=st.integers(0, 3 * S)),
)
ACTION = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, 4 * S)),
    st.tuples(st.sampled_from(["stop", "start", "pause", "resume"]), st.just(0)),
)


@settings(derandomize=True, database=None, deadline=None, max_examples=60)
@example(steps=[ProbeStep(0, duration_ns=3 * S)],  # restarted mid-probe, then probing on
         actions=[("advance", 3 * S // 2), ("start", 0), ("advance", 6 * S)])
@example(steps=["error", ProbeStep(1, duration_ns=3 * S)],
         actions=[("advance", 3 * S), ("pause", 0), ("resume", 0), ("advance", 9 * S)])
@given(steps=st.lists(STEP, min_size=1, max_size=8), actions=st.lists(ACTION, max_size=25))
def test_counts_match_what_happened(steps: list[int | ProbeStep | str],
                                    actions: list[tuple[str, int]]) -> None:
    """Whatever the probes do and whatever happens to the service (stops, pauses and
    restarts mid-probe included): health_checks_total is the probes begun, the failed ones
    are the errors plus the probes begun that never had a result, and every per-service
    series matches the ProbeCompleted events and the engine's health."""

    async def scenario() -> None:
        async with metered() as (clock, engine, metrics):
            events = engine.events(maxsize=1_000_000)
            seen: list[TargetEvent] = []
            probe = Steps(steps)
            engine.add("web", check(interval=S, timeout=2 * S, retries=2), probe=probe)
            engine.start("web")
            for action, ns in actions:
                if action == "advance":
                    await clock.run_for(ns)
                elif action == "stop":
                    await engine.stop("web")
                elif action == "start":
                    engine.start("web")  # while running: a restart
                elif action == "pause":
                    engine.pause("web")
                else:
                    engine.resume("web")
            for moment in ("live", "closed"):
                if moment == "closed":
                    await engine.aclose()
                else:
                    await clock.run_for(0)  # cancelled probes have ended
                got = scrape(metrics)
                while (event := events.get_nowait()) is not None:
                    seen.append(event)
                completed = [e.result for e in seen if isinstance(e, ProbeCompleted)]
                errors = sum(r.outcome is Outcome.ERROR for r in completed)
                assert value(got, "engine_daemon_health_checks_total") == probe.runs
                assert value(got, "engine_daemon_health_checks_failed_total") == (
                    errors + probe.runs - len(completed) - probe.running)
                for outcome in Outcome:
                    assert value(got, "vigil_probes_total", service="web",
                                 result=outcome.value) == sum(
                        r.outcome is outcome for r in completed)
                assert value(got, "vigil_probe_duration_seconds_count", service="web") == len(
                    completed)
                assert value(got, "vigil_probe_duration_seconds_sum", service="web") == (
                    pytest.approx(sum(r.end - r.start for r in completed) / 1e9))
                health = engine.health("web")
                assert value(got, "vigil_health_failing_streak", service="web") == (
                    health.failing_streak)
                assert value(got, "vigil_health_status", service="web",
                             status=health.status.value) == 1

    run(scenario)

