"""One agent's share of the fleet database: its history and its services' state, per node.

Layout (decided here; README "Fleet mode"):

- **Per-node schema** for history: each agent keeps its results and events in a schema of
  its own, ``<fleet schema>_<node>`` (a hash when that would pass PostgreSQL's 63 bytes),
  through the ordinary PostgreSQL store (``vigil.store.postgres``): the same tables,
  migrations, binary COPY, outage buffer (bounded, counted, never silently dropped) and
  catch-up. Nodes never write each other's rows, so they never contend for a lock.
- **State** of every local service, in that schema's ``fleet_services`` table: the list
  entry's fields as columns (what ``ps --fleet`` filters and sorts on) and Docker's inspect
  object as JSON text, upserted by the same writer thread as the history, a row per service.
- **A directory** in the fleet schema, ``fleet_histories(node, schema)``: where each node's
  schema is, for readers.
- **Notifications**: a statement trigger on the node's ``events`` and ``results`` tables
  sends ``pg_notify(channel, '{"node": ..., "seq": <newest position>}')`` on commit: small,
  readers fetch the rows themselves (``vigil.fleet.listen``).

What the fleet tables hold is only ever shown, never executed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigil.exceptions import StoreError
from vigil.store import redact
from vigil.store.durable import Row
from vigil.store.pgschema import NAME_MAX, check_schema, migrate
from vigil.store.postgres import IO_TIMEOUT_S, PostgresStore, split_url

if TYPE_CHECKING:
    import psycopg

DEFAULT_FLEET_SCHEMA = "vigil_fleet"
GIVE_UP_S = 5.0  # how long a stop waits for the fleet database to take the last rows
SERVICE_COLUMNS = ("id", "name", "created_ns", "command", "status", "exit_code",
                   "started_at_ns", "finished_at_ns", "health", "failing_streak", "inspect",
                   "updated_ns")


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A service as ``ps``/``inspect`` show it, at ``updated_ns``; ``inspect`` is Docker's
    inspect object encoded as JSON."""

    id: str
    name: str
    created_ns: int
    command: str
    status: str
    exit_code: int
    started_at_ns: int
    finished_at_ns: int
    health: str  # none, starting, healthy, unhealthy
    failing_streak: int
    inspect: str
    updated_ns: int

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, column) for column in SERVICE_COLUMNS)


@dataclass(frozen=True, slots=True)
class KeepOnly:
    """The node has exactly these services now: the rows of others go (removed services,
    and those a restarted agent no longer has)."""

    ids: tuple[str, ...]


def fleet_schema_of(url: str) -> str:
    """The fleet schema: the URL's ``schema=``, else ``vigil_fleet``."""
    _, schema = split_url(url)
    schema = schema or DEFAULT_FLEET_SCHEMA
    check_schema(schema)
    return schema


def history_schema(fleet_schema: str, node: str) -> str:
    """Where ``node`` keeps its history: readable when it fits, else a stable hash."""
    name = f"{fleet_schema}_{node}"
    if len(name.encode("utf-8")) <= NAME_MAX:
        return name
    digest = hashlib.sha256(f"{fleet_schema}\x00{node}".encode()).hexdigest()[:16]
    return f"{fleet_schema[:NAME_MAX - 23]}_node_{digest}"


def channel(fleet_schema: str) -> str:
    """The LISTEN/NOTIFY channel of a fleet (an identifier of at most 63 bytes)."""
    return "vigil_fleet_" + hashlib.sha256(fleet_schema.encode()).hexdigest()[:24]


def _ddl(fleet: str, own: str, node: str) -> list[Any]:
    from psycopg import sql

    f, o = sql.Identifier(fleet), sql.Identifier(own)
    notify = sql.Identifier(own, "vigil_fleet_notify")
    args = sql.SQL(", ").join([sql.Literal(channel(fleet)), sql.Literal(node)])
    statements = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(f),
        sql.SQL("CREATE TABLE IF NOT EXISTS {}.fleet_histories (node TEXT PRIMARY KEY, "
                "schema TEXT NOT NULL)").format(f),
        sql.SQL("INSERT INTO {}.fleet_histories (node, schema) VALUES ({}, {}) ON CONFLICT "
                "(node) DO UPDATE SET schema = excluded.schema").format(
                    f, sql.Literal(node), sql.Literal(own)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {}.fleet_services (id TEXT PRIMARY KEY, "
                "name TEXT NOT NULL, created_ns BIGINT NOT NULL, command TEXT NOT NULL, "
                "status TEXT NOT NULL, exit_code BIGINT NOT NULL, started_at_ns BIGINT NOT NULL, "
                "finished_at_ns BIGINT NOT NULL, health TEXT NOT NULL, "
                "failing_streak BIGINT NOT NULL, inspect TEXT NOT NULL, "
                "updated_ns BIGINT NOT NULL)").format(o),
        # Statement level: one notification per committed COPY, whatever its size.
        sql.SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "DECLARE newest BIGINT; BEGIN "
                "SELECT max(seq) INTO newest FROM added; "
                "IF newest IS NOT NULL THEN PERFORM pg_notify(TG_ARGV[0], "
                "json_build_object('node', TG_ARGV[1], 'seq', newest)::text); END IF; "
                "RETURN NULL; END $$").format(notify),
    ]
    for table in ("events", "results"):
        trigger = sql.Identifier(f"vigil_fleet_{table}")
        statements.append(sql.SQL(
            "CREATE OR REPLACE TRIGGER {} AFTER INSERT ON {} REFERENCING NEW TABLE AS added "
            "FOR EACH STATEMENT EXECUTE FUNCTION {}({})").format(
                trigger, sql.Identifier(own, table), notify, args))
    return statements


