"""Fleet mode end to end: three or more ``vigil up`` agents (separate processes) sharing the
real PostgreSQL (127.0.0.1:5432, a schema per test), probing shared HTTP checks of a target
on loopback that records which process sent each probe.

The guarantees under test (README "Fleet mode"): no check is probed by two agents at once
for longer than one lease renewal; none is left unprobed for longer than 2 x TTL after its
agent dies; an agent cut off from the database stops probing before its leases can be taken
over, and its stale writes are refused; a rolling restart keeps every check probed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fleet.agents import (
    Agent,
    ProbeTarget,
    max_gap,
    max_overlap,
    start_agent,
)
from tests.postgres import SERVER, URL
from tests.store.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow

TTL_S = 3.0
TTL = "3s"
RENEWAL_S = TTL_S / 3  # one heartbeat: every renewal
INTERVAL_S = 0.5
CHECKS = [f"c{i}" for i in range(6)]
SLACK_S = 1.5  # scheduling on a busy 2-core machine; the bounds themselves are the README's


@pytest.fixture
def fleet(tmp_path: Path, schema: str) -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []
    target_holder: list[ProbeTarget] = []

    def start(node: str, *, url: str | None = None) -> Agent:
        target = target_holder[0]
        checks = "".join(
            f"  {name}: {{test: [HTTP, '{target.url(name)}'], interval: 500ms,"
            " timeout: 2s}\n" for name in CHECKS)
        agent = start_agent(tmp_path / f"{node}-{len(agents)}", f"checks:\n{checks}",
                            node=node, fleet_url=url or f"{URL}?schema={schema}",
                            lease_ttl=TTL)
        agents.append(agent)
        return agent

    target = ProbeTarget(lambda: [a.pid for a in agents if a.alive])
    target_holder.append(target)
    start.target = target  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        errors = []
        for agent in agents:
            try:
                agent.stop()
            except AssertionError as e:
                errors.append(e)
        target.close()
        assert errors == []


def _owners(schema: str) -> dict[str, tuple[str | None, int, int]]:
    import psycopg

    with psycopg.connect(URL, autocommit=True) as conn:
        rows = conn.execute(f'SELECT name, owner, epoch, health_epoch FROM "{schema}".checks'
                            ).fetchall()
    return {str(r[0]): (r[1], int(r[2]), int(r[3])) for r in rows}


def _health(schema: str, check: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(URL, autocommit=True) as conn:
        row = conn.execute(f'SELECT health FROM "{schema}".checks WHERE name = %s',
                           (check,)).fetchone()
    assert row is not None
    health: dict[str, Any] = row[0]
    return health


def _actions_since(agent: Agent, target: str, since_ns: int) -> list[str]:
    until = f"{time.time():.9f}"
    return [str(event["Action"]) for event in agent.client.events(
        since=f"{since_ns / 1e9:.9f}", until=until)
        if event["Actor"]["Attributes"].get("name") == target]  # type: ignore[index,union-attr]


def _log_moved(schema: str, check: str, since_ns: int) -> bool:
    """Watch the stored Log until it holds results from after ``since_ns``: True when it
    still holds older ones too (it moved), False when it is all new (it started afresh)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        starts = [entry["Start"] for entry in _health(schema, check)["Log"]]
        new = [start for start in starts if start > since_ns]
        if new:
            return len(new) < len(starts)
        time.sleep(0.02)
    raise AssertionError(f"no new result of {check} stored in 60s")


def _all_probed_by(target: ProbeTarget, pids: set[int], since: float) -> bool:
    seen = target.probers_since(since)
    return all(seen.get(name) and seen[name] <= pids for name in CHECKS)


def _steady(target: ProbeTarget, agents: list[Agent]) -> None:
    """Wait until every check is probed, only by live agents, and rebalanced (each agent
    probes some); then one more renewal so hand-offs are done."""
    pids = {a.pid for a in agents if a.alive}

    def balanced() -> bool:
        since = time.monotonic() - 2 * INTERVAL_S - 0.5
        seen = target.probers_since(since)
        probers = set().union(*seen.values()) if seen else set()
        return (_all_probed_by(target, pids, since)
                and all(len(seen[name]) == 1 for name in CHECKS) and probers == pids)

    target.wait_until(balanced, f"every check probed once by one of {sorted(pids)}")


