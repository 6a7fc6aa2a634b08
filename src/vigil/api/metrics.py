"""``GET /metrics``: the daemon's Prometheus metrics (``vigil.metrics``), behind the same
guards as every other route (token on TCP, Origin and Host checks, the request budget)."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vigil.api.errors import error_responses
from vigil.metrics.exposition import response

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
    return await response(request.app.state.metrics, request)
