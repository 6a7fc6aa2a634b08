"""The status page's address (``web:`` in ``vigil.yaml``, ``vigil up --web``). Pure: stdlib only.

``HOST:PORT`` with an IP address or a host name and a port from 0 to 65535 (0: any free port,
the daemon logs the one it got); IPv6 in brackets (``[::1]:8380``). Nothing more: no scheme,
path or user, so the value cannot smuggle a URL. Whether the host is loopback is the
listener's check (``vigil.api.server.bind_tcp``), where the name is resolved.
"""

from __future__ import annotations

import re

from vigil.compose.values import Problems, text_field
from vigil.exceptions import ConfigProblem

DEFAULT_WEB_ADDRESS = "127.0.0.1:8380"
_ADDRESS = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>[0-9]{1,5})"
)
_EXPECTED = "expected HOST:PORT, e.g. 127.0.0.1:8380 or [::1]:8380"


def parse_web_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8380"`` → ``("127.0.0.1", 8380)``. Raises ValueError saying what is wrong
    (the caller names the field and the value)."""
    match = _ADDRESS.fullmatch(text)
    if match is None:
        raise ValueError(_EXPECTED)
    port = int(match["port"])
    if port > 65535:
        raise ValueError("the port must be from 0 to 65535")
    host = match["v6"] or match["host"]
    if host.startswith(("-", ".")) or ".." in host:
        raise ValueError(_EXPECTED)
    return host, port


def web_field(value: object, where: str, problems: Problems) -> str | None:
    """The ``web:`` key: an address as ``parse_web_address`` reads it, or null for none."""
    if value is None:
        return None
    before = len(problems)
    text = text_field(value, where, problems)
    if len(problems) > before:
        return None
    try:
        parse_web_address(text)
    except ValueError as exc:
        problems.append(ConfigProblem(where, f"invalid address {text!r}: {exc}"))
        return None
    return text
