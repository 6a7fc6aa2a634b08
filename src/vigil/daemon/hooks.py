"""``hooks:``: a subscriber of the event stream that runs a service's ``on_unhealthy`` or
``on_healthy`` command when its health status changes to that.

- A hook runs exactly like a probe of the service (``vigil.probes.exec.ExecProbe``): the
  same launcher and jail, Docker's environment plus the service's variables, its working
  directory and its user (when vigil runs as root), stdin closed, the hook's own timeout
  and the whole process tree killed when it ends or times out. The ``VIGIL_*`` variables of
  ``vigil.core.hooks.hook_environment`` describe the change and the probe result behind it.
- Never in a probe's way: the subscription is bounded and filtered, hooks run in tasks of
  their own, at most ``MAX_RUNNING`` at once daemon-wide, one at a time per service in the
  order of the changes; at most ``MAX_PENDING`` wait per service (a flapping service loses
  its oldest waiting runs, with a log line).
- Each run ends in a ``hook`` event (attributes ``hook``, ``exitCode``, ``duration``) and a
  log line; a failed run's line carries the start of its output.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.core.config import ServiceConfig
from vigil.core.events import (
    HookRan,
    ProbeCompleted,
    StatusChanged,
    TargetEvent,
    TargetRef,
    TargetRemoved,
)
from vigil.core.hooks import HookContext, hook_environment
from vigil.daemon.reactor import Reactor
from vigil.go.duration import format_duration
from vigil.probes.exec import ExecProbe
from vigil.runtime.engine import Engine

_log = logging.getLogger("vigil")
MAX_RUNNING = 4  # hook processes at once, daemon-wide
MAX_PENDING = 8  # runs waiting per service
_LOGGED_OUTPUT = 200  # characters of a failed hook's output in its log line

ConfigOf = Callable[[str], ServiceConfig | None]


@dataclass(frozen=True, slots=True)
class _Job:
    ref: TargetRef
    hook: str
    test: tuple[str, ...]
    context: HookContext


@dataclass(slots=True)
class _Queue:
    pending: deque[_Job] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None
    dropped: int = 0


class HookRunner(Reactor["_Job | TargetRemoved"]):
    """Runs ``hooks:`` for every service of ``engine``; ``config_of(name)`` gives a
    service's config (None for an unknown one). ``start()`` subscribes; ``aclose()`` stops
    (waiting runs dropped, running ones killed)."""

    name = "hooks"

    def __init__(self, engine: Engine, config_of: ConfigOf) -> None:
        super().__init__(engine)
        self._config_of = config_of
        self._slots = asyncio.Semaphore(MAX_RUNNING)
        self._last: dict[str, ProbeCompleted] = {}  # the newest result, by target ID
        self._queues: dict[str, _Queue] = {}

    async def stopped(self) -> None:
        workers = [q.worker for q in self._queues.values() if q.worker is not None]
        for queue in self._queues.values():
            queue.pending.clear()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    # -- events --------------------------------------------------------------------------

    def filter(self, event: TargetEvent) -> _Job | TargetRemoved | None:
        """A job for a change that has a hook; the newest result is noted here, so probe
        results take no queue room."""
        if isinstance(event, TargetRemoved):
            self._last.pop(event.target.id, None)
            return event
        if isinstance(event, ProbeCompleted | StatusChanged):
            config = self._config_of(event.target.name)
            if config is None or not (config.hooks.on_healthy or config.hooks.on_unhealthy):
                return None
            if isinstance(event, ProbeCompleted):
                self._last[event.target.id] = event
                return None
            return self._job(event, config)
        return None

    def handle(self, item: _Job | TargetRemoved) -> None:
        if isinstance(item, _Job):
            self._enqueue(item)
        elif (queue := self._queues.get(item.target.id)) is not None:
            queue.pending.clear()  # removed: its waiting runs go too

    def _job(self, event: StatusChanged, config: ServiceConfig) -> _Job | None:
        command = config.hooks.command_for(event.new)
        if command is None:
            return None
        last = self._last.get(event.target.id)
        context = HookContext(
            service=event.target.name,
            service_id=event.target.id,
            status=event.new,
            previous=event.old,
            time_ns=event.time_ns,
            failing_streak=0 if last is None else last.failing_streak,
            result=None if last is None else last.result,
        )
        return _Job(event.target, command[0], command[1], context)

    # -- running -------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        queue = self._queues.setdefault(job.ref.id, _Queue())
        if len(queue.pending) >= MAX_PENDING:
            dropped = queue.pending.popleft()
            queue.dropped += 1
            _log.warning("service %s: hook %s not run: %d newer changes were waiting "
                         "(%d dropped so far)", job.ref.name, dropped.hook, MAX_PENDING,
                         queue.dropped)
        queue.pending.append(job)
        if queue.worker is None:
            queue.worker = asyncio.get_running_loop().create_task(
                self._work(job.ref.id, queue))

    async def _work(self, target_id: str, queue: _Queue) -> None:
        try:
            while queue.pending:
                job = queue.pending.popleft()
                try:
                    async with self._slots:
                        await self._run(job)
                except Exception:
                    _log.exception("service %s: hook %s failed", job.ref.name, job.hook)
        finally:
            queue.worker = None
            if not queue.pending and self._queues.get(target_id) is queue:
                del self._queues[target_id]

    async def _run(self, job: _Job) -> None:
        config = self._config_of(job.ref.name)
        if config is None:
            return  # removed meanwhile
        environment = {**config.environment, **hook_environment(job.context)}
        probe = ExecProbe(job.test, environment=environment, working_dir=config.working_dir,
                          user=config.user, shell=config.effective_shell, target_id=job.ref.id)
        started = self._clock.now_ns()
        report = await probe.run(timeout_ns=config.hooks.effective_timeout, clock=self._clock)
        ended = self._clock.now_ns()
        self._engine.publish(HookRan(job.ref, ended, job.hook, report.exit_code, ended - started))
        took = format_duration(ended - started)
        if report.exit_code == 0:
            _log.info("service %s: hook %s exited 0 in %s", job.ref.name, job.hook, took)
        else:
            output = report.output.strip().replace("\n", " | ")[:_LOGGED_OUTPUT]
            _log.warning("service %s: hook %s exited %d in %s: %s", job.ref.name, job.hook,
                         report.exit_code, took, output)
