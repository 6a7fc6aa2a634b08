"""The exec probe of a container: Docker's ``CMD`` / ``CMD-SHELL`` health check, run through
the engine's exec API with vigil's runtime semantics, whatever the engine's version.

What it does (moby ``daemon/health.go`` ``cmdProbe.run`` as of v24+, which old engines lack):
- exec create with ``Cmd`` (``CMD-SHELL`` prepends the container's shell), the check's
  ``Env``, ``User`` and ``WorkingDir`` (unset: the container's own, as Docker), stdout and
  stderr attached, no TTY; then exec start, attached. Starting (exec create, until exec
  inspect says the process runs, polled with a doubling pause from 5 ms: moby's
  ``execConfig.Started``) may take up to 30 s, moby's separate limit; then the result is an
  error, ``timed out starting health check for container <id>``.
- The timeout counts from the start of the exec, as vigil's and moby's. The multiplexed
  stream is read as it comes into one 4096-byte buffer for both streams (``OutputBuffer``:
  the rest only counted, ``...`` appended), so a chatty check costs no memory. The exit
  code is exec inspect's, once the engine reports the exec ended; a check the engine says
  ended without one is an error, as moby's ``has no exit code``.
- On timeout (and when the monitor is cancelled) the check's process is killed, as moby
  v24+ does with SIGKILL: its host PID is taken from exec inspect and the process and its
  descendants are stopped then SIGKILLed from vigil's side (``vigil.linux.tree``, which
  walks a process's children only once it has stopped, so a child it was forking at the
  timeout is killed too), so a ``sh -c`` check leaves no orphan either (vigil's process
  probes kill the whole tree).
  This needs vigil in the engine's PID namespace (a local engine); otherwise the process
  is left to the engine and a warning is logged once per probe. The result is Docker's
  newest text with the output so far, ``Health check exceeded timeout (1s): ...``.
- The engine's errors (no such container, not running, the connection dropped because the
  container was removed) are ``Outcome.ERROR`` with the engine's message. A probe never
  raises, except ``asyncio.CancelledError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from vigil.core.config import DEFAULT_SHELL, TEST_CMD, TEST_SHELL
from vigil.core.results import Outcome, OutputBuffer, timeout_output
from vigil.exceptions import DockerEngineError, ProbeError
from vigil.go.duration import MILLISECOND, SECOND
from vigil.linux import tree
from vigil.probes import ProbeReport
from vigil.runtime.clock import Clock, Deadline

START_TIMEOUT_NS = 30 * SECOND  # moby cmdProbe.run: the limit on starting the exec
START_POLL_FIRST_NS = 5 * MILLISECOND  # then doubling, up to START_POLL_MAX_NS
START_POLL_MAX_NS = 100 * MILLISECOND
MAX_START_POLLS = 400  # bounded: 30 s of the longest pause, and the start limit stands too
EXIT_POLL_NS = 10 * MILLISECOND  # the exec's stream ended; its exit code comes just after
MAX_EXIT_POLLS = 500  # bounded: the whole wait is also under the probe's timeout

_log = logging.getLogger("vigil")


class ExecApi(Protocol):
    """The three exec calls of the engine API the probe needs: ``vigil.dockerd.DockerClient``
    has them (tests may pass their own). They raise ``DockerEngineError``."""

    async def exec_create(
        self,
        ref: str,
        cmd: Sequence[str],
        *,
        env: Sequence[str] = (),
        user: str = "",
        workdir: str = "",
    ) -> str: ...

    def exec_start(self, exec_id: str) -> AsyncIterator[tuple[int, bytes]]:
        """(stream, bytes) of the exec's output until it ends."""
        ...

    async def exec_inspect(self, exec_id: str) -> Mapping[str, Any]: ...


