"""Dialling TCP the way Go's ``net.Dialer`` reports it, for the network probes.

Texts are Go's: ``dial tcp 127.0.0.1:9: connect: connection refused``, ``dial tcp: lookup
nosuch.invalid: no such host``. Addresses are tried one after another in the resolver's
order, as Go's dialer does; the last error is the one reported. No timeout here: the caller
bounds the whole probe on the injected clock.
"""

from __future__ import annotations

import asyncio
import os
import socket


class DialError(Exception):
    """A connection that could not be made; ``str()`` is Go's text."""


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def os_error_text(error: OSError) -> str:
    """Go's ``syscall.Errno`` text: strerror with a lower-case first letter."""
    if error.errno is None:
        return str(error) or type(error).__name__
    text = os.strerror(error.errno)
    return text[:1].lower() + text[1:]


async def resolve(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
    """``(family, sockaddr)`` for each address of ``host`` (an IP is its own answer)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        reason = (
            "no such host"
            if error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5))
            else str(error.strerror or error)
        )
        raise DialError(f"dial tcp: lookup {host}: {reason}") from None
    return [(family, (str(address[0]), int(address[1]))) for family, _, _, _, address in infos]


async def dial(host: str, port: int) -> socket.socket:
    """A connected non-blocking socket to ``host:port``; ``DialError`` when none could be
    made. The caller closes it."""
    loop = asyncio.get_running_loop()
    last: DialError | None = None
    for family, address in await resolve(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as error:
            sock.close()
            where = join_host_port(address[0], address[1])
            last = DialError(f"dial tcp {where}: connect: {os_error_text(error)}")
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise last or DialError(f"dial tcp: lookup {host}: no such host")
