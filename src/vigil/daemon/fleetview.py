"""The daemon's half of the fleet view: open the node's store in the shared database, publish
this agent's services and history into it, and serve the fleet (``/fleet`` routes).

Opening connects and migrates (``FleetShare.open``, before anything is served: a bad URL
or an unreachable database stops ``vigil up`` with the store's message). Once running, the
database may go away at any time: the agent keeps probing, its writes wait in the store's
bounded buffer and catch up (``vigil.fleet.nodestore``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from vigil.api.fleet import Fleet
from vigil.daemon.manager import Manager
from vigil.fleet.listen import FleetEvents
from vigil.fleet.nodestore import NodeStore
from vigil.fleet.publish import Publisher
from vigil.fleet.view import FleetView
from vigil.runtime.clock import Clock
from vigil.store import redact

_log = logging.getLogger("vigil")


@dataclass
class FleetShare:
    """One agent's fleet view: its store, its publisher and the reads it serves."""

    node: str
    store: NodeStore
    view: FleetView
    events: FleetEvents
    publisher: Publisher | None = None
    served: Fleet | None = None  # what the API and the page read, once started

    @classmethod
    def open(cls, url: str, node: str, clock: Clock) -> FleetShare:
        """Connect and prepare the node's schema (blocks; StoreError when it cannot)."""
        store = NodeStore(url, node=node, now_ns=clock.now_ns)
        view = FleetView(url, now_ns=clock.now_ns)
        _log.info("fleet: node %s writes to %s", node, redact(store.location))
        return cls(node, store, view, FleetEvents(view))

    def start(self, manager: Manager, clock: Clock) -> Fleet:
        """Publish ``manager``'s services from now on; returns what the API serves."""
        self.publisher = Publisher(manager, self.store, clock)
        self.publisher.start()
        self.served = Fleet(self.node, self.view, self.events, lambda: self.store.problem)
        return self.served

    async def stop(self) -> None:
        """After the services stopped: their final states go out; streams end."""
        if self.publisher is not None:
            await self.publisher.aclose()
        self.events.close()
        await asyncio.to_thread(self.events.join)

    def close(self) -> None:
        """Write what is queued and release the connections (the daemon's last step)."""
        self.view.close()
        self.store.close()


__all__ = ["FleetShare"]
