"""Restart policies and back-off: moby's restartmanager and its validation texts, as tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.core.config import RestartPolicy
from vigil.core.lifecycle import (
    BACKOFF_MAX,
    RestartTracker,
    cancel,
    kill_cancels_restart,
    next_backoff,
    parse_restart_policy,
    should_restart,
    start_exit_code,
    validate_restart_policy,
)
from vigil.exceptions import ConfigError
from vigil.go.duration import MILLISECOND, SECOND

MS = MILLISECOND
S = SECOND
SIGTERM, SIGKILL, SIGHUP, SIGUSR1 = 15, 9, 1, 10

ALWAYS = RestartPolicy("always")
UNLESS_STOPPED = RestartPolicy("unless-stopped")
ON_FAILURE = RestartPolicy("on-failure")
NO = RestartPolicy("no")


def run_exits(
    policy: RestartPolicy, exits: list[tuple[int, int]], *, manually_stopped: bool = False
) -> list[tuple[bool, int, int]]:
    """Feed (exit_code, uptime) pairs; return (restart, delay, restart_count) after each."""
    tracker = RestartTracker.fresh(policy)
    seen = []
    for code, uptime in exits:
        decision = should_restart(
            tracker, exit_code=code, manually_stopped=manually_stopped, uptime_ns=uptime
        )
        tracker = decision.tracker
        seen.append((decision.restart, decision.delay_ns, tracker.restart_count))
    return seen


def test_backoff_doubles_from_100ms_and_caps_at_one_minute() -> None:
    """Quick crashes wait 100 ms, 200 ms, 400 ms ... and never more than one minute."""
    delays = [delay for _, delay, _ in run_exits(ALWAYS, [(1, 0)] * 14)]
    expected = [min(100 * MS * 2**i, 60 * S) for i in range(14)]
    assert delays == expected
    assert delays[:4] == [100 * MS, 200 * MS, 400 * MS, 800 * MS]
    assert delays[9:] == [51_200 * MS, 60 * S, 60 * S, 60 * S, 60 * S]


@pytest.mark.parametrize(
    ("uptimes", "expected"),
    [
        ([0, 0, 0, 10 * S, 0], [100, 200, 400, 100, 200]),
        ([0, 0, 10 * S - 1, 0], [100, 200, 400, 800]),  # just under 10 s does not reset
        ([0, 0, 10 * S], [100, 200, 100]),
        ([3600 * S, 3600 * S], [100, 100]),
    ],
)
def test_backoff_resets_after_ten_seconds_of_uptime(
    uptimes: list[int], expected: list[int]
) -> None:
    """A run of 10 s or more starts the back-off over at 100 ms (moby: executionDuration >= 10)."""
    delays = [delay for _, delay, _ in run_exits(ALWAYS, [(1, u) for u in uptimes])]
    assert delays == [ms * MS for ms in expected]


@pytest.mark.parametrize(
    ("previous", "uptime", "expected"),
    [
        (0, 0, 100 * MS),
        (100 * MS, 0, 200 * MS),
        (40 * S, 0, BACKOFF_MAX),
        (BACKOFF_MAX, 0, BACKOFF_MAX),
        (BACKOFF_MAX, 10 * S, 100 * MS),
    ],
)
def test_next_backoff(previous: int, uptime: int, expected: int) -> None:
    """One step of moby's timeout arithmetic."""
    assert next_backoff(previous, uptime) == expected


@pytest.mark.parametrize(
    ("policy", "exit_code", "manually_stopped", "restart"),
    [
        (NO, 0, False, False),
        (NO, 1, False, False),
        (RestartPolicy(""), 1, False, False),
        (ALWAYS, 0, False, True),
        (ALWAYS, 137, False, True),
        (ALWAYS, 1, True, True),  # only a cancelled tracker stops "always" (see below)
        (UNLESS_STOPPED, 0, False, True),
        (UNLESS_STOPPED, 1, False, True),
        (UNLESS_STOPPED, 1, True, False),
        (ON_FAILURE, 0, False, False),
        (ON_FAILURE, 1, False, True),
        (ON_FAILURE, 143, True, True),
    ],
)
def test_policy_decides_on_exit_code_and_manual_stop(
    policy: RestartPolicy, exit_code: int, manually_stopped: bool, restart: bool
) -> None:
    """moby ShouldRestart: always restarts, unless-stopped unless stopped, on-failure on != 0."""
    [(decided, _, count)] = run_exits(policy, [(exit_code, 0)], manually_stopped=manually_stopped)
    assert decided is restart
    assert count == (1 if restart else 0)


@pytest.mark.parametrize("policy", [NO, ALWAYS, UNLESS_STOPPED, ON_FAILURE])
def test_manual_stop_cancels_any_pending_restart(policy: RestartPolicy) -> None:
    """After a manual stop (Cancel), no policy restarts, whatever the exit code."""
    tracker = cancel(RestartTracker.fresh(policy))
    for code in (0, 1, 137):
        decision = should_restart(tracker, exit_code=code, manually_stopped=True, uptime_ns=0)
        assert not decision.restart
        assert decision.tracker.restart_count == 0


@pytest.mark.parametrize(
    ("limit", "restarts"),
    [(1, 1), (3, 3), (0, 10)],  # 0 = no limit: all 10 failures restart
)
def test_on_failure_stops_after_n_restarts(limit: int, restarts: int) -> None:
    """on-failure:N restarts while RestartCount < N, counting automatic restarts only."""
    seen = run_exits(RestartPolicy("on-failure", limit), [(1, 0)] * 10)
    assert [restart for restart, _, _ in seen] == [True] * restarts + [False] * (10 - restarts)
    assert seen[-1][2] == restarts


