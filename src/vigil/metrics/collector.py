"""``EngineMetrics``: exact counts from the event stream, current state read at scrape time.

Counters and the duration histogram are plain integers updated by synchronous observers
(``EventStream.observe``, ``Engine.observe_probe_starts``): no queue that could drop or
close under load, and no lock, since the observers and the scrape both run on the engine's
event loop. Health status and failing streak are read from the engine when scraped, so the
silent transitions (start → ``starting``, stop/pause → ``unhealthy``) are never missed.

Docker's meaning (moby ``daemon/health.go`` ``monitor``):
- ``engine_daemon_health_checks_total``: +1 as each probe begins, before it runs.
- ``engine_daemon_health_checks_failed_total``: +1 for each probe that ended without an exit
  code: it could not run (binary missing, spawn error, a probe that raised: outcome
  ``error``) or was cut short by a stop, pause, exit, restart or removal (moby cancels the
  exec, whose error counts). Failing checks (exit 1) and timeouts do not count.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import cast

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from vigil.core.events import (
    MonitorStarted,
    MonitorStopped,
    ProbeCompleted,
    Remediated,
    TargetCreated,
    TargetEvent,
    TargetRef,
    TargetRemoved,
    TargetRestarted,
    TargetRestarting,
)
from vigil.core.results import Outcome
from vigil.core.status import HealthStatus
from vigil.runtime.engine import Engine

# From a 5 ms HTTP check to a 5 min backup probe; Docker's default timeout (30 s) is a bound.
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                      60.0, 120.0, 300.0)
_BOUNDS_NS = tuple(round(b * 1e9) for b in DURATION_BUCKETS_S)
_BUCKET_LABELS = (*(str(b) for b in DURATION_BUCKETS_S), "+Inf")  # as prometheus_client
_OUTCOMES = tuple(Outcome)
_OUTCOME_INDEX = {outcome: i for i, outcome in enumerate(_OUTCOMES)}
_STATUSES = tuple(HealthStatus)


@dataclass(slots=True)
class _Service:
    """One service's counts since it was created (a new service of the same name starts
    from zero)."""

    probes: list[int] = field(default_factory=lambda: [0] * len(_OUTCOMES))
    buckets: list[int] = field(default_factory=lambda: [0] * (len(_BOUNDS_NS) + 1))
    duration_ns: int = 0
    restarts: int = 0
    remediations: dict[str, int] = field(default_factory=dict)
    probing: bool = False  # a probe began and has no result yet


class EngineMetrics:
    """The metrics of ``engine`` in ``registry`` (a new ``CollectorRegistry`` by default).

    Create it before the engine's targets (the daemon does so at start-up); targets already
    there are picked up with zero counts. ``close`` detaches it."""

    def __init__(self, engine: Engine, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._engine = engine
        self._checks = 0
        self._checks_failed = 0
        self._services = {name: _Service() for name in engine.names()}
        self._stops: list[Callable[[], None]] = [
            engine.stream.observe(self._on_event),
            engine.observe_probe_starts(self._on_probe_start),
        ]
        self.registry.register(self)

    @property
    def services(self) -> int:
        """How many services have series (what a scrape's cost grows with)."""
        return len(self._services)

    def close(self) -> None:
        for stop in self._stops:
            stop()
        self._stops = []
        self.registry.unregister(self)

    # -- observers: must not block (they run in the probe's and the publisher's path) --------

    def _on_probe_start(self, target: TargetRef) -> None:
        self._checks += 1
        service = self._services.get(target.name)
        if service is not None:
            service.probing = True

    def _on_event(self, event: TargetEvent) -> None:
        kind = type(event)
        if kind is ProbeCompleted:  # the hot path: one per probe
            self._completed(cast(ProbeCompleted, event))
            return
        name = event.target.name
        if kind is TargetCreated:
            self._services[name] = _Service()
            return
        service = self._services.get(name)
        if service is None:
            return
        if kind is MonitorStopped or kind is MonitorStarted or kind is TargetRemoved:
            if service.probing:  # its probe was cancelled: moby's exec returns an error
                service.probing = False
                self._checks_failed += 1
            if kind is TargetRemoved:
                del self._services[name]
        elif kind is TargetRestarting or kind is TargetRestarted:
            service.restarts += 1
        elif kind is Remediated:
            event = cast(Remediated, event)
            # a remediation restart goes through the manager's restart, which reports
            # TargetRestarted: counted there, once
            service.remediations[event.action] = service.remediations.get(event.action, 0) + 1

    def _completed(self, event: ProbeCompleted) -> None:
        result = event.result
        if result.outcome is Outcome.ERROR:
            self._checks_failed += 1
        service = self._services.get(event.target.name)
        if service is None:
            return
        service.probing = False
        service.probes[_OUTCOME_INDEX[result.outcome]] += 1
        took = max(0, result.end - result.start)
        service.duration_ns += took
        service.buckets[bisect_left(_BOUNDS_NS, took)] += 1

    # -- the scrape --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Every value as of now, copied on the engine's loop (microseconds per service);
        rendering it can then happen anywhere, a worker thread included."""
        health = self._engine.health
        rows = []
        for name, service in self._services.items():
            state = health(name)
            rows.append(_Row(name, state.status, state.failing_streak, tuple(service.probes),
                             tuple(service.buckets), service.duration_ns, service.restarts,
                             tuple(sorted(service.remediations.items()))))
        return Snapshot(self._checks, self._checks_failed, tuple(rows))

    def describe(self) -> Iterator[Metric]:
        """The families without samples (the registry checks their names at register)."""
        return Snapshot(0, 0, ()).collect()

    def collect(self) -> Iterator[Metric]:
        """The Collector protocol: call it on the engine's loop (``render``, a registry)."""
        return self.snapshot().collect()


@dataclass(frozen=True, slots=True)
class _Row:
    name: str
    status: HealthStatus
    streak: int
    probes: tuple[int, ...]
    buckets: tuple[int, ...]
    duration_ns: int
    restarts: int
    remediations: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The metrics at one moment: a Collector that reads nothing live, safe in any thread."""

    checks: int
    checks_failed: int
    rows: tuple[_Row, ...]

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "engine_daemon_health_checks", "The total number of health checks",
            value=self.checks)
        yield CounterMetricFamily(
            "engine_daemon_health_checks_failed", "The total number of failed health checks",
            value=self.checks_failed)
        status = GaugeMetricFamily(
            "vigil_health_status",
            "1 for the service's current health status (none, starting, healthy, unhealthy)",
            labels=("service", "status"))
        streak = GaugeMetricFamily(
            "vigil_health_failing_streak", "Consecutive failed probes (Docker FailingStreak)",
            labels=("service",))
        duration = HistogramMetricFamily(
            "vigil_probe_duration_seconds", "How long each probe took, Start to End",
            labels=("service",))
        probes = CounterMetricFamily(
            "vigil_probes", "Probe results by outcome: pass, fail, timeout, error",
            labels=("service", "result"))
        restarts = CounterMetricFamily(
            "vigil_service_restarts",
            "Restarts: by the restart policy, by a manual restart, by remediation",
            labels=("service",))
        remediations = CounterMetricFamily(
            "vigil_remediations", "Remediation actions taken (on_unhealthy), by action",
            labels=("service", "action"))
        for row in self.rows:
            name = row.name
            for each in _STATUSES:
                status.add_metric((name, each.value), 1 if row.status is each else 0)
            streak.add_metric((name,), row.streak)
            duration.add_metric((name,), list(zip(_BUCKET_LABELS, accumulate(row.buckets),
                                                   strict=True)), row.duration_ns / 1e9)
            for outcome, count in zip(_OUTCOMES, row.probes, strict=True):
                probes.add_metric((name, outcome.value), count)
            restarts.add_metric((name,), row.restarts)
            for action, count in row.remediations:
                remediations.add_metric((name, action), count)
        yield from (status, streak, duration, probes, restarts, remediations)
