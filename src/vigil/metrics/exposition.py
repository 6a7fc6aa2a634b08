"""The scrape: ``scrape`` for a route of one's own, ``asgi_app`` to mount anywhere.

The format follows the scraper's ``Accept`` header as ``prometheus_client`` negotiates it:
OpenMetrics when asked for, else the Prometheus text format (0.0.4 unless 1.0.0 is asked).
The values are copied on the engine's loop in one go (a consistent moment, microseconds per
service); turning them into text costs 0.2-0.6 ms per service, so past ``INLINE_ROWS``
services that runs on a worker thread and the loop keeps probing meanwhile.
"""

from __future__ import annotations

import asyncio
import gzip

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.metrics.collector import EngineMetrics, Snapshot

INLINE_ROWS = 10  # services rendered on the loop (~0.2-0.6 ms each); more go to a thread
GZIP_LEVEL = 6  # 1,000 services: 1.6 MiB to 81 KiB in 17 ms; level 9 took 169 ms for 78 KiB


def render(collector: Collector, accept: str | None = None) -> tuple[bytes, str]:
    """The exposition of ``collector`` (a registry, ``EngineMetrics`` on its loop, or a
    ``Snapshot`` anywhere) in the format ``accept`` asks for, and its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(collector), content_type


async def scrape(metrics: EngineMetrics, accept: str | None = None, *,
                 gzipped: bool = False) -> tuple[bytes, str]:
    """``render`` of ``metrics`` (gzip-compressed if ``gzipped``) from the engine's loop
    without stalling it."""
    snapshot = metrics.snapshot()
    if len(snapshot.rows) <= INLINE_ROWS:
        return _encode(snapshot, accept, gzipped)
    return await asyncio.to_thread(_encode, snapshot, accept, gzipped)


def _encode(snapshot: Snapshot, accept: str | None, gzipped: bool) -> tuple[bytes, str]:
    body, content_type = render(snapshot, accept)
    return (gzip.compress(body, GZIP_LEVEL) if gzipped else body), content_type


async def response(metrics: EngineMetrics, request: Request) -> Response:
    """The answer to a scrape of ``metrics``: the format the ``Accept`` header asks for,
    gzip if ``Accept-Encoding`` allows it (Prometheus asks; a big scrape shrinks ~20 times),
    never cached."""
    gzipped = gzip_accepted(request.headers.get("accept-encoding", ""))
    body, content_type = await scrape(metrics, request.headers.get("accept"), gzipped=gzipped)
    headers = {"Content-Type": content_type, "Cache-Control": "no-store",
               "Vary": "Accept, Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers)


class MetricsApp:
    """ASGI: GET or HEAD answers the scrape of ``metrics``, other methods 405. An object, not
    a function, so that Starlette's ``Route("/metrics", MetricsApp(m))`` serves it as an
    ASGI app at exactly that path (``Mount`` works too, under ``/metrics/``)."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if request.method not in ("GET", "HEAD"):
            answer = Response("method not allowed\n", status_code=405,
                              headers={"Allow": "GET, HEAD"}, media_type="text/plain")
        else:
            answer = await response(self._metrics, request)
        await answer(scope, receive, send)


def asgi_app(metrics: EngineMetrics) -> ASGIApp:
    """The scrape of ``metrics`` as an ASGI app to put behind the same guards as the rest
    of an app, e.g. ``Route("/metrics", asgi_app(metrics))`` in the web status page."""
    return MetricsApp(metrics)
