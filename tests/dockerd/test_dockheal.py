"""vigil's labels on real containers (the session's dockerd): autoheal with back-off and an
exhaustion limit, a paused container left alone, vigil's probe replacing Docker's (with the
newest start_interval behaviour on an old engine), and a bad label that only disables vigil
for its container."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypeVar

import pytest
from tests.docker_engine import HEALTH_IMAGE, DockerEngine
from tests.dockerd.test_containers import Harness, _run, until

from vigil.core.events import ProbeCompleted, Remediated, RemediationExhausted, TargetEvent
from vigil.core.lifecycle import ProcessStatus
from vigil.core.remediation import RemediationPolicy
from vigil.daemon.containers import ContainerWatcher
from vigil.daemon.remediation import Remediator
from vigil.go.duration import SECOND

E = TypeVar("E", bound=TargetEvent)
KEEP_RUNNING = ("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")
HEALTHY = ("sh", "-c", "touch /tmp/ok; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")


class HealHarness(Harness):
    """The watcher with a daemon-wide heal default, and the daemon's remediation."""

    def __init__(self, host: str, log_dir: Path, heal: str = "none") -> None:
        super().__init__(host, log_dir)
        self.watcher = ContainerWatcher(
            self.manager, self.client, clock=self.clock, heal=RemediationPolicy(heal)
        )
        self.remediator = Remediator(self.engine, self.manager, self._policy)

    def _policy(self, name: str) -> RemediationPolicy | None:
        config = self.manager.config_of(name)
        return None if config is None else config.on_unhealthy

    async def __aenter__(self) -> HealHarness:
        self.remediator.start()
        await super().__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.remediator.aclose()
        await super().__aexit__(*exc)

    def health(self, name: str) -> str:
        """The service's health status; "" until the watcher has adopted the container."""
        return self.engine.health(name).status.value if name in self.manager.names() else ""

    def of(self, kind: type[E], name: str) -> list[E]:
        return [e for e in self.events if isinstance(e, kind) and e.target.name == name]


def _start(engine: DockerEngine, name: str, *args: str) -> None:
    """``docker run -d --network none --name NAME ARGS`` (ARGS: options, image, command)."""
    engine.docker("run", "-d", "--network", "none", "--name", name, *args)


def _state(engine: DockerEngine, container: str) -> dict[str, object]:
    state = engine.inspect(container)["State"]
    assert isinstance(state, dict)
    return state


def test_autoheal_restarts_with_backoff_until_the_limit(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """An unhealthy container is restarted at once, again after the back-off, and then
    left alone with one ``remediation_exhausted`` (max 2 in the window)."""
    name = "docker/sick"

    async def body() -> None:
        async with HealHarness(docker_engine.host, tmp_path) as h:
            _start(
                docker_engine,
                "sick",
                "--label",
                "vigil.heal=restart",
                "--label",
                "vigil.heal.max_restarts=2",
                "--label",
                "vigil.heal.backoff=2s",
                HEALTH_IMAGE,
                *KEEP_RUNNING,
            )
            await until(lambda: h.of(RemediationExhausted, name), "exhausted", 120)
            acted = h.of(Remediated, name)
            assert [(e.action, e.attempt) for e in acted] == [("restart", 1), ("restart", 2)]
            assert acted[1].time_ns - acted[0].time_ns >= 2 * SECOND  # the back-off
            assert len(h.of(RemediationExhausted, name)) == 1
            assert _state(docker_engine, "sick")["Running"] is True  # left running

    try:
        _run(body)
    finally:
        docker_engine.docker("rm", "-f", "sick", check=False)


def test_the_default_heal_applies_and_a_paused_container_is_left_alone(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """Docker reports a paused container unhealthy (moby#46203), which docker-autoheal
    restarts: vigil leaves it alone, though the daemon-wide default says restart, and it is
    healthy again once unpaused."""
    name = "docker/napping"

    async def body() -> None:
        async with HealHarness(docker_engine.host, tmp_path, heal="restart") as h:
            _start(docker_engine, "napping", HEALTH_IMAGE, *HEALTHY)
            await until(lambda: h.health(name) == "healthy", "healthy")
            started = _state(docker_engine, "napping")["StartedAt"]
            docker_engine.docker("pause", "napping")
            await until(lambda: h.status(name) is ProcessStatus.PAUSED, "paused")
            await until(lambda: h.health(name) == "unhealthy", "unhealthy while paused")
            docker_engine.docker("unpause", "napping")
            await until(lambda: h.health(name) == "healthy", "healthy again")
            assert h.of(Remediated, name) == []
            assert _state(docker_engine, "napping")["StartedAt"] == started  # never restarted

    try:
        _run(body)
    finally:
        docker_engine.docker("rm", "-f", "napping", check=False)


def test_vigils_probe_replaces_dockers_with_the_newest_start_interval(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """With ``vigil.healthcheck.*`` labels vigil's monitor alone judges the container (its
    results, not Docker's Log), and on Docker 20.10, which has no start_interval, the check
    runs every start_interval during the start period (interval 1h would wait an hour)."""
    name = "docker/judged"

    async def body() -> None:
        async with HealHarness(docker_engine.host, tmp_path) as h:
            _start(
                docker_engine,
                "judged",
                "--label",
                "vigil.healthcheck.test=echo vigil; test -f /tmp/ok",
                "--label",
                "vigil.healthcheck.interval=1h",
                "--label",
                "vigil.healthcheck.start_period=1h",
                "--label",
                "vigil.healthcheck.start_interval=200ms",
                HEALTH_IMAGE,
                *KEEP_RUNNING,
            )
            await until(lambda: len(h.of(ProbeCompleted, name)) >= 2, "vigil's probes")
            assert h.health(name) == "starting"
            docker_engine.docker("exec", "judged", "touch", "/tmp/ok")
            await until(lambda: h.health(name) == "healthy", "healthy")
            results = [
                e.result for e in h.of(ProbeCompleted, name) if isinstance(e, ProbeCompleted)
            ]
            assert all(r.output.startswith("vigil\n") for r in results)
            assert results[-1].exit_code == 0

    try:
        _run(body)
    finally:
        docker_engine.docker("rm", "-f", "judged", check=False)


def test_a_bad_label_is_one_line_and_dockers_health_is_still_mirrored(
    docker_engine: DockerEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The watcher goes on; the line names the container, the label and its value."""
    name = "docker/mislabelled"

    async def body() -> None:
        async with HealHarness(docker_engine.host, tmp_path) as h:
            _start(
                docker_engine,
                "mislabelled",
                "--label",
                "vigil.healthcheck.retries=many",
                HEALTH_IMAGE,
                *HEALTHY,
            )
            await until(lambda: h.health(name) == "healthy", "mirrored")

    with caplog.at_level(logging.ERROR, logger="vigil"):
        try:
            _run(body)
        finally:
            docker_engine.docker("rm", "-f", "mislabelled", check=False)
    assert (
        "container docker/mislabelled: label vigil.healthcheck.retries: strconv.Atoi: "
        'parsing "many": invalid syntax (vigil runs no probe and heals nothing for it)'
    ) in caplog.messages
