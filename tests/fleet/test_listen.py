"""``events --fleet``: every node's events reach a subscriber through LISTEN/NOTIFY, named
``node/service`` with a ``node`` attribute, filtered by node, and a slow reader is cut off."""

from __future__ import annotations

import asyncio
import json

from vigil.core.events import ProbeCompleted, StatusChanged, TargetDied, TargetRef
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.docker.events import EventFilter
from vigil.fleet.listen import FleetEvents, parse_fleet_event_filter
from vigil.fleet.nodestore import NodeStore
from vigil.fleet.view import FleetView
from vigil.go.duration import SECOND

T0 = 1_700_000_000 * SECOND
DEADLINE_S = 60.0
WEB = TargetRef("a" * 64, "web")


def _probe(t: int, code: int = 0) -> ProbeCompleted:
    return ProbeCompleted(WEB, T0 + t, ProbeResult(T0 + t - 5, T0 + t, code, "",
                                                   Outcome.PASS if code == 0 else Outcome.FAIL),
                          HealthStatus.HEALTHY, 0)


async def _collect(sub: object, count: int) -> list[dict[str, object]]:
    got = []
    async with asyncio.timeout(DEADLINE_S):
        async for event in sub:  # type: ignore[attr-defined]
            got.append(event.to_json())
            if len(got) == count:
                break
    return got


def test_events_of_every_node_arrive_live_named_node_slash_service(
        fleet_url: str, stores: dict[str, NodeStore]) -> None:
    """Events written before the stream opened are not replayed; those after arrive from
    both nodes in each node's order, with the ``node`` filter applied."""
    asyncio.run(_two_nodes(fleet_url, stores))


async def _two_nodes(fleet_url: str, stores: dict[str, NodeStore]) -> None:
    stores["alpha"].append_event(_probe(0))
    assert stores["alpha"].flush(30)
    view = FleetView(fleet_url, now_ns=lambda: T0)
    hub = FleetEvents(view)
    every = hub.subscribe(EventFilter(), [])
    check, nodes = parse_fleet_event_filter(json.dumps({"node": ["beta"]}))
    betas = hub.subscribe(check, nodes)
    await asyncio.to_thread(hub.listening.wait, DEADLINE_S)
    stores["alpha"].append_event(_probe(1, code=1))
    stores["beta"].append_event(StatusChanged(WEB, T0 + 2, HealthStatus.STARTING,
                                              HealthStatus.HEALTHY))
    stores["alpha"].append_event(TargetDied(WEB, T0 + 3, exit_code=3))
    for store in stores.values():
        assert store.flush(30)
    got = await _collect(every, 3)
    beta = await _collect(betas, 1)
    hub.close()
    await asyncio.to_thread(hub.join)
    view.close()
    alpha = [e for e in got if e["Actor"]["Attributes"]["node"] == "alpha"]  # type: ignore[index]
    assert [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in alpha] == [  # type: ignore[index]
        ("health_probe", "alpha/web"), ("die", "alpha/web")]
    assert alpha[0]["Actor"]["Attributes"]["exitCode"] == "1"  # type: ignore[index]
    assert [e["Action"] for e in beta] == ["health_status: healthy"]
    assert beta[0]["Actor"]["ID"] == "a" * 64


def test_a_reader_too_far_behind_is_cut_off_with_a_reason(
        fleet_url: str, stores: dict[str, NodeStore]) -> None:
    """Subscriber queues are bounded: past the limit the stream closes, saying why."""
    asyncio.run(_slow_reader(fleet_url, stores))


async def _slow_reader(fleet_url: str, stores: dict[str, NodeStore]) -> None:
    view = FleetView(fleet_url, now_ns=lambda: T0)
    hub = FleetEvents(view, queue_limit=5)
    slow = hub.subscribe(EventFilter(), [])
    await asyncio.to_thread(hub.listening.wait, DEADLINE_S)
    for i in range(20):
        stores["alpha"].append_event(_probe(i))
    assert stores["alpha"].flush(30)
    got = await _collect(slow, 100)  # ends when the stream closes
    hub.close()
    await asyncio.to_thread(hub.join)
    view.close()
    assert len(got) == 5
    assert slow.close_reason is not None
    assert "too slow" in slow.close_reason
