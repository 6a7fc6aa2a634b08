"""The pure health state machine (reference §2.3 defaults, §2.8 transitions, §2.9 scheduling,
§2.10 lifecycle).

Scenario tables re-express moby ``daemon/health_test.go`` (TestHealthStates: "starting ->
failed -> success -> failed", retries, start period) with synthetic probe start times
relative to the target's start. No asyncio here: the core is sans-I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.config import HealthcheckConfig, validate_healthcheck
from vigil.core.events import Event, ProbeCompleted, StatusChanged, TargetRef
from vigil.core.health import HealthState, HealthStatus, apply_result, next_delay, start, stop
from vigil.core.results import Outcome, ProbeResult
from vigil.go.duration import MICROSECOND, MILLISECOND, SECOND

STARTING = HealthStatus.STARTING
HEALTHY = HealthStatus.HEALTHY
UNHEALTHY = HealthStatus.UNHEALTHY
NONE = HealthStatus.NONE

T0 = 1_700_000_000 * SECOND  # the target's StartedAt, Unix ns
REF = TargetRef("0123abcd" * 8, "web")
PROPERTY = settings(derandomize=True, deadline=None, max_examples=300)


def _result(offset: int, exit_code: int, *, duration: int = 0) -> ProbeResult:
    outcome = Outcome.PASS if exit_code == 0 else Outcome.FAIL
    return ProbeResult(T0 + offset, T0 + offset + duration, exit_code, f"exit {exit_code}", outcome)


def _changes(events: list[Event]) -> list[StatusChanged]:
    return [e for e in events if isinstance(e, StatusChanged)]


def _completions(events: list[Event]) -> list[ProbeCompleted]:
    return [e for e in events if isinstance(e, ProbeCompleted)]


@dataclass(frozen=True)
class Step:
    """One probe result (start offset from T0, exit code) and what must follow from it."""

    offset: int
    exit_code: int
    status: HealthStatus
    streak: int
    change: HealthStatus | None = None


S = SECOND
SCENARIOS = {
    # moby TestHealthStates, Retries 1
    "starting-failed-success-failed": (
        HealthcheckConfig(retries=1),
        [
            Step(1 * S, 1, UNHEALTHY, 1, UNHEALTHY),
            Step(2 * S, 0, HEALTHY, 0, HEALTHY),
            Step(3 * S, 1, UNHEALTHY, 1, UNHEALTHY),
        ],
    ),
    # moby TestHealthStates "Test retries": still starting with FailingStreak 2
    "retries-3": (
        HealthcheckConfig(retries=3),
        [
            Step(20 * S, 1, STARTING, 1),
            Step(40 * S, 1, STARTING, 2),
            Step(60 * S, 1, UNHEALTHY, 3, UNHEALTHY),
            Step(80 * S, 0, HEALTHY, 0, HEALTHY),
        ],
    ),
    # moby TestHealthStates "Test start period"
    "start-period": (
        HealthcheckConfig(retries=2, start_period=30 * S),
        [
            Step(20 * S, 1, STARTING, 0),
            Step(50 * S, 1, STARTING, 1),
            Step(80 * S, 0, HEALTHY, 0, HEALTHY),
        ],
    ),
    "retries-0-means-3": (
        HealthcheckConfig(retries=0),
        [
            Step(1 * S, 1, STARTING, 1),
            Step(2 * S, 1, STARTING, 2),
            Step(3 * S, 1, UNHEALTHY, 3, UNHEALTHY),
        ],
    ),
    "retries-negative-means-3": (
        HealthcheckConfig(retries=-5),
        [
            Step(1 * S, 2, STARTING, 1),
            Step(2 * S, -1, STARTING, 2),
            Step(3 * S, 127, UNHEALTHY, 3, UNHEALTHY),
        ],
    ),
    "streak-grows-past-retries-silently": (
        HealthcheckConfig(retries=2),
        [
            Step(1 * S, 1, STARTING, 1),
            Step(2 * S, 1, UNHEALTHY, 2, UNHEALTHY),
            Step(3 * S, 1, UNHEALTHY, 3),
            Step(4 * S, 1, UNHEALTHY, 4),
            Step(5 * S, 137, UNHEALTHY, 5),
        ],
    ),
    "healthy-needs-retries-failures-to-turn": (
        HealthcheckConfig(retries=3),
        [
            Step(1 * S, 0, HEALTHY, 0, HEALTHY),
            Step(2 * S, 1, HEALTHY, 1),
            Step(3 * S, 1, HEALTHY, 2),
            Step(4 * S, 0, HEALTHY, 0),
            Step(5 * S, 1, HEALTHY, 1),
            Step(6 * S, 1, HEALTHY, 2),
            Step(7 * S, 1, UNHEALTHY, 3, UNHEALTHY),
        ],
    ),
    "start-period-boundary-is-strict": (
        HealthcheckConfig(retries=2, start_period=30 * S),
        [
            Step(0, 1, STARTING, 0),
            Step(30 * S - 1, 1, STARTING, 0),
            Step(30 * S, 1, STARTING, 1),
            Step(30 * S + 1, 1, UNHEALTHY, 2, UNHEALTHY),
        ],
    ),
    "success-in-start-period-then-failures-count": (
        HealthcheckConfig(retries=1, start_period=60 * S),
        [
            Step(5 * S, 1, STARTING, 0),
            Step(10 * S, 0, HEALTHY, 0, HEALTHY),
            Step(15 * S, 1, UNHEALTHY, 1, UNHEALTHY),
            Step(20 * S, 1, UNHEALTHY, 2),
        ],
    ),
    "starting-after-start-period-needs-retries": (
        HealthcheckConfig(retries=3, start_period=10 * S),
        [
            Step(5 * S, 1, STARTING, 0),
            Step(15 * S, 1, STARTING, 1),
            Step(25 * S, 1, STARTING, 2),
            Step(35 * S, 1, UNHEALTHY, 3, UNHEALTHY),
        ],
    ),
    "exit-code-2-is-a-failure": (
        HealthcheckConfig(retries=1),
        [Step(1 * S, 2, UNHEALTHY, 1, UNHEALTHY)],
    ),
    "start-period-ignored-failures-then-success": (
        HealthcheckConfig(start_period=10 * MILLISECOND),
        [
            Step(1 * MILLISECOND, 1, STARTING, 0),
            Step(9 * MILLISECOND, -1, STARTING, 0),
            Step(10 * MILLISECOND, 0, HEALTHY, 0, HEALTHY),
        ],
    ),
}


@pytest.mark.parametrize(("config", "steps"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_scenario(config: HealthcheckConfig, steps: list[Step]) -> None:
    """Each probe result moves status and streak as moby's handleProbeResult does."""
    state = start(HealthState(), T0)
    for step in steps:
        state, events = apply_result(state, config, _result(step.offset, step.exit_code), REF)
        assert (state.status, state.failing_streak) == (step.status, step.streak), step
        assert [c.new for c in _changes(events)] == ([step.change] if step.change else []), step


