"""What to probe and how, as plain values: the ``ProbeSpec`` union. Pure core: stdlib only.

A spec says what a probe checks, never when (``HealthcheckConfig`` holds the timing) and
never how it is run (``vigil.probes.build_probe`` turns a spec into a ``Probe``). Today's
only kind is ``ExecSpec`` (Docker's ``CMD`` / ``CMD-SHELL``); HTTP, TCP, gRPC and Docker
exec specs join the union without touching the engine.
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

PROBE_TYPES = (TEST_CMD, TEST_SHELL)  # Test[0] values the engine can run (case-sensitive)


@dataclass(frozen=True, slots=True)
class ExecSpec:
    """Run ``test`` (``("CMD", argv...)`` or ``("CMD-SHELL", command)``) as a local process
    with Docker's environment plus ``environment``, in ``working_dir``, as ``user``."""

    test: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    working_dir: str | None = None
    user: str | None = None
    shell: tuple[str, ...] = DEFAULT_SHELL


ProbeSpec = ExecSpec


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
    return ExecSpec(
        test=check.test,
        environment=service.environment,
        working_dir=service.working_dir,
        user=service.user,
        shell=service.effective_shell,
    )
