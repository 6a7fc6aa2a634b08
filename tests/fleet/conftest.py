"""A fleet of its own per test on the real PostgreSQL (127.0.0.1:5432, db ``test``): a fresh
fleet schema, and every node schema the test's agents created, dropped after it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.postgres import URL, require_postgres


def drop_fleet(url: str, fleet: str) -> None:
    """Drop the fleet schema and each node's schema its directory names."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        schemas = [row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (fleet, fleet + "\\_%"))]
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


@pytest.fixture
def fleet_url() -> Iterator[str]:
    """The test database's URL naming a fleet schema of this test's own."""
    require_postgres()
    fleet = f"vigil_fv_{uuid.uuid4().hex[:10]}"
    yield f"{URL}?schema={fleet}"
    drop_fleet(URL, fleet)


def beat(url: str, node: str, ago_s: float, ttl_s: float = 10.0) -> None:
    """A registry row for ``node`` whose last heartbeat was ``ago_s`` before the server's
    now, in the shape of ``vigil.fleet.schema``'s ``nodes`` table."""
    import psycopg
    from psycopg import sql

    from vigil.fleet.nodestore import fleet_schema_of
    from vigil.store.postgres import split_url

    schema = fleet_schema_of(url)
    conninfo, _ = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        table = sql.Identifier(schema, "nodes")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, incarnation text NOT NULL, "
            "started_at timestamptz NOT NULL, heartbeat_at timestamptz NOT NULL, "
            "left_at timestamptz, lease_ttl_ms bigint NOT NULL, address text NOT NULL "
            "DEFAULT '', version text NOT NULL DEFAULT '')").format(table))
        conn.execute(sql.SQL(
            "INSERT INTO {} (name, incarnation, started_at, heartbeat_at, lease_ttl_ms, "
            "address) VALUES (%s, 'x', now(), now() - %s * interval '1 second', %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET heartbeat_at = excluded.heartbeat_at").format(
                table), (node, ago_s, int(ttl_s * 1000), f"unix:///run/{node}.sock"))
