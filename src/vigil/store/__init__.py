"""Where vigil keeps what it knows: target identities and the event history behind replay.

``StateStore`` is the seam; ``MemoryStore`` (a bounded ring, nothing on disk) is the default
and serves tests and ``--ephemeral``. Durable backends (SQLite, PostgreSQL) implement the
same protocol.

``ServiceStore`` keeps what a daemon restart needs to bring its services back as they were
(``ServiceRecord``: identity, config, the user's intent, the last exit, the live run) and
where each service's log files live. ``FileServiceStore`` (``vigil.store.files``) is one
directory per service ID under the daemon's state directory; ``MemoryServiceStore`` keeps
records in memory (tests, library use). Issue 9's durable store replaces both.

Write policy: every target event is appended, in publish order, before any subscriber sees
it, so a replay followed by live events has no gap and no duplicate. ``append_event`` runs
on the event loop inside the publisher and must not block: a durable backend buffers and
writes on its own task (bounded; what it cannot write it reports, never drops silently).

May import: ``vigil.core``, ``vigil.go``, ``vigil.docker`` (for stored shapes), stdlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from vigil.core.events import ProbeCompleted, TargetEvent, TargetRef


@dataclass(frozen=True, slots=True)
class TargetRecord:
    """A target's stable identity: its ID survives restarts of vigil for as long as the
    store keeps it, so history, logs and API references stay attached to it."""

    ref: TargetRef
    created_ns: int


@runtime_checkable
class StateStore(Protocol):
    """What the runtime needs of a store."""

    def append_event(self, event: TargetEvent) -> None:
        """Keep ``event`` (called in publish order, on the loop; must not block)."""
        ...

    def events(
        self, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[TargetEvent]:
        """Kept events whose time is within the inclusive bounds, oldest first."""
        ...

    def results(
        self,
        target_id: str,
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int | None = None,
    ) -> list[ProbeCompleted]:
        """A target's kept probe results (``ProbeCompleted``) whose time is within the
        inclusive bounds, oldest first; with ``limit``, the newest ``limit`` of them. May
        block on a durable backend: call it off the event loop (a thread)."""
        ...

    def result_counts(
        self, target_id: str, since_ns: int | None = None, until_ns: int | None = None
    ) -> tuple[int, int]:
        """(passed, total) of the target's kept results within the inclusive bounds: uptime
        over a day or a week without reading every row. May block, as ``results``."""
        ...

    def save_target(self, record: TargetRecord) -> None: ...

    def remove_target(self, target_id: str) -> None: ...

    def targets(self) -> list[TargetRecord]:
        """Every kept target, in creation order."""
        ...

    def close(self) -> None:
        """Flush and release (daemon shutdown)."""
        ...


ORIGIN_FILE = "file"  # a service of vigil.yaml: ``vigil up`` brings it up
ORIGIN_API = "api"  # created through the API (``vigil run -d``): restart policy decides


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """What a daemon restart needs to recreate a service exactly and decide whether to start
    it (moby's restore: ``HasBeenManuallyStopped``, ``HasBeenStartedBefore``, the exit code
    and restart count that its restart policy reads, the times ``ps`` shows).

    ``config`` is the service in ``vigil.yaml``'s normal form (``compose.render``), which
    loads back into an equal ``ServiceConfig``. ``run`` describes the process of the current
    run (pid, start time, token, stop signal and grace) while it runs; one left behind by a
    crashed daemon tells the next one what to stop before starting anything.
    """

    target: TargetRecord
    config: Mapping[str, object]
    origin: str = ORIGIN_API
    stopped: bool = False
    started: bool = False
    exit_code: int = 0
    restart_count: int = 0
    started_at_ns: int = 0
    finished_at_ns: int = 0
    run: Mapping[str, object] | None = None

    @property
    def id(self) -> str:
        return self.target.ref.id

    @property
    def name(self) -> str:
        return self.target.ref.name


@runtime_checkable
class ServiceStore(Protocol):
    """Service records that outlive the daemon, and where each service's logs live."""

    def load_services(self) -> tuple[list[ServiceRecord], list[str]]:
        """Every readable record (in creation order) and one line per record that could not
        be read (named, left in place: nothing is dropped silently)."""
        ...

    def save_service(self, record: ServiceRecord) -> None:
        """Keep ``record`` (replacing the one with its ID), atomically."""
        ...

    def remove_service(self, target_id: str) -> None:
        """Forget the service and delete its files, logs included."""
        ...

    def log_path(self, target_id: str) -> Path:
        """The service's current log file (rotated ones sit beside it)."""
        ...


__all__ = [
    "ORIGIN_API",
    "ORIGIN_FILE",
    "ServiceRecord",
    "ServiceStore",
    "StateStore",
    "TargetRecord",
]
