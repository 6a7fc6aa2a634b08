"""The pure half of the supervisor: process state and events, restart policies and Docker's
restart back-off, start-error exit codes. Stdlib only, no I/O, no clock.

``ProcessState`` is Docker's container ``State`` for a target; the transition functions
(``started``, ``exited``, ``paused``, ...) return the new state and the ``TargetEvent``s it
causes, as ``vigil.core.health`` does for health, so a target only applies and publishes.

Restarts follow moby's ``restartmanager/restartmanager.go`` and the parts of
``daemon/monitor.go:handleContainerExit``, ``daemon/kill.go:killWithSignal`` and
``container.ResetRestartManager`` that decide whether an exited process comes back:

- The back-off starts at 100 ms and doubles on every exit, capped at 1 minute; it goes back
  to 100 ms when the process had run for 10 s or more. moby steps the back-off on *every*
  exit the manager is asked about, restarted or not.
- ``always`` restarts on any exit; ``unless-stopped`` on any exit unless the service was
  stopped by hand (or the daemon is shutting down); ``on-failure[:N]`` on a non-zero exit
  while fewer than N automatic restarts happened (N = 0: no limit); ``no`` never.
- A manual stop *cancels* the tracker (moby's ``ExitOnNext``): no restart under any policy
  until the next manual start, which begins a fresh tracker with RestartCount 0. A manual
  ``restart`` is a stop and a start, so it resets RestartCount to 0 as well.
- RestartCount counts automatic restarts only.

``parse_restart_policy`` takes the ``name[:max-retries]`` text of ``docker run --restart`` and
of compose's ``restart:``, with docker/cli's parse errors and the daemon's validation texts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from vigil.core.config import (
    RESTART_ALWAYS,
    RESTART_NO,
    RESTART_ON_FAILURE,
    RESTART_UNLESS_STOPPED,
    RestartPolicy,
)
from vigil.core.events import (
    LifecycleEvent,
    TargetDied,
    TargetPaused,
    TargetRef,
    TargetRestarting,
    TargetStarted,
    TargetStopped,
    TargetUnpaused,
)
from vigil.core.signals import SIGKILL
from vigil.exceptions import ConfigError
from vigil.go.duration import MILLISECOND, MINUTE, SECOND
from vigil.go.strconv import atoi

BACKOFF_INITIAL = 100 * MILLISECOND  # moby restartmanager defaultTimeout
BACKOFF_MAX = 1 * MINUTE  # moby maxRestartTimeout
BACKOFF_MULTIPLIER = 2  # moby backoffMultiplier
BACKOFF_RESET_UPTIME = 10 * SECOND  # ran this long: back-off starts over


@dataclass(frozen=True, slots=True)
class RestartTracker:
    """moby's ``restartManager`` for one service, as a value.

    ``backoff`` is the last delay handed out (0 = none yet); ``canceled`` is set by a manual
    stop and lasts until the next manual start (``RestartTracker.fresh``).
    """

    policy: RestartPolicy
    restart_count: int = 0
    backoff: int = 0
    canceled: bool = False

    @classmethod
    def fresh(cls, policy: RestartPolicy) -> RestartTracker:
        """The tracker a manual start or restart begins with (``ResetRestartManager(true)``)."""
        return cls(policy)


@dataclass(frozen=True, slots=True)
class RestartDecision:
    """Whether to restart, after how long, and the tracker to keep."""

    restart: bool
    delay_ns: int
    tracker: RestartTracker


def should_restart(
    tracker: RestartTracker, *, exit_code: int, manually_stopped: bool, uptime_ns: int
) -> RestartDecision:
    """moby's ``ShouldRestart``: decide about one exit of a process that ran ``uptime_ns``.

    ``manually_stopped`` is Docker's ``HasBeenManuallyStopped || daemonShutdown``.
    """
    policy = tracker.policy
    if policy.name in (RESTART_NO, ""):
        return RestartDecision(False, 0, tracker)
    if tracker.canceled:
        return RestartDecision(False, 0, tracker)
    backoff = next_backoff(tracker.backoff, uptime_ns)
    restart = False
    if policy.name == RESTART_ALWAYS:
        restart = True
    elif policy.name == RESTART_UNLESS_STOPPED:
        restart = not manually_stopped
    elif policy.name == RESTART_ON_FAILURE:
        limit = policy.maximum_retry_count
        if limit == 0 or tracker.restart_count < limit:
            restart = exit_code != 0
    if not restart:
        return RestartDecision(False, 0, replace(tracker, backoff=backoff))
    stepped = replace(tracker, backoff=backoff, restart_count=tracker.restart_count + 1)
    return RestartDecision(True, backoff, stepped)


def next_backoff(previous_ns: int, uptime_ns: int) -> int:
    """The next restart delay after ``previous_ns`` (0 = first), as moby computes it."""
    if uptime_ns >= BACKOFF_RESET_UPTIME:
        previous_ns = 0
    if previous_ns == 0:
        delay = BACKOFF_INITIAL
    elif previous_ns < BACKOFF_MAX:
        delay = previous_ns * BACKOFF_MULTIPLIER
    else:
        delay = previous_ns
    return min(delay, BACKOFF_MAX)


def cancel(tracker: RestartTracker) -> RestartTracker:
    """A manual stop (moby ``Cancel``): no automatic restart until the next manual start."""
    return replace(tracker, canceled=True)


def kill_cancels_restart(sent_signal: int, configured_stop_signal: int | None) -> bool:
    """Whether ``kill -s sent_signal`` cancels the restart policy (moby ``killWithSignal``).

    It does for SIGKILL, for any signal when the service sets no ``stop_signal``, and for the
    configured stop signal. (Docker marks the service manually stopped for *every* kill; that
    part is the caller's.)
    """
    if configured_stop_signal is None or sent_signal == SIGKILL:
        return True
    return sent_signal == configured_stop_signal


def parse_restart_policy(text: str) -> RestartPolicy:
    """``name[:max-retries]`` → ``RestartPolicy``, or ``ConfigError`` with Docker's message.

    Parsing is docker/cli's ``opts.ParseRestartPolicy``; validation is moby's
    ``container.ValidateRestartPolicy``. An empty text is Docker's default, ``no``.
    """
    if text == "":
        return RestartPolicy()
    name, colon, count_text = text.partition(":")
    if colon and name == "":
        raise ConfigError("invalid restart policy format: no policy provided before colon")
    count = 0
    if count_text != "":
        try:
            count = atoi(count_text)
        except ValueError:
            raise ConfigError(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    policy = RestartPolicy(name, count)
    problem = validate_restart_policy(policy)
    if problem is not None:
        raise ConfigError(problem)
    return policy


def validate_restart_policy(policy: RestartPolicy) -> str | None:
    """moby's ``ValidateRestartPolicy``: the problem's message, or None."""
    if policy.name in (RESTART_ALWAYS, RESTART_UNLESS_STOPPED, RESTART_NO):
        if policy.maximum_retry_count != 0:
            message = (
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            )
            if policy.maximum_retry_count < 0:
                message += " and cannot be negative"
            return message
        return None
    if policy.name == RESTART_ON_FAILURE:
        if policy.maximum_retry_count < 0:
            return "invalid restart policy: maximum retry count cannot be negative"
        return None
    if policy.name == "":
        return None  # moby accepts an empty name (any count) for backward compatibility
    return (
        f"invalid restart policy: unknown policy '{policy.name}'; "
        "use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
    )


# -- process state and events ------------------------------------------------------------


class ProcessStatus(enum.StrEnum):
    """Docker's ``State.Status`` values that an owned process can have."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"


@dataclass(frozen=True, slots=True)
class ProcessState:
    """Docker's container ``State`` for an owned process. Times are Unix ns, 0 = never."""

    status: ProcessStatus = ProcessStatus.CREATED
    pid: int = 0
    exit_code: int = 0
    started_at: int = 0
    finished_at: int = 0
    restart_count: int = 0
    error: str = ""


NEVER_STARTED = ProcessState()  # frozen: shared by every target until it changes


# -- process transitions: (state, fact) -> (state, events); the target applies and publishes


def started(
    state: ProcessState, target: TargetRef, *, pid: int, at: int, restart_count: int
) -> tuple[ProcessState, list[LifecycleEvent]]:
    """moby ``SetRunning``: running, the error and exit code cleared, FinishedAt kept."""
    new = replace(state, status=ProcessStatus.RUNNING, pid=pid, exit_code=0, started_at=at,
                  restart_count=restart_count, error="")
    return new, [TargetStarted(target, at, pid)]


def manual_start(state: ProcessState) -> ProcessState:
    """A start by hand (not by the policy): RestartCount goes back to 0, as in Docker."""
    return replace(state, restart_count=0)


def start_failed(
    state: ProcessState, target: TargetRef, *, message: str, at: int, automatic: bool
) -> tuple[ProcessState, list[LifecycleEvent]]:
    """The process could not start: moby's exit code for the error text, except after an
    automatic restart, where the previous exit status is put back (``SetStopped``) and only
    the error text stays. ``created`` if it never ran, else ``exited``."""
    code = state.exit_code if automatic else start_exit_code(message)
    status = ProcessStatus.EXITED if state.started_at else ProcessStatus.CREATED
    new = replace(state, status=status, pid=0, exit_code=code, error=message)
    return new, [TargetDied(target, at, code, False, message)]


def exited(
    state: ProcessState,
    target: TargetRef,
    *,
    exit_code: int,
    at: int,
    decision: RestartDecision,
) -> tuple[ProcessState, list[LifecycleEvent]]:
    """The main process ended (Docker ``die``); ``restarting`` when the policy restarts it."""
    count = decision.tracker.restart_count
    status = ProcessStatus.RESTARTING if decision.restart else ProcessStatus.EXITED
    new = replace(state, status=status, pid=0, exit_code=exit_code, finished_at=at,
                  restart_count=count)
    events: list[LifecycleEvent] = [TargetDied(target, at, exit_code, decision.restart)]
    if decision.restart:
        events.append(TargetRestarting(target, at, decision.delay_ns, count))
    return new, events


def paused(state: ProcessState, target: TargetRef, *, at: int
           ) -> tuple[ProcessState, list[LifecycleEvent]]:
    return replace(state, status=ProcessStatus.PAUSED), [TargetPaused(target, at)]


def unpaused(state: ProcessState, target: TargetRef, *, at: int
             ) -> tuple[ProcessState, list[LifecycleEvent]]:
    return replace(state, status=ProcessStatus.RUNNING), [TargetUnpaused(target, at)]


def restart_called_off(state: ProcessState) -> ProcessState:
    """A pending policy restart was cancelled (stop, kill): the target stays exited."""
    if state.status is ProcessStatus.RESTARTING:
        return replace(state, status=ProcessStatus.EXITED)
    return state


def watched_stopped(state: ProcessState, target: TargetRef, *, at: int
                    ) -> tuple[ProcessState, list[LifecycleEvent]]:
    """A watched-only target was stopped: it counts as exited with 0 (``die``, ``stop``)."""
    new = replace(state, status=ProcessStatus.EXITED, pid=0, exit_code=0, finished_at=at)
    return new, [TargetDied(target, at, 0, False), TargetStopped(target, at)]


def start_exit_code(message: str) -> int:
    """moby's ``translateContainerdStartErr``: 127 not found, 126 cannot run, else 128."""
    text = message.lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text:
        return 126
    return 128  # moby exitUnknown
