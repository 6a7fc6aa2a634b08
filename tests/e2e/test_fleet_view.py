"""End to end: three ``vigil up`` agents of one fleet, each with local services, on the real
PostgreSQL (127.0.0.1:5432, a fleet schema of this test's own, dropped after). ``ps --fleet``
and ``events --fleet`` from any agent show every node's services; an agent killed -9 is shown
down once its lease TTL passed. Skips with one line when there is no server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import start_daemon, stop_daemon
from tests.fleet.conftest import fresh_fleet
from tests.postgres import URL

pytestmark = pytest.mark.slow
Daemon = Any  # tests/e2e/conftest.py's Daemon
WAIT_S = 60.0  # generous: a busy 2-core machine; conditions end the waits, never the clock
NODES = ("alpha", "beta", "gamma")


@pytest.fixture
def fleet_url() -> Iterator[str]:
    with fresh_fleet() as url:
        yield url


def _config(url: str, node: str) -> str:
    return (f"fleet: {{url: '{url}', node: {node}, lease_ttl: 2s}}\n"
            "services:\n"
            f"  web:\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 200ms\n"
            f"  {node}-db:\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n"
            "      interval: 200ms\n      retries: 1\n"
            "checks:\n  pg:\n    test: [\"TCP\", \"127.0.0.1:5432\"]\n    interval: 1s\n")


@pytest.fixture
def agents(tmp_path: Path, fleet_url: str) -> Iterator[dict[str, Daemon]]:
    started: dict[str, Daemon] = {}
    try:
        for node in NODES:
            (tmp_path / node).mkdir()
            started[node] = start_daemon(tmp_path / node, _config(fleet_url, node))
        yield started
    finally:
        for daemon in started.values():
            stop_daemon(daemon)


def _until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)  # polling a condition, bounded by the deadline
    pytest.fail(f"not within {WAIT_S} s: {what}")


def _names(daemon: Daemon, **filters: list[str]) -> set[str]:
    items = daemon.client.fleet_services(all=True, filters=filters or None)
    return {item["Names"][0] for item in items}


def _only_services_and_the_check(names: set[str], services: set[str]) -> bool:
    """Every service listed, and nothing else but the shared check under its owner."""
    return services <= names and all(n.endswith("/check/pg") for n in names - services)


def test_every_agent_shows_the_whole_fleet_and_a_killed_node_goes_down(
        agents: dict[str, Daemon]) -> None:
    everyone = {f"/{node}/{name}" for node in NODES for name in ("web", f"{node}-db")}
    for daemon in agents.values():
        _until(lambda d=daemon: _only_services_and_the_check(_names(d), everyone),
               "every node's services in ps --fleet")
    # the shared check shows once, under the node that holds it
    held = _until(lambda: [n for n in _names(agents["alpha"]) if n.endswith("/check/pg")],
                  "the shared check listed under its owner")
    assert len(held) == 1
    alpha = agents["alpha"]
    assert _names(alpha, node=["beta"]) - {"/beta/check/pg"} == {"/beta/web", "/beta/beta-db"}
    unhealthy = _until(lambda: _names(alpha, health=["unhealthy"]) == {
        f"/{n}/{n}-db" for n in NODES}, "the failing services unhealthy fleet-wide")
    assert unhealthy
    # the CLI, as a user types it, on another agent
    env = {**os.environ, "VIGIL_HOST": agents["gamma"].host}
    shown = subprocess.run([sys.executable, "-m", "vigil", "ps", "--fleet", "-a", "--format",
                            "json", "--filter", "node=alpha"], env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert {json.loads(line)["Names"] for line in shown.stdout.splitlines()} - {
        "alpha/check/pg"} == {"alpha/web", "alpha/alpha-db"}
    inspected = subprocess.run([sys.executable, "-m", "vigil", "inspect", "beta/web"],
                               env=env, capture_output=True, text=True, timeout=60, check=False)
    assert inspected.returncode == 0, inspected.stderr
    found = json.loads(inspected.stdout)[0]
    assert found["Name"] == "/beta/web"
    assert found["Node"]["State"] == "ready"
    assert found["State"]["Health"]["Status"] == "healthy"

    gamma = agents["gamma"]
    os.kill(gamma.pid, signal.SIGKILL)
    gamma.stopped = True

    def gamma_down() -> bool:
        nodes = {n["Name"]: n["State"] for n in alpha.client.fleet_nodes()}
        return nodes.get("gamma") == "down" and nodes.get("alpha") == "ready"

    _until(gamma_down, "gamma shown down after its 2 s lease TTL")
    items = alpha.client.fleet_services(all=True, filters={"node": ["gamma"]})
    assert {item["Node"]["State"] for item in items} == {"down"}


def test_events_fleet_from_any_agent_carries_every_nodes_events(
        agents: dict[str, Daemon]) -> None:
    seen: dict[str, set[str]] = {}
    until = f"{time.time() + WAIT_S:.9f}"
    stream = agents["beta"].client.events(until=until, fleet=True,
                                          filters={"event": ["health_probe"]})
    for event in stream:
        attributes = event["Actor"]["Attributes"]
        seen.setdefault(attributes["node"], set()).add(attributes["name"])
        if len(seen) == len(NODES) and all(
                {f"{n}/web", f"{n}/{n}-db"} <= names for n, names in seen.items()):
            break
    assert {n: names - {f"{n}/check/pg"} for n, names in seen.items()} == {
        node: {f"{node}/web", f"{node}/{node}-db"} for node in NODES}
    only = agents["alpha"].client.events(until=f"{time.time() + WAIT_S:.9f}", fleet=True,
                                         filters={"node": ["gamma"]})
    first = next(iter(only))
    assert first["Actor"]["Attributes"]["node"] == "gamma"


def test_a_database_outage_is_buffered_and_caught_up_with_nothing_lost(
        tmp_path: Path, fleet_url: str) -> None:
    """The agent reaches the fleet database through a proxy the test cuts: it keeps probing
    its local service; once the proxy forwards again, the fleet holds every result its own
    history holds, each once."""
    import psycopg
    from tests.postgres import SERVER
    from tests.store.tcpproxy import TcpProxy

    from vigil.fleet.nodestore import fleet_schema_of, history_schema

    with TcpProxy(SERVER) as proxy:
        parts = fleet_url.split("@", 1)
        via = f"{parts[0]}@127.0.0.1:{proxy.port}/{parts[1].split('/', 1)[1]}"
        (tmp_path / "delta").mkdir()
        agent = start_daemon(tmp_path / "delta", _config(via, "delta"))
        try:
            service_id = agent.client.inspect("web")["Id"]

            def local() -> list[str]:
                return [e["Start"] for e in agent.client.history("web", limit=10_000)]

            _until(lambda: len(local()) >= 3, "probes before the outage")
            proxy.cut()
            before = len(local())
            _until(lambda: len(local()) >= before + 20, "probing on through the outage")
            proxy.restore()
            wanted = set(local())
            schema = history_schema(fleet_schema_of(fleet_url), "delta")

            def fleet_has_all() -> bool:
                with psycopg.connect(URL) as conn:
                    rows = conn.execute(
                        f'SELECT start_ns FROM "{schema}".results WHERE target_id = %s',
                        (service_id,)).fetchall()
                return len(rows) == len({r[0] for r in rows}) and len(rows) >= len(wanted)

            _until(fleet_has_all, "every buffered result written once")
            assert "fleet store" not in " ".join(agent.client.info()["Warnings"])
        finally:
            stop_daemon(agent)
