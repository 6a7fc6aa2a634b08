"""The daemon-wide routes: ``/_ping``, ``/version``, ``/events``, ``/up``, ``/down`` and the
OpenAPI document itself."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

import os
import platform
from collections.abc import AsyncGenerator, Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import PlainTextResponse, Response

from vigil import __version__
from vigil.api import schemas
from vigil.api.budget import PER_EVENT_NS, spend
from vigil.api.errors import DockerJSONResponse, error_responses
from vigil.api.params import Backend, BackendDep, Filters, ManagerDep, Timestamp
from vigil.api.streams import NDJSON, NDJSONResponse, Stream, close_at, event_lines
from vigil.docker.events import EventFilter, parse_since_until
from vigil.exceptions import InvalidParameterError

API_VERSION = "1.0"
_PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Ostype": "linux",
    "Pragma": "no-cache",
    "Cache-Control": "no-cache, no-store, must-revalidate",
}

router = APIRouter(default_response_class=DockerJSONResponse)


@router.get(
    "/_ping",
    operation_id="SystemPing",
    response_class=PlainTextResponse,
    responses=error_responses(500, json_route=False),
)
async def ping(response: Response) -> str:
    response.headers.update(_PING_HEADERS)
    return "OK"


@router.get(
    "/version",
    operation_id="SystemVersion",
    response_model=schemas.VersionResponse,
    responses=error_responses(500),
)
async def version() -> Any:
    return {
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "Os": "linux",
        "Arch": platform.machine(),
        "PythonVersion": platform.python_version(),
        "Pid": os.getpid(),
    }


@router.get("/openapi.json", operation_id="OpenAPI", response_model=dict[str, Any])
async def openapi(request: Request) -> Any:
    return request.app.openapi()


@router.get(
    "/events",
    operation_id="SystemEvents",
    response_class=NDJSONResponse,
    response_model=schemas.EventMessage,  # of each line
    responses=error_responses(400, 500, json_route=False),
)
async def events(
    request: Request,
    backend: BackendDep, since: Timestamp = None, until: Timestamp = None, filters: Filters = None
) -> Response:
    clock = backend.manager.clock
    now = clock.now_ns()
    try:  # moby's order: since, until, their order, then the filters
        since_ns = parse_since_until(since, now) if since else None
        until_ns = parse_since_until(until, now) if until else None
        if since_ns is not None and until_ns is not None and until_ns < since_ns:
            raise ValueError(f"`since` time ({since}) cannot be after `until` time ({until})")
        check = EventFilter.parse(filters)
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    log = backend.manager.events
    if log.durable() is not None and (since_ns is not None or until_ns is not None):
        return _durable_replay(request, backend, check, since_ns, until_ns, now)
    if since_ns is not None or until_ns is not None:  # a replay waits its turn before the
        await spend(request.app.state, log.stored(since_ns, until_ns) * PER_EVENT_NS)
    subscription = log.subscribe(check, since_ns, until_ns, now_ns=now)  # live queue fills
    timer = None
    if until_ns is not None and not subscription.closed:
        timer = close_at(clock, subscription, until_ns)
    open_streams = backend.streams
    open_streams.add(subscription.close)

    def cleanup() -> None:
        subscription.close()
        open_streams.discard(subscription.close)
        if timer is not None:
            timer.cancel()

    return Stream(event_lines(subscription, log.line), media_type=NDJSON, cleanup=cleanup)


def _durable_replay(
    request: Request,
    backend: Backend,
    check: EventFilter,
    since_ns: int | None,
    until_ns: int | None,
    now: int,
) -> Response:
    """``/events`` with a replay from a durable store: live events are subscribed first, at
    a store position; the replay up to that position is read page by page in threads (each
    page paying its share of the budget), then the live events follow."""
    log = backend.manager.events
    subscription, upto = log.subscribe_live(check, until_ns, now_ns=now)
    clock = backend.manager.clock
    timer = None
    if until_ns is not None and not subscription.closed:
        timer = close_at(clock, subscription, until_ns)
    open_streams = backend.streams
    open_streams.add(subscription.close)

    async def lines() -> AsyncGenerator[bytes, None]:
        async for chunk, count in log.replay_lines(upto, since_ns, until_ns, check):
            await spend(request.app.state, count * PER_EVENT_NS)
            yield chunk
        async for chunk in event_lines(subscription, log.line):
            yield chunk

    def cleanup() -> None:
        subscription.close()
        open_streams.discard(subscription.close)
        if timer is not None:
            timer.cancel()

    return Stream(lines(), media_type=NDJSON, cleanup=cleanup)


@router.post(
    "/up",
    operation_id="ProjectUp",
    response_model=schemas.UpResponse,
    responses=error_responses(500),
)
async def up(manager: ManagerDep) -> Any:
    return {"Errors": await manager.up()}


@router.post(
    "/down",
    operation_id="ProjectDown",
    status_code=204,
    response_class=Response,
    responses=error_responses(500),
)
async def down(backend: BackendDep, after_answer: BackgroundTasks) -> None:
    await backend.manager.down()
    if backend.on_down is not None:
        after_answer.add_task(_call_on_loop, backend.on_down)


async def _call_on_loop(callback: Callable[[], None]) -> None:
    callback()  # async, so FastAPI runs it on the loop rather than in a thread
