"""The page's fleet view (``GET /api/fleet``): every node with its liveness and its services
(the ``ps --fleet`` list entries), read from the fleet's database in a thread."""

from __future__ import annotations

import asyncio

from vigil.api.fleet import Fleet, FleetUnavailable, not_in_fleet_mode
from vigil.exceptions import StoreError
from vigil.web.data import Json


def _read(fleet: Fleet) -> Json:
    nodes = fleet.view.nodes()
    items = fleet.view.list_items(True, None)
    by_node: dict[str, list[object]] = {node.name: [] for node in nodes}
    for item in items:
        by_node.setdefault(str(item["Node"]["Name"]), []).append(item)
    return {"node": fleet.node,
            "nodes": [{**node.json(), "Services": by_node[node.name]} for node in nodes]}


async def fleet_overview(fleet: Fleet | None) -> Json:
    if fleet is None:
        raise not_in_fleet_mode()
    try:
        return await asyncio.to_thread(_read, fleet)
    except StoreError as exc:
        raise FleetUnavailable(str(exc)) from None


__all__ = ["Fleet", "fleet_overview"]
