"""End to end: ``vigil up -d`` sends Apprise notifications to a loopback server, with the
daemon-wide URL given in ``VIGIL_NOTIFY`` (so, detached, it never shows in the process list)
and the service's own URL from vigil.yaml; the secrets stay out of the daemon's log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.notify.inbox import serve_inbox

pytestmark = pytest.mark.slow
SECRET = "e2e-s3cr3t-pw"


def test_vigil_up_notifies_unhealthy_and_recovered(
        daemon_factory: Callable[[str], Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "ok"
    flag.touch()
    with serve_inbox() as (where, inbox):
        monkeypatch.setenv("VIGIL_NOTIFY", f"json://ops:{SECRET}@{where}/all")
        daemon = daemon_factory(f"""
services:
  web:
    notify: ["json://{where}/web"]
    healthcheck:
      test: ["CMD", "test", "-f", "{flag}"]
      interval: 20ms
      retries: 1
""")
        assert daemon.client.wait("web", "healthy", timeout="20s")["Met"] is True
        mark = time.time()
        flag.unlink()
        assert daemon.next_event("web", "health_status: unhealthy", mark) is not None
        for path in ("/all", "/web"):
            [down] = inbox.wait_for(1, path)
            assert down["title"] == "vigil: web is unhealthy"
            assert down["type"] == "failure"
        flag.touch()
        for path in ("/all", "/web"):
            assert [b["title"] for b in inbox.wait_for(2, path)][1] == (
                "vigil: web is healthy again")
        cmdline = Path(f"/proc/{daemon.pid}/cmdline").read_bytes()
        assert SECRET.encode() not in cmdline
    log = (tmp_path / "state" / "vigil.log").read_text()
    assert SECRET not in log
