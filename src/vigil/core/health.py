"""Docker's health state machine, free of I/O and of the clock.

Rule 1: nothing here reads the time, sleeps, logs or touches a socket; every time is an
        argument (Unix nanoseconds), exactly as moby's ``handleProbeResult`` uses
        ``result.Start`` and ``State.StartedAt``.
Rule 2: functions return a new state and the events it caused; they never call back. The
        events are stamped with the result's End, the moment the engine applies it.

References are to ``moby/moby:daemon/health.go`` (newest) and the reference doc §2.8-2.10.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vigil.core.config import MAX_LOG_ENTRIES, HealthcheckConfig
from vigil.core.events import ProbeCompleted, StatusChanged, TargetRef
from vigil.core.results import ProbeResult
from vigil.core.status import HealthStatus

__all__ = ["HealthState", "HealthStatus", "apply_result", "next_delay", "start", "stop"]


@dataclass(frozen=True, slots=True)
class HealthState:
    """Docker's ``State.Health`` plus the ``StartedAt`` it is judged against.

    ``status`` NONE means no monitor ever ran (Docker leaves ``State.Health`` nil).
    ``log`` holds the newest results, oldest first, at most 5.
    """

    status: HealthStatus = HealthStatus.NONE
    failing_streak: int = 0
    log: tuple[ProbeResult, ...] = ()
    started_at: int = 0


def start(state: HealthState, started_at: int) -> HealthState:
    """Container start/restart (``initHealthMonitor``): starting, streak 0, Log kept, no event."""
    return HealthState(HealthStatus.STARTING, 0, state.log, started_at)


def stop(state: HealthState) -> HealthState:
    """Stop, exit or pause (``CloseMonitorChannel``): unhealthy "for compatibility", no event.

    A state that never had a monitor stays as it is (Docker has no ``State.Health`` then)."""
    if state.status is HealthStatus.NONE:
        return state
    return replace(state, status=HealthStatus.UNHEALTHY)


def apply_result(
    state: HealthState, config: HealthcheckConfig, result: ProbeResult, target: TargetRef
) -> tuple[HealthState, list[ProbeCompleted | StatusChanged]]:
    """``handleProbeResult``: append to the log, then update status and streak.

    Success always gives healthy with streak 0. A failure while ``starting`` whose probe
    *started* strictly inside the start period changes nothing else; otherwise the streak
    grows (past the threshold too) and reaching the threshold makes the target unhealthy.
    """
    old = state.status
    log = (*state.log[-(MAX_LOG_ENTRIES - 1) :], result)
    status, streak = state.status, state.failing_streak
    if result.exit_code == 0:
        status, streak = HealthStatus.HEALTHY, 0
    elif not (
        status is HealthStatus.STARTING
        and result.start - state.started_at < config.effective_start_period
    ):
        streak += 1
        if streak >= config.failure_threshold:
            status = HealthStatus.UNHEALTHY
    new_state = HealthState(status, streak, log, state.started_at)
    events: list[ProbeCompleted | StatusChanged] = [
        ProbeCompleted(target, result.end, result, status, streak)
    ]
    if status is not old:
        events.append(StatusChanged(target, result.end, old, status))
    return new_state, events


def next_delay(state: HealthState, config: HealthcheckConfig, now: int) -> int:
    """moby's ``getInterval()``: nanoseconds to wait before the next probe.

    Inside the start period and while ``starting`` it is the start interval; otherwise the
    interval. With no start period the start interval is never used (moby#45897).
    """
    if now - state.started_at >= config.effective_start_period:
        return config.effective_interval
    if state.status is HealthStatus.STARTING:
        return config.effective_start_interval
    return config.effective_interval
