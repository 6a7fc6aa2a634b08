"""Serving the API: uvicorn on sockets vigil creates itself, and the ``-H`` host addresses.

The unix socket is bound with mode 0600 (umask while binding, then chmod) in a directory
created 0700 when missing. A socket file left by a dead daemon is removed; one that still
answers is not: a second daemon refuses to start. TCP listens on loopback addresses only
(others with ``allow_remote``, which needs TLS) and every request on it must carry the bearer
token (``vigil.api.auth``) and, on loopback, a loopback or listening ``Host``
(``vigil.api.guard``: DNS rebinding; over TLS a rebound name fails the certificate check);
each listener has its own uvicorn server, so these checks cannot depend on telling the
sockets apart per request.
uvicorn runs with the asyncio loop (uvloop's subprocess path forks), h11, no lifespan, no
access log and no signal handlers of its own (the daemon owns signals); shutdown ends open
streams first so it takes well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import stat
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from vigil import __version__
from vigil.client import default_host as default_host  # one rule for both ends
from vigil.exceptions import ConfigError, VigilError

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

SHUTDOWN_GRACE_S = 1  # then uvicorn cancels whatever request is still running
_PROBE_TIMEOUT_S = 1.0  # connecting to a possibly stale socket
_BACKLOG = 128

HostAddress = tuple[Literal["unix"], str] | tuple[Literal["tcp"], tuple[str, int]]


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """The certificate chain and private key (PEM files) of a TLS listener."""

    cert: str
    key: str


class ListenError(VigilError):
    """The daemon cannot listen where it was asked to (in use, not a socket, no permission)."""


# ---- addresses ---------------------------------------------------------------------------



def parse_host(text: str) -> HostAddress:
    """``unix:///path`` → ``("unix", "/path")``; ``tcp://HOST:PORT`` → ``("tcp", (host, port))``.

    Raises ConfigError naming the host and what is wrong with it.
    """

    def bad(reason: str) -> ConfigError:
        return ConfigError(f'invalid host "{text}": {reason}')

    scheme, separator, rest = text.partition("://")
    if not separator:
        raise bad("expected unix:///path/to/socket or tcp://HOST:PORT")
    if scheme == "unix":
        if not rest:
            raise bad("the socket path is missing")
        if not rest.startswith("/"):
            raise bad("the socket path must be absolute")
        return ("unix", rest)
    if scheme != "tcp":
        raise bad(f"unsupported protocol {scheme}://, expected unix:// or tcp://")
    parts = urlsplit(text)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise bad("expected tcp://HOST:PORT and nothing more")
    try:
        port = parts.port
    except ValueError:
        raise bad("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise bad("the host name is missing")
    if port is None or port == 0:
        raise bad("the port is missing" if port is None else "the port must be from 1 to 65535")
    return ("tcp", (parts.hostname, port))


# ---- sockets -----------------------------------------------------------------------------


def _clear_stale_socket(path: str) -> None:
    """Remove a socket file nobody answers on; refuse a live one or a non-socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ListenError(f"cannot listen on unix://{path}: the file exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_PROBE_TIMEOUT_S)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as exc:
        raise ListenError(f"cannot listen on unix://{path}: {exc.strerror or exc}") from None
    finally:
        probe.close()
    raise ListenError(f"a vigil daemon is already listening on unix://{path}")


@contextlib.contextmanager
def _umask(mask: int) -> Generator[None, None, None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def bind_unix(path: str) -> socket.socket:
    """A listening unix socket at ``path``, mode 0600, its directory made 0700 if missing."""
    parent = os.path.dirname(path)
    try:
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        _clear_stale_socket(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as exc:
        raise ListenError(f"cannot listen on unix://{path}: {exc.strerror or exc}") from None
    try:
        with _umask(0o177):  # never a moment with a wider mode
            sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on unix://{path}: {exc.strerror or exc}") from None
    return sock


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # e.g. a scoped IPv6 address
        return False


def bind_tcp(host: str, port: int, *, allow_remote: bool = False) -> socket.socket:
    """A listening TCP socket on exactly ``host:port``, which must be a loopback address
    unless ``allow_remote`` (which ``serve`` only allows with TLS)."""
    where = f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    if not allow_remote and not _is_loopback(str(address[0])):  # what it resolved to
        raise ListenError(
            f"cannot listen on {where}: only loopback addresses (127.0.0.1, ::1, localhost) "
            "are allowed without --allow-remote (which needs --tlscert and --tlskey)"
        )
    try:
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ListenError(f"cannot listen on {where}: {reason or exc}") from None
    return sock


def _remove_if_ours(path: str, inode: int) -> None:
    """Unlink the socket file unless another daemon has replaced it since."""
    with contextlib.suppress(OSError):
        if os.lstat(path).st_ino == inode:
            os.unlink(path)


# ---- serving -----------------------------------------------------------------------------


async def serve(
    app: ASGIApp,
    *,
    unix_path: str | None,
    tcp: tuple[str, int] | None,
    token: str | None = None,
    tls: TLSFiles | None = None,
    allow_remote: bool = False,
    ready: Callable[[], None] | None = None,
    stop: asyncio.Event,
) -> None:
    """Serve ``app`` until ``stop`` is set; ``ready()`` is called once every listener is up.
    Requests over ``tcp`` must carry ``token``, which ``tcp`` therefore needs; their ``Host``
    must name loopback or the listening host (DNS rebinding). ``tls`` serves ``tcp`` over
    HTTPS; ``allow_remote`` (non-loopback addresses) needs it.

    Raises ListenError when a socket cannot be bound (nothing is served then).
    """
    if unix_path is None and tcp is None:
        raise ValueError("serve needs unix_path or tcp")
    if tcp is not None and not token:
        raise ValueError("serve needs a token to listen on TCP")
    if allow_remote and tls is None:
        raise ValueError("serve needs TLS to listen on non-loopback addresses")
    from vigil.api.app import close_streams
    from vigil.api.auth import BearerTokenAuth
    from vigil.api.guard import BrowserGuard

    listeners: list[tuple[ASGIApp, socket.socket]] = []
    inode = 0
    try:
        if unix_path is not None:
            listeners.append((app, bind_unix(unix_path)))
            inode = os.lstat(unix_path).st_ino
        if tcp is not None:
            assert token is not None
            hosts = None if allow_remote else [tcp[0]]  # remote: any name the client uses
            guarded = BrowserGuard(BearerTokenAuth(app, token), hosts=hosts)
            listeners.append((guarded, bind_tcp(*tcp, allow_remote=allow_remote)))
        waiting_for = len(listeners)

        def started() -> None:
            nonlocal waiting_for
            waiting_for -= 1
            if waiting_for == 0 and ready is not None:
                ready()

        servers = [
            uvicorn_server(listener, started, tls if sock.family != socket.AF_UNIX else None)
            for listener, sock in listeners
        ]
        serving = [
            asyncio.ensure_future(server.serve(sockets=[sock]))
            for server, (_, sock) in zip(servers, listeners, strict=True)
        ]
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({*serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            close_streams(app)
            for server in servers:
                server.should_exit = True
            ended = await asyncio.gather(*serving, return_exceptions=True)  # all, then raise
            for error in (result for result in ended if isinstance(result, BaseException)):
                raise error
    finally:
        for _, sock in listeners:
            sock.close()
        if unix_path is not None and inode:
            _remove_if_ours(unix_path, inode)


def uvicorn_server(
    app: ASGIApp, started: Callable[[], None], tls: TLSFiles | None
) -> uvicorn.Server:
    import uvicorn  # here: only the daemon pays for importing the server

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # the daemon owns SIGINT/SIGTERM

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                started()

    return Server(
        uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            access_log=False,
            log_config=None,
            proxy_headers=False,
            server_header=False,
            headers=[("Server", f"vigil/{__version__} (linux)")],
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            ssl_certfile=None if tls is None else tls.cert,
            ssl_keyfile=None if tls is None else tls.key,
        )
    )
