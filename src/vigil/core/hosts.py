"""``tcp://HOST:PORT`` as both of vigil's clients take it (its own API's, a Docker engine's).
Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["tcp_host"]


def tcp_host(url: str) -> tuple[str, int, str] | None:
    """``tcp://HOST:PORT`` → (host, port, ``HOST:PORT`` for a URL, IPv6 bracketed); None when
    the host or the port is missing or wrong, or a path follows."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        return None
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return parts.hostname, port, f"{netloc}:{port}"
