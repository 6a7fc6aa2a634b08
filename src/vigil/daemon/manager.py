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
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vigil.compose.render import service_to_dict
from vigil.core.config import (
    CONDITION_COMPLETED,
    CONDITION_HEALTHY,
    CONDITION_STARTED,
    ServiceConfig,
)
from vigil.core.deps import start_order
from vigil.core.events import (
    LifecycleEvent,
    TargetDied,
    TargetEvent,
    TargetRef,
    TargetRestarted,
    TargetStarted,
)
from vigil.core.health import HealthState
from vigil.core.lifecycle import ProcessState, ProcessStatus
from vigil.core.probespec import spec_for_service
from vigil.core.remediation import ACTION_KILL, ACTION_RESTART, ACTION_STOP
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
    ServiceError,
)
from vigil.runtime.clock import Clock, wait_for_event
from vigil.runtime.engine import Engine
from vigil.runtime.stream import Subscription
from vigil.store import ORIGIN_API, DurableStore, ServiceRecord, ServiceStore, TargetRecord
from vigil.store.memory import MemoryServiceStore
from vigil.targets.base import Report, Target
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
    record: ServiceRecord  # as last saved: what a daemon restart brings back
    error: str = ""  # a dependency that failed: the service was never started
    # Docker's container lock: start, stop, restart and remove of one service one at a time,
    # so a remove never tears down a target another request is still starting or stopping.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    removing: bool = False  # from the start of its removal: gone for every other request
    view: ServiceView | None = None  # the last view, reused while nothing in it changed
    view_key: tuple[object, ...] = ()
    interventions: int = 0  # the user's start/stop/restart/kill so far (remediation resets)

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def process(self) -> ProcessState:
        state = self.target.state
        if state.status is ProcessStatus.CREATED and not state.started_at and not state.error:
            state = self._earlier(state)
        return replace(state, error=self.error) if self.error else state

    def _earlier(self, state: ProcessState) -> ProcessState:
        """Not run by this daemon: how an earlier one left it (Docker keeps ``State``)."""
        record = self.record
        if not record.started or not record.finished_at_ns:
            return state
        return ProcessState(ProcessStatus.EXITED, exit_code=record.exit_code,
                            started_at=record.started_at_ns, finished_at=record.finished_at_ns,
                            restart_count=record.restart_count)


