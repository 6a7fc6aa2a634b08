"""What every request passes before a route sees it, as plain ASGI middleware.

- ``BodyLimit``: a request body over ``MAX_BODY_BYTES`` is refused with 413, by its
  ``Content-Length`` before a byte of it is read, or (chunked) as soon as the bytes received
  pass the limit; the daemon never holds more than the limit of one body.
- ``BrowserGuard``: an ``Origin`` that is not the request's own (a web page posting to the
  daemon: CSRF) gets 403; on TCP, a ``Host`` that is not a loopback name or the listening
  address (DNS rebinding) gets 403 as well. Browsers always send ``Origin`` on cross-origin
  POSTs and the right ``Host``; the CLI, curl and Docker clients send no ``Origin``.
- ``LastResort``: a bug in a route becomes a JSON 500 and one log line, and the connection
  stays open for the next request (Starlette's own handler re-raises, which makes the server
  log a traceback and drop a keep-alive connection).
"""

from __future__ import annotations

import ipaddress
import logging
import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.errors import error_response

MAX_BODY_BYTES = 1 << 20  # 1 MiB: a create body is a few hundred bytes
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

_log = logging.getLogger("vigil.api")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


def _too_large() -> str:
    return f"request body too large: the limit is {MAX_BODY_BYTES} bytes"


class _WatchedSend:
    """An ASGI ``send`` that remembers whether the answer has started (then an error can
    no longer be answered)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


class _BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, never buffering more."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and not length.isdigit():
            await _refuse(400, scope, receive, send, "invalid Content-Length header")
            return
        if length is not None and int(length) > self._limit:
            await _refuse(413, scope, receive, send, _too_large())
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._limit:
                    raise _BodyTooLarge
            return message

        watched = _WatchedSend(send)
        try:
            await self._app(scope, counting_receive, watched)
        except _BodyTooLarge:
            if watched.started:
                raise
            await _refuse(413, scope, receive, send, _too_large())


async def _refuse(status: int, scope: Scope, receive: Receive, send: Send, message: str) -> None:
    """Answer an error and close the connection: the unread body cannot be skipped cheaply."""
    answer = error_response(status, message)
    answer.headers["Connection"] = "close"
    await answer(scope, receive, send)


def _host_name(value: str) -> str | None:
    """The host of a ``Host`` header value (``[::1]:2375`` → ``::1``), None if malformed."""
    try:
        parts = urlsplit("//" + value)
        _ = parts.port  # raises on a bad port
    except ValueError:
        return None
    return parts.hostname


def is_loopback_name(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BrowserGuard:
    """ASGI middleware: refuse cross-origin requests and, when ``hosts`` is given (TCP),
    ``Host`` headers naming anything but loopback or one of ``hosts``."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str] | None = None) -> None:
        self._app = app
        self._hosts = None if hosts is None else frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self._problem(scope)
            if problem is not None:
                await error_response(403, problem)(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _problem(self, scope: Scope) -> str | None:
        raw_host = _header(scope, b"host")
        host = (raw_host or b"").decode("latin-1")
        if self._hosts is not None:
            name = _host_name(host)
            if name is None or not (is_loopback_name(name) or name.lower() in self._hosts):
                return (
                    f"forbidden: Host header {host!r} is not this daemon's address "
                    "(DNS rebinding?): use a loopback address or the address it listens on"
                )
        origin = _header(scope, b"origin")
        if origin is None:
            return None
        text = origin.decode("latin-1")
        scheme = "https" if scope.get("scheme") == "https" else "http"
        if raw_host is not None and text.lower() == f"{scheme}://{host}".lower():
            return None
        return (
            f"forbidden: cross-origin request from Origin {text!r}: the vigil API does not "
            "serve web pages of other origins"
        )


class LastResort:
    """ASGI middleware: any exception left unhandled becomes Docker's JSON 500 and one log
    line naming the request and where it failed; the connection is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        watched = _WatchedSend(send)
        try:
            await self._app(scope, receive, watched)
        except ClientDisconnect:
            return  # the client left while its body was read: nobody to answer
        except Exception as exc:  # the last resort: anything a route let through
            _log.error("%s %s failed: %s", scope.get("method"), scope.get("path"), _one_line(exc))
            if watched.started:  # half an answer is out: only closing the connection ends it
                return
            text = " ".join(str(exc).split()) or type(exc).__name__
            await error_response(500, text)(scope, receive, send)


def _one_line(exc: BaseException) -> str:
    """``KeyError: 'x' (at manager.py:123 in remove)``: the innermost frame of vigil's code."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/vigil/" in f.filename] or frames
    where = ""
    if ours:
        last = ours[-1]
        where = f" (at {last.filename.rpartition('/')[2]}:{last.lineno} in {last.name})"
    text = str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"
