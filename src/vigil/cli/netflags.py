"""The network-probe flags: ``vigil check --http/--tcp/--grpc`` and ``vigil run
--health-http/--health-tcp/--health-grpc``, each one a ``test`` of the matching form.

``--grpc HOST:PORT/SERVICE`` names the service to ask about (``grpc.health.v1``'s
``HealthCheckRequest.service``); without ``/SERVICE`` the server as a whole is asked.
Values are checked as the config loader checks the test, with pflag's wording.
"""

from __future__ import annotations

import click

from vigil.cli.flags import go_flag
from vigil.core.config import ProjectConfig
from vigil.core.netspec import TEST_GRPC, TEST_HTTP, TEST_TCP, test_problem
from vigil.exceptions import ConfigProblem


def net_test(
    *, http: str | None, tcp: str | None, grpc: str | None, prefix: str = "--"
) -> list[str] | None:
    """The ``test`` the flags ask for, or None when none is given; at most one may be."""
    given = [
        (f"{prefix}{name}", kind, value)
        for name, kind, value in (("http", TEST_HTTP, http), ("tcp", TEST_TCP, tcp),
                                  ("grpc", TEST_GRPC, grpc))
        if value is not None
    ]
    if not given:
        return None
    if len(given) > 1:
        names = ", ".join(flag for flag, _, _ in given)
        raise click.UsageError(f"{names}: give only one network check")
    flag, kind, value = given[0]
    test = [kind, value]
    if kind == TEST_GRPC:
        address, slash, service = value.partition("/")
        test = [kind, address, service] if slash else [kind, address]
    problem = test_problem(tuple(test))
    if problem is not None:
        raise go_flag(flag, value, problem[1])
    return test


def grpc_problems(project: ProjectConfig) -> list[ConfigProblem]:
    """One problem per GRPC test when grpcio is not installed (``vigil config`` says so
    before the daemon would refuse the service)."""
    from vigil.probes.grpc import MISSING, grpc_modules

    services = [
        name
        for name, service in project.services.items()
        if service.healthcheck is not None and service.healthcheck.test[:1] == (TEST_GRPC,)
    ]
    if not services or grpc_modules() is not None:
        return []
    return [ConfigProblem(f"services.{name}.healthcheck.test", MISSING) for name in services]
