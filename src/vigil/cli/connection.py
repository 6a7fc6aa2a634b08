"""How the CLI reaches the daemon: the connection options and the client they make.

``-H/--host`` and ``--token-file`` are taken before the command, like docker's global flags
(``vigil -H unix:///x.sock ps``), and after it (``vigil ps -H ...``). The one after the
command wins, then the one before it, then the environment (``VIGIL_HOST``, ``VIGIL_TOKEN``),
then the default socket: the nearer to the command, the more specific.

The bearer token is for ``tcp://`` hosts only: a unix socket is protected by its file
mode, and a token sent there could only leak. It comes from ``--token-file`` (the flag wins,
being explicit) or else ``VIGIL_TOKEN``. It is never printed, not even in errors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    import httpx

    from vigil.client import Client

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_ENV = "VIGIL_TOKEN"
HOST_ENV = "VIGIL_HOST"
TLS_CA_ENV = "VIGIL_TLS_CACERT"
TOKEN_FILE_LIMIT = 4096  # bytes; a token is a few dozen

transport: httpx.BaseTransport | None = None
"""Where clients send their requests; None: the host's real socket. Tests put an in-process
daemon here (``httpx.ASGITransport`` on a loop in a thread: ``cli_daemon`` in
``tests/conftest.py``)."""


@dataclass
class Connection:
    """The click context object of the ``vigil`` group: the connection options so far."""

    host: str | None = None
    token: str | None = None  # read from --token-file
    tlscacert: str | None = None  # a tcp:// daemon's CA: speak HTTPS, verify against it


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Store a given option on the shared Connection; a command's own value overrides the
    group's, which was stored first."""
    if value is not None and param.name is not None:
        setattr(ctx.ensure_object(Connection), param.name, value)


def _token_from(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        try:
            token = read_token_file(value)
        except ValueError as exc:
            raise click.BadParameter(f"{value}: {exc}", ctx, param) from None
        _remember(ctx, param, token)


def read_token_file(path: Path) -> str:
    """The token in ``path``, surrounding whitespace (a final newline) removed. ValueError
    says why it cannot be used, never quoting the content."""
    from vigil.client import check_token
    from vigil.compose.load import read_regular_file

    try:  # a FIFO does not hang the CLI, a device is not read: both are refused
        raw = read_regular_file(path, TOKEN_FILE_LIMIT)
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    if len(raw) > TOKEN_FILE_LIMIT:
        raise ValueError(f"longer than {TOKEN_FILE_LIMIT} bytes: not a token")
    token = raw.strip().decode("latin-1")
    problem = check_token(token)
    if problem is not None:
        raise ValueError(problem)
    return token


def host_option(func: F) -> F:
    return click.option(
        "-H",
        "--host",
        metavar="HOST",
        expose_value=False,
        callback=_remember,
        help=f"Daemon socket: unix:///path or tcp://127.0.0.1:PORT (env {HOST_ENV}).",
    )(func)


def token_option(func: F) -> F:
    return click.option(
        "--token-file",
        "token",
        metavar="PATH",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_token_from,
        help=f"File holding the bearer token of a tcp:// daemon (wins over env {TOKEN_ENV}).",
    )(func)


def tls_option(func: F) -> F:
    return click.option(
        "--tlscacert",
        metavar="PATH",
        expose_value=False,
        callback=_remember,
        help=f"CA (PEM) of a tcp:// daemon serving TLS: speak HTTPS (env {TLS_CA_ENV}).",
    )(func)


def connection_options(func: F) -> F:
    """``-H/--host``, ``--token-file`` and ``--tlscacert``, for the ``vigil`` group and each
    daemon command."""
    return host_option(token_option(tls_option(func)))


def current() -> Connection:
    """The connection options of the running command (an empty one outside the group)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Connection) if ctx is not None else None
    return found if found is not None else Connection()


def configured_host() -> str | None:
    """The host the running command was given: its options, else ``VIGIL_HOST``."""
    return current().host or os.environ.get(HOST_ENV) or None


def open_client() -> Client:
    """A client for the running command's daemon, with the token when the host is TCP."""
    from vigil.client import Client, DaemonConnectionError, check_token

    host = configured_host()  # None: the client's default socket, whose directory it checks
    token = tls_ca = None
    if host is not None and host.startswith("tcp://"):
        token = current().token or os.environ.get(TOKEN_ENV) or None
        problem = check_token(token) if token is not None else None
        if problem is not None:
            raise DaemonConnectionError(f"invalid {TOKEN_ENV}: {problem}")
        tls_ca = current().tlscacert or os.environ.get(TLS_CA_ENV) or None
    return Client(host, token=token, transport=transport, tls_ca=tls_ca)
