"""The in-memory store: the newest ``capacity`` events and the current targets, nothing on
disk. Docker keeps 256 events; vigil's default keeps 10,000."""

from __future__ import annotations

import shutil
from collections import deque
from pathlib import Path

from vigil.core.events import ProbeCompleted, TargetEvent
from vigil.store import ServiceRecord, TargetRecord
from vigil.store.files import log_file

DEFAULT_CAPACITY = 10_000


class MemoryStore:
    """A ``StateStore`` in memory; the oldest events are dropped when full."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._events: deque[TargetEvent] = deque(maxlen=capacity)
        self._targets: dict[str, TargetRecord] = {}
        self.append_event = self._events.append  # the hot path: one C call per event

    def __len__(self) -> int:
        return len(self._events)

    def events(
        self, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[TargetEvent]:
        low = since_ns if since_ns is not None else -(1 << 63)
        high = until_ns if until_ns is not None else 1 << 63
        return [e for e in self._events if low <= e.time_ns <= high]

    def results(
        self,
        target_id: str,
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int | None = None,
    ) -> list[ProbeCompleted]:
        found = [
            e for e in self.events(since_ns, until_ns)
            if isinstance(e, ProbeCompleted) and e.target.id == target_id
        ]
        return found if limit is None else found[-limit:] if limit > 0 else []

    def result_counts(
        self, target_id: str, since_ns: int | None = None, until_ns: int | None = None
    ) -> tuple[int, int]:
        found = self.results(target_id, since_ns, until_ns)
        return sum(1 for e in found if e.result.passed), len(found)

    def save_target(self, record: TargetRecord) -> None:
        self._targets[record.ref.id] = record

    def remove_target(self, target_id: str) -> None:
        self._targets.pop(target_id, None)

    def targets(self) -> list[TargetRecord]:
        return list(self._targets.values())

    def close(self) -> None:
        pass


class MemoryServiceStore:
    """A ``ServiceStore`` whose records live as long as the process; log files go under
    ``log_dir`` in the same layout as ``FileServiceStore``'s."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._records: dict[str, ServiceRecord] = {}

    def load_services(self) -> tuple[list[ServiceRecord], list[str]]:
        return list(self._records.values()), []

    def save_service(self, record: ServiceRecord) -> None:
        self._records[record.id] = record

    def remove_service(self, target_id: str) -> None:
        if self._records.pop(target_id, None) is not None:
            shutil.rmtree(self.log_path(target_id).parent, ignore_errors=True)

    def log_path(self, target_id: str) -> Path:
        return log_file(self._log_dir, target_id)
