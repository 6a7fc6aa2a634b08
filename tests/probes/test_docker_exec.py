"""vigil's exec probe in a real container (the session's dockerd, ``tests.docker_engine``)
behaves like vigil's process probe: the same exit codes, output and 4096-byte cap, the
newest timeout text with the output so far, the check's process tree killed on timeout,
and an error (never a hang) when the container goes while a probe runs. Timeouts fire when
the test says so (``ManualClock``), never by waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.docker_engine import BASE_IMAGE, DockerEngine, docker_engine, wait_until

from vigil.core.results import Outcome
from vigil.dockerd.client import DockerClient
from vigil.go.duration import SECOND
from vigil.probes import ProbeReport
from vigil.probes.docker_exec import START_TIMEOUT_NS, DockerExecProbe, ExecApi
from vigil.probes.exec import ExecProbe
from vigil.runtime.clock import Cancellable

__all__ = ["docker_engine"]  # the fixture, imported for pytest

KEEP_RUNNING = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
LONG_OUTPUT = "i=0; while [ $i -lt 60 ]; do echo " + "x" * 99 + "; i=$((i+1)); done"


class ManualClock:
    """Timers fire only when the test calls ``fire``; sleeps are real and short (the probe
    polls exec inspect while the engine records an exit)."""

    def __init__(self) -> None:
        self.timers: list[tuple[int, Callable[[], object]]] = []

    def now_ns(self) -> int:
        return 0

    async def sleep_ns(self, duration_ns: int) -> None:
        await asyncio.sleep(duration_ns / 1e9)

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Cancellable:
        entry = (delay_ns, callback)
        self.timers.append(entry)
        clock = self

        class _Handle:
            def cancel(self) -> None:
                with contextlib.suppress(ValueError):
                    clock.timers.remove(entry)

        return _Handle()

    def fire(self, delay_ns: int) -> None:
        for entry in [t for t in self.timers if t[0] == delay_ns]:
            self.timers.remove(entry)
            entry[1]()


_numbers = itertools.count()


@pytest.fixture
def container(docker_engine: DockerEngine) -> Iterator[str]:
    name = f"exec-{next(_numbers)}"
    docker_engine.docker("rm", "-f", name, check=False)
    container_id = docker_engine.docker(
        "run", "-d", "--network", "none", "--name", name, BASE_IMAGE, *KEEP_RUNNING
    ).stdout.strip()
    yield container_id
    docker_engine.docker("rm", "-f", name, check=False)


class SeenApi(DockerClient):
    """The engine's API, noting when output has come (so a test can wait for it)."""

    seen = asyncio.Event()

    async def exec_start(self, exec_id: str) -> AsyncIterator[tuple[int, bytes]]:
        async for piece in super().exec_start(exec_id):
            yield piece
            SeenApi.seen.set()


async def _probe(
    engine: DockerEngine,
    container: str,
    test: tuple[str, ...],
    clock: ManualClock | None = None,
    timeout_ns: int = 60 * SECOND,
) -> ProbeReport:
    api = SeenApi(engine.host)
    try:
        probe = DockerExecProbe(api, container, test)
        return await probe.run(timeout_ns=timeout_ns, clock=clock or ManualClock())
    finally:
        await api.aclose()


async def _local(test: tuple[str, ...]) -> ProbeReport:
    probe = ExecProbe(test, shell=("/bin/busybox", "sh", "-c"))
    return await probe.run(timeout_ns=60 * SECOND, clock=ManualClock())


@pytest.mark.parametrize(
    "script",
    [
        "echo out; exit 3",
    "echo err >&2; exit 4",
        "exit 0",
        "echo ok",
        LONG_OUTPUT,
        LONG_OUTPUT + " >&2; exit 1",
    ],
)
def test_results_are_those_of_the_process_probe(
    docker_engine: DockerEngine, container: str, script: str
) -> None:
    """Exit code, stdout or stderr in one buffer, the 4096-byte cap with ``...``: as locally.
    (Through the engine the two streams are two pipes, so how their writes interleave is
    the engine's race, as in Docker: each script writes to one.)"""
    test = ("CMD-SHELL", script)
    in_container = asyncio.run(_probe(docker_engine, container, test))
    local = asyncio.run(_local(test))
    assert (in_container.outcome, in_container.exit_code, in_container.output) == (
        local.outcome,
        local.exit_code,
        local.output,
    )
    if script.startswith("i=0"):
        assert in_container.output.endswith("x" * 10 + "...")
        assert len(in_container.output) == 4096 + 3


def test_cmd_form_runs_without_a_shell(docker_engine: DockerEngine, container: str) -> None:
    """``CMD`` runs its argv directly; a missing binary is the engine's error, exit 126/127
    as the runtime reports it, never a hang."""
    report = asyncio.run(_probe(docker_engine, container, ("CMD", "echo", "$HOME")))
    assert (report.outcome, report.exit_code, report.output) == (Outcome.PASS, 0, "$HOME\n")
    missing = asyncio.run(_probe(docker_engine, container, ("CMD", "/nope")))
    assert missing.outcome in (Outcome.FAIL, Outcome.ERROR)
    assert missing.exit_code != 0


