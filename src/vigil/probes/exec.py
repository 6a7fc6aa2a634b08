"""The exec probe: Docker's ``CMD`` / ``CMD-SHELL`` health check, run as a local process.

What Docker does, and so what this does (reference §2.5-2.7):
- ``CMD`` runs ``test[1:]`` directly; ``CMD-SHELL`` runs ``shell + test[1:]``. The executable
  is looked up with the *probe's* PATH (as inside a container), with Go's ``LookPath`` rules
  and error texts.
- The environment is Docker's, not vigil's: ``PATH`` (Docker's default) and ``HOSTNAME``,
  then the service's variables override or append. stdin is /dev/null, no TTY, stdout and
  stderr share one 4096-byte ``OutputBuffer``, drained continuously so a chatty probe
  never blocks.
- Starting (waiting for a spawn slot, the lookup, the spawn) may take up to 30 s on the
  injected clock (moby's separate limit on starting the exec); then the probe is an error,
  ``timed out starting health check for service <id>``, and a child spawned later is killed.
- The timeout counts from the moment the process started. A probe is its whole process
  group (``pgid == pid``) and everything in its jail (``vigil.linux.contain``: one jail
  per probe object, reused by each run, so a probe costs one cgroup write, not a mkdir).
  When the main process exits, its output is read, whatever is left of its group and jail
  is SIGKILLed, and the pipe is closed without waiting for EOF from leftovers. On timeout
  or cancellation the group and the jail are SIGKILLed and reaped (see
  ``vigil.linux.process`` for zombies and the subreaper), and the orphans that escaped
  before the jail held them are swept.
- A probe that cannot start gives ``Outcome.ERROR`` with a runc/Go-like text; a probe never
  raises, except ``asyncio.CancelledError``. Texts name the target by ID, as Docker names
  the container's ID.
"""

from __future__ import annotations

import asyncio
import os
import socket
import weakref
from collections.abc import Mapping
from functools import lru_cache, partial
from types import MappingProxyType

from vigil.core.config import DEFAULT_PATH, DEFAULT_SHELL, TEST_CMD, TEST_SHELL, ServiceConfig
from vigil.core.probespec import ExecSpec, spec_for_service
from vigil.core.results import Outcome, OutputBuffer, timeout_output
from vigil.exceptions import ProbeError
from vigil.go.duration import SECOND
from vigil.linux import contain
from vigil.linux import process as _process
from vigil.linux.contain import Jail
from vigil.linux.launch import Child, LaunchSpec, StartError, launch_async, setpriv_failure
from vigil.probes import ProbeReport
from vigil.runtime.clock import Clock, Deadline

START_TIMEOUT_NS = 30 * SECOND  # moby cmdProbe.run: the limit on starting the exec
_READ_CHUNK = 65536
_MAX_DRAIN_READS = 64  # bounds the final drain if a leftover outlived its SIGKILL briefly


