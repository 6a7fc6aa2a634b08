"""The ``vigil`` commands that talk to a running daemon: ps, inspect, events, wait, logs, run,
start/stop/restart/pause/unpause/kill/rm and down. Each is a few lines over
:class:`vigil.client.Client`.

Errors are one line on stderr and exit 1 (daemon errors as docker prints them:
``Error response from daemon: <message>``); flag errors are click usage errors (exit 2) with
docker's texts. The connection options are ``vigil.cli.connection``'s. Tests replace
``vigil.cli.connection.transport`` and :data:`now_ns`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import click

from vigil.cli import format as fmt
from vigil.cli.connection import connection_options, open_client
from vigil.cli.flags import int_flag, parse_filters, parse_timeout, run_spec
from vigil.docker import health as _docker_json
from vigil.exceptions import ApiError, VigilError
from vigil.go.duration import format_duration
from vigil.runtime.clock import SystemClock

P = ParamSpec("P")
R = TypeVar("R")


def now_ns() -> int:
    """The current time for ``ps`` and ``wait`` deadlines (replaced in tests)."""
    return SystemClock().now_ns()


WAIT_CONDITIONS = ("healthy", "running", "exited")
_DAEMON_PREFIX = "Error response from daemon: "


# ---- shared plumbing ---------------------------------------------------------------------


def _error_text(error: VigilError) -> str:
    return _DAEMON_PREFIX + error.message if isinstance(error, ApiError) else str(error)


def _fail(message: str) -> None:
    click.echo(message, err=True)
    raise SystemExit(1)


def _daemon_errors(func: Callable[P, None]) -> Callable[P, None]:
    """The edge: a vigil error is one line on stderr and exit 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except VigilError as error:
            _fail(_error_text(error))
        except KeyboardInterrupt:
            raise SystemExit(130) from None

    return wrapper


def _filter_option(func: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "-f", "--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Filter output."
    )(func)


def _each(names: Iterable[str], action: Callable[[str], object]) -> None:
    """docker's multi-name commands: print each name done, then every error; exit 1 if any.
    Other errors (daemon unreachable) would be the same for every name: they end the loop."""
    errors = []
    for name in names:
        try:
            action(name)
        except ApiError as error:
            errors.append(_error_text(error))
            continue
        click.echo(name)
    if errors:
        click.echo("\n".join(errors), err=True)
        raise SystemExit(1)


# ---- commands ------------------------------------------------------------------------------


@click.command("ps")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all services (default: running).")
@_filter_option
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table, or one JSON object per line.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate IDs and commands.")
@click.option("--fleet", is_flag=True,
              help="Every node's services (node/service); filter with node=NAME.")
@connection_options
@_daemon_errors
def ps_command(
    show_all: bool,
    filters: tuple[str, ...],
    output: str,
    quiet: bool,
    no_trunc: bool,
    fleet: bool,
) -> None:
    """List services, like `docker ps`."""
    wanted = parse_filters(filters)
    with open_client() as client:
        if fleet:
            items = client.fleet_services(all=show_all, filters=wanted)
        else:
            items = client.list_services(all=show_all, filters=wanted)
    now = now_ns()
    if quiet:
        for item in items:
            click.echo(fmt.short_id(item, no_trunc))
    elif output == "json":
        for item in items:
            click.echo(fmt.ps_json(item, now, no_trunc=no_trunc))
    else:
        click.echo(fmt.ps_table(items, now, no_trunc=no_trunc), nl=False)


@click.command("inspect")
@click.option(
    "--format",
    "output",
    type=click.Choice(["json"]),
    default="json",
    help="Output format (JSON array, as docker inspect).",
)
@click.argument("names", nargs=-1, required=True)
@connection_options
@_daemon_errors
def inspect_command(output: str, names: tuple[str, ...]) -> None:
    """Print the inspect objects of services as a JSON array, like `docker inspect`."""
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    with open_client() as client:
        for name in names:
            try:
                node, slash, service = name.partition("/")  # node/service: in the fleet
                found.append(client.fleet_inspect(node, service) if slash
                             else client.inspect(name))
            except ApiError as error:
                errors.append(
                    f"Error: {error.message}" if error.status == 404 else _error_text(error)
                )
    click.echo(fmt.inspect_text(found))
    if errors:
        _fail("\n".join(errors))


