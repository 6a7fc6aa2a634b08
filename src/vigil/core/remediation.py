"""What to do when a service turns unhealthy (``on_unhealthy``): the pure decision. Stdlib only.

Rule 1: nothing here reads the time, sleeps or acts; ``now`` is an argument (Unix ns), as in
        ``vigil.core.lifecycle.should_restart``.
Rule 2: ``decide`` returns a verdict and the tracker to keep; the caller acts, publishes
        ``Remediated`` / ``RemediationExhausted`` and keeps the tracker.

Docker has no remediation (moby#28400); the rules, chosen to be bounded and unsurprising:

- ``action`` is ``restart``, ``stop``, ``kill`` or ``none`` (the default, as Docker).
- At most ``max_restarts`` actions within any ``window`` (a sliding window: an action counts
  until ``window`` after it was taken). When the limit is reached the verdict is
  ``EXHAUSTED``, reported once (``report``), and then nothing until the oldest counted
  action leaves the window (``at_ns``); if the service is still unhealthy then, it is acted
  on again.
- Back-off between actions: the first action in a window is immediate; after ``k`` counted
  actions the next one waits ``backoff * 2**(k-1)`` after the previous one, capped at
  ``max(backoff, BACKOFF_CAP)``. Counting only actions inside the window means the back-off
  shrinks again as the service stays well.
- Defaults: ``max_restarts`` 5, ``window`` 10 minutes, ``backoff`` 10 s; the cap is
  kubelet's 5-minute crash-loop ceiling (``MaxContainerBackOff``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vigil.go.duration import MINUTE, SECOND

ACTION_NONE = "none"
ACTION_RESTART = "restart"
ACTION_STOP = "stop"
ACTION_KILL = "kill"
ACTIONS = (ACTION_RESTART, ACTION_STOP, ACTION_KILL, ACTION_NONE)

DEFAULT_MAX_RESTARTS = 5
DEFAULT_WINDOW = 10 * MINUTE
DEFAULT_BACKOFF = 10 * SECOND
BACKOFF_CAP = 5 * MINUTE  # kubelet MaxContainerBackOff
MAX_RESTARTS_LIMIT = 10_000  # the tracker keeps one time per counted action


@dataclass(frozen=True, slots=True)
class RemediationPolicy:
    """A service's ``on_unhealthy``. None means "not set" (the default applies at run time,
    as Docker's zero durations do), so ``vigil config`` shows what was written."""

    action: str = ACTION_NONE
    max_restarts: int | None = None
    window: int | None = None  # ns
    backoff: int | None = None  # ns

    @property
    def acts(self) -> bool:
        return self.action != ACTION_NONE

    @property
    def effective_max_restarts(self) -> int:
        return DEFAULT_MAX_RESTARTS if self.max_restarts is None else self.max_restarts

    @property
    def effective_window(self) -> int:
        return DEFAULT_WINDOW if self.window is None else self.window

    @property
    def effective_backoff(self) -> int:
        return DEFAULT_BACKOFF if self.backoff is None else self.backoff


@dataclass(frozen=True, slots=True)
class RemediationTracker:
    """What the rules remember of one service: when the counted actions were taken (oldest
    first, each within the window of the last decision) and whether exhaustion was reported
    since the last action."""

    actions: tuple[int, ...] = ()
    exhausted: bool = False


class Verdict(enum.Enum):
    ACT = "act"  # act now; ``attempt`` is its number within the window
    WAIT = "wait"  # back-off: decide again at ``at_ns``
    EXHAUSTED = "exhausted"  # limit reached: decide again at ``at_ns``; ``report`` once


@dataclass(frozen=True, slots=True)
class RemediationDecision:
    verdict: Verdict
    tracker: RemediationTracker
    at_ns: int = 0
    attempt: int = 0
    report: bool = False


def backoff_before(policy: RemediationPolicy, counted: int) -> int:
    """The wait after the previous action when ``counted`` actions are in the window."""
    if counted == 0:
        return 0
    base = policy.effective_backoff
    cap = max(base, BACKOFF_CAP)
    delay = base
    for _ in range(counted - 1):  # doubling stops at the cap: at most ~40 rounds
        if delay >= cap:
            break
        delay *= 2
    return min(delay, cap)


def decide(
    policy: RemediationPolicy, tracker: RemediationTracker, now: int
) -> RemediationDecision:
    """The service is unhealthy at ``now``: act, wait, or give up for now.

    ``policy.action`` must not be ``none`` (nothing is ever decided for it).
    """
    window = policy.effective_window
    actions = tuple(t for t in tracker.actions if now - t < window)
    tracker = RemediationTracker(actions, tracker.exhausted)
    if len(actions) >= max(policy.effective_max_restarts, 1):
        report = not tracker.exhausted
        return RemediationDecision(
            Verdict.EXHAUSTED,
            RemediationTracker(actions, exhausted=True),
            at_ns=actions[0] + window,
            attempt=len(actions),
            report=report,
        )
    if actions:
        due = actions[-1] + backoff_before(policy, len(actions))
        if now < due:
            return RemediationDecision(Verdict.WAIT, tracker, at_ns=due, attempt=len(actions))
    acted = RemediationTracker((*actions, now), exhausted=False)
    return RemediationDecision(Verdict.ACT, acted, at_ns=now, attempt=len(acted.actions))
