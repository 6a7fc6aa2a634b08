"""How fast vigil runs HTTP probes, and how punctually at scale. Prints, in one run:

    python bench/net_probes.py [--seconds 16] [--concurrency 32] [--targets 10000]
                               [--interval-s 10] [--periods 4] [--slice-s 1]

1. **rate**: sustained fresh-connection HTTP probes per second, ``--concurrency`` loops of
   ``HttpProbe.run`` against a baseline of the same number of loops doing a bare aiohttp GET
   with a fresh connection (the library vigil uses, at its best: one shared session), in
   alternating one-second slices so that machine noise hits both alike; the median of the
   slice pairs' ratios is the figure to read (goal >= 0.8).
2. **lateness**: ``vigil.Engine`` with ``--targets`` HTTP targets every ``--interval-s``
   (10,000 every 10 s = 1,000 probes/s), started evenly over one interval as a daemon's
   services would drift apart; each probe's start is compared with when Docker's monitor
   schedules it (the previous probe's end + interval). Printed: p50/p99/max lateness (goal:
   p99 <= 50 ms) and vigil's CPU per probe (this process only: the server is another one).
3. **memory**: Python memory (tracemalloc) per HTTP probe in flight, ``--in-flight`` of them
   waiting on a listener that accepted and never answers.

``--compare SRC`` runs only the lateness phase, ``--rounds`` times for each of two trees in
alternating order (before, after, after, before, ...; each a child process with its own
server): ``SRC`` (e.g. an older commit's ``src``, from ``git archive``) against this tree.
The machine's drifting load then hits both alike; compare within the run.

The server is bench/http_server.py in its own process, so it never shares vigil's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import aiohttp
from netbench import cpu_seconds, drive, local_http_server

from vigil import Engine, HealthcheckConfig
from vigil.core.events import ProbeCompleted, TargetEvent
from vigil.core.probespec import HttpSpec
from vigil.probes.http import HttpProbe, close_sessions
from vigil.runtime.clock import SystemClock

try:
    from vigil.runtime.heap import settle  # what the daemon does once its services are up
except ImportError:  # an older tree (--compare): it only froze the heap
    settle = gc.freeze

SECOND_NS = 1_000_000_000


async def _baseline(url: str, seconds: float, concurrency: int) -> tuple[int, float, float]:
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get() -> None:
            async with session.get(url) as response:
                assert response.status == 200

        return await drive(get, seconds, concurrency)


async def _vigil(url: str, seconds: float, concurrency: int) -> tuple[int, float, float]:
    probe, clock = HttpProbe(HttpSpec(url)), SystemClock()

    async def get() -> None:
        report = await probe.run(timeout_ns=30 * SECOND_NS, clock=clock)
        assert report.exit_code == 0, report.output

    try:
        return await drive(get, seconds, concurrency)
    finally:
        await close_sessions()


def rate(url: str, seconds: float, concurrency: int, slice_s: float) -> None:
    """Alternating slices (baseline, vigil, vigil, baseline, ...): the order and the machine's
    drifting load (other jobs, sockets in TIME_WAIT) hit both alike; the ratio is the median
    of the slice pairs'."""
    totals = {"baseline": [0, 0.0, 0.0], "vigil": [0, 0.0, 0.0]}
    ratios = []
    pairs = max(int(seconds / (2 * slice_s)), 1)
    for pair in range(pairs):
        order = [("baseline", _baseline), ("vigil", _vigil)]
        rates = {}
        for name, phase in order if pair % 2 == 0 else reversed(order):
            done, wall, cpu = asyncio.run(phase(url, slice_s, concurrency))
            rates[name] = done / wall
            for i, value in enumerate((done, wall, cpu)):
                totals[name][i] += value
        ratios.append(rates["vigil"] / rates["baseline"])
    print(f"1. fresh-connection HTTP probes, {concurrency} in flight, {pairs} slice pairs")
    for name, (done, wall, cpu) in totals.items():
        print(f"   {name:8} {done / wall:7.0f} probes/s  {cpu / done * 1e3:.3f} ms CPU/probe")
    print(f"   ratio vigil/baseline: median {statistics.median(ratios):.2f} of "
          f"{' '.join(f'{r:.2f}' for r in sorted(ratios))}  (goal >= 0.8)")


