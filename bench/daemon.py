"""The vigil daemon at scale: probe lateness, memory per service, event delay.

    python bench/daemon.py [--quick] [--services 1000] [--watched 10000] [--seconds 30]

Each figure is printed as an absolute value and as a ratio to a baseline measured in the
same run, because the machine is shared and noisy:

1. **lateness** of probe starts against their schedule, ``--services`` services probing
   every 1 s (``--flippers`` of them run ``test -f FLAG``, the rest ``true``). The schedule
   is Docker's: the previous result handled + the interval, so from the ``health_probe``
   events of one service (time = End, ``duration`` = End - Start):
   ``lateness = Start[k+1] - (End[k] + interval)``. Baseline: the same number of plain
   asyncio tasks sleeping 1 s in a loop, phases spread over the second as the probes'
   are once the start-up burst is over (the first ``--warmup`` seconds are not counted).
2. **event delay**: from a probe's End to its ``health_status`` event reaching a
   ``vigil events`` subscriber (``vigil.client.Client.events``, in a thread of this process),
   measured on the same daemon while a flag file flips the flippers' health every
   ``--flip`` seconds. Baseline: the same client reading the same event mix at the same
   rate from a minimal Starlette/uvicorn server that only streams (``minimal_server``).
3. **memory**: the daemon's RSS with ``--watched`` services probing ``true`` every 60 s
   (measured once each has run its first probe, brought forward by ``start_interval``),
   minus its RSS with no service at all, per service.

Every daemon is a child of this process (``vigil up`` in the foreground, readiness through
``VIGIL_READY_FD``), stopped by PID with SIGTERM (SIGKILL after a bound); all traffic goes
through unix sockets in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil._durations import parse_duration
from vigil.client import Client
from vigil.exceptions import VigilError

READY_FD_ENV = "VIGIL_READY_FD"  # vigil up's readiness pipe (see vigil._cli_up)
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
SECOND_NS = 1_000_000_000
MS = 1e6  # ns per ms


# ---- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(int(fraction * len(ordered) + 0.999999) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


@dataclass
class Spread:
    """p50/p99/max of a sample in milliseconds."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of_ns(cls, values: Sequence[int]) -> Spread:
        return cls(
            len(values),
            percentile(values, 0.50) / MS,
            percentile(values, 0.99) / MS,
            (max(values) if values else float("nan")) / MS,
        )

    def text(self) -> str:
        return f"p50 {self.p50:7.2f} ms  p99 {self.p99:7.2f} ms  max {self.max:7.2f} ms  (n={self.count})"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base > 0 else "n/a"


# ---- processes ----------------------------------------------------------------------------


def _wait_ready(fd: int, timeout_s: float) -> bool:
    try:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        return bool(readable) and os.read(fd, 1) == b"1"
    finally:
        os.close(fd)


@dataclass
class Child:
    """A server process of ours: started with a readiness pipe, stopped by PID."""

    process: subprocess.Popen[bytes]
    host: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


@contextlib.contextmanager
def spawn_ready(argv: list[str], host: str, log: Path) -> Iterator[Child]:
    read_end, write_end = os.pipe()
    env = {**os.environ, READY_FD_ENV: str(write_end)}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, pass_fds=(write_end,)
        )
    os.close(write_end)
    child = Child(process, host)
    try:
        if not _wait_ready(read_end, START_TIMEOUT_S):
            raise RuntimeError(f"{argv[:4]} did not start; see {log}")
        yield child
    finally:
        child.stop()


def daemon(config: Path, workdir: Path) -> contextlib.AbstractContextManager[Child]:
    sock = workdir / "vigil.sock"
    argv = [sys.executable, "-m", "vigil", "up", "-f", str(config), "-H", f"unix://{sock}"]
    argv += ["--state-dir", str(workdir / "state")]
    return spawn_ready(argv, f"unix://{sock}", workdir / "daemon.log")


