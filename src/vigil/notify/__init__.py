"""Notifications: status changes of the event stream sent to people through Apprise URLs.

``Notifier`` is the seam (one destination; ``AppriseNotifier`` is the real one, tests pass
their own); ``Dispatcher`` keeps one bounded queue per destination with retries and back-off
on the injected clock; ``StatusNotifier`` subscribes to ``Engine.stream`` and turns
``StatusChanged`` into messages through the pure rules of ``vigil.core.notify`` (what is
news, flap damping). Apprise is imported lazily and runs off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: ``severity`` is Apprise's notify type (info, success, warning,
    failure)."""

    title: str
    body: str
    severity: str = "info"


@runtime_checkable
class Notifier(Protocol):
    """One destination. ``name`` is safe to log (no secrets); ``send`` raises
    ``vigil.exceptions.NotifyError`` when the message was not delivered."""

    name: str

    async def send(self, message: Message) -> None: ...


__all__ = ["Message", "Notifier"]
