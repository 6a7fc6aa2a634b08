"""The daemon's HTTP API: ``create_app(manager)`` (FastAPI) and ``serve`` (uvicorn on sockets
vigil creates). Imported lazily so that the CLI does not pay for FastAPI on every command."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.api._routes import close_streams as close_streams
    from vigil.api._routes import create_app as create_app
    from vigil.api._server import ListenError as ListenError
    from vigil.api._server import default_host as default_host
    from vigil.api._server import parse_host as parse_host
    from vigil.api._server import serve as serve

__all__ = ["ListenError", "close_streams", "create_app", "default_host", "parse_host", "serve"]

_WHERE = {
    "close_streams": "vigil.api._routes",
    "create_app": "vigil.api._routes",
    "ListenError": "vigil.api._server",
    "default_host": "vigil.api._server",
    "parse_host": "vigil.api._server",
    "serve": "vigil.api._server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil.api' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
