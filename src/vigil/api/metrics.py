"""``GET /metrics``: the daemon's Prometheus metrics (``vigil.metrics``), behind the same
guards as every other route (token on TCP, Origin and Host checks, the request budget)."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vigil.api.budget import spend
from vigil.api.errors import error_responses
from vigil.metrics.exposition import response

# Daemon CPU per service scraped: its 28 series made into text (bench/metrics.py: 0.17-0.6
# ms, mostly on a worker thread, which still takes the GIL from the loop). A scrape is bulk.
PER_SCRAPED_SERVICE_NS = 200_000

_TEXT = {"schema": {"type": "string"}}
_SCRAPE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The metrics in the format the Accept header asks for: the Prometheus "
                       "text format, or OpenMetrics",
        "content": {"text/plain": _TEXT, "application/openmetrics-text": _TEXT},
    },
}

router = APIRouter()


@router.get(
    "/metrics",
    operation_id="SystemMetrics",
    response_class=Response,
    responses={**_SCRAPE, **error_responses(500, json_route=False)},
)
async def metrics(request: Request) -> Response:  # async: the values are read on the loop
    metrics = request.app.state.metrics
    await spend(request.app.state, metrics.services * PER_SCRAPED_SERVICE_NS)
    return await response(metrics, request)
