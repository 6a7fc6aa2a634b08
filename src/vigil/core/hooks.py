"""Commands run when a service's health status changes (``hooks:``). Pure core: stdlib only.

A hook is a Docker-style test list, ``["CMD", argv...]`` or ``["CMD-SHELL", command]`` (a
string means CMD-SHELL, as for ``healthcheck.test``), run like a probe of the service: the
same launcher and jail, Docker's environment plus the service's variables, its working
directory and user, its own ``timeout`` (default 10 s) and the same process-tree kill.
Hooks add the variables of ``hook_environment``, which describe the change and the probe
result that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.core.results import ProbeResult
from vigil.core.status import HealthStatus
from vigil.go.duration import SECOND
from vigil.go.timefmt import format_rfc3339nano

DEFAULT_HOOK_TIMEOUT = 10 * SECOND
HOOK_ON_HEALTHY = "on_healthy"
HOOK_ON_UNHEALTHY = "on_unhealthy"
HOOK_NAMES = (HOOK_ON_UNHEALTHY, HOOK_ON_HEALTHY)


@dataclass(frozen=True, slots=True)
class HooksConfig:
    """A service's ``hooks:``; an empty command means no hook; ``timeout`` 0 means 10 s."""

    on_unhealthy: tuple[str, ...] = ()
    on_healthy: tuple[str, ...] = ()
    timeout: int = 0

    @property
    def effective_timeout(self) -> int:
        return self.timeout or DEFAULT_HOOK_TIMEOUT

    def command_for(self, status: HealthStatus) -> tuple[str, tuple[str, ...]] | None:
        """``(hook name, test)`` for a change to ``status``, or None when none is set."""
        if status is HealthStatus.UNHEALTHY and self.on_unhealthy:
            return HOOK_ON_UNHEALTHY, self.on_unhealthy
        if status is HealthStatus.HEALTHY and self.on_healthy:
            return HOOK_ON_HEALTHY, self.on_healthy
        return None


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook is told: the service, the change and the result that caused it."""

    service: str
    service_id: str
    status: HealthStatus
    previous: HealthStatus
    time_ns: int
    failing_streak: int
    result: ProbeResult | None


def hook_environment(context: HookContext) -> dict[str, str]:
    """The ``VIGIL_*`` variables of a hook run. ``VIGIL_TIME`` is the change's time in
    RFC 3339 (UTC, Go's nanosecond form); a NUL in the output (no environment can hold
    one) becomes U+FFFD."""
    result = context.result
    return {
        "VIGIL_SERVICE": context.service,
        "VIGIL_SERVICE_ID": context.service_id,
        "VIGIL_STATUS": context.status.value,
        "VIGIL_PREVIOUS_STATUS": context.previous.value,
        "VIGIL_EXIT_CODE": "" if result is None else str(result.exit_code),
        "VIGIL_OUTPUT": "" if result is None else result.output.replace("\0", "\ufffd"),
        "VIGIL_FAILING_STREAK": str(context.failing_streak),
        "VIGIL_TIME": format_rfc3339nano(context.time_ns, utc=True),
    }