@click.command("events")
@click.option("--since", help="Show events created since this timestamp.")
@click.option("--until", help="Stream events until this timestamp.")
@_filter_option
@click.option(
    "--format",
    "output",
    type=click.Choice(["human", "json"]),
    default="human",
    help="docker's event lines, or one JSON object per line.",
)
@click.option("--fleet", is_flag=True,
              help="Every node's live events (node/service); filter with node=NAME.")
@connection_options
@_daemon_errors
def events_command(
    since: str | None,
    until: str | None,
    filters: tuple[str, ...],
    output: str,
    fleet: bool,
) -> None:
    """Stream daemon events, like `docker events` (replay with --since, stop at --until)."""
    wanted = parse_filters(filters)
    with open_client() as client:
        for event in client.events(since=since, until=until, filters=wanted, fleet=fleet):
            click.echo(_docker_json.dumps(event) if output == "json" else fmt.event_line(event))


@click.command("wait")
@click.option(
    "--condition",
    type=click.Choice(WAIT_CONDITIONS),
    default="exited",
    show_default=True,
    help="What to wait for.",
)
@click.option("--timeout", help="Give up after this Go duration (30s, 2m); default: never.")
@click.argument("names", nargs=-1, required=True)
@connection_options
@_daemon_errors
def wait_command(condition: str, timeout: str | None, names: tuple[str, ...]) -> None:
    """Wait until every service meets the condition; exit 0 if all do, else print why and
    exit 1. With the default condition `exited`, print each exit code like `docker wait`."""
    budget = parse_timeout(timeout, "--timeout")
    deadline = None if budget is None else now_ns() + budget
    reasons: list[str] = []
    with open_client() as client:
        for name in names:
            left = None if deadline is None else format_duration(max(deadline - now_ns(), 0))
            try:
                answer = client.wait(name, condition, timeout=left)
            except ApiError as error:
                reasons.append(_error_text(error))
                continue
            if not answer.get("Met"):
                reasons.append(str(answer.get("Error") or f"service {name}: condition not met"))
            elif condition == "exited":
                click.echo(str(answer.get("ExitCode", 0)))
    if reasons:
        _fail("\n".join(reasons))


def _simple(name: str, action: str, doc: str) -> click.Command:
    """start, pause, unpause: one call per name."""

    @click.command(name, help=doc)
    @click.argument("names", nargs=-1, required=True)
    @connection_options
    @_daemon_errors
    def command(names: tuple[str, ...]) -> None:
        with open_client() as client:
            _each(names, getattr(client, action))

    return command


def _timed(name: str, action: str, doc: str) -> click.Command:
    """stop, restart: ``-t`` grace seconds (-1: wait forever)."""

    @click.command(name, help=doc)
    @click.option(
        "-t",
        "--timeout",
        "--time",
        "seconds",
        metavar="N",
        help="Seconds to wait before killing (-1: forever).",
    )
    @click.argument("names", nargs=-1, required=True)
    @connection_options
    @_daemon_errors
    def command(seconds: str | None, names: tuple[str, ...]) -> None:
        grace = None if seconds is None else int_flag("-t, --timeout", seconds)
        with open_client() as client:
            call = getattr(client, action)
            _each(names, lambda ref: call(ref, t=grace))

    return command


@click.command("kill")
@click.option("-s", "--signal", help="Signal to send (name or number; default SIGKILL).")
@click.argument("names", nargs=-1, required=True)
@connection_options
@_daemon_errors
def kill_command(signal: str | None, names: tuple[str, ...]) -> None:
    """Send a signal to running services, like `docker kill`."""
    with open_client() as client:
        _each(names, lambda ref: client.kill(ref, signal=signal))


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Stop and remove a running service.")
@click.argument("names", nargs=-1, required=True)
@connection_options
@_daemon_errors
def rm_command(force: bool, names: tuple[str, ...]) -> None:
    """Remove services, like `docker rm`."""
    with open_client() as client:
        _each(names, lambda ref: client.remove(ref, force=force))


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow the log output.")
@click.option(
    "-n", "--tail", default="all", show_default=True, help="Lines to show from the end (or all)."
)
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.argument("name")
@connection_options
@_daemon_errors
def logs_command(follow: bool, tail: str, timestamps: bool, name: str) -> None:
    """Print a service's log, like `docker logs`."""
    with open_client() as client:
        for line in client.logs(name, follow=follow, tail=tail, timestamps=timestamps):
            click.echo(line, nl=False)


