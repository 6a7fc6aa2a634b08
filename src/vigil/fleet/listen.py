"""``vigil events --fleet``: every node's events, fanned out with LISTEN/NOTIFY.

One listener thread per agent (started by the first fleet stream, ended with the daemon)
holds one connection that LISTENs on the fleet's channel. A notification is small, the node
and its newest position (``vigil.fleet.nodestore``); the thread fetches that node's rows
after the last position it saw, in pages, projects each to Docker's message (named
``node/service``, with a ``node`` attribute) and hands them to the loop, which offers them
to every subscriber's bounded queue: a reader ``DEFAULT_QUEUE_LIMIT`` events behind is cut
off with a reason, as local ``/events`` readers are. Notifications lost while the
connection was down cost nothing: on reconnecting, each node is read on from where the
thread left it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from vigil.docker.events import DaemonEvent, EventFilter, project
from vigil.fleet.view import FleetView
from vigil.runtime.stream import DEFAULT_QUEUE_LIMIT, Subscription
from vigil.store.durable import merge_page

_log = logging.getLogger("vigil")
PAGE = 2_000  # rows of each table fetched per query
WAIT_S = 1.0  # how long one wait for notifications lasts (the stop flag is read between)
RETRY_S = 2.0  # pause before reconnecting after the connection failed


def fleet_event(node: str, event: DaemonEvent) -> DaemonEvent:
    """``event`` as the fleet shows it: named ``node/service``, with a ``node`` attribute."""
    attributes = {**dict(event.attributes), "name": f"{node}/{event.name}", "node": node}
    return DaemonEvent(event.type, event.action, event.actor_id, attributes, event.time_ns)


def parse_fleet_event_filter(filters_json: str | None) -> tuple[EventFilter, list[str]]:
    """``/events`` filters plus ``node``: (the event filter, node names)."""
    raw: dict[str, Any] = json.loads(filters_json) if filters_json else {}
    nodes: list[str] = []
    if isinstance(raw, dict) and "node" in raw:
        value = raw.pop("node")
        nodes = [str(v) for v in value] if isinstance(value, list) else \
            [str(k) for k, v in value.items() if v] if isinstance(value, dict) else [str(value)]
    # the service filter sees ``node/service`` names: a prefix of either form matches
    return EventFilter.parse(json.dumps(raw) if raw else None), nodes


class FleetEvents:
    """Live fleet events for any number of subscribers; see the module docstring."""

    def __init__(self, view: FleetView, *, queue_limit: int = DEFAULT_QUEUE_LIMIT,
                 connect: Callable[[], Any] | None = None) -> None:
        self._view = view
        self._queue_limit = queue_limit
        self._connect = connect
        self._subscriptions: list[Subscription[DaemonEvent]] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen: dict[str, int] = {}  # node -> last position delivered
        self.listening = threading.Event()  # set once the first LISTEN is in place

    def subscribe(self, check: EventFilter, nodes: list[str]) -> Subscription[DaemonEvent]:
        def accept(event: Any) -> DaemonEvent | None:
            docker = cast(DaemonEvent, event)
            if nodes and dict(docker.attributes).get("node") not in nodes:
                return None
            return docker if check.matches(docker) else None

        subscription: Subscription[DaemonEvent] = Subscription(
            transform=accept, maxsize=self._queue_limit, overflow="close")
        self._subscriptions = [s for s in self._subscriptions if not s.closed]
        self._subscriptions.append(subscription)
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._run, name="vigil-fleet-events",
                                            daemon=True)
            self._thread.start()
        return subscription

    def close(self) -> None:
        """End every stream and ask the thread to stop (on the loop; never blocks)."""
        self._stop.set()
        for subscription in self._subscriptions:
            subscription.close("event log closed")
        self._subscriptions.clear()

    def join(self, timeout_s: float = WAIT_S * 2) -> None:
        """Wait (bounded) for the thread to end after ``close``: its connection is closed."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- the loop's side --------------------------------------------------------------------

    def _deliver(self, events: list[DaemonEvent]) -> None:
        for event in events:
            for subscription in tuple(self._subscriptions):
                subscription.offer(event)  # type: ignore[arg-type]
        self._subscriptions = [s for s in self._subscriptions if not s.closed]

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # the server went away: read on from where we were
                _log.warning("fleet events: %s; reconnecting", " ".join(str(exc).split()))
                self._stop.wait(RETRY_S)

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        conn = self._connect() if self._connect is not None else psycopg.connect(
            self._view.conninfo, autocommit=True, connect_timeout=10)
        with conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._view.channel)))
            for known in self._view.nodes():  # after LISTEN: nothing falls in between
                if known.schema is None:
                    continue
                if known.name not in self._seen:
                    self._seen[known.name] = self._view.newest(known.schema)
                else:
                    self._catch_up(known.name, None)
            self.listening.set()
            while not self._stop.is_set():
                newest: dict[str, int] = {}
                for note in conn.notifies(timeout=WAIT_S, stop_after=1000):
                    try:
                        data = json.loads(note.payload)
                        newest[str(data["node"])] = max(int(data["seq"]),
                                                         newest.get(str(data["node"]), 0))
                    except (ValueError, KeyError, TypeError):
                        continue  # not ours: shown nothing
                for name, seq in newest.items():
                    self._catch_up(name, seq)

    def _catch_up(self, node: str, upto: int | None) -> None:
        schema = self._view.schema_of(node)
        if schema is None:
            return
        if node not in self._seen:  # a node new to the fleet: everything it has
            self._seen[node] = 0
        if upto is None:
            upto = self._view.newest(schema)
        while self._seen[node] < upto and not self._stop.is_set():
            results, others = self._view.rows_after(schema, self._seen[node], upto, PAGE)
            page = merge_page(results, others, 2 * PAGE)
            if not results and not others:
                self._seen[node] = upto
                break
            # the page ends where both tables still had rows: the rest comes next time
            last = min(rows[-1][0] if len(rows) == PAGE else upto
                       for rows in (results, others))
            events = [fleet_event(node, docker) for key, event in page if key[1] <= last
                      and (docker := project(event)) is not None]
            self._seen[node] = last
            if events and self._loop is not None:
                try:
                    self._loop.call_soon_threadsafe(self._deliver, events)
                except RuntimeError:  # the loop closed: the daemon is gone
                    self._stop.set()


__all__ = ["FleetEvents", "fleet_event", "parse_fleet_event_filter"]
