"""End to end: a real daemon whose service escapes every way it can and whose probes time
out with escaped children. However the daemon is told to stop (``vigil down``, SIGTERM,
SIGINT, a double SIGINT), nothing it started survives and its socket file is gone."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.linux import escapes

pytestmark = pytest.mark.slow
Factory = Callable[[str], Any]
LONG_S = 20.0


@pytest.fixture
def marker() -> Iterator[int]:
    value = random.randrange(900_000_000, 999_999_999)
    yield value
    escapes.kill_survivors(value)


def read_line(fifo: Path) -> None:
    async def read() -> None:
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, LONG_S)
        finally:
            loop.remove_reader(fd)
            os.close(fd)

    asyncio.run(read())


def stop_by_down(daemon: Any) -> None:
    daemon.client.down()


def stop_by_sigterm(daemon: Any) -> None:
    os.kill(daemon.pid, signal.SIGTERM)


def stop_by_sigint(daemon: Any) -> None:
    os.kill(daemon.pid, signal.SIGINT)


def stop_by_double_sigint(daemon: Any) -> None:
    os.kill(daemon.pid, signal.SIGINT)  # graceful: the service ignores SIGTERM for 1 s ...
    os.kill(daemon.pid, signal.SIGINT)  # ... so this one lands mid-shutdown: exit now


@pytest.mark.parametrize("backend", ["auto", "proc"])
@pytest.mark.parametrize(
    "stop", [stop_by_down, stop_by_sigterm, stop_by_sigint, stop_by_double_sigint])
def test_nothing_survives_the_daemon(daemon_factory: Factory, wait_gone: Any, backend: str,
                                     stop: Callable[[Any], None], marker: int,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_CONTAIN", backend)
    escapee = escapes.write_escapee(tmp_path)
    fifo, done = tmp_path / "escaped", tmp_path / "done"
    os.mkfifo(fifo)
    os.mkfifo(done)
    service = escapes.script(list(escapes.KINDS), escapee, fifo, marker,
                             f"trap '' TERM; echo > {done}; sleep {marker}")
    probe = (f"setsid sh -c 'sleep {marker} &'; (sleep {marker} &); "
             f"setsid -f sh -c 'trap \"\" TERM; sleep {marker}'; sleep {marker}")
    daemon = daemon_factory(f"""
services:
  escaper:
    command: ["sh", "-c", {json.dumps(service)}]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", {json.dumps(probe)}]
      interval: 20ms
      timeout: 100ms
""")
    read_line(done)  # the service's escapees run
    mark = time.time()
    for _ in range(2):  # two probes timed out, leaving (and losing) their escapees
        event = daemon.next_event("escaper", "health_probe", mark, timeout_s=LONG_S)
        assert event is not None
        mark = float(str(event["timeNano"])) / 1e9 + 1e-6
    socket = Path(daemon.host.removeprefix("unix://"))
    assert socket.exists()

    stop(daemon)
    assert wait_gone(daemon.pid, LONG_S)
    daemon.stopped = True
    assert escapes.settled_survivors(marker) == []
    assert not socket.exists()
