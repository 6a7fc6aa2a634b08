"""What a route takes: Docker's query parameter types and the daemon parts FastAPI injects.

A query parameter is declared ``Annotated[T | SkipJsonSchema[None], Query(...)] = None`` when
absent means "not given": the OpenAPI document then says ``T``, not ``T or null``, since a
query string cannot carry a null.
"""

# No ``from __future__ import annotations``: FastAPI reads these types at run time.

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from vigil.api.streams import OpenStreams
from vigil.daemon.manager import Manager
from vigil.go.strings import trim_space

_FALSE = frozenset({"", "0", "no", "false", "none"})  # moby's httputils.BoolValue


def docker_bool(value: object) -> object:
    """moby's ``BoolValue``: empty, 0, no, false and none (any case, Go's spaces trimmed)
    are false, anything else is true."""
    if isinstance(value, str):
        return trim_space(value).lower() not in _FALSE
    return value


DockerBool = Annotated[
    bool,
    BeforeValidator(docker_bool),
    WithJsonSchema(
        {
            "type": ["boolean", "string"],
            "description": "Docker's boolean: empty, 0, no, false and none are false, "
            "anything else true",
        }
    ),
]
Int64 = Annotated[int, Field(ge=-(1 << 63), le=(1 << 63) - 1)]  # Go's int of the same flag

Ref = Annotated[
    str, Path(description="Service name, full 64-hex ID or unique ID prefix", examples=["web"])
]
Filters = Annotated[
    str | SkipJsonSchema[None],
    Query(description='Docker filters JSON: {"health":["healthy"]}'),
]
Timestamp = Annotated[
    str | SkipJsonSchema[None],
    Query(description="Unix time, RFC 3339 or a Go duration ago"),
]
StopSeconds = Annotated[
    Int64 | SkipJsonSchema[None],
    Query(description="Seconds, then SIGKILL; -1: never"),
]


@dataclass(frozen=True, slots=True)
class Backend:
    """What the routes serve, set once on ``app.state.backend`` by ``create_app``."""

    manager: Manager
    streams: OpenStreams
    on_down: Callable[[], None] | None = None


async def _backend(request: Request) -> Backend:  # async: runs on the loop, not in a thread
    backend: Backend = request.app.state.backend
    return backend


async def _manager(request: Request) -> Manager:
    return (await _backend(request)).manager


BackendDep = Annotated[Backend, Depends(_backend)]
ManagerDep = Annotated[Manager, Depends(_manager)]
