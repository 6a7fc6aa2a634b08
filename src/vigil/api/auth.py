"""Bearer tokens for the TCP listener.

The unix socket is guarded by the file system (mode 0600 in a 0700 directory). A TCP port,
even on loopback, is open to every local user and to any web page a local browser visits, so
every request on it must carry ``Authorization: Bearer <token>``, ``/_ping`` included. The
token is compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.api.errors import error_response
from vigil.exceptions import ConfigError

MIN_TOKEN_LENGTH = 16
_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750's b64token: what a header can carry
_CHALLENGE = (b"www-authenticate", b'Bearer realm="vigil"')
MISSING = 'unauthorized: send the daemon\'s token as "Authorization: Bearer <token>"'
INVALID = "unauthorized: invalid bearer token"


def check_token(text: str, source: str) -> str:
    """The token in ``text`` (surrounding white space, such as a file's last newline, is
    dropped). Raises ConfigError naming ``source``, never quoting the token."""
    token = text.strip()
    if not _B64TOKEN.fullmatch(token):
        raise ConfigError(
            f"{source}: the token must be one word of letters, digits and - . _ ~ + / "
            "(then = padding), as an HTTP bearer token"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{source}: the token has {len(token)} characters; use at least "
            f"{MIN_TOKEN_LENGTH} random ones, e.g. from `openssl rand -hex 32`"
        )
    return token


class BearerTokenAuth:
    """ASGI middleware: HTTP requests without the token get Docker's ``{"message": ...}``
    with 401 and are never seen by ``app``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = check_token(token, "the API token").encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets are off; anything else is refused
            return
        problem = self._problem(scope)
        if problem is None:
            await self._app(scope, receive, send)
            return
        answer = error_response(401, problem)
        answer.raw_headers.append(_CHALLENGE)
        await answer(scope, receive, send)

    def _problem(self, scope: Scope) -> str | None:
        """Why the request is refused, or None when it carries the token."""
        values = [value for name, value in scope["headers"] if name.lower() == b"authorization"]
        if not values:
            return MISSING
        scheme, _, credentials = values[0].strip().partition(b" ")
        if len(values) > 1 or scheme.lower() != b"bearer":
            return INVALID
        # compare_digest takes the same time wherever the bytes differ
        return None if hmac.compare_digest(credentials.strip(), self._token) else INVALID
