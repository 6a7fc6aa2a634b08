"""docker/cli's flag parsing for the daemon commands, with pflag's and docker's error texts,
and the service entry that ``vigil run``'s flags make. Flag problems are click usage errors
(exit 2), as pflag's are usage errors in docker.

Sources: docker/cli ``opts/opts.go`` (``FilterOpt``), ``opts/env.go`` (``ValidateEnv``),
``cli/command/container/opts.go`` (health flags), spf13/pflag ``errors.go``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import click

from vigil.core.lifecycle import parse_restart_policy
from vigil.core.names import user_problem
from vigil.core.remediation import ACTIONS
from vigil.exceptions import ConfigError
from vigil.go.duration import format_duration, parse_duration
from vigil.go.strconv import parse_int


def go_flag(flag: str, value: str, problem: str) -> click.UsageError:
    """pflag's wording for a flag value it could not take."""
    return click.UsageError(f'invalid argument "{value}" for "{flag}" flag: {problem}')


def parse_filters(values: Iterable[str]) -> dict[str, list[str]]:
    """docker/cli ``FilterOpt.Set``: ``key=value``, key lower-cased, both sides trimmed."""
    filters: dict[str, list[str]] = {}
    for value in values:
        if value == "":
            continue
        if "=" not in value:
            raise go_flag("-f, --filter", value, "bad format of filter (expected name=value)")
        key, _, text = value.partition("=")
        filters.setdefault(key.strip().lower(), []).append(text.strip())
    return filters


def parse_timeout(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise go_flag(flag, value, str(exc)) from None
    if parsed < 0:
        raise click.UsageError(f"{flag} cannot be negative")
    return parsed


_HEALTH_DURATIONS = (  # (flag, compose key)
    ("--health-interval", "interval"),
    ("--health-timeout", "timeout"),
    ("--health-start-period", "start_period"),
    ("--health-start-interval", "start_interval"),
)


def int_flag(flag: str, value: str) -> int:
    """pflag's int flag: ``strconv.ParseInt(value, 0, 64)``, so ``0x10`` and ``1_000`` too."""
    try:
        return parse_int(value, 0)
    except ValueError as exc:
        raise go_flag(flag, value, str(exc)) from None


def duration_flag(flag: str, value: str | None) -> int:
    if value is None:
        return 0
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise go_flag(flag, value, str(exc)) from None


def environment_flag(values: Iterable[str]) -> dict[str, str]:
    """docker/cli ``ValidateEnv``: ``KEY=VAL``, or ``KEY`` taken from this environment
    (dropped when unset here); later entries win."""
    env: dict[str, str] = {}
    for value in values:
        key, has_value, text = value.partition("=")
        if key == "":
            raise go_flag("-e, --env", value, f"invalid environment variable: {value}")
        if has_value:
            env[key] = text
        elif key in os.environ:
            env[key] = os.environ[key]
    return env


def user_flag(value: str | None) -> str | None:
    """``-u``: a numeric uid or gid outside runc's range is refused now, not at start."""
    problem = None if value is None else user_problem(value)
    if value is not None and problem is not None:
        raise go_flag("-u, --user", value, problem)
    return value


def build_healthcheck(
    *,
    cmd: str | None,
    durations: dict[str, int],
    retries: int,
    disable: bool,
    net_test: list[str] | None = None,
) -> dict[str, Any] | None:
    """docker/cli's health flags → a compose ``healthcheck`` entry (None: no flag given).

    ``durations`` maps compose keys (``interval``...) to nanoseconds, 0 when not given.
    Without ``--health-cmd`` the entry has no ``test``: Docker would inherit the image's
    check; vigil has no image, so such a service has no check (its other settings are kept).
    """
    if cmd and net_test:
        raise click.UsageError("--health-cmd conflicts with --health-http/-tcp/-grpc")
    if not (cmd or net_test or retries or any(durations.values())):
        return {"disable": True} if disable else None
    if disable:
        raise click.UsageError("--no-healthcheck conflicts with --health-* options")
    checks = [
        ("--health-interval", durations.get("interval", 0)),
        ("--health-timeout", durations.get("timeout", 0)),
        ("--health-retries", retries),
        ("--health-start-period", durations.get("start_period", 0)),
        ("--health-start-interval", durations.get("start_interval", 0)),
    ]
    for flag, value in checks:
        if value < 0:
            raise click.UsageError(f"{flag} cannot be negative")
    entry: dict[str, Any] = {"test": ["CMD-SHELL", cmd]} if cmd else {}
    if net_test:
        entry["test"] = net_test
    entry |= {key: format_duration(ns) for key, ns in durations.items() if ns}
    if retries:
        entry["retries"] = retries
    return entry


def on_unhealthy_flag(value: str | None) -> str | None:
    """``--on-unhealthy``: one of the actions (the long form is vigil.yaml's and the API's)."""
    if value is not None and value not in ACTIONS:
        raise go_flag("--on-unhealthy", value, "must be one of " + ", ".join(ACTIONS))
    return value


def run_spec(options: Mapping[str, Any]) -> dict[str, Any]:
    """The service entry of ``vigil run``'s flags, with docker run's checks."""
    from vigil.cli.netflags import net_test  # it needs go_flag from here
    durations = {  # pflag parses every flag before any check runs
        key: duration_flag(flag, options[flag[2:].replace("-", "_")])
        for flag, key in _HEALTH_DURATIONS
    }
    retries = options["health_retries"]
    retries = 0 if retries is None else int_flag("--health-retries", retries)
    environment = environment_flag(options["env"])
    if not options["detach"]:
        raise click.UsageError(
            "vigil run needs -d: it adds a service to the running daemon and cannot attach"
        )
    if not options["name"]:
        raise click.UsageError("vigil run needs --name NAME")
    if not options["command"]:
        raise click.UsageError('"vigil run" requires at least 1 argument (the command)')
    if options["restart"]:
        try:
            parse_restart_policy(options["restart"])
        except ConfigError as error:
            raise click.UsageError(str(error)) from None
    healthcheck = build_healthcheck(
        cmd=options["health_cmd"],
        durations=durations,
        retries=retries,
        disable=options["no_healthcheck"],
        net_test=net_test(
            http=options.get("health_http"),
            tcp=options.get("health_tcp"),
            grpc=options.get("health_grpc"),
            prefix="--health-",
        ),
    )
    spec: dict[str, Any] = {"command": list(options["command"])}
    optional = {
        "environment": environment,
        "working_dir": options["workdir"],
        "user": user_flag(options["user"]),
        "healthcheck": healthcheck,
        "restart": options["restart"],
        "on_unhealthy": on_unhealthy_flag(options.get("on_unhealthy")),
    }
    spec |= {key: value for key, value in optional.items() if value}
    if options.get("notify"):  # checked by the daemon (Apprise), errors masked
        spec["notify"] = list(options["notify"])
    return spec
