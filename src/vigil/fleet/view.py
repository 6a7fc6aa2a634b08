"""The fleet's one view, read from the shared database by any agent (``vigil.fleet.nodestore``
describes the tables): every node's services with the node's liveness, one service's inspect
object, and history rows after a position (what ``vigil.fleet.listen`` fetches).

Shapes follow classic Docker Swarm, which showed a cluster through the container API: names
are ``/node/service``, and each list entry and inspect object carries a ``Node`` object
(``Name``, ``Addr``, and ``State`` as ``docker node ls`` says it: ``ready`` while the node
heartbeats within its lease TTL, else ``down``; ``Heartbeat`` and ``Left``, when known).
Reads block: call them in a thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vigil.core.config import ServiceConfig
from vigil.core.health import HealthState, HealthStatus
from vigil.docker.health import JsonObject
from vigil.docker.services import (
    ListFilters,
    Search,
    ServiceView,
    list_item_json,
    matches,
    parse_list_filters,
)
from vigil.exceptions import InvalidParameterError, NotFoundError, StoreError
from vigil.fleet.nodestore import SERVICE_COLUMNS, channel, fleet_schema_of
from vigil.go.duration import SECOND
from vigil.go.timefmt import format_rfc3339nano
from vigil.store.codec import EVENT_COLUMNS, RESULT_COLUMNS
from vigil.store.postgres import split_url

READY, DOWN, UNKNOWN = "ready", "down", "unknown"  # Docker's node states (Status.State)
# ``vigil.fleet.schema.LIVE`` over the registry row ``n``: the server's clock decides
_LIVE = ("n.left_at IS NULL AND n.heartbeat_at + n.lease_ttl_ms * interval '1 millisecond' "
         "> now()")
IO_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node as the fleet sees it: ``state`` ``ready`` (heartbeat within its TTL), ``down``
    (stopped, or silent past its TTL) or ``unknown`` (no registry row: fleet mode's node
    registry is not there); ``schema`` None until it wrote its first state."""

    name: str
    schema: str | None
    state: str
    heartbeat: datetime | None = None
    address: str = ""
    left: datetime | None = None

    def json(self) -> JsonObject:
        return {"Name": self.name, "State": self.state, "Addr": self.address,
                "Heartbeat": _time(self.heartbeat), "Left": _time(self.left)}


