"""The only module that reads time or sleeps (ruff TID251 bans it elsewhere).

Times are Unix nanoseconds (ints), as precise as Go's RFC3339Nano needs. ``SystemClock``
behaves like Go's ``time.Now()``: it reads the wall clock once, then advances with the
monotonic clock, so timestamps never jump backwards and a wall-clock step (NTP, a user
setting the date) cannot make a probe fire early or a start period end late.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the runtime needs of time. Inject ``vigil.testing.FakeClock`` in tests."""

    def now_ns(self) -> int:
        """Current time, Unix nanoseconds; never decreases."""
        ...

    async def sleep_ns(self, duration_ns: int) -> None:
        """Sleep for ``duration_ns`` nanoseconds (0 or less: just yield)."""
        ...


class SystemClock:
    """Wall-clock timestamps advanced by the monotonic clock."""

    __slots__ = ("_mono_base", "_wall_base")

    def __init__(self) -> None:
        self._wall_base = time.time_ns()
        self._mono_base = time.monotonic_ns()

    def now_ns(self) -> int:
        return self._wall_base + (time.monotonic_ns() - self._mono_base)

    async def sleep_ns(self, duration_ns: int) -> None:
        # A bare loop timer and future: asyncio.sleep adds a coroutine and a context copy per
        # call, and with thousands of monitors each sleeping an interval the GC sees them all.
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(max(duration_ns, 0) / 1e9, _wake, waiter, context=_TIMER_CONTEXT)
        try:
            await waiter
        finally:
            timer.cancel()


# Timer callbacks only complete a future; one shared context spares a copy per timer.
_TIMER_CONTEXT = contextvars.Context()


class Cancellable(Protocol):
    def cancel(self) -> object: ...


def call_after_ns(clock: Clock, delay_ns: int, callback: Callable[[], None]) -> Cancellable:
    """Run ``callback`` once ``delay_ns`` has passed on ``clock``; ``cancel()`` the result to
    call it off. The system clock gets a bare loop timer; any other clock a sleeping task
    (a clock that fails to sleep fires the callback at once rather than never)."""
    loop = asyncio.get_running_loop()
    if type(clock) is SystemClock:
        return loop.call_later(max(delay_ns, 0) / 1e9, callback, context=_TIMER_CONTEXT)
    task = loop.create_task(clock.sleep_ns(delay_ns))

    def done(finished: asyncio.Task[None]) -> None:
        if not finished.cancelled():
            finished.exception()  # retrieved so a broken clock is not logged as unhandled
            callback()

    task.add_done_callback(done)
    return task


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
