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


class Cancellable(Protocol):
    def cancel(self) -> object: ...


@runtime_checkable
class Clock(Protocol):
    """What the runtime needs of time. Inject ``vigil.testing.FakeClock`` in tests."""

    def now_ns(self) -> int:
        """Current time, Unix nanoseconds; never decreases."""
        ...

    async def sleep_ns(self, duration_ns: int) -> None:
        """Sleep for ``duration_ns`` nanoseconds (0 or less: just yield)."""
        ...

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Cancellable:
        """Call ``callback()`` from the event loop once ``delay_ns`` has passed; ``cancel()``
        the result to call it off. Must be called from the loop's thread."""
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

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Cancellable:
        loop = asyncio.get_running_loop()
        return loop.call_later(max(delay_ns, 0) / 1e9, callback, context=_TIMER_CONTEXT)


# Timer callbacks only complete a future; one shared context spares a copy per timer.
_TIMER_CONTEXT = contextvars.Context()


def call_later_by_sleeping(
    clock: Clock, delay_ns: int, callback: Callable[[], object]
) -> Cancellable:
    """``call_later_ns`` for a clock that only knows how to sleep: a task sleeps, then calls
    ``callback`` (a clock that fails to sleep fires it at once rather than never)."""
    task = asyncio.get_running_loop().create_task(clock.sleep_ns(delay_ns))

    def done(finished: asyncio.Task[None]) -> None:
        if not finished.cancelled():
            finished.exception()  # retrieved so a broken clock is not logged as unhandled
            callback()

    task.add_done_callback(done)
    return task


class Deadline:
    """``async with Deadline(clock, ns):`` cancels the body when ``ns`` has passed on
    ``clock`` and raises ``TimeoutError`` instead, like ``asyncio.timeout`` but on the
    injected clock. ``None`` means no deadline. No extra task: the timer cancels the task
    that entered the block, and an outside cancellation still propagates as one."""

    __slots__ = ("_cancelling", "_clock", "_delay_ns", "_expired", "_task", "_timer")

    def __init__(self, clock: Clock, delay_ns: int | None) -> None:
        self._clock = clock
        self._delay_ns = delay_ns
        self._expired = False
        self._task: asyncio.Task[object] | None = None
        self._timer: Cancellable | None = None
        self._cancelling = 0

    @property
    def expired(self) -> bool:
        return self._expired

    async def __aenter__(self) -> Deadline:
        self._task = asyncio.current_task()
        if self._task is None:
            raise RuntimeError("Deadline must be used inside a task")
        self._cancelling = self._task.cancelling()
        if self._delay_ns is not None:
            self._timer = self._clock.call_later_ns(self._delay_ns, self._expire)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None  # a clock's timer may still fire after it was called off
        # asyncio.timeout's rule: only our own cancellation becomes a TimeoutError
        if (
            self._expired
            and self._task is not None
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc

    def _expire(self) -> None:
        if self._timer is not None and self._task is not None and not self._task.done():
            self._expired = True
            self._task.cancel()


async def wait_for_event(clock: Clock, event: asyncio.Event, timeout_ns: int | None) -> bool:
    """Wait until ``event`` is set or ``timeout_ns`` passes on ``clock``; whether it was set.
    Leaves no task behind, whether it returns, times out or is cancelled."""
    if event.is_set():
        return True
    try:
        async with Deadline(clock, timeout_ns):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
