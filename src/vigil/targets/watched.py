"""A target vigil only watches: a service running elsewhere, whose health vigil probes.

vigil owns no process of it, so its lifecycle is what the user says: ``start`` means "it
runs from now on", ``stop`` "it is gone" (exit code 0), ``pause``/``unpause`` only pause the
probing. It cannot be signalled.
"""

from __future__ import annotations

from vigil.core import lifecycle
from vigil.core.events import LifecycleEvent, TargetRef
from vigil.core.lifecycle import ProcessState, ProcessStatus
from vigil.runtime.clock import Clock
from vigil.targets.base import Report

_LIVE = (ProcessStatus.RUNNING, ProcessStatus.PAUSED)


class WatchedTarget:
    """Implements ``vigil.targets.base.Target`` for a service vigil does not run."""

    __slots__ = ("_clock", "_ref", "_report", "_state")
    owned = False

    def __init__(self, ref: TargetRef, *, clock: Clock, report: Report) -> None:
        self._ref = ref
        self._clock = clock
        self._report = report
        self._state = lifecycle.NEVER_STARTED

    @property
    def ref(self) -> TargetRef:
        return self._ref

    @property
    def state(self) -> ProcessState:
        return self._state

    async def start(self) -> None:
        if self._state.status in _LIVE:
            return
        self._apply(*lifecycle.started(
            self._state, self._ref, pid=0, at=self._clock.now_ns(), restart_count=0))

    async def stop(self, timeout_ns: int | None = None) -> None:
        if self._state.status in _LIVE:
            self._apply(*lifecycle.watched_stopped(self._state, self._ref,
                                                   at=self._clock.now_ns()))

    async def restart(self, timeout_ns: int | None = None) -> None:
        await self.stop(timeout_ns)
        await self.start()

    def kill(self, sig: int, *, by_user: bool = True) -> bool:
        return False

    def pause(self) -> bool:
        if self._state.status is not ProcessStatus.RUNNING:
            return False
        self._apply(*lifecycle.paused(self._state, self._ref, at=self._clock.now_ns()))
        return True

    def unpause(self) -> bool:
        if self._state.status is not ProcessStatus.PAUSED:
            return False
        self._apply(*lifecycle.unpaused(self._state, self._ref, at=self._clock.now_ns()))
        return True

    async def close(self, timeout_ns: int | None = None) -> None:
        await self.stop(timeout_ns)

    def _apply(self, state: ProcessState, events: list[LifecycleEvent]) -> None:
        self._state = state
        for event in events:
            self._report(event)
