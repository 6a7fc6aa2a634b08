"""The engine: every target's health and the one ordered stream of target events.

It is the single writer of health. Monitors hand it probe results; lifecycle facts come in
through ``report`` (from a ``vigil.targets`` target, the single writer of its process state)
or through ``start``/``stop``/``pause``/``resume`` (a library user's watched target). Each
fact goes through the pure core (``vigil.core.health``), is stored, then published: first
to the store's journal, then to every subscriber's bounded queue (``vigil.runtime.stream``).
No subscriber code runs inside a probe's path.

Docker's order is kept: on exit, stop or pause the monitor is closed first (status
``unhealthy``, no event, the probe in flight killed and its result dropped), then the
lifecycle event is published; on start the event comes first, then the monitor.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

from vigil.core import health as _health
from vigil.core.config import HealthcheckConfig
from vigil.core.events import (
    HookEvent,
    LifecycleEvent,
    MonitorStarted,
    MonitorStopped,
    RemediationEvent,
    TargetCreated,
    TargetDied,
    TargetEvent,
    TargetExiting,
    TargetPaused,
    TargetRef,
    TargetRemoved,
    TargetStarted,
    TargetStopped,
    TargetUnpaused,
)
from vigil.core.health import HealthState
from vigil.core.probespec import ProbeSpec, spec_for_check, unknown_test_type
from vigil.core.results import ProbeResult
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.probes import Probe, build_probe
from vigil.runtime.clock import Clock, SystemClock
from vigil.runtime.monitor import run_monitor
from vigil.runtime.stream import DEFAULT_QUEUE_LIMIT, EventStream, Overflow, Subscription
from vigil.store import StateStore, TargetRecord
from vigil.store.memory import MemoryStore

_log = logging.getLogger("vigil")

ProbeBuilder = Callable[[ProbeSpec, TargetRef], Probe]
_NO_HEALTH = HealthState()  # frozen: every new target shares it until its first start
CALLBACK_QUEUE_LIMIT = 10_000  # events a ``subscribe`` callback may fall behind by


def default_probe_builder(spec: ProbeSpec, target: TargetRef) -> Probe:
    return build_probe(spec, target_id=target.id)


@dataclass(slots=True)
class _Target:
    ref: TargetRef
    check: HealthcheckConfig | None
    probe: Probe | None
    health: HealthState
    publish: Callable[[TargetEvent], None]
    probe_starting: Callable[[TargetRef], None]
    monitor: asyncio.Task[None] | None = None
    halted: asyncio.Task[None] | None = None  # a cancelled monitor, until it is gone

    # The monitor gets these two as bound methods: less memory per target than closures.
    def read_health(self) -> HealthState:
        return self.health

    def apply(self, result: ProbeResult) -> None:
        """Store the core's new state, then publish the events it caused."""
        assert self.check is not None
        self.health, events = _health.apply_result(self.health, self.check, result, self.ref)
        for event in events:
            self.publish(event)

    def starting(self) -> None:
        self.probe_starting(self.ref)


