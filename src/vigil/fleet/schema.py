"""The fleet's tables, as versioned migrations (``vigil.store.pgschema.run_migrations``).
Append a step to change them; never edit a released one."""

from __future__ import annotations

DEFAULT_SCHEMA = "vigil_fleet"
VERSION_TABLE = "fleet_version"
LOCK = "vigil.fleet"

MIGRATIONS: list[list[str]] = [
    [  # 1: node registry and shared checks with their leases
        """CREATE TABLE nodes (
            name text PRIMARY KEY,
            incarnation text NOT NULL,
            started_at timestamptz NOT NULL,
            heartbeat_at timestamptz NOT NULL,
            left_at timestamptz,
            lease_ttl_ms bigint NOT NULL CHECK (lease_ttl_ms > 0),
            address text NOT NULL DEFAULT '',
            version text NOT NULL DEFAULT '')""",
        """CREATE TABLE checks (
            name text PRIMARY KEY,
            spec jsonb NOT NULL,
            revision bigint NOT NULL DEFAULT 1,
            defined_at timestamptz NOT NULL DEFAULT now(),
            owner text,
            epoch bigint NOT NULL DEFAULT 0,
            expires_at timestamptz,
            handoff_to text,
            first_started_at timestamptz,
            health jsonb,
            health_epoch bigint NOT NULL DEFAULT 0,
            health_at timestamptz)""",
        "CREATE INDEX checks_owner ON checks (owner)",
    ],
]

# SQL for "this node is live" over a row of ``nodes``
LIVE = "left_at IS NULL AND heartbeat_at + lease_ttl_ms * interval '1 millisecond' > now()"
