"""The vigil daemon at scale: probe lateness, event delay, memory per service.

    python bench/daemon.py [--quick] [--services 1000] [--watched 10000] [--seconds 20]

Every figure is printed as an absolute value and as a ratio to a baseline measured in the
same run, because the machine is shared and noisy:

1. **lateness** of probe starts against their schedule, ``--services`` watched services
   probing every 1 s (``--flippers`` of them run ``test -f FLAG``, the others ``true``). The
   schedule is Docker's: the previous result handled + the interval; from the
   ``health_probe`` events of one service (time = End, ``duration`` = End - Start),
   ``lateness = Start[k+1] - (End[k] + 1 s)``. Baseline: as many plain asyncio tasks, each
   sleeping 1 s in a loop, spread over the second as the probes end up once started.
   Also printed: the probes' durations (End - Start of ``true``), which include the time
   from Start to the process actually running.
2. **event delay**: from a probe's End to its ``health_status`` event reaching a
   ``vigil events`` subscriber (``vigil.client.Client.events`` in a thread of this process,
   reading every event), on the same daemon while a flag file flips the flippers' health
   every ``--flip`` seconds. Baseline: the same client reading the same event mix at the
   same rates from a minimal Starlette/uvicorn server that does nothing but stream.
3. **memory**: the daemon's RSS with ``--watched`` services probing ``true`` every 60 s,
   once each has run a first probe (brought forward by ``start_interval``), minus its RSS
   with no service at all, per service. Also: the RSS a fresh process keeps after only
   loading the same vigil.yaml, for scale.

Each daemon is a child of this process (``vigil up`` in the foreground, readiness through
``VIGIL_READY_FD``), stopped by its PID with SIGTERM (SIGKILL after a bound); all traffic
goes through unix sockets in a temporary directory. Every loop is bounded in time.
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

from vigil.client import Client
from vigil.exceptions import VigilError
from vigil.go.duration import parse_duration

READY_FD_ENV = "VIGIL_READY_FD"  # vigil up's readiness pipe (see vigil.cli.up)
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
FIRST_PROBES_TIMEOUT_S = 120.0
SECOND_NS = 1_000_000_000
MS = 1e6  # ns per ms
GOAL_MS = 20.0
GOAL_BYTES = 10_000  # "10 KB" read strictly

Config = dict[str, tuple[list[str], dict[str, str]]]  # name -> (test, other healthcheck keys)
Received = list[tuple[int, dict[str, Any]]]  # (arrival, Unix ns; the event's JSON)


# ---- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN without values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(int(fraction * len(ordered) + 0.999999) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


@dataclass
class Spread:
    """p50/p99/max of a sample, in milliseconds."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of_ns(cls, values: Sequence[int]) -> Spread:
        top = max(values) if values else float("nan")
        return cls(
            len(values), percentile(values, 0.5) / MS, percentile(values, 0.99) / MS, top / MS
        )

    def text(self) -> str:
        spread = f"p50 {self.p50:7.2f} ms  p99 {self.p99:7.2f} ms  max {self.max:7.2f} ms"
        return f"{spread}  (n={self.count})"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base > 0 else "n/a"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


# ---- processes ----------------------------------------------------------------------------


@dataclass
class Child:
    """A server process of ours, started with a readiness pipe, stopped by its PID."""

    process: subprocess.Popen[bytes]
    host: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_s(self) -> float:
        return self.cpu_times()[0]

    def cpu_times(self) -> tuple[float, float]:
        """CPU seconds of the process (every thread) and of its reaped children."""
        return cpu_times(f"/proc/{self.pid}/stat")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused child handles no SIGTERM
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def cpu_times(stat: str) -> tuple[float, float]:
    """From a ``/proc/<pid>[/task/<tid>]/stat`` file: user+system CPU seconds, and those of
    the children it reaped (utime+stime, cutime+cstime)."""
    fields = Path(stat).read_text().rpartition(")")[2].split()
    own, children = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
    tick = os.sysconf("SC_CLK_TCK")
    return own / tick, children / tick


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _wait_ready(fd: int, timeout_s: float) -> bool:
    try:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        return bool(readable) and os.read(fd, 1) == b"1"
    finally:
        os.close(fd)


