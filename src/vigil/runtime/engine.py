"""The engine owns every target: its config, its probe, its health state and its monitor.

It is the single writer of health: monitors hand it results, lifecycle calls (start, stop)
come from the library user or the supervisor, and every change goes through the pure core.
Events are published on the bus after the state is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

from vigil.core import health as _state
from vigil.core.config import ServiceConfig
from vigil.core.events import Event, MonitorStarted, MonitorStopped
from vigil.core.health import HealthState
from vigil.core.results import ProbeResult
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.probes import Probe
from vigil.runtime.clock import Clock, SystemClock
from vigil.runtime.monitor import run_monitor
from vigil.runtime.stream import EventBus, Subscriber

ProbeFactory = Callable[[ServiceConfig], Probe]


def default_probe_factory(service: ServiceConfig) -> Probe:
    """Exec probes (CMD / CMD-SHELL) built from the service's environment, cwd and user."""
    from vigil.probes.exec import ExecProbe

    return ExecProbe.from_service(service)


@dataclass(slots=True)
class _Target:
    service: ServiceConfig
    probe: Probe | None
    health: HealthState
    bus: EventBus
    monitor: asyncio.Task[None] | None = None

    # The monitor gets these two as bound methods: less memory per target than closures.
    def read_health(self) -> HealthState:
        return self.health

    def apply(self, result: ProbeResult) -> None:
        """Store the core's new state, then publish the events it caused."""
        check = self.service.healthcheck
        assert check is not None
        events: list[Event]
        self.health, events = _state.apply_result(self.health, check, result)
        for event in events:
            self.bus.publish(self.service.name, event)


class Engine:
    """Runs health monitors for any number of targets inside one asyncio loop.

    ``add`` registers a target, ``start`` begins probing it (Docker's container start:
    status ``starting``, streak 0, log kept), ``stop`` ends probing (``unhealthy``, silently,
    the probe in flight killed and its result dropped). ``subscribe`` delivers every event.
    Use it as an async context manager so that every monitor is stopped on exit.
    """

    def __init__(self, *, clock: Clock | None = None, probe_factory: ProbeFactory | None = None):
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._probe_factory = probe_factory or default_probe_factory
        self._targets: dict[str, _Target] = {}
        self._bus = EventBus()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- targets ---------------------------------------------------------------------------

    def add(self, service: ServiceConfig, *, probe: Probe | None = None) -> None:
        """Register a target. Without ``probe``, one is built from ``service.healthcheck``
        (none when the check is absent, ``NONE`` or of an unknown type, as in Docker)."""
        if service.name in self._targets:
            raise ConfigError(ConfigProblem(f"services.{service.name}", "already exists"))
        check = service.healthcheck
        if probe is None and check is not None and check.runs_probe:
            probe = self._probe_factory(service)
        if check is None or not check.runs_probe:
            probe = None
        self._targets[service.name] = _Target(service, probe, HealthState(), self._bus)

    async def remove(self, name: str) -> None:
        """Stop probing ``name`` and forget it."""
        await self.stop(name)
        del self._targets[name]

    def names(self) -> Iterator[str]:
        return iter(self._targets)

    def service(self, name: str) -> ServiceConfig:
        return self._target(name).service

    def health(self, name: str) -> HealthState:
        """The target's health; status ``none`` when it has no check or never started."""
        return self._target(name).health

    def has_check(self, name: str) -> bool:
        return self._target(name).probe is not None

    def probing(self, name: str) -> bool:
        task = self._target(name).monitor
        return task is not None and not task.done()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, name: str, *, started_at: int | None = None) -> None:
        """Docker's ``initHealthMonitor``: ``starting``, streak 0, log kept, a new monitor.

        ``started_at`` (Unix ns) is when the target started; the start period counts from
        it. Default: now. A monitor already running is replaced.
        """
        target = self._target(name)
        if target.probe is None:
            return
        when = self.clock.now_ns() if started_at is None else started_at
        target.health = _state.start(target.health, when)
        self._launch(name, target)

    def resume(self, name: str) -> None:
        """Docker's unpause: probe again without touching status, streak or StartedAt."""
        target = self._target(name)
        if target.probe is not None and not self.probing(name):
            self._launch(name, target)

    def halt(self, name: str) -> asyncio.Task[None] | None:
        """Docker's ``CloseMonitorChannel``, at once: ``unhealthy`` without an event, the
        monitor cancelled (a probe in flight is killed, its result dropped). Returns the
        monitor task to await until the probe's processes are gone, or None."""
        target = self._target(name)
        task, target.monitor = target.monitor, None
        if task is None:
            return None
        target.health = _state.stop(target.health)
        task.cancel()
        self._bus.publish(name, MonitorStopped())
        return task

    async def stop(self, name: str) -> None:
        """``halt`` and wait until the probe in flight, if any, is gone."""
        task = self.halt(name)
        if task is not None:
            await asyncio.wait([task])

    async def aclose(self) -> None:
        """Stop every monitor."""
        await asyncio.gather(*(self.stop(name) for name in list(self._targets)))

    # -- events ----------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(target_name, event)`` for every event; returns an unsubscribe."""
        return self._bus.subscribe(subscriber)

    # -- internals -------------------------------------------------------------------------

    def _target(self, name: str) -> _Target:
        try:
            return self._targets[name]
        except KeyError:
            raise KeyError(f"no such service: {name}") from None

    def _launch(self, name: str, target: _Target) -> None:
        assert target.probe is not None
        assert target.service.healthcheck is not None
        previous = target.monitor
        if previous is not None:
            previous.cancel()
        target.monitor = asyncio.get_running_loop().create_task(
            run_monitor(
                name=name,
                check=target.service.healthcheck,
                probe=target.probe,
                clock=self.clock,
                read_state=target.read_health,
                apply=target.apply,
                after=previous,
            ),
            name=f"vigil-monitor-{name}",
        )
        self._bus.publish(name, MonitorStarted())
