"""Live updates for an open page, as server-sent events fed by the typed event stream.

Each connection subscribes first, then sends a ``snapshot`` (the whole view), then one
``update`` per batch of events: the current summary of every service they touched, the new
results and the events Docker would show. Events published while the snapshot is read wait
in the subscription, so nothing falls between the two (the page drops a result it already
has). Every (re)connection starts with a snapshot, so a page that lost its connection, or
whose daemon restarted, is whole again as soon as it reconnects (``retry``).

Bounded: a subscription holds at most ``QUEUE_LIMIT`` events (a reader that far behind is
closed and reconnects to a fresh snapshot), and at most ``MAX_LIVE`` pages are open at once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable

from vigil.api.streams import let_others_run
from vigil.core.events import ProbeCompleted, TargetEvent, TargetRemoved
from vigil.daemon.manager import Manager
from vigil.exceptions import NotFoundError
from vigil.runtime.stream import Subscription
from vigil.web.data import Json, event_json, result_json, summary

MAX_LIVE = 64  # open pages; a page beyond gets 503 and retries later
QUEUE_LIMIT = 1_000  # events one page may fall behind by before it is resynced
RETRY_MS = 2_000  # how soon a browser reconnects (daemon restart, network)
_BATCH = 256  # waiting events sent as one update


def sse(event: str, data: Json) -> bytes:
    """One server-sent event. JSON escapes CR and LF, so the data is always one line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def subscribe(manager: Manager, target_id: str | None) -> Subscription[TargetEvent]:
    """Every event, or one service's, from now on."""

    def only_this(event: TargetEvent) -> TargetEvent | None:
        return event if event.target.id == target_id else None

    stream = manager.engine.stream
    if target_id is None:
        return stream.subscribe(maxsize=QUEUE_LIMIT, overflow="close")
    return stream.subscribe(only_this, maxsize=QUEUE_LIMIT, overflow="close")


def update(manager: Manager, events: list[TargetEvent], *, output: bool) -> Json:
    """What a batch of events changed: summaries of the services they touched (as they are
    now), services removed, new results (with their output for a service page) and events."""
    touched: dict[str, str] = {}  # ID -> name (looking up by name is one dict access)
    removed: list[str] = []
    results: list[Json] = []
    shown: list[Json] = []
    for event in events:
        ref = event.target
        if isinstance(event, ProbeCompleted):
            results.append({"id": ref.id, **result_json(event.result, output=output)})
        elif (item := event_json(event)) is not None:
            shown.append(item)
        if isinstance(event, TargetRemoved):
            removed.append(ref.id)
            touched.pop(ref.id, None)
        else:
            touched[ref.id] = ref.name
    services = []
    for target_id, name in touched.items():
        with contextlib.suppress(NotFoundError):  # being removed: TargetRemoved follows
            view = manager.view(name)
            if view.id == target_id:  # not a new service under the old name
                services.append(summary(view))
    return {"services": services, "removed": removed, "results": results, "events": shown}


async def live(
    manager: Manager,
    subscription: Subscription[TargetEvent],
    snapshot: Callable[[], Awaitable[Json]],
    *,
    output: bool,
) -> AsyncGenerator[bytes, None]:
    """The event stream of one page: retry delay and snapshot, then updates as they come.
    The subscription is closed when the stream ends, however it ends."""
    try:
        yield f"retry: {RETRY_MS}\n\n".encode() + sse("snapshot", await snapshot())
        async for event in subscription:
            batch = [event]
            while len(batch) < _BATCH and (more := subscription.get_nowait()) is not None:
                batch.append(more)
            yield sse("update", update(manager, batch, output=output))
            if len(batch) == _BATCH:
                await let_others_run()  # a page far behind does not hold up the probes
    finally:
        subscription.close()
