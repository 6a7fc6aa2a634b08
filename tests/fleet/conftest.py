"""A fleet of its own per test on the real PostgreSQL (127.0.0.1:5432, db ``test``): a fresh
fleet schema, and every node schema the test's agents created, dropped after it (skipped,
saying why, without a server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests.postgres import URL, require_postgres

from vigil.store.postgres import split_url


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


@contextmanager
def fresh_fleet() -> Iterator[str]:
    """The test database's URL naming a fleet schema of its own, dropped with its nodes'."""
    require_postgres()
    fleet = f"vigil_fv_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{URL}?schema={fleet}"
    finally:
        drop_fleet(URL, fleet)


@pytest.fixture
def fleet_url() -> Iterator[str]:
    with fresh_fleet() as url:
        yield url


@pytest.fixture
def stores(fleet_url: str) -> Iterator[dict[str, Any]]:
    """Node stores of ``alpha`` and ``beta`` in the test's fleet, closed after."""
    from vigil.fleet.nodestore import NodeStore

    opened = {node: NodeStore(fleet_url, node=node) for node in ("alpha", "beta")}
    yield opened
    for store in opened.values():
        store.close()


def beat(url: str, node: str, ago_s: float, ttl_s: float = 10.0) -> None:
    """Register ``node`` in the fleet's registry (``vigil.fleet.db``) with its last heartbeat
    ``ago_s`` before the server's now."""
    import psycopg
    from psycopg import sql

    from vigil.fleet.db import FleetDb
    from vigil.go.duration import SECOND

    db = FleetDb(url, io_timeout_s=10)
    try:
        db.migrate()
        assert db.register(node, f"test-{node}", int(ttl_s * SECOND),
                           f"unix:///run/{node}.sock", "test")
    finally:
        db.close()
    conninfo, _ = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("UPDATE {} SET heartbeat_at = now() - %s * interval '1 second' "
                             "WHERE name = %s").format(sql.Identifier(db.schema, "nodes")),
                     (ago_s, node))


@pytest.fixture
def schema() -> Iterator[str]:
    """A fleet schema name of this test's own; it and its nodes' schemas dropped after."""
    require_postgres()
    name = f"vigil_fleet_{uuid.uuid4().hex[:12]}"
    yield name
    drop_fleet(URL, name)