class _Stalls:
    """Where lateness comes from: the loop's own lag (a 10 ms ticker's overshoot) and the
    longest garbage-collection pass, both in wall time (so CPU starvation shows in both)."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self.gc_ms = 0.0
        self._gc_start = 0.0
        self.passes = [[0, 0.0, 0.0] for _ in range(3)]  # per generation: count, total, longest

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            took = (time.perf_counter() - self._gc_start) * 1e3
            self.gc_ms = max(self.gc_ms, took)
            stats = self.passes[info["generation"]]
            stats[0] += 1
            stats[1] += took
            stats[2] = max(stats[2], took)

    def summary(self) -> str:
        return ", ".join(f"gen{gen} {int(n)} passes {total:.0f} ms (longest {longest:.1f})"
                         for gen, (n, total, longest) in enumerate(self.passes))

    async def tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags_ms.append((time.perf_counter() - before - 0.01) * 1e3)


async def _lateness(url: str, targets: int, interval_s: float, periods: int,
                    as_json: bool = False) -> None:
    clock = SystemClock()
    engine = Engine(clock=clock)
    interval = int(interval_s * SECOND_NS)
    last_end: dict[str, int] = {}
    late_ms: list[float] = []
    probes = 0
    failed: dict[str, int] = {}

    def on_event(event: TargetEvent) -> None:
        nonlocal probes
        if isinstance(event, ProbeCompleted):
            probes += 1
            name = event.target.name
            if name in last_end:
                late_ms.append((event.result.start - last_end[name] - interval) / 1e6)
            last_end[name] = event.result.end
            if event.result.exit_code != 0:
                reason = event.result.output.split(" in ")[0]
                failed[reason] = failed.get(reason, 0) + 1

    engine.subscribe(on_event)
    check = HealthcheckConfig(("HTTP", url), interval=interval, timeout=5 * SECOND_NS)
    for i in range(targets):
        engine.add(f"t{i}", check)
    gc.collect()
    gc.freeze()
    cpu = cpu_seconds()
    spread = interval_s / targets
    started = time.monotonic()
    for i in range(targets):  # evenly over one interval: a steady 1/spread probes per second
        engine.start(f"t{i}")
        delay = started + (i + 1) * spread - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    settle()  # as the daemon does once its services are up (limits.md: GC stalls)
    stalls = _Stalls()
    gc.callbacks.append(stalls.on_gc)
    ticker = asyncio.ensure_future(stalls.tick())
    await asyncio.sleep(interval_s * periods)
    ticker.cancel()
    gc.callbacks.remove(stalls.on_gc)
    cpu = cpu_seconds() - cpu
    unfrozen = len(gc.get_objects())
    await engine.aclose()
    await close_sessions()
    late_ms.sort()
    if not late_ms:
        raise SystemExit("no second probe of any target: give more --periods")

    def pct(p: float) -> float:
        return late_ms[min(len(late_ms) - 1, int(p * len(late_ms)))]

    lags = sorted(stalls.lags_ms) or [0.0]
    lag_p99 = lags[int(0.99 * (len(lags) - 1))]
    if as_json:  # one line for --compare
        print(json.dumps({
            "probes": probes, "p50": pct(0.5), "p99": pct(0.99), "max": late_ms[-1],
            "cpu_ms": cpu / probes * 1e3, "lag_p99": lag_p99, "lag_max": lags[-1],
            "full_passes": stalls.passes[2][0], "gc_max": stalls.gc_ms,
            "failed": sum(failed.values()), "unfrozen": unfrozen, "load": os.getloadavg()[0]}))
        return

    print(f"2. {targets} HTTP targets every {interval_s:g}s ({targets / interval_s:.0f} probes/s),"
          f" {probes} probes, {len(late_ms)} scheduled starts measured")
    print(f"   start lateness p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {late_ms[-1]:.1f}"
          " ms  (goal p99 <= 50 ms)")
    print(f"   vigil CPU per probe: {cpu / probes * 1e3:.3f} ms (engine, monitor, events included)")
    print(f"   event-loop lag p99 {lag_p99:.1f} ms, max {lags[-1]:.1f} ms;"
          f" longest GC pass {stalls.gc_ms:.1f} ms")
    print(f"   GC passes: {stalls.summary()}; {unfrozen} objects not frozen at the end")
    if failed:
        print(f"   failed probes (the local server fell behind): {failed}")


async def _in_flight_memory(count: int) -> None:
    """Python memory held per probe waiting on a server that accepted and never answers
    (a listener that never calls accept(): the kernel completes the handshakes)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
        probe = HttpProbe(HttpSpec(f"http://127.0.0.1:{listener.getsockname()[1]}/"))
        clock = SystemClock()
        await probe.run(timeout_ns=SECOND_NS // 10, clock=clock)  # session and imports warm
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.ensure_future(probe.run(timeout_ns=60 * SECOND_NS, clock=clock))
                 for _ in range(count)]
        await asyncio.sleep(2)  # every request sent, every probe waiting for an answer
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_sessions()
    print(f"3. {count} probes in flight (server accepted, never answers): "
          f"{held / count / 1024:.1f} KiB of Python memory each")


