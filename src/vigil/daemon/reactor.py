"""The shape shared by the daemon's subscribers that act on events (``remediation``,
``hooks``): a bounded, filtered subscription read by a task of their own.

The filter runs inside the publisher, a probe's path: it must be cheap and never raise (a
failure is logged and the event skipped). Handling runs in the reader's task; a failure
there is logged and the next item is handled as usual. A reader that falls ``QUEUE_LIMIT``
items behind loses the oldest ones (counted, and logged when it stops).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Generic, TypeVar

from vigil.core.events import TargetEvent
from vigil.runtime.engine import Engine
from vigil.runtime.stream import Subscription

_log = logging.getLogger("vigil")
QUEUE_LIMIT = 1_000  # items a reactor may fall behind by (oldest dropped beyond)
T = TypeVar("T")


class Reactor(Generic[T]):
    """Subclasses give ``filter`` (publish time: an event to an item, or None), ``handle``
    (one item, in order) and ``stopped`` (after the reader ended, on ``aclose``)."""

    name = "reactor"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._clock = engine.clock
        self._subscription: Subscription[T] | None = None
        self._reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._subscription = self._engine.stream.subscribe(
            self._safe_filter, maxsize=QUEUE_LIMIT, overflow="drop")
        self._reader = asyncio.get_running_loop().create_task(
            self._read(self._subscription), name=f"vigil-{self.name}")

    async def aclose(self) -> None:
        if self._subscription is not None:
            self._subscription.close(f"{self.name} stopped")
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.stopped()

    def filter(self, event: TargetEvent) -> T | None:
        raise NotImplementedError

    def handle(self, item: T) -> None:
        raise NotImplementedError

    async def stopped(self) -> None:
        """What is left to end once no item comes any more."""

    def _safe_filter(self, event: TargetEvent) -> T | None:
        try:
            return self.filter(event)
        except Exception:
            _log.exception("%s: filter failed on %r; event skipped", self.name, event)
            return None

    async def _read(self, subscription: Subscription[T]) -> None:
        async for item in subscription:
            try:
                self.handle(item)
            except Exception:
                _log.exception("%s failed on %r; going on with the next one", self.name, item)
        if subscription.dropped:
            _log.warning("%s fell behind and missed %d events", self.name, subscription.dropped)