class DockerExecProbe:
    """A ``CMD`` or ``CMD-SHELL`` check run in ``container`` through ``api``. Implements the
    ``Probe`` protocol. ``shell`` is the container's ``Config.Shell`` (empty: ``/bin/sh -c``)."""

    __slots__ = ("_api", "_cmd", "_container", "_env", "_test", "_user", "_workdir")

    def __init__(
        self,
        api: ExecApi,
        container: str,
        test: tuple[str, ...],
        *,
        environment: Mapping[str, str] = MappingProxyType({}),
        user: str | None = None,
        working_dir: str | None = None,
        shell: tuple[str, ...] = (),
    ) -> None:
        if not test or test[0] not in (TEST_CMD, TEST_SHELL):
            kind = test[0] if test else ""
            raise ProbeError(f"Unknown healthcheck type '{kind}' (expected 'CMD')")
        command = list(test[1:])
        if command and test[0] == TEST_SHELL:
            command = [*(shell or DEFAULT_SHELL), *command]
        self._api = api
        self._container = container
        self._test = tuple(test)
        self._cmd = tuple(command)
        self._env = tuple(f"{k}={v}" for k, v in environment.items())
        self._user = user or ""
        self._workdir = working_dir or ""

    @property
    def test(self) -> tuple[str, ...]:
        return self._test

    def __repr__(self) -> str:
        return f"DockerExecProbe({self._container[:12]!r}, {self._test!r})"

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        """Run the check once in the container; the timeout counts from the exec's start."""
        if not self._cmd:
            return _error(f"healthcheck for container {self._container} has no command")
        exec_id = ""
        output = OutputBuffer()  # stdout and stderr in one, as moby's limitedBuffer
        reading: asyncio.Task[None] | None = None
        try:
            starting = Deadline(clock, START_TIMEOUT_NS)
            try:
                async with starting:
                    exec_id = await self._api.exec_create(
                        self._container,
                        self._cmd,
                        env=self._env,
                        user=self._user,
                        workdir=self._workdir,
                    )
                    reading = asyncio.get_running_loop().create_task(
                        _read(self._api.exec_start(exec_id), output)
                    )
                    await _started(self._api, exec_id, reading, clock)
            except TimeoutError:
                if not starting.expired:
                    raise
                _kill_later(self._api, exec_id)  # it may start after all
                return _error(f"timed out starting health check for container {self._container}")
            return await self._finish(exec_id, reading, output, timeout_ns, clock)
        except asyncio.CancelledError:
            _kill_later(self._api, exec_id)  # moby cancels the exec's context: SIGKILL
            raise
        except DockerEngineError as exc:
            return _error(exc.message or type(exc).__name__)
        finally:
            if reading is not None:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)  # retrieved, whatever

    async def _finish(
        self,
        exec_id: str,
        reading: asyncio.Task[None],
        output: OutputBuffer,
        timeout_ns: int,
        clock: Clock,
    ) -> ProbeReport:
        running = Deadline(clock, timeout_ns)
        try:
            async with running:
                await reading
                code = await _exit_code(self._api, exec_id, clock)
        except TimeoutError:
            if not running.expired:
                raise
            await kill_exec(self._api, exec_id)
            return ProbeReport(Outcome.TIMEOUT, -1, timeout_output(timeout_ns, output.text()))
        if code is None:
            return _error(f"healthcheck for container {self._container} has no exit code")
        return ProbeReport(Outcome.PASS if code == 0 else Outcome.FAIL, code, output.text())


async def _read(pieces: AsyncIterator[tuple[int, bytes]], output: OutputBuffer) -> None:
    try:
        async for _, data in pieces:
            output.write(data)  # keeps reading past 4096 bytes, only counting what it drops
    finally:
        close = getattr(pieces, "aclose", None)
        if close is not None:
            await close()


async def _started(api: ExecApi, exec_id: str, reading: asyncio.Task[None], clock: Clock) -> None:
    """Until the engine says the exec runs (or ran): moby's ``execConfig.Started``. The
    time the engine and runc take to start it is not the check's (moby v24+)."""
    pause = START_POLL_FIRST_NS  # doubling: runc takes tens of ms, few inspects wanted
    for _ in range(MAX_START_POLLS):
        if reading.done():
            return
        await clock.sleep_ns(pause)
        if reading.done():
            return
        info = await api.exec_inspect(exec_id)
        if info.get("Running") or info.get("Pid") or info.get("ExitCode") is not None:
            return
        pause = min(pause * 2, START_POLL_MAX_NS)


async def _exit_code(api: ExecApi, exec_id: str, clock: Clock) -> int | None:
    """The exec's exit code once the engine says it ended (its output may end first)."""
    for _ in range(MAX_EXIT_POLLS):
        info = await api.exec_inspect(exec_id)
        if not info.get("Running"):
            code = info.get("ExitCode")
            return code if isinstance(code, int) and not isinstance(code, bool) else None
        await clock.sleep_ns(EXIT_POLL_NS)
    return None


async def kill_exec(api: ExecApi, exec_id: str) -> bool:
    """SIGKILL a running exec's process and its descendants from this host, as moby v24+
    kills a timed-out check; whether it was found here. Only a process whose cgroup names
    the exec's container is touched: a PID from an engine in another PID namespace (or
    reused meanwhile) is never signalled."""
    if not exec_id:
        return False
    try:
        info = await api.exec_inspect(exec_id)
    except DockerEngineError:
        return False  # gone with its container
    pid, container = info.get("Pid"), info.get("ContainerID")
    if (
        not info.get("Running")
        or not isinstance(pid, int)
        or pid <= 0
        or not isinstance(container, str)
        or not container
    ):
        return False
    started = tree.starttime(pid)
    if started is None or not _in_container(pid, container):
        _log.warning(
            "health check exec %s of container %s timed out; its process %d is not "
            "visible from vigil, so the engine keeps it",
            exec_id[:12],
            container[:12],
            pid,
        )
        return False
    if tree.is_alive(pid, started):
        # off the loop: kill_trees waits (bounded) for each process to stop before it
        # walks its children, so that a fork the check was in is not missed
        await asyncio.to_thread(tree.kill_trees, [pid])
    return True


def _in_container(pid: int, container: str) -> bool:
    """Whether ``pid``'s cgroup names ``container`` (cgroupfs ``/docker/<id>`` and systemd
    ``docker-<id>.scope`` alike)."""
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as file:
            return container.encode() in file.read(65536)
    except OSError:
        return False


_killing: set[asyncio.Task[bool]] = set()


def _kill_later(api: ExecApi, exec_id: str) -> None:
    """Kill the exec in the background: its probe was cancelled or gave up starting."""
    if not exec_id:
        return
    task = asyncio.get_running_loop().create_task(kill_exec(api, exec_id))
    _killing.add(task)
    task.add_done_callback(_killing.discard)


def _error(message: str) -> ProbeReport:
    return ProbeReport(Outcome.ERROR, -1, message)
