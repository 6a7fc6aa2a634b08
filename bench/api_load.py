"""Probing under API load: probe rate, lateness, ``ps`` at scale, fairness between clients.

    python bench/api_load.py [--services 1000|2000] [--seconds 15] [--ps-services 10000]
    python bench/api_load.py --burn 2       # the same with both cores kept busy meanwhile

One real ``vigil up`` (a child of this script, unix socket in a temporary directory, stopped
by its PID) with ``--services`` watched services probing ``["CMD", "true"]`` every 1 s.

1. **idle** (the baseline, same run): probes/s and probe-start lateness from the
   ``health_probe`` events of one subscriber (``daemon.Recorder``; lateness as in
   ``daemon.py``: ``Start[k+1] - (End[k] + 1 s)``, Docker's schedule), and the latency of a
   polite client's small requests (``/_ping`` and one ``inspect`` every 20 ms).
2. **hostile**: the same, while ``--hammer`` client processes send requests back to back on
   keep-alive connections (``ps`` = ``GET /services/json?all=1``, ``inspect`` of a random
   service, event replay = ``GET /events?since=<start>&until=<now>``: the whole replay ring),
   and ``--streams`` processes read live ``/events`` with no filter. Printed: probes/s and its
   ratio to idle (goal >= 0.90), lateness p99 (goal <= 50 ms), each hammer kind's latency and
   rate, and the polite client's latency (goal p99 <= 50 ms: no greedy client delays it more
   than a probe may be late).
3. **ps at scale**: a second daemon with ``--ps-services`` watched services (probing every
   60 s after a first probe brought forward by ``start_interval``); one client's ``ps``
   latency, one request every 0.2 s (goal p50 <= 50 ms), and the daemon's CPU per ``ps``.

``--burn N`` runs N busy-loop processes during phases 1-3 (both cores loaded). Every process
started here is stopped by its PID; every loop is bounded in time or count.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from daemon import (
    SECOND_NS,
    STOP_TIMEOUT_S,
    Child,
    Config,
    Recorder,
    Spread,
    analyse,
    daemon,
    verdict,
    write_config,
)

GOAL_RATIO = 0.90
GOAL_LATE_MS = 50.0
GOAL_PS_MS = 50.0
GOAL_POLITE_MS = 50.0
POLITE_EVERY_S = 0.02
PS_EVERY_S = 0.2  # a user or a scraper, not a hammer (that is phase 2)
REQUEST_TIMEOUT_S = 30.0
FIRST_PROBES_TIMEOUT_S = 120.0
KINDS = ("ps", "inspect", "replay")
MS = 1e6


# ---- a keep-alive HTTP client on the unix socket (stdlib: cheap for the hammer) -----------


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=REQUEST_TIMEOUT_S)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(REQUEST_TIMEOUT_S)
        sock.connect(self._path)
        self.sock = sock


def get(connection: UnixConnection, target: str) -> tuple[int, int]:
    """One request; (status, body bytes). Reconnects once if the server closed the socket."""
    for attempt in (0, 1):
        try:
            connection.request("GET", target)
            response = connection.getresponse()
            return response.status, len(response.read())
        except (http.client.HTTPException, ConnectionError):
            connection.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


class RawClient:
    """The least a client can do per request (keep-alive, Content-Length bodies only): what
    the polite client and the ``ps`` timing use, so that they time the daemon's answer, not
    a Python HTTP library's parsing (``http.client`` added ~20 ms to a 2.5 MB ``ps``)."""

    def __init__(self, path: str) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(REQUEST_TIMEOUT_S)
        self._sock.connect(path)
        self._rest = b""

    def get(self, target: str) -> tuple[int, int]:
        """(status, body bytes) of one GET."""
        self._sock.sendall(f"GET {target} HTTP/1.1\r\nHost: vigil\r\n\r\n".encode())
        data = self._rest
        while b"\r\n\r\n" not in data:
            data += self._receive()
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")
        )
        parts, received = [data], len(data)
        while received < length:
            parts.append(self._receive())
            received += len(parts[-1])
        body = b"".join(parts)
        self._rest = body[length:]
        return int(lines[0].split()[1]), length

    def _receive(self) -> bytes:
        data = self._sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the daemon closed the connection")
        return data

    def close(self) -> None:
        self._sock.close()


def socket_path(host: str) -> str:
    return host.removeprefix("unix://")


# ---- client processes -------------------------------------------------------------------


