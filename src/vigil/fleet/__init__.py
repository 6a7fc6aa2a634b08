"""Fleet mode (issue 11): many ``vigil up`` agents sharing one PostgreSQL database, with no
coordinator of their own. Daemon-side layer: ``vigil.daemon`` starts a ``FleetAgent``.

Tables (schema ``vigil_fleet``, or the URL's ``schema=NAME``; created by the versioned
migrations of ``vigil.fleet.schema`` under an advisory lock; server time decides every
expiry; read them, write only through this package):

``nodes`` — one row per agent name:
    name text PK (the service-name rule), incarnation text (random per start),
    started_at, heartbeat_at, left_at timestamptz (left_at set on a clean stop, NULL while
    running), lease_ttl_ms bigint, address text (its API host), version text.
    A node is live when ``left_at IS NULL AND heartbeat_at + lease_ttl_ms ms > now()``
    (``fleet.schema.LIVE``).

``checks`` — one row per shared check:
    name text PK, spec jsonb (the ``checks:`` entry, re-validated by every reader: network
    probes only), revision bigint (bumped when spec changes), defined_at, owner text (a node
    name or NULL), epoch bigint (bumped by every claim), expires_at timestamptz (the lease),
    handoff_to text (the node the owner is handing it to), first_started_at (the start
    period counts from here, once per fleet), health jsonb (Docker's State.Health: Status,
    FailingStreak, Log, plus StartedAt ns), health_epoch bigint (the epoch that wrote it),
    health_at timestamptz.

Every write of an owner (renewal, health, Log) names its epoch and is refused in the same
statement when the epoch moved on (fencing): ``vigil.fleet.db``.

The fleet's one view (each node's services, history and events, read by any agent):
``nodestore`` (one agent's history and services' state, in a schema of its own; the
``fleet_histories`` directory and the NOTIFY trigger), ``publish`` (what the agent hands
it), ``view`` (services with each node's liveness, inspect) and ``listen`` (fleet events
fanned out with LISTEN/NOTIFY).
"""
