"""``vigil up``: run the daemon in the foreground, or detached (``-d``) returning once it serves.

Detaching re-executes ``vigil up`` in a new session with its output in
``<state dir>/vigil.log``; the child reports readiness through an inherited pipe, so the
parent neither polls nor guesses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vigil.cli.connection import TOKEN_ENV, configured_host, current, host_option, read_token_file
from vigil.compose.web import parse_web_address
from vigil.docker.events import DaemonEvent
from vigil.exceptions import ConfigError, VigilError

if TYPE_CHECKING:
    from vigil.api.server import HostAddress

READY_FD_ENV = "VIGIL_READY_FD"
NOTIFY_ENV = "VIGIL_NOTIFY"
STORE_ENV = "VIGIL_STORE"
FLEET_ENV = "VIGIL_FLEET"
DETACH_TIMEOUT_S = 60.0


def _load(path: Path, notify: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """The config file with the ``--notify`` URLs added to its daemon-wide ones, every notify
    URL checked with Apprise; exits 1 naming each problem."""
    from dataclasses import replace

    from vigil.compose.load import load_project_file
    from vigil.core.notify import merged_urls
    from vigil.notify.urls import check_project

    try:
        project = load_project_file(path)
        check_project(project, extra=notify)
        return replace(project, notify=merged_urls(project.notify, notify))
    except ConfigError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)


def _signal_ready() -> None:
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is not None:
        try:
            os.write(int(fd), b"1")
            os.close(int(fd))
        except OSError:
            pass


def _print_event(event: DaemonEvent) -> None:
    """Foreground output: lifecycle and health changes; per-probe events stay in `vigil events`."""
    if event.action == "health_probe":
        return
    from vigil.cli.format import event_line

    click.echo(event_line(event.to_json()))


@click.command("up")
@click.option(
    "-f",
    "--file",
    "path",
    default="vigil.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file.",
)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; return once serving.")
@host_option
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where service records, their logs and the daemon log live.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"File holding the API token that tcp:// requires (else ${TOKEN_ENV}).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Let -H tcp:// listen beyond loopback (needs --tlscert and --tlskey).",
)
@click.option("--tlscert", metavar="PATH", help="TLS certificate chain (PEM) for tcp://.")
@click.option("--tlskey", metavar="PATH", help="TLS private key (PEM) for tcp://.")
@click.option(
    "--notify",
    metavar="URL",
    multiple=True,
    envvar=NOTIFY_ENV,
    help=f"Apprise URL for every service's notifications; repeatable (else ${NOTIFY_ENV}, "
    "space-separated, which keeps it out of the process list).",
)
@click.option(
    "--store",
    metavar="URL",
    envvar=STORE_ENV,
    help="Where history is kept: a SQLite path, sqlite:///PATH or postgresql://... "
    f"(else vigil.yaml's store:, else <state dir>/vigil.db; also ${STORE_ENV}).",
)
@click.option("--ephemeral", is_flag=True, help="Keep history in memory only (lost on exit).")
@click.option(
    "--web",
    metavar="HOST:PORT",
    help="Serve the live status page there, e.g. 127.0.0.1:8380 (overrides web: in the file).",
)
@click.option(
    "--fleet",
    metavar="URL",
    envvar=FLEET_ENV,
    help="Join the fleet on this PostgreSQL database (postgresql://...; overrides fleet.url; "
    f"also ${FLEET_ENV}).",
)
@click.option("--node", metavar="NAME", help="This agent's node name (default: the host name).")
@click.option("--lease-ttl", metavar="DURATION",
              help="Shared-check lease TTL, e.g. 10s (the default).")
def up_command(
    path: Path,
    detach: bool,
    state_dir: Path | None,
    token_file: Path | None,
    allow_remote: bool,
    tlscert: str | None,
    tlskey: str | None,
    notify: tuple[str, ...],
    store: str | None,
    ephemeral: bool,
    web: str | None,
    fleet: str | None = None,
    node: str | None = None,
    lease_ttl: str | None = None,
) -> None:
    """Start the daemon and every service of the config file, dependencies first."""
    from vigil.api.server import parse_host
    from vigil.api.tls import tls_files
    from vigil.client import check_socket_dir, default_host
    from vigil.daemon.main import Daemon, api_token, default_state_dir

    host = configured_host() or default_host()
    try:  # before the config: a KEY-only variable must not pick the token up
        token = api_token(host, *_token_text(token_file))
        if host == default_host():  # a directory vigil chose must be the user's own
            check_socket_dir(os.path.dirname(host.removeprefix("unix://")), create=True)
    except VigilError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    for secret in (NOTIFY_ENV, STORE_ENV, FLEET_ENV):  # not for services' KEY-only variables
        os.environ.pop(secret, None)
    project = _load(path, notify)  # validate before detaching, so errors reach the user
    project = _with_fleet(project, fleet, node, lease_ttl)
    web = web or project.web
    try:
        tls = tls_files(_tls_endpoint(parse_host(host), web), tlscert, tlskey,
                        allow_remote=allow_remote)
    except VigilError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    state = state_dir or default_state_dir()
    if ephemeral and store:
        click.echo("Error: --ephemeral and --store cannot be combined", err=True)
        sys.exit(1)
    store = "memory" if ephemeral else store
    if detach:
        if store:  # through the environment: a URL with a password stays out of ps
            os.environ[STORE_ENV] = store
        if fleet:
            os.environ[FLEET_ENV] = fleet
        extra = _tls_args(tlscert, tlskey, allow_remote) + (["--web", web] if web else [])
        extra += ["--node", node] if node else []
        extra += ["--lease-ttl", lease_ttl] if lease_ttl else []
        _detach(path, host, state, token_file, token, extra, notify)
        return
    logging.basicConfig(level=logging.INFO, format="vigil: %(message)s", stream=sys.stderr)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # its start/stop chatter
    try:
        daemon = Daemon(
            project,
            host=host,
            state_dir=state,
            on_ready=_signal_ready,
            on_event=None if os.environ.get(READY_FD_ENV) else _print_event,
            token=token,
            tls=tls,
            allow_remote=allow_remote,
            store=store,
            web=web,
        )
        sys.exit(asyncio.run(daemon.run()))
    except VigilError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)


def _with_fleet(project, url: str | None, node: str | None,  # type: ignore[no-untyped-def]
                ttl: str | None):
    """``fleet:`` with the flags over it; exits 1 naming each bad flag."""
    from dataclasses import replace

    from vigil.compose.fleet import fleet_url_problem, lease_ttl_problem, node_problem
    from vigil.core.fleet import FleetConfig
    from vigil.go.duration import parse_duration

    if url is None and node is None and ttl is None:
        return project
    base = project.fleet or FleetConfig()
    problems = []
    if url is not None and (problem := fleet_url_problem(url)) is not None:
        problems.append(f"--fleet: {problem}")
    if url is None and not base.url:
        problems.append("--node and --lease-ttl need --fleet URL (or fleet: in the file)")
    if node is not None and (problem := node_problem(node)) is not None:
        problems.append(f"--node: {problem}")
    ttl_ns = base.lease_ttl
    if ttl is not None:
        try:
            ttl_ns = parse_duration(ttl)
            if (problem := lease_ttl_problem(ttl_ns)) is not None:
                problems.append(f"--lease-ttl: {problem}")
        except ValueError as e:
            problems.append(f"--lease-ttl: {e}")
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        sys.exit(1)
    return replace(project, fleet=FleetConfig(url or base.url, node or base.node, ttl_ns))


def _token_text(token_file: Path | None) -> tuple[str | None, str]:
    """The raw token and where it came from: ``up --token-file``, else the group's
    ``vigil --token-file``, else ``VIGIL_TOKEN`` (which leaves the environment either way)."""
    from_env = os.environ.pop(TOKEN_ENV, None)
    if token_file is None:
        given = current().token
        return (given, "--token-file") if given is not None else (from_env, TOKEN_ENV)
    source = f"--token-file {token_file}"
    try:
        text = read_token_file(token_file)  # a regular file of at most 4 KiB, never quoted
        mode = token_file.stat().st_mode
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{source}: {reason}") from None
    if stat.S_IMODE(mode) & 0o077:
        click.echo(
            f"vigil: warning: {source} can be read by other users "
            f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it",
            err=True,
        )
    return text, source


def _tls_endpoint(api: HostAddress, web: str | None) -> HostAddress:
    """What TLS and --allow-remote are for: the API's TCP address, else the status page's
    (the API on its unix socket needs neither)."""
    if web is None:
        return api
    try:
        address = parse_web_address(web)  # checked before detaching: the user sees it
    except ValueError as exc:
        raise ConfigError(f"--web {web!r}: {exc}") from None
    return api if api[0] == "tcp" else ("tcp", address)


def _tls_args(cert: str | None, key: str | None, allow_remote: bool) -> list[str]:
    """The TLS options again, for the detached daemon (paths made absolute: it may not share
    the working directory)."""
    args = ["--allow-remote"] if allow_remote else []
    for flag, value in (("--tlscert", cert), ("--tlskey", key)):
        if value is not None:
            args += [flag, os.path.abspath(value)]
    return args


def _detach(
    path: Path,
    host: str,
    state: Path,
    token_file: Path | None,
    token: str | None,
    tls_args: list[str],
    notify: tuple[str, ...] = (),
) -> None:
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    read_end, write_end = os.pipe()
    env = {**os.environ, READY_FD_ENV: str(write_end), "VIGIL_HOST": host}
    if notify:  # in the environment, not the command line that ps shows
        env[NOTIFY_ENV] = " ".join(notify)
    command = [sys.executable, "-m", "vigil", "up", "-f", str(path), "--state-dir", str(state)]
    command += tls_args
    if token_file is not None:
        command += ["--token-file", str(token_file.absolute())]
    elif token is not None:
        env[TOKEN_ENV] = token
    with open(state / "vigil.log", "ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            pass_fds=(write_end,),
            start_new_session=True,
        )
    os.close(write_end)
    ready = _wait_ready(read_end)
    if not ready:
        code = child.poll()
        click.echo(
            f"Error: the vigil daemon did not start (exit {code}); see {state / 'vigil.log'}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"vigil daemon {child.pid} serving on {host}")


def _wait_ready(fd: int) -> bool:
    import select

    try:
        readable, _, _ = select.select([fd], [], [], DETACH_TIMEOUT_S)
        return bool(readable) and os.read(fd, 1) == b"1"
    finally:
        os.close(fd)
