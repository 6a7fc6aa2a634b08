"""Pure pieces of mirroring: Docker's times, State and Health as vigil's values, which Log
entries are new; and a ContainerTarget's lifecycle events from successive inspects."""

from __future__ import annotations

from vigil.core.events import (
    LifecycleEvent,
    TargetDied,
    TargetPaused,
    TargetRef,
    TargetStarted,
    TargetUnpaused,
)
from vigil.core.lifecycle import ProcessState, ProcessStatus
from vigil.core.status import HealthStatus
from vigil.docker.mirror import health_state, new_results, parse_time, process_state
from vigil.dockerd.client import DockerClient
from vigil.targets.container import ContainerTarget
from vigil.testing import FakeClock

S = 1_000_000_000


def test_times_parse_as_go_writes_them() -> None:
    """RFC 3339 with nanoseconds or fewer digits, with zones; Go's zero time is 0."""
    assert parse_time("1970-01-01T00:00:01.5Z") == S + S // 2
    assert parse_time("2026-12-01T11:32:41.042382031Z") == 1796124761 * S + 42382031
    assert parse_time("1970-01-01T01:00:00+01:00") == 0
    assert parse_time("0001-01-01T00:00:00Z") == 0
    assert parse_time("yesterday") == 0
    assert parse_time(None) == 0


def test_state_and_health_from_inspect() -> None:
    """Paused wins over running; the Log keeps its order and Docker's exit codes."""
    state = {"Status": "running", "Paused": True, "Pid": 42, "ExitCode": 0,
             "StartedAt": "1970-01-01T00:00:10Z", "FinishedAt": "0001-01-01T00:00:00Z",
             "Health": {"Status": "unhealthy", "FailingStreak": 3, "Log": [
                 {"Start": "1970-01-01T00:00:11Z", "End": "1970-01-01T00:00:12Z",
                  "ExitCode": 1, "Output": "no\n"},
                 {"Start": "1970-01-01T00:00:13Z", "End": "1970-01-01T00:00:14Z",
                  "ExitCode": -1, "Output": "Health check exceeded timeout (1s)"}]}}
    assert process_state(state) == ProcessState(ProcessStatus.PAUSED, pid=42,
                                                started_at=10 * S)
    health = health_state(state)
    assert health is not None
    assert (health.status, health.failing_streak, health.started_at) \
        == (HealthStatus.UNHEALTHY, 3, 10 * S)
    assert [(r.start, r.exit_code, r.output) for r in health.log] == [
        (11 * S, 1, "no\n"), (13 * S, -1, "Health check exceeded timeout (1s)")]
    assert new_results(health.log[:1], health.log) == health.log[1:]
    assert new_results(health.log, health.log) == ()
    assert new_results((), health.log) == health.log
    assert health_state({"Status": "running"}) is None


def test_container_target_reports_what_changed() -> None:
    """start, pause, unpause, a restart seen as one inspect (die then start), an exit."""
    clock = FakeClock()
    seen: list[LifecycleEvent] = []
    target = ContainerTarget(TargetRef("c" * 64, "docker/x"), "c" * 64,
                             client=DockerClient("unix:///nonexistent"), clock=clock,
                             report=seen.append)

    def inspect(status: str, started: int, paused: bool = False, code: int = 0) -> None:
        target.sync({"State": {"Status": status, "Paused": paused, "ExitCode": code,
                               "StartedAt": f"1970-01-01T00:00:{started:02d}Z"}})

    inspect("running", 1)
    inspect("running", 1)  # nothing new
    inspect("paused", 1, paused=True)
    inspect("running", 1)
    inspect("running", 5)  # restarted between two reads
    inspect("exited", 5, code=3)
    kinds = [type(e) for e in seen]
    assert kinds == [TargetStarted, TargetPaused, TargetUnpaused, TargetDied, TargetStarted,
                     TargetDied]
    assert isinstance(seen[-1], TargetDied)
    assert seen[-1].exit_code == 3
    assert target.state.started_at == 5 * S  # Docker's own time, not when vigil read it
