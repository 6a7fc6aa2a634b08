"""The ``vigil`` command line. Each command is a few lines over the library (``check``,
``config``) or over the daemon's API client. Errors are one line and a non-zero exit:
1 when a probe failed or the config is invalid, 2 for usage errors, as click does.

The connection options (``-H``, ``--token-file``) are global, as docker's are: they go before
the command or after it (``vigil.cli.connection``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from vigil.cli.connection import connection_options
from vigil.docker import health as _docker_json
from vigil.exceptions import ConfigError

DEFAULT_CONFIG_FILE = "vigil.yaml"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vigil", prog_name="vigil")
@connection_options
def cli() -> None:
    """vigil: Docker's health checks, for anything.

    \b
    -H and --token-file go before the command or after it (after wins); without
    them, VIGIL_HOST and VIGIL_TOKEN. A token only ever goes to a tcp:// host.
    """


def _fail_config(error: ConfigError) -> None:
    for problem in error.problems:
        click.echo(str(problem), err=True)
    sys.exit(1)


@cli.command("config")
@click.option("-f", "--file", "path", default=DEFAULT_CONFIG_FILE, show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Config file.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="Output format.")
def config_command(path: Path, fmt: str) -> None:
    """Validate the config file and print it normalized (like `docker compose config`)."""
    from vigil.compose.load import load_project_file
    from vigil.compose.render import render_project

    try:
        project = load_project_file(path)
    except ConfigError as error:
        _fail_config(error)
        return
    click.echo(render_project(project, "json" if fmt == "json" else "yaml"), nl=False)


@cli.command("check", context_settings={"ignore_unknown_options": False})
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file; with SERVICE, probe that service's healthcheck.")
@click.option("--health-cmd", help="Command to run (CMD-SHELL form, as docker run).")
@click.option("--health-timeout", help="Maximum time the probe may run (default 30s).")
@click.option("-e", "--env", "env", multiple=True, help="Set an environment variable KEY=VAL.")
@click.option("-w", "--workdir", help="Working directory of the probe.")
@click.option("-u", "--user", help="User (name or uid[:gid]) to run the probe as (root only).")
@click.argument("args", nargs=-1)
def check_command(
    path: Path | None,
    health_cmd: str | None,
    health_timeout: str | None,
    env: tuple[str, ...],
    workdir: str | None,
    user: str | None,
    args: tuple[str, ...],
) -> None:
    """Run one probe now and print its result as JSON; exit 0 when it passed, else 1.

    \b
    vigil check -f vigil.yaml SERVICE
    vigil check --health-cmd 'curl -f http://localhost/'
    vigil check -- CMD ARG...
    """
    from vigil.cli.check import build_check_service, run_check
    from vigil.cli.flags import duration_flag, environment_flag, user_flag

    user = user_flag(user)
    timeout = duration_flag("--health-timeout", health_timeout)
    if timeout < 0:
        raise click.UsageError("--health-timeout cannot be negative")
    environment = environment_flag(env)
    try:
        service = build_check_service(
            path=path, health_cmd=health_cmd, args=args, env=environment, workdir=workdir,
            user=user,
        )
    except ConfigError as error:
        _fail_config(error)
        return
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    result = asyncio.run(run_check(service, timeout_ns=timeout))
    click.echo(_docker_json.dumps(_docker_json.result_json(result)))
    sys.exit(0 if result.exit_code == 0 else 1)


from vigil.cli.history import history_command as _history_command  # noqa: E402
from vigil.cli.history import info_command as _info_command  # noqa: E402
from vigil.cli.services import register as _register_daemon_commands  # noqa: E402
from vigil.cli.up import up_command as _up_command  # noqa: E402

_register_daemon_commands(cli)
cli.add_command(_up_command)
cli.add_command(_history_command)
cli.add_command(_info_command)


def main() -> None:
    cli(prog_name="vigil")
