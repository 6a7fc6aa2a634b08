"""Containers of the real dockerd mirrored as ``docker/<name>`` services: health transitions
as Docker made them, verbs sent to the engine, a dockerd restart with nothing lost, removal,
and an engine that is not there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.docker_engine import DockerEngine

from vigil.core.events import ProbeCompleted, StatusChanged, TargetDied, TargetEvent
from vigil.core.lifecycle import ProcessStatus
from vigil.daemon.containers import ContainerWatcher
from vigil.daemon.manager import Manager
from vigil.docker.mirror import health_state
from vigil.dockerd.client import DockerClient
from vigil.exceptions import ConflictError
from vigil.runtime.clock import SystemClock
from vigil.runtime.engine import Engine

HEALTHY_CMD = ("sh", "-c",
               "touch /tmp/ok; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")
DEADLINE_S = 40.0


async def until(condition: Callable[[], object], what: str,
                timeout_s: float = DEADLINE_S) -> None:
    async with asyncio.timeout(timeout_s):
        # bounded poll: the engine's state has no event to await
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    del what


class Harness:
    def __init__(self, host: str, log_dir: Path) -> None:
        self.clock = SystemClock()
        self.engine = Engine(clock=self.clock)
        self.manager = Manager(clock=self.clock, engine=self.engine, log_dir=log_dir)
        self.client = DockerClient(host)
        self.watcher = ContainerWatcher(self.manager, self.client, clock=self.clock)
        self.events: list[TargetEvent] = []
        self.engine.stream.observe(self.events.append)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self.task = asyncio.get_running_loop().create_task(self.watcher.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.watcher.aclose()
        await self.client.aclose()
        await self.engine.aclose()

    def changes(self, name: str) -> list[tuple[str, str]]:
        return [(e.old.value, e.new.value) for e in self.events
                if isinstance(e, StatusChanged) and e.target.name == name]

    def status(self, name: str) -> ProcessStatus | None:
        if name not in self.manager.names():
            return None
        return self.manager.lookup(name).process.status


def _run(body: Callable[[], object]) -> None:
    async def main() -> None:
        async with asyncio.timeout(240):
            await body()  # type: ignore[misc]
    asyncio.run(main())


def test_health_is_mirrored_as_docker_made_it(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """starting → healthy → unhealthy → healthy as /tmp/ok comes and goes: vigil's
    StatusChanged events are Docker's, and its ProbeCompleted results are Docker's Log."""
    name = "docker/mirror"

    async def body() -> None:
        async with Harness(docker_engine.host, tmp_path) as h:
            await until(h.watcher.connected.is_set, "connected")
            docker_engine.run("mirror", image="vigil-health:test")
            docker_engine.docker("rm", "-f", "mirror")  # a first life, gone: forgotten
            await until(lambda: h.status(name) is None, "forgotten")
            docker_engine.docker("run", "-d", "--network", "none", "--name", "mirror",
                                 "vigil-health:test", *HEALTHY_CMD)
            await until(lambda: h.changes(name) == [("starting", "healthy")], "healthy")
            assert h.status(name) is ProcessStatus.RUNNING
            docker_engine.docker("exec", "mirror", "rm", "/tmp/ok")
            await until(lambda: len(h.changes(name)) == 2, "unhealthy")
            docker_engine.docker("exec", "mirror", "touch", "/tmp/ok")
            await until(lambda: len(h.changes(name)) == 3, "healthy again")
            assert h.changes(name) == [("starting", "healthy"), ("healthy", "unhealthy"),
                                       ("unhealthy", "healthy")]

            def mirrored_starts() -> list[int]:
                return [e.result.start for e in h.events
                        if isinstance(e, ProbeCompleted) and e.target.name == name]

            def log_is_mirrored() -> bool:
                # Docker keeps probing: a Log entry newer than vigil's last read shows up
                # here first and is mirrored at the next read, so wait for them to agree
                docker_state = docker_engine.inspect("mirror")["State"]
                assert isinstance(docker_state, dict)
                docker_log = [r.start for r in health_state(docker_state).log]  # type: ignore[union-attr]
                mirrored = mirrored_starts()
                return mirrored[-len(docker_log):] == docker_log[-len(mirrored):]

            await until(log_is_mirrored, "Docker's Log mirrored")
            mirrored = mirrored_starts()
            assert len(set(mirrored)) == len(mirrored)  # none twice
            view = h.manager.view(name)
            assert view.health is not None
            assert view.health.status.value == "healthy"
    _run(body)


def test_verbs_act_on_the_engine(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """pause, unpause, stop, start, restart and kill of docker/verbs reach the container."""
    name = "docker/verbs"

    def docker_status() -> str:
        state = docker_engine.inspect("verbs")["State"]
        assert isinstance(state, dict)
        return str(state["Status"])

    async def body() -> None:
        async with Harness(docker_engine.host, tmp_path) as h:
            docker_engine.run("verbs")
            await until(lambda: h.status(name) is ProcessStatus.RUNNING, "adopted")
            await h.manager.pause(name)
            await until(lambda: docker_status() == "paused", "paused")
            await until(lambda: h.status(name) is ProcessStatus.PAUSED, "vigil paused")
            await h.manager.unpause(name)
            await until(lambda: h.status(name) is ProcessStatus.RUNNING, "unpaused")
            await h.manager.stop(name, timeout_ns=5_000_000_000)
            assert docker_status() == "exited"
            assert h.status(name) is ProcessStatus.EXITED
            assert await h.manager.up() == []  # vigil's own services only: none started
            assert docker_status() == "exited"
            await h.manager.start(name)
            assert docker_status() == "running"
            await h.manager.restart(name)
            assert h.status(name) is ProcessStatus.RUNNING
            with pytest.raises(ConflictError, match="docker rm"):
                await h.manager.remove(name, force=True)  # the engine's, not vigil's
            await h.manager.kill(name, "SIGKILL")
            await until(lambda: docker_status() == "exited", "killed")
            await until(lambda: h.status(name) is ProcessStatus.EXITED, "vigil saw the kill")
            docker_engine.docker("rename", "verbs", "verbs2")
            await until(lambda: h.status("docker/verbs2") is ProcessStatus.EXITED, "renamed")
            assert h.status(name) is None
    try:
        _run(body)
    finally:
        docker_engine.docker("rm", "-f", "verbs", "verbs2", check=False)


def test_dockerd_restart_loses_nothing(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """dockerd goes away while vigil watches: the container's die is seen after the
    reconnection, a container created meanwhile is adopted, one removed is forgotten."""
    async def body() -> None:
        async with Harness(docker_engine.host, tmp_path) as h:
            docker_engine.run("survivor")
            docker_engine.run("doomed")
            await until(lambda: h.status("docker/survivor") is ProcessStatus.RUNNING, "adopted")
            await until(lambda: h.status("docker/doomed") is ProcessStatus.RUNNING, "adopted")
            await asyncio.to_thread(docker_engine.stop)  # stops its containers
            await until(lambda: not h.watcher.connected.is_set(), "disconnected")
            await asyncio.to_thread(docker_engine.start)
            docker_engine.docker("rm", "-f", "doomed")
            docker_engine.run("newcomer")
            await until(lambda: h.watcher.sessions >= 2 and h.watcher.connected.is_set(),
                        "reconnected")
            await until(lambda: h.status("docker/newcomer") is ProcessStatus.RUNNING, "new")
            assert h.status("docker/survivor") is ProcessStatus.EXITED
            assert h.status("docker/doomed") is None
            died = [e for e in h.events if isinstance(e, TargetDied)
                    and e.target.name == "docker/survivor"]
            assert len(died) == 1
    try:
        _run(body)
    finally:
        for name in ("survivor", "doomed", "newcomer"):
            docker_engine.docker("rm", "-f", name, check=False)


def test_engine_absent_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No engine: one error line naming it, no traceback, retried; the manager is untouched."""
    async def body() -> None:
        async with Harness(f"unix://{tmp_path}/absent.sock", tmp_path) as h:
            await until(lambda: h.watcher.failures >= 2, "a retry after the back-off")
            assert not h.watcher.connected.is_set()
            assert h.manager.names() == []
    with caplog.at_level(logging.ERROR, logger="vigil"):
        _run(body)
    lines = [r for r in caplog.records if "absent.sock" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].exc_info is None
