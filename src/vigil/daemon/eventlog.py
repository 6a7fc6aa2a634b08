"""The daemon's event log: a ring buffer of Docker-shaped events with replay and bounded live
streams (moby ``daemon/events/events.go``)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from vigil.docker.events import DaemonEvent, EventFilter

# ---- the log -----------------------------------------------------------------------------

DEFAULT_CAPACITY = 10_000  # Docker keeps 256 (eventsLimit)
DEFAULT_QUEUE_LIMIT = 1_000  # live events one subscriber may have waiting


def _in_range(event: DaemonEvent, since_ns: int | None, until_ns: int | None) -> bool:
    """Docker's ``loadBufferedEvents`` bounds: both inclusive."""
    if since_ns is not None and event.time_ns < since_ns:
        return False
    return until_ns is None or event.time_ns <= until_ns


class Subscription:
    """One stream: first the replay, then live events, as an async iterator.

    Bounded: when more than ``queue_limit`` live events wait (a stalled reader), the
    subscription is closed with ``close_reason`` saying so; the events already queued are
    still delivered, then iteration stops, so memory never grows past the limit. A live
    event after ``until_ns`` also ends it (the caller closes it when ``until`` passes in real
    time; Docker's stream does the same with a timer). Use from the event loop's thread.
    """

    def __init__(
        self,
        event_filter: EventFilter,
        replay: list[DaemonEvent],
        until_ns: int | None,
        queue_limit: int,
        on_close: Callable[[Subscription], None],
    ) -> None:
        self._filter = event_filter
        self._replay = deque(replay)
        self._until_ns = until_ns
        self._limit = queue_limit
        self._on_close = on_close
        self._queue: asyncio.Queue[DaemonEvent | None] = asyncio.Queue()
        self.close_reason: str | None = None

    @property
    def closed(self) -> bool:
        """No event will be added any more (some may still wait to be read)."""
        return self.close_reason is not None

    @property
    def pending(self) -> int:
        """Events waiting to be read (replay and live)."""
        queued = self._queue.qsize() - (1 if self.closed else 0)  # minus the end marker
        return len(self._replay) + max(queued, 0)

    def close(self, reason: str = "closed") -> None:
        """Stop adding events; iteration ends after those already waiting. Idempotent."""
        if self.close_reason is None:
            self.close_reason = reason
            self._queue.put_nowait(None)  # wakes a waiting reader
            self._on_close(self)

    def offer(self, event: DaemonEvent) -> None:
        """Called by the log for each appended event."""
        if self.closed or not self._filter.matches(event):
            return
        if self._until_ns is not None and event.time_ns > self._until_ns:
            self.close("until reached")
        elif self._queue.qsize() >= self._limit:
            self.close(f"subscriber too slow: {self._limit} events were waiting; stream closed")
        else:
            self._queue.put_nowait(event)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> DaemonEvent:
        if self._replay:
            return self._replay.popleft()
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


class EventLog:
    """A ring buffer of the newest ``capacity`` events, fanned out to live subscribers."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, queue_limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        if capacity < 1 or queue_limit < 1:
            raise ValueError("capacity and queue_limit must be positive")
        self._events: deque[DaemonEvent] = deque(maxlen=capacity)
        self._subscribers: list[Subscription] = []
        self._queue_limit = queue_limit

    def __len__(self) -> int:
        return len(self._events)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def append(self, event: DaemonEvent) -> None:
        """Store (dropping the oldest when full) and hand to every live subscriber."""
        self._events.append(event)
        for subscription in tuple(self._subscribers):
            subscription.offer(event)

    def replay(
        self,
        since_ns: int | None = None,
        until_ns: int | None = None,
        event_filter: EventFilter | None = None,
    ) -> list[DaemonEvent]:
        """Stored events within the inclusive bounds that pass the filter, oldest first."""
        check = event_filter or EventFilter()
        return [e for e in self._events if _in_range(e, since_ns, until_ns) and check.matches(e)]

    def subscribe(
        self,
        event_filter: EventFilter | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        *,
        now_ns: int | None = None,
    ) -> Subscription:
        """A stream as Docker's ``GET /events``: a replay only when ``since`` or ``until`` is
        given; live events unless ``until`` is already past (``until_ns < now_ns``)."""
        check = event_filter or EventFilter()
        wanted = since_ns is not None or until_ns is not None
        replay = self.replay(since_ns, until_ns, check) if wanted else []
        subscription = Subscription(check, replay, until_ns, self._queue_limit, self._remove)
        self._subscribers.append(subscription)
        if until_ns is not None and now_ns is not None and until_ns < now_ns:
            subscription.close("until reached")
        return subscription

    def close(self) -> None:
        """End every stream (daemon shutdown)."""
        for subscription in tuple(self._subscribers):
            subscription.close("event log closed")

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