class ExecProbe:
    """A ``CMD`` or ``CMD-SHELL`` health check. Implements the ``Probe`` protocol.

    ``user`` (``name``, ``uid``, ``name:group`` or ``uid:gid``) is applied only when vigil
    runs as root; ``working_dir`` None means vigil's own working directory. ``target_id``
    (the service's ID) is how error texts name the target; empty, they name none.
    """

    __slots__ = ("__weakref__", "_environment", "_jails", "_spec", "_target_id", "_test")

    def __init__(
        self,
        test: tuple[str, ...],
        *,
        environment: Mapping[str, str] = MappingProxyType({}),
        working_dir: str | None = None,
        user: str | None = None,
        shell: tuple[str, ...] = DEFAULT_SHELL,
        target_id: str = "",
    ) -> None:
        if not test or test[0] not in (TEST_CMD, TEST_SHELL):
            kind = test[0] if test else ""
            raise ProbeError(f"Unknown healthcheck type '{kind}' (expected 'CMD')")
        self._test = tuple(test)
        command = self._test[1:]
        if command and test[0] == TEST_SHELL:
            command = (*(shell or DEFAULT_SHELL), *command)
        if environment:
            env = {"PATH": DEFAULT_PATH, "HOSTNAME": socket.gethostname()}
            env.update(environment)
            self._environment: Mapping[str, str] = MappingProxyType(env)
        else:  # the usual case: one shared mapping instead of a dict per probe
            self._environment = _default_environment(socket.gethostname())
        # No command: each run reports "has no command", as Docker >= 29.5 does.
        self._spec = (
            LaunchSpec(command, self._environment, cwd=working_dir, user=user)
            if command
            else None
        )
        self._target_id = target_id
        # Idle jails: one, unless a caller runs this probe twice at once (the monitor never).
        self._jails: list[Jail] = []
        weakref.finalize(self, _close_jails, self._jails)

    @classmethod
    def from_service(cls, service: ServiceConfig, *, target_id: str = "") -> ExecProbe:
        """The probe Docker would run for ``service``'s health check."""
        spec = spec_for_service(service)
        if not isinstance(spec, ExecSpec):
            raise ProbeError(f"service {service.name} has no CMD or CMD-SHELL healthcheck")
        return cls.from_spec(spec, target_id=target_id)

    @classmethod
    def from_spec(cls, spec: ExecSpec, *, target_id: str = "") -> ExecProbe:
        """The probe that runs ``spec`` (what ``vigil.probes.build_probe`` gives)."""
        return cls(
            spec.test,
            environment=spec.environment,
            working_dir=spec.working_dir,
            user=spec.user,
            shell=spec.shell,
            target_id=target_id,
        )

    @property
    def test(self) -> tuple[str, ...]:
        return self._test

    @property
    def argv(self) -> tuple[str, ...]:
        """The command line that runs (the shell prepended for CMD-SHELL); empty if none."""
        return self._spec.argv if self._spec is not None else ()

    @property
    def environment(self) -> Mapping[str, str]:
        """The probe's complete environment."""
        return self._environment

    @property
    def target_id(self) -> str:
        return self._target_id

    def __repr__(self) -> str:
        return f"ExecProbe({self._test!r})"

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        """Run the check once; the timeout counts from the moment the process started."""
        spec = self._spec
        if spec is None:
            return _error(f"healthcheck{self._for_target} has no command")
        jail = self._jails.pop() if self._jails else contain.open_jail()
        try:
            return await self._run_in(jail, spec, timeout_ns, clock)
        finally:
            # Leftovers are rare: one cgroup read on the fast path. Without cgroups, orphans
            # that came back to us are only found by a sweep, so always clear. A process
            # that escaped before the jail held it (it forked while the spawn thread waited
            # for the GIL) has come back to us as an orphan: the quick sweep kills it.
            if jail.kind == contain.PROC or jail.busy():
                await contain.clear(jail)
            else:
                contain.sweep(quick=True)
            self._jails.append(jail)

    async def _run_in(
        self, jail: Jail, spec: LaunchSpec, timeout_ns: int, clock: Clock
    ) -> ProbeReport:
        try:
            child = await _launch_in_time(spec, jail, clock)
        except _StartTimedOut:
            return _error(f"timed out starting health check{self._for_target}")
        except StartError as exc:
            return _error(str(exc))
        except Exception as exc:  # not expected; a probe still never raises
            return _error(str(exc) or type(exc).__name__)
        try:
            finished = await _supervise(child, jail, timeout_ns, clock)
        except Exception as exc:  # not expected; a probe still never raises
            return _error(str(exc) or type(exc).__name__)
        if isinstance(finished, ProbeReport):
            return finished  # timed out
        status, output = finished
        if status is None:
            return _error(f"healthcheck{self._for_target} has no exit code")
        code = _process.exit_code(status)
        if child.via_setpriv and code in (126, 127):
            failure = setpriv_failure(output.getvalue(), spec.argv[0])
            if failure is not None:
                return _error(failure)
        return ProbeReport(Outcome.PASS if code == 0 else Outcome.FAIL, code, output.text())

    @property
    def _for_target(self) -> str:
        return f" for service {self._target_id}" if self._target_id else ""


@lru_cache(maxsize=4)
def _default_environment(hostname: str) -> Mapping[str, str]:
    return MappingProxyType({"PATH": DEFAULT_PATH, "HOSTNAME": hostname})


