"""Test helpers for vigil and for programs built on it: a fake clock, scripted probes and an
event recorder. Timer-heavy tests run instantly and deterministically with these.

    clock = FakeClock()
    async with Engine(clock=clock) as engine:
        engine.add(service, probe=ScriptedProbe([0, 1, 1, 1]))
        engine.start("web")
        await clock.run_for(120 * SECOND)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import types
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass

from vigil.core.events import Event, ProbeCompleted, StatusChanged
from vigil.core.results import Outcome, timeout_output
from vigil.core.status import HealthStatus
from vigil.probes import ProbeReport
from vigil.runtime.clock import Clock

__all__ = ["EventRecorder", "FakeClock", "ProbeStep", "ScriptedProbe"]

DEFAULT_EPOCH_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


@types.coroutine
def _yield_once() -> Generator[None, None, None]:
    yield


async def settle(max_rounds: int = 10_000) -> None:
    """Let every ready task run until the loop would block (on timers or I/O)."""
    loop = asyncio.get_running_loop()
    for _ in range(max_rounds):
        await _yield_once()
        # asyncio keeps runnable callbacks in ``_ready``; empty means every task waits.
        if not getattr(loop, "_ready", ()):
            return


class FakeClock:
    """A ``Clock`` that only moves when told to: ``advance`` (like trio's MockClock) or
    ``run_for``/``run_until``, which jump from deadline to deadline and let the woken tasks
    run between jumps, so chains of sleeps behave exactly as they would in real time."""

    def __init__(self, start_ns: int = DEFAULT_EPOCH_NS) -> None:
        self._now = start_ns
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    async def sleep_ns(self, duration_ns: int) -> None:
        if duration_ns <= 0:
            await _yield_once()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + duration_ns, next(self._seq), future))
        await future

    @property
    def next_deadline(self) -> int | None:
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, duration_ns: int) -> None:
        """Move time forward and wake every sleeper that is due (they run at the next await)."""
        if duration_ns < 0:
            raise ValueError("time cannot go backwards")
        self._now += duration_ns
        self._wake_due()

    async def run_until(self, when_ns: int) -> None:
        """Advance to ``when_ns`` deadline by deadline, settling the loop at each one."""
        await settle()
        while (deadline := self.next_deadline) is not None and deadline <= when_ns:
            self._now = max(self._now, deadline)
            self._wake_due()
            await settle()
        self._now = max(self._now, when_ns)

    async def run_for(self, duration_ns: int) -> None:
        await self.run_until(self._now + duration_ns)

    async def run_until_true(
        self, predicate: Callable[[], bool], *, limit_ns: int = 3600 * 10**9
    ) -> bool:
        """Jump deadline by deadline until ``predicate()`` holds; False if ``limit_ns`` passes."""
        end = self._now + limit_ns
        await settle()
        while not predicate():
            deadline = self.next_deadline
            if deadline is None or deadline > end:
                return False
            self._now = max(self._now, deadline)
            self._wake_due()
            await settle()
        return True

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


@dataclass(frozen=True, slots=True)
class ProbeStep:
    """One scripted probe: it takes ``duration_ns`` on the clock, then exits with ``exit_code``."""

    exit_code: int = 0
    output: str = ""
    duration_ns: int = 0


class ScriptedProbe:
    """A probe that plays a script of exit codes or ``ProbeStep``s, then repeats the last step.

    A step longer than the timeout ends as Docker's timeout result.
    """

    def __init__(self, steps: Iterable[int | ProbeStep]) -> None:
        self._steps = [s if isinstance(s, ProbeStep) else ProbeStep(s) for s in steps]
        if not self._steps:
            raise ValueError("ScriptedProbe needs at least one step")
        self.runs = 0

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        step = self._steps[min(self.runs, len(self._steps) - 1)]
        self.runs += 1
        if step.duration_ns >= timeout_ns:
            await clock.sleep_ns(timeout_ns)
            return ProbeReport(Outcome.TIMEOUT, -1, timeout_output(timeout_ns, step.output))
        await clock.sleep_ns(step.duration_ns)
        outcome = Outcome.PASS if step.exit_code == 0 else Outcome.FAIL
        return ProbeReport(outcome, step.exit_code, step.output)


class EventRecorder:
    """Records ``(target, event)`` pairs; pass ``recorder`` to ``Engine.subscribe``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []

    def __call__(self, target: str, event: Event) -> None:
        self.events.append((target, event))

    def status_changes(self, target: str | None = None) -> list[HealthStatus]:
        return [
            e.new
            for t, e in self.events
            if isinstance(e, StatusChanged) and (target is None or t == target)
        ]

    def results(self, target: str | None = None) -> list[ProbeCompleted]:
        return [
            e
            for t, e in self.events
            if isinstance(e, ProbeCompleted) and (target is None or t == target)
        ]
