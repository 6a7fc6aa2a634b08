"""The subscriber: ``StatusChanged`` events of the engine's stream become notifications.

Its subscription's filter runs at publish time and costs a probe a dict write: it keeps each
target's last ``ProbeCompleted`` (for the message's streak and output) and lets only
``StatusChanged``, ``RemediationExhausted`` and ``TargetRemoved`` into the queue, which is
bounded (the oldest is dropped, counted and warned about, if the subscriber ever falls that
far behind). What to send is decided by ``vigil.core.notify``; the settle timers of flap
damping run on the injected clock; sending is the dispatcher's, so nothing here waits on a
destination.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from vigil.core.events import (
    ProbeCompleted,
    RemediationExhausted,
    StatusChanged,
    TargetEvent,
    TargetRef,
    TargetRemoved,
)
from vigil.core.notify import (
    FlapPolicy,
    Notice,
    NotifyState,
    exhausted_text,
    message_text,
    on_settle_check,
    on_status_changed,
    settle_due,
)
from vigil.notify import Message
from vigil.notify.dispatch import Dispatcher
from vigil.runtime.clock import Cancellable, Clock
from vigil.runtime.stream import EventStream, Subscription

_log = logging.getLogger("vigil")

QUEUE_LIMIT = 10_000  # status changes waiting to be handled


@dataclass(frozen=True, slots=True)
class Settings:
    """Where a service's notifications go and how it is damped."""

    urls: tuple[str, ...]
    flap: FlapPolicy


SettingsFor = Callable[[TargetRef], Settings | None]
_Item = tuple[StatusChanged, ProbeCompleted | None] | TargetRemoved | RemediationExhausted


class StatusNotifier:
    """Subscribes to ``stream`` on ``start()``; ``settings(target)`` says where a service's
    notifications go (None or no URLs: nowhere)."""

    def __init__(self, stream: EventStream, clock: Clock, dispatcher: Dispatcher,
                 settings: SettingsFor, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self._stream = stream
        self._clock = clock
        self.dispatcher = dispatcher
        self._settings = settings
        self._queue_limit = queue_limit
        self._last: dict[str, ProbeCompleted] = {}
        self._states: dict[str, NotifyState] = {}
        self._timers: dict[str, Cancellable] = {}
        self._subscription: Subscription[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned_drops = 0

    def start(self) -> None:
        self._subscription = self._stream.subscribe(
            self._pick, maxsize=self._queue_limit, overflow="drop")
        self._task = asyncio.get_running_loop().create_task(self._run(self._subscription),
                                                            name="vigil-notify")

    async def aclose(self) -> None:
        """Stop listening and cancel the settle timers (queued sends are the dispatcher's)."""
        if self._subscription is not None:
            self._subscription.close("notifier closed")
        if self._task is not None:
            await self._task
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _pick(self, event: TargetEvent) -> _Item | None:
        if isinstance(event, ProbeCompleted):
            self._last[event.target.id] = event
            return None
        if isinstance(event, StatusChanged):
            return event, self._last.get(event.target.id)
        if isinstance(event, TargetRemoved):
            self._last.pop(event.target.id, None)
            return event
        if isinstance(event, RemediationExhausted):
            return event
        return None

    async def _run(self, subscription: Subscription[_Item]) -> None:
        async for item in subscription:
            if subscription.dropped > self._warned_drops:
                _log.warning("notify: %d status changes were dropped (the notifier fell %d "
                             "behind)", subscription.dropped - self._warned_drops,
                             self._queue_limit)
                self._warned_drops = subscription.dropped
            try:
                if isinstance(item, TargetRemoved):
                    self._forget(item.target.id)
                elif isinstance(item, RemediationExhausted):
                    self._exhausted(item)
                else:
                    self._changed(*item)
            except Exception:  # one bad service must not end notifications for all
                _log.exception("notify: could not handle %r", item)

    def _changed(self, event: StatusChanged, last: ProbeCompleted | None) -> None:
        settings = self._settings(event.target)
        if settings is None or not settings.urls:
            return
        key = event.target.id
        state, notice = on_status_changed(self._states.get(key, NotifyState()), settings.flap,
                                          event.old, event.new, event.time_ns)
        self._states[key] = state
        if notice is not None:
            self._send(event.target, notice, last, settings)
        self._schedule_settle(event.target, state, settings)

    def _exhausted(self, event: RemediationExhausted) -> None:
        settings = self._settings(event.target)
        if settings is not None and settings.urls:
            text = exhausted_text(event.target, event.action, event.reason, event.attempts,
                                  event.time_ns)
            self.dispatcher.send(settings.urls, Message(text.title, text.body, text.severity))

    def _schedule_settle(self, target: TargetRef, state: NotifyState, settings: Settings) -> None:
        old = self._timers.pop(target.id, None)
        if old is not None:
            old.cancel()
        due = settle_due(state, settings.flap)
        if due is not None:
            self._timers[target.id] = self._clock.call_later_ns(
                due - self._clock.now_ns(), lambda: self._settle(target))

    def _settle(self, target: TargetRef) -> None:
        self._timers.pop(target.id, None)
        settings = self._settings(target)
        state = self._states.get(target.id)
        if settings is None or state is None:
            return
        state, notice = on_settle_check(state, settings.flap, self._clock.now_ns())
        self._states[target.id] = state
        if notice is not None:
            self._send(target, notice, self._last.get(target.id), settings)
        else:  # the policy changed meanwhile: look again when it says
            self._schedule_settle(target, state, settings)

    def _send(self, target: TargetRef, notice: Notice, last: ProbeCompleted | None,
              settings: Settings) -> None:
        text = message_text(target, notice, last)
        self.dispatcher.send(settings.urls, Message(text.title, text.body, text.severity))

    def _forget(self, target_id: str) -> None:
        self._states.pop(target_id, None)
        timer = self._timers.pop(target_id, None)
        if timer is not None:
            timer.cancel()