def _time(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_rfc3339nano(int(value.timestamp()) * SECOND + value.microsecond * 1000,
                              utc=True)


@dataclass(frozen=True, slots=True)
class FleetService:
    node: NodeInfo
    view: ServiceView
    command: str
    inspect: str


def parse_fleet_filters(filters_json: str | None) -> tuple[ListFilters, list[str]]:
    """``ps``'s filters plus ``node`` (classic Swarm's): (the list filters, node names)."""
    try:
        raw: dict[str, Any] = json.loads(filters_json) if filters_json else {}
    except ValueError as exc:
        raise InvalidParameterError(f"invalid filter: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidParameterError("invalid filter: not a JSON object")
    node_values = raw.pop("node", {})
    if isinstance(node_values, list):
        nodes = [str(v) for v in node_values]
    elif isinstance(node_values, dict):
        nodes = [str(k) for k, v in node_values.items() if v]
    else:
        raise InvalidParameterError(f"invalid filter 'node={node_values}'")
    try:
        return parse_list_filters(json.dumps(raw) if raw else None), nodes
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None


def _service(node: NodeInfo, row: tuple[Any, ...]) -> FleetService:
    values = dict(zip(SERVICE_COLUMNS, row, strict=True))
    health_value = str(values["health"])
    health = None if health_value == "none" else HealthState(
        HealthStatus(health_value), int(values["failing_streak"]))
    view = ServiceView(
        id=str(values["id"]), config=ServiceConfig(name=f"{node.name}/{values['name']}"),
        created_ns=int(values["created_ns"]), status=values["status"],
        exit_code=int(values["exit_code"]), started_at_ns=int(values["started_at_ns"]),
        finished_at_ns=int(values["finished_at_ns"]), health=health)
    return FleetService(node, view, str(values["command"]), str(values["inspect"]))


class FleetView:
    """Reads of one fleet (its URL's ``schema=``, else ``vigil_fleet``); ``now_ns`` is the
    time ``ps`` STATUS texts are computed against."""

    def __init__(self, url: str, *, now_ns: Callable[[], int]) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._psycopg = psycopg
        self.schema = fleet_schema_of(url)
        self.conninfo, _ = split_url(url)
        self.channel = channel(self.schema)
        self._schemas: dict[str, str] = {}
        self._now_ns = now_ns
        # opened on first use: an agent that is never asked about the fleet holds nothing
        self._pool: ConnectionPool[Any] = ConnectionPool(
            self.conninfo, min_size=0, max_size=4, open=False, name="vigil-fleet-view",
            timeout=IO_TIMEOUT_S, kwargs={"autocommit": True,
                                          "connect_timeout": int(IO_TIMEOUT_S)})
        self._opened = False

    @contextmanager
    def _db(self) -> Iterator[Any]:
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True
        try:
            with self._pool.connection() as conn:
                yield conn
        except (self._psycopg.Error, self._pool_errors()) as e:
            raise StoreError(f"fleet {self.schema}: {' '.join(str(e).split())}") from None

    @staticmethod
    def _pool_errors() -> type[Exception]:
        from psycopg_pool import PoolTimeout

        return PoolTimeout

    def nodes(self) -> list[NodeInfo]:
        """Every node that registered or wrote state, with its liveness, by name."""
        from psycopg import sql

        histories = sql.Identifier(self.schema, "fleet_histories")
        registry = sql.Identifier(self.schema, "nodes")
        with self._db() as db:
            found = db.execute("SELECT to_regclass(%s), to_regclass(%s)",
                               (histories.as_string(db), registry.as_string(db))).fetchone()
            if found is None or (found[0] is None and found[1] is None):
                return []  # no node yet
            if found[1] is None:
                query = sql.SQL("SELECT node, schema, 'unknown', NULL, '', NULL FROM {} "
                                "ORDER BY node").format(histories)
            else:
                query = sql.SQL(
                    "SELECT coalesce(h.node, n.name), h.schema, CASE WHEN n.name IS NULL "
                    "THEN 'unknown' WHEN " + _LIVE + " THEN 'ready' ELSE 'down' END, "
                    "n.heartbeat_at, coalesce(n.address, ''), n.left_at FROM {} h FULL JOIN "
                    "{} n ON n.name = h.node ORDER BY 1").format(
                        sql.SQL("(SELECT NULL::text AS node, NULL::text AS schema WHERE false)")
                        if found[0] is None else histories, registry)
            rows = db.execute(query).fetchall()
        self._schemas = {str(r[0]): str(r[1]) for r in rows if r[1] is not None}
        return [NodeInfo(str(r[0]), None if r[1] is None else str(r[1]), str(r[2]), r[3],
                         str(r[4]), r[5]) for r in rows]

    def services(self, nodes: list[NodeInfo] | None = None) -> list[FleetService]:
        from psycopg import sql

        nodes = [n for n in (self.nodes() if nodes is None else nodes) if n.schema]
        if not nodes:
            return []
        cols = sql.SQL(", ").join(map(sql.Identifier, SERVICE_COLUMNS))
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}, {} FROM {}").format(
                sql.Literal(i), cols, sql.Identifier(str(n.schema), "fleet_services"))
            for i, n in enumerate(nodes))
        with self._db() as db:
            rows = db.execute(query).fetchall()
        return [_service(nodes[row[0]], row[1:]) for row in rows]

    def list_items(self, show_all: bool, filters: str | None,
                   search: Search | None = None) -> list[JsonObject]:
        """``GET /fleet/services/json``: newest first, as ``ps``; ``search`` runs the
        ``name`` filter's regular expressions."""
        parsed, wanted = parse_fleet_filters(filters)

        items = []
        now = self._now_ns()
        for service in sorted(self.services(), key=lambda s: s.view.created_ns, reverse=True):
            if wanted and service.node.name not in wanted:
                continue
            if not matches(service.view, parsed, show_all=show_all, search=search):
                continue
            item = list_item_json(service.view, now)
            item["Command"] = service.command
            item["Node"] = service.node.json()
            items.append(item)
        return items

    def inspect(self, node: str, ref: str) -> JsonObject:
        """``GET /fleet/services/{node}/{ref}/json``: the node's service by name, ID or
        unique ID prefix."""
        known = {n.name: n for n in self.nodes()}
        if node not in known:
            raise NotFoundError(f"No such node: {node}")
        services = self.services([known[node]])
        found = [s for s in services if s.view.name == f"{node}/{ref}"] or \
            [s for s in services if ref and s.view.id.startswith(ref)]
        if len(found) > 1:
            raise InvalidParameterError(f"multiple IDs found with provided prefix: {ref}")
        if not found:
            raise NotFoundError(f"No such service: {node}/{ref}")
        out: JsonObject = json.loads(found[0].inspect)
        out["Name"] = f"/{node}{out['Name']}"  # Docker's "/name", under its node
        out["Node"] = found[0].node.json()
        return out

    def schema_of(self, node: str) -> str | None:
        """Where ``node`` keeps its history (None: no such node)."""
        if node not in self._schemas:
            self.nodes()
        return self._schemas.get(node)

    def newest(self, schema: str) -> int:
        """The node's newest history position."""
        from psycopg import sql

        with self._db() as db:
            row = db.execute(sql.SQL(
                "SELECT greatest((SELECT coalesce(max(seq), 0) FROM {}), "
                "(SELECT coalesce(max(seq), 0) FROM {}))").format(
                    sql.Identifier(schema, "results"), sql.Identifier(schema, "events"))
            ).fetchone()
        return int(row[0]) if row else 0

    def rows_after(self, schema: str, after: int, upto: int, limit: int
                   ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The node's result and event rows at positions in (after, upto], each oldest first,
        at most ``limit`` of each."""
        from psycopg import sql

        def query(table: str, columns: tuple[str, ...]) -> Any:
            return sql.SQL("SELECT {} FROM {} WHERE seq > %s AND seq <= %s ORDER BY seq "
                           "LIMIT %s").format(sql.SQL(", ").join(map(sql.Identifier, columns)),
                                              sql.Identifier(schema, table))

        with self._db() as db:
            results = db.execute(query("results", RESULT_COLUMNS), (after, upto, limit))
            result_rows = results.fetchall()
            events = db.execute(query("events", EVENT_COLUMNS), (after, upto, limit))
            return result_rows, events.fetchall()

    def close(self) -> None:
        if self._opened:
            self._pool.close(timeout=1.0)  # a connection attempt to a dead server: left


__all__ = ["DOWN", "READY", "FleetService", "FleetView", "NodeInfo", "parse_fleet_filters"]
