"""A fleet database outage, through a loopback proxy the test holds (never the machine's
server): the agent's history and service states wait in its bounded buffer, the outage is
reported, and everything is caught up when the database is back; past the bound, what is not
kept is counted. The publisher hands over only changed states, and none while the store is
behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.fleet.test_view import T0, _view
from tests.postgres import SERVER
from tests.store.tcpproxy import TcpProxy
from tests.store.test_postgres import _caught_up

from vigil.core.config import ServiceConfig
from vigil.core.events import ProbeCompleted, TargetRef
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.daemon.manager import Manager
from vigil.fleet.nodestore import KeepOnly, NodeStore
from vigil.fleet.publish import Publisher, service_state
from vigil.fleet.view import FleetView
from vigil.runtime.engine import Engine
from vigil.testing import FakeClock, ScriptedProbe

DEADLINE_S = 60.0
WEB = TargetRef("a" * 64, "web")


@pytest.fixture
def proxy(fleet_url: str) -> Iterator[TcpProxy]:
    with TcpProxy(SERVER) as p:
        yield p


def _through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))


def _probe(t: int) -> ProbeCompleted:
    return ProbeCompleted(WEB, T0 + t, ProbeResult(T0 + t - 5, T0 + t, 0, "", Outcome.PASS),
                          HealthStatus.HEALTHY, 0)


def _count(view: FleetView, node: str) -> int:
    schema = view.schema_of(node)
    assert schema is not None
    results, _ = view.rows_after(schema, 0, 1 << 62, 100_000)
    return len(results)


def test_an_outage_buffers_reports_and_catches_up_with_nothing_lost(
        fleet_url: str, proxy: TcpProxy) -> None:
    store = NodeStore(_through(proxy, fleet_url), node="alpha", io_timeout=2.0)
    view = FleetView(fleet_url, now_ns=lambda: T0)
    try:
        store.append_event(_probe(0))
        assert store.flush(DEADLINE_S)
        proxy.cut()
        for t in range(1, 2001):  # the agent keeps probing while the database is away
            store.append_event(_probe(t))
        store.put_state(KeepOnly(("a" * 64,)))
        store.put_state(service_state(_view("a", "web", HealthStatus.UNHEALTHY), T0))
        assert not store.flush(DEADLINE_S)
        assert store.problem is not None
        assert "rows wait to be written" in store.problem
        assert _count(view, "alpha") == 1
        proxy.restore()
        assert _caught_up(store)
        assert store.problem is None
        assert _count(view, "alpha") == 2001
        item, = view.list_items(True, None)
        assert item["Health"]["Status"] == "unhealthy"
    finally:
        store.close()
        view.close()


def test_past_the_bound_rows_are_counted_never_lost_silently(
        fleet_url: str, proxy: TcpProxy) -> None:
    store = NodeStore(_through(proxy, fleet_url), node="alpha", io_timeout=2.0,
                      pending_limit=5_000)
    try:
        proxy.cut()
        store.append_event(_probe(0))
        assert not store.flush(DEADLINE_S)  # the outage is seen: the rows wait
        for t in range(1, 12_001):  # past the bound even with a full batch in flight
            store.append_event(_probe(t))
        lost = store.writer.lost
        assert lost >= 12_001 - 2 * 5_000
        assert store.problem is not None
        assert f"{lost} rows were not kept" in store.problem
        proxy.restore()
        assert _caught_up(store)
        view = FleetView(fleet_url, now_ns=lambda: T0)
        assert _count(view, "alpha") == 12_001 - lost  # the rest, each once
        view.close()
    finally:
        store.close()


def test_the_publisher_hands_over_changes_only_and_holds_back_while_behind(
        fleet_url: str, proxy: TcpProxy, tmp_path: Path) -> None:
    clock = FakeClock()
    engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe([0]))
    manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
    store = NodeStore(_through(proxy, fleet_url), node="alpha", io_timeout=2.0)
    publisher = Publisher(manager, store, clock)
    try:
        manager.create(ServiceConfig(name="web"))
        assert publisher.publish() == 1
        assert publisher.publish() == 0  # nothing changed: nothing handed over
        manager.create(ServiceConfig(name="db"))
        assert publisher.publish() == 1
        assert store.flush(DEADLINE_S)
        view = FleetView(fleet_url, now_ns=clock.now_ns)
        assert {i["Names"][0] for i in view.list_items(True, None)} == {"/alpha/web",
                                                                        "/alpha/db"}
        proxy.cut()
        store.append_event(_probe(0))
        assert not store.flush(DEADLINE_S)  # writes fail: the store is behind
        manager.create(ServiceConfig(name="cache"))
        assert publisher.publish() == 0
        proxy.restore()
        assert _caught_up(store)
        assert publisher.publish() == 1  # the newest state, once caught up
        assert store.flush(DEADLINE_S)
        names = {i["Names"][0] for i in view.list_items(True, json.dumps({"node": ["alpha"]}))}
        assert names == {"/alpha/web", "/alpha/db", "/alpha/cache"}
        view.close()
    finally:
        store.close()