def test_kill_9_fails_over_within_two_ttl_without_double_probing(
        fleet: Any, schema: str) -> None:
    """Three agents share six checks; kill -9 of one moves its checks to the others within
    2 x TTL, health and Log moving with them; no check is ever probed by two at once for
    longer than a renewal."""
    target: ProbeTarget = fleet.target
    agents = [fleet(node) for node in ("n1", "n2", "n3")]
    _steady(target, agents)
    owners = _owners(schema)
    victim = max(agents, key=lambda a: sum(o[0] == a.node for o in owners.values()))
    moved = [name for name, (owner, _, _) in owners.items() if owner == victim.node]
    assert moved
    killed_at = time.monotonic()
    killed_wall_ns = time.time_ns()
    victim.kill9()
    survivors = {a.pid for a in agents if a.alive}

    def taken_over() -> bool:
        seen = target.probers_since(killed_at)
        return all(seen.get(name, set()) & survivors for name in moved)

    target.wait_until(taken_over, "the survivors to probe the dead agent's checks")
    probes = target.snapshot()
    failover = {name: min(p.at for p in probes if p.check == name and p.at >= killed_at
                          and p.pid in survivors) - killed_at for name in moved}
    print(f"failover after kill -9 (TTL {TTL}): "
          + " ".join(f"{n}={t:.2f}s" for n, t in sorted(failover.items())))
    assert max(failover.values()) <= 2 * TTL_S, failover
    after = _owners(schema)
    for name in moved:
        owner, epoch, _health_epoch = after[name]
        assert owner != victim.node
        assert epoch > owners[name][1]
    for name in CHECKS:  # every health row written under the current epoch, or the last
        assert after[name][2] <= after[name][1]
    overlap = max_overlap(probes, active_s=1.5 * INTERVAL_S)
    print("longest double probing per check: "
          + " ".join(f"{n}={t:.2f}s" for n, t in sorted(overlap.items())))
    assert max(overlap.values()) <= RENEWAL_S + 1.5 * INTERVAL_S + SLACK_S, overlap
    for name in moved:  # the Log moved with the check: the new owner's first results are
        assert _log_moved(schema, name, killed_wall_ns)  # stored after the old owner's
    by_node = {a.node: a for a in agents if a.alive}
    for name in moved:  # taken over healthy: created on the new owner, no status event again
        actions = _actions_since(by_node[after[name][0] or ""], f"check/{name}", killed_wall_ns)
        assert "create" in actions
        assert [a for a in actions if a.startswith("health_status")] == []
        owner = by_node[after[name][0] or ""]  # ps and inspect show it with its health
        listed = {str(s["Names"][0]): s for s in owner.client.list_services()}  # type: ignore[index]
        assert "(healthy)" in str(listed[f"/check/{name}"]["Status"])
        shown = owner.client.inspect(str(listed[f"/check/{name}"]["Id"]))
        assert shown["State"]["Health"]["Status"] == "healthy"  # type: ignore[index]


def test_an_agent_cut_off_from_the_database_stops_probing_and_is_fenced(
        fleet: Any, schema: str) -> None:
    """Black-holing one agent's database connection: it stops probing before its leases
    expire, another agent takes them over, and when the network is back its leases are
    gone (epochs moved on; no stale health lands) and it joins again."""
    target: ProbeTarget = fleet.target
    with TcpProxy(SERVER) as proxy:
        cut = fleet("cut", url=f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
                               f"?schema={schema}")
        agents = [cut, fleet("n2"), fleet("n3")]
        _steady(target, agents)
        owners = _owners(schema)
        held = [name for name, (owner, _, _) in owners.items() if owner == "cut"]
        assert held
        proxy.blackhole()
        cut_at = time.monotonic()
        others = {a.pid for a in agents if a is not cut}

        def taken_over() -> bool:
            seen = target.probers_since(cut_at)
            return all(seen.get(name, set()) & others for name in held)

        target.wait_until(taken_over, "the other agents to take the cut-off agent's checks")
        taken_at = time.monotonic()
        stopped = max((p.at for p in target.snapshot() if p.pid == cut.pid), default=cut_at)
        print(f"cut off (TTL {TTL}): last probe of the cut-off agent {stopped - cut_at:.2f}s "
              f"after the cut, all its checks taken over after {taken_at - cut_at:.2f}s")
        late = [p for p in target.snapshot() if p.pid == cut.pid and p.at > cut_at + TTL_S]
        assert late == [], "the cut-off agent probed after its lease could expire"
        assert taken_at - cut_at <= 2 * TTL_S + SLACK_S
        assert "leases not renewed in time" in cut.log()
        proxy.restore()

        def rejoined() -> bool:
            return "the database answers again" in cut.log()

        target.wait_until(rejoined, "the cut-off agent to reach the database again")
        after = _owners(schema)
        for name in held:
            assert after[name][1] > owners[name][1]  # every claim moved the epoch on
        for name in CHECKS:
            assert after[name][2] <= after[name][1]
        _steady(target, agents)  # it gets its share back, probing again
        overlap = max_overlap(target.snapshot(), active_s=1.5 * INTERVAL_S)
        assert max(overlap.values()) <= RENEWAL_S + 1.5 * INTERVAL_S + SLACK_S, overlap


def test_a_rolling_restart_keeps_every_check_probed(fleet: Any, schema: str) -> None:
    """Restarting the agents one by one (``vigil down``, ``vigil up``): at every moment each
    check is probed; a leaving agent releases its leases for the others at once."""
    target: ProbeTarget = fleet.target
    agents = [fleet(node) for node in ("n1", "n2", "n3")]
    _steady(target, agents)
    began = time.monotonic()
    for index in range(len(agents)):
        old = agents[index]
        old.stop()
        agents[index] = fleet(old.node)
        _steady(target, agents)
    ended = time.monotonic()
    gaps = max_gap(target.snapshot(), began, ended)
    print("longest gap per check in a rolling restart: "
          + " ".join(f"{n}={t:.2f}s" for n, t in sorted(gaps.items())))
    assert set(gaps) == set(CHECKS)
    assert max(gaps.values()) <= RENEWAL_S + INTERVAL_S + SLACK_S, gaps
