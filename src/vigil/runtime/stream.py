"""Fan-out of health events to subscribers (API streams, metrics, stores, user callbacks)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from vigil.core.events import Event

Subscriber = Callable[[str, Event], None]
_log = logging.getLogger("vigil")


class EventBus:
    """Calls every subscriber synchronously, in subscription order.

    A subscriber that raises is logged and kept; it can never stop a monitor or keep the
    next subscriber from seeing the event.
    """

    __slots__ = ("_subscribers",)

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, target: str, event: Event) -> None:
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(target, event)
            except Exception:
                _log.exception("event subscriber %r failed on %r", subscriber, event)
