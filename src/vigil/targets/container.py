"""A Docker container as a target: its process state mirrored from the engine, its verbs
sent to the engine.

The engine owns the container; vigil owns nothing of it. ``sync`` takes a fresh inspect and
reports what changed since the last one as vigil's lifecycle events (a new ``StartedAt`` is
a start, after a ``die`` when the last run was not seen to end; ``Paused`` toggles pause).
The verbs (start, stop, restart, kill, pause, unpause) go to the engine and then read the
container back, so when a verb returns the state is the engine's. Errors of the engine come
back as vigil's service errors with Docker's message (404, 409, 304). ``close`` leaves the
container alone: a daemon shutdown does not stop what it did not start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import replace
from typing import Any

from vigil.core import lifecycle
from vigil.core.config import RestartPolicy
from vigil.core.events import LifecycleEvent, TargetRef
from vigil.core.lifecycle import ProcessState, ProcessStatus, RestartDecision, RestartTracker
from vigil.docker.mirror import process_state
from vigil.dockerd.client import DockerClient
from vigil.exceptions import (
    ConflictError,
    DockerEngineError,
    NotFoundError,
    NotModifiedError,
    ServiceError,
)
from vigil.runtime.clock import Clock
from vigil.targets.base import Report

__all__ = ["ContainerTarget", "service_error"]

_log = logging.getLogger("vigil")
_LIVE = (ProcessStatus.RUNNING, ProcessStatus.PAUSED)
_NO_RESTART = RestartDecision(False, 0, RestartTracker(RestartPolicy()))
NS_PER_S = 1_000_000_000


def service_error(error: DockerEngineError) -> ServiceError:
    """The engine's refusal as the matching service error (same status, same message)."""
    if error.status == 404:
        return NotFoundError(error.message)
    if error.status == 304:
        return NotModifiedError(error.message)
    if error.status == 0:  # unreachable: the request could not be done now
        return ConflictError(error.message)
    return ConflictError(error.message) if error.status == 409 else ServiceError(error.message)


class ContainerTarget:
    """Implements ``vigil.targets.base.Target`` for a container of a Docker engine."""

    owned = True  # it can be signalled (through the engine)

    def __init__(self, ref: TargetRef, container_id: str, *, client: DockerClient,
                 clock: Clock, report: Report) -> None:
        self._ref = ref
        self.container_id = container_id
        self._client = client
        self._clock = clock
        self._report = report
        self._state = lifecycle.NEVER_STARTED
        self._pending: set[asyncio.Task[None]] = set()
        self._tty = False  # the container has a terminal: its logs are one raw stream
        self.stopping = False  # the engine is stopping or removing it: nothing to heal

    @property
    def ref(self) -> TargetRef:
        return self._ref

    @property
    def state(self) -> ProcessState:
        return self._state

    # -- mirroring ---------------------------------------------------------------------------

    def sync(self, inspect: Mapping[str, Any]) -> None:
        """Take the engine's ``State`` (from an inspect) as this target's, reporting each
        change as the lifecycle events vigil would have made for it."""
        state = inspect.get("State")
        if not isinstance(state, Mapping):
            return
        config = inspect.get("Config")
        self._tty = isinstance(config, Mapping) and config.get("Tty") is True
        self.sync_state(process_state(state))

    def sync_state(self, new: ProcessState) -> None:
        """Events carry the time vigil learnt of a change (the stream stays in order); the
        state carries Docker's own times (``StartedAt``, ``FinishedAt``)."""
        old, ref = self._state, self._ref
        now = self._clock.now_ns()
        if old.status in _LIVE and (new.status not in _LIVE or new.started_at != old.started_at):
            code = new.exit_code if new.status not in _LIVE else 0
            self._emit(lifecycle.exited(old, ref, exit_code=code, at=now, decision=_NO_RESTART))
            old = self._state
        if new.status in _LIVE and old.status not in _LIVE:
            self._emit(lifecycle.started(old, ref, pid=new.pid, at=now,
                                         restart_count=new.restart_count))
        if new.status is ProcessStatus.PAUSED and self._state.status is ProcessStatus.RUNNING:
            self._emit(lifecycle.paused(self._state, ref, at=now))
        elif new.status is ProcessStatus.RUNNING and self._state.status is ProcessStatus.PAUSED:
            self._emit(lifecycle.unpaused(self._state, ref, at=now))
        self._state = new

    def gone(self) -> None:
        """The container was removed from the engine: a last ``die`` if it still ran."""
        if self._state.status in _LIVE:
            self.sync_state(replace(self._state, status=ProcessStatus.EXITED, pid=0,
                                    exit_code=137, finished_at=self._clock.now_ns()))

    def _emit(self, change: tuple[ProcessState, list[LifecycleEvent]]) -> None:
        self._state, events = change
        for event in events:
            self._report(event)

    async def refresh(self) -> None:
        """Read the container back from the engine (after a verb)."""
        try:
            self.sync(await self._client.inspect(self.container_id))
        except DockerEngineError as error:
            if error.status == 404:
                self.gone()
            else:
                raise service_error(error) from None

    async def logs(self, *, follow: bool = False, tail: str = "all", timestamps: bool = False,
                   stdout: bool = True, stderr: bool = True) -> AsyncGenerator[bytes, None]:
        """The engine's logs of the container, as ``docker logs`` shows them. An engine
        that fails mid-stream ends it, with one warning."""
        try:
            async for _, data in self._client.logs(
                    self.container_id, tty=self._tty, follow=follow, tail=tail,
                    timestamps=timestamps, stdout=stdout, stderr=stderr):
                yield data
        except DockerEngineError as error:
            _log.warning("logs of %s: %s", self._ref.name, error.message)

    # -- verbs -------------------------------------------------------------------------------

    async def _act(self, verb: str, **params: Any) -> None:
        try:
            await getattr(self._client, verb)(self.container_id, **params)
        except DockerEngineError as error:
            raise service_error(error) from None
        finally:
            await self.refresh()

    async def start(self) -> None:
        await self._act("start")

    async def stop(self, timeout_ns: int | None = None) -> None:
        await self._act("stop", timeout_s=_seconds(timeout_ns))

    async def restart(self, timeout_ns: int | None = None) -> None:
        await self._act("restart", timeout_s=_seconds(timeout_ns))

    def kill(self, sig: int, *, by_user: bool = True) -> bool:
        if self._state.status not in _LIVE:
            return False
        self._later("kill", signal=int(sig))
        return True

    def pause(self) -> bool:
        if self._state.status is not ProcessStatus.RUNNING:
            return False
        self._later("pause")
        return True

    def unpause(self) -> bool:
        if self._state.status is not ProcessStatus.PAUSED:
            return False
        self._later("unpause")
        return True

    async def settle(self) -> None:
        """Wait for the verbs sent without waiting (kill, pause, unpause) to be done."""
        while self._pending:
            await asyncio.wait(list(self._pending))

    async def close(self, timeout_ns: int | None = None) -> None:
        """The container belongs to the engine: nothing is stopped, pending verbs finish."""
        await self.settle()

    def _later(self, verb: str, **params: Any) -> None:
        """The protocol's synchronous verbs: sent now, the state follows from the engine."""
        async def act() -> None:
            try:
                await self._act(verb, **params)
            except ServiceError as error:
                _log.warning("%s %s: %s", verb, self._ref.name, error.message)
        task = asyncio.get_running_loop().create_task(act())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


def _seconds(timeout_ns: int | None) -> int | None:
    """Docker's ``t`` is whole seconds; a part of one rounds up (never less grace)."""
    return None if timeout_ns is None else -(-timeout_ns // NS_PER_S)