def _processes_in(container: str, word: bytes) -> list[int]:
    """Host PIDs of the container's processes whose command line holds ``word``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (
                container.encode() in (proc / "cgroup").read_bytes()
                and word in (proc / "cmdline").read_bytes()
            ):
                found.append(int(proc.name))
    return found


async def _running(container: str) -> None:
    """Until the check's ``sleep 3000`` (or the shell about to fork it, whose command line
    holds it too) runs in the container (bounded)."""
    await asyncio.to_thread(
        wait_until, lambda: _processes_in(container, b"3000"), 30, "the check to run"
    )


async def _armed(clock: ManualClock, delay_ns: int) -> None:
    """Until the probe has set its timer of ``delay_ns`` (bounded): the check's output and
    process may come before the probe has seen the exec start, and ``fire`` fires only the
    timers already set."""
    await asyncio.to_thread(
        wait_until,
        lambda: any(entry[0] == delay_ns for entry in list(clock.timers)),
        30,
        "the probe's timeout to be set",
    )


def test_timeout_gives_the_newest_text_and_kills_the_check(
    docker_engine: DockerEngine, container: str
) -> None:
    """The timeout fires once the check runs: Docker >= 24's text with the output so far,
    and the check's whole tree (the shell and its ``sleep``) is gone from the container."""
    clock = ManualClock()
    test = ("CMD-SHELL", "echo started; sleep 3000 & wait; echo never")

    async def scenario() -> ProbeReport:
        SeenApi.seen = asyncio.Event()
        run = asyncio.ensure_future(_probe(docker_engine, container, test, clock, SECOND))
        await SeenApi.seen.wait()  # bounded by the wait_for below
        await _running(container)
        await _armed(clock, SECOND)
        clock.fire(SECOND)
        return await run

    report = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert report.outcome is Outcome.TIMEOUT
    assert report.exit_code == -1
    assert report.output == "Health check exceeded timeout (1s): started\n"
    wait_until(lambda: not _processes_in(container, b"3000"), 30, "the check to be killed")


def test_a_container_removed_while_a_probe_runs_is_an_error(
    docker_engine: DockerEngine, container: str
) -> None:
    """The engine ends the exec with its container: the probe reports an error at once."""

    async def scenario() -> ProbeReport:
        run = asyncio.ensure_future(_probe(docker_engine, container, ("CMD", "sleep", "3000")))
        await _running(container)
        await asyncio.to_thread(docker_engine.docker, "rm", "-f", container)
        return await run

    report = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert report.exit_code != 0
    assert report.outcome in (Outcome.ERROR, Outcome.FAIL)


def test_no_such_or_stopped_container_is_the_engines_message(
    docker_engine: DockerEngine, container: str
) -> None:
    """Errors of the engine are the result's output, as moby reports a failed exec."""
    report = asyncio.run(_probe(docker_engine, "no-such-container", ("CMD", "true")))
    assert (report.outcome, report.exit_code) == (Outcome.ERROR, -1)
    assert report.output == "No such container: no-such-container"
    docker_engine.docker("kill", container)
    stopped = asyncio.run(_probe(docker_engine, container, ("CMD", "true")))
    assert stopped.outcome is Outcome.ERROR
    assert "is not running" in stopped.output


class StuckApi:
    """An engine that never answers exec create."""

    async def exec_create(
        self,
        ref: str,
        cmd: Sequence[str],
        *,
        env: Sequence[str] = (),
        user: str = "",
        workdir: str = "",
    ) -> str:
        await asyncio.get_running_loop().create_future()
        raise AssertionError

    async def exec_start(self, exec_id: str) -> AsyncIterator[tuple[int, bytes]]:
        raise AssertionError
        yield  # pragma: no cover

    async def exec_inspect(self, exec_id: str) -> Mapping[str, Any]:
        raise AssertionError


def test_a_wedged_engine_is_the_start_timeout() -> None:
    """Starting is bounded by moby's separate 30 s limit, with moby's text."""
    clock = ManualClock()
    api: ExecApi = StuckApi()

    async def scenario() -> ProbeReport:
        run = asyncio.ensure_future(
            DockerExecProbe(api, "c0ffee", ("CMD", "true")).run(timeout_ns=SECOND, clock=clock)
        )
        await asyncio.sleep(0)
        clock.fire(START_TIMEOUT_NS)
        return await run

    report = asyncio.run(scenario())
    assert (report.outcome, report.output) == (
        Outcome.ERROR,
        "timed out starting health check for container c0ffee",
    )


def test_environment_is_not_vigils(docker_engine: DockerEngine, container: str) -> None:
    """The exec inherits the container's environment, not vigil's."""
    os.environ.setdefault("VIGIL_ONLY_HERE", "1")
    report = asyncio.run(
        _probe(docker_engine, container, ("CMD-SHELL", "echo ${VIGIL_ONLY_HERE:-unset}"))
    )
    assert report.output == "unset\n"
