"""The daemon's HTTP API: ``create_app(manager)`` (FastAPI: routes in ``system`` and
``services``, their parameter types in ``params``, body models in ``schemas``, Docker's errors
in ``errors``, streams in ``streams``, ``GET /metrics`` in ``metrics``; what every request
passes first in ``guard``, what a create body may not carry in ``create``, regular-expression
filters in ``regexp``) and
``serve`` (uvicorn on sockets vigil creates, TCP behind ``auth``'s bearer token, optionally
over ``tls``). Imported lazily so that the CLI does not pay for FastAPI on every command."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.api.app import close_streams as close_streams
    from vigil.api.app import create_app as create_app
    from vigil.api.server import ListenError as ListenError
    from vigil.api.server import default_host as default_host
    from vigil.api.server import parse_host as parse_host
    from vigil.api.server import serve as serve

__all__ = ["ListenError", "close_streams", "create_app", "default_host", "parse_host", "serve"]

_WHERE = {
    "close_streams": "vigil.api.app",
    "create_app": "vigil.api.app",
    "ListenError": "vigil.api.server",
    "default_host": "vigil.api.server",
    "parse_host": "vigil.api.server",
    "serve": "vigil.api.server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil.api' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
