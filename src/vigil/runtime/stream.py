"""The target event stream: one ordered stream of ``TargetEvent``s, fanned out to subscribers
through bounded queues.

Publishing never waits and never calls subscriber code: it appends to the journal (the
store's replay buffer) and puts the event into each subscriber's queue, so a slow subscriber
(a database, a webhook, an HTTP client) never delays a probe or another subscriber.

Overflow policy, per subscription, when ``maxsize`` events are already waiting:
- ``"close"`` (default): the subscription is closed with ``close_reason`` saying so; the
  events already queued are still delivered, then iteration stops (Docker evicts a slow
  ``/events`` reader the same way). Memory never grows past the limit.
- ``"drop"``: the oldest waiting event is dropped to make room; ``dropped`` counts them.
Either way the stream counts ``overflows`` (events a subscriber did not get).

Observers (``observe``) are the one exception, for bookkeeping that must never miss an event
(metrics): plain callbacks run inside ``publish``, so they must not block, await or do I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, Literal, TypeVar

from vigil.core.events import TargetEvent

T = TypeVar("T")
Overflow = Literal["close", "drop"]
DEFAULT_QUEUE_LIMIT = 1_000  # events one subscriber may have waiting

_log = logging.getLogger("vigil")


class Subscription(Generic[T]):
    """An async iterator over the events a subscriber accepted, replay first.

    ``transform`` maps each published event to what the subscriber wants, or None to skip
    it (a filter); it runs at publish time, so skipped events never take queue room.
    Use from the event loop's thread.
    """

    def __init__(
        self,
        *,
        transform: Callable[[TargetEvent], T | None],
        maxsize: int = DEFAULT_QUEUE_LIMIT,
        overflow: Overflow = "close",
        replay: Iterable[T] = (),
        on_close: Callable[[Subscription[T]], None] | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be positive")
        self._transform = transform
        self._maxsize = maxsize
        self._overflow = overflow
        self._replay: deque[T] = deque(replay)
        self._queue: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._on_close = on_close
        self._on_overflow = on_overflow
        self.close_reason: str | None = None
        self.dropped = 0

    @property
    def closed(self) -> bool:
        """No event will be added any more (some may still wait to be read)."""
        return self.close_reason is not None

    @property
    def pending(self) -> int:
        """Events waiting to be read (replay and live)."""
        return len(self._replay) + len(self._queue)

    def close(self, reason: str = "closed") -> None:
        """Stop adding events; iteration ends after those already waiting. Idempotent."""
        if self.close_reason is None:
            self.close_reason = reason
            self._wake()
            if self._on_close is not None:
                self._on_close(self)

    def offer(self, event: TargetEvent) -> None:
        """Called by the stream for each published event."""
        if self.close_reason is not None:
            return
        item = self._transform(event)
        if item is None:
            return
        if len(self._queue) >= self._maxsize:
            if self._on_overflow is not None:
                self._on_overflow()
            if self._overflow == "close":
                self.close(f"subscriber too slow: {self._maxsize} events were waiting; "
                           "stream closed")
                return
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(item)
        self._wake()

    def get_nowait(self) -> T | None:
        """The next waiting event, or None."""
        if self._replay:
            return self._replay.popleft()
        if self._queue:
            return self._queue.popleft()
        return None

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            if self.close_reason is not None:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _same(event: TargetEvent) -> TargetEvent:
    return event


class EventStream:
    """Publishes target events in order to every subscription; see the module docstring."""

    def __init__(self, journal: Callable[[TargetEvent], None] | None = None) -> None:
        self._journal = journal
        self._subscriptions: list[Subscription[object]] = []
        self._observers: list[Callable[[TargetEvent], None]] = []
        self.overflows = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: TargetEvent) -> None:
        if self._journal is not None:
            self._journal(event)
        for observer in self._observers:
            try:
                observer(event)
            except Exception:  # a bug in bookkeeping must not break the publisher
                _log.exception("event observer %r failed on %r", observer, event)
        for subscription in tuple(self._subscriptions):
            subscription.offer(event)

    def observe(self, observer: Callable[[TargetEvent], None]) -> Callable[[], None]:
        """Call ``observer(event)`` synchronously for every event published from now on,
        after the journal and before the subscriptions; returns a function that stops it.

        No queue, so nothing is ever dropped, but it runs inside the publisher (a probe's
        result, a lifecycle change): it MUST NOT block, await or do I/O, and should take
        microseconds. For exact counts (metrics); anything slower subscribes instead."""
        # Copy on write: an observer that stops itself (or another) mid-publish is safe.
        self._observers = [*self._observers, observer]

        def stop() -> None:
            self._observers = [o for o in self._observers if o is not observer]

        return stop

    def subscribe(
        self,
        transform: Callable[[TargetEvent], T | None] = _same,  # type: ignore[assignment]
        *,
        maxsize: int = DEFAULT_QUEUE_LIMIT,
        overflow: Overflow = "close",
        replay: Iterable[T] = (),
    ) -> Subscription[T]:
        """A new subscription; ``replay`` is delivered first, then every event published
        from now on that ``transform`` does not map to None."""
        subscription: Subscription[T] = Subscription(
            transform=transform,
            maxsize=maxsize,
            overflow=overflow,
            replay=replay,
            on_close=self._remove,
            on_overflow=self._count_overflow,
        )
        self._subscriptions.append(subscription)  # type: ignore[arg-type]
        return subscription

    def close(self, reason: str = "event stream closed") -> None:
        """End every subscription (shutdown)."""
        for subscription in tuple(self._subscriptions):
            subscription.close(reason)

    def _remove(self, subscription: Subscription[T]) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)  # type: ignore[arg-type]

    def _count_overflow(self) -> None:
        self.overflows += 1
