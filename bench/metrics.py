"""What the metrics cost: per probe, and per scrape, each against a baseline of the same run.

    python bench/metrics.py [--services 200] [--seconds 3] [--rounds 4] [--scrape-services 1000]

1. probes: ``vigil.Engine`` on the real clock with ``--services`` services probing a
   no-op probe every 1 ms (Docker's minimum interval; exit codes 0, 0, 0, 1 in turn, so the
   streak and the status move), without and with ``EngineMetrics`` attached, as interleaved
   slices in alternating order (background load hits both alike). Printed: probes/s of
   each, the ratio (with / without) and the CPU per probe each spent (``process_time``).
2. scrape: one ``GET /metrics`` body (text format) for ``--scrape-services`` services:
   the part on the engine's loop (the snapshot) and the rendering (a worker thread), against
   prometheus_client's own labelled Counter/Gauge/Histogram objects holding the same series,
   rendered by the same ``generate_latest`` (all of it on the caller's thread).
3. loop lateness while scraping: a task asking for 1 ms sleeps measures how late it wakes
   (p99, max) while a client scrapes the ``--scrape-services`` services back to back for
   ``--seconds``: rendering on the loop (``render``) against ``scrape`` (snapshot on the
   loop, text on a worker thread), and an idle loop as the baseline; with the daemon's GIL
   switch interval (0.2 ms) and its ``gc.freeze()`` after start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from vigil import Engine, HealthcheckConfig, Outcome, ProbeReport
from vigil.go.duration import MILLISECOND, SECOND
from vigil.metrics import DURATION_BUCKETS_S, EngineMetrics, render, scrape
from vigil.runtime.clock import Clock, SystemClock
from vigil.testing import FakeClock, ScriptedProbe

WARMUP_S = 0.3
STATUSES = ("none", "starting", "healthy", "unhealthy")


class Cycle:
    """A probe that takes no time and exits 0, 0, 0, 1, 0, ..."""

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        self.runs += 1
        if self.runs % 4:
            return ProbeReport(Outcome.PASS, 0, "")
        return ProbeReport(Outcome.FAIL, 1, "down")


@dataclass
class Slice:
    probes: int = 0
    seconds: float = 0.0
    cpu: float = 0.0

    def __iadd__(self, other: Slice) -> Slice:
        self.probes += other.probes
        self.seconds += other.seconds
        self.cpu += other.cpu
        return self


async def probe_slice(services: int, seconds: float, with_metrics: bool) -> Slice:
    engine = Engine(clock=SystemClock())
    metrics = EngineMetrics(engine) if with_metrics else None
    check = HealthcheckConfig(test=("CMD", "x"), interval=MILLISECOND, retries=1)
    probes = [Cycle() for _ in range(services)]
    for i, probe in enumerate(probes):
        engine.add(f"s{i}", check, probe=probe)
        engine.start(f"s{i}")
    await asyncio.sleep(WARMUP_S)
    runs, wall, cpu = sum(p.runs for p in probes), time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    done = Slice(sum(p.runs for p in probes) - runs, time.perf_counter() - wall,
                 time.process_time() - cpu)
    await engine.aclose()
    if metrics is not None:
        render(metrics.registry)  # the counts are read, so nothing is optimised away
    return done


def native_registry(services: int) -> CollectorRegistry:
    """The same series in prometheus_client's own metric objects: the baseline scrape."""
    registry = CollectorRegistry()
    status = Gauge("vigil_health_status", "", ("service", "status"), registry=registry)
    streak = Gauge("vigil_health_failing_streak", "", ("service",), registry=registry)
    duration = Histogram("vigil_probe_duration_seconds", "", ("service",),
                         buckets=DURATION_BUCKETS_S, registry=registry)
    probes = Counter("vigil_probes", "", ("service", "result"), registry=registry)
    restarts = Counter("vigil_service_restarts", "", ("service",), registry=registry)
    for i in range(services):
        name = f"s{i}"
        for each in STATUSES:
            status.labels(name, each).set(each == "healthy")
        streak.labels(name).set(0)
        duration.labels(name).observe(0.01)
        for outcome in Outcome:
            probes.labels(name, outcome.value).inc()
        restarts.labels(name).inc(0)
    return registry


