"""The fleet's statements, on one psycopg 3 connection (blocking: the agent runs them in a
thread). Every call is bounded: a statement the server does not answer within
``io_timeout`` (a black hole, a dead host) is ended by shutting the socket down, and the
next call reconnects. Failures are ``StoreError``.

Fencing lives here: renewals and health writes name each check's epoch and owner in their
``WHERE``, so a stale owner's write changes nothing and the caller learns which were refused
from what the statement returns; claims re-check, under ``FOR UPDATE SKIP LOCKED``, that the
lease is free (or handed to the claimant) by the server's clock.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigil.core.fleet import LeaseRow
from vigil.exceptions import StoreError
from vigil.fleet.schema import DEFAULT_SCHEMA, LIVE, LOCK, MIGRATIONS, VERSION_TABLE
from vigil.store.pgschema import check_schema, run_migrations
from vigil.store.postgres import io_deadline, split_url

if TYPE_CHECKING:
    import psycopg

MS = 1_000_000  # ns
DEFINE_TIMEOUT_S = 30.0  # defining thousands of checks may wait on another agent doing so
DEFINE_ATTEMPTS = 5  # tries of ``define`` on a deadlock or serialization failure
# SQLSTATEs of a transaction that lost a race (serialization failure, deadlock): try again
CONFLICTS = frozenset({"40001", "40P01"})


class FleetBusy(StoreError):
    """A failure that may pass on its own (the connection was lost or ended for taking too
    long, a deadlock, a serialization failure, a lock not granted): trying again may
    succeed. ``conflict`` says it was a deadlock or serialization failure."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


@dataclass(frozen=True, slots=True)
class Claimed:
    name: str
    epoch: int
    health: dict[str, Any] | None  # what the last owner wrote, None for a fresh check
    first_started_ns: int  # server time of the check's first claim ever


@dataclass(frozen=True, slots=True)
class Overview:
    """One heartbeat's reading: renewed leases, every lease, live nodes, spec revisions."""

    renewed: frozenset[str]
    leases: list[LeaseRow]
    live: list[str]
    revisions: dict[str, int]


