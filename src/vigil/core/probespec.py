"""What to probe and how, as plain values: the ``ProbeSpec`` union. Pure core: stdlib only.

A spec says what a probe checks, never when (``HealthcheckConfig`` holds the timing) and
never how it is run (``vigil.probes.build_probe`` turns a spec into a ``Probe``): ``ExecSpec``
(Docker's ``CMD`` / ``CMD-SHELL``) and vigil's network checks ``HttpSpec``, ``TcpSpec`` and
``GrpcSpec`` (tests ``["HTTP", URL]``, ``["TCP", "HOST:PORT"]``, ``["GRPC", "HOST:PORT"
[, SERVICE]]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vigil.core.config import (
    DEFAULT_SHELL,
    TEST_CMD,
    TEST_NONE,
    TEST_SHELL,
    HealthcheckConfig,
    ServiceConfig,
)
from vigil.core.netspec import (
    NET_TYPES,
    TEST_GRPC,
    TEST_HTTP,
    TEST_TCP,
    HttpOptions,
    split_host_port,
    test_problem,
)
from vigil.exceptions import ConfigError, ConfigProblem

# Test[0] values the engine can run (case-sensitive)
PROBE_TYPES = (TEST_CMD, TEST_SHELL, *NET_TYPES)


@dataclass(frozen=True, slots=True)
class ExecSpec:
    """Run ``test`` (``("CMD", argv...)`` or ``("CMD-SHELL", command)``) as a local process
    with Docker's environment plus ``environment``, in ``working_dir``, as ``user``."""

    test: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    working_dir: str | None = None
    user: str | None = None
    shell: tuple[str, ...] = DEFAULT_SHELL


@dataclass(frozen=True, slots=True)
class HttpSpec:
    """An HTTP(S) request to ``url``; ``options`` say how to send it and what passes."""

    url: str
    options: HttpOptions = field(default_factory=HttpOptions)


@dataclass(frozen=True, slots=True)
class TcpSpec:
    """A TCP connection to ``host:port``: passes when the connection is accepted."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class GrpcSpec:
    """A ``grpc.health.v1.Health/Check`` call; ``service`` empty asks about the server."""

    host: str
    port: int
    service: str = ""


ProbeSpec = ExecSpec | HttpSpec | TcpSpec | GrpcSpec


def unknown_test_type(check: HealthcheckConfig | None) -> str | None:
    """``Test[0]`` when Docker would log "Unknown healthcheck type" for it, else None."""
    if check is None or not check.test or check.test[0] in (*PROBE_TYPES, TEST_NONE):
        return None
    return check.test[0]


def spec_for_service(service: ServiceConfig) -> ProbeSpec | None:
    """The probe Docker would run for ``service``'s health check, or None for no probe
    (no check, ``NONE``, an empty test or an unknown type)."""
    check = service.healthcheck
    if check is None or not check.runs_probe:
        return None
    if check.test[0] in NET_TYPES:
        return net_spec(check)
    return ExecSpec(
        test=check.test,
        environment=service.environment,
        working_dir=service.working_dir,
        user=service.user,
        shell=service.effective_shell,
    )


def spec_for_check(check: HealthcheckConfig) -> ProbeSpec:
    """The probe of a check alone (no service: exec probes get Docker's bare environment)."""
    return net_spec(check) if check.test[0] in NET_TYPES else ExecSpec(check.test)


def net_spec(check: HealthcheckConfig) -> HttpSpec | TcpSpec | GrpcSpec:
    """The network probe of an ``HTTP`` / ``TCP`` / ``GRPC`` test; ``ConfigError`` naming
    ``healthcheck.test`` when the test is malformed (the loader reports that earlier)."""
    test = check.test
    problem = test_problem(test)
    if problem is not None:
        raise ConfigError(ConfigProblem(f"healthcheck.test.{problem[0]}", problem[1]))
    if test[0] == TEST_HTTP:
        return HttpSpec(test[1], check.http or HttpOptions())
    host, port = split_host_port(test[1])
    if test[0] == TEST_TCP:
        return TcpSpec(host, port)
    assert test[0] == TEST_GRPC
    return GrpcSpec(host, port, test[2] if len(test) > 2 else "")
