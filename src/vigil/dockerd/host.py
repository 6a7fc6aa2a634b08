"""Where the Docker engine is: an explicit host, else ``DOCKER_HOST``, else the default
socket, as the docker CLI chooses (``unix:///var/run/docker.sock``).

``unix:///path`` and ``tcp://host:port`` (plain HTTP, as ``DOCKER_HOST`` without
``DOCKER_TLS_VERIFY``) are understood; anything else (ssh://, npipe://, fd://) is refused
with a message that names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from vigil.core.hosts import tcp_host
from vigil.exceptions import DockerUnreachableError

__all__ = ["DEFAULT_DOCKER_HOST", "EngineHost", "parse_docker_host"]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
_UDS_BASE_URL = "http://docker"  # the authority is ignored on a unix socket


@dataclass(frozen=True, slots=True)
class EngineHost:
    url: str  # as given, for messages
    base_url: str
    socket_path: str | None


def parse_docker_host(host: str | None = None,
                      environ: Mapping[str, str] | None = None) -> EngineHost:
    """``host``, or ``DOCKER_HOST``, or the default; DockerUnreachableError when unusable."""
    env = os.environ if environ is None else environ
    url = host or env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    if url.startswith("unix://"):
        path = url[len("unix://"):]
        if not path.startswith("/") or "\x00" in path:
            raise DockerUnreachableError(f"invalid Docker host {url!r}: expected unix:///path")
        return EngineHost(url, _UDS_BASE_URL, path)
    if url.startswith("tcp://"):
        address = tcp_host(url)
        if address is None:
            raise DockerUnreachableError(f"invalid Docker host {url!r}: expected tcp://HOST:PORT")
        return EngineHost(url, f"http://{address[2]}", None)
    raise DockerUnreachableError(
        f"invalid Docker host {url!r}: expected unix:///path or tcp://HOST:PORT")
