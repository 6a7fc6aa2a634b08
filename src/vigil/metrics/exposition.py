"""The scrape: ``render`` for a route of one's own, ``asgi_app`` to mount anywhere.

The format follows the scraper's ``Accept`` header as ``prometheus_client`` negotiates it:
OpenMetrics when asked for, else the Prometheus text format (0.0.4 unless 1.0.0 is asked).
Both run the collector on the calling thread: call them on the engine's event loop.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.metrics.collector import EngineMetrics


def render(registry: CollectorRegistry, accept: str | None = None) -> tuple[bytes, str]:
    """The exposition of ``registry`` in the format ``accept`` asks for, and its content
    type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def response(metrics: EngineMetrics, request: Request) -> Response:
    """The answer to a scrape of ``metrics``, never cached."""
    body, content_type = render(metrics.registry, request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def asgi_app(metrics: EngineMetrics) -> ASGIApp:
    """An ASGI app answering every GET or HEAD with the scrape of ``metrics`` (405
    otherwise). Mount it at ``/metrics``, behind the same guards as the rest of the app."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if request.method not in ("GET", "HEAD"):
            answer = Response("method not allowed\n", status_code=405,
                              headers={"Allow": "GET, HEAD"}, media_type="text/plain")
        else:
            answer = response(metrics, request)
        await answer(scope, receive, send)

    return app