def test_ignored_failure_does_not_reset_streak() -> None:
    """A start-period failure while starting leaves a non-zero streak as it was."""
    config = HealthcheckConfig(retries=5, start_period=30 * S)
    state = HealthState(STARTING, 2, (), T0)
    state, events = apply_result(state, config, _result(10 * S, 1), REF)
    assert (state.status, state.failing_streak) == (STARTING, 2)
    assert _changes(events) == []


def test_start_period_is_judged_on_probe_start_not_end() -> None:
    """A failure that started inside the start period is ignored even if it ended after it."""
    config = HealthcheckConfig(retries=1, start_period=30 * S)
    state = start(HealthState(), T0)
    state, _ = apply_result(state, config, _result(29 * S, 1, duration=5 * S), REF)
    assert (state.status, state.failing_streak) == (STARTING, 0)


def test_success_always_gives_healthy_and_zero_streak() -> None:
    """A success from unhealthy with a long streak resets the streak and reports healthy."""
    state = HealthState(UNHEALTHY, 356, (), T0)
    state, events = apply_result(state, HealthcheckConfig(), _result(S, 0), REF)
    assert (state.status, state.failing_streak) == (HEALTHY, 0)
    assert _changes(events) == [StatusChanged(REF, T0 + S, UNHEALTHY, HEALTHY)]


def test_unhealthy_after_stop_counts_failures_inside_start_period() -> None:
    """After a stop (pause, then unpause) the status is not starting, so failures count."""
    config = HealthcheckConfig(retries=3, start_period=60 * S)
    state = stop(start(HealthState(), T0))
    state, events = apply_result(state, config, _result(5 * S, 1), REF)
    assert (state.status, state.failing_streak) == (UNHEALTHY, 1)
    assert _changes(events) == []


