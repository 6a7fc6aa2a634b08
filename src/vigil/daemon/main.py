"""The composition root of ``vigil up``: config → clock, engine, event log, manager, API
server; signals; housekeeping. No decisions live here, only wiring.

Shutdown (SIGTERM, SIGINT, ``vigil down``): stop every service in reverse dependency order,
close the event streams, stop the server, then kill whatever is left in any jail and sweep
the orphans, so nothing vigil started outlives it. A second SIGINT exits at once, as uvicorn
does, but first SIGKILLs every jail and orphan and removes the socket file.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from vigil.core.config import ProjectConfig
from vigil.daemon.eventlog import DockerEventLog
from vigil.daemon.manager import Manager
from vigil.docker.events import DaemonEvent
from vigil.exceptions import ConfigError, VigilError
from vigil.linux import contain
from vigil.linux.process import become_subreaper, reap_orphans
from vigil.runtime.clock import Clock, SystemClock
from vigil.runtime.engine import Engine

_log = logging.getLogger("vigil")
REAP_INTERVAL_NS = 1_000_000_000  # orphans adopted as subreaper are reaped (or killed) this often


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
        self._bound_inode: int | None = None  # our unix socket file, once bound

    async def run(self) -> int:
        from vigil.api import create_app
        from vigil.api.server import serve

        become_subreaper()  # orphans of services and probes become ours to reap
        contain.own_children()  # ... and every child not started by vigil is a leftover
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
        app = create_app(manager, on_down=self.stopping.set)
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
                await manager.down()
                server.result()  # raises the bind error
                return 1
            _log.info("vigil daemon serving on %s", self.host)
            self._bound_inode = self._socket_inode()
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
            server_stop.set()
            try:
                await server
            except VigilError:
                status = 1
            if self._on_event is not None:
                events_task.cancel()
            contain.kill_all()  # nothing should be left; if something is, it goes now
            contain.sweep()
            reap_orphans()
        return status

    async def _up(self, manager: Manager) -> None:
        for error in await manager.up():
            _log.error("%s", error)
        # The monitors (a task, its coroutine and target per service) live as long as the
        # daemon: without this, every young-generation GC pass walks them again.
        gc.freeze()

    async def _reap(self) -> None:
        """Reap the zombies adopted as subreaper; kill the live orphans no jail claims (a
        double fork that left before its jail held it)."""
        while True:
            await self.clock.sleep_ns(REAP_INTERVAL_NS)
            contain.sweep()

    async def _forward(self, events: DockerEventLog) -> None:
        assert self._on_event is not None
        async for event in events.subscribe():
            self._on_event(event)

    def _socket_inode(self) -> int | None:
        kind, where = self.endpoint
        if kind != "unix":
            return None
        try:
            return os.lstat(str(where)).st_ino
        except OSError:
            return None  # not bound yet: the server removes its own socket

    def _force_exit(self) -> None:
        """The second SIGINT: SIGKILL every jail and orphan, remove our socket file, exit."""
        try:
            contain.kill_all()
            contain.sweep()
            contain.release()
            inode = self._bound_inode
            if inode is not None and self._socket_inode() == inode:  # not replaced since
                os.unlink(str(self.endpoint[1]))
        except Exception:  # exiting regardless
            _log.exception("forced exit")
        finally:
            os._exit(130)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        interrupts = 0

        def on_interrupt() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts > 1:
                _log.warning("second interrupt: killing everything and exiting at once")
                self._force_exit()
            self.stopping.set()

        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
