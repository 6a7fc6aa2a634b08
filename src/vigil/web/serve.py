"""Serving the page: a second uvicorn listener on the daemon's loop, beside the API's.

The socket is bound first (``bind``), before the daemon starts anything, so a bad or busy
address is one error line and no half-started daemon. Loopback only unless the daemon was
given ``--allow-remote`` (which needs TLS: the same certificate serves the page).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from starlette.types import ASGIApp

from vigil.api.server import ListenError, TLSFiles, bind_tcp, uvicorn_server
from vigil.compose.web import parse_web_address
from vigil.exceptions import ConfigError
from vigil.web.app import close_live


def bind(address: str, *, allow_remote: bool) -> socket.socket:
    """The listening socket for ``HOST:PORT``; ListenError or ConfigError saying why not."""
    try:
        host, port = parse_web_address(address)
    except ValueError as exc:
        raise ConfigError(f"--web {address!r}: {exc}") from None
    try:
        return bind_tcp(host, port, allow_remote=allow_remote)
    except ListenError as exc:
        raise ListenError(f"--web {address}: {exc}") from None


def url(sock: socket.socket, *, tls: bool) -> str:
    """Where a browser finds the page on ``sock`` (the port the kernel chose for port 0)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


async def serve_web(
    app: ASGIApp,
    sock: socket.socket,
    *,
    tls: TLSFiles | None,
    ready: Callable[[], None],
    stop: asyncio.Event,
) -> None:
    """Serve ``app`` on ``sock`` until ``stop`` is set (open live streams are ended first,
    so shutdown does not wait for them); ``ready()`` once it accepts connections."""
    close_live(app, closing=False)  # an app served before accepts live streams again
    server = uvicorn_server(app, ready, tls)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        close_live(app)
        server.should_exit = True
        try:
            await serving
        finally:
            sock.close()