def test_status_changed_carries_old_and_new() -> None:
    """The change event names the previous and the new status."""
    state = start(HealthState(), T0)
    state, events = apply_result(state, HealthcheckConfig(retries=1), _result(S, 1), REF)
    assert _changes(events) == [StatusChanged(REF, T0 + S, STARTING, UNHEALTHY)]
    _, events = apply_result(state, HealthcheckConfig(retries=1), _result(2 * S, 0), REF)
    assert _changes(events) == [StatusChanged(REF, T0 + 2 * S, UNHEALTHY, HEALTHY)]


@pytest.mark.parametrize("exit_code", [0, 1])
def test_probe_completed_on_every_apply(exit_code: int) -> None:
    """Every applied result yields one ProbeCompleted with the result and the new state."""
    result = _result(S, exit_code)
    state, events = apply_result(start(HealthState(), T0), HealthcheckConfig(), result, REF)
    completed = ProbeCompleted(REF, result.end, result, state.status, state.failing_streak)
    assert _completions(events) == [completed]


@pytest.mark.parametrize("count", [1, 4, 5, 6, 12])
def test_log_keeps_five_newest_oldest_first(count: int) -> None:
    """The log holds the newest five results in the order they happened."""
    state = start(HealthState(), T0)
    results = [_result(i * S, i % 2) for i in range(count)]
    for result in results:
        state, _ = apply_result(state, HealthcheckConfig(), result, REF)
    assert state.log == tuple(results[-5:])


def test_ignored_failure_is_still_logged() -> None:
    """A failure ignored by the start period is still appended to the log."""
    config = HealthcheckConfig(start_period=30 * S)
    result = _result(S, 1)
    state, _ = apply_result(start(HealthState(), T0), config, result, REF)
    assert state.log == (result,)


def test_apply_does_not_mutate_its_input() -> None:
    """Applying a result returns a new state and leaves the old one untouched."""
    before = start(HealthState(), T0)
    after, _ = apply_result(before, HealthcheckConfig(retries=1), _result(S, 1), REF)
    assert before == HealthState(STARTING, 0, (), T0)
    assert after.started_at == T0


# --- Lifecycle (§2.10) ------------------------------------------------------------------


def test_new_state_has_no_health() -> None:
    """Before any monitor ran, the status is none with an empty log (State.Health nil)."""
    assert HealthState() == HealthState(NONE, 0, (), 0)


def test_start_resets_to_starting_and_keeps_log() -> None:
    """Start or restart gives starting with streak 0, keeps the log, records StartedAt."""
    log = (_result(S, 1), _result(2 * S, 1))
    restarted = start(HealthState(UNHEALTHY, 7, log, T0), T0 + 100 * S)
    assert restarted == HealthState(STARTING, 0, log, T0 + 100 * S)


def test_start_emits_no_event() -> None:
    """Start is a silent transition: it returns only the new state."""
    assert isinstance(start(HealthState(), T0), HealthState)


@pytest.mark.parametrize("status", [STARTING, HEALTHY, UNHEALTHY])
def test_stop_is_unhealthy_keeping_streak_and_log(status: HealthStatus) -> None:
    """Stop, exit or pause set unhealthy silently, keeping streak, log and StartedAt."""
    log = (_result(S, 0),)
    stopped = stop(HealthState(status, 2, log, T0))
    assert stopped == HealthState(UNHEALTHY, 2, log, T0)


def test_stop_of_none_stays_none() -> None:
    """Stopping a target that never had a monitor leaves it without health."""
    assert stop(HealthState()) == HealthState()


def test_restart_after_stop_is_starting_again() -> None:
    """A stopped target that starts again is starting with streak 0 and its old log."""
    config = HealthcheckConfig(retries=1)
    state, _ = apply_result(start(HealthState(), T0), config, _result(S, 1), REF)
    state = start(stop(state), T0 + 10 * S)
    assert (state.status, state.failing_streak, len(state.log)) == (STARTING, 0, 1)


# --- Scheduling (§2.9) ------------------------------------------------------------------


def _delay(status: HealthStatus, config: HealthcheckConfig, elapsed: int) -> int:
    return next_delay(HealthState(status, 0, (), T0), config, T0 + elapsed)


