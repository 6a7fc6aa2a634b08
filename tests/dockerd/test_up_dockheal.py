"""Labels and the heal default through ``vigil up`` (the real daemon, the real dockerd, the
CLI's client): ``docker: {host:, heal:}`` in vigil.yaml restarts an unhealthy container
until ``remediation_exhausted``, and a container with ``vigil.healthcheck.*`` labels shows
vigil's results in ``vigil inspect``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.docker_engine import HEALTH_IMAGE, DockerEngine, wait_until
from tests.e2e.conftest import Daemon, stop_daemon

from vigil.client import Client

SHELL_LOOP = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"


def _up(tmp: Path, config: dict[str, object]) -> Daemon:
    (tmp / "vigil.yaml").write_text(json.dumps(config))  # JSON is YAML
    host = f"unix://{tmp}/vigil.sock"
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "up", "-d", "-f", str(tmp / "vigil.yaml"),
         "--state-dir", str(tmp / "state")],
        env={**os.environ, "VIGIL_HOST": host}, capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 0, done.stderr
    client = Client(host)
    return Daemon(host, int(client.version()["Pid"]), client, tmp)


def test_heal_default_and_vigil_probe_through_vigil_up(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """One restart (max_restarts 1), then remediation_exhausted; the labelled container's
    health is vigil's."""
    heal = {"action": "restart", "max_restarts": 1, "window": "10m"}
    daemon = _up(tmp_path, {"services": {}, "docker": {"host": docker_engine.host,
                                                         "heal": heal}})
    since = time.time()
    try:
        docker_engine.docker("run", "-d", "--network", "none", "--name", "upsick",
                             HEALTH_IMAGE, "sh", "-c", SHELL_LOOP)
        docker_engine.docker("run", "-d", "--network", "none", "--name", "upjudged",
                             "--label", "vigil.healthcheck.test=echo judged-by-vigil",
                             "--label", "vigil.healthcheck.interval=300ms",
                             HEALTH_IMAGE, "sh", "-c", SHELL_LOOP)
        acted = daemon.next_event("docker/upsick", "remediate", since, timeout_s=60)
        assert acted is not None
        assert acted["Actor"]["Attributes"]["action"] == "restart"  # type: ignore[index]
        spent = daemon.next_event("docker/upsick", "remediation_exhausted", since, timeout_s=60)
        assert spent is not None

        def vigils_log() -> bool:
            health = daemon.client.inspect("docker/upjudged")["State"].get("Health") or {}
            log = health.get("Log") or []
            return bool(log) and all(e["Output"] == "judged-by-vigil\n" for e in log)

        wait_until(vigils_log, 40, "vigil's results in vigil inspect")
        assert daemon.client.inspect("docker/upjudged")["State"]["Health"]["Status"] == "healthy"
    finally:
        for name in ("upsick", "upjudged"):
            docker_engine.docker("rm", "-f", name, check=False)
        stop_daemon(daemon)
