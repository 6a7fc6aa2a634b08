"""Every fact about a target, as one frozen, typed event. Pure core: stdlib only.

Each event names its target (``TargetRef``: a stable ID and the name) and when it happened
(``time_ns``, Unix ns). The one writer of a target's state creates them (the target for
process facts, the engine for health) and the engine publishes them, in order, on the
target event stream. Docker's event messages (``health_status: healthy``, ``die``, ...) are
a projection of these (``vigil.docker.events.project``), not a second channel.

Lifecycle: ``TargetCreated`` → ``TargetStarted`` → (``TargetPaused`` ↔ ``TargetUnpaused``)
→ ``TargetKilled``* → ``TargetExiting`` → ``TargetDied`` → (``TargetRestarting`` →
``TargetStarted`` ...) → ``TargetStopped`` / ``TargetRestarted`` → ``TargetRemoved``.
Health: ``MonitorStarted``, ``ProbeCompleted``, ``StatusChanged`` (only on a real change),
``MonitorStopped``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.core.results import ProbeResult
from vigil.core.status import HealthStatus


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A target's identity: ``id`` is stable for its lifetime (Docker's container ID),
    ``name`` is what users type."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class _TargetEvent:
    target: TargetRef
    time_ns: int


# -- health --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusChanged(_TargetEvent):
    """Health status changed (Docker's ``health_status: <new>``); never emitted for no change,
    nor for the silent lifecycle transitions (start → starting, stop/pause → unhealthy)."""

    old: HealthStatus
    new: HealthStatus


@dataclass(frozen=True, slots=True)
class ProbeCompleted(_TargetEvent):
    """A probe's result was applied; carries the state right after it."""

    result: ProbeResult
    status: HealthStatus
    failing_streak: int


@dataclass(frozen=True, slots=True)
class MonitorStarted(_TargetEvent):
    """Probing of a target began (start, restart, unpause)."""


@dataclass(frozen=True, slots=True)
class MonitorStopped(_TargetEvent):
    """Probing of a target ended (stop, exit, pause, removal)."""


# -- lifecycle -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetCreated(_TargetEvent):
    """The target was registered (Docker ``create``)."""


@dataclass(frozen=True, slots=True)
class TargetStarted(_TargetEvent):
    """The target runs from ``time_ns`` on (Docker ``start``); ``pid`` 0 when not ours."""

    pid: int = 0


@dataclass(frozen=True, slots=True)
class TargetExiting(_TargetEvent):
    """The target's main process exited with ``exit_code``; vigil is collecting what is left
    of it (moby ``handleContainerExit``: the health monitor stops here, first). ``TargetDied``
    follows once it is gone."""

    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class TargetDied(_TargetEvent):
    """The target ended (Docker ``die``), or could not start (``error`` set, then no ``die``
    is shown by Docker's projection unless it had run)."""

    exit_code: int = 0
    will_restart: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class TargetRestarting(_TargetEvent):
    """The restart policy will start the target again after ``delay_ns``."""

    delay_ns: int = 0
    restart_count: int = 0


@dataclass(frozen=True, slots=True)
class TargetKilled(_TargetEvent):
    """A signal was sent to the target (Docker ``kill``; ``stop`` sends one too)."""

    signal: int = 0


@dataclass(frozen=True, slots=True)
class TargetStopped(_TargetEvent):
    """A ``stop`` finished (Docker ``stop``)."""


@dataclass(frozen=True, slots=True)
class TargetPaused(_TargetEvent):
    """Docker ``pause``."""


@dataclass(frozen=True, slots=True)
class TargetUnpaused(_TargetEvent):
    """Docker ``unpause``."""


@dataclass(frozen=True, slots=True)
class TargetRestarted(_TargetEvent):
    """A manual restart finished (Docker ``restart``)."""


@dataclass(frozen=True, slots=True)
class TargetRemoved(_TargetEvent):
    """The target was removed (Docker ``destroy``); nothing follows."""


# -- remediation (vigil's own; Docker has none) --------------------------------------------


@dataclass(frozen=True, slots=True)
class Remediated(_TargetEvent):
    """vigil acted on an unhealthy target (``on_unhealthy``): ``action`` is restart, stop or
    kill, ``reason`` says why (e.g. ``unhealthy``), ``attempt`` counts actions within the
    current window, from 1."""

    action: str = ""
    reason: str = ""
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class RemediationExhausted(_TargetEvent):
    """``max_restarts`` actions within ``window`` were spent: vigil leaves the target as it
    is until the window moves on (no flapping forever)."""

    action: str = ""
    reason: str = ""
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class HookRan(_TargetEvent):
    """A ``hooks:`` command ran for a status change: ``hook`` is ``on_unhealthy`` or
    ``on_healthy``; ``exit_code`` -1 when it could not run or timed out (as for probes)."""

    hook: str = ""
    exit_code: int = 0
    duration_ns: int = 0


HealthEvent = StatusChanged | ProbeCompleted | MonitorStarted | MonitorStopped
LifecycleEvent = (
    TargetCreated
    | TargetStarted
    | TargetExiting
    | TargetDied
    | TargetRestarting
    | TargetKilled
    | TargetStopped
    | TargetPaused
    | TargetUnpaused
    | TargetRestarted
    | TargetRemoved
)
RemediationEvent = Remediated | RemediationExhausted
HookEvent = HookRan
TargetEvent = HealthEvent | LifecycleEvent | RemediationEvent | HookEvent
Event = TargetEvent  # the name the public API has used since 0.1
