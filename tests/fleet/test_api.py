"""The ``/fleet`` routes and the page's ``/api/fleet`` over a real fleet database, in memory
(ASGI): the shapes, Docker's errors, 503 outside fleet mode, and the fleet store's problem in
``/info``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.fleet.conftest import beat
from tests.fleet.test_view import T0, _publish, _view

from vigil.api import create_app
from vigil.api.fleet import Fleet
from vigil.core.status import HealthStatus
from vigil.daemon.manager import Manager
from vigil.fleet.listen import FleetEvents
from vigil.fleet.nodestore import NodeStore
from vigil.fleet.view import FleetView
from vigil.runtime.engine import Engine
from vigil.testing import FakeClock, ScriptedProbe
from vigil.web import create_web_app


@pytest.fixture
def manager(tmp_path: Path) -> Manager:
    clock = FakeClock(start_ns=T0 + 60_000_000_000)
    engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe([0]))
    return Manager(clock=clock, engine=engine, log_dir=tmp_path)


@pytest.fixture
def fleet(fleet_url: str, manager: Manager) -> Iterator[Fleet]:
    store = NodeStore(fleet_url, node="alpha")
    _publish(store, _view("a", "web", HealthStatus.HEALTHY))
    beat(fleet_url, "alpha", 0)
    view = FleetView(fleet_url, now_ns=manager.clock.now_ns)
    yield Fleet("alpha", view, FleetEvents(view), lambda: "writes to x are failing")
    view.close()
    store.close()


def _get(app: object, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_fleet_routes_answer_docker_shapes(manager: Manager, fleet: Fleet) -> None:
    app = create_app(manager, fleet=fleet)
    listed, one, nodes, missing, bad, info = _get(
        app, "/fleet/services/json?all=1", "/fleet/services/alpha/web/json", "/fleet/nodes",
        "/fleet/services/alpha/nope/json", '/fleet/services/json?filters={"health":["x"]}',
        "/info")
    assert listed.status_code == 200
    assert [i["Names"] for i in listed.json()] == [["/alpha/web"]]
    assert listed.json()[0]["Node"]["State"] == "ready"
    assert one.json()["Name"] == "/alpha/web"
    assert [n["Name"] for n in nodes.json()] == ["alpha"]
    assert missing.status_code == 404
    assert missing.json() == {"message": "No such service: alpha/nope"}
    assert bad.status_code == 400
    assert "invalid filter 'health=x'" in bad.json()["message"]
    assert "fleet store: writes to x are failing" in info.json()["Warnings"]


def test_the_page_groups_services_by_node(manager: Manager, fleet: Fleet) -> None:
    app = create_web_app(manager, token="t" * 32, fleet=fleet)
    page, data = _get(app, "/fleet", "/api/fleet")
    assert page.status_code == 200
    assert "page.js" in page.text
    body = data.json()
    assert body["node"] == "alpha"
    assert [(n["Name"], n["State"], [s["Names"][0] for s in n["Services"]])
            for n in body["nodes"]] == [("alpha", "ready", ["/alpha/web"])]


def test_without_fleet_mode_the_routes_answer_503(manager: Manager) -> None:
    answers = _get(create_app(manager), "/fleet/nodes", "/fleet/services/json",
                   "/fleet/services/a/b/json", "/fleet/events")
    assert {a.status_code for a in answers} == {503}
    assert "not in fleet mode" in answers[0].json()["message"]
    page = _get(create_web_app(manager, token="t" * 32), "/api/fleet")[0]
    assert page.status_code == 503
