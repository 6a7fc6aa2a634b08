"""The composition root of ``vigil up``: config → clock, engine, event log, manager, API
server; signals; housekeeping. No decisions live here, only wiring.

Shutdown (SIGTERM, SIGINT, ``vigil down``): stop every service in reverse dependency order,
close the event streams, stop the server. A second SIGINT exits at once, as uvicorn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from vigil.core.config import ProjectConfig
from vigil.daemon.eventlog import DockerEventLog
from vigil.daemon.manager import Manager
from vigil.docker.events import DaemonEvent
from vigil.exceptions import ConfigError, VigilError
from vigil.linux.process import become_subreaper, reap_orphans
from vigil.runtime.clock import Clock, SystemClock
from vigil.runtime.engine import Engine

_log = logging.getLogger("vigil")
REAP_INTERVAL_NS = 1_000_000_000  # orphans adopted as subreaper are reaped this often
# The spawn thread needs the GIL for each probe; with the loop busy (API load) it waited
# Python's default 5 ms per hand-over, which capped probes near 100/s (bench/api_load.py).
GIL_SWITCH_S = 0.0002


def default_state_dir() -> Path:
    """Where service logs live: $XDG_STATE_HOME/vigil, /var/lib/vigil for root, else
    ~/.local/state/vigil."""
    if xdg := os.environ.get("XDG_STATE_HOME"):
        return Path(xdg) / "vigil"
    if os.geteuid() == 0:
        return Path("/var/lib/vigil")
    return Path.home() / ".local" / "state" / "vigil"


def api_token(host: str, token: str | None, source: str) -> str | None:
    """The checked bearer token for serving the API at ``host``, read from ``source``
    (``--token-file PATH`` or ``VIGIL_TOKEN``). A ``tcp://`` host needs one: ConfigError
    naming the flags otherwise. A unix socket needs none; one given is still checked."""
    from vigil.api.auth import check_token
    from vigil.api.server import parse_host

    if token is not None:
        return check_token(token, source)
    if parse_host(host)[0] == "tcp":
        raise ConfigError(
            f"-H {host} needs an API token, which every request over TCP must carry: "
            "pass --token-file PATH or set VIGIL_TOKEN"
        )
    return None


class Daemon:
    """One running vigil daemon. ``run()`` returns the process exit status.

    ``token``: what requests over a ``tcp://`` host must carry (required there, see
    ``api_token``); never logged.
    """

    def __init__(
        self,
        project: ProjectConfig,
        *,
        host: str,
        state_dir: Path,
        clock: Clock | None = None,
        on_ready: Callable[[], None] | None = None,
        on_event: Callable[[DaemonEvent], None] | None = None,
        token: str | None = None,
    ) -> None:
        from vigil.api.server import parse_host

        self.project = project
        self.host = host
        self.endpoint = parse_host(host)
        self._token = api_token(host, token, "the API token")
        self.state_dir = state_dir
        self.clock = clock or SystemClock()
        self._on_ready = on_ready
        self._on_event = on_event
        self.stopping = asyncio.Event()

    async def run(self) -> int:
        previous = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_S)
        try:
            return await self._run()
        finally:
            sys.setswitchinterval(previous)

    async def _run(self) -> int:
        from vigil.api import create_app
        from vigil.api.budget import ApiBudget
        from vigil.api.server import serve

        become_subreaper()  # orphans of services and probes become ours to reap
        log_dir = self.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = Engine(clock=self.clock)
        manager = Manager(clock=self.clock, engine=engine, log_dir=log_dir)
        events = manager.events
        for service in self.project.services.values():
            manager.create(service)
        if self._on_event is not None:
            events_task = asyncio.get_running_loop().create_task(self._forward(events))
        server_stop = asyncio.Event()
        ready = asyncio.Event()
        budget = ApiBudget(self.clock)
        budget.watch()  # the API's share shrinks while probes would be late
        app = create_app(manager, on_down=self.stopping.set, budget=budget)
        kind, where = self.endpoint
        server = asyncio.get_running_loop().create_task(
            serve(
                app,
                unix_path=str(where) if kind == "unix" else None,
                tcp=where if kind == "tcp" else None,  # type: ignore[arg-type]
                token=self._token,
                ready=ready.set,
                stop=server_stop,
            )
        )
        status = 0
        with self._signals():
            ready_or_dead = asyncio.ensure_future(ready.wait())
            await asyncio.wait([ready_or_dead, server], return_when=asyncio.FIRST_COMPLETED)
            if server.done():
                ready_or_dead.cancel()
                budget.close()
                await manager.down()
                server.result()  # raises the bind error
                return 1
            _log.info("vigil daemon serving on %s", self.host)
            if self._on_ready is not None:
                self._on_ready()
            up = asyncio.get_running_loop().create_task(self._up(manager))
            reaper = asyncio.get_running_loop().create_task(self._reap())
            gc.freeze()  # start-up objects never need scanning again (limits.md: GC stalls)
            await self.stopping.wait()
            _log.info("vigil daemon stopping")
            for task in (up, reaper):
                task.cancel()
            await asyncio.gather(up, reaper, return_exceptions=True)
            await manager.down()
            events.close()
            budget.close()
            server_stop.set()
            try:
                await server
            except VigilError:
                status = 1
            if self._on_event is not None:
                events_task.cancel()
            reap_orphans()
        return status

    async def _up(self, manager: Manager) -> None:
        for error in await manager.up():
            _log.error("%s", error)
        # The monitors (a task, its coroutine and target per service) live as long as the
        # daemon: without this, every young-generation GC pass walks them again.
        gc.freeze()

    async def _reap(self) -> None:
        while True:
            await self.clock.sleep_ns(REAP_INTERVAL_NS)
            reap_orphans()

    async def _forward(self, events: DockerEventLog) -> None:
        assert self._on_event is not None
        async for event in events.subscribe():
            self._on_event(event)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        interrupts = 0

        def on_interrupt() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts > 1:
                _log.warning("second interrupt: exiting at once")
                os._exit(130)
            self.stopping.set()

        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
