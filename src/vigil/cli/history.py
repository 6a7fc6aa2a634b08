"""``vigil history NAME``: a service's kept probe results, from the daemon's store."""

from __future__ import annotations

from collections.abc import Iterable

import click

from vigil.cli import format as fmt
from vigil.cli.connection import connection_options, open_client
from vigil.cli.services import _daemon_errors
from vigil.docker import health as _docker_json
from vigil.go.duration import format_duration

OUTPUT_WIDTH = 60  # display columns of a result's output in the table
_HEADER = ("START", "DURATION", "EXIT CODE", "OUTCOME", "STATUS", "OUTPUT")


def history_table(entries: Iterable[dict[str, object]]) -> str:
    """One line per result, oldest first; the output on one line, cut to its column."""
    rows = [list(_HEADER)]
    for entry in entries:
        output = str(entry.get("Output", "")).strip().replace("\n", "\\n").replace("\r", "\\r")
        duration = entry.get("Duration", 0)
        rows.append([
            str(entry.get("Start", "")),
            format_duration(duration if isinstance(duration, int) else 0),
            str(entry.get("ExitCode", "")),
            str(entry.get("Outcome", "")),
            str(entry.get("Status", "")),
            fmt.ellipsis(output, OUTPUT_WIDTH),
        ])
    return fmt.tabulate(rows)


@click.command("history")
@click.argument("name")
@click.option("--since", help="Results since this timestamp (what `vigil events` takes).")
@click.option("--until", help="Results until this timestamp.")
@click.option("-n", "--limit", type=click.IntRange(0, 10_000),
              help="The newest N results (default 1000).")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table, or one JSON object per result.")
@connection_options
@_daemon_errors
def history_command(
    name: str, since: str | None, until: str | None, limit: int | None, output: str
) -> None:
    """Show a service's kept probe results (Health.Log entries with duration and outcome)."""
    with open_client() as client:
        entries = client.history(name, since=since, until=until, limit=limit)
    if output == "json":
        for entry in entries:
            click.echo(_docker_json.dumps(entry))
    else:
        click.echo(history_table(entries), nl=False)


@click.command("info")
@connection_options
@_daemon_errors
def info_command() -> None:
    """Show the daemon's services count, where history is kept, and warnings."""
    with open_client() as client:
        answer = client.info()
    store = answer.get("Store", {})
    click.echo(f"Services: {answer.get('Services', 0)}")
    click.echo(f"Store: {store.get('Driver', '')}")
    if store.get("Location"):
        click.echo(f" Location: {store['Location']}")
    for warning in answer.get("Warnings", []):
        click.echo(f"WARNING: {warning}", err=True)


__all__ = ["history_command", "history_table", "info_command"]
