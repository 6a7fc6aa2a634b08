"""The daemon's registry of targets: services by name and ID, each a ``vigil.targets`` target
(a process vigil owns, or a service it only watches) with Docker's container verbs and
errors, compose's ``depends_on`` for ``up``/``down``, and ``wait``.

It decides nothing about health or process state: targets write their process state and
report lifecycle facts to the engine, which writes health and publishes every event. The
Docker-shaped ``/events`` are a projection of that stream (``vigil.daemon.eventlog``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import dataclass, replace
from pathlib import Path

from vigil.core.config import (
    CONDITION_COMPLETED,
    CONDITION_HEALTHY,
    CONDITION_STARTED,
    ServiceConfig,
)
from vigil.core.deps import start_order
from vigil.core.events import TargetEvent, TargetRef, TargetRestarted
from vigil.core.health import HealthState
from vigil.core.lifecycle import ProcessState, ProcessStatus
from vigil.core.probespec import spec_for_service
from vigil.core.signals import parse_kill_signal
from vigil.core.status import HealthStatus
from vigil.daemon.eventlog import DockerEventLog
from vigil.docker.services import ServiceView
from vigil.exceptions import (
    ConfigError,
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    NotModifiedError,
)
from vigil.runtime.clock import Clock, wait_for_event
from vigil.runtime.engine import Engine
from vigil.runtime.stream import Subscription
from vigil.targets.base import Target
from vigil.targets.logs import ServiceLog
from vigil.targets.supervised import Supervisor
from vigil.targets.watched import WatchedTarget

_log = logging.getLogger("vigil")

WAIT_HEALTHY = "healthy"
WAIT_RUNNING = "running"
WAIT_EXITED = "exited"
WAIT_CONDITIONS = (WAIT_HEALTHY, WAIT_RUNNING, WAIT_EXITED)
_LIVE = (ProcessStatus.RUNNING, ProcessStatus.PAUSED, ProcessStatus.RESTARTING)


@dataclass(slots=True)
class _Entry:
    ref: TargetRef
    config: ServiceConfig
    created_ns: int
    log: ServiceLog
    target: Target
    error: str = ""  # a dependency that failed: the service was never started
    view: ServiceView | None = None  # the last view, reused while nothing in it changed
    view_key: tuple[object, ...] = ()

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def process(self) -> ProcessState:
        state = self.target.state
        return replace(state, error=self.error) if self.error else state


class Manager:
    """Every service of the daemon, by name and by ID."""

    def __init__(self, *, clock: Clock, engine: Engine, log_dir: Path) -> None:
        self.clock = clock
        self.engine = engine
        self.events = DockerEventLog(engine)
        self._log_dir = log_dir
        self._entries: dict[str, _Entry] = {}
        self._changed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    # -- lookup and views --------------------------------------------------------------------

    def lookup(self, ref: str) -> _Entry:
        """A service by name, full ID or unique ID prefix (Docker's rules)."""
        entry = self._entries.get(ref)
        if entry is not None:
            return entry
        matches = [e for e in self._entries.values() if ref and e.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameterError(f"multiple IDs found with provided prefix: {ref}")
        raise NotFoundError(f"No such service: {ref}")

    def view(self, ref: str) -> ServiceView:
        """What Docker would show of ``ref`` now. The same object while its process state,
        error and health are (frozen states are replaced on change, never mutated), so its
        encoded JSON is reused (``ServiceView.renders``): ``ps`` of many services is cheap."""
        entry = self.lookup(ref)
        name = entry.config.name
        health = self.engine.health(name) if self.engine.has_check(name) else None
        key = (entry.target.state, entry.error, health)
        if entry.view is None or entry.view_key != key:
            entry.view, entry.view_key = self._new_view(entry, health), key
        return entry.view

    def _new_view(self, entry: _Entry, health: HealthState | None) -> ServiceView:
        process = entry.process
        return ServiceView(
            id=entry.id,
            config=entry.config,
            created_ns=entry.created_ns,
            status=process.status.value,
            pid=process.pid,
            exit_code=process.exit_code,
            started_at_ns=process.started_at,
            finished_at_ns=process.finished_at,
            restart_count=process.restart_count,
            error=process.error,
            health=health,
        )

    def views(self) -> list[ServiceView]:
        return [self.view(name) for name in self._entries]

    def names(self) -> list[str]:
        return list(self._entries)

    def log(self, ref: str) -> ServiceLog:
        return self.lookup(ref).log

    # -- create and remove -------------------------------------------------------------------

    def create(self, config: ServiceConfig) -> str:
        """Register a service (Docker ``create``); returns its ID. A name the store already
        knows keeps its ID and creation time, so history and logs stay attached to it."""
        if config.name in self._entries:
            other = self._entries[config.name].id
            raise ConflictError(
                f'Conflict. The service name "/{config.name}" is already in use by service '
                f'"{other}". You have to remove (or rename) that service to be able to reuse '
                "that name."
            )
        known = {r.ref.name: r for r in self.engine.store.targets()}.get(config.name)
        ref = known.ref if known is not None else TargetRef(secrets.token_hex(32), config.name)
        created_ns = known.created_ns if known is not None else self.clock.now_ns()
        log = ServiceLog(self._log_dir / f"{config.name}-{ref.id[:12]}.log")
        target: Target
        if config.command:
            try:
                target = Supervisor(
                    config, clock=self.clock, log=log, report=self.engine.report, ref=ref)
            except ConfigError as error:
                log.close()
                raise InvalidParameterError(str(error)) from None
        else:
            target = WatchedTarget(ref, clock=self.clock, report=self.engine.report)
        self.engine.add(config.name, config.healthcheck, probe=spec_for_service(config),
                        target_id=ref.id, created_ns=created_ns)
        self._entries[config.name] = _Entry(ref, config, created_ns, log, target)
        return ref.id

    async def remove(self, ref: str, *, force: bool = False) -> None:
        """Docker ``rm``: refused while running unless ``force``, which kills first."""
        entry = self.lookup(ref)
        if entry.process.status in _LIVE:
            if not force:
                raise ConflictError(
                    f'cannot remove service "/{entry.config.name}": service is running: '
                    "stop the service before removing or force remove"
                )
            await self._kill_and_wait(entry)
        await entry.target.close(0)
        entry.log.close()
        for path in entry.log.path.parent.glob(entry.log.path.name + "*"):
            path.unlink(missing_ok=True)
        del self._entries[entry.config.name]
        await self.engine.remove(entry.config.name)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        """Docker ``start``; NotModifiedError if it already runs."""
        entry = self.lookup(ref)
        status = entry.process.status
        if status is ProcessStatus.PAUSED:
            raise ConflictError(
                f"cannot start a paused service, try unpause instead: {entry.config.name}")
        if status in (ProcessStatus.RUNNING, ProcessStatus.RESTARTING):
            raise NotModifiedError("service already started")
        entry.error = ""
        await entry.target.start()
        _raise_start_error(entry.target)

    async def stop(self, ref: str, *, timeout_ns: int | None = None) -> None:
        """Docker ``stop``: stop signal, SIGKILL after the grace period (``timeout_ns``)."""
        entry = self.lookup(ref)
        if entry.process.status in (ProcessStatus.CREATED, ProcessStatus.EXITED):
            raise NotModifiedError("service already stopped")
        await entry.target.stop(timeout_ns)
        await self.engine.probe_gone(entry.config.name)

    async def restart(self, ref: str, *, timeout_ns: int | None = None) -> None:
        """Docker ``restart``: stop if running, start, then a ``restart`` event."""
        entry = self.lookup(ref)
        entry.error = ""
        await entry.target.restart(timeout_ns)
        _raise_start_error(entry.target)
        self.engine.report(TargetRestarted(entry.ref, self.clock.now_ns()))

    async def kill(self, ref: str, signal_text: str = "SIGKILL") -> None:
        """Docker ``kill``: send a signal to the main process (default SIGKILL)."""
        entry = self.lookup(ref)
        try:
            sig = parse_kill_signal(signal_text)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        if not entry.target.owned:
            raise ConflictError(
                f"Cannot kill service: {entry.config.name}: it is watched, not owned by vigil; "
                "it has no process to signal")
        if not entry.target.kill(sig):
            raise ConflictError(
                f"Cannot kill service: {entry.config.name}: Service {entry.id} is not running")

    async def pause(self, ref: str) -> None:
        """Docker ``pause``: SIGSTOP the group; health goes ``unhealthy`` silently."""
        entry = self.lookup(ref)
        status = entry.process.status
        if status is ProcessStatus.PAUSED:
            raise ConflictError(f"Service {entry.id} is already paused")
        if status is not ProcessStatus.RUNNING or not entry.target.pause():
            raise ConflictError(f"Service {entry.id} is not running")

    async def unpause(self, ref: str) -> None:
        """Docker ``unpause``: SIGCONT; probing resumes one interval later."""
        entry = self.lookup(ref)
        if entry.process.status is not ProcessStatus.PAUSED or not entry.target.unpause():
            raise ConflictError(f"Service {entry.id} is not paused")

    # -- up, down and wait -------------------------------------------------------------------

    async def up(self) -> list[str]:
        """Start every created service, dependencies first (compose's ``depends_on``), in
        parallel where the graph allows. Returns the errors, one per service that failed."""
        configs = {name: e.config for name, e in self._entries.items()}
        order = start_order(configs)
        tasks: dict[str, asyncio.Task[str | None]] = {}
        for name in order:
            deps = {d: tasks[d] for d in configs[name].depends_on if d in tasks}
            tasks[name] = asyncio.get_running_loop().create_task(self._up_one(name, deps))
        results = await asyncio.gather(*tasks.values())
        return [error for error in results if error]

    async def _up_one(self, name: str, deps: dict[str, asyncio.Task[str | None]]) -> str | None:
        entry = self._entries[name]
        if deps:
            await asyncio.wait(deps.values())
        for dep_name, dependency in entry.config.depends_on.items():
            problem = await self._dependency_problem(dep_name, dependency.condition)
            if problem and dependency.required:
                entry.error = f"dependency failed to start: {problem}"
                _log.error("service %s: %s", name, entry.error)
                self._notify()
                return f"service {name}: {entry.error}"
        try:
            await self.start(name)
        except NotModifiedError:
            pass
        except (ServiceStartError, ConflictError) as exc:
            return f"service {name}: {exc}"
        return None

    async def _dependency_problem(self, name: str, condition: str) -> str | None:
        wanted = {
            CONDITION_STARTED: WAIT_RUNNING,
            CONDITION_HEALTHY: WAIT_HEALTHY,
            CONDITION_COMPLETED: WAIT_EXITED,
        }[condition]
        problem = await self.wait(name, wanted)
        if problem is None and condition == CONDITION_COMPLETED:
            code = self.lookup(name).process.exit_code
            if code != 0:
                return f'service "{name}" didn\'t complete successfully: exit {code}'
        return problem

    async def down(self) -> None:
        """Stop every service, dependents first (the reverse of the start order)."""
        configs = {name: e.config for name, e in self._entries.items()}
        for level in _stop_levels(configs):
            await asyncio.gather(*(self._shutdown_one(name) for name in level))
        await self.engine.aclose()
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None

    async def _shutdown_one(self, name: str) -> None:
        entry = self._entries[name]
        await entry.target.close()
        entry.log.close()

    async def wait(self, ref: str, condition: str, timeout_ns: int | None = None) -> str | None:
        """Wait until ``condition`` holds: None when met, else compose's reason why it cannot
        be (or a timeout message)."""
        if condition not in WAIT_CONDITIONS:
            raise InvalidParameterError(
                f"invalid condition: {condition!r}: must be one of {', '.join(WAIT_CONDITIONS)}")
        self._watch()
        deadline = None if timeout_ns is None else self.clock.now_ns() + timeout_ns
        while True:
            entry = self.lookup(ref)
            verdict = self._judge(entry, condition)
            if not isinstance(verdict, _Pending):
                return verdict
            remaining = None if deadline is None else deadline - self.clock.now_ns()
            if remaining is not None and remaining <= 0:
                return f"timeout waiting for service {entry.config.name} to be {condition}"
            await wait_for_event(self.clock, self._changed, remaining)

    def _judge(self, entry: _Entry, condition: str) -> str | _Pending | None:
        name = entry.config.name
        process = entry.process
        if condition == WAIT_EXITED:
            return None if process.status is ProcessStatus.EXITED else _PENDING
        if process.status is ProcessStatus.EXITED and process.started_at:
            return process.error or f"service {name} exited ({process.exit_code})"
        if entry.error:
            return entry.error
        if condition == WAIT_RUNNING:
            return None if process.status is ProcessStatus.RUNNING else _PENDING
        if not self.engine.has_check(name):
            return f"service {name} has no healthcheck configured"
        health = self.engine.health(name).status
        if process.status is not ProcessStatus.RUNNING:
            return _PENDING
        if health is HealthStatus.HEALTHY:
            return None
        if health is HealthStatus.UNHEALTHY:
            return f"service {name} is unhealthy"
        return _PENDING

    # -- change notification ---------------------------------------------------------------

    def _watch(self) -> None:
        """Wake waiters on every target event: one subscriber task, started on first use."""
        if self._watcher is None or self._watcher.done():
            events = self.engine.events(maxsize=1, overflow="drop")
            self._watcher = asyncio.get_running_loop().create_task(self._on_events(events))

    async def _on_events(self, events: Subscription[TargetEvent]) -> None:
        async for _ in events:
            self._notify()

    async def _kill_and_wait(self, entry: _Entry) -> None:
        if not entry.target.owned:
            await entry.target.stop()
        else:
            entry.target.kill(signal.SIGKILL)
            await entry.target.stop(0)
        await self.engine.probe_gone(entry.config.name)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class ServiceStartError(InvalidParameterError):
    """The process could not be started (missing binary, bad user, ...)."""

    status = 500


def _raise_start_error(target: Target) -> None:
    """A target records a failed start (status stays ``created``, as Docker) in ``error``."""
    if target.state.error:
        raise ServiceStartError(target.state.error)


class _Pending:
    """The condition may still come true."""


_PENDING = _Pending()


def _stop_levels(configs: dict[str, ServiceConfig]) -> list[list[str]]:
    """Groups to stop one after another: a service only after everything that depends on it."""
    order = start_order(configs)
    depth: dict[str, int] = {}
    for name in order:
        depth[name] = 1 + max((depth[d] for d in configs[name].depends_on if d in depth),
                              default=-1)
    levels: dict[int, list[str]] = {}
    for name, level in depth.items():
        levels.setdefault(level, []).append(name)
    return [levels[level] for level in sorted(levels, reverse=True)]
