"""The fleet's shared state on the real PostgreSQL: two nodes' stores side by side, read as
one view (``ps --fleet``, inspect ``node/service``, node filters and liveness), and history
positions as the event fan-out reads them."""

from __future__ import annotations

import json

import pytest
from tests.fleet.conftest import beat

from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.core.events import ProbeCompleted, StatusChanged, TargetRef
from vigil.core.health import HealthState
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.docker.services import ServiceView
from vigil.exceptions import InvalidParameterError, NotFoundError
from vigil.fleet.nodestore import KeepOnly, NodeStore, history_schema
from vigil.fleet.publish import service_state
from vigil.fleet.view import DOWN, READY, UNKNOWN, FleetView
from vigil.go.duration import SECOND

T0 = 1_700_000_000 * SECOND


def _view(sid: str, name: str, health: HealthStatus | None, started: int = T0) -> ServiceView:
    check = HealthcheckConfig(test=("CMD", "true")) if health else None
    state = HealthState(health, 2 if health is HealthStatus.UNHEALTHY else 0) if health else None
    return ServiceView(id=sid * 64, config=ServiceConfig(name=name, command=("sleep", "9 s"),
                                                         healthcheck=check),
                       created_ns=started, status="running", pid=42, started_at_ns=started,
                       health=state)


def _publish(store: NodeStore, *views: ServiceView) -> None:
    store.put_state(KeepOnly(tuple(v.id for v in views)))
    for view in views:
        store.put_state(service_state(view, T0))
    assert store.flush(30)


def test_ps_fleet_lists_every_nodes_services_with_liveness(
        fleet_url: str, stores: dict[str, NodeStore]) -> None:
    """Each node's services appear as ``/node/service`` with Docker's list fields and a
    ``Node`` object; a node whose heartbeat is older than the TTL is ``down``."""
    _publish(stores["alpha"], _view("a", "web", HealthStatus.HEALTHY),
             _view("b", "db", HealthStatus.UNHEALTHY, T0 + SECOND))
    _publish(stores["beta"], _view("c", "web", None, T0 + 2 * SECOND))
    beat(fleet_url, "alpha", 0)
    beat(fleet_url, "beta", 60)
    beat(fleet_url, "gamma", 0)  # registered, no state yet
    view = FleetView(fleet_url, now_ns=lambda: T0 + 65 * SECOND)
    items = view.list_items(True, None)
    assert [i["Names"] for i in items] == [["/beta/web"], ["/alpha/db"], ["/alpha/web"]]
    assert items[1]["Status"] == "Up About a minute (unhealthy)"
    assert items[1]["Health"] == {"Status": "unhealthy", "FailingStreak": 2}
    assert items[1]["Command"] == "sleep '9 s'"
    assert items[1]["Node"]["State"] == READY
    assert items[0]["Node"]["State"] == DOWN
    assert [(n.name, n.state) for n in view.nodes()] == [
        ("alpha", READY), ("beta", DOWN), ("gamma", READY)]
    assert items[1]["Node"]["Addr"] == "unix:///run/alpha.sock"
    only = view.list_items(True, json.dumps({"node": ["beta"]}))
    assert [i["Names"] for i in only] == [["/beta/web"]]
    healthy = view.list_items(True, json.dumps({"health": ["healthy"]}))
    assert [i["Names"] for i in healthy] == [["/alpha/web"]]
    named = view.list_items(True, json.dumps({"name": ["^/alpha/"]}))
    assert len(named) == 2
    with pytest.raises(InvalidParameterError, match="invalid filter 'health=sick'"):
        view.list_items(True, json.dumps({"health": ["sick"]}))
    view.close()


def test_inspect_node_service_and_removed_services(
        fleet_url: str, stores: dict[str, NodeStore]) -> None:
    """``inspect node/service`` is the node's Docker inspect object named ``/node/service``
    with its ``Node``; a service the node no longer has is gone from the view."""
    web, db = _view("a", "web", HealthStatus.HEALTHY), _view("b", "db", None)
    _publish(stores["alpha"], web, db)
    view = FleetView(fleet_url, now_ns=lambda: T0)
    found = view.inspect("alpha", "web")
    assert found["Id"] == "a" * 64
    assert found["Name"] == "/alpha/web"
    assert found["State"]["Health"]["Status"] == "healthy"
    assert found["Node"] == {"Name": "alpha", "State": UNKNOWN, "Addr": "", "Heartbeat": "",
                             "Left": ""}
    assert view.inspect("alpha", "bbb")["Name"] == "/alpha/db"  # an ID prefix
    with pytest.raises(NotFoundError, match="No such service: beta/web"):
        view.inspect("beta", "web")
    with pytest.raises(NotFoundError, match="No such node: gamma"):
        view.inspect("gamma", "web")
    _publish(stores["alpha"], web)
    assert [i["Names"] for i in view.list_items(True, None)] == [["/alpha/web"]]
    view.close()


def test_history_goes_to_the_nodes_own_schema_and_positions_are_readable(
        fleet_url: str, stores: dict[str, NodeStore]) -> None:
    """Results and events land in the node's schema (the PostgreSQL store's tables), where
    the view reads them by position."""
    ref = TargetRef("a" * 64, "web")
    store = stores["alpha"]
    for i in range(3):
        store.append_event(ProbeCompleted(ref, T0 + i, ProbeResult(
            T0 + i - 5, T0 + i, 0, "ok", Outcome.PASS), HealthStatus.HEALTHY, 0))
    store.append_event(StatusChanged(ref, T0 + 3, HealthStatus.STARTING, HealthStatus.HEALTHY))
    assert store.flush(30)
    view = FleetView(fleet_url, now_ns=lambda: T0)
    schema = view.schema_of("alpha")
    assert schema == history_schema(store.fleet_schema, "alpha")
    assert view.newest(schema) == 4
    results, events = view.rows_after(schema, 1, 4, 100)
    assert [r[0] for r in results] == [2, 3]
    assert [e[0] for e in events] == [4]
    view.close()


def test_long_node_names_get_a_hashed_schema_within_postgres_limits() -> None:
    """Schema names stay within 63 bytes and differ per node."""
    a, b = history_schema("vigil_fleet", "n" * 100), history_schema("vigil_fleet", "n" * 99)
    assert len(a) <= 63
    assert len(b) <= 63
    assert a != b
    assert history_schema("vigil_fleet", "web1") == "vigil_fleet_web1"




def test_agents_starting_at_once_prepare_the_fleet_without_waiting_on_each_other(
        fleet_url: str) -> None:
    """Ten agents opening their node stores at the same moment (a fleet's cold start) each
    get their schema, directory row and triggers; none fails."""
    import threading

    opened: list[NodeStore] = []
    errors: list[BaseException] = []
    go = threading.Barrier(10)

    def open_one(i: int) -> None:
        go.wait(30)
        try:
            opened.append(NodeStore(fleet_url, node=f"n{i}"))
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == []
        view = FleetView(fleet_url, now_ns=lambda: T0)
        assert [n.name for n in view.nodes()] == [f"n{i}" for i in range(10)]
        view.close()
    finally:
        for store in opened:
            store.close()
