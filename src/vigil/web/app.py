"""``create_web_app``: the status page over a ``Manager``.

Routes (all read-only but the actions):

- ``GET /`` and ``GET /services/{name}``: the page (one HTML shell; ``static/page.js`` renders
  the overview or the service from the live stream).
- ``GET /api/overview``, ``GET /api/services/{name}?range=1h|24h|7d``: the same data as JSON.
- ``GET /fleet``, ``GET /api/fleet``: fleet mode's view, every node's services grouped by
  node with its liveness (``vigil.web.fleet``); 503 when not in fleet mode.
- ``GET /api/live[?service=NAME&range=...]``: server-sent events (``vigil.web.live``).
- ``POST /api/actions/{name}/{restart|stop|start|pause|unpause}``: needs
  ``Authorization: Bearer <token>`` (``vigil.web.token``), checked as the API checks it.
- ``GET /metrics``: 404 until a Prometheus exposition is given (``metrics=``).
- ``GET /static/...``: the page's assets, shipped in the package.

Every answer passes the API's guards (cross-origin requests and, with ``hosts``, foreign
``Host`` headers refused; bodies capped; a bug is a JSON 500) and carries the page's
security headers (``vigil.web.headers``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable
from importlib import resources
from typing import Annotated, Literal

from fastapi import FastAPI, Path, Query, Response
from fastapi.responses import HTMLResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

import vigil.api.refs  # noqa: F401  (the {ref:service} path parameter)
from vigil.api.auth import BearerTokenAuth
from vigil.api.errors import DockerJSONResponse, add_error_handlers, error_response
from vigil.api.guard import BodyLimit, BrowserGuard, LastResort
from vigil.api.streams import OpenStreams, Stream
from vigil.daemon.manager import Manager
from vigil.exceptions import InvalidParameterError
from vigil.web.data import DEFAULT_RANGE, RANGES, Json, overview, service_history
from vigil.web.fleet import Fleet, fleet_overview
from vigil.web.headers import SecurityHeaders
from vigil.web.live import MAX_LIVE, live, subscribe

MAX_BODY_BYTES = 4096  # actions have no body
EVENT_STREAM = "text/event-stream"
Name = Annotated[str, Path(max_length=256)]
Span = Annotated[str, Query(alias="range", max_length=16)]
Action = Literal["restart", "stop", "start", "pause", "unpause"]


def _page() -> bytes:
    return resources.files("vigil.web").joinpath("static", "page.html").read_bytes()


def _span(value: str) -> str:
    if value not in RANGES:
        raise InvalidParameterError(
            f"invalid query parameter range={value!r}: must be one of {', '.join(RANGES)}")
    return value


class LiveStream(Stream):
    """A stream that ends as soon as its client leaves. Starlette stops listening for the
    disconnect under ASGI 2.4 (uvicorn's), so a closed tab on a quiet daemon would hold its
    place (``MAX_LIVE``) until the next event fails to be written."""

    def __init__(self, source: AsyncGenerator[bytes, None], *, media_type: str,
                 cleanup: Callable[[], None], on_disconnect: Callable[[], None]) -> None:
        super().__init__(source, media_type=media_type, cleanup=cleanup)
        self._on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self._on_disconnect()

        watcher = asyncio.ensure_future(watch())
        try:
            await super().__call__(scope, receive, send)
        finally:
            watcher.cancel()


class _Metrics:
    """``/metrics``: the exposition given, or 404 until there is one."""

    def __init__(self, app: ASGIApp | None) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            answer = error_response(404, "metrics are not served by this daemon")
            await answer(scope, receive, send)
            return
        await self._app(scope, receive, send)


def create_web_app(
    manager: Manager,
    *,
    token: str,
    hosts: Iterable[str] | None = None,
    metrics: ASGIApp | None = None,
    fleet: Fleet | None = None,
) -> FastAPI:
    """The status page over ``manager``. ``token``: what actions must carry. ``hosts``: the
    names a ``Host`` header may give besides loopback (None: any, for a remote listener over
    TLS). ``metrics``: the ASGI app serving ``/metrics`` (Prometheus text), if any.
    ``fleet``: fleet mode's view (``/fleet``), if any."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False,
                  default_response_class=DockerJSONResponse)
    streams = OpenStreams()
    app.state.streams = streams
    pages: set[object] = set()  # open live streams, to bound them
    app.state.pages = pages
    add_error_handlers(app)
    page = _page()

    @app.get("/", include_in_schema=False)
    @app.get("/fleet", include_in_schema=False)
    @app.get("/services/{name:service}", include_in_schema=False)
    async def the_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/overview")
    async def get_overview() -> Json:
        return await overview(manager)

    @app.get("/api/fleet")
    async def get_fleet() -> Json:
        return await fleet_overview(fleet)

    @app.get("/api/services/{name:service}")
    async def get_service(name: Name, span: Span = DEFAULT_RANGE) -> Json:
        return await service_history(manager, name, _span(span))

    @app.get("/api/live")
    async def get_live(service: Annotated[str | None, Query(max_length=256)] = None,
                       span: Span = DEFAULT_RANGE) -> Response:
        span = _span(span)
        target_id = None if service is None else manager.lookup(service).id
        if len(pages) >= MAX_LIVE:
            return error_response(503, f"too many open status pages (at most {MAX_LIVE})")
        subscription = subscribe(manager, target_id)

        async def snapshot() -> Json:
            if service is None:
                return await overview(manager)
            return await service_history(manager, service, span)

        def closer() -> None:
            subscription.close("server shutting down")

        streams.add(closer)
        pages.add(closer)

        def cleanup() -> None:
            subscription.close()
            streams.discard(closer)
            pages.discard(closer)

        answer = LiveStream(live(manager, subscription, snapshot, output=service is not None),
                            media_type=EVENT_STREAM, cleanup=cleanup,
                            on_disconnect=lambda: subscription.close("the page left"))
        answer.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not hold events
        return answer

    app.mount("/api/actions", BearerTokenAuth(_actions(manager), token))
    # the daemon passes vigil.metrics.asgi_app: the same exposition as the API's /metrics
    app.router.routes.append(Route("/metrics", _Metrics(metrics), include_in_schema=False))
    app.mount("/static", StaticFiles(packages=[("vigil.web", "static")]), name="static")
    # The last added is the outermost: LastResort sees what the others let through.
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(BrowserGuard, hosts=hosts)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(LastResort)
    return app


def _actions(manager: Manager) -> FastAPI:
    """The page's buttons: Docker's verbs on one service, each answered 204 when done."""
    actions = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False,
                      default_response_class=DockerJSONResponse)
    add_error_handlers(actions)

    @actions.post("/{name:service}/{action}", status_code=204)
    async def act(name: Name, action: Action) -> Response:
        verbs = {"restart": manager.restart, "stop": manager.stop, "start": manager.start,
                 "pause": manager.pause, "unpause": manager.unpause}
        await verbs[action](name)
        return Response(status_code=204)

    return actions


def close_live(app: object, *, closing: bool = True) -> None:
    """End every open live stream of an app made by ``create_web_app`` (server shutdown);
    with ``closing`` False, accept new ones again (served anew: a listener restarted)."""
    streams = getattr(getattr(app, "state", None), "streams", None)
    if isinstance(streams, OpenStreams):
        streams.close_all()
        streams.closing = closing
