"""What a container's inspect ``Config`` says about its health: its ``Healthcheck`` (Docker's
``HealthConfig``: ``Test``, durations in integer nanoseconds, ``Retries``), its ``Shell``
and its labels. Pure: JSON in, ``vigil.core`` values out; anything of the wrong type reads
as unset, as Go's decoder would leave it zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vigil.core.config import HealthcheckConfig

__all__ = ["container_healthcheck", "container_labels", "container_shell"]


def container_healthcheck(inspect: Mapping[str, Any]) -> HealthcheckConfig | None:
    """``Config.Healthcheck`` (the image's merged with ``docker run --health-*``), or None."""
    health = _config(inspect).get("Healthcheck")
    if not isinstance(health, Mapping):
        return None
    test = health.get("Test")
    return HealthcheckConfig(
        test=tuple(str(word) for word in test) if isinstance(test, list) else (),
        interval=_int(health.get("Interval")),
        timeout=_int(health.get("Timeout")),
        start_period=_int(health.get("StartPeriod")),
        start_interval=_int(health.get("StartInterval")),
        retries=_int(health.get("Retries")),
    )


def container_shell(inspect: Mapping[str, Any]) -> tuple[str, ...]:
    """``Config.Shell`` (Dockerfile ``SHELL``); empty: Docker's ``/bin/sh -c``."""
    shell = _config(inspect).get("Shell")
    return tuple(str(word) for word in shell) if isinstance(shell, list) else ()


def container_labels(inspect: Mapping[str, Any]) -> dict[str, str]:
    """``Config.Labels`` (string values only)."""
    labels = _config(inspect).get("Labels")
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): v for k, v in labels.items() if isinstance(v, str)}


def _config(inspect: Mapping[str, Any]) -> Mapping[str, Any]:
    config = inspect.get("Config")
    return config if isinstance(config, Mapping) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
