"""The status page served for real (uvicorn on a loopback port the kernel picks) over a real
Manager and Engine on a FakeClock with scripted probes, on an event loop in a worker thread.

Tests set the scene and move time with ``WebDaemon.call``/``run_for``; the page (a real
chromium through Playwright, or an HTTP client) sees only what the daemon serves. Time moves
only when a test says so, so what the page shows is decided by the test, never by timing.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from vigil.api.server import bind_tcp
from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.daemon.manager import Manager
from vigil.go.duration import SECOND
from vigil.runtime.engine import Engine
from vigil.testing import FakeClock, ProbeStep, ScriptedProbe
from vigil.web import create_web_app
from vigil.web.serve import serve_web

T = TypeVar("T")
TOKEN = "web-test-token-0123456789abcdef"
GUARD_S = 60.0  # only a bug waits this long
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
Steps = Sequence[int | ProbeStep]


class WebDaemon:
    """The page's server; ``url`` is where a browser finds it."""

    def __init__(self, log_dir: Path) -> None:
        self.scripts: dict[str, Steps] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="vigil-web",
                                       daemon=True)
        self.thread.start()
        self.call(self._build(log_dir))
        self.port = 0
        self.start_server()

    async def _build(self, log_dir: Path) -> None:
        self.clock = FakeClock()

        def probe(spec: Any, target: Any) -> ScriptedProbe:
            return ScriptedProbe(self.scripts.get(target.name, (0,)))

        self.engine = Engine(clock=self.clock, probe_builder=probe)
        self.manager = Manager(clock=self.clock, engine=self.engine, log_dir=log_dir)
        self.app = create_web_app(self.manager, token=TOKEN, hosts=["127.0.0.1"])

    def start_server(self) -> None:
        """Listen (again, on the same port after ``stop_server``: a daemon restart)."""
        sock = bind_tcp("127.0.0.1", self.port)
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

        async def start() -> None:
            ready = asyncio.Event()
            self._stop = asyncio.Event()
            self._server = asyncio.ensure_future(
                serve_web(self.app, sock, tls=None, ready=ready.set, stop=self._stop))
            await asyncio.wait([asyncio.ensure_future(ready.wait()), self._server],
                               return_when=asyncio.FIRST_COMPLETED)
            assert ready.is_set()

        self.call(start())

    def stop_server(self) -> None:
        async def stop() -> None:
            self._stop.set()
            await self._server

        self.call(stop())

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(GUARD_S)

    def add(self, name: str, steps: Steps = (0,), *, retries: int = 3,
            environment: dict[str, str] | None = None, test: tuple[str, ...] = ("CMD", "true"),
            start: bool = True) -> str:
        """A watched service probed every second with ``steps``; started unless told not."""
        self.scripts[name] = steps
        check = HealthcheckConfig(test=test, interval=SECOND, timeout=SECOND, retries=retries)
        config = ServiceConfig(name, healthcheck=check, environment=environment or {})

        async def create() -> str:
            service_id = self.manager.create(config)
            if start:
                await self.manager.start(name)
            return service_id

        return self.call(create())

    def run_for(self, seconds: float) -> None:
        """Let fake time pass: probes run, statuses change, events flow to open pages."""
        self.call(self.clock.run_for(int(seconds * SECOND)))

    def health(self, name: str) -> str:
        async def read() -> str:
            return self.manager.engine.health(name).status.value

        return self.call(read())

    def close(self) -> None:
        async def down() -> None:
            self._stop.set()
            await asyncio.gather(self._server, return_exceptions=True)
            await self.manager.down()
            await self.engine.aclose()

        try:
            self.call(down())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(GUARD_S)
            self.loop.close()


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return (f"{CHROMIUM} is missing (scripts/bootstrap installs Debian's chromium as root); "
                "the status page's browser tests did not run")
    return None