def prepare(conn: psycopg.Connection[Any], fleet: str, own: str, node: str) -> None:
    """Create (idempotently, under an advisory lock) what the fleet needs beside the
    node's history tables."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     (f"vigil.fleetview:{fleet}",))
        for statement in _ddl(fleet, own, node):
            conn.execute(statement)


class NodeStore(PostgresStore):
    """The node's history (a ``PostgresStore`` in its own schema) plus its services' state
    (``put_state``), written by the same writer thread: one outage buffer, one problem."""

    def __init__(self, url: str, *, node: str, now_ns: Callable[[], int] | None = None,
                 **options: Any) -> None:
        import psycopg

        self.node = node
        self.fleet_schema = fleet_schema_of(url)
        own = history_schema(self.fleet_schema, node)
        conninfo, _ = split_url(url)
        # Before the store's writer exists: creating the triggers locks the tables it writes.
        try:
            with psycopg.connect(conninfo, connect_timeout=max(
                    2, int(options.get("io_timeout", IO_TIMEOUT_S)))) as conn:
                migrate(conn, own)
                prepare(conn, self.fleet_schema, own, node)
        except psycopg.Error as e:
            raise StoreError(f"fleet {redact(conninfo)} (schema {own}): "
                             f"{' '.join(str(e).split())}") from None
        super().__init__(url, now_ns=now_ns, schema=own, **options)
        from psycopg import sql

        table = sql.Identifier(own, "fleet_services")
        cols = sql.SQL(", ").join(map(sql.Identifier, SERVICE_COLUMNS))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in SERVICE_COLUMNS[1:])
        with self._pool.connection() as conn:
            self._upsert = sql.SQL(
                "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}").format(
                    table, cols, sql.SQL(", ").join([sql.Placeholder()] * len(SERVICE_COLUMNS)),
                    updates).as_bytes(conn)
            self._forget = sql.SQL("DELETE FROM {} WHERE id <> ALL(%s)").format(
                table).as_bytes(conn)

    def close(self) -> None:
        """Write what is queued and release the connections, within ``GIVE_UP_S``: a
        stopping agent must not hang on an unreachable fleet (what was not written is
        logged by the writer; a healthy database takes ~1 s per 100,000 rows)."""
        if self._closed:
            return
        self._closed = True
        self._writer.close(GIVE_UP_S)
        if not self._writer.alive:  # else a write still hangs: the process exit ends it
            self._pool.close(timeout=1.0)

    def put_state(self, change: ServiceState | KeepOnly) -> None:
        """Queue a service's new state (or its removal); never blocks (the loop calls it)."""
        self._writer.put((0, change))  # type: ignore[arg-type]

    def _write_rows(self, rows: list[Row]) -> None:
        states: dict[str, ServiceState] = {}
        keep: KeepOnly | None = None
        history: list[Row] = []
        for row in rows:
            item = row[1]
            if isinstance(item, ServiceState):
                states[item.id] = item  # the newest of a batch is enough
            elif isinstance(item, KeepOnly):
                keep = item
                states = {i: s for i, s in states.items() if i in set(item.ids)}
            else:
                history.append(row)
        if states or keep:  # first: idempotent, so a failure after it repeats nothing twice
            self._write_states(list(states.values()), keep)
        if history:
            super()._write_rows(history)

    def _write_states(self, states: list[ServiceState], keep: KeepOnly | None) -> None:
        with (self._pool.connection() as conn, self._deadline(conn), conn.transaction(),
              conn.cursor() as cur):
            if keep is not None:
                cur.execute(self._forget, (list(keep.ids),))
            if states:
                cur.executemany(self._upsert, [s.row() for s in states])


__all__ = [
    "DEFAULT_FLEET_SCHEMA",
    "KeepOnly",
    "NodeStore",
    "ServiceState",
    "channel",
    "fleet_schema_of",
    "history_schema",
    "prepare",
]
