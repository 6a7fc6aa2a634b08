"""Blocking sends off the event loop, on a bounded number of daemon threads.

Not a ``ThreadPoolExecutor``: a send abandoned at its deadline may still be blocked in a
socket (a read timeout restarts with every byte, so a server trickling bytes holds it for as
long as it likes). Here such a thread keeps its slot until it really ends, so at most
``limit`` threads ever live, and they are daemon threads: one stuck in a socket never holds
up the daemon's exit. Callers keep one send per destination in flight (``AppriseNotifier``),
so a hung destination holds one slot, not all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_LIMIT = 8  # threads alive at once, all destinations together


class SendThreads:
    """``limit`` daemon threads at most, each running one blocking call."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._slots: asyncio.Semaphore | None = None
        self.alive = 0

    async def submit(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """Start ``call()`` on a daemon thread once one of the ``limit`` slots is free; the
        future ends when the thread does (await it through ``asyncio.shield`` or
        ``asyncio.wait``: cancelling it would free the slot of a thread still running)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._limit)
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(outcome: Callable[[], object]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(outcome)

        def run() -> None:
            try:
                result = call()
            except BaseException as error:  # handed to the waiter
                settle(partial(_fail, future, error))
            else:
                settle(partial(_succeed, future, result))

        self.alive += 1
        future.add_done_callback(self._ended)
        threading.Thread(target=run, name="vigil-notify", daemon=True).start()
        return future

    def _ended(self, future: asyncio.Future[Any]) -> None:
        self.alive -= 1
        assert self._slots is not None
        self._slots.release()
        if not future.cancelled():
            future.exception()  # retrieved: its waiter may have gone (deadline)


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
