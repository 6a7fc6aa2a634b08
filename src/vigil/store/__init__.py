"""Where vigil keeps what it knows: target identities and the event history behind replay.

``StateStore`` is the seam; ``MemoryStore`` (a bounded ring, nothing on disk) is the
``Engine``'s default and serves tests and ``vigil up --ephemeral``. Durable backends
(``vigil.store.sqlite``, the daemon's default, and ``vigil.store.postgres``) implement the
same protocol.

``ServiceStore`` keeps what a daemon restart needs to bring its services back as they were
(``ServiceRecord``: identity, config, the user's intent, the last exit, the live run) and
where each service's log files live. ``FileServiceStore`` (``vigil.store.files``) is one
directory per service ID under the daemon's state directory; ``MemoryServiceStore`` keeps
records in memory (tests, library use). They stay files beside the history store, as
Docker keeps ``config.v2.json`` and json-file logs beside its state (README: History).

``DurableStore`` adds what a store on disk or on a server needs (``vigil.store.sqlite``,
``vigil.store.postgres``): a position in the append order so a replay read in a thread meets
the live stream with no gap and no duplicate, paged reads, retention, flush and a visible
problem when writes fail. ``open_store`` picks the backend from a URL or path.

Write policy: every target event is appended, in publish order, before any subscriber sees
it, so a replay followed by live events has no gap and no duplicate. ``append_event`` runs
on the event loop inside the publisher and must not block: a durable backend buffers and
writes on its own task (bounded; what it cannot write it reports, never drops silently).

May import: ``vigil.core``, ``vigil.go``, ``vigil.docker`` (for stored shapes), stdlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from vigil.core.config import HistoryConfig
from vigil.core.events import ProbeCompleted, TargetEvent, TargetRef
from vigil.core.urls import redact_url
from vigil.exceptions import StoreError


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


@runtime_checkable
class DurableStore(StateStore, Protocol):
    """A ``StateStore`` that keeps history beyond the process (SQLite, PostgreSQL).

    ``append_event``/``save_target``/``remove_target`` hand rows to one writer thread that
    commits many per transaction at least every ~200 ms; every read first waits for what
    was appended before it (``flush``), so a reader sees its own writes. Reads may block:
    call them off the event loop. ``targets()`` is served from memory (the loop calls it).

    Each appended event gets the next ``position`` (1, 2, ... continuing after what the
    store already held): ``events_page(upto=position())`` taken on the loop, together with
    a live subscription opened in the same step, gives a replay with no gap or duplicate.
    """

    location: str  # where it keeps history, for messages (never a password)

    @property
    def problem(self) -> str | None:
        """Why the store cannot keep up (writes failing, rows lost), or None when healthy.
        Shown by the daemon; a durable store never loses state silently."""
        ...

    def position(self) -> int:
        """The position of the last appended event (cheap; the loop calls it)."""
        ...

    def events_page(
        self,
        *,
        upto: int,
        since_ns: int | None = None,
        until_ns: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 1000,
    ) -> list[tuple[tuple[int, int], TargetEvent]]:
        """At most ``limit`` kept events at positions <= ``upto`` within the inclusive time
        bounds, ordered by (time_ns, position) and strictly after the key ``after``; each
        with its key (time_ns, position) to pass as the next page's ``after``."""
        ...

    def set_retention(self, target_id: str | None, history: HistoryConfig | None) -> None:
        """The retention of one target's results (None: the default's), or with
        ``target_id`` None the default for every target and for events."""
        ...

    def prune(self, now_ns: int, budget: int = 10_000) -> int:
        """Apply retention once, deleting at most about ``budget`` rows; returns how many
        went. The writer calls it in the background; tests call it directly."""
        ...

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything appended so far is committed; False if it could not be
        (writes failing, or the timeout passed)."""
        ...


def open_store(
    url: str,
    *,
    state_dir: Path | None = None,
    now_ns: Callable[[], int] | None = None,
) -> StateStore:
    """The store named by ``url``:

    - ``""`` or ``sqlite`` (default): ``<state_dir>/vigil.db``; ``sqlite:///abs/path.db``,
      ``sqlite:relative.db`` or a plain path: that file (relative to ``state_dir``);
    - ``postgresql://...`` / ``postgres://...``: ``vigil.store.postgres.PostgresStore``,
      imported only then;
    - ``memory``: ``MemoryStore`` (``vigil up --ephemeral``): nothing survives a restart.

    ``now_ns`` is the clock the background retention reads. StoreError says what is wrong.

    The PostgreSQL module's contract: ``PostgresStore(url, *, now_ns=None, schema="vigil")``
    is a ``DurableStore`` keeping its tables (``vigil.store.schema``, ``seq_type="BIGINT"``)
    in ``schema`` (created if missing; the contract tests pass one of their own), raising
    StoreError (password redacted, ``redact``) when it cannot connect or migrate; and
    ``drop_schema(url, schema)`` removes such a schema (test teardown).
    """
    if url == "memory":
        from vigil.store.memory import MemoryStore

        return MemoryStore()
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        try:
            module = importlib.import_module("vigil.store.postgres")
        except ImportError as exc:
            raise StoreError(f"store {redact(url)}: PostgreSQL support is not available: "
                             f"{exc}") from None
        store: StateStore = module.PostgresStore(url, now_ns=now_ns)
        return store
    if scheme not in ("", "sqlite"):
        raise StoreError(f"store {redact(url)}: unknown scheme {scheme!r}: use a path, "
                         "sqlite:///PATH, postgresql://... or memory")
    from vigil.store.sqlite import DB_FILE, SqliteStore

    path_text = url.removeprefix("sqlite://") if scheme else url.removeprefix("sqlite:")
    if path_text in ("", "sqlite"):
        path_text = DB_FILE
    path = Path(path_text)
    if not path.is_absolute():
        if state_dir is None:
            raise StoreError(f"store {url}: a relative path needs a state directory")
        path = state_dir / path
    return SqliteStore(path, now_ns=now_ns)


redact = redact_url  # the name the store and daemon have used


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
    "DurableStore",
    "ServiceRecord",
    "ServiceStore",
    "StateStore",
    "TargetRecord",
    "open_store",
    "redact",
]