@pytest.mark.parametrize(
    ("config", "status", "elapsed", "expected"),
    [
        # no start period: the start interval is never used (moby#45897)
        (HealthcheckConfig(), STARTING, 0, 30 * S),
        (HealthcheckConfig(start_interval=S), STARTING, 0, 30 * S),
        (HealthcheckConfig(interval=10 * S, start_interval=S), STARTING, 5 * S, 10 * S),
        # inside the start period while starting: start interval, default 5s
        (HealthcheckConfig(start_period=60 * S), STARTING, 0, 5 * S),
        (HealthcheckConfig(start_period=60 * S), STARTING, 10 * S, 5 * S),
        (HealthcheckConfig(start_period=60 * S, start_interval=2 * S), STARTING, 10 * S, 2 * S),
        (HealthcheckConfig(start_period=60 * S), STARTING, 60 * S - 1, 5 * S),
        # start period over (>=): interval
        (HealthcheckConfig(start_period=60 * S), STARTING, 60 * S, 30 * S),
        (HealthcheckConfig(start_period=60 * S, interval=7 * S), STARTING, 61 * S, 7 * S),
        # inside the start period but no longer starting: interval
        (HealthcheckConfig(start_period=60 * S), HEALTHY, 10 * S, 30 * S),
        (HealthcheckConfig(start_period=60 * S), UNHEALTHY, 10 * S, 30 * S),
        (HealthcheckConfig(start_period=60 * S, interval=S), HEALTHY, 10 * S, S),
    ],
)
def test_next_delay(
    config: HealthcheckConfig, status: HealthStatus, elapsed: int, expected: int
) -> None:
    """The next delay follows moby's getInterval(): start interval only while starting in SP."""
    assert _delay(status, config, elapsed) == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (HealthcheckConfig(), 30 * S),
        (HealthcheckConfig(interval=S), S),
        (HealthcheckConfig(start_period=S), 5 * S),
        (HealthcheckConfig(start_period=S, start_interval=100 * MILLISECOND), 100 * MILLISECOND),
    ],
)
def test_first_probe_is_never_immediate(config: HealthcheckConfig, expected: int) -> None:
    """Right after start the first probe waits the interval, or the start interval with SP."""
    assert next_delay(start(HealthState(), T0), config, T0) == expected


# --- Configuration the state machine reads (§2.3) --------------------------------------


def test_defaults_are_applied_at_run_time_only() -> None:
    """An empty config stores zeros and reads Docker's defaults through effective values."""
    config = HealthcheckConfig()
    stored = (config.interval, config.timeout, config.start_period, config.start_interval)
    assert stored == (0, 0, 0, 0)
    assert config.retries == 0
    assert config.effective_interval == 30 * S
    assert config.effective_timeout == 30 * S
    assert config.effective_start_period == 0
    assert config.effective_start_interval == 5 * S
    assert config.failure_threshold == 3


@pytest.mark.parametrize(("retries", "threshold"), [(-3, 3), (-1, 3), (0, 3), (1, 1), (5, 5)])
def test_failure_threshold(retries: int, threshold: int) -> None:
    """Retries of zero or below mean the default threshold of 3."""
    assert HealthcheckConfig(retries=retries).failure_threshold == threshold


def test_set_values_override_defaults() -> None:
    """Non-zero durations are used exactly as configured."""
    config = HealthcheckConfig(interval=S, timeout=2 * S, start_period=3 * S, start_interval=4 * S)
    effective = (
        config.effective_interval,
        config.effective_timeout,
        config.effective_start_period,
        config.effective_start_interval,
    )
    assert effective == (S, 2 * S, 3 * S, 4 * S)


MS = MILLISECOND
VALIDATION = [
    (HealthcheckConfig(), None),
    (HealthcheckConfig(interval=MS, timeout=MS, start_period=MS, start_interval=MS), None),
    (HealthcheckConfig(retries=0), None),
    (HealthcheckConfig(interval=MS - 1), "Interval in Healthcheck cannot be less than 1ms"),
    (HealthcheckConfig(interval=-S), "Interval in Healthcheck cannot be less than 1ms"),
    (HealthcheckConfig(timeout=MICROSECOND), "Timeout in Healthcheck cannot be less than 1ms"),
    (HealthcheckConfig(retries=-1), "Retries in Healthcheck cannot be negative"),
    (HealthcheckConfig(start_period=1), "StartPeriod in Healthcheck cannot be less than 1ms"),
    (HealthcheckConfig(start_interval=-1), "StartInterval in Healthcheck cannot be less than 1ms"),
    # first failure wins, in moby's order: Interval, Timeout, Retries, StartPeriod, StartInterval
    (
        HealthcheckConfig(interval=1, timeout=1, retries=-1, start_period=1, start_interval=1),
        "Interval in Healthcheck cannot be less than 1ms",
    ),
    (
        HealthcheckConfig(timeout=1, retries=-1, start_period=1, start_interval=1),
        "Timeout in Healthcheck cannot be less than 1ms",
    ),
    (
        HealthcheckConfig(retries=-1, start_period=1, start_interval=1),
        "Retries in Healthcheck cannot be negative",
    ),
    (
        HealthcheckConfig(start_period=1, start_interval=1),
        "StartPeriod in Healthcheck cannot be less than 1ms",
    ),
    # no rule ties the start interval to the start period in the engine
    (HealthcheckConfig(start_interval=S), None),
]


