"""Docker's ``/events`` over the engine's target event stream (moby ``daemon/events``).

Nothing is stored twice: the replay comes from the engine's store and live events from a
bounded subscription to its stream, each target event projected to Docker's message
(``vigil.docker.events.project``) and filtered on the way. A reader that falls
``queue_limit`` events behind is cut off with a reason, never allowed to grow memory.

A durable store (``vigil.store.DurableStore``) may block: its replay is read in pages, each
in a thread (``replay_lines``), up to the store position taken in the same step as the live
subscription opens, so replay then live has no gap and no duplicate; pages are projected
and encoded without the caches (they would push out the live events' entries).

Each target event is projected and encoded once, however many streams and replays read it:
both are kept for the newest ``CACHE_LIMIT`` events (the replay ring and what live readers
still have queued), so a replay of the whole ring is a join of cached lines.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator

from vigil.core.events import TargetEvent
from vigil.docker.events import DaemonEvent, EventFilter, project
from vigil.docker.health import dumps
from vigil.runtime.engine import Engine
from vigil.runtime.stream import DEFAULT_QUEUE_LIMIT, Subscription
from vigil.store import DurableStore

__all__ = ["CACHE_LIMIT", "REPLAY_PAGE", "DockerEventLog", "Subscription"]

CACHE_LIMIT = 12_000  # the store's 10,000-event ring, and live events still queued
REPLAY_PAGE = 2_000  # events read from a durable store per thread hand-off
# Live events a stream may hold while its replay is read from a durable store (a long
# replay: minutes of 1,000 services); bounded, then closed as any slow reader.
REPLAY_QUEUE_LIMIT = 100_000


class DockerEventLog:
    """Docker-shaped replay and live streams of one engine's events."""

    def __init__(self, engine: Engine, *, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be positive")
        self._engine = engine
        self._queue_limit = queue_limit
        self._subscriptions: list[Subscription[DaemonEvent]] = []
        # by id(): each entry keeps its key object alive, so the id cannot be reused
        self._projected: OrderedDict[int, tuple[TargetEvent, DaemonEvent | None]] = OrderedDict()
        self._lines: OrderedDict[int, tuple[DaemonEvent, bytes]] = OrderedDict()

    @property
    def subscriber_count(self) -> int:
        """Streams still open."""
        self._subscriptions = [s for s in self._subscriptions if not s.closed]
        return len(self._subscriptions)

    def replay(
        self,
        since_ns: int | None = None,
        until_ns: int | None = None,
        event_filter: EventFilter | None = None,
    ) -> list[DaemonEvent]:
        """Stored events within the inclusive bounds that pass the filter, oldest first."""
        check = event_filter or EventFilter()
        projected = (self.project(e) for e in self._engine.store.events(since_ns, until_ns))
        return [e for e in projected if e is not None and check.matches(e)]

    def stored(self, since_ns: int | None = None, until_ns: int | None = None) -> int:
        """How many stored events fall within the bounds (a replay's size, before filters)."""
        return len(self._engine.store.events(since_ns, until_ns))

    def project(self, event: TargetEvent) -> DaemonEvent | None:
        """``vigil.docker.events.project``, once per event: every reader gets the same
        ``DaemonEvent`` object (so ``line`` encodes it once)."""
        cached = self._projected.get(id(event))
        if cached is not None and cached[0] is event:
            return cached[1]
        docker = project(event)
        self._projected[id(event)] = (event, docker)
        if len(self._projected) > CACHE_LIMIT:
            self._projected.popitem(last=False)
        return docker

    def line(self, event: DaemonEvent) -> bytes:
        """The event's NDJSON line (Docker's message, newline-terminated), encoded once."""
        cached = self._lines.get(id(event))
        if cached is not None and cached[0] is event:
            return cached[1]
        line = (dumps(event.to_json()) + "\n").encode("utf-8")
        self._lines[id(event)] = (event, line)
        if len(self._lines) > CACHE_LIMIT:
            self._lines.popitem(last=False)
        return line

    def subscribe(
        self,
        event_filter: EventFilter | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        *,
        now_ns: int | None = None,
    ) -> Subscription[DaemonEvent]:
        """A stream as Docker's ``GET /events``: a replay only when ``since`` or ``until`` is
        given; live events unless ``until`` is already past (``until_ns < now_ns``). Live
        events after ``until`` are not delivered; the caller closes the stream when
        ``until`` passes (Docker's timer)."""
        check = event_filter or EventFilter()
        wanted = since_ns is not None or until_ns is not None
        replay = self.replay(since_ns, until_ns, check) if wanted else []
        return self._live(check, until_ns, now_ns, self._queue_limit, replay)

    def _live(
        self,
        check: EventFilter,
        until_ns: int | None,
        now_ns: int | None,
        maxsize: int,
        replay: list[DaemonEvent],
    ) -> Subscription[DaemonEvent]:
        def accept(event: TargetEvent) -> DaemonEvent | None:
            if until_ns is not None and event.time_ns > until_ns:
                return None
            docker = self.project(event)
            return docker if docker is not None and check.matches(docker) else None

        subscription = self._engine.stream.subscribe(
            accept, maxsize=maxsize, overflow="close", replay=replay)
        self._subscriptions = [s for s in self._subscriptions if not s.closed]
        self._subscriptions.append(subscription)
        if until_ns is not None and now_ns is not None and until_ns < now_ns:
            subscription.close("until reached")
        return subscription

    def durable(self) -> DurableStore | None:
        """The engine's store when it is durable (replays are then read in threads)."""
        store = self._engine.store
        return store if isinstance(store, DurableStore) else None

    def subscribe_live(
        self,
        event_filter: EventFilter | None = None,
        until_ns: int | None = None,
        *,
        now_ns: int | None = None,
    ) -> tuple[Subscription[DaemonEvent], int]:
        """Live events only (a durable store's replay comes from ``replay_lines``), and the
        store position they start after, taken in the same step."""
        store = self.durable()
        position = store.position() if store is not None else 0
        check = event_filter or EventFilter()
        maxsize = max(self._queue_limit, REPLAY_QUEUE_LIMIT)
        return self._live(check, until_ns, now_ns, maxsize, []), position

    async def replay_lines(
        self,
        upto: int,
        since_ns: int | None = None,
        until_ns: int | None = None,
        event_filter: EventFilter | None = None,
    ) -> AsyncIterator[tuple[bytes, int]]:
        """The durable store's events at positions <= ``upto`` within the bounds that pass
        the filter, oldest first, as NDJSON chunks with how many events each holds; each
        page is read in a thread."""
        store = self.durable()
        if store is None:
            return
        check = event_filter or EventFilter()
        after: tuple[int, int] | None = None
        while True:
            page = await asyncio.to_thread(
                store.events_page, upto=upto, since_ns=since_ns, until_ns=until_ns,
                after=after, limit=REPLAY_PAGE)
            if not page:
                return
            after = page[-1][0]
            lines = [
                dumps(docker.to_json()) + "\n"
                for _, event in page
                if (docker := project(event)) is not None and check.matches(docker)
            ]
            if lines:
                yield "".join(lines).encode("utf-8"), len(lines)

    def close(self) -> None:
        """End every stream (daemon shutdown)."""
        for subscription in self._subscriptions:
            subscription.close("event log closed")
        self._subscriptions.clear()