class FleetDb:
    def __init__(self, url: str, *, io_timeout_s: float, schema: str | None = None) -> None:
        try:
            import psycopg  # noqa: F401  (only to say what is missing, at start)
        except ImportError as e:
            raise StoreError(f"fleet mode needs psycopg 3 ({e}): "
                             "pip install 'vigil[postgresql]'") from None
        self._conninfo, url_schema = split_url(url)
        self.schema = schema or url_schema or DEFAULT_SCHEMA
        check_schema(self.schema)
        self._io_timeout = io_timeout_s
        self._conn: psycopg.Connection[Any] | None = None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def migrate(self) -> int:
        with self._session(max(self._io_timeout, DEFINE_TIMEOUT_S)) as conn:
            return run_migrations(conn, self.schema, lock=f"{LOCK}:{self.schema}",
                                  version_table=VERSION_TABLE, steps=MIGRATIONS)

    # -- nodes -------------------------------------------------------------------------------

    def register(self, node: str, incarnation: str, ttl_ns: int, address: str,
                 version: str) -> bool:
        """Join as ``node``; False when a live agent of another incarnation holds the name."""
        with self._session() as conn:
            row = conn.execute(
                "INSERT INTO nodes (name, incarnation, started_at, heartbeat_at, left_at, "
                "lease_ttl_ms, address, version) VALUES (%s, %s, now(), now(), NULL, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET incarnation = excluded.incarnation, "
                "started_at = now(), heartbeat_at = now(), left_at = NULL, "
                "lease_ttl_ms = excluded.lease_ttl_ms, address = excluded.address, "
                "version = excluded.version "
                f"WHERE nodes.incarnation = excluded.incarnation OR NOT ({_on('nodes')}) "
                "RETURNING name",
                (node, incarnation, max(ttl_ns // MS, 1), address, version)).fetchone()
        return row is not None

    def leave(self, node: str, incarnation: str, held: dict[str, int]) -> None:
        """A clean stop: release ``held`` leases (expired at once) and mark the node left."""
        with self._session() as conn, conn.transaction():
            self._release(conn, node, held)
            conn.execute("UPDATE nodes SET left_at = now() WHERE name = %s AND incarnation = %s",
                         (node, incarnation))

    def release(self, node: str, held: dict[str, int]) -> None:
        """Give leases (name → epoch) up now, for another agent (or this one) to claim."""
        with self._session() as conn:
            self._release(conn, node, held)

    @staticmethod
    def _release(conn: psycopg.Connection[Any], node: str, held: dict[str, int]) -> None:
        names, epochs = _pairs(held)
        conn.execute(
            "UPDATE checks c SET owner = NULL, expires_at = now(), handoff_to = NULL "
            "FROM unnest(%s::text[], %s::bigint[]) AS m(name, epoch) "
            "WHERE c.name = m.name AND c.epoch = m.epoch AND c.owner = %s",
            (names, epochs, node))

    # -- checks ------------------------------------------------------------------------------

    def define(self, specs: dict[str, dict[str, object]]) -> None:
        """Insert or update the checks of this agent's config (others' are left alone).

        Many agents define the same checks when they start together, so this takes no lock
        on a row it does not change: missing rows are inserted (``ON CONFLICT DO NOTHING``,
        in name order, so two inserters wait on each other at most once and never
        deadlock), and only rows whose spec differs are locked, in name order, and updated.
        A deadlock or serialization failure (an unlikely ordering against other statements)
        is retried a few times with a short back-off; the statements are idempotent."""
        if not specs:
            return
        names = sorted(specs)
        texts = [json.dumps(specs[name], sort_keys=True) for name in names]
        for attempt in itertools.count(1):
            try:
                with self._session(max(self._io_timeout, DEFINE_TIMEOUT_S)) as conn:
                    conn.execute(
                        "INSERT INTO checks (name, spec) SELECT name, spec::jsonb "
                        "FROM unnest(%s::text[], %s::text[]) AS d(name, spec) ORDER BY name "
                        "ON CONFLICT (name) DO NOTHING", (names, texts))
                    conn.execute(
                        "WITH d AS (SELECT name, spec::jsonb AS spec "
                        "FROM unnest(%s::text[], %s::text[]) AS d(name, spec)), "
                        "changed AS (SELECT c.name, d.spec FROM checks c JOIN d "
                        "ON c.name = d.name WHERE c.spec <> d.spec "
                        "ORDER BY c.name FOR UPDATE OF c) "
                        "UPDATE checks c SET spec = changed.spec, revision = c.revision + 1 "
                        "FROM changed WHERE c.name = changed.name", (names, texts))
                return
            except FleetBusy as e:
                if not e.conflict or attempt >= DEFINE_ATTEMPTS:
                    raise
                time.sleep(min(0.05 * 2 ** attempt, 1.0) * random.uniform(0.5, 1.0))

    def specs(self, names: Sequence[str]) -> dict[str, tuple[int, Any]]:
        with self._session() as conn:
            rows = conn.execute("SELECT name, revision, spec FROM checks WHERE name = ANY(%s)",
                                (list(names),)).fetchall()
        return {str(r[0]): (int(r[1]), r[2]) for r in rows}

    def heartbeat(self, node: str, incarnation: str, held: dict[str, int],
                  ttl_ns: int) -> Overview | None:
        """Heartbeat, renew ``held`` (name → epoch) and read the fleet, in one transaction.
        None when this incarnation no longer holds the node's name."""
        names, epochs = _pairs(held)
        ttl_ms = max(ttl_ns // MS, 1)
        with self._session() as conn, conn.transaction():
            if conn.execute("UPDATE nodes SET heartbeat_at = now() WHERE name = %s "
                            "AND incarnation = %s AND left_at IS NULL RETURNING 1",
                            (node, incarnation)).fetchone() is None:
                return None
            renewed = conn.execute(
                "UPDATE checks c SET expires_at = now() + %s * interval '1 millisecond' "
                "FROM unnest(%s::text[], %s::bigint[]) AS m(name, epoch) "
                "WHERE c.name = m.name AND c.epoch = m.epoch AND c.owner = %s "
                "RETURNING c.name", (ttl_ms, names, epochs, node)).fetchall()
            leases = conn.execute(
                "SELECT name, revision, owner, handoff_to, (extract(epoch FROM "
                "now() - coalesce(expires_at, defined_at)) * 1e9)::bigint FROM checks"
            ).fetchall()
            live = conn.execute(f"SELECT name FROM nodes WHERE {LIVE}").fetchall()
        return Overview(
            renewed=frozenset(str(r[0]) for r in renewed),
            leases=[LeaseRow(str(r[0]), r[2], int(r[4]), r[3]) for r in leases],
            live=[str(r[0]) for r in live],
            revisions={str(r[0]): int(r[1]) for r in leases},
        )

    def claim(self, node: str, names: Sequence[str], ttl_ns: int) -> list[Claimed]:
        """Take the leases of ``names`` that are still free (or handed to ``node``) by the
        server's clock; each claim bumps the epoch. Rows another agent is claiming right now
        are skipped, not waited for."""
        if not names:
            return []
        with self._session() as conn:
            rows = conn.execute(
                "UPDATE checks c SET owner = %s, epoch = c.epoch + 1, handoff_to = NULL, "
                "expires_at = now() + %s * interval '1 millisecond', "
                "first_started_at = coalesce(c.first_started_at, now()) "
                "WHERE c.name IN (SELECT name FROM checks WHERE name = ANY(%s) AND "
                "(owner IS NULL OR expires_at IS NULL OR expires_at <= now() "
                "OR (handoff_to = %s AND owner <> %s)) FOR UPDATE SKIP LOCKED) "
                "RETURNING c.name, c.epoch, c.health, "
                "(extract(epoch FROM c.first_started_at) * 1e9)::bigint",
                (node, max(ttl_ns // MS, 1), list(names), node, node)).fetchall()
        return [Claimed(str(r[0]), int(r[1]), r[2], int(r[3])) for r in rows]

    def hand_off(self, node: str, moves: dict[str, tuple[int, str]]) -> None:
        """Offer checks (name → (epoch, to node)) to the node that should own them; this
        owner keeps probing until that node's claim bumps the epoch."""
        if not moves:
            return
        names = list(moves)
        with self._session() as conn:
            conn.execute(
                "UPDATE checks c SET handoff_to = m.to_node "
                "FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS m(name, epoch, to_node) "
                "WHERE c.name = m.name AND c.epoch = m.epoch AND c.owner = %s",
                (names, [moves[n][0] for n in names], [moves[n][1] for n in names], node))

    def write_health(self, node: str, states: dict[str, tuple[int, dict[str, Any]]]) -> set[str]:
        """Store each check's health (name → (epoch, health)); returns the names refused
        because their epoch is stale or the owner changed (fenced in the same statement)."""
        if not states:
            return set()
        names = list(states)
        epochs = [states[n][0] for n in names]
        texts = [json.dumps(states[n][1]) for n in names]
        with self._session() as conn:
            rows = conn.execute(
                "UPDATE checks c SET health = m.health::jsonb, health_epoch = m.epoch, "
                "health_at = now() "
                "FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS m(name, epoch, health) "
                "WHERE c.name = m.name AND c.epoch = m.epoch AND c.owner = %s "
                "RETURNING c.name", (names, epochs, texts, node)).fetchall()
        return set(names) - {str(r[0]) for r in rows}

    # -- the connection ----------------------------------------------------------------------

    @contextmanager
    def _session(self, timeout_s: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        import psycopg
        from psycopg import sql

        try:
            if self._conn is None or self._conn.closed:
                conn = psycopg.connect(self._conninfo, autocommit=True,
                                       connect_timeout=max(2, int(self._io_timeout)))
                conn.execute(sql.SQL("SET search_path TO {}").format(
                    sql.Identifier(self.schema)))
                self._conn = conn
            with io_deadline(self._conn, timeout_s or self._io_timeout, "fleet database"):
                yield self._conn
        except psycopg.Error as e:
            self.close()
            message = f"fleet database: {' '.join(str(e).split())}"
            if isinstance(e, psycopg.OperationalError):  # lost, severed, deadlock, ...
                raise FleetBusy(message, conflict=e.sqlstate in CONFLICTS) from None
            raise StoreError(message) from None


def _on(table: str) -> str:
    return LIVE.replace("left_at", f"{table}.left_at").replace(
        "heartbeat_at", f"{table}.heartbeat_at").replace("lease_ttl_ms", f"{table}.lease_ttl_ms")


def _pairs(held: dict[str, int]) -> tuple[list[str], list[int]]:
    names = list(held)
    return names, [held[name] for name in names]


__all__ = ["Claimed", "FleetBusy", "FleetDb", "Overview"]
