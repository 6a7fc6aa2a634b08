"""What vigil does for one Docker container beyond mirroring it: its ``vigil.*`` labels
(``vigil.compose.labels``) made into a plan the container watcher follows.

Which health wins: a container with any ``vigil.healthcheck.*`` label (and a test to run,
its own or the image's) is probed by vigil, and vigil's monitor alone drives its health;
Docker's ``State.Health`` is then not mirrored (two judges of one status would flap). Without
such labels Docker's health is mirrored as it is. Either way the check (vigil's, or the
container's ``Config.Healthcheck``) gives remediation its FailingStreak threshold.

Healing: ``vigil.heal`` (and its limits) over the daemon-wide default, through the same
remediation as ``on_unhealthy`` (bounded restarts in a window, back-off,
``remediation_exhausted``); the manager leaves alone a container that is paused (Docker
reports it unhealthy, moby#46203), not running, or being stopped or removed.

Bad labels: one error line naming the container and each label; vigil then neither probes
nor heals that container (Docker's own health is still mirrored), and the watcher goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.compose.labels import describe, merged_healthcheck, parse_labels
from vigil.core.config import TEST_CMD, TEST_SHELL, HealthcheckConfig
from vigil.core.probespec import spec_for_check
from vigil.core.remediation import RemediationPolicy
from vigil.docker.container_config import container_healthcheck, container_labels, container_shell
from vigil.exceptions import ConfigError
from vigil.probes import Probe, build_probe
from vigil.probes.docker_exec import DockerExecProbe, ExecApi

__all__ = ["ContainerPlan", "plan_container", "stopping_after"]

_log = logging.getLogger("vigil")
# ``kill`` events whose signal ends the container: ``docker stop`` (TERM, or the image's
# STOPSIGNAL, then KILL), ``docker rm -f`` and ``docker kill`` (KILL). Numbers and names, as
# engines differ in how they write it.
_ENDING_SIGNALS = frozenset({"15", "9", "2", "3", "SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT"})


@dataclass(frozen=True, slots=True)
class ContainerPlan:
    """``probe`` None: Docker's health is mirrored. ``check``: the check whose ``retries``
    count (vigil's when it probes, else the container's own; None: no health at all).
    ``problem``: why the labels were refused (already logged)."""

    heal: RemediationPolicy
    check: HealthcheckConfig | None
    probe: Probe | None = None
    problem: str | None = None


def plan_container(
    name: str, inspect: Mapping[str, Any], *, api: ExecApi, default_heal: RemediationPolicy
) -> ContainerPlan:
    """The plan for the container ``inspect`` describes, shown as service ``name``."""
    own = container_healthcheck(inspect)
    try:
        labels = parse_labels(container_labels(inspect))
        check = (
            merged_healthcheck(labels.healthcheck, own) if labels.healthcheck is not None else None
        )
        probe = None if check is None else _probe(check, inspect, api)
    except ConfigError as error:
        problem = describe(name, error)
        _log.error("%s", problem)
        return ContainerPlan(RemediationPolicy(), own, None, problem)
    if probe is None:
        return ContainerPlan(labels.heal_policy(default_heal), own)
    return ContainerPlan(labels.heal_policy(default_heal), check, probe)


def _probe(check: HealthcheckConfig, inspect: Mapping[str, Any], api: ExecApi) -> Probe:
    """An exec test runs in the container through the engine; a network test from vigil."""
    if check.test[0] in (TEST_CMD, TEST_SHELL):
        container_id = str(inspect.get("Id", ""))
        return DockerExecProbe(api, container_id, check.test, shell=container_shell(inspect))
    return build_probe(spec_for_check(check))


def stopping_after(event: Mapping[str, Any], stopping: bool) -> bool:
    """Whether a container is being stopped or removed, after the engine's ``event``: from
    a ``kill`` with an ending signal or a ``stop`` until it starts again. vigil's own
    restart goes through this too, and its ``start`` ends it."""
    action = str(event.get("Action", ""))
    if action == "kill":
        actor = event.get("Actor")
        attributes = actor.get("Attributes") if isinstance(actor, Mapping) else None
        sig = attributes.get("signal") if isinstance(attributes, Mapping) else None
        return stopping or str(sig) in _ENDING_SIGNALS
    if action in ("stop", "destroy"):
        return True
    if action in ("start", "restart", "unpause"):
        return False
    return stopping
