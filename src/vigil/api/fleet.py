"""The ``/fleet`` routes (issue 11): the whole fleet from any agent, read from the shared
database (``vigil.fleet.view``) in threads, never on the loop.

- ``GET /fleet/nodes``: every node and its liveness (``docker node ls``'s states).
- ``GET /fleet/services/json``: ``GET /services/json`` over every node; names
  ``/node/service``, each entry with its ``Node``; filters as ``ps`` plus ``node``.
- ``GET /fleet/services/{node}/{ref}/json``: one node's service inspect object.
- ``GET /fleet/events``: live events of every node (LISTEN/NOTIFY, ``vigil.fleet.listen``);
  ``until`` ends the stream as on ``/events``; filters as ``/events`` plus ``node``.

A daemon not in fleet mode answers 503, as Docker answers swarm routes on a node that is not
in a swarm; so does one whose fleet database cannot be reached.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field

from vigil.api import schemas
from vigil.api.errors import DockerJSONResponse, error_responses
from vigil.api.params import BackendDep, DockerBool, Filters, Ref, Timestamp
from vigil.api.regexp import go_search
from vigil.api.streams import NDJSON, NDJSONResponse, Stream, close_at, event_lines
from vigil.docker.events import parse_since_until
from vigil.docker.health import dumps
from vigil.exceptions import InvalidParameterError, ServiceError, StoreError
from vigil.fleet.listen import FleetEvents, parse_fleet_event_filter
from vigil.fleet.view import FleetView

_T = TypeVar("_T")
NodeName = Annotated[str, Path(description="The node's name (`vigil up --node`)",
                               examples=["node1"])]
_READ = (400, 404, 500, 503)

router = APIRouter(prefix="/fleet", default_response_class=DockerJSONResponse)


class FleetUnavailable(ServiceError):
    """Not in fleet mode, or the fleet database cannot be reached (503)."""

    status = 503


@dataclass(frozen=True, slots=True)
class Fleet:
    """What the routes read: set on ``app.state.fleet`` by ``create_app``."""

    node: str
    view: FleetView
    events: FleetEvents
    problem: Callable[[], str | None] = lambda: None  # the node store's, for /info


class FleetNode(schemas.Shape):
    Name: str
    State: str = Field(description="ready (heartbeat within its lease TTL), down or unknown")
    Addr: str = Field(description="Its API host, as it registered it")
    Heartbeat: str = Field(description="RFC 3339; empty when unknown")
    Left: str = Field(description="When it stopped cleanly; empty while it runs")


class FleetServiceListItem(schemas.ServiceListItem):
    Node: FleetNode


class FleetServiceInspect(schemas.ServiceInspect):
    Node: FleetNode


def not_in_fleet_mode() -> FleetUnavailable:
    return FleetUnavailable("this daemon is not in fleet mode: start it with "
                            "`vigil up --fleet postgresql://... --node NAME`")


def _fleet(request: Request) -> Fleet:
    fleet: Fleet | None = getattr(request.app.state, "fleet", None)
    if fleet is None:
        raise not_in_fleet_mode()
    return fleet


async def _read(call: Callable[..., _T], *args: Any) -> _T:
    try:
        return await asyncio.to_thread(call, *args)
    except StoreError as exc:
        raise FleetUnavailable(str(exc)) from None


def _answer(value: object) -> Response:
    return Response((dumps(value) + "\n").encode("utf-8"), media_type="application/json")


@router.get("/nodes", operation_id="FleetNodeList", response_model=list[FleetNode],
            responses=error_responses(500, 503))
async def list_nodes(request: Request) -> Any:
    nodes = await _read(_fleet(request).view.nodes)
    return _answer([node.json() for node in nodes])


@router.get("/services/json", operation_id="FleetServiceList",
            response_model=list[FleetServiceListItem], responses=error_responses(400, 500, 503))
async def list_fleet_services(
    request: Request,
    show_all: Annotated[DockerBool, Query(alias="all", description="Also services not running")]
    = False,
    filters: Filters = None,
) -> Any:
    fleet = _fleet(request)
    items = await _read(fleet.view.list_items, show_all, filters, go_search)
    return _answer(items)


@router.get("/services/{node}/{ref}/json", operation_id="FleetServiceInspect",
            response_model=FleetServiceInspect, responses=error_responses(*_READ))
async def inspect_fleet_service(request: Request, node: NodeName, ref: Ref) -> Any:
    return _answer(await _read(_fleet(request).view.inspect, node, ref))


@router.get("/events", operation_id="FleetEvents", response_class=NDJSONResponse,
            response_model=schemas.EventMessage,
            responses=error_responses(400, 500, 503, json_route=False))
async def fleet_events(request: Request, backend: BackendDep, since: Timestamp = None,
                       until: Timestamp = None, filters: Filters = None) -> Response:
    fleet = _fleet(request)
    clock = backend.manager.clock
    now = clock.now_ns()
    if since:
        raise InvalidParameterError("fleet events are live only: use `vigil events "
                                    "--since` against each node for its history")
    try:
        until_ns = parse_since_until(until, now) if until else None
        check, nodes = parse_fleet_event_filter(filters)
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    subscription = fleet.events.subscribe(check, nodes)
    timer = close_at(clock, subscription, until_ns) if until_ns is not None else None
    backend.streams.add(subscription.close)

    def cleanup() -> None:
        subscription.close()
        backend.streams.discard(subscription.close)
        if timer is not None:
            timer.cancel()

    def line(event: Any) -> bytes:
        return (dumps(event.to_json()) + "\n").encode("utf-8")

    return Stream(event_lines(subscription, line), media_type=NDJSON, cleanup=cleanup)

