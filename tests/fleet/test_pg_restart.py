"""Issue 11: stop PostgreSQL and start it again under a running fleet, and check nothing is
lost. The server is a private PostgreSQL 15 cluster the test creates (``tests/pgserver.py``),
never the machine's own at 127.0.0.1:5432.

Two ``vigil up`` agents (separate processes) each probe two local services every 200 ms (an
HTTP one against a loopback target that records which process sent each probe, and a
``CMD true``) and share one HTTP check. The server is stopped (``pg_ctl stop -m fast``),
kept down until each agent has probed on for a while, and started again on the same port.
Then (README "Fleet mode"):

- the agents kept probing their local services while it was down;
- every local result, those of the outage included, is in the database once, per service as
  many as the agent's own ``vigil history`` holds (nothing lost within the buffer bound);
- ``events --fleet`` on one agent, a stream opened before the outage, stays open through it
  and resumes: it delivers the other node's results of the outage and after, each once;
- the shared check stopped being probed during the outage (the lease ran out on the agent's
  own clock) and is probed again within 2 x TTL of the server's return, by one agent at a
  time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fleet.agents import Agent, ProbeTarget, max_gap, max_overlap, start_agent
from tests.pgserver import PrivateServer, private_server

from vigil.client import Client
from vigil.docker.mirror import parse_time
from vigil.fleet.nodestore import fleet_schema_of, history_schema

pytestmark = pytest.mark.slow

TTL_S = 3.0
RENEWAL_S = TTL_S / 3
INTERVAL_S = 0.2  # the local services'
ACTIVE_S = 0.75  # how long after a probe of the shared check (every 500 ms) its prober counts
OUTAGE_PROBES = 25  # each local service probes this many times while the server is down
SLACK_S = 1.5  # scheduling on a busy 2-core machine; the bounds themselves are the README's
WAIT_S = 90.0  # generous: never reached when things work
NODES = ("n1", "n2")
SERVICES = ("web", "cmd")


def _until(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)  # polling a condition, bounded by the deadline
    pytest.fail(f"not within {timeout_s} s: {what}")


def _config(target: ProbeTarget, node: str) -> str:
    return ("services:\n"
            f"  web:\n    healthcheck:\n      test: [HTTP, '{target.url('local-' + node)}']\n"
            f"      interval: 200ms\n      timeout: 2s\n"
            "  cmd:\n    healthcheck:\n      test: [CMD, 'true']\n      interval: 200ms\n"
            f"checks:\n  shared: {{test: [HTTP, '{target.url('shared')}'], interval: 500ms,"
            " timeout: 2s}\n")


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    with private_server() as s:
        yield s


class FleetStream:
    """``events --fleet`` on one agent, read by a thread: (arrival, event) pairs."""

    def __init__(self, agent: Agent, node: str) -> None:
        self.got: list[dict[str, Any]] = []
        self.ended = threading.Event()
        self._client = Client(agent.host)
        until = f"{time.time() + 600:.9f}"
        self._events = self._client.events(until=until, fleet=True, filters={
            "node": [node], "event": ["health_probe"]})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._events:
                self.got.append(event)
        except Exception as e:  # the agent stopped: the stream ends
            self.error = e
        finally:
            self.ended.set()

    def times(self, name: str) -> list[int]:
        return [int(e["timeNano"]) for e in list(self.got)
                if e["Actor"]["Attributes"]["name"] == name]

    def close(self) -> None:
        self._thread.join(20)  # ends with the agent's streams (vigil down)
        self._client.close()


def _fleet_rows(server: PrivateServer, schema: str, service_id: str) -> list[tuple[int, int]]:
    """(start_ns, time_ns) of every result of the service the node wrote to the fleet."""
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        rows = conn.execute(f'SELECT start_ns, time_ns FROM "{schema}".results '
                            "WHERE target_id = %s", (service_id,)).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def _local_starts(agent: Agent, service: str) -> list[int]:
    """What the agent's own ``vigil history`` holds (its memory store, --ephemeral)."""
    return [parse_time(e["Start"]) for e in agent.client.history(service, limit=10_000)]


