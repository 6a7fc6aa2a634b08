"""Time as one seam: ``call_later_ns``, ``Deadline`` and ``wait_for_event`` on any clock, and
the FakeClock that drives them without reading the event loop's internals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.daemon.manager import Manager
from vigil.go.duration import SECOND
from vigil.runtime.clock import (
    Clock,
    Deadline,
    SystemClock,
    call_later_by_sleeping,
    wait_for_event,
)
from vigil.runtime.engine import Engine
from vigil.testing import FakeClock, ScriptedProbe, settle

S = SECOND


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def others() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


def test_both_clocks_satisfy_the_protocol() -> None:
    """SystemClock and FakeClock are Clocks: now_ns, sleep_ns and call_later_ns."""
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(), Clock)


def test_fake_timers_fire_in_deadline_order_and_can_be_cancelled() -> None:
    """Timers fire when their deadline is reached, earliest first, ties in call order."""

    async def scenario() -> None:
        clock = FakeClock()
        fired: list[str] = []
        clock.call_later_ns(2 * S, lambda: fired.append("b"))
        clock.call_later_ns(1 * S, lambda: fired.append("a"))
        clock.call_later_ns(2 * S, lambda: fired.append("c"))
        clock.call_later_ns(1 * S, lambda: fired.append("never")).cancel()
        clock.advance(S - 1)
        assert fired == []
        await clock.run_for(1)
        assert fired == ["a"]
        await clock.run_for(1 * S)
        assert fired == ["a", "b", "c"]
        assert clock.next_deadline is None

    run(scenario)


def test_deadline_turns_its_own_expiry_into_timeout_error() -> None:
    """The body is cancelled when the deadline passes on the injected clock."""

    async def scenario() -> None:
        clock = FakeClock()

        async def body() -> str:
            try:
                async with Deadline(clock, 5 * S) as deadline:
                    await asyncio.Event().wait()
            except TimeoutError:
                assert deadline.expired
                return "timed out"
            return "finished"

        task = asyncio.ensure_future(body())
        await clock.run_for(5 * S)
        assert await task == "timed out"
        assert others() == set()

    run(scenario)


def test_deadline_lets_a_finished_body_and_an_outside_cancel_through() -> None:
    """A body that ends in time is untouched; a cancel from outside stays a cancel."""

    async def scenario() -> None:
        clock = FakeClock()

        async def quick() -> bool:
            async with Deadline(clock, 5 * S) as deadline:
                await clock.sleep_ns(1 * S)
            return deadline.expired

        finished = asyncio.ensure_future(quick())
        await clock.run_for(1 * S)
        assert not await finished
        assert clock.next_deadline is None  # its timer was called off

        async def blocked() -> None:
            async with Deadline(clock, 5 * S):
                await asyncio.Event().wait()

        task = asyncio.ensure_future(blocked())
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with Deadline(clock, None):  # no deadline at all
            assert clock.next_deadline is None

    run(scenario)


@pytest.mark.parametrize("outcome", ["set", "timeout", "cancelled"])
def test_wait_for_event_leaves_no_task_behind(outcome: str) -> None:
    """Whether the event comes, the time runs out or the waiter is cancelled, nothing is
    left pending (the old Manager.wait helper leaked two tasks on cancel)."""

    async def scenario() -> None:
        clock = FakeClock()
        event = asyncio.Event()
        waiter = asyncio.ensure_future(wait_for_event(clock, event, 10 * S))
        await settle()
        if outcome == "set":
            event.set()
            assert await waiter
        elif outcome == "timeout":
            await clock.run_for(10 * S)
            assert not await waiter
        else:
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        await settle()
        assert others() == set()
        assert clock.next_deadline is None

    run(scenario)


def test_a_clock_that_only_sleeps_gets_timers_from_a_sleeping_task() -> None:
    """``call_later_by_sleeping`` serves clocks written before call_later_ns existed."""

    async def scenario() -> None:
        clock = FakeClock()
        fired: list[int] = []
        call_later_by_sleeping(clock, 3 * S, lambda: fired.append(clock.now_ns()))
        cancelled = call_later_by_sleeping(clock, 1 * S, lambda: fired.append(-1))
        cancelled.cancel()
        start = clock.now_ns()
        await clock.run_for(3 * S)
        await settle()
        assert fired == [start + 3 * S]

    run(scenario)


def test_settle_waits_through_done_callbacks_and_task_chains() -> None:
    """settle returns only when every task waits: a chain of tasks handing over through
    asyncio.wait, gather and queues all gets to its end."""

    async def scenario() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        results: list[int] = []

        async def leaf(n: int) -> int:
            for _ in range(n):
                await asyncio.sleep(0)
            return n

        async def middle() -> None:
            done, _ = await asyncio.wait([asyncio.ensure_future(leaf(5))])
            values = await asyncio.gather(leaf(3), leaf(7))
            await queue.put(sum(values) + done.pop().result())

        async def tail() -> None:
            results.append(await queue.get())

        tasks = [asyncio.ensure_future(middle()), asyncio.ensure_future(tail())]
        await settle()
        assert results == [15]
        assert all(t.done() for t in tasks)

    run(scenario)


def test_cancelling_manager_wait_leaves_no_task(tmp_path: Path) -> None:
    """``Manager.wait`` cancelled mid-wait cleans up after itself (its watcher is the
    manager's own, ended by ``down``)."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe([1]))
        manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
        check = HealthcheckConfig(test=("CMD", "x"), interval=S)
        manager.create(ServiceConfig(name="web", healthcheck=check))
        await manager.start("web")
        before = others()
        waiter = asyncio.ensure_future(manager.wait("web", "healthy", 60 * S))
        await clock.run_for(1 * S)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await settle()
        leftover = others() - before
        assert {t.get_coro().__qualname__ for t in leftover} <= {"Manager._on_events"}
        await manager.down()
        assert others() == set()

    run(scenario)
