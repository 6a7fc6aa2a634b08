"""The daemon's HTTP API (Docker Engine API style) over a ``Manager``: ``create_app``.

Every handler is ``async`` so that it runs on the manager's event loop (FastAPI would run a
plain ``def`` in a thread). Bodies come from ``vigil.docker.services``/``vigil.docker.events`` and
are encoded by ``vigil.docker.health.dumps``; errors are Docker's ``{"message": ...}``.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

import asyncio
import json
import os
import platform
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse, Response
from starlette.background import BackgroundTask

from vigil import __version__
from vigil.api import schemas as schemas
from vigil.api.errors import DockerJSONResponse, add_error_handlers, error_responses
from vigil.api.streams import (
    NDJSON,
    NDJSONResponse,
    OpenStreams,
    Stream,
    close_at,
    event_lines,
    log_chunks,
)
from vigil.compose.project import parse_service
from vigil.daemon.manager import WAIT_EXITED, Manager
from vigil.docker.events import EventFilter, parse_since_until
from vigil.docker.services import inspect_json, list_item_json, matches, parse_list_filters
from vigil.exceptions import InvalidParameterError, ServiceError
from vigil.go.duration import SECOND, parse_duration
from vigil.go.strconv import atoi
from vigil.targets.logs import STDERR, STDOUT

API_VERSION = "1.0"
_NAME_RULE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_FALSE = frozenset({"", "0", "no", "false", "none"})  # Docker's httputils.BoolValue
_INT64 = {"ge": -(1 << 63), "le": (1 << 63) - 1}


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip().lower() not in _FALSE


def _bool_query(text: str, alias: str | None = None) -> Any:
    return Query(
        alias=alias,
        description=f"{text}. Docker's boolean: empty, 0, no, false and "
        "none are false, anything else true",
    )


def _json(content: object, status_code: int = 200) -> Response:
    return DockerJSONResponse(content, status_code=status_code)


def _no_content() -> Response:
    return Response(status_code=204)


def _seconds(value: int | None) -> int | None:
    return None if value is None else value * SECOND


def _tail_count(tail: str | None) -> int | None:
    """moby: ``all``, anything ``strconv.Atoi`` refuses and negatives mean every line."""
    try:
        count = atoi(tail or "all")
    except ValueError:
        return None
    return count if count >= 0 else None


Filters = Annotated[str | None, Query(description='Docker filters JSON: {"health":["healthy"]}')]
Seconds = Annotated[int | None, Query(**_INT64, description="Seconds, then SIGKILL; -1: never")]
Ref = Annotated[str, Path(description="Service name, full 64-hex ID or unique ID prefix")]
Timestamp = Annotated[str | None, Query(description="Unix time, RFC 3339 or a Go duration ago")]


class _Routes:
    """The handlers, bound to one manager."""

    def __init__(
        self,
        app: FastAPI,
        manager: Manager,
        streams: OpenStreams,
        on_down: Callable[[], None] | None,
    ) -> None:
        self._app = app
        self._manager = manager
        self._streams = streams
        self._on_down = on_down

    async def ping(self) -> Response:
        headers = {
            "Api-Version": API_VERSION,
            "Ostype": "linux",
            "Pragma": "no-cache",
            "Cache-Control": "no-cache, no-store, must-revalidate",
        }
        return PlainTextResponse("OK", headers=headers)

    async def version(self) -> Response:
        return _json(
            {
                "Version": __version__,
                "ApiVersion": API_VERSION,
                "Os": "linux",
                "Arch": platform.machine(),
                "PythonVersion": platform.python_version(),
                "Pid": os.getpid(),
            }
        )

    async def openapi(self) -> Response:
        return _json(self._app.openapi())

    async def list_services(
        self,
        show_all: Annotated[str | None, _bool_query("Also services not running", "all")] = None,
        filters: Filters = None,
    ) -> Response:
        try:
            parsed = parse_list_filters(filters)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        now = self._manager.clock.now_ns()
        views = sorted(reversed(self._manager.views()), key=lambda v: -v.created_ns)  # newest 1st
        wanted = _flag(show_all, False)
        return _json([list_item_json(v, now) for v in views if matches(v, parsed, show_all=wanted)])

    async def create(
        self,
        request: Request,
        name: Annotated[str, Query(description="[a-zA-Z0-9][a-zA-Z0-9_.-]*")],
    ) -> Response:
        if not _NAME_RULE.fullmatch(name.removeprefix("/")):
            raise InvalidParameterError(
                f"Invalid service name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        name = name.removeprefix("/")
        data = _read_json(await request.body(), request.headers.get("content-type"))
        config = parse_service(name, data, path=f"services.{name}", environ=os.environ)
        return _json({"Id": self._manager.create(config), "Warnings": []}, status_code=201)

    async def inspect(self, ref: Ref) -> Response:
        return _json(inspect_json(self._manager.view(ref)))

    async def start(self, ref: Ref) -> Response:
        await self._manager.start(ref)
        return _no_content()

    async def stop(self, ref: Ref, t: Seconds = None) -> Response:
        await self._manager.stop(ref, timeout_ns=_seconds(t))
        return _no_content()

    async def restart(self, ref: Ref, t: Seconds = None) -> Response:
        await self._manager.restart(ref, timeout_ns=_seconds(t))
        return _no_content()

    async def kill(
        self,
        ref: Ref,
        signal_name: Annotated[
            str | None, Query(alias="signal", description="Name or number (default SIGKILL)")
        ] = None,
    ) -> Response:
        await self._manager.kill(ref, signal_name or "SIGKILL")
        return _no_content()

    async def pause(self, ref: Ref) -> Response:
        await self._manager.pause(ref)
        return _no_content()

    async def unpause(self, ref: Ref) -> Response:
        await self._manager.unpause(ref)
        return _no_content()

    async def remove(
        self, ref: Ref, force: Annotated[str | None, _bool_query("Kill it first if running")] = None
    ) -> Response:
        await self._manager.remove(ref, force=_flag(force, False))
        return _no_content()

    async def logs(
        self,
        ref: Ref,
        follow: Annotated[str | None, _bool_query("Keep sending new lines")] = None,
        tail: Annotated[str | None, Query(description="all, or how many last lines")] = None,
        timestamps: Annotated[str | None, _bool_query("Prefix lines with their time")] = None,
        stdout: Annotated[str | None, _bool_query("Show stdout (default: true)")] = None,
        stderr: Annotated[str | None, _bool_query("Show stderr (default: true)")] = None,
    ) -> Response:
        log = self._manager.log(ref)
        pairs = ((STDOUT, stdout), (STDERR, stderr))
        streams = frozenset(name for name, value in pairs if _flag(value, True))
        if not streams:
            raise InvalidParameterError("Bad parameters: you must choose at least one stream")
        entries = log.tail(_tail_count(tail))  # then follow with no await between: no gap
        follower = log.follow() if _flag(follow, False) else None
        source = log_chunks(entries, follower, streams, _flag(timestamps, False))
        if follower is None:
            return Stream(source, media_type="text/plain")
        self._streams.add(follower.close)

        def cleanup() -> None:
            follower.close()
            self._streams.discard(follower.close)

        return Stream(source, media_type="text/plain", cleanup=cleanup)

    async def wait(
        self,
        ref: Ref,
        condition: Annotated[str, Query(description="healthy, running or exited")] = WAIT_EXITED,
        timeout_text: Annotated[
            str | None, Query(alias="timeout", description="Go duration, e.g. 30s")
        ] = None,
    ) -> Response:
        try:
            timeout_ns = parse_duration(timeout_text) if timeout_text else None
        except ValueError as exc:
            raise InvalidParameterError(f"invalid query parameter timeout: {exc}") from None
        task = asyncio.ensure_future(self._manager.wait(ref, condition, timeout_ns))
        self._streams.add(task.cancel)
        try:
            reason = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._streams.closing and not (current and current.cancelling()):
                raise ServiceError("the vigil daemon is shutting down") from None
            raise
        finally:
            self._streams.discard(task.cancel)
        return _json({"Met": reason is None, "Error": reason, "ExitCode": self._exit_code(ref)})

    def _exit_code(self, ref: str) -> int:
        try:
            return self._manager.view(ref).exit_code
        except ServiceError:  # removed meanwhile
            return 0

    async def events(
        self, since: Timestamp = None, until: Timestamp = None, filters: Filters = None
    ) -> Response:
        clock = self._manager.clock
        now = clock.now_ns()
        try:  # moby's order: since, until, their order, then the filters
            since_ns = parse_since_until(since, now) if since else None
            until_ns = parse_since_until(until, now) if until else None
            if since_ns is not None and until_ns is not None and until_ns < since_ns:
                raise ValueError(f"`since` time ({since}) cannot be after `until` time ({until})")
            check = EventFilter.parse(filters)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        subscription = self._manager.events.subscribe(check, since_ns, until_ns, now_ns=now)
        timer = None
        if until_ns is not None and not subscription.closed:
            timer = asyncio.ensure_future(close_at(clock, subscription, until_ns))
        self._streams.add(subscription.close)

        def cleanup() -> None:
            subscription.close()
            self._streams.discard(subscription.close)
            if timer is not None:
                timer.cancel()

        return Stream(event_lines(subscription), media_type=NDJSON, cleanup=cleanup)

    async def up(self) -> Response:
        return _json({"Errors": await self._manager.up()})

    async def down(self) -> Response:
        await self._manager.down()
        on_down = self._on_down
        if on_down is None:
            return _no_content()

        async def after_answer() -> None:  # async: runs on the loop, not in a thread
            on_down()

        return Response(status_code=204, background=BackgroundTask(after_answer))


def _read_json(body: bytes, content_type: str | None) -> object:
    """moby's ``CheckForJSON`` and ``ReadJSON`` for a request body."""
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


