"""Docker's state machine, unchanged, with an HTTP probe against a real server: the engine
runs on a FakeClock (intervals, retries and timeouts jump), the requests are real."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from tests.probes.netservers import GENEROUS_S, http_server

from vigil import Engine, HealthcheckConfig, HealthStatus, StatusChanged, TargetEvent
from vigil.core.results import Outcome
from vigil.go.duration import SECOND
from vigil.probes.http import close_sessions
from vigil.testing import EventRecorder, FakeClock, settle


class Results:
    """Counts probe results as the engine publishes them, and wakes waiters."""

    def __init__(self) -> None:
        self.recorder = EventRecorder()
        self.changed = asyncio.Event()

    def __call__(self, event: TargetEvent) -> None:
        self.recorder(event)
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.recorder.results()) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), GENEROUS_S)


async def step(clock: FakeClock, results: Results, count: int) -> None:
    """Jump to the monitor's next wake-up, then wait (really) for that probe's result."""
    await settle()  # the monitor is asleep on the clock
    deadline = clock.next_deadline
    assert deadline is not None
    clock.advance(deadline - clock.now_ns())
    await results.wait_for(count)


def test_http_probe_drives_starting_unhealthy_healthy() -> None:
    status = {"code": 200}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status["code"])

    async def scenario() -> list[Any]:
        clock = FakeClock()
        async with http_server({"/health": handler}) as base:
            engine = Engine(clock=clock)
            results = Results()
            engine.subscribe(results)
            engine.add("web", HealthcheckConfig(("HTTP", base + "/health"), interval=5 * SECOND,
                                                retries=2))
            engine.start("web")
            for count, code in enumerate((200, 503, 503, 200), start=1):
                status["code"] = code
                await step(clock, results, count)
            await engine.aclose()
            await close_sessions()
            return [
                *[(r.result.exit_code, r.result.output.split(" in ")[0])
                  for r in results.recorder.results()],
                *[e.new for e in results.recorder.of(StatusChanged)],
            ]

    assert asyncio.run(scenario()) == [
        (0, "HTTP 200 OK"),
        (1, "HTTP 503 Service Unavailable"),
        (1, "HTTP 503 Service Unavailable"),
        (0, "HTTP 200 OK"),
        HealthStatus.HEALTHY,
        HealthStatus.UNHEALTHY,
        HealthStatus.HEALTHY,
    ]


def test_never_two_probes_of_one_target_in_flight() -> None:
    """A slow endpoint and a 1ms interval: intervals pass while a probe waits, yet the
    server never sees a second request before the first is answered."""
    in_flight = {"now": 0, "most": 0, "seen": 0}
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        in_flight["now"] += 1
        in_flight["seen"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        arrived.set()
        await release.wait()
        in_flight["now"] -= 1
        return web.Response(text="ok")

    async def scenario() -> Outcome:
        clock = FakeClock()
        async with http_server({"/": handler}) as base:
            engine = Engine(clock=clock)
            results = Results()
            engine.subscribe(results)
            engine.add("web", HealthcheckConfig(("HTTP", base + "/"), interval=1_000_000,
                                                timeout=60 * SECOND))
            engine.start("web")
            await settle()
            clock.advance(1_000_000)
            await asyncio.wait_for(arrived.wait(), GENEROUS_S)
            for _ in range(50):  # 50 intervals of fake time pass while the probe waits
                clock.advance(1_000_000)
                await asyncio.sleep(0)
            release.set()
            await results.wait_for(1)
            await engine.aclose()
            await close_sessions()
            return results.recorder.results()[0].result.outcome

    assert asyncio.run(scenario()) == Outcome.PASS
    assert in_flight["most"] == 1
    assert in_flight["seen"] == 1
