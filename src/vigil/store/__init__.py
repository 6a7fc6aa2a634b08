"""Where vigil keeps what it knows: target identities and the event history behind replay.

``StateStore`` is the seam; ``MemoryStore`` (a bounded ring, nothing on disk) is the default
and serves tests and ``--ephemeral``. Durable backends (SQLite, PostgreSQL) implement the
same protocol.

Write policy: every target event is appended, in publish order, before any subscriber sees
it, so a replay followed by live events has no gap and no duplicate. ``append_event`` runs
on the event loop inside the publisher and must not block: a durable backend buffers and
writes on its own task (bounded; what it cannot write it reports, never drops silently).

May import: ``vigil.core``, ``vigil.go``, ``vigil.docker`` (for stored shapes), stdlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vigil.core.events import TargetEvent, TargetRef


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

    def save_target(self, record: TargetRecord) -> None: ...

    def remove_target(self, target_id: str) -> None: ...

    def targets(self) -> list[TargetRecord]:
        """Every kept target, in creation order."""
        ...

    def close(self) -> None:
        """Flush and release (daemon shutdown)."""
        ...


__all__ = ["StateStore", "TargetRecord"]