async def vigil_registry(services: int) -> tuple[Engine, EngineMetrics]:
    clock = FakeClock()
    engine = Engine(clock=clock)
    metrics = EngineMetrics(engine)
    check = HealthcheckConfig(test=("CMD", "x"), interval=SECOND)
    for i in range(services):
        engine.add(f"s{i}", check, probe=ScriptedProbe([0]))
        engine.start(f"s{i}")
    await clock.run_for(SECOND)
    return engine, metrics


def per_call(function: object, *args: object, repeat: int) -> float:
    assert callable(function)
    function(*args)
    start = time.perf_counter()
    for _ in range(repeat):
        function(*args)
    return (time.perf_counter() - start) / repeat


async def lateness(metrics: EngineMetrics, seconds: float, mode: str) -> tuple[float, float]:
    """p99 and max lateness (ms) of 1 ms sleeps while scraping in ``mode``."""
    late: list[float] = []
    end = time.perf_counter() + seconds

    async def ticker() -> None:
        while time.perf_counter() < end:
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            late.append((time.perf_counter() - asked - 0.001) * 1e3)

    async def scraper() -> None:
        while time.perf_counter() < end:
            if mode == "on the loop":
                render(metrics)
                await asyncio.sleep(0)
            elif mode == "scrape()":
                await scrape(metrics)
            else:
                await asyncio.sleep(0.01)

    await asyncio.gather(ticker(), scraper())
    late.sort()
    return late[min(len(late) - 1, len(late) * 99 // 100)], late[-1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--scrape-services", type=int, default=1000)
    args = parser.parse_args()
    services = max(1, min(args.services, 5_000))
    seconds = max(0.2, min(args.seconds, 60.0))
    rounds = max(1, min(args.rounds, 20))

    without, with_ = Slice(), Slice()
    for round_ in range(rounds):  # the order alternates: neither goes always first
        for with_metrics in (False, True) if round_ % 2 == 0 else (True, False):
            slice_ = await probe_slice(services, seconds / rounds, with_metrics)
            if with_metrics:
                with_ += slice_
            else:
                without += slice_
    print(f"probes: {services} services, 1 ms interval, {rounds} interleaved rounds")
    for name, phase in (("without metrics", without), ("with metrics", with_)):
        print(f"  {name:16} {phase.probes / phase.seconds:9,.0f} probes/s  "
              f"{phase.cpu / phase.probes * 1e6:6.1f} µs CPU/probe")
    ratio = (with_.probes / with_.seconds) / (without.probes / without.seconds)
    extra = (with_.cpu / with_.probes - without.cpu / without.probes) * 1e6
    print(f"  ratio (with / without): {ratio:.2f}; metrics' CPU per probe: {extra:+.1f} µs")

    count = max(1, min(args.scrape_services, 20_000))
    engine, metrics = await vigil_registry(count)
    repeat = max(3, 20_000 // count)
    on_loop = per_call(metrics.snapshot, repeat=repeat)
    ours = per_call(render, metrics.snapshot(), repeat=repeat)
    baseline = per_call(generate_latest, native_registry(count), repeat=repeat)
    size = len(render(metrics.registry)[0])
    print(f"scrape: {count} services, {size / 1024:,.0f} KiB of text")
    print(f"  on the loop (snapshot) {on_loop * 1e3:.2f} ms = {on_loop / baseline:.3f} x baseline")
    print(f"  rendering (thread) {ours * 1e3:.1f} ms = {ours / baseline:.2f} x baseline "
          f"(prometheus_client's objects: {baseline * 1e3:.1f} ms)")

    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)  # as the daemon (vigil.daemon.main.GIL_SWITCH_S)
    gc.freeze()  # as the daemon after start-up: collections skip the long-lived objects
    print(f"loop lateness of 1 ms sleeps while scraping {count} services back to back:")
    idle = await lateness(metrics, seconds, "idle")
    for mode in ("idle", "on the loop", "scrape()"):
        p99, worst = idle if mode == "idle" else await lateness(metrics, seconds, mode)
        print(f"  {mode:12} p99 {p99:7.2f} ms  max {worst:7.2f} ms  "
              f"(p99 {p99 / max(idle[0], 1e-3):.0f} x idle)")
    sys.setswitchinterval(previous)
    await engine.aclose()


if __name__ == "__main__":
    asyncio.run(main())
