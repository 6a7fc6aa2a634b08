"""The containers of a Docker engine as vigil services named ``docker/<name>``.

At start (and after every reconnection) the watcher lists the engine's containers, adopts the
new ones, resynchronises the known ones and forgets those gone; then it follows the engine's
event stream from the time of the last event it saw (``since``), so no event is lost across a
gap. Each container event is answered by an inspect: the container's process state goes
through its ``ContainerTarget`` (lifecycle events), its ``State.Health`` into the engine
(``Engine.mirror``: ``ProbeCompleted`` for each new Log entry, ``StatusChanged`` when Docker's
status changed). Docker writes a probe's result after its ``exec_die`` event, so that event
is followed by a few bounded re-reads until the new entry shows.

An engine that cannot be reached is one error line (again only after it was back), and the
watcher retries with back-off (1 s doubling to 30 s); vigil's own services are untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from vigil.core.config import ServiceConfig
from vigil.core.remediation import RemediationPolicy
from vigil.core.status import HealthStatus
from vigil.daemon.dockheal import plan_container, stopping_after
from vigil.docker.mirror import health_state, new_results, parse_time
from vigil.dockerd.client import DockerClient
from vigil.exceptions import DockerEngineError
from vigil.runtime.clock import Clock
from vigil.runtime.engine import Engine
from vigil.targets.container import ContainerTarget

from .manager import Manager

__all__ = ["PREFIX", "ContainerWatcher", "service_name"]

_log = logging.getLogger("vigil")
PREFIX = "docker/"
MS = 1_000_000
BACKOFF_FIRST_NS = 1_000 * MS
BACKOFF_MAX_NS = 30_000 * MS
RESULT_RETRIES_NS = (20 * MS, 50 * MS, 100 * MS, 250 * MS, 500 * MS)  # after an exec_die


def service_name(container_name: str) -> str:
    """``/web`` (Docker's inspect form) or ``web`` → ``docker/web``."""
    return PREFIX + container_name.removeprefix("/")


class ContainerWatcher:
    """Mirrors one engine's containers into ``manager`` until cancelled."""

    def __init__(self, manager: Manager, client: DockerClient, *, clock: Clock,
                 heal: RemediationPolicy | None = None) -> None:
        self.manager = manager
        self.heal = heal or RemediationPolicy()  # the daemon-wide vigil.heal default
        self.probed: set[str] = set()  # IDs of the containers vigil probes (dockheal)
        self.engine: Engine = manager.engine
        self.client = client
        self.clock = clock
        self.targets: dict[str, ContainerTarget] = {}  # by container ID
        self.names: dict[str, str] = {}  # container ID → service name
        self.last_event_ns = 0
        self._seen_at_last: set[tuple[str, str]] = set()  # (id, action) at last_event_ns
        self.connected = asyncio.Event()  # set while following the stream (tests wait on it)
        self.sessions = 0
        self.failures = 0  # attempts that found no engine
        self._followups: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()  # an exec_die came while its follow-up ran

    async def run(self) -> None:
        backoff, reported = BACKOFF_FIRST_NS, False
        while True:
            try:
                await self._session()
                backoff, reported = BACKOFF_FIRST_NS, False  # the engine closed the stream
            except DockerEngineError as error:
                self.connected.clear()
                self.failures += 1
                if not reported:
                    _log.error("Docker engine %s: %s; retrying (vigil's own services keep "
                               "running)", self.client.host.url, error.message)
                    reported = True
                await self.clock.sleep_ns(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_NS)
            else:
                await self.clock.sleep_ns(backoff)

    async def aclose(self) -> None:
        for task in list(self._followups.values()):
            task.cancel()
        await asyncio.gather(*self._followups.values(), return_exceptions=True)
        for target in self.targets.values():
            await target.close()

    # -- one connection ------------------------------------------------------------------------

    async def _session(self) -> None:
        await self.client.ping()
        since = self.last_event_ns or self.clock.now_ns()
        await self.resync()
        if self.sessions:
            _log.info("Docker engine %s: connected again, containers resynchronised",
                      self.client.host.url)
        self.sessions += 1
        self.connected.set()
        stream = self.client.events(since=_docker_time(since), filters={"type": ["container"]})
        async for event in stream:
            if not self._first_sight(event):
                continue
            await self._on_event(event)
        self.connected.clear()

    def _first_sight(self, event: Mapping[str, Any]) -> bool:
        """Events at or after the last seen, each once (``since`` repeats the last second's)."""
        at = event.get("timeNano")
        if not isinstance(at, int):
            return True
        key = (str(event.get("id", "")), str(event.get("Action", event.get("status", ""))))
        if at < self.last_event_ns or (at == self.last_event_ns and key in self._seen_at_last):
            return False
        if at > self.last_event_ns:
            self.last_event_ns, self._seen_at_last = at, set()
        self._seen_at_last.add(key)
        return True

    async def resync(self) -> None:
        """Every container of the engine as a service; services of vanished ones forgotten."""
        listed = await self.client.containers(all=True)
        present = {str(c.get("Id")) for c in listed}
        for container_id in [i for i in self.targets if i not in present]:
            await self._forget(container_id)
        for container in listed:
            await self._refresh(str(container.get("Id")))

    async def _on_event(self, event: Mapping[str, Any]) -> None:
        container_id = str(event.get("id", ""))
        action = str(event.get("Action", ""))
        if not container_id:
            return
        target = self.targets.get(container_id)
        if target is not None:
            target.stopping = stopping_after(event, target.stopping)
        if action == "destroy":
            await self._forget(container_id)
        elif action.startswith("exec_die"):
            self._follow_up(container_id)
        elif not action.startswith(("exec_create", "exec_start")):
            await self._refresh(container_id)

    # -- one container -------------------------------------------------------------------------

    async def _refresh(self, container_id: str) -> bool:
        """Read the container and mirror it; True when new health results came with it."""
        try:
            inspect = await self.client.inspect(container_id)
        except DockerEngineError as error:
            if error.status != 404:
                raise
            await self._forget(container_id)
            return False
        name = service_name(str(inspect.get("Name", container_id[:12])))
        if self.names.get(container_id) not in (None, name):  # renamed
            await self._forget(container_id)
        target = self.targets.get(container_id) or self._adopt(container_id, name, inspect)
        target.sync(inspect)
        return self._mirror(name, inspect)

    def _adopt(self, container_id: str, name: str, inspect: Mapping[str, Any]) -> ContainerTarget:
        plan = plan_container(name, inspect, api=self.client, default_heal=self.heal)
        config = ServiceConfig(name=name, command=_command(inspect), on_unhealthy=plan.heal)
        created = parse_time(inspect.get("Created")) or self.clock.now_ns()

        def make(ref: Any, report: Any) -> ContainerTarget:
            return ContainerTarget(ref, container_id, client=self.client, clock=self.clock,
                                   report=report)

        target = self.manager.adopt(config, container_id, created, make, check=plan.check,
                                    probe=plan.probe)
        if plan.probe is not None:
            self.probed.add(container_id)
        assert isinstance(target, ContainerTarget)
        self.targets[container_id], self.names[container_id] = target, name
        return target

    def _mirror(self, name: str, inspect: Mapping[str, Any]) -> bool:
        if inspect.get("Id") in self.probed:
            return False  # vigil's own monitor judges it (vigil.daemon.dockheal)
        state = inspect.get("State")
        health = health_state(state) if isinstance(state, Mapping) else None
        if health is None:
            return False
        known = self.engine.health(name)
        first_sight = not known.log and known.status is HealthStatus.NONE
        new = () if first_sight else new_results(known.log, health.log)  # first: as it is
        self.engine.mirror(name, health, new)
        return bool(new)

    def _follow_up(self, container_id: str) -> None:
        """After an exec_die: re-read until Docker has written the probe's result. One
        follow-up per container; a die during it makes it look once more when done."""
        if container_id not in self.targets or container_id in self.probed:
            return  # vigil's own exec probes end in exec_die too
        if container_id in self._followups:
            self._again.add(container_id)
            return

        async def follow() -> None:
            try:
                while True:
                    self._again.discard(container_id)
                    await self._read_result(container_id)
                    if container_id not in self._again:
                        return
            except DockerEngineError:
                return  # the stream notices the engine is gone and resynchronises
            finally:
                self._followups.pop(container_id, None)

        self._followups[container_id] = asyncio.get_running_loop().create_task(follow())

    async def _read_result(self, container_id: str) -> None:
        if await self._refresh(container_id):
            return
        for delay in RESULT_RETRIES_NS:
            await self.clock.sleep_ns(delay)
            if await self._refresh(container_id):
                return

    async def _forget(self, container_id: str) -> None:
        target = self.targets.pop(container_id, None)
        name = self.names.pop(container_id, None)
        self.probed.discard(container_id)
        if target is None or name is None:
            return
        target.gone()
        await self.manager.forget(name)


def _command(inspect: Mapping[str, Any]) -> tuple[str, ...]:
    path = inspect.get("Path")
    args = inspect.get("Args")
    command = [path] if isinstance(path, str) and path else []
    if isinstance(args, list):
        command.extend(str(a) for a in args)
    return tuple(command)


def _docker_time(unix_ns: int) -> str:
    """Docker's ``since``: seconds and nanoseconds (``1700000000.000000001``)."""
    return f"{unix_ns // 1_000_000_000}.{unix_ns % 1_000_000_000:09d}"
