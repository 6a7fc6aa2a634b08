"""Delivery: one bounded queue and one worker per destination, retries with back-off.

A destination that fails or hangs only delays its own queue: each has its own worker task
(started when a message arrives, gone when the queue is empty), each attempt has a deadline
on the injected clock, and failed attempts are retried after ``retry_delay_ns`` (1 s, 2 s,
4 s ... capped) up to ``ATTEMPTS`` times. A queue holds at most ``QUEUE_LIMIT`` messages:
past that the oldest is dropped and counted, with one warning per burst of drops.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable

from vigil.core.notify import retry_delay_ns
from vigil.exceptions import NotifyError
from vigil.notify import Message, Notifier
from vigil.runtime.clock import Clock, Deadline

_log = logging.getLogger("vigil")

QUEUE_LIMIT = 100  # messages waiting per destination
ATTEMPTS = 5  # per message: the first try and four retries
SEND_TIMEOUT_NS = 10 * 1_000_000_000


class Destination:
    """One notifier's queue; ``sent``, ``failed`` and ``dropped`` count messages."""

    def __init__(self, notifier: Notifier, clock: Clock, *, limit: int = QUEUE_LIMIT,
                 attempts: int = ATTEMPTS, timeout_ns: int = SEND_TIMEOUT_NS) -> None:
        self.notifier = notifier
        self._clock = clock
        self._limit = limit
        self._attempts = attempts
        self._timeout_ns = timeout_ns
        self._queue: deque[Message] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._warned_drops = 0
        self.sent = self.failed = self.dropped = 0

    @property
    def worker(self) -> asyncio.Task[None] | None:
        """The task delivering this queue, while it runs."""
        worker = self._worker
        return worker if worker is not None and not worker.done() else None

    @property
    def pending(self) -> int:
        """Messages queued or being delivered."""
        return len(self._queue) + (self._worker is not None and not self._worker.done())

    def put(self, message: Message) -> None:
        if len(self._queue) >= self._limit:
            self._queue.popleft()
            self.dropped += 1
            if self._warned_drops == 0:
                _log.warning("notify %s: queue full (%d messages), dropping the oldest",
                             self.notifier.name, self._limit)
            self._warned_drops += 1
        self._queue.append(message)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._run(), name=f"vigil-notify {self.notifier.name}")

    async def _run(self) -> None:
        while self._queue:
            await self._deliver(self._queue.popleft())
            if self._warned_drops and not self._queue:
                _log.warning("notify %s: %d messages were dropped while it was behind",
                             self.notifier.name, self._warned_drops)
                self._warned_drops = 0

    async def _deliver(self, message: Message) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                async with Deadline(self._clock, self._timeout_ns):
                    await self.notifier.send(message)
            except Exception as error:  # NotifyError, TimeoutError, or a notifier's bug
                reason = str(error) if isinstance(error, NotifyError) else _describe(error)
                if attempt == self._attempts:
                    self.failed += 1
                    _log.error("notify %s: gave up after %d attempts: %s",
                               self.notifier.name, attempt, reason)
                    return
                delay = retry_delay_ns(attempt)
                _log.warning("notify %s: attempt %d failed (%s); retrying in %gs",
                             self.notifier.name, attempt, reason, delay / 1e9)
                await self._clock.sleep_ns(delay)
            else:
                self.sent += 1
                return

    async def aclose(self) -> None:
        """Stop at once: what is still queued is dropped (counted)."""
        self.dropped += len(self._queue)
        self._queue.clear()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer within the send timeout"
    return f"{type(error).__name__}: {error}"


class Dispatcher:
    """Destinations by key (the URL), made on first use by ``make``."""

    def __init__(self, make: Callable[[str], Notifier], clock: Clock, **options: int) -> None:
        self._make = make
        self._clock = clock
        self._options = options
        self.destinations: dict[str, Destination] = {}

    def send(self, keys: Iterable[str], message: Message) -> None:
        for key in keys:
            destination = self.destinations.get(key)
            if destination is None:
                destination = Destination(self._make(key), self._clock, **self._options)
                self.destinations[key] = destination
            destination.put(message)

    @property
    def pending(self) -> int:
        return sum(d.pending for d in self.destinations.values())

    async def drain(self, timeout_ns: int) -> bool:
        """Wait (on the clock, at most ``timeout_ns``) until nothing is left to deliver."""
        try:
            async with Deadline(self._clock, timeout_ns):
                while workers := [w for d in self.destinations.values() if (w := d.worker)]:
                    await asyncio.wait(workers)
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        await asyncio.gather(*(d.aclose() for d in self.destinations.values()))