class _App(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, tidied (``vigil.api.schemas.tidy_openapi``)."""
        if self.openapi_schema is None:
            document = get_openapi(
                title=self.title,
                version=self.version,
                description=self.description,
                routes=self.routes,
            )
            schemas.tidy_openapi(document)
            self.openapi_schema = document
        return self.openapi_schema


def create_app(manager: Manager, *, on_down: Callable[[], None] | None = None) -> FastAPI:
    """The API over ``manager``. ``on_down`` is called after ``POST /down`` has answered."""
    app = _App(
        title="vigil",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        description="Docker's HEALTHCHECK model for local processes: the daemon's API.",
    )
    streams = OpenStreams()
    app.state.vigil_streams = streams
    add_error_handlers(app)
    _register(app, _Routes(app, manager, streams, on_down))
    return app


def close_streams(app: object) -> None:
    """End every open stream and wait of an app made by ``create_app`` (server shutdown)."""
    streams = getattr(getattr(app, "state", None), "vigil_streams", None)
    if isinstance(streams, OpenStreams):
        streams.close_all()


_REF = (400, 404, 500)  # 400: an ID prefix that matches several services
_STATE = (400, 404, 409, 500)
_CREATE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": schemas.SERVICE_ENTRY_SCHEMA}},
}
# method, path, handler, operation id, success status, what it answers, error statuses.
# The answer: a model (JSON), TEXT, NDJSON lines of a model, or None (no body).
TEXT, NDJSON_LINES = "text", "ndjson"
_TABLE: tuple[tuple[str, str, str, str, int, Any, tuple[int, ...]], ...] = (
    ("GET", "/_ping", "ping", "SystemPing", 200, TEXT, (500,)),
    ("GET", "/version", "version", "SystemVersion", 200, schemas.VersionResponse, (500,)),
    (
        "GET",
        "/services/json",
        "list_services",
        "ServiceList",
        200,
        list[schemas.ServiceListItem],
        (400, 500),
    ),
    (
        "POST",
        "/services/create",
        "create",
        "ServiceCreate",
        201,
        schemas.CreateResponse,
        (400, 409, 500),
    ),
    ("GET", "/services/{ref}/json", "inspect", "ServiceInspect", 200, schemas.ServiceInspect, _REF),
    ("POST", "/services/{ref}/start", "start", "ServiceStart", 204, None, _STATE),
    ("POST", "/services/{ref}/stop", "stop", "ServiceStop", 204, None, _REF),
    ("POST", "/services/{ref}/restart", "restart", "ServiceRestart", 204, None, _STATE),
    ("POST", "/services/{ref}/kill", "kill", "ServiceKill", 204, None, _STATE),
    ("POST", "/services/{ref}/pause", "pause", "ServicePause", 204, None, _STATE),
    ("POST", "/services/{ref}/unpause", "unpause", "ServiceUnpause", 204, None, _STATE),
    ("DELETE", "/services/{ref}", "remove", "ServiceDelete", 204, None, _STATE),
    ("GET", "/services/{ref}/logs", "logs", "ServiceLogs", 200, TEXT, _REF),
    ("POST", "/services/{ref}/wait", "wait", "ServiceWait", 200, schemas.WaitResponse, _REF),
    (
        "GET",
        "/events",
        "events",
        "SystemEvents",
        200,
        (NDJSON_LINES, schemas.EventMessage),
        (400, 500),
    ),
    ("POST", "/up", "up", "ProjectUp", 200, schemas.UpResponse, (500,)),
    ("POST", "/down", "down", "ProjectDown", 204, None, (500,)),
    ("GET", "/openapi.json", "openapi", "OpenAPI", 200, {"type": "object"}, ()),
)
_NOT_MODIFIED = {"ServiceStart": "already started", "ServiceStop": "already stopped"}


def _register(app: FastAPI, routes: _Routes) -> None:
    """Add the routes of ``_TABLE``, documented with what each answers."""
    for method, path, handler, op, status, answer, errors in _TABLE:
        responses: dict[int | str, dict[str, Any]] = {}
        response_class: type[Response] = DockerJSONResponse
        if answer is None:
            response_class = Response
        elif answer == TEXT:
            response_class = PlainTextResponse
        elif isinstance(answer, tuple):  # (NDJSON_LINES, model of one line)
            response_class = NDJSONResponse
            responses[status] = {"model": answer[1], "description": "One object per line"}
        elif isinstance(answer, dict):
            schema = {"application/json": {"schema": answer}}
            responses[status] = {"content": schema, "description": "OK"}
        else:
            responses[status] = {"model": answer, "description": "OK"}
        if op in _NOT_MODIFIED:
            responses[304] = {"description": _NOT_MODIFIED[op]}
        responses.update(error_responses(*errors))
        extra = {"requestBody": _CREATE_BODY} if op == "ServiceCreate" else None
        app.add_api_route(
            path,
            getattr(routes, handler),
            methods=[method],
            operation_id=op,
            status_code=status,
            response_class=response_class,
            responses=responses,
            openapi_extra=extra,
        )
