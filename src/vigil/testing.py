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
import operator
import types
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from vigil.core.events import ProbeCompleted, StatusChanged, TargetEvent
from vigil.core.results import Outcome, timeout_output
from vigil.core.status import HealthStatus
from vigil.probes import ProbeReport
from vigil.runtime.clock import Clock

__all__ = ["EventRecorder", "FakeClock", "ProbeStep", "ScriptedProbe"]

E = TypeVar("E")
DEFAULT_EPOCH_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


@types.coroutine
def _yield_once() -> Generator[None, None, None]:
    yield


def _position(task: asyncio.Task[object]) -> tuple[object, ...]:
    """Where ``task`` stands: the chain of objects it awaits, outermost first (public
    coroutine attributes only). A task that runs gets a new chain; a blocked one keeps it."""
    chain: list[object] = []
    awaited: object = task.get_coro()
    while awaited is not None:
        chain.append(awaited)
        inner = getattr(awaited, "cr_await", None)
        awaited = inner if inner is not None else getattr(awaited, "gi_yieldfrom", None)
    return tuple(chain)


def _positions() -> dict[asyncio.Task[object], tuple[object, ...]]:
    current = asyncio.current_task()
    return {t: _position(t) for t in asyncio.all_tasks() if t is not current and not t.done()}


_QUIET_ROUNDS = 3


async def settle(max_rounds: int = 10_000) -> None:
    """Let every other task run until each one waits (on a timer, I/O or another task).

    One round lets everything that is ready run once. When rounds leave every task where it
    was (the same objects awaited; references are held, so no id is reused), nothing was
    ready. A done-callback (``asyncio.wait``, ``gather``) wakes its task one round later, so
    quiet must last ``_QUIET_ROUNDS`` rounds in a row."""
    before = _positions()
    quiet = 0
    for _ in range(max_rounds):
        await _yield_once()
        after = _positions()
        if after.keys() == before.keys() and all(
            len(after[task]) == len(chain) and all(map(operator.is_, after[task], chain))
            for task, chain in before.items()
        ):
            quiet += 1
            if quiet >= _QUIET_ROUNDS:
                return
        else:
            quiet = 0
        before = after


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Timer:
    """A FakeClock timer; ``cancel()`` calls it off."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A ``Clock`` that only moves when told to: ``advance`` (like trio's MockClock) or
    ``run_for``/``run_until``, which jump from deadline to deadline and let the woken tasks
    run between jumps, so chains of sleeps behave exactly as they would in real time."""

    def __init__(self, start_ns: int = DEFAULT_EPOCH_NS) -> None:
        self._now = start_ns
        self._timers: list[tuple[int, int, _Timer]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    async def sleep_ns(self, duration_ns: int) -> None:
        if duration_ns <= 0:
            await _yield_once()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later_ns(duration_ns, partial(_resolve, future))
        try:
            await future
        finally:
            timer.cancel()

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> _Timer:
        timer = _Timer(callback)
        heapq.heappush(self._timers, (self._now + max(delay_ns, 0), next(self._seq), timer))
        return timer

    @property
    def next_deadline(self) -> int | None:
        self._drop_cancelled()
        return self._timers[0][0] if self._timers else None

    def advance(self, duration_ns: int) -> None:
        """Move time forward and fire every timer that is due (woken tasks run at the next
        await)."""
        if duration_ns < 0:
            raise ValueError("time cannot go backwards")
        self._now += duration_ns
        self._fire_due()

    async def run_until(self, when_ns: int) -> None:
        """Advance to ``when_ns`` deadline by deadline, settling the loop at each one."""
        await settle()
        while (deadline := self.next_deadline) is not None and deadline <= when_ns:
            self._now = max(self._now, deadline)
            self._fire_due()
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
            self._fire_due()
            await settle()
        return True

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)

    def _fire_due(self) -> None:
        while self._timers and self._timers[0][0] <= self._now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()


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
    """Records target events; pass it to ``Engine.subscribe``, or ``await recorder.drain(
    subscription)`` from a test."""

    def __init__(self) -> None:
        self.events: list[TargetEvent] = []

    def __call__(self, event: TargetEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[E], target: str | None = None) -> list[E]:
        """The recorded events of one kind, optionally of one target (by name)."""
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (target is None or e.target.name == target)
        ]

    def status_changes(self, target: str | None = None) -> list[HealthStatus]:
        return [e.new for e in self.of(StatusChanged, target)]

    def results(self, target: str | None = None) -> list[ProbeCompleted]:
        return self.of(ProbeCompleted, target)
