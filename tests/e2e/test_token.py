"""End to end: ``vigil up -H tcp://127.0.0.1:PORT`` serves only requests carrying its token,
and refuses to start without one."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
CONFIG = """
services:
  web:
    healthcheck:
      test: ["CMD", "true"]
      interval: 1h
"""


def vigil_up(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "vigil.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("VIGIL_HOST", "VIGIL_TOKEN")}
    command = ["up", "-f", str(tmp_path / "vigil.yaml"), "--state-dir", str(tmp_path / "state")]
    return subprocess.run(
        [sys.executable, "-m", "vigil", *command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_tcp_needs_a_token_to_start(tmp_path: Path) -> None:
    host = f"tcp://127.0.0.1:{free_port()}"
    done = vigil_up(tmp_path, "-H", host)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: -H {host} needs an API token, which every request over TCP must carry: "
        "pass --token-file PATH or set VIGIL_TOKEN\n"
    )


def test_a_weak_token_file_is_refused_and_a_readable_one_warned_about(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("short\n")
    token_file.chmod(0o644)
    done = vigil_up(
        tmp_path, "-H", f"tcp://127.0.0.1:{free_port()}", "--token-file", str(token_file)
    )
    assert done.returncode == 1
    source = f"--token-file {token_file}"
    assert done.stderr.splitlines() == [
        f"vigil: warning: {source} can be read by other users (mode 0644); chmod 600 it",
        f"Error: {source}: the token has 5 characters; use at least 16 random ones, e.g. "
        "from `openssl rand -hex 32`",
    ]


def test_every_tcp_request_needs_the_token(
    tmp_path: Path, wait_gone: Callable[[int, float], bool]
) -> None:
    """A detached daemon on loopback: 401 without the token or with another, /_ping too;
    everything with it. The token is in no log."""
    token = secrets.token_hex(32)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    port = free_port()
    done = vigil_up(
        tmp_path, "-d", "-H", f"tcp://127.0.0.1:{port}", "--token-file", str(token_file)
    )
    log = tmp_path / "state" / "vigil.log"
    assert done.returncode == 0, done.stderr + (log.read_text() if log.exists() else "")
    assert done.stderr == ""  # a 0600 token file: no warning
    pid = int(done.stdout.split()[2])  # "vigil daemon PID serving on HOST"
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        try:
            assert client.get("/version", headers=bearer).json()["Pid"] == pid
            for headers in ({}, {"Authorization": f"Bearer {secrets.token_hex(32)}"}):
                for route in ("/_ping", "/version", "/services/json"):
                    answer = client.get(route, headers=headers)
                    assert answer.status_code == 401, route
                    assert answer.json()["message"].startswith("unauthorized: ")
            assert client.get("/_ping", headers=bearer).text == "OK"
            listed = client.get("/services/json", headers=bearer).json()
            assert [item["Names"] for item in listed] == [["/web"]]
        finally:
            client.post("/down", headers=bearer)
            if not wait_gone(pid, 20):
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the daemon did not stop on POST /down")
    assert token not in log.read_text() + done.stdout
