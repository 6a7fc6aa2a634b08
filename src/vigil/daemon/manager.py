"""The daemon's services: processes vigil owns and targets it only watches, each with Docker's
container lifecycle, health monitor and events.

The manager turns process facts from each ``Supervisor`` into health lifecycle calls on the
engine (start → starting; exit, stop, pause → unhealthy silently; unpause → resume) and into
Docker-shaped events on the ``EventLog``. It never decides health itself.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from vigil.core.config import (
    CONDITION_COMPLETED,
    CONDITION_HEALTHY,
    CONDITION_STARTED,
    ServiceConfig,
)
from vigil.core.deps import start_order
from vigil.core.events import Event, ProbeCompleted, StatusChanged
from vigil.core.lifecycle import (
    ProcessEvent,
    ProcessExited,
    ProcessKilled,
    ProcessPaused,
    ProcessStarted,
    ProcessState,
    ProcessStatus,
    ProcessStopped,
    ProcessUnpaused,
)
from vigil.core.signals import parse_kill_signal
from vigil.core.status import HealthStatus
from vigil.daemon.eventlog import EventLog
from vigil.docker.events import (
    DaemonEvent,
    health_probe_event,
    health_status_event,
    lifecycle_event,
)
from vigil.docker.services import ServiceView
from vigil.exceptions import (
    ConfigError,
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    NotModifiedError,
)
from vigil.runtime.clock import Clock
from vigil.runtime.engine import Engine
from vigil.targets.logs import ServiceLog
from vigil.targets.supervised import Supervisor

_log = logging.getLogger("vigil")

WAIT_HEALTHY = "healthy"
WAIT_RUNNING = "running"
WAIT_EXITED = "exited"
WAIT_CONDITIONS = (WAIT_HEALTHY, WAIT_RUNNING, WAIT_EXITED)


@dataclass(slots=True)
class _Entry:
    id: str
    config: ServiceConfig
    created_ns: int
    log: ServiceLog
    supervisor: Supervisor | None  # None: watched only, no process of ours
    watched: ProcessState  # the state of a watched-only service
    error: str = ""

    @property
    def process(self) -> ProcessState:
        state = self.supervisor.state if self.supervisor is not None else self.watched
        return replace(state, error=self.error) if self.error else state


class Manager:
    """Every service of the daemon, by name and by ID."""

    def __init__(self, *, clock: Clock, engine: Engine, events: EventLog, log_dir: Path) -> None:
        self.clock = clock
        self.engine = engine
        self.events = events
        self._log_dir = log_dir
        self._entries: dict[str, _Entry] = {}
        self._changed = asyncio.Event()
        engine.subscribe(self._on_health)

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
        entry = self.lookup(ref)
        process = entry.process
        name = entry.config.name
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
            health=self.engine.health(name) if self.engine.has_check(name) else None,
        )

    def views(self) -> list[ServiceView]:
        return [self.view(name) for name in self._entries]

    def names(self) -> list[str]:
        return list(self._entries)

    def log(self, ref: str) -> ServiceLog:
        return self.lookup(ref).log

    # -- create and remove -------------------------------------------------------------------

    def create(self, config: ServiceConfig) -> str:
        """Register a service (Docker ``create``); returns its ID."""
        if config.name in self._entries:
            other = self._entries[config.name].id
            raise ConflictError(
                f'Conflict. The service name "/{config.name}" is already in use by service '
                f'"{other}". You have to remove (or rename) that service to be able to reuse '
                "that name."
            )
        service_id = secrets.token_hex(32)
        log = ServiceLog(self._log_dir / f"{config.name}-{service_id[:12]}.log")
        entry = _Entry(service_id, config, self.clock.now_ns(), log, None, ProcessState())
        if config.command:
            try:
                entry.supervisor = Supervisor(
                    config, clock=self.clock, log=log, on_change=self._process_handler(entry)
                )
            except ConfigError as error:
                log.close()
                raise InvalidParameterError(str(error)) from None
        self.engine.add(config)
        self._entries[config.name] = entry
        self._emit(entry, "create")
        return service_id

    async def remove(self, ref: str, *, force: bool = False) -> None:
        """Docker ``rm``: refused while running unless ``force``, which kills first."""
        entry = self.lookup(ref)
        if entry.process.status in (ProcessStatus.RUNNING, ProcessStatus.PAUSED,
                                    ProcessStatus.RESTARTING):
            if not force:
                raise ConflictError(
                    f'cannot remove service "/{entry.config.name}": service is running: '
                    "stop the service before removing or force remove"
                )
            await self._kill_and_wait(entry)
        await self.engine.remove(entry.config.name)
        if entry.supervisor is not None:
            await entry.supervisor.close(0)
        entry.log.close()
        for path in entry.log.path.parent.glob(entry.log.path.name + "*"):
            path.unlink(missing_ok=True)
        del self._entries[entry.config.name]
        self._emit(entry, "destroy")

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
        if entry.supervisor is not None:
            await entry.supervisor.start()
            _raise_start_error(entry.supervisor)
            return
        now = self.clock.now_ns()
        entry.watched = replace(entry.watched, status=ProcessStatus.RUNNING, started_at=now,
                                finished_at=0, exit_code=0)
        self.engine.start(entry.config.name, started_at=now)
        self._emit(entry, "start")

    async def stop(self, ref: str, *, timeout_ns: int | None = None) -> None:
        """Docker ``stop``: stop signal, SIGKILL after the grace period (``timeout_ns``)."""
        entry = self.lookup(ref)
        if entry.process.status in (ProcessStatus.CREATED, ProcessStatus.EXITED):
            raise NotModifiedError("service already stopped")
        if entry.supervisor is not None:
            await entry.supervisor.stop(timeout_ns)
            return
        await self._stop_watching(entry)

    async def restart(self, ref: str, *, timeout_ns: int | None = None) -> None:
        """Docker ``restart``: stop if running, start, then a ``restart`` event."""
        entry = self.lookup(ref)
        if entry.supervisor is not None:
            await entry.supervisor.restart(timeout_ns)
            _raise_start_error(entry.supervisor)
        else:
            if entry.process.status is not ProcessStatus.CREATED and entry.process.status \
                    is not ProcessStatus.EXITED:
                await self._stop_watching(entry)
            await self.start(ref)
        self._emit(entry, "restart")

    async def kill(self, ref: str, signal_text: str = "SIGKILL") -> None:
        """Docker ``kill``: send a signal to the main process (default SIGKILL)."""
        entry = self.lookup(ref)
        try:
            sig = parse_kill_signal(signal_text)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        if entry.supervisor is None:
            raise ConflictError(
                f"Cannot kill service: {entry.config.name}: it is watched, not owned by vigil; "
                "it has no process to signal")
        if not entry.supervisor.kill(sig):
            raise ConflictError(
                f"Cannot kill service: {entry.config.name}: Service {entry.id} is not running")

    async def pause(self, ref: str) -> None:
        """Docker ``pause``: SIGSTOP the group; health goes ``unhealthy`` silently."""
        entry = self.lookup(ref)
        status = entry.process.status
        if status is ProcessStatus.PAUSED:
            raise ConflictError(f"Service {entry.id} is already paused")
        if status is not ProcessStatus.RUNNING:
            raise ConflictError(f"Service {entry.id} is not running")
        if entry.supervisor is not None:
            entry.supervisor.pause()
            return
        entry.watched = replace(entry.watched, status=ProcessStatus.PAUSED)
        self._on_paused(entry)

    async def unpause(self, ref: str) -> None:
        """Docker ``unpause``: SIGCONT; probing resumes one interval later."""
        entry = self.lookup(ref)
        if entry.process.status is not ProcessStatus.PAUSED:
            raise ConflictError(f"Service {entry.id} is not paused")
        if entry.supervisor is not None:
            entry.supervisor.unpause()
            return
        entry.watched = replace(entry.watched, status=ProcessStatus.RUNNING)
        self._on_unpaused(entry)

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

    async def _shutdown_one(self, name: str) -> None:
        entry = self._entries[name]
        if entry.supervisor is not None:
            await entry.supervisor.close()
        elif entry.watched.status in (ProcessStatus.RUNNING, ProcessStatus.PAUSED):
            await self._stop_watching(entry)
        entry.log.close()

    async def wait(self, ref: str, condition: str, timeout_ns: int | None = None) -> str | None:
        """Wait until ``condition`` holds: None when met, else compose's reason why it cannot
        be (or a timeout message)."""
        if condition not in WAIT_CONDITIONS:
            raise InvalidParameterError(
                f"invalid condition: {condition!r}: must be one of {', '.join(WAIT_CONDITIONS)}")
        deadline = None if timeout_ns is None else self.clock.now_ns() + timeout_ns
        while True:
            entry = self.lookup(ref)
            verdict = self._judge(entry, condition)
            if not isinstance(verdict, _Pending):
                return verdict
            remaining = None if deadline is None else deadline - self.clock.now_ns()
            if remaining is not None and remaining <= 0:
                return f"timeout waiting for service {entry.config.name} to be {condition}"
            await self._next_change(remaining)

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

    async def _next_change(self, timeout_ns: int | None) -> None:
        changed = self._changed.wait()
        if timeout_ns is None:
            await changed
            return
        waiter = asyncio.ensure_future(changed)
        sleeper = asyncio.ensure_future(self.clock.sleep_ns(timeout_ns))
        await asyncio.wait([waiter, sleeper], return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, sleeper):
            task.cancel()

    # -- facts in, events out ---------------------------------------------------------------

    def _process_handler(self, entry: _Entry) -> Callable[[ProcessEvent], None]:
        def handle(event: ProcessEvent) -> None:
            self._on_process(entry, event)

        return handle

    def _on_process(self, entry: _Entry, event: ProcessEvent) -> None:
        name = entry.config.name
        if isinstance(event, ProcessStarted):
            self.engine.start(name, started_at=event.started_at)
            self._emit(entry, "start")
        elif isinstance(event, ProcessExited):
            self.engine.halt(name)
            self._emit(entry, "die", exitCode=event.exit_code)
        elif isinstance(event, ProcessKilled):
            self._emit(entry, "kill", signal=event.signal)
        elif isinstance(event, ProcessStopped):
            self._emit(entry, "stop")
        elif isinstance(event, ProcessPaused):
            self._on_paused(entry)
        elif isinstance(event, ProcessUnpaused):
            self._on_unpaused(entry)
        self._notify()

    def _on_paused(self, entry: _Entry) -> None:
        self.engine.halt(entry.config.name)
        self._emit(entry, "pause")
        self._notify()

    def _on_unpaused(self, entry: _Entry) -> None:
        self.engine.resume(entry.config.name)
        self._emit(entry, "unpause")
        self._notify()

    def _on_health(self, name: str, event: Event) -> None:
        entry = self._entries.get(name)
        if entry is None:
            return
        if isinstance(event, StatusChanged):
            self.events.append(
                health_status_event(name, entry.id, event.new, self.clock.now_ns()))
            self._notify()
        elif isinstance(event, ProbeCompleted):
            result = event.result
            self.events.append(health_probe_event(
                name, entry.id, result.exit_code, result.end - result.start, result.end))

    async def _stop_watching(self, entry: _Entry) -> None:
        task = self.engine.halt(entry.config.name)
        entry.watched = replace(entry.watched, status=ProcessStatus.EXITED,
                                finished_at=self.clock.now_ns(), exit_code=0)
        self._emit(entry, "die", exitCode=0)
        self._emit(entry, "stop")
        self._notify()
        if task is not None:
            await asyncio.wait([task])

    async def _kill_and_wait(self, entry: _Entry) -> None:
        if entry.supervisor is None:
            await self._stop_watching(entry)
            return
        entry.supervisor.kill(signal.SIGKILL)
        await entry.supervisor.stop(0)

    def _emit(self, entry: _Entry, action: str, **attributes: str | int) -> None:
        event: DaemonEvent = lifecycle_event(
            action, entry.config.name, entry.id, self.clock.now_ns(), **attributes)
        self.events.append(event)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class ServiceStartError(InvalidParameterError):
    """The process could not be started (missing binary, bad user, ...)."""

    status = 500


def _raise_start_error(supervisor: Supervisor) -> None:
    """The supervisor records a failed start (status stays ``created``, as Docker) in ``error``."""
    if supervisor.state.error:
        raise ServiceStartError(supervisor.state.error)


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