@pytest.mark.parametrize(("config", "message"), VALIDATION)
def test_validate_healthcheck(config: HealthcheckConfig, message: str | None) -> None:
    """Create-time validation returns Docker's first error message, or None when valid."""
    assert validate_healthcheck(config) == message


@pytest.mark.parametrize(
    ("status", "text"),
    [(NONE, "none"), (STARTING, "starting"), (HEALTHY, "healthy"), (UNHEALTHY, "unhealthy")],
)
def test_status_strings(status: HealthStatus, text: str) -> None:
    """Statuses carry Docker's HealthStatus strings."""
    assert status.value == text
    assert str(status) == text


# --- Properties --------------------------------------------------------------------------

probe_op = st.tuples(
    st.just("probe"),
    st.integers(min_value=-S, max_value=120 * S),
    st.sampled_from([0, 0, 1, 2, -1, 127]),
)
start_op = st.tuples(st.just("start"), st.integers(min_value=0, max_value=120 * S), st.just(0))
stop_op = st.tuples(st.just("stop"), st.just(0), st.just(0))
configs = st.builds(
    HealthcheckConfig,
    retries=st.integers(min_value=-2, max_value=5),
    start_period=st.sampled_from([0, MS, 10 * S, 30 * S, 60 * S]),
)


def _check_apply(
    before: HealthState, config: HealthcheckConfig, result: ProbeResult, history: list[ProbeResult]
) -> HealthState:
    after, events = apply_result(before, config, result, REF)
    assert after.log == tuple(history[-5:])
    assert len(after.log) <= 5
    assert after.started_at == before.started_at
    completed = ProbeCompleted(REF, result.end, result, after.status, after.failing_streak)
    assert _completions(events) == [completed]
    changes = _changes(events)
    if after.status is before.status:
        assert changes == []
    else:
        assert changes == [StatusChanged(REF, result.end, before.status, after.status)]
        assert changes[0].new is not STARTING
    if result.exit_code == 0:
        assert (after.status, after.failing_streak) == (HEALTHY, 0)
        return after
    ignored = (
        before.status is STARTING
        and result.start - before.started_at < config.effective_start_period
    )
    assert after.failing_streak - before.failing_streak == (0 if ignored else 1)
    if ignored or after.failing_streak < config.failure_threshold:
        assert after.status is before.status
    else:
        assert after.status is UNHEALTHY
    return after


@PROPERTY
@given(configs, st.lists(st.one_of(probe_op, probe_op, start_op, stop_op), max_size=30))
def test_state_machine_invariants(
    config: HealthcheckConfig, ops: list[tuple[str, int, int]]
) -> None:
    """Over any mix of results, starts and stops, every documented invariant holds."""
    state = start(HealthState(), T0)
    history: list[ProbeResult] = []
    for kind, offset, exit_code in ops:
        if kind == "probe":
            result = _result(offset, exit_code)
            history.append(result)
            state = _check_apply(state, config, result, history)
        elif kind == "start":
            restarted = start(state, T0 + offset)
            assert restarted == HealthState(STARTING, 0, state.log, T0 + offset)
            state = restarted
        else:
            stopped = stop(state)
            assert stopped == HealthState(
                UNHEALTHY, state.failing_streak, state.log, state.started_at
            )
            state = stopped


@PROPERTY
@given(configs, st.sampled_from(list(HealthStatus)), st.integers(min_value=-S, max_value=200 * S))
def test_next_delay_is_one_of_the_two_intervals(
    config: HealthcheckConfig, status: HealthStatus, elapsed: int
) -> None:
    """The delay is the start interval exactly when starting inside the start period."""
    in_start_period = elapsed < config.effective_start_period
    expected = (
        config.effective_start_interval
        if in_start_period and status is STARTING
        else config.effective_interval
    )
    assert _delay(status, config, elapsed) == expected
