"""Headers every answer of the status page carries: a strict Content-Security-Policy (only the
page's own scripts, styles and connections; no inline script, no frames, no forms), no MIME
sniffing, no referrer, no framing, and no caching of live data.

The page builds its DOM with ``textContent`` only; the policy is the second wall, for the day
someone writes ``innerHTML``: probe output is hostile input.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_ALWAYS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """ASGI middleware adding the headers above; assets under ``/static/`` keep their own
    caching (ETag), everything else is ``no-store``."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = _adding_headers(send, cached=str(scope["path"]).startswith("/static/"))
        await self._app(scope, receive, send)


def _adding_headers(send: Send, *, cached: bool) -> Send:
    """``send`` with the page's headers put into the answer's start (replacing any that an
    inner app set)."""

    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() not in _NAMES]
            headers.extend(_ALWAYS)
            if not cached:
                headers.append(_NO_STORE)
            message["headers"] = headers
        await send(message)

    return with_headers


_NAMES = frozenset(name for name, _ in (*_ALWAYS, _NO_STORE))
