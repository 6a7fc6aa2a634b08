"""The agent's side of the fleet view: its services' state and history, into the node store.

History needs nothing new: every target event the engine publishes is handed to the node
store by an observer (a deque append on the loop; the store's writer thread COPYs it).

State is published by looking, not by listening: every ``PUBLISH_INTERVAL_NS`` the
publisher asks the manager for each service's view, which is the same object for as long as
nothing about the service changed, so an unchanged service costs one identity check. What
changed is handed over as one ``ServiceState`` per service. While the store is behind (an
outage), nothing new is handed over: the latest state is published once it caught up, so
the buffer never fills with states that were already outdated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vigil.daemon.manager import Manager
from vigil.docker.services import ServiceView, inspect_bytes
from vigil.fleet.nodestore import KeepOnly, NodeStore, ServiceState
from vigil.runtime.clock import Clock
from vigil.store.writer import BATCH_ROWS

_log = logging.getLogger("vigil")
PUBLISH_INTERVAL_NS = 500_000_000  # how stale another node's ``ps --fleet`` may be
_BEHIND = BATCH_ROWS  # rows waiting in the writer: the store is behind, hold states back


def _command(view: ServiceView) -> str:
    from vigil.docker.services import list_item_json

    return str(list_item_json(view, 0)["Command"])


def service_state(view: ServiceView, now_ns: int) -> ServiceState:
    shown = view.shown_health
    return ServiceState(
        id=view.id, name=view.name, created_ns=view.created_ns, command=_command(view),
        status=view.status, exit_code=view.exit_code, started_at_ns=view.started_at_ns,
        finished_at_ns=view.finished_at_ns, health=view.health_status,
        failing_streak=0 if shown is None else shown.failing_streak,
        inspect=inspect_bytes(view).decode("utf-8").rstrip("\n"), updated_ns=now_ns)


class Publisher:
    """See the module docstring; ``start`` once the manager has its services."""

    def __init__(self, manager: Manager, store: NodeStore, clock: Clock) -> None:
        self._manager = manager
        self._store = store
        self._clock = clock
        self._published: dict[str, ServiceView] = {}
        self._ids: tuple[str, ...] | None = None  # the set last told to the store
        self._task: asyncio.Task[None] | None = None
        self._stop_history = manager.engine.stream.observe(store.append_event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Stop, after one last pass: a clean stop leaves the final states behind."""
        self._stop_history()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.publish()

    def publish(self) -> int:
        """Hand every changed state to the store; returns how many. Nothing while the store
        is behind."""
        writer = self._store.writer
        if writer.failing or writer.waiting >= _BEHIND:
            return 0
        # the services, and the shared checks this agent holds (``check/<name>``)
        views = {view.id: view for view in self._manager.views()}
        ids = tuple(sorted(views))
        if ids != self._ids:
            self._store.put_state(KeepOnly(ids))
            self._ids = ids
        now = self._clock.now_ns()
        changed = 0
        for service_id, view in views.items():
            if self._published.get(service_id) is not view:
                self._store.put_state(service_state(view, now))
                changed += 1
        self._published = views
        return changed

    async def _run(self) -> None:
        while True:
            try:
                self.publish()
            except Exception:  # a bug here must not end the daemon's fleet view for good
                _log.exception("fleet: publishing the services' state failed")
            await self._clock.sleep_ns(PUBLISH_INTERVAL_NS)


__all__ = ["PUBLISH_INTERVAL_NS", "Publisher", "service_state"]