def hammer(path: str, kind: str, names: list[str], since: float, until: float, out: str) -> None:
    """Requests of one kind back to back until ``until`` (Unix s); latencies (ns) to ``out``."""
    connection = UnixConnection(path)
    latencies: list[int] = []  # ns
    errors = 0
    rng = random.Random(os.getpid())
    while time.time() < until:  # bounded by until
        if kind == "ps":
            target = "/services/json?all=1"
        elif kind == "inspect":
            target = f"/services/{rng.choice(names)}/json"
        else:
            target = f"/events?since={since:.3f}&until={time.time():.3f}"
        start = time.time_ns()
        try:
            status, _ = get(connection, target)
        except (OSError, http.client.HTTPException):
            errors += 1
            time.sleep(0.01)
            continue
        latencies.append(time.time_ns() - start)
        errors += status != 200
    Path(out).write_text(json.dumps({"kind": kind, "latencies": latencies, "errors": errors}))


def stream(path: str, until: float, out: str) -> None:
    """Read live ``/events`` (no filter) until ``until``; reconnect when the daemon ends it."""
    received, reconnects = 0, 0
    while time.time() < until and reconnects < 100:  # bounded
        connection = UnixConnection(path)
        try:
            connection.request("GET", "/events")
            response = connection.getresponse()
            while time.time() < until and (chunk := response.read1(65536)):
                received += chunk.count(b"\n")
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        reconnects += time.time() < until
    Path(out).write_text(json.dumps({"events": received, "reconnects": reconnects}))


def burn(until: float) -> None:
    while time.time() < until:  # bounded by until
        sum(range(10_000))