class Manager:
    """Every service of the daemon, by name and by ID.

    ``services`` keeps each service's record (config, the user's intent, the last exit, the
    live run) and places its logs; without one, records live in memory and logs go under
    ``log_dir``. ``known`` are records from an earlier daemon: a service created under a
    known name keeps that record's ID, creation time and intent.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        engine: Engine,
        log_dir: Path | None = None,
        services: ServiceStore | None = None,
        known: Iterable[ServiceRecord] = (),
    ) -> None:
        self.clock = clock
        self.engine = engine
        self.events = DockerEventLog(engine)
        if services is None:
            if log_dir is None:
                raise ValueError("Manager needs a ServiceStore or a log_dir")
            services = MemoryServiceStore(log_dir)
        self._services = services
        self._known = {record.name: record for record in known}
        self._entries: dict[str, _Entry] = {}
        self._changed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._shown: Callable[[], list[ServiceView]] = list  # show_targets

    # -- lookup and views --------------------------------------------------------------------

    def lookup(self, ref: str) -> _Entry:
        """A service by name, full ID or unique ID prefix (Docker's rules); one being removed
        is already gone."""
        entry = self._entries.get(ref)
        if entry is not None and not entry.removing:
            return entry
        live = [e for e in self._entries.values() if not e.removing]
        matches = [e for e in live if ref and e.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameterError(f"multiple IDs found with provided prefix: {ref}")
        raise NotFoundError(f"No such service: {ref}")

    def show_targets(self, views: Callable[[], list[ServiceView]]) -> None:
        """Also list and inspect what ``views()`` gives: targets the engine runs for another
        part of the daemon (the fleet's shared checks, ``check/<name>``), read only."""
        self._shown = views

    def _shown_view(self, ref: str) -> ServiceView:
        found = [v for v in self._shown() if v.config.name == ref or (ref and v.id == ref)]
        found = found or [v for v in self._shown() if ref and v.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidParameterError(f"multiple IDs found with provided prefix: {ref}")
        raise NotFoundError(f"No such service: {ref}")

    def view(self, ref: str) -> ServiceView:
        try:
            return self._service_view(ref)
        except NotFoundError:
            return self._shown_view(ref)

    def _service_view(self, ref: str) -> ServiceView:
        """What Docker would show of ``ref`` now. The same object while its process state,
        error, health, log problem and record are (frozen states are replaced on change,
        never mutated), so its encoded JSON is reused (``ServiceView.renders``): ``ps`` of
        many services is cheap."""
        entry = self.lookup(ref)
        name = entry.config.name
        health = self.engine.health(name) if self.engine.has_check(name) else None
        key = (entry.target.state, entry.error, health, entry.log.problem, entry.record)
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
            error=process.error or entry.log.problem,  # a failing log file shows here
            health=health,
        )

    def views(self) -> list[ServiceView]:
        own = [self._service_view(name) for name, e in self._entries.items() if not e.removing]
        return own + self._shown()

    def names(self) -> list[str]:
        return list(self._entries)

    def listed_names(self) -> list[str]:
        """What ``vigil ps`` lists: the services, then the targets ``show_targets`` adds."""
        return [*self._entries, *(view.config.name for view in self._shown())]

    def log(self, ref: str) -> ServiceLog:
        return self.lookup(ref).log

    # -- create and remove -------------------------------------------------------------------

    def create(self, config: ServiceConfig, *, origin: str = ORIGIN_API) -> str:
        """Register a service (Docker ``create``); returns its ID. A name the store already
        knows keeps its ID, creation time and intent, so history and logs stay attached to
        it. ``origin``: where it comes from (the API, or ``vigil.yaml``)."""
        if config.name in self._entries:
            other = self._entries[config.name].id
            raise ConflictError(
                f'Conflict. The service name "/{config.name}" is already in use by service '
                f'"{other}". You have to remove (or rename) that service to be able to reuse '
                "that name."
            )
        record = self._record_for(config, origin)
        ref, created_ns = record.target.ref, record.target.created_ns
        log = ServiceLog(self._services.log_path(ref.id))
        report = self._reporter(config.name)
        target: Target
        if config.command:
            try:
                target = Supervisor(config, clock=self.clock, log=log, report=report, ref=ref)
            except ConfigError as error:
                log.close()
                raise InvalidParameterError(str(error)) from None
        else:
            target = WatchedTarget(ref, clock=self.clock, report=report)
        self.engine.add(config.name, config.healthcheck, probe=spec_for_service(config),
                        target_id=ref.id, created_ns=created_ns)
        if isinstance(self.engine.store, DurableStore):  # its own history: retention
            self.engine.store.set_retention(ref.id, config.history)
        self._known.pop(config.name, None)
        self._entries[config.name] = _Entry(ref, config, created_ns, log, target, record)
        self._store(record)
        return ref.id

    @asynccontextmanager
    async def _locked(self, ref: str) -> AsyncIterator[_Entry]:
        """The service ``ref``, held against concurrent lifecycle requests; NotFoundError when
        it was removed while this request waited for its turn."""
        entry = self.lookup(ref)
        async with entry.lock:
            if entry.removing:
                raise NotFoundError(f"No such service: {ref}")
            yield entry

    def record(self, ref: str) -> ServiceRecord:
        """The service's record as last saved."""
        return self.lookup(ref).record

    def _record_for(self, config: ServiceConfig, origin: str) -> ServiceRecord:
        """The known record of that name (ID, creation time, intent kept) with this config,
        or a new one."""
        known = self._known.get(config.name)
        if known is None:
            target = {r.ref.name: r for r in self.engine.store.targets()}.get(config.name)
            if target is None:
                ref = TargetRef(secrets.token_hex(32), config.name)
                target = TargetRecord(ref, self.clock.now_ns())
            known = ServiceRecord(target, {})
        return replace(known, config=service_to_dict(config), origin=origin, run=None)

    def _reporter(self, name: str) -> Report:
        """The target's report callback: the engine's, then the record kept up to date."""
        report = self.engine.report

        def on_event(event: LifecycleEvent) -> None:
            report(event)
            entry = self._entries.get(name)
            if entry is None or entry.ref != event.target:
                return  # removed meanwhile: its files are gone and stay gone
            if isinstance(event, TargetStarted):
                run = entry.target.run_record() if isinstance(entry.target, Supervisor) else None
                self._save(entry, started=True, started_at_ns=event.time_ns, run=run)
            elif isinstance(event, TargetDied):
                self._save(entry, exit_code=event.exit_code, finished_at_ns=event.time_ns,
                           run=None, restart_count=entry.target.state.restart_count)

        return on_event

    def _save(self, entry: _Entry, **changes: Any) -> None:
        entry.record = replace(entry.record, **changes)
        self._store(entry.record)

    def _store(self, record: ServiceRecord) -> None:
        """Save, or say in one line why not: a full disk must not break a lifecycle."""
        try:
            self._services.save_service(record)
        except OSError as exc:
            _log.error("service %s: its record could not be saved, a restart of the daemon "
                       "will not see this change: %s", record.name, exc.strerror or exc)

    async def remove(self, ref: str, *, force: bool = False) -> None:
        """Docker ``rm``: refused while running unless ``force``, which kills first."""
        async with self._locked(ref) as entry:
            if entry.process.status in _LIVE:
                if not force:
                    raise ConflictError(
                        f'cannot remove service "/{entry.config.name}": service is running: '
                        "stop the service before removing or force remove"
                    )
                await self._kill_and_wait(entry)
            entry.removing = True  # from here on, other requests see no such service
            await entry.target.close(0)
            entry.log.close()
            self._services.remove_service(entry.id)  # the record and every log file
            await self.engine.remove(entry.config.name)
            del self._entries[entry.config.name]  # only now may the name be reused

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        """Docker ``start``; NotModifiedError if it already runs."""
        async with self._locked(ref) as entry:
            status = entry.process.status
            if status is ProcessStatus.PAUSED:
                raise ConflictError(
                    f"cannot start a paused service, try unpause instead: {entry.config.name}")
            if status in (ProcessStatus.RUNNING, ProcessStatus.RESTARTING):
                raise NotModifiedError("service already started")
            entry.error = ""
            entry.interventions += 1
            self._save_intent(entry, stopped=False)
            await entry.target.start()
            _raise_start_error(entry.target)

    async def stop(self, ref: str, *, timeout_ns: int | None = None) -> None:
        """Docker ``stop``: stop signal, SIGKILL after the grace period (``timeout_ns``)."""
        async with self._locked(ref) as entry:
            if entry.process.status in (ProcessStatus.CREATED, ProcessStatus.EXITED):
                raise NotModifiedError("service already stopped")
            entry.interventions += 1
            await self._stop_entry(entry, timeout_ns)

    async def _stop_entry(self, entry: _Entry, timeout_ns: int | None) -> None:
        self._save_intent(entry, stopped=True)
        await entry.target.stop(timeout_ns)
        await self.engine.probe_gone(entry.config.name)

    async def restart(self, ref: str, *, timeout_ns: int | None = None) -> None:
        """Docker ``restart``: stop if running, start, then a ``restart`` event."""
        async with self._locked(ref) as entry:
            entry.interventions += 1
            await self._restart_entry(entry, timeout_ns)

    async def _restart_entry(self, entry: _Entry, timeout_ns: int | None) -> None:
        entry.error = ""
        self._save_intent(entry, stopped=False)
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
        entry.interventions += 1
        self._save_intent(entry, stopped=True)  # moby: every kill counts as a manual stop

    # -- remediation (vigil.daemon.remediation acts through these) ---------------------------

    def remediable(self, name: str) -> bool:
        """Whether vigil may act on ``name`` now: it runs (not paused, restarting or exited),
        the user did not stop or kill it, and no start, stop, restart or removal of it is
        under way (its lock is free)."""
        entry = self._entries.get(name)
        return (
            entry is not None
            and not entry.removing
            and not entry.lock.locked()
            and not entry.record.stopped
            and entry.target.state.status is ProcessStatus.RUNNING
        )

    def config_of(self, name: str) -> ServiceConfig | None:
        """The config of the service named exactly ``name``; None when there is none."""
        entry = self._entries.get(name)
        return None if entry is None or entry.removing else entry.config

    def interventions(self, name: str) -> int:
        """How many times the user started, stopped, restarted or killed ``name``."""
        entry = self._entries.get(name)
        return -1 if entry is None else entry.interventions

    async def remediate(self, name: str, action: str, announce: Callable[[], None]) -> bool:
        """Act on an unhealthy service as ``vigil restart``, ``vigil stop`` or a crash-like
        SIGKILL would (``kill``: the restart policy decides what follows), holding its lock.
        ``announce`` runs first, inside the lock. False, without acting, when it is not
        ``remediable`` (checked again once the lock is held; taking a free lock never
        yields, so no user request can slip in between)."""
        if not self.remediable(name):
            return False
        entry = self._entries[name]
        async with entry.lock:
            announce()
            if action == ACTION_RESTART:
                await self._restart_entry(entry, None)
            elif action == ACTION_STOP:
                await self._stop_entry(entry, None)
            elif action == ACTION_KILL:
                entry.target.kill(signal.SIGKILL, by_user=False)
        return True

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

    async def up(self, names: Collection[str] | None = None) -> list[str]:
        """Start every created service (or those of ``names`` and what they depend on),
        dependencies first (compose's ``depends_on``), in parallel where the graph allows.
        Returns the errors, one per service that failed."""
        configs = {name: e.config for name, e in self._entries.items()}
        if names is not None:  # the graph of those only: another's broken one is no matter
            configs = {name: configs[name] for name in _with_dependencies(configs, names)}
        order = start_order(configs)
        tasks: dict[str, asyncio.Task[str | None]] = {}
        for name in order:
            deps = {d: tasks[d] for d in configs[name].depends_on if d in tasks}
            tasks[name] = asyncio.get_running_loop().create_task(self._up_one(name, deps))
        results = await asyncio.gather(*tasks.values())
        return [error for error in results if error]

    async def _up_one(self, name: str, deps: dict[str, asyncio.Task[str | None]]) -> str | None:
        entry = self._entries.get(name)
        if entry is None:  # removed before its turn came
            return None
        if deps:
            await asyncio.wait(deps.values())
        for dep_name, dependency in entry.config.depends_on.items():
            try:
                problem = await self._dependency_problem(dep_name, dependency.condition)
            except NotFoundError:  # removed while up waited for it
                problem = f'service "{dep_name}" was removed'
            if problem and dependency.required:
                entry.error = f"dependency failed to start: {problem}"
                _log.error("service %s: %s", name, entry.error)
                self._notify()
                return f"service {name}: {entry.error}"
        try:
            await self.start(name)
        except (NotModifiedError, NotFoundError):  # already running, or removed meanwhile
            pass
        except ServiceError as exc:
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
        configs = _known_dependencies({name: e.config for name, e in self._entries.items()})
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
        if process.status is ProcessStatus.CREATED and process.error:
            return process.error  # its start failed: it will not come up by itself
        running = process.status in (ProcessStatus.RUNNING, ProcessStatus.PAUSED)  # Docker's
        if condition == WAIT_RUNNING:  # State.Running, true while paused: nothing to wait for
            return None if running else _PENDING
        if not self.engine.has_check(name):
            return f"service {name} has no healthcheck configured"
        health = self.engine.health(name).status
        if not running:
            return _PENDING
        if health is HealthStatus.UNHEALTHY:  # pausing makes it unhealthy: it stays so
            return f"service {name} is unhealthy"
        if health is HealthStatus.HEALTHY and process.status is ProcessStatus.RUNNING:
            return None
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

    def _save_intent(self, entry: _Entry, *, stopped: bool) -> None:
        """Docker's ``HasBeenManuallyStopped``, kept for the next daemon."""
        if entry.record.stopped != stopped:
            self._save(entry, stopped=stopped)


class ServiceStartError(InvalidParameterError):
    """The process could not be started (missing binary, bad user, ...): 400, as moby's
    ``translateContainerdStartErr`` makes these an invalid configuration, not a daemon fault."""


def _raise_start_error(target: Target) -> None:
    """A target records a failed start (status stays ``created``, as Docker) in ``error``."""
    if target.state.error:
        raise ServiceStartError(target.state.error)


class _Pending:
    """The condition may still come true."""


_PENDING = _Pending()


def _with_dependencies(configs: dict[str, ServiceConfig], names: Collection[str]) -> set[str]:
    """``names`` and everything they depend on, transitively (compose starts those too)."""
    wanted: set[str] = set()
    pending = [name for name in names if name in configs]
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(d for d in configs[name].depends_on if d in configs)
    return wanted


def _known_dependencies(configs: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
    """The configs without dependencies on services that no longer exist (a kept orphan's
    may name one removed meanwhile)."""
    return {
        name: replace(config, depends_on={
            d: v for d, v in config.depends_on.items() if d in configs})
        for name, config in configs.items()
    }


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
