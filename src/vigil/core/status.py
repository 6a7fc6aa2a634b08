"""The health status enum, kept apart so events and state can share it without a cycle."""

from __future__ import annotations

import enum


class HealthStatus(enum.StrEnum):
    """Docker's ``HealthStatus`` strings."""

    NONE = "none"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
