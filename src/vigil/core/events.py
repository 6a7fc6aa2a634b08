"""Events the health core returns, as frozen values. Pure core: stdlib only.

The core never calls back; the runtime publishes these on the bus with the target's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.core.results import ProbeResult
from vigil.core.status import HealthStatus


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Health status changed (Docker's ``health_status: <new>``); never emitted for no change,
    nor for the silent lifecycle transitions (start → starting, stop/pause → unhealthy)."""

    old: HealthStatus
    new: HealthStatus


@dataclass(frozen=True, slots=True)
class ProbeCompleted:
    """A probe's result was applied; carries the state right after it."""

    result: ProbeResult
    status: HealthStatus
    failing_streak: int


@dataclass(frozen=True, slots=True)
class MonitorStarted:
    """Probing of a target began (start, restart, unpause)."""


@dataclass(frozen=True, slots=True)
class MonitorStopped:
    """Probing of a target ended (stop, exit, pause, removal)."""


Event = StatusChanged | ProbeCompleted | MonitorStarted | MonitorStopped
