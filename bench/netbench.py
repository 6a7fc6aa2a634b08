"""Shared by the network-probe benchmarks: ``bench/http_server.py`` as a child process
(stopped by PID), and N request loops measured for rate and CPU. Bench use only."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(
    get: Callable[[], Awaitable[object]], seconds: float, concurrency: int
) -> tuple[int, float, float]:
    """``concurrency`` loops awaiting ``get()`` for ``seconds``: (calls, wall s, CPU s)."""
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await get()
            done += 1

    cpu, wall = cpu_seconds(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.monotonic() - wall, cpu_seconds() - cpu