def write_config(path: Path, services: dict[str, tuple[list[str], dict[str, str]]]) -> Path:
    """A vigil.yaml of watched services: name -> (test, other healthcheck keys)."""
    lines = ["services:" if services else "services: {}"]
    for name, (test, keys) in services.items():
        lines += [f"  {name}:", "    healthcheck:", f"      test: {test!r}".replace("'", '"')]
        lines += [f"      {key}: {value}" for key, value in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- the event stream ---------------------------------------------------------------------


@dataclass
class Recorder:
    """Reads ``/events`` in a thread; stamps each event with its arrival time (Unix ns)."""

    host: str
    filters: dict[str, list[str]] | None = None
    received: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    error: str = ""

    def __post_init__(self) -> None:
        self._client = Client(self.host)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        received = self.received
        try:
            for event in self._client.events(filters=self.filters):
                received.append((time.time_ns(), event))
        except VigilError as exc:
            self.error = str(exc)

    def join(self, timeout_s: float) -> None:
        """Call once the server was stopped: its stream then ends."""
        self._thread.join(timeout_s)
        self._client.close()


# ---- 1. lateness and 2. event delay on the daemon -------------------------------------------


@dataclass
class ProbeRun:
    lateness_ns: list[int]
    delay_ns: list[int]
    probe_rate: float
    status_rate: float
    daemon_cpu: float  # cores used by the daemon over the window
    rss_kib: int
    error: str


def probe_config(path: Path, services: int, flippers: int, flag: Path) -> Path:
    every = {"interval": "1s", "retries": "1"}
    config: dict[str, tuple[list[str], dict[str, str]]] = {}
    for i in range(services):
        if i < flippers:
            config[f"flip{i:05d}"] = (["CMD", "test", "-f", str(flag)], every)
        else:
            config[f"true{i:05d}"] = (["CMD", "true"], every)
    return write_config(path, config)


def analyse(
    received: list[tuple[int, dict[str, Any]]], begin_ns: int, end_ns: int
) -> tuple[list[int], list[int], int, int]:
    """Lateness of probe starts and event delays of health_status, inside [begin, end)."""
    last_end: dict[str, int] = {}
    lateness: list[int] = []
    delays: list[int] = []
    probes = statuses = 0
    for arrived, event in received:
        action = event.get("Action", "")
        attributes = event.get("Actor", {}).get("Attributes", {})
        name = attributes.get("name", "")
        when = int(event.get("timeNano", 0))
        if action == "health_probe":
            start = when - parse_duration(attributes["duration"])
            previous = last_end.get(name)
            if previous is not None and begin_ns <= previous < end_ns:
                lateness.append(start - (previous + SECOND_NS))
                probes += 1
            last_end[name] = when
        elif action.startswith("health_status") and begin_ns <= when < end_ns:
            # the probe event just before it, same service, carries the probe's End
            delays.append(arrived - last_end.get(name, when))
            statuses += 1
    return lateness, delays, probes, statuses


def run_probes(
    workdir: Path, services: int, flippers: int, warmup_s: float, seconds: float, flip_s: float
) -> ProbeRun:
    flag = workdir / "flag"
    config = probe_config(workdir / "probes.yaml", services, flippers, flag)
    with daemon(config, workdir) as child:
        recorder = Recorder(child.host)
        recorder.start()
        ready_ns = time.time_ns()
        begin_ns = ready_ns + int(warmup_s * SECOND_NS)
        end_ns = begin_ns + int(seconds * SECOND_NS)
        cpu0 = None
        flips = 0
        while (now := time.time_ns()) < end_ns:  # bounded by end_ns
            if cpu0 is None and now >= begin_ns:
                cpu0 = child.cpu_s()
            if flag.exists():
                flag.unlink()
            else:
                flag.touch()
            flips += 1
            time.sleep(min(flip_s, max((end_ns - now) / SECOND_NS, 0.0)))
        cpu = child.cpu_s() - (cpu0 or 0.0)
        rss = child.rss_kib()
        child.stop()
        recorder.join(STOP_TIMEOUT_S)
    lateness, delays, probes, statuses = analyse(recorder.received, begin_ns, end_ns)
    return ProbeRun(
        lateness, delays, probes / seconds, statuses / seconds, cpu / seconds, rss, recorder.error
    )


# ---- baselines -----------------------------------------------------------------------------


async def _timers(count: int, warmup_s: float, seconds: float) -> list[int]:
    loop = asyncio.get_running_loop()
    lateness: list[int] = []
    begin = loop.time() + warmup_s
    end = begin + seconds

    async def one(phase: float) -> None:
        await asyncio.sleep(phase)
        while True:
            planned = loop.time() + 1.0
            await asyncio.sleep(1.0)
            now = loop.time()
            if begin <= planned - 1.0 < end:
                lateness.append(int((now - planned) * SECOND_NS))
            if now >= end:
                return

    await asyncio.gather(*(one(i / count) for i in range(count)))
    return lateness


def timer_baseline(count: int, warmup_s: float, seconds: float) -> list[int]:
    """Lateness of ``count`` plain asyncio tasks each sleeping 1 s in a loop."""
    return asyncio.run(_timers(count, min(warmup_s, 2.0), seconds))


def minimal_server(sock: str, probe_rate: float, status_rate: float, limit_s: float) -> None:
    """Stream the daemon's event mix at the same rates, and nothing else (the baseline)."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from vigil._docker_json import dumps

    queues: list[asyncio.Queue[dict[str, Any]]] = []

    def event(action: str, i: int, extra: dict[str, str]) -> dict[str, Any]:
        now = time.time_ns()
        attributes = {"name": f"svc{i % 1000:05d}", **extra}
        return {
            "Type": "service",
            "Action": action,
            "Actor": {"ID": "f" * 64, "Attributes": dict(sorted(attributes.items()))},
            "scope": "local",
            "time": now // SECOND_NS,
            "timeNano": now,
        }

    async def produce() -> None:
        loop = asyncio.get_running_loop()
        total = probe_rate + status_rate
        step = 1.0 / total
        status_every = max(int(total / status_rate), 1) if status_rate else 0
        due = loop.time()
        stop = due + limit_s
        i = 0
        while due < stop:
            due += step
            await asyncio.sleep(max(due - loop.time(), 0.0))
            i += 1
            if status_every and i % status_every == 0:
                item = event("health_status: healthy", i, {})
            else:
                item = event("health_probe", i, {"duration": "1.234567ms", "exitCode": "0"})
            for queue in queues:
                queue.put_nowait(item)

    async def events(request: Request) -> StreamingResponse:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        queues.append(queue)

        async def lines() -> Any:
            try:
                while True:
                    yield (dumps(await queue.get()) + "\n").encode()
            finally:
                queues.remove(queue)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            fd = int(os.environ.pop(READY_FD_ENV))
            os.write(fd, b"1")
            os.close(fd)

    app = Starlette(routes=[Route("/events", events)])
    config = uvicorn.Config(
        app, loop="asyncio", http="h11", ws="none", lifespan="off", access_log=False,
        log_config=None,
    )

    async def main() -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock)
        listener.listen(16)
        producer = asyncio.ensure_future(produce())
        server = Server(config)
        serving = asyncio.ensure_future(server.serve(sockets=[listener]))
        await producer
        server.should_exit = True
        await serving

    asyncio.run(main())


def stream_baseline(
    workdir: Path, probe_rate: float, status_rate: float, warmup_s: float, seconds: float
) -> list[int]:
    """Delays of the status events read from ``minimal_server`` with the same client."""
    sock = workdir / "minimal.sock"
    limit = warmup_s + seconds + 5.0
    argv = [sys.executable, __file__, "--minimal-server", str(sock), "--probe-rate",
            f"{probe_rate:.1f}", "--status-rate", f"{status_rate:.1f}", "--seconds", f"{limit}"]
    with spawn_ready(argv, f"unix://{sock}", workdir / "minimal.log") as child:
        recorder = Recorder(child.host)
        recorder.start()
        begin = time.time_ns() + int(warmup_s * SECOND_NS)
        end = begin + int(seconds * SECOND_NS)
        time.sleep((end - time.time_ns()) / SECOND_NS)
        child.stop()
        recorder.join(STOP_TIMEOUT_S)
    return [
        arrived - int(event["timeNano"])
        for arrived, event in recorder.received
        if event["Action"].startswith("health_status") and begin <= int(event["timeNano"]) < end
    ]


# ---- 3. memory ------------------------------------------------------------------------------


def run_memory(workdir: Path, watched: int, settle_s: float) -> tuple[int, int, int, float]:
    """(RSS with no service, RSS with ``watched`` idle, RSS after their first probe, seconds
    the first probes took); KiB."""
    empty = workdir / "empty"
    empty.mkdir()
    with daemon(write_config(empty / "vigil.yaml", {}), empty) as child:
        time.sleep(settle_s)
        base = child.rss_kib()
    full = workdir / "full"
    full.mkdir()
    keys = {"interval": "60s", "start_period": "5m", "start_interval": "5s"}
    config = {f"w{i:05d}": (["CMD", "true"], keys) for i in range(watched)}
    with daemon(write_config(full / "vigil.yaml", config), full) as child:
        recorder = Recorder(child.host, {"event": ["health_probe"]})
        recorder.start()
        time.sleep(min(settle_s, 2.0))
        idle = child.rss_kib()
        t0 = time.monotonic()
        deadline = t0 + 120.0
        while time.monotonic() < deadline:  # until every first probe was reported
            probed = sum(1 for _, e in recorder.received if e["Action"] == "health_probe")
            if probed >= watched or recorder.error:
                break
            time.sleep(0.5)
        took = time.monotonic() - t0
        time.sleep(settle_s)
        after = child.rss_kib()
        child.stop()
        recorder.join(STOP_TIMEOUT_S)
    return base, idle, after, took


# ---- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run, fewer services")
    parser.add_argument("--services", type=int, default=1000, help="probing every 1 s")
    parser.add_argument("--flippers", type=int, default=100, help="of them, flipping health")
    parser.add_argument("--flip", type=float, default=2.0, help="seconds between flag flips")
    parser.add_argument("--watched", type=int, default=10_000, help="for the memory figure")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds not counted")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--only", choices=["all", "probes", "memory"], default="all")
    parser.add_argument("--minimal-server", help=argparse.SUPPRESS)
    parser.add_argument("--probe-rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--status-rate", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.minimal_server:
        minimal_server(args.minimal_server, args.probe_rate, args.status_rate, args.seconds)
        return 0
    if args.quick:
        args.services, args.watched = min(args.services, 300), min(args.watched, 2000)
        args.flippers, args.warmup, args.seconds = min(args.flippers, 30), 4.0, 8.0
    seconds = min(max(args.seconds, 2.0), 60.0)
    warmup = min(max(args.warmup, 2.0), 30.0)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        workdir = Path(tmp)
        if args.only in ("all", "probes"):
            report_probes(workdir, args, warmup, seconds)
        if args.only in ("all", "memory"):
            report_memory(workdir, args.watched)
    return 0


def report_probes(workdir: Path, args: argparse.Namespace, warmup: float, seconds: float) -> None:
    timers = Spread.of_ns(timer_baseline(args.services, warmup, seconds))
    run = run_probes(workdir, args.services, args.flippers, warmup, seconds, args.flip)
    late = Spread.of_ns(run.lateness_ns)
    delay = Spread.of_ns(run.delay_ns)
    stream = Spread.of_ns(
        stream_baseline(workdir, run.probe_rate, run.status_rate, min(warmup, 3.0), seconds)
    )
    print(f"\n{args.services} services probing every 1 s ({args.flippers} flipping health), "
          f"{seconds:g} s measured after {warmup:g} s; {run.probe_rate:.0f} probes/s, "
          f"{run.status_rate:.1f} health_status/s, daemon CPU {run.daemon_cpu:.2f} cores, "
          f"RSS {run.rss_kib / 1024:.1f} MiB{'; stream error: ' + run.error if run.error else ''}")
    print(f"  lateness of probe starts   {late.text()}")
    print(f"    baseline asyncio timers  {timers.text()}")
    print(f"    ratio                    p50 {ratio(late.p50, timers.p50)}  "
          f"p99 {ratio(late.p99, timers.p99)}   goal p99 <= 20 ms: "
          f"{'met' if late.p99 <= 20 else 'MISSED'}")
    print(f"  probe End -> health_status at subscriber  {delay.text()}")
    print(f"    baseline minimal stream server          {stream.text()}")
    print(f"    ratio                    p50 {ratio(delay.p50, stream.p50)}  "
          f"p99 {ratio(delay.p99, stream.p99)}   goal p99 <= 20 ms: "
          f"{'met' if delay.p99 <= 20 else 'MISSED'}")


def report_memory(workdir: Path, watched: int) -> None:
    base, idle, after, took = run_memory(workdir, watched, 1.0)
    per_idle = (idle - base) * 1024 / watched
    per_after = (after - base) * 1024 / watched
    print(f"\n{watched} watched services probing every 60 s (first probes took {took:.1f} s)")
    print(f"  RSS with no service (baseline)     {base / 1024:8.1f} MiB")
    print(f"  RSS, monitors started, no probe    {idle / 1024:8.1f} MiB  "
          f"{per_idle / 1024:6.2f} KiB/service  ratio {idle / base:.1f}x")
    print(f"  RSS after each one's first probe   {after / 1024:8.1f} MiB  "
          f"{per_after / 1024:6.2f} KiB/service  ratio {after / base:.1f}x   goal <= 10 KB: "
          f"{'met' if per_after <= 10_000 else 'MISSED'}")


if __name__ == "__main__":
    raise SystemExit(main())