def compare(before_src: Path, rounds: int, args: argparse.Namespace) -> None:
    """The lateness phase in child processes, alternating ``before_src`` and this tree."""
    trees = {"before": before_src.resolve(), "after": Path(__file__).parents[1] / "src"}
    if not (trees["before"] / "vigil" / "__init__.py").is_file():
        raise SystemExit(f"--compare: no vigil package under {before_src}")
    command = [sys.executable, __file__, "--only", "lateness", "--json",
               "--targets", str(args.targets), "--interval-s", str(args.interval_s),
               "--periods", str(args.periods)]
    budget_s = 60 + args.interval_s * (args.periods + 1) * 3
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for index in range(2 * rounds):
        name = ("before", "after")[(index + index // 2) % 2]  # before, after, after, before...
        env = {**os.environ, "PYTHONPATH": str(trees[name])}
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=budget_s, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            raise SystemExit(f"{name} run failed:\n{done.stdout}{done.stderr}")
        runs[name].append(json.loads(lines[-1]))
        row = runs[name][-1]
        print(f"   {name:6} load {row['load']:.1f}: p50 {row['p50']:.1f} p99 {row['p99']:.1f} "
              f"max {row['max']:.0f} ms; loop lag p99 {row['lag_p99']:.1f} max "
              f"{row['lag_max']:.0f} ms; {row['full_passes']:.0f} full GC passes, longest pass "
              f"{row['gc_max']:.0f} ms; {row['cpu_ms']:.3f} ms CPU/probe; {row['probes']:.0f} "
              f"probes, {row['failed']:.0f} failed; {row['unfrozen']:.0f} objects not frozen",
              flush=True)
    for name, rows in runs.items():
        p99s = sorted(row["p99"] for row in rows)
        print(f"   {name}: p99 lateness median {statistics.median(p99s):.1f} ms of "
              f"{' '.join(f'{p:.1f}' for p in p99s)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=16.0, help="rate phase, in total")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--slice-s", type=float, default=1.0, help="one slice of the rate phase")
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--interval-s", type=float, default=10.0)
    parser.add_argument("--periods", type=int, default=4, help="intervals after the start (>= 2)")
    parser.add_argument("--in-flight", type=int, default=1000, help="probes held at once")
    parser.add_argument("--only", choices=("all", "rate", "lateness", "memory"), default="all")
    parser.add_argument("--compare", type=Path, help="another tree's src: lateness, A/B")
    parser.add_argument("--rounds", type=int, default=2, help="--compare: runs of each tree")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 120.0)
    args.targets, args.interval_s = max(args.targets, 1), max(args.interval_s, 0.1)
    args.periods = max(min(args.periods, 20), 2)
    if args.compare is not None:
        print("load average (1/5/15 min) at start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
        compare(args.compare, min(max(args.rounds, 1), 10), args)
        return
    print("load average (1/5/15 min) at start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    with local_http_server() as port:
        url = f"http://127.0.0.1:{port}/health"
        if args.only in ("all", "rate"):
            rate(url, seconds, max(args.concurrency, 1), min(max(args.slice_s, 0.2), 10.0))
        if args.only in ("all", "lateness"):
            asyncio.run(_lateness(url, args.targets, args.interval_s, args.periods, args.json))
    if args.only in ("all", "memory"):
        asyncio.run(_in_flight_memory(min(max(args.in_flight, 1), 3000)))
    print("load average (1/5/15 min) at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