def test_a_postgresql_restart_loses_nothing_and_the_fleet_resumes(
        tmp_path: Path, server: PrivateServer) -> None:
    url = f"{server.url}?schema=vigil_fleet"
    fleet_schema = fleet_schema_of(url)
    agents: dict[str, Agent] = {}
    target = ProbeTarget(lambda: [a.pid for a in agents.values() if a.alive])
    stream: FleetStream | None = None
    began = time.monotonic()
    try:
        for node in NODES:
            agents[node] = start_agent(tmp_path / node, _config(target, node), node=node,
                                       fleet_url=url, lease_ttl=f"{TTL_S:g}s")
        ids = {(node, s): agents[node].client.inspect(s)["Id"]
               for node in NODES for s in SERVICES}
        stream = FleetStream(agents["n1"], "n2")
        # steady: the stream delivers, the shared check is probed, every service has results
        _until(lambda: stream.times("n2/cmd"), "events --fleet delivering n2's results")
        _until(lambda: target.probers_since(began).get("shared"), "the shared check probed")
        _until(lambda: all(len(_local_starts(agents[n], s)) >= 3
                           for n in NODES for s in SERVICES), "local results")

        down_ns, down_at = time.time_ns(), time.monotonic()
        server.stop()
        stopped_at = time.monotonic()
        for node, agent in agents.items():  # they probe on, and say the fleet store lags
            for service in SERVICES:
                _until(lambda a=agent, s=service: sum(
                    t >= down_ns for t in _local_starts(a, s)) >= OUTAGE_PROBES,
                       f"{node}/{service} probing on while the server is down")
            _until(lambda a=agent: any("fleet store" in w for w in a.client.info()["Warnings"]),
                   f"{node} reporting the fleet store's outage")
        streamed_in_outage = len(stream.got)
        assert not stream.ended.is_set(), "events --fleet ended during the outage"
        server.start()
        up_ns, back_at = time.time_ns(), time.monotonic()
        outage_s = back_at - down_at
        print(f"\nserver down {outage_s:.1f} s (stop took {stopped_at - down_at:.2f} s)")

        # the shared check: probed again within 2 x TTL, by one agent at a time
        def first_after() -> float | None:
            later = [p.at for p in target.snapshot() if p.check == "shared" and p.at > back_at]
            return min(later) if later else None

        resumed_at = _until(first_after, "the shared check probed again")
        before = [p.at for p in target.snapshot() if p.check == "shared" and p.at < back_at]
        stopped_probing = max(before) - down_at
        print(f"shared check: last probe {stopped_probing:.2f} s into the outage, "
              f"probed again {resumed_at - back_at:.2f} s after the server was back")
        assert stopped_probing <= 0.8 * TTL_S + SLACK_S  # probes end at s + TTL - TTL/5
        assert resumed_at - back_at <= 2 * TTL_S

        # nothing lost: every local result is in the fleet once, per service
        for node, agent in agents.items():
            schema = history_schema(fleet_schema, node)
            for service in SERVICES:
                local = _local_starts(agent, service)
                assert len(local) == len(set(local))

                def written(n: str = node, s: str = service, want: list[int] = local,
                            where: str = schema) -> bool:
                    return set(want) <= {r[0] for r in _fleet_rows(server, where, ids[(n, s)])}

                _until(written, f"{node}/{service}: every local result in the fleet")
                rows = [r[0] for r in _fleet_rows(server, schema, ids[(node, service)])]
                window = Counter(t for t in rows if local[0] <= t <= local[-1])
                assert max(window.values()) == 1, f"{node}/{service}: written twice"
                assert len(window) == len(local), f"{node}/{service}: fleet and history differ"
                during = [t for t in local if down_ns <= t <= up_ns]
                assert len(during) >= OUTAGE_PROBES
                print(f"{node}/{service}: {len(local)} results in history and fleet, "
                      f"{len(during)} during the outage")
            _until(lambda a=agent: not any("fleet store" in w
                                           for w in a.client.info()["Warnings"]),
                   f"{node}: the fleet store's warning gone once caught up")
            assert "were not kept" not in " ".join(agent.client.info()["Warnings"])
        # the HTTP services' probes, as the target saw them: no pause during the outage
        gaps = max_gap([p for p in target.snapshot() if p.check.startswith("local-")],
                       down_at, back_at)
        print("longest pause of a local probe during the outage: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(gaps.items())))
        assert set(gaps) == {f"local-{n}" for n in NODES}
        assert max(gaps.values()) <= 10 * INTERVAL_S + SLACK_S

        # events --fleet resumed: n2's results of the outage and after, each once
        n2_cmd = ids[("n2", "cmd")]
        first_streamed = stream.times("n2/cmd")[0]
        cutoff = max(r[1] for r in _fleet_rows(server, history_schema(fleet_schema, "n2"),
                                               n2_cmd))
        wanted = sorted(r[1] for r in _fleet_rows(server, history_schema(fleet_schema, "n2"),
                                                  n2_cmd) if first_streamed <= r[1] <= cutoff)
        _until(lambda: set(wanted) <= set(stream.times("n2/cmd")),
               "events --fleet delivering n2's results of the outage and after")
        delivered = Counter(t for t in stream.times("n2/cmd") if t <= cutoff)
        assert max(delivered.values()) == 1, "events --fleet delivered a result twice"
        assert sorted(delivered) == wanted
        assert sum(down_ns <= t <= up_ns for t in delivered) >= OUTAGE_PROBES
        print(f"events --fleet: {streamed_in_outage} events before the restart, "
              f"{len(wanted)} n2/cmd results delivered in all")

        # one prober at a time from the restart on (a hand-off may move it once)
        since_back = [p for p in target.snapshot() if p.check == "shared" and p.at > back_at]
        assert all(p.pid in {a.pid for a in agents.values()} for p in since_back)
        overlap = max_overlap(since_back, ACTIVE_S).get("shared", 0.0)
        print(f"shared check after the restart: probed by {len({p.pid for p in since_back})}"
              f" agent(s), overlapping {overlap:.2f} s")
        assert overlap <= RENEWAL_S + ACTIVE_S
    finally:
        errors = []
        for agent in agents.values():
            try:
                agent.stop()
            except AssertionError as e:
                errors.append(e)
        if stream is not None:
            stream.close()
        target.close()
        print(f"test ran {time.monotonic() - began:.1f} s")
    assert errors == []
