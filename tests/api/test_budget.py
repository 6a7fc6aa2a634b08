"""The API's share of the loop: token-bucket lanes on a fake clock, and the middleware."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from vigil import Engine
from vigil.api import create_app
from vigil.api.budget import (
    LAG_LIMIT_NS,
    LAG_PERIOD_NS,
    MIN_SCALE,
    PER_EVENT_NS,
    PER_SERVICE_NS,
    SCALE_STEP,
    SMALL_COST_NS,
    ApiBudget,
    Lane,
)
from vigil.daemon.manager import Manager
from vigil.go.duration import MILLISECOND, SECOND
from vigil.testing import FakeClock, settle


def test_a_burst_passes_at_once_then_requests_wait_their_turn_in_order() -> None:
    """Up to the burst, no wait; in debt, waiters go in arrival order as the refill (share of
    the clock) pays the debt off."""

    async def body() -> None:
        clock = FakeClock()
        lane = Lane(clock, share=0.5, burst_ns=10 * MILLISECOND)
        await lane.take(12 * MILLISECOND)  # the bucket was full: granted, now 2 ms in debt
        assert lane.tokens_ns == -2 * MILLISECOND
        done: list[str] = []

        async def client(name: str) -> None:
            await lane.take(MILLISECOND)
            done.append(name)

        tasks = [asyncio.ensure_future(client(name)) for name in ("a", "b")]
        await settle()
        assert (done, lane.waiting) == ([], 2)
        await clock.run_for(4 * MILLISECOND + 1)  # 2 ms refilled: debt paid, "a" goes
        assert done == ["a"]
        await clock.run_for(2 * MILLISECOND + 2)  # "a" put it 1 ms in debt again
        assert done == ["a", "b"]
        await asyncio.gather(*tasks)

    asyncio.run(body())


def test_a_cancelled_waiter_takes_nothing() -> None:
    """A client that goes away while waiting leaves the bucket as it was."""

    async def body() -> None:
        clock = FakeClock()
        lane = Lane(clock, share=1.0, burst_ns=MILLISECOND)
        await lane.take(2 * MILLISECOND)
        waiting = asyncio.ensure_future(lane.take(5 * MILLISECOND))
        await settle()
        waiting.cancel()
        await settle()
        assert (lane.waiting, lane.tokens_ns) == (0, -MILLISECOND)

    asyncio.run(body())


def test_the_lanes_are_apart_bulk_debt_does_not_delay_small_requests() -> None:
    """However deep the bulk lane is in debt, a small request passes at once."""

    async def body() -> None:
        budget = ApiBudget(FakeClock())
        await budget.bulk.take(10 * 1000 * MILLISECOND)
        await asyncio.wait_for(budget.small.take(SMALL_COST_NS), timeout=1)

    asyncio.run(body())


@pytest.mark.parametrize("share", [0.0, 1.5])
def test_bad_shares_are_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        Lane(FakeClock(), share)


def test_requests_take_from_the_lane_of_their_route(tmp_path: Path) -> None:
    """Every request costs ``SMALL_COST_NS`` of its lane; a list also its services' cost,
    in the bulk lane; a replay also its events' cost, in the bulk lane."""

    async def body() -> None:
        clock = FakeClock()
        manager = Manager(clock=clock, engine=Engine(clock=clock), log_dir=tmp_path)
        budget = ApiBudget(clock)
        app = create_app(manager, budget=budget)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            created = await client.post("/services/create?name=web", json={})
            assert created.status_code == 201
            small, bulk = budget.small.tokens_ns, budget.bulk.tokens_ns
            assert (await client.get("/_ping")).status_code == 200
            assert budget.small.tokens_ns == small - SMALL_COST_NS
            assert (await client.get("/services/json?all=1")).status_code == 200
            assert budget.small.tokens_ns == small - SMALL_COST_NS
            assert budget.bulk.tokens_ns == bulk - SMALL_COST_NS - PER_SERVICE_NS
            clock.advance(2 * SECOND)  # ``until`` is past: the replay ends the stream
            now_s, bulk = clock.now_ns() // SECOND, budget.bulk.tokens_ns
            replay = await client.get(f"/events?since={now_s - 3}&until={now_s - 1}")
            assert replay.text.count("\n") == 1  # the create event
            assert budget.bulk.tokens_ns == bulk - SMALL_COST_NS - PER_EVENT_NS
        await manager.down()

    asyncio.run(body())


def test_the_shares_shrink_while_the_loop_is_late_and_grow_back() -> None:
    """A lag check that fires late halves the refill (not below ``MIN_SCALE``); on time it
    gives ``SCALE_STEP`` back, up to the full share."""

    async def body() -> None:
        clock = FakeClock()
        budget = ApiBudget(clock)
        budget.watch()
        await clock.run_for(LAG_PERIOD_NS)
        assert budget.scale == 1.0
        clock.advance(LAG_PERIOD_NS + LAG_LIMIT_NS + 1)  # the check fires late
        assert budget.scale == 0.5
        for _ in range(10):
            clock.advance(3 * LAG_PERIOD_NS)
        assert budget.scale == MIN_SCALE
        await clock.run_for(LAG_PERIOD_NS * round(1 / SCALE_STEP))
        assert budget.scale == 1.0
        budget.close()
        assert clock.next_deadline is None

    asyncio.run(body())