class Engine:
    """Runs health monitors for any number of targets inside one asyncio loop.

    ``add`` registers a target (a name, its check and what to probe), ``start`` begins
    probing it (Docker's container start: status ``starting``, streak 0, log kept), ``stop``
    and ``pause`` end probing (``unhealthy``, silently, the probe in flight killed and its
    result dropped), ``resume`` probes again after a pause. ``events()`` and ``subscribe()``
    deliver every target event. Use it as an async context manager so that every monitor
    and subscriber task is stopped on exit.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        store: StateStore | None = None,
        probe_builder: ProbeBuilder | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store: StateStore = store if store is not None else MemoryStore()
        self._probe_builder = probe_builder or default_probe_builder
        self._targets: dict[str, _Target] = {}
        self.stream = EventStream(journal=self.store.append_event)
        self._consumers: set[asyncio.Task[None]] = set()
        self._probe_observers: list[Callable[[TargetRef], None]] = []

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

    def add(
        self,
        name: str,
        check: HealthcheckConfig | None = None,
        *,
        probe: ProbeSpec | Probe | None = None,
        target_id: str | None = None,
        created_ns: int | None = None,
    ) -> TargetRef:
        """Register a target and publish ``TargetCreated``; returns its identity.

        ``probe`` is what to run each interval: a ``ProbeSpec`` (built with
        ``vigil.probes.build_probe``) or any ``Probe``. Without one, nothing is probed
        (Docker: no check, ``NONE``, or a test type it does not know)."""
        if name in self._targets:
            raise ConfigError(ConfigProblem(f"services.{name}", "already exists"))
        ref = TargetRef(target_id or secrets.token_hex(32), name)
        if check is None or not check.runs_probe:
            probe = None
        elif probe is None:  # the check's own test (CMD with Docker's environment, HTTP...)
            probe = self._probe_builder(spec_for_check(check), ref)
        elif not isinstance(probe, Probe):
            probe = self._probe_builder(probe, ref)
        target = _Target(ref, check, probe, _NO_HEALTH, self._publish, self._probe_starting)
        self._targets[name] = target
        now = self.clock.now_ns()
        self.store.save_target(TargetRecord(ref, now if created_ns is None else created_ns))
        self._publish(TargetCreated(ref, now))
        return ref

    async def remove(self, name: str) -> None:
        """Stop probing ``name``, forget it and publish ``TargetRemoved``."""
        target = self._target(name)
        self._halt(target)
        await self.probe_gone(name)
        del self._targets[name]
        self.store.remove_target(target.ref.id)
        self._publish(TargetRemoved(target.ref, self.clock.now_ns()))

    def names(self) -> Iterator[str]:
        return iter(self._targets)

    def ref(self, name: str) -> TargetRef:
        return self._target(name).ref

    def check(self, name: str) -> HealthcheckConfig | None:
        return self._target(name).check

    def health(self, name: str) -> HealthState:
        """The target's health; status ``none`` when it has no probe or never started."""
        return self._target(name).health

    def restore_health(self, name: str, state: HealthState) -> None:
        """Health an earlier daemon left (from its store), shown until the target starts:
        a start then makes it ``starting`` with streak 0 and this Log kept, as Docker's
        restore does. Ignored while the target is probed or when it has no check."""
        target = self._target(name)
        if target.probe is not None and target.monitor is None:
            target.health = state

    def adopt(self, name: str, state: HealthState, *, first_delay_ns: int = 0) -> None:
        """Probe ``name`` on from ``state`` as another engine left it (a fleet check taken
        over): no start transition, so the streak and Log continue and no status event is
        repeated; the first probe comes after ``first_delay_ns``."""
        target = self._target(name)
        if target.probe is None:
            return
        target.health = state
        self._launch(target, first_delay_ns=first_delay_ns)

    def has_check(self, name: str) -> bool:
        return self._target(name).probe is not None

    def probing(self, name: str) -> bool:
        task = self._target(name).monitor
        return task is not None and not task.done()

    # -- lifecycle -------------------------------------------------------------------------

    def report(self, event: LifecycleEvent) -> None:
        """A lifecycle fact about a registered target: its effect on health (Docker's
        ``initHealthMonitor`` / ``CloseMonitorChannel`` / ``updateHealthMonitor``), then the
        event is published."""
        target = self._targets.get(event.target.name)  # one dict per target, not two
        if target is None or target.ref.id != event.target.id:
            raise KeyError(f"no such target: {event.target.id}")
        if isinstance(event, TargetExiting | TargetDied | TargetStopped | TargetPaused):
            self._halt(target)
            self._publish(event)
        elif isinstance(event, TargetStarted):
            self._publish(event)
            self._start_monitor(target, event.time_ns)
        elif isinstance(event, TargetUnpaused):
            self._publish(event)
            if target.probe is not None and not self.probing(target.ref.name):
                self._launch(target)
        else:
            self._publish(event)

    def start(self, name: str, *, started_at: int | None = None) -> None:
        """The target started (Docker's container start): ``starting``, streak 0, log kept,
        a new monitor. ``started_at`` (Unix ns) is when; the start period counts from it.
        Default: now. A monitor already running is replaced."""
        when = self.clock.now_ns() if started_at is None else started_at
        self.report(TargetStarted(self.ref(name), when))

    async def stop(self, name: str) -> None:
        """The target stopped: ``unhealthy`` without a health event, the probe in flight
        killed and its result dropped; returns once its processes are gone."""
        self.report(TargetStopped(self.ref(name), self.clock.now_ns()))
        await self.probe_gone(name)

    def pause(self, name: str) -> None:
        """The target was paused: probing stops as on ``stop`` (Docker moby#46203)."""
        self.report(TargetPaused(self.ref(name), self.clock.now_ns()))

    def resume(self, name: str) -> None:
        """The target was unpaused: probe again one interval later, status, streak and
        StartedAt untouched."""
        self.report(TargetUnpaused(self.ref(name), self.clock.now_ns()))

    async def probe_gone(self, name: str) -> None:
        """Wait until a monitor stopped by a lifecycle fact has killed its probe."""
        target = self._target(name)
        task = target.halted
        if task is not None:
            await asyncio.wait([task])
            if target.halted is task:
                target.halted = None

    async def aclose(self) -> None:
        """Stop every monitor, then end every subscription (after it got what was queued)."""
        for target in self._targets.values():
            self._halt(target)
        await asyncio.gather(*(self.probe_gone(name) for name in list(self._targets)))
        self.stream.close("engine closed")
        if self._consumers:
            await asyncio.wait(list(self._consumers))

    # -- events ----------------------------------------------------------------------------

    def events(
        self,
        *,
        maxsize: int = DEFAULT_QUEUE_LIMIT,
        overflow: Overflow = "close",
        since_ns: int | None = None,
    ) -> Subscription[TargetEvent]:
        """Every target event from now on, in order, as an async iterator; with
        ``since_ns``, first the stored events from then on (no gap, no duplicate)."""
        replay = self.store.events(since_ns) if since_ns is not None else ()
        return self.stream.subscribe(maxsize=maxsize, overflow=overflow, replay=replay)

    def subscribe(self, callback: Callable[[TargetEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event, from a task of its own (so a slow or
        failing callback never delays a probe); returns a function that unsubscribes."""
        subscription: Subscription[TargetEvent] = self.stream.subscribe(
            maxsize=CALLBACK_QUEUE_LIMIT, overflow="drop")
        task = asyncio.get_running_loop().create_task(_deliver(subscription, callback))
        self._consumers.add(task)
        task.add_done_callback(self._consumers.discard)
        return subscription.close

    def observe_probe_starts(self, observer: Callable[[TargetRef], None]) -> Callable[[], None]:
        """Call ``observer(target)`` synchronously as each probe begins (before it runs; a
        probe cut short by a stop has begun but never completes); returns a function that
        stops it. It runs in the monitor's path, so, as ``EventStream.observe``, it MUST NOT
        block, await or do I/O (metrics: Docker's ``health_checks_total``)."""
        self._probe_observers = [*self._probe_observers, observer]  # copy on write

        def stop() -> None:
            self._probe_observers = [o for o in self._probe_observers if o is not observer]

        return stop

    # -- internals -------------------------------------------------------------------------

    def publish(self, event: RemediationEvent | HookEvent) -> None:
        """A fact about a target that neither the target nor its health monitor made (a
        remediation subscriber's action, a hook's run), stored and published like any other."""
        self._publish(event)

    def _publish(self, event: TargetEvent) -> None:
        self.stream.publish(event)

    def _probe_starting(self, target: TargetRef) -> None:
        for observer in self._probe_observers:
            try:
                observer(target)
            except Exception:  # bookkeeping must never stop a probe
                _log.exception("probe observer %r failed on %s", observer, target.name)

    def _target(self, name: str) -> _Target:
        try:
            return self._targets[name]
        except KeyError:
            raise KeyError(f"no such service: {name}") from None

    def _start_monitor(self, target: _Target, started_at: int) -> None:
        if target.probe is None:
            kind = unknown_test_type(target.check)
            if kind is not None:  # moby getProbe, at every start
                _log.warning("Unknown healthcheck type '%s' (expected 'CMD') in service %s",
                             kind, target.ref.id)
            return
        target.health = _health.start(target.health, started_at)
        self._launch(target)

    def _halt(self, target: _Target) -> None:
        task, target.monitor = target.monitor, None
        if task is None:
            return
        target.health = _health.stop(target.health)
        task.cancel()
        target.halted = task
        self._publish(MonitorStopped(target.ref, self.clock.now_ns()))

    def _launch(self, target: _Target, *, first_delay_ns: int | None = None) -> None:
        assert target.probe is not None
        assert target.check is not None
        previous = target.monitor or target.halted
        if target.monitor is not None:
            target.monitor.cancel()
        target.monitor = asyncio.get_running_loop().create_task(
            run_monitor(
                name=target.ref.name,
                check=target.check,
                probe=target.probe,
                clock=self.clock,
                read_state=target.read_health,
                apply=target.apply,
                after=previous,
                starting=target.starting,
                first_delay_ns=first_delay_ns,
            ),
            name=f"vigil-monitor-{target.ref.name}",
        )
        self._publish(MonitorStarted(target.ref, self.clock.now_ns()))


async def _deliver(
    subscription: Subscription[TargetEvent], callback: Callable[[TargetEvent], object]
) -> None:
    async for event in subscription:
        try:
            callback(event)
        except Exception:
            _log.exception("event subscriber %r failed on %r", callback, event)
