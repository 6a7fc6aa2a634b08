"""The ``on_unhealthy`` rules on plain integers: act, back off, exhaust, and the window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.remediation import (
    BACKOFF_CAP,
    DEFAULT_BACKOFF,
    DEFAULT_MAX_RESTARTS,
    DEFAULT_WINDOW,
    RemediationPolicy,
    RemediationTracker,
    Verdict,
    backoff_before,
    decide,
)

S = 1_000_000_000
RESTART = RemediationPolicy("restart", max_restarts=3, window=100 * S, backoff=2 * S)


def test_defaults_are_applied_at_run_time_only() -> None:
    """An unset limit is None in the config and the documented default when used."""
    policy = RemediationPolicy("restart")
    assert (policy.max_restarts, policy.window, policy.backoff) == (None, None, None)
    assert policy.effective_max_restarts == DEFAULT_MAX_RESTARTS == 5
    assert policy.effective_window == DEFAULT_WINDOW == 600 * S
    assert policy.effective_backoff == DEFAULT_BACKOFF == 10 * S
    assert not RemediationPolicy().acts
    assert RemediationPolicy("stop").acts


def test_first_action_is_immediate() -> None:
    decision = decide(RESTART, RemediationTracker(), 50 * S)
    assert decision.verdict is Verdict.ACT
    assert decision.attempt == 1
    assert decision.tracker == RemediationTracker((50 * S,))


@pytest.mark.parametrize(
    ("counted", "expected"),
    [(0, 0), (1, 2 * S), (2, 4 * S), (3, 8 * S), (8, 256 * S), (9, BACKOFF_CAP), (50, BACKOFF_CAP)],
)
def test_backoff_doubles_up_to_the_cap(counted: int, expected: int) -> None:
    assert backoff_before(RESTART, counted) == expected


def test_backoff_above_the_cap_is_kept_as_written() -> None:
    """A back-off longer than the 5-minute cap is the cap itself: it never doubles."""
    policy = RemediationPolicy("restart", backoff=600 * S)
    assert [backoff_before(policy, n) for n in (1, 2, 5)] == [600 * S] * 3


def test_zero_backoff_never_waits() -> None:
    policy = RemediationPolicy("restart", max_restarts=3, window=100 * S, backoff=0)
    tracker = RemediationTracker()
    for attempt in (1, 2, 3):
        decision = decide(policy, tracker, 10 * S)
        assert (decision.verdict, decision.attempt) == (Verdict.ACT, attempt)
        tracker = decision.tracker
    assert decide(policy, tracker, 10 * S).verdict is Verdict.EXHAUSTED


def test_second_action_waits_for_the_backoff() -> None:
    tracker = decide(RESTART, RemediationTracker(), 10 * S).tracker
    early = decide(RESTART, tracker, 11 * S)
    assert early.verdict is Verdict.WAIT
    assert early.at_ns == 12 * S
    assert early.tracker == tracker
    on_time = decide(RESTART, tracker, 12 * S)
    assert (on_time.verdict, on_time.attempt) == (Verdict.ACT, 2)


def test_exhaustion_is_reported_once_then_retried_when_the_window_allows() -> None:
    """Three actions at 0, 2 s and 6 s; the fourth unhealthy moment finds the limit reached:
    reported once; once the first action leaves the window (at 100 s) it acts again."""
    tracker = RemediationTracker()
    for now in (0, 2 * S, 6 * S):
        decision = decide(RESTART, tracker, now)
        assert decision.verdict is Verdict.ACT
        tracker = decision.tracker
    first = decide(RESTART, tracker, 20 * S)
    assert (first.verdict, first.report, first.at_ns, first.attempt) == (
        Verdict.EXHAUSTED, True, 100 * S, 3)
    again = decide(RESTART, first.tracker, 50 * S)
    assert (again.verdict, again.report) == (Verdict.EXHAUSTED, False)
    assert decide(RESTART, again.tracker, 100 * S - 1).verdict is Verdict.EXHAUSTED
    acted = decide(RESTART, again.tracker, 100 * S)
    assert (acted.verdict, acted.attempt) == (Verdict.ACT, 3)  # 2 s and 6 s still count
    assert not acted.tracker.exhausted
    assert acted.tracker.actions == (2 * S, 6 * S, 100 * S)


def test_an_action_counts_until_exactly_window_after_it() -> None:
    policy = RemediationPolicy("stop", max_restarts=1, window=10 * S, backoff=0)
    tracker = decide(policy, RemediationTracker(), 0).tracker
    assert decide(policy, tracker, 10 * S - 1).verdict is Verdict.EXHAUSTED
    assert decide(policy, tracker, 10 * S).verdict is Verdict.ACT


def test_a_limit_below_one_acts_once_per_window() -> None:
    """Config refuses max_restarts 0; a policy built by hand still never loops."""
    policy = RemediationPolicy("restart", max_restarts=0, window=10 * S, backoff=0)
    tracker = decide(policy, RemediationTracker(), 0).tracker
    assert decide(policy, tracker, 1).verdict is Verdict.EXHAUSTED


policies = st.builds(
    RemediationPolicy,
    action=st.sampled_from(["restart", "stop", "kill"]),
    max_restarts=st.integers(1, 6),
    window=st.integers(1, 400).map(lambda n: n * S),
    backoff=st.integers(0, 30).map(lambda n: n * S),
)
steps = st.lists(st.integers(0, 50 * S), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(policies, steps)
def test_properties_of_any_run(policy: RemediationPolicy, gaps: list[int]) -> None:
    """Whenever the service is found unhealthy, at nondecreasing times, and the caller acts
    on every ACT: never more than max_restarts actions in any window, consecutive actions
    at least the back-off apart, an exhaustion report at most once between actions, WAIT
    and EXHAUSTED always name a later time, and attempts count the actions in the window."""
    tracker, now = RemediationTracker(), 0
    acts: list[int] = []
    reports_since_act = 0
    for gap in gaps:
        now += gap
        decision = decide(policy, tracker, now)
        tracker = decision.tracker
        window = policy.effective_window
        if decision.verdict is Verdict.ACT:
            in_window = [t for t in acts if now - t < window]
            if in_window:
                assert now - in_window[-1] >= backoff_before(policy, len(in_window))
            acts.append(now)
            assert decision.attempt == len(in_window) + 1
            reports_since_act = 0
        else:
            assert decision.at_ns > now
            reports_since_act += decision.report
            assert reports_since_act <= 1
        assert all(
            len([t for t in acts if start <= t < start + window])
            <= policy.effective_max_restarts
            for start in acts
        )
