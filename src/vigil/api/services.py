"""The ``/services`` routes: Docker's container routes, for services.

Every handler is ``async`` so that it runs on the manager's event loop (FastAPI would run a
plain ``def`` in a thread). JSON bodies come from ``vigil.docker.services``: checked and
ordered by the route's ``response_model``, except ``ps`` and ``inspect``, sent as the bytes
each service's view memoizes (FastAPI's validation cost more than the answer; ``tests/api``
checks them against the models). Errors are Docker's ``{"message": ...}``.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

import asyncio
import json
import operator
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic.json_schema import SkipJsonSchema

from vigil.api import schemas
from vigil.api.budget import PER_SERVICE_NS, spend
from vigil.api.create import body_problem
from vigil.api.errors import DockerJSONResponse, error_responses
from vigil.api.params import BackendDep, DockerBool, Filters, ManagerDep, Ref, StopSeconds
from vigil.api.regexp import go_search
from vigil.api.streams import Stream, let_others_run, log_chunks
from vigil.compose.project import parse_service
from vigil.core.names import service_name_problem
from vigil.daemon.manager import WAIT_EXITED, Manager
from vigil.docker.services import (
    ServiceView,
    inspect_bytes,
    list_item_bytes,
    matches,
    parse_list_filters,
)
from vigil.exceptions import InvalidParameterError, NotFoundError, ServiceError
from vigil.go.duration import SECOND, parse_duration
from vigil.notify.urls import check_service
from vigil.targets.logs import STDERR, STDOUT

_CREATED = operator.attrgetter("created_ns")
_CHUNK = 500  # services rendered per turn of the event loop
_T = TypeVar("_T")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_REF = (400, 404, 500)  # 400: an ID prefix that matches several services
_STATE = (400, 404, 409, 500)
_CREATE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": schemas.SERVICE_ENTRY_SCHEMA}},
}

router = APIRouter(prefix="/services", default_response_class=DockerJSONResponse)


def _no_body(*errors: int, not_modified: str | None = None) -> dict[str, Any]:
    """Route options of an action answering 204 (or 304, Docker's "nothing to do")."""
    responses = error_responses(*errors)
    if not_modified is not None:
        responses[304] = {"description": not_modified}
    return {"status_code": 204, "response_class": Response, "responses": responses}


@router.get(
    "/json",
    operation_id="ServiceList",
    response_model=list[schemas.ServiceListItem],
    responses=error_responses(400, 500),
)
async def list_services(
    request: Request,
    manager: ManagerDep,
    show_all: Annotated[
        DockerBool, Query(alias="all", description="Also services not running")
    ] = False,
    filters: Filters = None,
) -> Any:
    try:
        parsed = parse_list_filters(filters)
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    names = manager.listed_names()  # services, and the fleet's shared checks held here
    await spend(request.app.state, len(names) * PER_SERVICE_NS)
    views = []
    for chunk in _chunks(names):
        views += [view for view in map(_view_or_none(manager), chunk) if view is not None]
        await let_others_run()  # a long list: probes and other clients run in between
    newest_first = sorted(reversed(views), key=_CREATED, reverse=True)  # stable: as Docker
    now = manager.clock.now_ns()
    items = []
    for part in _chunks(newest_first):
        items += [
            list_item_bytes(v, now)
            for v in part
            if matches(v, parsed, show_all=show_all, search=go_search)
        ]
        await let_others_run()
    items.insert(0, b"[" + (items.pop(0) if items else b""))  # one copy of the body, not 3
    items[-1] += b"]\n"
    return _json_answer(b",".join(items))


@router.post(
    "/create",
    operation_id="ServiceCreate",
    status_code=201,
    response_model=schemas.CreateResponse,
    responses=error_responses(400, 409, 500),
    openapi_extra={"requestBody": _CREATE_BODY},  # read by hand: Docker's JSON error texts
)
async def create_service(
    request: Request,
    manager: ManagerDep,
    name: Annotated[
        str, Query(description="[a-zA-Z0-9][a-zA-Z0-9_.-]+, at most 128 characters")
    ],
) -> Any:
    problem = service_name_problem(name)
    if problem is not None:
        raise InvalidParameterError(problem)
    name = name.removeprefix("/")
    data = _read_json(await request.body(), request.headers.get("content-type"))
    path = f"services.{name}"
    problem = body_problem(data, path)
    if problem is not None:
        raise InvalidParameterError(problem)
    # Never the daemon's environment: a KEY-only entry was refused above.
    config = parse_service(name, data, path=path, environ={})
    if config.notify:  # Apprise's parser, off the loop: hostile URLs cost it milliseconds each
        await asyncio.to_thread(check_service, config, path)
    return {"Id": manager.create(config), "Warnings": []}


@router.get(
    "/{ref}/json",
    operation_id="ServiceInspect",
    response_model=schemas.ServiceInspect,
    response_model_exclude_unset=True,
    responses=error_responses(*_REF),
)
async def inspect_service(ref: Ref, manager: ManagerDep) -> Any:
    return _json_answer(inspect_bytes(manager.view(ref)))


@router.post(
    "/{ref}/start", operation_id="ServiceStart", **_no_body(*_STATE, not_modified="already started")
)
async def start_service(ref: Ref, manager: ManagerDep) -> None:
    await manager.start(ref)


@router.post(
    "/{ref}/stop", operation_id="ServiceStop", **_no_body(*_REF, not_modified="already stopped")
)
async def stop_service(ref: Ref, manager: ManagerDep, t: StopSeconds = None) -> None:
    await manager.stop(ref, timeout_ns=None if t is None else t * SECOND)


@router.post("/{ref}/restart", operation_id="ServiceRestart", **_no_body(*_STATE))
async def restart_service(ref: Ref, manager: ManagerDep, t: StopSeconds = None) -> None:
    await manager.restart(ref, timeout_ns=None if t is None else t * SECOND)


@router.post("/{ref}/kill", operation_id="ServiceKill", **_no_body(*_STATE))
async def kill_service(
    ref: Ref,
    manager: ManagerDep,
    signal_name: Annotated[str, Query(alias="signal", description="Name or number")] = "SIGKILL",
) -> None:
    await manager.kill(ref, signal_name or "SIGKILL")  # moby: an empty signal means SIGKILL


@router.post("/{ref}/pause", operation_id="ServicePause", **_no_body(*_STATE))
async def pause_service(ref: Ref, manager: ManagerDep) -> None:
    await manager.pause(ref)


@router.post("/{ref}/unpause", operation_id="ServiceUnpause", **_no_body(*_STATE))
async def unpause_service(ref: Ref, manager: ManagerDep) -> None:
    await manager.unpause(ref)


@router.delete("/{ref}", operation_id="ServiceDelete", **_no_body(*_STATE))
async def remove_service(
    ref: Ref,
    manager: ManagerDep,
    force: Annotated[DockerBool, Query(description="Kill it first if running")] = False,
) -> None:
    await manager.remove(ref, force=force)


@router.get(
    "/{ref}/logs",
    operation_id="ServiceLogs",
    response_class=PlainTextResponse,
    responses=error_responses(*_REF, json_route=False),
)
async def service_logs(
    ref: Ref,
    backend: BackendDep,
    follow: Annotated[DockerBool, Query(description="Keep sending new lines")] = False,
    tail: Annotated[
        str | SkipJsonSchema[None], Query(description="all, or how many last lines")
    ] = None,
    timestamps: Annotated[DockerBool, Query(description="Prefix lines with their time")] = False,
    stdout: Annotated[DockerBool, Query(description="Show stdout")] = True,
    stderr: Annotated[DockerBool, Query(description="Show stderr")] = True,
) -> Response:
    log = backend.manager.log(ref)
    streams = frozenset(name for name, wanted in ((STDOUT, stdout), (STDERR, stderr)) if wanted)
    if not streams:
        raise InvalidParameterError("Bad parameters: you must choose at least one stream")
    entries = log.tail(_tail_count(tail))  # then follow with no await between: no gap
    follower = log.follow() if follow else None
    source = log_chunks(entries, follower, streams, timestamps)
    if follower is None:
        return Stream(source, media_type="text/plain")
    open_streams = backend.streams
    open_streams.add(follower.close)

    def cleanup() -> None:
        follower.close()
        open_streams.discard(follower.close)

    return Stream(source, media_type="text/plain", cleanup=cleanup)


@router.post(
    "/{ref}/wait",
    operation_id="ServiceWait",
    response_model=schemas.WaitResponse,
    responses=error_responses(*_REF),
)
async def wait_service(
    ref: Ref,
    backend: BackendDep,
    condition: Annotated[str, Query(description="healthy, running or exited")] = WAIT_EXITED,
    timeout_text: Annotated[
        str | SkipJsonSchema[None], Query(alias="timeout", description="Go duration, e.g. 30s")
    ] = None,
) -> Any:
    try:
        timeout_ns = parse_duration(timeout_text) if timeout_text else None
    except ValueError as exc:
        raise InvalidParameterError(f"invalid query parameter timeout: {exc}") from None
    manager, open_streams = backend.manager, backend.streams
    task = asyncio.ensure_future(manager.wait(ref, condition, timeout_ns))
    open_streams.add(task.cancel)
    try:
        reason = await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if open_streams.closing and not (current and current.cancelling()):
            raise ServiceError("the vigil daemon is shutting down") from None
        raise
    finally:
        open_streams.discard(task.cancel)
    try:
        exit_code = manager.view(ref).exit_code
    except ServiceError:  # removed meanwhile
        exit_code = 0
    return {"Met": reason is None, "Error": reason, "ExitCode": exit_code}


def _json_answer(body: bytes) -> Response:
    """A body already encoded as ``DockerJSONResponse`` would, from the shapes the route's
    ``response_model`` documents (``tests/api`` checks them against it): FastAPI's validation
    and re-encoding cost more than building the body, at every ``ps`` of every service."""
    return Response(body, media_type=DockerJSONResponse.media_type)


def _chunks(items: list[_T]) -> Iterator[list[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _view_or_none(manager: Manager) -> Callable[[str], ServiceView | None]:
    def view(name: str) -> ServiceView | None:
        try:
            return manager.view(name)
        except NotFoundError:  # removed while the list was being built
            return None

    return view


def _tail_count(tail: str | None) -> int | None:
    """moby: ``all``, anything Go's ``strconv.Atoi`` refuses (Python's ``int`` also takes
    ``1_0``, `` 2`` and non-ASCII digits) and negatives mean every line."""
    if tail is None or not _GO_INT.fullmatch(tail):
        return None
    count = int(tail)
    return count if 0 <= count < 1 << 63 else None


def _read_json(body: bytes, content_type: str | None) -> object:
    """moby's ``CheckForJSON`` and ``ReadJSON`` for a request body: a body needs a JSON
    ``Content-Type`` (which is also what keeps a web page's form or ``text/plain`` POST out)."""
    if content_type is None and body:
        raise InvalidParameterError("malformed Content-Type header (): mime: no media type")
    if content_type and content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidParameterError(
            f"unsupported Content-Type header ({content_type}): must be 'application/json'"
        )
    if not body.strip():
        raise InvalidParameterError("invalid JSON: got EOF while reading request body")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidParameterError(f"invalid JSON: {exc}") from None
