"""``vigil up --docker`` end to end: the real daemon watching the real dockerd, driven by the
CLI's client. A container's health reaches vigil's /events; ``vigil stop`` and ``logs`` go
through the engine; no engine at all is one error line while vigil serves on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.docker_engine import HEALTH_IMAGE, DockerEngine, wait_until
from tests.e2e.conftest import Daemon, stop_daemon

from vigil.client import Client

SHELL_LOOP = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"


def _up(tmp: Path, docker: str) -> Daemon:
    (tmp / "vigil.yaml").write_text("services: {}\n")
    host = f"unix://{tmp}/vigil.sock"
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "up", "-d", "-f", str(tmp / "vigil.yaml"),
         "--state-dir", str(tmp / "state"), "--docker", docker],
        env={**os.environ, "VIGIL_HOST": host}, capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 0, done.stderr
    client = Client(host)
    return Daemon(host, int(client.version()["Pid"]), client, tmp)


def test_up_docker_mirrors_and_acts(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """health_status: healthy of docker/e2e in vigil's events; stop, logs through the engine;
    the container's service is not among vigil's own records."""
    daemon = _up(tmp_path, docker_engine.host)
    since = time.time()
    try:
        docker_engine.docker("run", "-d", "--network", "none", "--name", "e2e", HEALTH_IMAGE,
                             "sh", "-c", f"echo ready; touch /tmp/ok; {SHELL_LOOP}")
        event = daemon.next_event("docker/e2e", "health_status: healthy", since, timeout_s=40)
        assert event is not None
        assert event["Actor"]["Attributes"]["name"] == "docker/e2e"  # type: ignore[index]
        shown = daemon.client.inspect("docker/e2e")
        assert shown["Id"] == docker_engine.inspect("e2e")["Id"]
        assert shown["State"]["Health"]["Status"] == "healthy"
        assert "ready\n" in list(daemon.client.logs("docker/e2e"))
        daemon.client.stop("docker/e2e", t=5)
        assert docker_engine.inspect("e2e")["State"]["Status"] == "exited"  # type: ignore[index]
        assert daemon.client.inspect("docker/e2e")["State"]["Status"] == "exited"
        assert not list((tmp_path / "state").glob(f"**/{shown['Id']}/service.json"))
        docker_engine.docker("rm", "-f", "e2e")
        wait_until(lambda: "docker/e2e" not in
                   [s["Names"][0].lstrip("/") for s in daemon.client.list_services(all=True)],
                   what="the removed container's service to go")
    finally:
        docker_engine.docker("rm", "-f", "e2e", check=False)
        stop_daemon(daemon)


def test_up_without_an_engine_serves_on(tmp_path: Path) -> None:
    """An engine that is not there: one clear error line, no traceback, the API answers."""
    daemon = _up(tmp_path, f"unix://{tmp_path}/no-docker.sock")
    try:
        log = tmp_path / "state" / "vigil.log"
        wait_until(lambda: "no-docker.sock" in log.read_text(), what="the error line")
        assert daemon.client.list_services(all=True) == []
        text = log.read_text()
        assert "Traceback" not in text
        assert sum("no-docker.sock" in line for line in text.splitlines()) == 1
    finally:
        stop_daemon(daemon)
