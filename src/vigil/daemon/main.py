"""The composition root of ``vigil up``: config → clock, engine, event log, manager, API
server; signals; housekeeping. No decisions live here, only wiring.

Start-up: lock the state directory (one daemon per directory), read the service records an
earlier daemon left (``vigil.store.files``), stop what a crashed one left running
(``vigil.linux.contain.reclaim``), recreate the services (``vigil.daemon.restore``), serve, and
start those whose intent and restart policy say so.

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
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.core.config import ProjectConfig
from vigil.core.fleet import FleetConfig
from vigil.core.remediation import RemediationPolicy
from vigil.daemon.eventlog import DockerEventLog
from vigil.daemon.history import restore_health
from vigil.daemon.hooks import HookRunner
from vigil.daemon.manager import Manager
from vigil.daemon.remediation import Remediator
from vigil.daemon.restore import EXIT_UNKNOWN, restore
from vigil.docker.events import DaemonEvent
from vigil.exceptions import ConfigError, StoreError, VigilError
from vigil.linux import contain
from vigil.linux.process import become_subreaper, reap_orphans
from vigil.notify.service import start_notifications
from vigil.runtime import heap
from vigil.runtime.clock import Clock, SystemClock
from vigil.runtime.engine import Engine
from vigil.store import DurableStore, ServiceRecord, StateStore, open_store, redact
from vigil.store.files import FileServiceStore

if TYPE_CHECKING:
    from vigil.api.server import TLSFiles
    from vigil.daemon.fleetview import FleetShare
    from vigil.fleet.agent import FleetAgent
    from vigil.metrics import EngineMetrics

_log = logging.getLogger("vigil")
REAP_INTERVAL_NS = 1_000_000_000  # orphans adopted as subreaper are reaped (or killed) this often
# The spawn thread needs the GIL for each probe; with the loop busy (API load) it waited
# Python's default 5 ms per hand-over, which capped probes near 100/s (bench/api_load.py).
GIL_SWITCH_S = 0.0002


def default_state_dir() -> Path:
    """Where service records and logs live: $XDG_STATE_HOME/vigil, /var/lib/vigil for root,
    else ~/.local/state/vigil."""
    if xdg := os.environ.get("XDG_STATE_HOME"):
        return Path(xdg) / "vigil"
    if os.geteuid() == 0:
        return Path("/var/lib/vigil")
    return Path.home() / ".local" / "state" / "vigil"


def fleet_node(config: FleetConfig) -> str:
    """The node's name: ``fleet.node`` / ``--node``, else the host name (checked by the
    service-name rule either way)."""
    from vigil.compose.fleet import node_problem

    node = config.node or socket.gethostname()
    if (problem := node_problem(node)) is not None:
        raise ConfigError(f"fleet node: {problem}" + ("" if config.node else
                                                      " (the host name): pass --node"))
    return node


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


async def _recover(store: FileServiceStore, now_ns: int) -> list[ServiceRecord]:
    """The records an earlier daemon left, after stopping the processes of runs it did not
    end (it was killed): their stop signal, their grace period, then SIGKILL for all that
    is left of them. Unreadable records are reported, one line each, and left alone."""
    records, problems = store.load_services()
    for problem in problems:
        _log.error("%s", problem)
    crashed = [record for record in records if record.run is not None]
    if not crashed:
        return records
    _log.warning("stopping what the previous daemon left running: %s",
                 " ".join(record.name for record in crashed))
    await asyncio.gather(*(_reclaim(record) for record in crashed))
    ended = {}
    for record in crashed:
        ended[record.id] = replace(record, run=None, exit_code=EXIT_UNKNOWN,
                                   finished_at_ns=now_ns)
        store.save_service(ended[record.id])
    return [ended.get(record.id, record) for record in records]


async def _reclaim_jails(store: FileServiceStore) -> None:
    """Kill the probe jails (and anything else) a killed daemon left under its cgroup parent,
    then record ours for the next daemon. A record that cannot be read or written costs one
    line: the orphan sweep and the run records still cover the services."""
    try:
        previous = store.previous_jails()
    except StoreError as exc:
        _log.error("%s", exc)
        previous = None
    if previous and (count := await contain.reclaim_parent(previous)):
        _log.warning("killed %d processes the previous daemon left in %s", count, previous)
    try:
        store.record_jails(contain.parent_path())
    except StoreError as exc:
        _log.error("%s", exc)


async def _reclaim(record: ServiceRecord) -> None:
    try:
        await contain.reclaim(record.run or {})
    except ValueError as exc:  # a record edited by hand, or of another version
        _log.error("service %s: its last run cannot be stopped: %s", record.name, exc)


class _Reactions:
    """What the daemon does about health changes: ``on_unhealthy`` and ``hooks``."""

    def __init__(self, engine: Engine, manager: Manager) -> None:
        def policy_of(name: str) -> RemediationPolicy | None:
            config = manager.config_of(name)
            return None if config is None else config.on_unhealthy

        self.remediator = Remediator(engine, manager, policy_of)
        self.hooks = HookRunner(engine, manager.config_of)
        self.remediator.start()
        self.hooks.start()

    async def aclose(self) -> None:
        await self.remediator.aclose()
        await self.hooks.aclose()


class Daemon:
    """One running vigil daemon. ``run()`` returns the process exit status.

    ``token``: what requests over a ``tcp://`` host must carry (required there, see
    ``api_token``); never logged. ``tls``: serve ``tcp://`` over HTTPS; ``allow_remote``
    (listen beyond loopback) needs it.
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
        tls: TLSFiles | None = None,
        allow_remote: bool = False,
        store: str | None = None,
        web: str | None = None,
        docker: str | None = None,
        docker_heal: RemediationPolicy | None = None,
        fleet: FleetConfig | None = None,
    ) -> None:
        from vigil.api.server import parse_host

        self.project = project
        self.host = host
        self.endpoint = parse_host(host)
        self._token = api_token(host, token, "the API token")
        if allow_remote and tls is None:
            raise ConfigError("--allow-remote needs --tlscert and --tlskey")
        self._tls = tls
        self._allow_remote = allow_remote
        self.state_dir = state_dir
        self.clock = clock or SystemClock()
        self._on_ready = on_ready
        self._on_event = on_event
        self.stopping = asyncio.Event()
        self._bound_inode: int | None = None  # our unix socket file, once bound
        # where history lives: --store, else vigil.yaml's store:, else <state dir>/vigil.db
        self.store_url = store or project.store
        self.history: StateStore | None = None
        self.web = web  # the status page's HOST:PORT (vigil.web), None: no page
        self.web_url: str | None = None  # where it serves, once it does
        self.docker = docker  # a Docker engine whose containers to watch ("": DOCKER_HOST)
        self.docker_heal = docker_heal  # the containers' vigil.heal default (None: none)
        self.fleet = fleet or project.fleet  # --fleet/--node/--lease-ttl over fleet:
        self.fleet_agent: FleetAgent | None = None
        self.fleet_share: FleetShare | None = None  # fleet mode's shared view (issue 11)

    async def run(self) -> int:
        """Lock the state directory (StoreError if another daemon holds it), then serve."""
        store = FileServiceStore(self.state_dir)
        store.lock()
        previous = sys.getswitchinterval()
        try:
            self.history = open_store(self.store_url, state_dir=self.state_dir,
                                      now_ns=self.clock.now_ns)
            self.fleet_share = self._open_fleet_share()
        except BaseException:
            if self.history is not None:
                self.history.close()
            store.close()
            raise
        sys.setswitchinterval(GIL_SWITCH_S)
        try:
            return await self._run(store)
        finally:
            http = sys.modules.get("vigil.probes.http")  # loaded by the first HTTP probe
            if http is not None:
                await http.close_sessions()
            contain.own_children(False)  # an embedding program's children are its own again
            contain.walk_after_spawn(False)
            sys.setswitchinterval(previous)
            self.history.close()  # after every service stopped: a clean stop loses nothing
            if self.fleet_share is not None:
                self.fleet_share.close()
            store.close()

    async def _run(self, store: FileServiceStore) -> int:
        from vigil.api import create_app
        from vigil.api.budget import ApiBudget
        from vigil.api.server import serve
        from vigil.metrics import EngineMetrics

        web_socket = self._bind_web()  # a bad --web fails here, before anything is touched
        become_subreaper()  # orphans of services and probes become ours to reap
        contain.own_children()  # ... and every child not started by vigil is a leftover
        contain.walk_after_spawn()  # escapes forked before placement are jailed too
        records = await _recover(store, self.clock.now_ns())
        await _reclaim_jails(store)
        history = self.history
        assert history is not None
        if isinstance(history, DurableStore):
            history.set_retention(None, self.project.history)
            _log.info("history kept in %s", redact(history.location))
        engine = Engine(clock=self.clock, store=history)
        metrics = EngineMetrics(engine)  # before any service: every event is counted
        self.fleet_agent = await self._join_fleet(engine)
        manager = Manager(clock=self.clock, engine=engine, services=store, known=records)
        if self.fleet_agent is not None:  # its shared checks show with the services
            manager.show_targets(self.fleet_agent.views)
        # the fleet's view of this node: history from the first event, states once served
        fleet = None if self.fleet_share is None else self.fleet_share.start(manager, self.clock)
        events = manager.events
        reactions = _Reactions(engine, manager)  # on_unhealthy and hooks: stream subscribers
        notifications = start_notifications(engine, self.clock, self.project, manager)
        to_start = restore(manager, self.project, records)
        await restore_health(manager, history)
        if self._on_event is not None:
            events_task = asyncio.get_running_loop().create_task(self._forward(events))
        server_stop = asyncio.Event()
        ready = asyncio.Event()
        budget = ApiBudget(self.clock)
        budget.watch()  # the API's share shrinks while probes would be late
        app = create_app(manager, on_down=self.stopping.set, budget=budget, metrics=metrics,
                         fleet=fleet)
        kind, where = self.endpoint
        server = asyncio.get_running_loop().create_task(
            serve(
                app,
                unix_path=str(where) if kind == "unix" else None,
                tcp=where if kind == "tcp" else None,  # type: ignore[arg-type]
                token=self._token,
                tls=self._tls,
                allow_remote=self._allow_remote,
                ready=ready.set,
                stop=server_stop,
            )
        )
        status = 0
        with self._signals():
            ready_or_dead = asyncio.ensure_future(ready.wait())
            await asyncio.wait([ready_or_dead, server], return_when=asyncio.FIRST_COMPLETED)
            if server.done():
                if web_socket is not None:
                    web_socket.close()
                ready_or_dead.cancel()
                budget.close()
                await self._leave_fleet()
                await reactions.aclose()
                await manager.down()
                if self.fleet_share is not None:
                    await self.fleet_share.stop()
                await notifications.aclose()
                server.result()  # raises the bind error
                return 1
            _log.info("vigil daemon serving on %s", self.host)
            self._bound_inode = self._socket_inode()
            web_stop = asyncio.Event()
            web_server = await self._serve_web(manager, metrics, web_socket, web_stop)
            if self._on_ready is not None:
                self._on_ready()
            up = asyncio.get_running_loop().create_task(self._up(manager, to_start))
            reaper = asyncio.get_running_loop().create_task(self._reap())
            containers = self._watch_containers(manager)
            gc.freeze()  # start-up objects never need scanning again (limits.md: GC stalls)
            await self.stopping.wait()
            _log.info("vigil daemon stopping")
            for task in (up, reaper):
                task.cancel()
            await asyncio.gather(up, reaper, return_exceptions=True)
            if containers is not None:
                await containers()
            await self._leave_fleet()  # its checks go to the other agents at once
            await reactions.aclose()  # no remediation or hook while everything stops
            await manager.down()
            if self.fleet_share is not None:
                await self.fleet_share.stop()  # the final states, then the streams end
            await notifications.aclose()  # what is queued gets a few seconds to go out
            events.close()
            budget.close()
            server_stop.set()
            web_stop.set()
            try:
                await server
                if web_server is not None:
                    await web_server
            except VigilError:
                status = 1
            if self._on_event is not None:
                events_task.cancel()
            contain.kill_all()  # nothing should be left; if something is, it goes now
            contain.sweep()
            reap_orphans()
        return status

    def _watch_containers(self, manager: Manager) -> Callable[[], Awaitable[None]] | None:
        """``--docker``: mirror the engine's containers (vigil.daemon.containers); returns
        what stops it. A bad URL is one error line; the daemon serves on without it."""
        if self.docker is None:
            return None
        from vigil.daemon.containers import ContainerWatcher
        from vigil.dockerd.client import DockerClient

        try:
            client = DockerClient(self.docker or None)
        except VigilError as error:
            _log.error("--docker: %s", error)
            return None
        watcher = ContainerWatcher(manager, client, clock=self.clock, heal=self.docker_heal)
        task = asyncio.get_running_loop().create_task(watcher.run())

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await watcher.aclose()
            await client.aclose()

        return stop
    def _open_fleet_share(self) -> FleetShare | None:
        """Fleet mode's node store and view (``fleet:`` / ``--fleet``), None without it."""
        if self.fleet is None or not self.fleet.url:
            return None
        from vigil.daemon.fleetview import FleetShare

        return FleetShare.open(self.fleet.url, fleet_node(self.fleet), self.clock)

    async def _join_fleet(self, engine: Engine) -> FleetAgent | None:
        if self.fleet is None:
            if self.project.checks:
                _log.warning("checks: %d shared checks are only run in fleet mode "
                             "(fleet: or --fleet)", len(self.project.checks))
            return None
        from vigil import __version__
        from vigil.fleet.agent import FleetAgent

        agent = FleetAgent(engine, self.fleet, self.project.checks,
                           node=fleet_node(self.fleet), address=self.host,
                           version=__version__)
        await agent.start()
        return agent

    async def _leave_fleet(self) -> None:
        if self.fleet_agent is not None:
            await self.fleet_agent.aclose()

    def _bind_web(self) -> socket.socket | None:
        if self.web is None:
            return None
        from vigil.web.serve import bind

        return bind(self.web, allow_remote=self._allow_remote)

    async def _serve_web(
        self,
        manager: Manager,
        metrics: EngineMetrics,
        sock: socket.socket | None,
        stop: asyncio.Event,
    ) -> asyncio.Task[None] | None:
        """Serve the status page on ``sock``; returns once it accepts connections."""
        if sock is None:
            return None
        from vigil.metrics import asgi_app
        from vigil.web import create_web_app
        from vigil.web.serve import serve_web, url
        from vigil.web.token import action_token

        token, where = action_token(self.state_dir, self._token)
        host = sock.getsockname()[0]
        fleet = None if self.fleet_share is None else self.fleet_share.served
        app = create_web_app(manager, token=token, hosts=None if self._allow_remote else [host],
                             metrics=asgi_app(metrics), fleet=fleet)
        ready = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            serve_web(app, sock, tls=self._tls, ready=ready.set, stop=stop))
        waiting = asyncio.ensure_future(ready.wait())
        await asyncio.wait([waiting, task], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if task.done():  # it could not start: the daemon goes on without its page
            _log.error("the status page could not start: %s", task.exception())
            return None
        self.web_url = url(sock, tls=self._tls is not None)
        _log.info("status page on %s (its actions need %s)", self.web_url, where)
        return task

    async def _up(self, manager: Manager, names: list[str]) -> None:
        for error in await manager.up(names):
            _log.error("%s", error)
        # The monitors (a task, its coroutine and target per service) live as long as the
        # daemon: without this, every young-generation GC pass walks them again; full
        # passes made rarer too (vigil.runtime.heap).
        heap.settle()

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