@contextlib.contextmanager
def spawn_ready(
    argv: list[str], host: str, log: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Child]:
    read_end, write_end = os.pipe()
    env = {**os.environ, **(extra_env or {}), READY_FD_ENV: str(write_end)}
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


def daemon(
    config: Path,
    workdir: Path,
    *,
    launcher: Sequence[str] = ("-m", "vigil"),
    extra_env: dict[str, str] | None = None,
) -> contextlib.AbstractContextManager[Child]:
    """``vigil up`` in the foreground; ``launcher`` is what runs vigil (``cpu_sampler.py``)."""
    workdir.mkdir(exist_ok=True)
    host = f"unix://{workdir / 'vigil.sock'}"
    argv = [sys.executable, *launcher, "up", "-f", str(config), "-H", host]
    argv += ["--state-dir", str(workdir / "state")]
    return spawn_ready(argv, host, workdir / "daemon.log", extra_env)


def write_config(path: Path, services: Config) -> Path:
    lines = ["services:" if services else "services: {}"]
    for name, (test, keys) in services.items():
        quoted = ", ".join(f'"{item}"' for item in test)
        lines += [f"  {name}:", "    healthcheck:", f"      test: [{quoted}]"]
        lines += [f"      {key}: {value}" for key, value in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- the event stream ---------------------------------------------------------------------


RECONNECTED = "(reconnected)"  # a marker in Recorder.received: events may be missing before it
MAX_RECONNECTS = 20


@dataclass
class Recorder:
    """Reads ``/events`` in a thread and stamps each event with its arrival (Unix ns).

    A stream the daemon closes (a subscriber it finds too slow) is opened again, and a
    marker event with the action ``RECONNECTED`` is recorded; ``drops`` counts them.
    """

    host: str
    filters: dict[str, list[str]] | None = None
    received: Received = field(default_factory=list)
    error: str = ""
    drops: int = 0

    def __post_init__(self) -> None:
        self._stopping = False
        self._client = Client(self.host)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        received = self.received
        try:
            for _ in range(MAX_RECONNECTS + 1):
                for event in self._client.events(filters=self.filters):
                    received.append((time.time_ns(), event))
                if self._stopping:
                    return
                self.drops += 1
                received.append((time.time_ns(), {"Action": RECONNECTED}))
        except VigilError as exc:
            if not self._stopping:
                self.error = str(exc)

    def cpu_s(self) -> float:
        """CPU seconds of the reading thread so far."""
        return cpu_times(f"/proc/self/task/{self._thread.native_id}/stat")[0]

    def stopping(self) -> None:
        """Call before stopping the server: the stream's end is then expected."""
        self._stopping = True

    def join(self) -> None:
        """Call once the server is stopped: its stream has ended then."""
        self._stopping = True
        self._thread.join(STOP_TIMEOUT_S)
        self._client.close()


# ---- 1 and 2: lateness and event delay on one daemon ---------------------------------------


@dataclass
class ProbeRun:
    lateness_ns: list[int]
    duration_ns: list[int]
    delay_ns: list[int]
    probe_rate: float
    status_rate: float
    daemon_cpu: float  # cores, over the measured window
    rss_kib: int
    drops: int = 0  # times the daemon closed the event stream


def probe_config(path: Path, services: int, flippers: int, flag: Path) -> Path:
    every = {"interval": "1s", "retries": "1"}
    config: Config = {}
    for i in range(services):
        if i < flippers:
            config[f"flip{i:05d}"] = (["CMD", "test", "-f", str(flag)], every)
        else:
            config[f"true{i:05d}"] = (["CMD", "true"], every)
    return write_config(path, config)


def analyse(received: Received, begin_ns: int, end_ns: int) -> ProbeRun:
    """Lateness, durations and health_status delays of the events inside [begin, end)."""
    run = ProbeRun([], [], [], 0.0, 0.0, 0.0, 0)
    last_end: dict[str, int] = {}
    for arrived, event in received:
        action = event.get("Action", "")
        if action == RECONNECTED:
            last_end.clear()  # events are missing: no pair spans the gap
            continue
        attributes = event.get("Actor", {}).get("Attributes", {})
        name = attributes.get("name", "")
        when = int(event.get("timeNano", 0))
        if action == "health_probe":
            duration = parse_duration(attributes["duration"])
            previous = last_end.get(name)
            if previous is not None and begin_ns <= previous < end_ns:
                run.lateness_ns.append(when - duration - (previous + SECOND_NS))
                run.duration_ns.append(duration)
            last_end[name] = when
        elif action.startswith("health_status") and begin_ns <= when < end_ns:
            # the service's probe event just before this one carries the probe's End
            run.delay_ns.append(arrived - last_end.get(name, when))
    return run


def run_probes(workdir: Path, args: argparse.Namespace) -> ProbeRun:
    flag = workdir / "flag"
    config = probe_config(workdir / "probes.yaml", args.services, args.flippers, flag)
    with daemon(config, workdir / "probes") as child:
        recorder = Recorder(child.host)
        begin_ns = time.time_ns() + int(args.warmup * SECOND_NS)
        end_ns = begin_ns + int(args.seconds * SECOND_NS)
        cpu_begin = None
        while (now := time.time_ns()) < end_ns:  # bounded by end_ns
            if cpu_begin is None and now >= begin_ns:
                cpu_begin = child.cpu_s()
            if flag.exists():
                flag.unlink()
            else:
                flag.touch()
            time.sleep(min(args.flip, max((end_ns - now) / SECOND_NS, 0.0)))
        cpu = child.cpu_s() - (cpu_begin or 0.0)
        rss = child.rss_kib()
        recorder.stopping()
        child.stop()
        recorder.join()
    if recorder.error:
        raise RuntimeError(f"the event stream failed: {recorder.error}")
    run = analyse(recorder.received, begin_ns, end_ns)
    run.probe_rate = len(run.lateness_ns) / args.seconds
    run.status_rate = len(run.delay_ns) / args.seconds
    run.daemon_cpu, run.rss_kib, run.drops = cpu / args.seconds, rss, recorder.drops
    return run


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


def timer_baseline(count: int, seconds: float) -> list[int]:
    """Lateness of ``count`` plain asyncio tasks each sleeping 1 s in a loop."""
    return asyncio.run(_timers(count, 2.0, seconds))


def minimal_server(sock: str, probe_rate: float, status_rate: float, limit_s: float) -> None:
    """Stream the daemon's event mix at the same rates, and do nothing else (the baseline)."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from vigil.docker.health import dumps

    queues: list[asyncio.Queue[dict[str, Any] | None]] = []  # None: end of the stream

    def event(action: str, i: int, extra: dict[str, str]) -> dict[str, Any]:
        now = time.time_ns()
        attributes = dict(sorted({"name": f"svc{i % 1000:05d}", **extra}.items()))
        return {
            "Type": "service",
            "Action": action,
            "Actor": {"ID": "f" * 64, "Attributes": attributes},
            "scope": "local",
            "time": now // SECOND_NS,
            "timeNano": now,
        }

    async def produce() -> None:
        loop = asyncio.get_running_loop()
        total = probe_rate + status_rate
        status_every = max(round(total / status_rate), 1) if status_rate else 0
        due = loop.time()
        stop = due + limit_s
        i = 0
        while due < stop:  # bounded by limit_s
            due += 1.0 / total
            await asyncio.sleep(max(due - loop.time(), 0.0))
            i += 1
            if status_every and i % status_every == 0:
                item = event("health_status: healthy", i, {})
            else:
                item = event("health_probe", i, {"duration": "1.234567ms", "exitCode": "0"})
            for queue in queues:
                queue.put_nowait(item)

    async def events(request: Request) -> StreamingResponse:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        queues.append(queue)

        async def lines() -> Any:
            try:
                while (item := await queue.get()) is not None:
                    yield (dumps(item) + "\n").encode()
            finally:
                queues.remove(queue)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:  # SIGTERM: end the streams
            for queue in queues:
                asyncio.get_running_loop().call_soon(queue.put_nowait, None)
            super().handle_exit(sig, frame)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            ready = int(os.environ.pop(READY_FD_ENV))
            os.write(ready, b"1")
            os.close(ready)

    config = uvicorn.Config(  # as vigil's own server runs
        Starlette(routes=[Route("/events", events)]),
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="off",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=1,
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
    workdir: Path, probe_rate: float, status_rate: float, seconds: float
) -> list[int]:
    """Delays of the status events read with the same client from ``minimal_server``."""
    sock = workdir / "minimal.sock"
    warmup = 2.0
    argv = [sys.executable, __file__, "--minimal-server", str(sock)]
    argv += ["--probe-rate", f"{probe_rate:.1f}", "--status-rate", f"{status_rate:.1f}"]
    argv += ["--seconds", f"{warmup + seconds + 5.0}"]
    with spawn_ready(argv, f"unix://{sock}", workdir / "minimal.log") as child:
        recorder = Recorder(child.host)
        begin = time.time_ns() + int(warmup * SECOND_NS)
        end = begin + int(seconds * SECOND_NS)
        time.sleep(max((end - time.time_ns()) / SECOND_NS, 0.0))
        recorder.stopping()
        child.stop()
        recorder.join()
    return [
        arrived - int(event["timeNano"])
        for arrived, event in recorder.received
        if event["Action"].startswith("health_status") and begin <= int(event["timeNano"]) < end
    ]


# ---- 3. memory ------------------------------------------------------------------------------

_LOAD_ONLY = """
import sys
import fastapi, uvicorn, vigil.daemon.main, vigil.api  # what the daemon has imported by then
from vigil.compose.load import load_project_file
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
before = rss()
project = load_project_file(sys.argv[1])
print(before, rss(), len(project.services))
"""


@dataclass
class MemoryRun:
    empty_kib: int
    idle_kib: int  # every monitor started, no probe run yet
    probed_kib: int  # every service probed once
    loader_kib: int  # what loading the file alone keeps, in a fresh process
    first_probes_s: float
    failed_probes: int  # failed, or not seen (the event stream was dropped)
    drops: int


def run_memory(workdir: Path, watched: int) -> MemoryRun:
    settle_s = 1.0
    empty = workdir / "empty"
    empty.mkdir()
    with daemon(write_config(empty / "vigil.yaml", {}), empty) as child:
        time.sleep(settle_s)
        empty_kib = child.rss_kib()
    full = workdir / "full"
    full.mkdir()
    keys = {"interval": "60s", "start_period": "5m", "start_interval": "5s"}
    path = write_config(
        full / "vigil.yaml", {f"w{i:05d}": (["CMD", "true"], keys) for i in range(watched)}
    )
    loaded = subprocess.run(
        [sys.executable, "-c", _LOAD_ONLY, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    with daemon(path, full) as child:
        recorder = Recorder(child.host, {"event": ["health_probe"]})
        time.sleep(settle_s)
        idle_kib = child.rss_kib()
        start = time.monotonic()
        cpu = child.cpu_s()
        probes: list[dict[str, Any]] = []
        while time.monotonic() - start < FIRST_PROBES_TIMEOUT_S:  # until each has probed once
            probes = [e for _, e in recorder.received if e["Action"] == "health_probe"]
            if len(probes) >= watched or recorder.error:
                break
            time.sleep(0.5)
            # events were lost (stream dropped): done once the daemon is idle again
            busy, cpu = child.cpu_s() - cpu, child.cpu_s()
            if recorder.drops and time.monotonic() - start > 10 and busy < 0.02:
                break
        first_probes_s = time.monotonic() - start
        time.sleep(settle_s)
        probed_kib = child.rss_kib()
        recorder.stopping()
        child.stop()
        recorder.join()
    failed = sum(1 for e in probes if e["Actor"]["Attributes"]["exitCode"] != "0")
    return MemoryRun(
        empty_kib,
        idle_kib,
        probed_kib,
        int(loaded[1]) - int(loaded[0]),
        first_probes_s,
        failed + max(watched - len(probes), 0),
        recorder.drops,
    )


# ---- main -----------------------------------------------------------------------------------


def report_probes(workdir: Path, args: argparse.Namespace) -> None:
    baseline_s = min(args.seconds, 10.0)
    timers = Spread.of_ns(timer_baseline(args.services, baseline_s))
    run = run_probes(workdir, args)
    stream = Spread.of_ns(stream_baseline(workdir, run.probe_rate, run.status_rate, baseline_s))
    late, duration, delay = (
        Spread.of_ns(v) for v in (run.lateness_ns, run.duration_ns, run.delay_ns)
    )
    print(
        f"\n{args.services} services probing every 1 s ({args.flippers} flipping health every "
        f"{args.flip:g} s), {args.seconds:g} s measured after {args.warmup:g} s: "
        f"{run.probe_rate:.0f} probes/s, {run.status_rate:.1f} health_status/s; daemon CPU "
        f"{run.daemon_cpu:.2f} cores, RSS {run.rss_kib / 1024:.1f} MiB"
    )
    if run.drops:
        print(f"  the daemon dropped the event stream {run.drops} times (subscriber too slow)")
    print(f"  lateness of probe starts      {late.text()}")
    print(f"    baseline: asyncio timers    {timers.text()}")
    print(
        f"    ratio                       p50 {ratio(late.p50, timers.p50)}  p99 "
        f"{ratio(late.p99, timers.p99)}   goal p99 <= {GOAL_MS:g} ms: "
        f"{verdict(late.p99 <= GOAL_MS)}"
    )
    print(f"  probe duration (End - Start)  {duration.text()}")
    print(f"  probe End -> health_status at the subscriber  {delay.text()}")
    print(f"    baseline: minimal stream server              {stream.text()}")
    print(
        f"    ratio                                        p50 {ratio(delay.p50, stream.p50)}  "
        f"p99 {ratio(delay.p99, stream.p99)}   goal p99 <= {GOAL_MS:g} ms: "
        f"{verdict(delay.p99 <= GOAL_MS)}"
    )


def report_memory(workdir: Path, watched: int) -> None:
    run = run_memory(workdir, watched)

    def per_service(kib: int) -> str:
        extra = (kib - run.empty_kib) * 1024 / watched
        return f"{kib / 1024:7.1f} MiB  {extra:7.0f} B/service  ratio {kib / run.empty_kib:.1f}x"

    per_probed = (run.probed_kib - run.empty_kib) * 1024 / watched
    print(
        f"\n{watched} watched services probing `true` every 60 s (first probes took "
        f"{run.first_probes_s:.1f} s, {run.failed_probes} failed or missing)"
    )
    if run.drops:
        print(f"  the daemon dropped the event stream {run.drops} times (subscriber too slow)")
    print(f"  RSS with no service (baseline)      {run.empty_kib / 1024:7.1f} MiB")
    print(f"  RSS, every monitor started          {per_service(run.idle_kib)}")
    print(
        f"  RSS, every service probed once      {per_service(run.probed_kib)}   goal <= 10 KB: "
        f"{verdict(per_probed <= GOAL_BYTES)}"
    )
    print(
        f"  for scale: loading the vigil.yaml alone keeps {run.loader_kib * 1024 / watched:.0f}"
        " B/service in a fresh process's RSS"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about 45 s)")
    parser.add_argument("--services", type=int, default=1000, help="probing every 1 s")
    parser.add_argument("--flippers", type=int, default=100, help="of them, flipping health")
    parser.add_argument("--flip", type=float, default=2.0, help="seconds between flag flips")
    parser.add_argument("--watched", type=int, default=10_000, help="for the memory figure")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not counted")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--only", choices=["all", "probes", "memory"], default="all")
    parser.add_argument("--minimal-server", help=argparse.SUPPRESS)
    parser.add_argument("--probe-rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--status-rate", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.minimal_server:
        minimal_server(args.minimal_server, args.probe_rate, args.status_rate, args.seconds)
        return 0
    if args.quick:
        args.services, args.flippers = min(args.services, 300), min(args.flippers, 30)
        args.watched, args.warmup, args.seconds = min(args.watched, 2000), 3.0, 8.0
    args.services = min(max(args.services, 1), 5000)  # bounded
    args.flippers = min(max(args.flippers, 1), args.services)
    args.watched = min(max(args.watched, 1), 50_000)
    args.warmup = min(max(args.warmup, 1.0), 30.0)
    args.seconds = min(max(args.seconds, 2.0), 60.0)
    args.flip = min(max(args.flip, 0.1), 10.0)
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        if args.only in ("all", "probes"):
            report_probes(Path(tmp), args)
        if args.only in ("all", "memory"):
            report_memory(Path(tmp), args.watched)
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