def _close_jails(jails: list[Jail]) -> None:
    for jail in jails:
        jail.close()


def _error(message: str) -> ProbeReport:
    return ProbeReport(Outcome.ERROR, -1, message)


# -- starting ----------------------------------------------------------------------------


class _StartTimedOut(Exception):
    pass


async def _launch_in_time(spec: LaunchSpec, jail: Jail, clock: Clock) -> Child:
    """``launch_async`` within START_TIMEOUT_NS on the injected clock. It is cancel-safe: a
    child it spawns after the deadline is killed and reaped."""
    deadline = Deadline(clock, START_TIMEOUT_NS)
    try:
        async with deadline:
            return await launch_async(spec, jail)
    except TimeoutError:
        if deadline.expired:
            raise _StartTimedOut from None
        raise


# -- running -----------------------------------------------------------------------------


async def _supervise(
    child: Child, jail: Jail, timeout_ns: int, clock: Clock
) -> ProbeReport | tuple[int | None, OutputBuffer]:
    """Wait for the exit or the timeout; the TIMEOUT report, or the wait status and output."""
    loop = asyncio.get_running_loop()
    output = OutputBuffer()
    exited: asyncio.Future[bool] = loop.create_future()
    try:
        loop.add_reader(child.pidfd, _settle, exited, True)
        loop.add_reader(child.output_fd, _read_output, loop, child.output_fd, output)
        timer = clock.call_later_ns(timeout_ns, partial(_settle, exited, False))
    except BaseException:
        await _finish(child, jail, output)
        raise
    try:
        in_time = await exited
    except BaseException:  # cancelled: the monitor stopped; kill and reap, then re-raise
        timer.cancel()
        await _finish(child, jail, output)
        raise
    timer.cancel()
    if not in_time:
        await _finish(child, jail, output)
        return ProbeReport(Outcome.TIMEOUT, -1, timeout_output(timeout_ns, output.text()))
    status = _finish_exited(child, output)
    if _process.group_exists(child.pid):  # leftovers: rare, so no coroutine on the fast path
        await _process.reap_group(child.pid)
    return status, output


async def _finish(child: Child, jail: Jail, output: OutputBuffer) -> int | None:
    """Kill what is left of the group and the jail, collect the output, reap; the leader's
    wait status."""
    _unwatch_and_kill(child)
    jail.kill()  # at once: a leftover holding the pipe or forking must not get further
    status = None
    try:
        await _process.wait_readable(child.pidfd, _process.LEADER_EXIT_WAIT_S)
        status = _process.reap_leader(child.pid)
        _drain(child.output_fd, output)
    finally:
        _close(child, status)
    await _process.reap_group(child.pid)
    await contain.clear(jail)
    return status


def _finish_exited(child: Child, output: OutputBuffer) -> int | None:
    """``_finish`` for a leader that has exited, up to the group reaping, without awaiting."""
    _unwatch_and_kill(child)
    status = None
    try:
        status = _process.reap_leader(child.pid)
        _drain(child.output_fd, output)
    finally:
        _close(child, status)
    return status


def _unwatch_and_kill(child: Child) -> None:
    loop = asyncio.get_running_loop()
    loop.remove_reader(child.pidfd)
    loop.remove_reader(child.output_fd)
    _process.kill_group(child.pid)  # safe: the unreaped leader keeps the pgid from reuse


def _close(child: Child, status: int | None) -> None:
    os.close(child.output_fd)
    os.close(child.pidfd)
    if status is None:
        _process.untrack(child.pid)  # did not die in time: left to reap_orphans


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _read_output(loop: asyncio.AbstractEventLoop, fd: int, output: OutputBuffer) -> None:
    data = _process.read_some(fd, _READ_CHUNK)
    if data is None:
        return
    if data:
        output.write(data)  # keeps draining past 4096 bytes, only counting what it drops
    else:
        loop.remove_reader(fd)  # EOF: every writer is gone


def _drain(fd: int, output: OutputBuffer) -> None:
    for _ in range(_MAX_DRAIN_READS):
        try:
            data = os.read(fd, _READ_CHUNK)
        except OSError:  # BlockingIOError: nothing more for now
            return
        if not data:
            return
        output.write(data)
