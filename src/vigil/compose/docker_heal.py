"""``docker:`` in ``vigil.yaml`` as a mapping: the engine (``host:``) and the daemon-wide
default of the containers' ``vigil.heal`` label (``heal:``). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.compose.docker import docker_field
from vigil.compose.heal import on_unhealthy_field
from vigil.compose.values import Problems, is_extension, unknown_key
from vigil.core.remediation import ACTION_KILL, RemediationPolicy
from vigil.exceptions import ConfigProblem

__all__ = ["KILL_REFUSED", "docker_section"]

KILL_REFUSED = '"kill" is not a heal for a container: use "restart" or "stop"'


def docker_section(
    value: object, where: str, problems: Problems
) -> tuple[str | None, RemediationPolicy | None]:
    """``docker:``: the engine alone (``docker_field``'s forms), or a mapping of ``host:``
    (the same forms; unset: the environment's engine) and ``heal:``, the daemon-wide
    ``vigil.heal`` default in ``on_unhealthy``'s short or long form (restart, stop, none)."""
    if not isinstance(value, Mapping):
        return docker_field(value, where, problems), None
    host: str | None = ""
    heal: RemediationPolicy | None = None
    for key, item in value.items():
        if key == "host":
            host = docker_field(item, f"{where}.host", problems)
        elif key == "heal":
            before = len(problems)
            heal = on_unhealthy_field(item, f"{where}.heal", problems)
            if len(problems) == before and heal.action == ACTION_KILL:
                problems.append(ConfigProblem(f"{where}.heal", KILL_REFUSED))
        elif not is_extension(key):
            problems.append(ConfigProblem(where, unknown_key(key)))
    return host, heal