@contextmanager
def processes(argvs: list[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [subprocess.Popen(argv, stdin=subprocess.DEVNULL) for argv in argvs]
    try:
        yield started
    finally:
        for process in started:
            Child(process, "").stop()  # by its PID: SIGTERM, then SIGKILL after a bound


def me(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


# ---- the polite client ------------------------------------------------------------------


@dataclass
class Polite:
    """``/_ping`` and one ``inspect`` alternately every POLITE_EVERY_S, in a thread."""

    path: str
    name: str
    until: float

    def __post_init__(self) -> None:
        self.latencies: list[int] = []
        self.errors = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        client = RawClient(self.path)
        targets = ("/_ping", f"/services/{self.name}/json")
        i = 0
        while time.time() < self.until:  # bounded by until
            start = time.time_ns()
            try:
                status, _ = client.get(targets[i % 2])
                self.errors += status != 200
                self.latencies.append(time.time_ns() - start)
            except (OSError, ValueError, StopIteration):
                self.errors += 1
                client.close()
                client = RawClient(self.path)
            i += 1
            time.sleep(POLITE_EVERY_S)
        client.close()

    def join(self) -> None:
        self._thread.join(REQUEST_TIMEOUT_S + 1)


# ---- phases -----------------------------------------------------------------------------


@dataclass
class Window:
    probes_per_s: float
    lateness: Spread
    duration: Spread
    polite: Spread
    daemon_cpu: float
    drops: int


def measure(child: Child, recorder: Recorder, name: str, seconds: float) -> Window:
    begin_ns = time.time_ns()
    polite = Polite(socket_path(child.host), name, time.time() + seconds)
    cpu0 = child.cpu_s()
    drops0 = recorder.drops
    time.sleep(seconds)
    end_ns = time.time_ns()
    cpu = child.cpu_s() - cpu0
    polite.join()
    # the window's last probes: give their events a moment to arrive
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and recorder.received:  # bounded
        if int(recorder.received[-1][1].get("timeNano", 0)) >= end_ns + SECOND_NS:
            break
        time.sleep(0.05)
    run = analyse(list(recorder.received), begin_ns, end_ns)
    probes = max(len(run.lateness_ns), replayed_probes(socket_path(child.host), begin_ns, end_ns))
    return Window(
        probes / seconds,
        Spread.of_ns(run.lateness_ns),
        Spread.of_ns(run.duration_ns),
        Spread.of_ns(polite.latencies),
        cpu / seconds,
        recorder.drops - drops0,
    )


def replayed_probes(path: str, begin_ns: int, end_ns: int) -> int:
    """``health_probe`` events of [begin, end) still in the daemon's replay ring: a lower
    bound of the probes run, for when the recorder's stream was starved (before the fix)."""
    connection = UnixConnection(path)
    query = '{"event":["health_probe"]}'.replace('"', "%22")
    connection.request("GET", f"/events?since={begin_ns / 1e9:.9f}&until={end_ns / 1e9:.9f}"
                       f"&filters={query}")
    body = connection.getresponse().read()
    connection.close()
    times = (json.loads(line)["timeNano"] for line in body.splitlines() if line)
    return sum(1 for when in times if begin_ns <= when < end_ns)


def wait_first_probes(recorder: Recorder, count: int) -> None:
    deadline = time.monotonic() + FIRST_PROBES_TIMEOUT_S
    while time.monotonic() < deadline:  # bounded
        seen = {e["Actor"]["Attributes"]["name"] for _, e in recorder.received[-4 * count :]}
        if len(seen) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError("the services did not all probe in time")


def hammer_argvs(
    path: str, names_file: Path, count: int, since: float, until: float, out: Path
) -> list[list[str]]:
    argvs = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        argvs.append(
            me(
                "--hammer-kind",
                kind,
                "--socket",
                path,
                "--names",
                str(names_file),
                "--since",
                f"{since:.3f}",
                "--until",
                f"{until:.3f}",
                "--out",
                str(out / f"h{i}"),
            )
        )
    return argvs


def report_window(label: str, window: Window, idle: Window | None) -> None:
    print(
        f"  {label}: {window.probes_per_s:7.1f} probes/s, daemon CPU "
        f"{window.daemon_cpu:.2f} cores"
        + (f", event stream dropped {window.drops}x" if window.drops else "")
    )
    print(f"    lateness of probe starts  {window.lateness.text()}")
    print(f"    probe duration (`true`)   {window.duration.text()}")
    print(f"    polite ping/inspect       {window.polite.text()}")
    if idle is not None:
        ratio = window.probes_per_s / idle.probes_per_s if idle.probes_per_s else 0.0
        print(
            f"    probes/s ratio to idle {ratio:.2f}   goal >= {GOAL_RATIO:g}: "
            f"{verdict(ratio >= GOAL_RATIO)}"
        )
        print(
            f"    lateness p99 {window.lateness.p99:.1f} ms   goal <= {GOAL_LATE_MS:g} ms: "
            f"{verdict(window.lateness.p99 <= GOAL_LATE_MS)}"
        )
        print(
            f"    polite p99 {window.polite.p99:.1f} ms (idle {idle.polite.p99:.1f} ms)   "
            f"goal <= {GOAL_POLITE_MS:g} ms: {verdict(window.polite.p99 <= GOAL_POLITE_MS)}"
        )


def report_hammers(out: Path, count: int, seconds: float) -> None:
    by_kind: dict[str, list[int]] = {kind: [] for kind in KINDS}
    errors = dict.fromkeys(KINDS, 0)
    for i in range(count):
        path = out / f"h{i}"
        if not path.exists():
            print(f"    hammer {i}: no result")
            continue
        data = json.loads(path.read_text())
        by_kind[data["kind"]] += data["latencies"]
        errors[data["kind"]] += data["errors"]
    for kind, latencies in by_kind.items():
        if latencies or errors[kind]:
            print(
                f"    greedy {kind:<8} {len(latencies) / seconds:6.1f} req/s  "
                f"{Spread.of_ns(latencies).text()}  errors {errors[kind]}"
            )
    for path in sorted(out.glob("s*")):
        data = json.loads(path.read_text())
        print(
            f"    live /events stream: {data['events'] / seconds:7.1f} events/s, "
            f"ended by the daemon {data['reconnects']}x"
        )


def run_load(workdir: Path, args: argparse.Namespace) -> None:
    names = [f"svc{i:05d}" for i in range(args.services)]
    config: Config = {name: (["CMD", "true"], {"interval": "1s"}) for name in names}
    path = write_config(workdir / "load.yaml", config)
    names_file = workdir / "names.json"
    names_file.write_text(json.dumps(names))
    with daemon(path, workdir / "load") as child:
        since = time.time()
        recorder = Recorder(child.host, {"event": ["health_probe"]})
        try:
            wait_first_probes(recorder, args.services)
            time.sleep(args.warmup)
            print(
                f"\n{args.services} watched services probing `true` every 1 s; "
                f"{args.seconds:g} s per window"
            )
            idle = measure(child, recorder, names[0], args.seconds)
            report_window("idle (baseline)", idle, None)
            until = time.time() + args.warmup + args.seconds + 1.0
            out = workdir / "out"
            out.mkdir()
            sock = socket_path(child.host)
            argvs = hammer_argvs(sock, names_file, args.hammer, since, until, out)
            argvs += [
                me(
                    "--stream",
                    "--socket",
                    sock,
                    "--until",
                    f"{until:.3f}",
                    "--out",
                    str(out / f"s{args.hammer + i}"),
                )
                for i in range(args.streams)
            ]
            with processes(argvs) as started:
                time.sleep(args.warmup)
                loaded = measure(child, recorder, names[0], args.seconds)
                for process in started:  # they end at ``until``
                    process.wait(REQUEST_TIMEOUT_S + STOP_TIMEOUT_S)
            report_window(
                f"hostile ({args.hammer} greedy clients, {args.streams} live streams)", loaded, idle
            )
            report_hammers(out, args.hammer, args.warmup + args.seconds + 1.0)
        finally:
            recorder.stopping()
            child.stop()
            recorder.join()
    if recorder.error:
        raise RuntimeError(f"the event stream failed: {recorder.error}")


def run_ps(workdir: Path, count: int, requests: int) -> None:
    keys = {"interval": "60s", "start_period": "5m", "start_interval": "5s"}
    config: Config = {f"w{i:05d}": (["CMD", "true"], keys) for i in range(count)}
    path = write_config(workdir / "ps.yaml", config)
    with daemon(path, workdir / "ps") as child:
        recorder = Recorder(child.host, {"event": ["health_probe"]})
        try:
            wait_first_probes(recorder, count)
        finally:
            recorder.stopping()
        client = RawClient(socket_path(child.host))
        latencies, size = [], 0
        client.get("/services/json?all=1")  # the first one fills the caches
        cpu0, wall0 = child.cpu_s(), time.monotonic()
        time.sleep(2.0)
        idle = (child.cpu_s() - cpu0) / (time.monotonic() - wall0)  # its probes, every 60 s
        cpu0, wall0 = child.cpu_s(), time.monotonic()
        for _ in range(requests):  # bounded
            time.sleep(PS_EVERY_S)
            start = time.time_ns()
            status, size = client.get("/services/json?all=1")
            latencies.append(time.time_ns() - start)
            if status != 200:
                raise RuntimeError(f"ps answered {status}")
        busy = child.cpu_s() - cpu0 - idle * (time.monotonic() - wall0)
        cpu_ms = busy * 1e3 / requests
        client.close()
        child.stop()
        recorder.join()
    spread = Spread.of_ns(latencies)
    print(f"\nps of {count} services ({size / 1e6:.1f} MB), {requests} requests "
          f"{PS_EVERY_S} s apart:")
    print(f"  {spread.text()}   goal p50 <= {GOAL_PS_MS:g} ms: {verdict(spread.p50 <= GOAL_PS_MS)}")
    print(f"  daemon CPU per ps {cpu_ms:.1f} ms (beyond its idle load: probes every 60 s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--services", type=int, default=1000, help="probing every 1 s")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per window")
    parser.add_argument("--warmup", type=float, default=3.0, help="before each window")
    parser.add_argument("--hammer", type=int, default=7, help="greedy client processes")
    parser.add_argument("--streams", type=int, default=3, help="live /events readers")
    parser.add_argument("--ps-services", type=int, default=10_000, help="0: skip phase 3")
    parser.add_argument("--ps-requests", type=int, default=30)
    parser.add_argument("--burn", type=int, default=0, help="busy-loop processes meanwhile")
    parser.add_argument("--only", choices=["all", "load", "ps"], default="all")
    for hidden in ("--hammer-kind", "--socket", "--names", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--since", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--burner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.burner:
        burn(args.until)
        return 0
    if args.stream:
        stream(args.socket, args.until, args.out)
        return 0
    if args.hammer_kind:
        names = json.loads(Path(args.names).read_text())
        hammer(args.socket, args.hammer_kind, names, args.since, args.until, args.out)
        return 0
    args.services = min(max(args.services, 1), 5000)  # bounded
    args.seconds = min(max(args.seconds, 2.0), 120.0)
    args.warmup = min(max(args.warmup, 0.5), 30.0)
    args.hammer = min(max(args.hammer, 0), 32)
    args.streams = min(max(args.streams, 0), 32)
    args.ps_services = min(max(args.ps_services, 0), 50_000)
    args.ps_requests = min(max(args.ps_requests, 2), 1000)
    args.burn = min(max(args.burn, 0), 16)
    started = time.monotonic()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load "
        f"{os.getloadavg()[0]:.2f}, {args.burn} busy-loop processes"
    )
    burn_until = time.time() + 3600.0  # stopped by PID long before
    with (
        tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp,
        processes([me("--burner", "--until", f"{burn_until:.0f}") for _ in range(args.burn)]),
    ):
        if args.only in ("all", "load"):
            run_load(Path(tmp), args)
        if args.only in ("all", "ps") and args.ps_services:
            run_ps(Path(tmp), args.ps_services, args.ps_requests)
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