def test_restart_count_increments_only_on_restarts() -> None:
    """RestartCount follows automatic restarts; a clean exit under on-failure leaves it."""
    seen = run_exits(ON_FAILURE, [(1, 0), (0, 0)])
    assert [(r, c) for r, _, c in seen] == [(True, 1), (False, 1)]


def test_a_fresh_tracker_starts_over() -> None:
    """A manual start (ResetRestartManager) clears count, back-off and cancellation."""
    tracker = RestartTracker(ALWAYS, restart_count=7, backoff=BACKOFF_MAX, canceled=True)
    assert RestartTracker.fresh(tracker.policy) == RestartTracker(ALWAYS)


@given(
    exits=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 20 * S)), min_size=1, max_size=40),
    name=st.sampled_from(["no", "always", "unless-stopped", "on-failure"]),
    limit=st.integers(0, 5),
)
def test_backoff_and_count_invariants(exits: list[tuple[int, int]], name: str, limit: int) -> None:
    """Delays stay within [100 ms, 1 min]; on-failure:N never exceeds N restarts."""
    policy = RestartPolicy(name, limit if name == "on-failure" else 0)
    for restart, delay, count in run_exits(policy, exits):
        if restart:
            assert 100 * MS <= delay <= BACKOFF_MAX
        if name == "on-failure" and limit:
            assert count <= limit
        if name == "no":
            assert count == 0


@pytest.mark.parametrize(
    ("sent", "configured", "cancels"),
    [
        (SIGKILL, None, True),
        (SIGKILL, SIGUSR1, True),
        (SIGTERM, None, True),  # no stop_signal configured: every kill cancels (moby)
        (SIGHUP, None, True),
        (SIGUSR1, SIGUSR1, True),
        (SIGTERM, SIGUSR1, False),
        (SIGHUP, SIGTERM, False),
    ],
)
def test_kill_cancels_restart_like_kill_with_signal(
    sent: int, configured: int | None, cancels: bool
) -> None:
    """docker kill cancels the restart policy for SIGKILL and the (configured) stop signal."""
    assert kill_cancels_restart(sent, configured) is cancels


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", RestartPolicy("no")),
        ("no", RestartPolicy("no")),
        ("always", RestartPolicy("always")),
        ("unless-stopped", RestartPolicy("unless-stopped")),
        ("on-failure", RestartPolicy("on-failure")),
        ("on-failure:5", RestartPolicy("on-failure", 5)),
        ("on-failure:+5", RestartPolicy("on-failure", 5)),
        ("on-failure:007", RestartPolicy("on-failure", 7)),
        ("on-failure:", RestartPolicy("on-failure")),
        ("always:0", RestartPolicy("always")),
        ("no:", RestartPolicy("no")),
    ],
)
def test_parse_restart_policy(text: str, expected: RestartPolicy) -> None:
    """docker/cli ParseRestartPolicy + the daemon's validation accept these."""
    assert parse_restart_policy(text) == expected


FORMAT = "invalid restart policy format: "
ONLY_ON_FAILURE = "invalid restart policy: maximum retry count can only be used with 'on-failure'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":3", FORMAT + "no policy provided before colon"),
        (":", FORMAT + "no policy provided before colon"),
        ("on-failure:x", FORMAT + "maximum retry count must be an integer"),
        ("always:2:3", FORMAT + "maximum retry count must be an integer"),
        ("on-failure: 3", FORMAT + "maximum retry count must be an integer"),
        ("on-failure:1_0", FORMAT + "maximum retry count must be an integer"),
        ("on-failure:٣", FORMAT + "maximum retry count must be an integer"),
        ("on-failure:9223372036854775808", FORMAT + "maximum retry count must be an integer"),
        ("on-failure:-1", "invalid restart policy: maximum retry count cannot be negative"),
        ("always:3", ONLY_ON_FAILURE),
        ("unless-stopped:1", ONLY_ON_FAILURE),
        ("no:1", ONLY_ON_FAILURE),
        ("always:-3", ONLY_ON_FAILURE + " and cannot be negative"),
        (
            "sometimes",
            "invalid restart policy: unknown policy 'sometimes'; "
            "use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
        ),
        (
            "Always",
            "invalid restart policy: unknown policy 'Always'; "
            "use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
        ),
    ],
)
def test_parse_restart_policy_errors_are_dockers(text: str, message: str) -> None:
    """Bad policies fail with docker/cli's or the daemon's exact text."""
    with pytest.raises(ConfigError) as caught:
        parse_restart_policy(text)
    assert str(caught.value) == message


def test_validate_accepts_empty_name_with_a_count() -> None:
    """moby keeps accepting an empty name with any count, for backward compatibility."""
    assert validate_restart_policy(RestartPolicy("", 123)) is None
    assert validate_restart_policy(RestartPolicy("", -1)) is None


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('exec: "nope": executable file not found in $PATH', 127),
        ('exec: "/nope": stat /nope: no such file or directory', 127),
        ('chdir to cwd ("/x") set in config failed: no such file or directory', 127),
        ('exec: "/etc/passwd": permission denied', 126),
        ('exec: "/etc": is a directory', 126),
        ("unable to find user bob: no matching entries in passwd file", 128),
    ],
)
def test_start_error_exit_codes_follow_moby(message: str, code: int) -> None:
    """translateContainerdStartErr: 127 for not found, 126 for cannot execute, else 128."""
    assert start_exit_code(message) == code
