"""Probe throughput through the daemon against a plain spawn loop: probes/s, CPU per probe.

    python bench/daemon_rate.py [--services 64] [--interval-ms 1] [--seconds 10] [--rounds 10]
    python bench/daemon_rate.py --subscriber cli      # a real `vigil events` process instead
    python bench/daemon_rate.py --profile DIR         # then where the daemon's CPU goes

As a user runs it: a real ``vigil up`` (a child of this script, on a unix socket in a
temporary directory) with ``--services`` services probing ``["CMD", "true"]`` every
``--interval-ms``, and one events subscriber reading every event over the socket: by default
``vigil.client.Client.events`` (what ``vigil events`` runs) in a thread of this process, with
``--subscriber cli`` a ``vigil events --format json`` process. Probes are counted from the
``health_probe`` events whose time (the probe's End) falls inside a measured window; the
daemon's CPU over the same window comes from ``/proc/<pid>/stat``: utime+stime of all its
threads, and cutime+cstime of the probes it reaped.

Baseline, in the same run: ``exec_probes.py``'s single-flight loop of ``os.posix_spawn`` +
output read + ``waitpid`` of /bin/true, with this process's ``getrusage``. The two run as
interleaved slices (baseline, daemon, baseline, ...) so that background load hits both
alike. During a baseline slice the daemon is stopped (SIGSTOP); after each SIGCONT a warm-up
is left out (its overdue monitors first probe in a burst).

Printed: probes/s and its ratio to the loop's spawns/s (overall, and the median of the
rounds' ratios); CPU per probe of the daemon (itself, its children) against the loop's CPU
per spawn, and the difference: what the daemon costs per probe beyond the spawn itself.
Every process started here is stopped by its PID; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cpu_sampler import SAMPLES_ENV, SPAWN_ENV
from daemon import (
    STOP_TIMEOUT_S,
    Child,
    Received,
    Recorder,
    cpu_times,
    daemon,
    verdict,
    write_config,
)
from exec_probes import Phase, baseline

SECOND_NS = 1_000_000_000
SETTLE_S = 0.2  # after SIGSTOP: the subscriber reads what was sent before it
CATCH_UP_S = 10.0  # bound on waiting for a window's last events to arrive
GOAL_RATIO = 0.9
GOAL_OVERHEAD_MS = 0.5
SAMPLES_FILE = "samples.txt"


# ---- the subscriber -----------------------------------------------------------------------


class Subscriber(Protocol):
    received: Received
    error: str
    drops: int

    def cpu_s(self) -> float: ...

    def stopping(self) -> None: ...

    def join(self) -> None: ...


@dataclass
class CliSubscriber:
    """``vigil events --format json`` as a user runs it, its lines read by a thread of ours;
    stopped by its PID. A stream the daemon ends counts as one drop (no reconnection)."""

    host: str
    filters: list[str]
    received: Received = field(default_factory=list)
    error: str = ""
    drops: int = 0

    def __post_init__(self) -> None:
        argv = [sys.executable, "-m", "vigil", "events", "--format", "json", "-H", self.host]
        for item in self.filters:
            argv += ["--filter", item]
        self._stopping = False
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:  # ends with the process's output
            self.received.append((time.time_ns(), json.loads(line)))
        if not self._stopping:
            self.drops += 1

    def cpu_s(self) -> float:
        return cpu_times(f"/proc/{self._process.pid}/stat")[0]

    def stopping(self) -> None:
        self._stopping = True

    def join(self) -> None:
        self._stopping = True
        Child(self._process, self.host).stop()  # by its PID: SIGTERM, SIGKILL after a bound
        self._thread.join(STOP_TIMEOUT_S)


def subscribe(host: str, kind: str, filters: list[str]) -> Subscriber:
    if kind == "cli":
        return CliSubscriber(host, filters)
    wanted: dict[str, list[str]] = {}
    for item in filters:
        key, _, value = item.partition("=")
        wanted.setdefault(key, []).append(value)
    return Recorder(host, wanted or None)


# ---- measuring ----------------------------------------------------------------------------


@dataclass
class Window:
    """One measured daemon slice: wall-clock bounds (Unix ns) and CPU seconds spent in it."""

    begin_ns: int
    end_ns: int
    own_cpu: float  # every thread of the daemon
    child_cpu: float  # the probes it reaped meanwhile
    subscriber_cpu: float
    probes: int = 0

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.begin_ns) / SECOND_NS

    @property
    def rate(self) -> float:
        return self.probes / self.seconds


@dataclass
class DaemonRun:
    rounds: list[tuple[Phase, Window]]  # each baseline slice and the daemon slice after it
    drops: int = 0

    @property
    def windows(self) -> list[Window]:
        return [window for _, window in self.rounds]

    @property
    def baseline(self) -> Phase:
        phases = [phase for phase, _ in self.rounds]
        return sum(phases[1:], phases[0])

    def total(self, name: str) -> float:
        return float(sum(getattr(window, name) for window in self.windows))


def rate_config(path: Path, services: int, interval_ms: int) -> Path:
    check = {"interval": f"{interval_ms}ms"}
    return write_config(path, {f"p{i:04d}": (["CMD", "true"], check) for i in range(services)})


def measure_window(child: Child, subscriber: Subscriber, seconds: float) -> Window:
    own0, kids0 = child.cpu_times()
    sub0 = subscriber.cpu_s()
    begin = time.time_ns()
    time.sleep(seconds)
    end = time.time_ns()
    own1, kids1 = child.cpu_times()
    return Window(begin, end, own1 - own0, kids1 - kids0, subscriber.cpu_s() - sub0)


def count_probes(received: Received, windows: list[Window]) -> None:
    """Each window's ``health_probe`` events, by their time (the probe's End)."""
    for _, event in received:
        if event.get("Action") != "health_probe":
            continue
        when = int(event.get("timeNano", 0))
        for window in windows:
            if window.begin_ns <= when < window.end_ns:
                window.probes += 1
                break


def wait_for_events(subscriber: Subscriber, after_ns: int) -> None:
    """Until an event stamped after ``after_ns`` has arrived (every earlier one has: the
    stream is in order), bounded by CATCH_UP_S."""
    deadline = time.monotonic() + CATCH_UP_S
    while time.monotonic() < deadline and not subscriber.error:
        received = subscriber.received
        if received and int(received[-1][1].get("timeNano", 0)) >= after_ns:
            return
        time.sleep(0.05)


def run_interleaved(child: Child, subscriber: Subscriber, args: argparse.Namespace) -> DaemonRun:
    slice_s = args.seconds / args.rounds
    run = DaemonRun([])
    time.sleep(args.warmup)  # the services start
    for _ in range(args.rounds):  # bounded
        os.kill(child.pid, signal.SIGSTOP)
        try:
            time.sleep(SETTLE_S)
            part = baseline(slice_s)
        finally:
            os.kill(child.pid, signal.SIGCONT)
        time.sleep(args.warmup)
        run.rounds.append((part, measure_window(child, subscriber, slice_s)))
    wait_for_events(subscriber, run.windows[-1].end_ns)
    count_probes(subscriber.received, run.windows)
    run.drops = subscriber.drops
    return run


# ---- report -------------------------------------------------------------------------------


def report(run: DaemonRun, args: argparse.Namespace) -> None:
    base = run.baseline
    seconds = run.total("seconds")
    probes = max(int(run.total("probes")), 1)
    spawns = max(base.probes, 1)
    rate = probes / seconds
    loop_self, loop_kids = 1e3 * base.self_cpu / spawns, 1e3 * base.child_cpu / spawns
    own = 1e3 * run.total("own_cpu") / probes
    kids = 1e3 * run.total("child_cpu") / probes
    overhead = own + kids - loop_self - loop_kids
    ratios = [window.rate / phase.rate for phase, window in run.rounds]
    subscriber_ms = 1e3 * run.total("subscriber_cpu") / probes
    subscriber = " ".join([args.subscriber, *(f"--filter {f}" for f in args.filter)])
    spawning = "" if args.spawn == "thread" else " (EXPERIMENT: probes spawned inline)"
    print(
        f'\n{args.services} services probing ["CMD", "true"] every {args.interval_ms} ms '
        f"through `vigil up`, one events subscriber ({subscriber}); {seconds:.1f} s "
        f"measured in {args.rounds} slices, each after {args.warmup:g} s of warm-up{spawning}"
    )
    if run.drops:
        print(f"  the daemon ended the event stream {run.drops} times: probes are undercounted")
    print(
        f"  baseline posix_spawn loop {base.rate:6.0f} spawns/s  cpu/spawn: self "
        f"{loop_self:.3f} ms, children {loop_kids:.3f} ms = {loop_self + loop_kids:.3f} ms"
    )
    print(
        f"  daemon                    {rate:6.0f} probes/s  ratio {rate / base.rate:.2f} "
        f"(rounds: median {statistics.median(ratios):.2f}, {min(ratios):.2f}-{max(ratios):.2f})"
        f"   goal >= {GOAL_RATIO:g}: {verdict(rate / base.rate >= GOAL_RATIO)}"
    )
    print(
        f"    cpu/probe: daemon {own:.3f} ms, children {kids:.3f} ms = {own + kids:.3f} ms "
        f"(daemon {run.total('own_cpu') / seconds:.2f} cores, children "
        f"{run.total('child_cpu') / seconds:.2f}); subscriber {subscriber_ms:.3f} ms"
    )
    print(
        f"    beyond the loop's cost per spawn: {overhead:.3f} ms per probe "
        f"(daemon {own - loop_self:+.3f}, children {kids - loop_kids:+.3f})   "
        f"goal <= {GOAL_OVERHEAD_MS:g} ms: {verdict(overhead <= GOAL_OVERHEAD_MS)}"
    )
    pairs = ", ".join(f"{w.rate:.0f}/{p.rate:.0f}" for p, w in run.rounds)
    print(f"    probes/s per round (daemon/loop): {pairs}")


def profile(child: Child, subscriber: Subscriber, out: Path, seconds: float) -> None:
    """Where the daemon's CPU goes (``profile_daemon``), after and apart from the figures."""
    from profile_daemon import record, report_profile

    begin = time.time_ns()
    recorded = record(child.pid, seconds, out / SAMPLES_FILE, out)
    window = Window(begin, time.time_ns(), 0.0, 0.0, 0.0)
    wait_for_events(subscriber, window.end_ns)
    count_probes(subscriber.received, [window])
    print(f"\nprofile of the daemon (data in {out}):")
    report_profile(recorded, window.probes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--services", type=int, default=64, help="probing ['CMD', 'true']")
    parser.add_argument("--interval-ms", type=int, default=1, help="their interval (>= 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, in total")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved slices")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before each slice")
    parser.add_argument("--subscriber", choices=["thread", "cli"], default="thread")
    parser.add_argument("--filter", action="append", default=[], help="events filter k=v")
    parser.add_argument(
        "--spawn", choices=["thread", "inline"], default="thread", help="inline: an experiment"
    )
    parser.add_argument("--profile", metavar="DIR", help="then profile the daemon (see README)")
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    args.services = min(max(args.services, 1), 2000)  # bounded
    args.interval_ms = min(max(args.interval_ms, 1), 60_000)
    args.seconds = min(max(args.seconds, 1.0), 120.0)
    args.rounds = min(max(args.rounds, 1), 40)
    args.warmup = min(max(args.warmup, 0.2), 10.0)
    args.profile_seconds = min(max(args.profile_seconds, 1.0), 120.0)
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        workdir = Path(tmp)
        config = rate_config(workdir / "rate.yaml", args.services, args.interval_ms)
        out = Path(args.profile or workdir).resolve()
        env = {SPAWN_ENV: args.spawn, SAMPLES_ENV: str(out / SAMPLES_FILE)}
        launch: dict[str, Any] = {}
        if args.profile or args.spawn != "thread":  # run by the sampler, idle until signalled
            out.mkdir(parents=True, exist_ok=True)
            sampler = str(Path(__file__).with_name("cpu_sampler.py"))
            launch = {"launcher": [sampler], "extra_env": env}
        with daemon(config, workdir / "rate", **launch) as child:
            subscriber = subscribe(child.host, args.subscriber, args.filter)
            try:
                run = run_interleaved(child, subscriber, args)
                report(run, args)
                if args.profile:
                    profile(child, subscriber, out, args.profile_seconds)
            finally:
                subscriber.stopping()
                child.stop()
                subscriber.join()
        if subscriber.error:
            raise RuntimeError(f"the event stream failed: {subscriber.error}")
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
