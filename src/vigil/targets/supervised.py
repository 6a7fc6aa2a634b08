"""The supervisor of one owned process: start, stop, kill, pause, restart policy, logs.

It behaves like Docker's container lifecycle for a service's ``command``:

- The process gets its own session and process group, a jail of its own for the run
  (``vigil.linux.contain``: a cgroup where vigil may make one), stdin /dev/null, stdout and
  stderr in two pipes whose lines go to the service's ``ServiceLog``, and Docker's
  environment (``PATH``, ``HOSTNAME``, ``HOME``, then the service's variables) plus
  ``VIGIL_SERVICE=<name>`` and ``VIGIL_SERVICE_ID=<random token per start>``. Without a
  cgroup, the token is how processes that escaped the group (double fork + setsid) are
  found again in ``/proc/*/environ``; it keeps two daemons, or two runs, apart.
- Whenever the main process exits, everything left of the run is SIGKILLed: its process
  group and its jail, as Docker's pid namespace dies with its PID 1. Killed processes that
  became our children (the daemon is a subreaper) are reaped.
- ``stop`` sends ``stop_signal`` to the main process only (Docker signals PID 1) and, after
  ``stop_grace_period``, SIGKILLs the whole run. A negative timeout waits forever.
- ``kill`` signals the main process (SIGKILL kills the whole run); ``pause``/``unpause``
  freeze and thaw the jail, as Docker freezes the cgroup (without a cgroup: SIGSTOP and
  SIGCONT to the group and the escaped processes).
- ``run_record()`` describes the current run for a successor daemon that must stop it
  after this one was killed (``vigil.linux.contain.reclaim``).
- Exit codes: the process's own, or 128+N for a death by signal N. A process that cannot
  start (missing binary, bad working directory or user) records runc's error text and
  moby's exit code (127 not found, 126 not executable, 128 otherwise); its status is
  ``created`` if it never ran, else ``exited`` (Docker's ``StateString``).
- Restart policies and back-off are ``vigil.core.lifecycle`` (moby's restartmanager). Manual
  ``start``/``restart`` reset RestartCount to 0, as Docker does.

Time: Docker-visible waits (grace period, restart back-off) and every timestamp use the
injected clock. Housekeeping waits for the kernel (pipes reaching EOF after an exit: at
most 2 s like moby's stream wait; SIGKILLed processes dying) use the loop's real timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from vigil.core import lifecycle
from vigil.core.config import DEFAULT_PATH, ServiceConfig
from vigil.core.events import (
    LifecycleEvent,
    TargetExiting,
    TargetKilled,
    TargetRef,
    TargetStopped,
)
from vigil.core.lifecycle import (
    ProcessState,
    ProcessStatus,
    RestartTracker,
    cancel,
    kill_cancels_restart,
    should_restart,
)
from vigil.core.signals import parse_signal
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.duration import SECOND
from vigil.linux import contain, tree
from vigil.linux import process as _process
from vigil.linux.contain import Jail
from vigil.linux.launch import LaunchSpec, StartError, launch
from vigil.runtime.clock import Clock, wait_for_event
from vigil.targets.logs import STDERR, STDOUT, ServiceLog

SERVICE_ENV = "VIGIL_SERVICE"
SERVICE_ID_ENV = contain.TOKEN_ENV
STREAM_DRAIN_S = 2.0  # moby waits 2 s for the log copiers after an exit
NO_SIGNAL_WAIT = 2 * SECOND  # moby: stop signal could not be sent, wait 2 s before SIGKILL
_READ_CHUNK = 65536


class _Run:
    """One started process and what belongs to it."""

    def __init__(self, pid: int, pidfd: int, jail: Jail, token: str, started_at: int) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.jail = jail
        self.token = token
        self.started_at = started_at
        self.starttime = tree.starttime(pid) or 0  # the kernel's: names the pid for reclaim
        self.exited = False  # the pidfd fired: the pid is reaped and may be reused
        self.open_fds: dict[int, str] = {}  # pipe read end -> stream
        self.streams_closed = asyncio.Event()
        self.done = asyncio.Event()


class Supervisor:
    """Owns the process of one service (``service.command`` must not be empty); implements
    ``vigil.targets.base.Target``. Every lifecycle event goes to ``report``, in order."""

    owned = True

    def __init__(
        self,
        service: ServiceConfig,
        *,
        clock: Clock,
        log: ServiceLog,
        report: Callable[[LifecycleEvent], None],
        ref: TargetRef | None = None,
    ) -> None:
        if not service.command:
            raise ValueError(f"service {service.name} has no command to supervise")
        try:
            self._stop_signal = parse_signal(service.effective_stop_signal)
            configured = parse_signal(service.stop_signal) if service.stop_signal else None
        except ValueError as exc:
            where = f"services.{service.name}.stop_signal"
            raise ConfigError(ConfigProblem(where, str(exc))) from None
        self._configured_stop_signal = configured
        self._service = service
        self._clock = clock
        self._log = log
        self._report = report
        self._ref = ref or TargetRef(service.name, service.name)
        self._tracker = RestartTracker.fresh(service.restart)
        self._state = lifecycle.NEVER_STARTED
        self._run: _Run | None = None
        self._lingering: set[_Run] = set()  # exited runs whose pipes are still open
        self._pending_restart: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._cleanups: set[asyncio.Task[None]] = set()  # after an exit; awaited, not cancelled
        self._lock = asyncio.Lock()
        self._manually_stopped = False
        self._shutting_down = False

    @property
    def ref(self) -> TargetRef:
        return self._ref

    @property
    def service(self) -> ServiceConfig:
        return self._service

    @property
    def state(self) -> ProcessState:
        return self._state

    @property
    def manually_stopped(self) -> bool:
        """Docker's ``HasBeenManuallyStopped`` (``unless-stopped`` after a daemon restart)."""
        return self._manually_stopped

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the process (no-op if running, paused or restarting). Errors land in state."""
        async with self._lock:
            self._start_locked()

    async def stop(self, timeout_ns: int | None = None) -> None:
        """Stop signal, then SIGKILL after ``timeout_ns`` (None: the service's grace period)."""
        async with self._lock:
            await self._stop_locked(timeout_ns)

    async def restart(self, timeout_ns: int | None = None) -> None:
        """Stop (if running) and start again; RestartCount goes back to 0 (Docker)."""
        async with self._lock:
            await self._stop_locked(timeout_ns)
            self._start_locked()

    async def close(self, timeout_ns: int | None = None) -> None:
        """Daemon shutdown: stop without marking the service manually stopped; release all."""
        self._shutting_down = True
        async with self._lock:
            await self._stop_locked(timeout_ns)
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        for run in list(self._lingering):
            self._close_streams(run)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def run_record(self) -> dict[str, object] | None:
        """The current run, JSON-able, for ``vigil.linux.contain.reclaim`` by a successor
        daemon if this one is killed; None when nothing runs."""
        run = self._run
        if run is None or run.exited:
            return None
        return {
            "pid": run.pid,
            "starttime": run.starttime,
            "token": run.token,
            "jail": run.jail.record(),
            "stop_signal": int(self._stop_signal),
            "stop_grace_ns": self._service.effective_stop_grace_period,
        }

    def kill(self, sig: int = signal.SIGKILL, *, by_user: bool = True) -> bool:
        """Docker ``kill``: signal the main process; False if it is not running. Not
        ``by_user`` (remediation), the exit is a crash: the restart policy is left alone."""
        status = self._state.status
        if status not in (ProcessStatus.RUNNING, ProcessStatus.PAUSED, ProcessStatus.RESTARTING):
            return False
        cancels = by_user and kill_cancels_restart(sig, self._configured_stop_signal)
        if cancels:
            self._tracker = cancel(self._tracker)
        if by_user and not self._shutting_down:
            self._manually_stopped = True  # moby sets it for every kill
        run = self._run
        if status is ProcessStatus.RESTARTING or run is None:
            if cancels:
                self._cancel_pending_restart()
            return True
        if sig == signal.SIGKILL:
            self._kill_run(run)
        else:
            self._signal_main(run, sig)
        if status is ProcessStatus.PAUSED and cancels:
            self._signal_run(run, signal.SIGCONT)
            self._apply(*lifecycle.unpaused(self._state, self._ref, at=self._now()))
        return True

    def pause(self) -> bool:
        """Freeze the run (or SIGSTOP the group and escaped processes); False unless running."""
        run = self._run
        if self._state.status is not ProcessStatus.RUNNING or run is None:
            return False
        self._signal_run(run, signal.SIGSTOP)
        self._apply(*lifecycle.paused(self._state, self._ref, at=self._now()))
        return True

    def unpause(self) -> bool:
        """Thaw the run (or SIGCONT the group and escaped processes); False unless paused."""
        run = self._run
        if self._state.status is not ProcessStatus.PAUSED or run is None:
            return False
        self._signal_run(run, signal.SIGCONT)
        self._apply(*lifecycle.unpaused(self._state, self._ref, at=self._now()))
        return True

    # -- start ---------------------------------------------------------------------------

    def _start_locked(self) -> None:
        if self._shutting_down or self._state.status in (
            ProcessStatus.RUNNING,
            ProcessStatus.PAUSED,
            ProcessStatus.RESTARTING,
        ):
            return
        self._tracker = RestartTracker.fresh(self._service.restart)
        self._manually_stopped = False
        self._state = lifecycle.manual_start(self._state)
        self._spawn(automatic=False)

    def _spawn(self, *, automatic: bool) -> None:
        token = secrets.token_hex(16)
        try:
            run = self._launch(token)
        except StartError as exc:
            self._start_failed(str(exc), automatic=automatic)
            return
        self._run = run
        self._apply(*lifecycle.started(self._state, self._ref, pid=run.pid, at=run.started_at,
                                       restart_count=self._tracker.restart_count))

    def _launch(self, token: str) -> _Run:
        service = self._service
        jail = contain.open_jail(token=token)
        spec = LaunchSpec(
            service.command,
            _environment(service, token),
            cwd=service.working_dir,
            user=service.user,
            separate_stderr=True,
            new_session=True,
        )
        try:
            child = launch(spec, jail)
        except BaseException:
            jail.close()
            raise
        assert child.error_fd is not None
        run = _Run(child.pid, child.pidfd, jail, token, self._clock.now_ns())
        loop = asyncio.get_running_loop()
        for fd, stream in ((child.output_fd, STDOUT), (child.error_fd, STDERR)):
            run.open_fds[fd] = stream
            loop.add_reader(fd, self._on_output, run, fd)
        loop.add_reader(run.pidfd, self._on_exit, run)
        return run

    def _start_failed(self, message: str, *, automatic: bool) -> None:
        self._apply(*lifecycle.start_failed(self._state, self._ref, message=message,
                                            at=self._now(), automatic=automatic))

    # -- output and exit -----------------------------------------------------------------

    def _on_output(self, run: _Run, fd: int) -> None:
        data = _process.read_some(fd, _READ_CHUNK)
        if data is None:
            return
        stream = run.open_fds[fd]
        if data:
            self._log.append(stream, data, self._clock.now_ns())
            return
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        del run.open_fds[fd]
        self._log.flush(self._clock.now_ns(), stream)
        if not run.open_fds:
            run.streams_closed.set()
            self._lingering.discard(run)

    def _close_streams(self, run: _Run) -> None:
        loop = asyncio.get_running_loop()
        for fd, stream in list(run.open_fds.items()):
            loop.remove_reader(fd)
            os.close(fd)
            self._log.flush(self._clock.now_ns(), stream)
        run.open_fds.clear()
        run.streams_closed.set()
        self._lingering.discard(run)

    def _on_exit(self, run: _Run) -> None:
        """The main process ended. As moby's ``handleContainerExit``: the health monitor is
        stopped first (``TargetExiting``), whatever the pipes do; then what is left of the run
        is killed and the output drained (at most ``STREAM_DRAIN_S``); then ``TargetDied``."""
        asyncio.get_running_loop().remove_reader(run.pidfd)
        _process.kill_group(run.pid)  # the unreaped leader keeps the pgid from reuse
        run.jail.kill()
        try:
            pid, status = os.waitpid(run.pid, os.WNOHANG)
            code = _process.exit_code(status) if pid else 255
        except ChildProcessError:
            code = 255  # someone else reaped it: the status is lost
        run.exited = True
        _process.untrack(run.pid)
        os.close(run.pidfd)
        finished_at = self._clock.now_ns()
        self._report(TargetExiting(self._ref, finished_at, code))
        cleanup = asyncio.get_running_loop().create_task(
            self._finish_exit(run, code, finished_at))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)

    async def _finish_exit(self, run: _Run, code: int, finished_at: int) -> None:
        try:
            await contain.clear(run.jail)
            await _process.reap_group(run.pid)  # members reparented to us (subreaper)
            if not await _wait_event(run.streams_closed, STREAM_DRAIN_S):
                self._lingering.add(run)  # a survivor holds a pipe: read on, close later
        finally:
            run.jail.close()
            self._decide_after_exit(run, code, finished_at)

    def _decide_after_exit(self, run: _Run, code: int, finished_at: int) -> None:
        decision = should_restart(
            self._tracker,
            exit_code=code,
            manually_stopped=self._manually_stopped or self._shutting_down,
            uptime_ns=finished_at - run.started_at,
        )
        self._tracker = decision.tracker
        self._run = None
        self._apply(*lifecycle.exited(self._state, self._ref, exit_code=code, at=finished_at,
                                      decision=decision))
        run.done.set()
        if decision.restart:
            self._pending_restart = self._spawn_task(self._restart_after(decision.delay_ns))

    async def _restart_after(self, delay_ns: int) -> None:
        await self._clock.sleep_ns(delay_ns)
        self._pending_restart = None
        if self._state.status is ProcessStatus.RESTARTING and not self._tracker.canceled:
            self._spawn(automatic=True)

    def _cancel_pending_restart(self) -> None:
        if self._pending_restart is not None:
            self._pending_restart.cancel()
            self._pending_restart = None
        self._state = lifecycle.restart_called_off(self._state)

    # -- stop and signals ----------------------------------------------------------------

    async def _stop_locked(self, timeout_ns: int | None) -> None:
        status = self._state.status
        if status not in (ProcessStatus.RUNNING, ProcessStatus.PAUSED, ProcessStatus.RESTARTING):
            return
        if not self._shutting_down:
            self._manually_stopped = True
        self._tracker = cancel(self._tracker)
        run = self._run
        if status is ProcessStatus.RESTARTING or run is None:
            self._cancel_pending_restart()  # moby: nothing to signal, the restart is off
            self._report(TargetStopped(self._ref, self._now()))
            return
        grace = self._service.effective_stop_grace_period if timeout_ns is None else timeout_ns
        if not self._signal_main(run, self._stop_signal) and grace >= 0:
            grace = NO_SIGNAL_WAIT
        if status is ProcessStatus.PAUSED:
            self._signal_run(run, signal.SIGCONT)  # a stopped process cannot handle it
            self._apply(*lifecycle.unpaused(self._state, self._ref, at=self._now()))
        if not await self._wait_exit(run, grace if grace >= 0 else None):
            self._kill_run(run)
            await run.done.wait()
        self._report(TargetStopped(self._ref, self._now()))

    async def _wait_exit(self, run: _Run, timeout_ns: int | None) -> bool:
        return await wait_for_event(self._clock, run.done, timeout_ns)

    def _signal_main(self, run: _Run, sig: int) -> bool:
        if run.exited:
            return False
        try:
            signal.pidfd_send_signal(run.pidfd, sig)
        except (ProcessLookupError, OSError):
            return False  # exited (or the pidfd is already closed): the exit handler runs
        except (OverflowError, ValueError):  # a stop_signal Docker accepts but Linux lacks
            return False
        self._report(TargetKilled(self._ref, self._now(), sig))
        return True

    def _kill_run(self, run: _Run) -> None:
        self._signal_run(run, signal.SIGKILL)
        self._report(TargetKilled(self._ref, self._now(), signal.SIGKILL))

    def _signal_run(self, run: _Run, sig: int) -> None:
        """SIGKILL, SIGSTOP or SIGCONT for the whole run; the latter two freeze and thaw
        where the jail can."""
        if sig in (signal.SIGSTOP, signal.SIGCONT) and run.jail.freeze(sig == signal.SIGSTOP):
            return
        if not run.exited:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(run.pid, sig)  # the leader is not reaped yet: the pgid is ours
        if sig == signal.SIGKILL:
            run.jail.kill()  # waited for and reaped once the main process is gone
        else:
            tree.signal_pids(run.jail.pids(), sig)

    # -- plumbing ------------------------------------------------------------------------

    def _apply(self, state: ProcessState, events: list[LifecycleEvent]) -> None:
        """The one place process state changes: store it, then report what happened."""
        self._state = state
        for event in events:
            self._report(event)

    def _now(self) -> int:
        return self._clock.now_ns()

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _environment(service: ServiceConfig, token: str) -> dict[str, str]:
    user = service.user if os.geteuid() == 0 else None  # only root switches users
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": socket.gethostname(), "HOME": _home(user)}
    env.update(service.environment)
    env[SERVICE_ENV] = service.name
    env[SERVICE_ID_ENV] = token
    return env


def _home(user: str | None) -> str:
    """runc sets HOME to the user's passwd home when the environment has none; else ``/``."""
    name = (user or "").partition(":")[0]
    try:
        if not name:
            return pwd.getpwuid(os.geteuid()).pw_dir
        return (pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)).pw_dir
    except (KeyError, ValueError):  # ValueError: "¹" passes isdigit(), not int()
        return "/"


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait (real time) for ``event``; False after ``timeout_s``."""
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return False
    return True
