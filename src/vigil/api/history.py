"""``GET /services/{ref}/history``: a service's kept probe results (issue 9), each as
Docker's ``Health.Log`` entry (Start, End, ExitCode, Output) plus its duration, outcome and
the health it left.

A durable store is read in a thread, never on the loop. ``since``/``until`` take what
``/events`` takes (Docker's ``since``/``until``); ``limit`` keeps the newest entries, at
most ``MAX_LIMIT`` per request (default ``DEFAULT_LIMIT``), oldest first.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

import vigil.api.refs  # noqa: F401  (the {ref:service} path parameter)
from vigil.api.errors import DockerJSONResponse, error_responses
from vigil.api.params import ManagerDep, Ref, Timestamp
from vigil.api.schemas import Shape
from vigil.core.events import ProbeCompleted
from vigil.docker.events import parse_since_until
from vigil.docker.health import result_json
from vigil.exceptions import InvalidParameterError
from vigil.store import DurableStore

DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000

router = APIRouter(prefix="/services", default_response_class=DockerJSONResponse)


class HistoryEntry(Shape):
    Start: str
    End: str
    ExitCode: int
    Output: str
    Duration: int = Field(description="End - Start, in nanoseconds")
    Outcome: str = Field(description="pass, fail, timeout or error")
    Status: str = Field(description="The health status right after this result")
    FailingStreak: int


def entry_json(event: ProbeCompleted) -> dict[str, Any]:
    result = event.result
    return {
        **result_json(result),
        "Duration": result.end - result.start,
        "Outcome": result.outcome.value,
        "Status": event.status.value,
        "FailingStreak": event.failing_streak,
    }


@router.get(
    "/{ref:service}/history",
    operation_id="ServiceHistory",
    response_model=list[HistoryEntry],
    responses=error_responses(400, 404, 500),
)
async def service_history(
    ref: Ref,
    manager: ManagerDep,
    since: Timestamp = None,
    until: Timestamp = None,
    limit: Annotated[
        int | SkipJsonSchema[None],
        Query(ge=0, le=MAX_LIMIT, description=f"Newest entries to return (default "
              f"{DEFAULT_LIMIT})"),
    ] = None,
) -> Any:
    now = manager.clock.now_ns()
    try:
        since_ns = parse_since_until(since, now) if since else None
        until_ns = parse_since_until(until, now) if until else None
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    if since_ns is not None and until_ns is not None and until_ns < since_ns:
        raise InvalidParameterError(f"`since` time ({since}) cannot be after `until` time "
                                    f"({until})")
    target_id = manager.lookup(ref).id
    store = manager.engine.store
    count = DEFAULT_LIMIT if limit is None else limit
    if isinstance(store, DurableStore):
        found = await asyncio.to_thread(store.results, target_id, since_ns, until_ns, count)
    else:
        found = store.results(target_id, since_ns, until_ns, count)
    return [entry_json(event) for event in found]


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "HistoryEntry", "entry_json", "router"]