@click.command("down")
@connection_options
@_daemon_errors
def down_command() -> None:
    """Stop every service and the daemon."""
    with open_client() as client:
        client.down()


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run in the background (required).")
@click.option("--name", metavar="NAME", help="Service name (required).")
@click.option("--health-cmd", metavar="CMD", help="Command to run to check health (CMD-SHELL).")
@click.option(
    "--health-interval", metavar="DURATION", help="Time between running the check (ms|s|m|h)."
)
@click.option(
    "--health-timeout", metavar="DURATION", help="Maximum time to allow one check to run."
)
@click.option(
    "--health-retries", metavar="N", help="Consecutive failures needed to report unhealthy."
)
@click.option(
    "--health-start-period", metavar="DURATION", help="Start period for the service to initialize."
)
@click.option(
    "--health-start-interval",
    metavar="DURATION",
    help="Time between checks during the start period.",
)
@click.option("--health-http", metavar="URL", help="HTTP check: GET URL, 200-399 passes.")
@click.option("--health-tcp", metavar="HOST:PORT", help="TCP check: a connection passes.")
@click.option(
    "--health-grpc", metavar="HOST:PORT[/SERVICE]", help="gRPC check: grpc.health.v1 SERVING."
)
@click.option("--no-healthcheck", is_flag=True, help="Disable any healthcheck.")
@click.option("-e", "--env", multiple=True, metavar="KEY=VAL", help="Set environment variables.")
@click.option("-w", "--workdir", metavar="DIR", help="Working directory of the command.")
@click.option("-u", "--user", metavar="USER", help="User (name or uid[:gid]) to run as.")
@click.option(
    "--restart",
    metavar="POLICY",
    help="Restart policy: no, always, unless-stopped, on-failure[:N].",
)
@click.option(
    "--on-unhealthy",
    metavar="ACTION",
    help="What vigil does when the service turns unhealthy: restart, stop, kill or none.",
)
@click.option("--notify", multiple=True, metavar="URL",
              help="Apprise URL for this service's notifications (repeatable).")
@click.argument("command", nargs=-1)
@connection_options
@_daemon_errors
def run_command(**options: Any) -> None:
    """Create and start a service on the running daemon; print its ID.

    \b
    vigil run -d --name web --health-cmd 'curl -f http://localhost/' -- python -m http.server
    vigil run -d --name web --health-http http://127.0.0.1:8000/ -- python -m http.server
    """
    spec = run_spec(options)
    with open_client() as client:
        created = client.create(options["name"], spec)
        for warning in created.get("Warnings") or []:
            click.echo(f"WARNING: {warning}", err=True)
        client.start(options["name"])
    click.echo(str(created.get("Id", "")))


# ---- registration --------------------------------------------------------------------------

COMMANDS: tuple[click.Command, ...] = (
    ps_command,
    inspect_command,
    events_command,
    wait_command,
    logs_command,
    run_command,
    _simple("start", "start", "Start services, like `docker start`."),
    _timed("stop", "stop", "Stop services (SIGTERM, then SIGKILL), like `docker stop`."),
    _timed("restart", "restart", "Restart services, like `docker restart`."),
    kill_command,
    _simple("pause", "pause", "Pause services (SIGSTOP), like `docker pause`."),
    _simple("unpause", "unpause", "Unpause services, like `docker unpause`."),
    rm_command,
    down_command,
)


def register(group: click.Group) -> None:
    """Add the daemon commands to the ``vigil`` group."""
    for command in COMMANDS:
        group.add_command(command)
