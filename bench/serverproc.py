"""Start ``bench/http_server.py`` as a child process and stop it by PID. Bench use only."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_SERVER = Path(__file__).with_name("http_server.py")


@contextlib.contextmanager
def local_http_server() -> Iterator[int]:
    """The port of a fresh local server in its own process; stopped on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        child = subprocess.Popen([sys.executable, str(_SERVER), str(port_file)],
                                 stdin=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists():
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("the bench HTTP server did not start")
                time.sleep(0.01)
            yield int(port_file.read_text())
        finally:
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
