"""CPU per probe, on one real engine in one run: Docker's own health checks, vigil's exec-API
probe (``vigil.probes.docker_exec``) and vigil's network probe, on the same kind of
container; each as a ratio to Docker's own.

    .venv/bin/python bench/docker_probes.py            # starts its own dockerd (the tests')
    .venv/bin/python bench/docker_probes.py --probes 40

CPU is counted where it is spent: this process (``RUSAGE_SELF``) and the engine's processes
(dockerd, its containerd and the containers' shims, with their reaped children: runc and the
checks themselves), from /proc, less the engine's idle CPU over as long a time (measured in
the same run). Docker's probes are counted by its ``exec_die`` events. The load is kept small
(an exec costs the engine tens of ms of CPU): ``--probes`` per phase, 20 by default.

Last, the delay from Docker's ``health_status`` event to vigil's ``StatusChanged`` for the
same change, through the daemon's container watcher, over 4 changes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.docker_engine import BASE_IMAGE, HEALTH_IMAGE, DockerEngine, start_engine

from vigil.core.events import StatusChanged
from vigil.core.netspec import HttpOptions
from vigil.core.probespec import HttpSpec
from vigil.daemon.containers import ContainerWatcher
from vigil.daemon.manager import Manager
from vigil.dockerd.client import DockerClient
from vigil.probes.docker_exec import DockerExecProbe
from vigil.probes.http import HttpProbe, close_sessions
from vigil.runtime.clock import SystemClock
from vigil.runtime.engine import Engine

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
INTERVAL_MS = 250  # between two probes, in every phase
PORT = 18_765
KEEP_RUNNING = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]


def _start(engine: DockerEngine, name: str, *args: str) -> str:
    """``docker run -d --network none --name NAME ARGS``: the container's ID."""
    return engine.docker("run", "-d", "--network", "none", "--name", name, *args).stdout.strip()


def _engine_pids(engine: DockerEngine) -> list[int]:
    marker = str(engine.root).encode()
    pids = [engine.pid]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != engine.pid:
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and (b"containerd" in cmdline):
                pids.append(int(proc.name))
    return pids


def _engine_cpu_s(pids: list[int]) -> float:
    """utime + stime + cutime + cstime of the engine's processes."""
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        total += sum(int(f) for f in fields[11:15])
    return total * TICK_S


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(engine: DockerEngine, body: object, seconds: float) -> tuple[float, float]:
    """(engine CPU s, own CPU s) while ``body`` (a coroutine) runs."""
    pids = _engine_pids(engine)
    engine_before, self_before = _engine_cpu_s(pids), _self_cpu_s()
    started = time.monotonic()
    await body  # type: ignore[misc]
    left = seconds - (time.monotonic() - started)
    if left > 0:
        await asyncio.sleep(left)
    pids = _engine_pids(engine)
    return _engine_cpu_s(pids) - engine_before, _self_cpu_s() - self_before


async def _docker_own(engine: DockerEngine, probes: int) -> tuple[float, float, int]:
    _start(
        engine,
        "bench-docker",
        "--health-cmd",
        "true",
        "--health-interval",
        f"{INTERVAL_MS}ms",
        BASE_IMAGE,
        *KEEP_RUNNING,
    )
    await asyncio.sleep(1)
    since = time.time()
    seconds = probes * INTERVAL_MS / 1000
    cpu = await _measure(engine, asyncio.sleep(seconds), seconds)
    until = time.time()
    engine.docker("rm", "-f", "bench-docker")
    events = engine.docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{until:.3f}",
        "--filter",
        "container=bench-docker",
        "--filter",
        "event=exec_die",
        "--format",
        "x",
    ).stdout.split()
    return cpu[0], cpu[1], len(events)


async def _vigil_exec(engine: DockerEngine, probes: int) -> tuple[float, float, int]:
    container = _start(engine, "bench-vigil", BASE_IMAGE, *KEEP_RUNNING)
    clock = SystemClock()
    async with DockerClient(engine.host) as client:
        probe = DockerExecProbe(client, container, ("CMD", "true"))
        await probe.run(timeout_ns=10**10, clock=clock)  # warm: connection, API version

        async def loop() -> None:
            for _ in range(probes):
                report = await probe.run(timeout_ns=10**10, clock=clock)
                assert report.exit_code == 0, report
                await asyncio.sleep(INTERVAL_MS / 1000)

        cpu = await _measure(engine, loop(), 0)
    engine.docker("rm", "-f", "bench-vigil")
    return cpu[0], cpu[1], probes


async def _vigil_net(engine: DockerEngine, probes: int) -> tuple[float, float, int]:
    engine.docker(
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        "bench-net",
        BASE_IMAGE,
        "/bin/busybox",
        "httpd",
        "-f",
        "-p",
        f"127.0.0.1:{PORT}",
        "-h",
        "/tmp",
    )
    clock = SystemClock()
    probe = HttpProbe(HttpSpec(f"http://127.0.0.1:{PORT}/", HttpOptions(expect_status=())))
    for _ in range(100):  # until httpd listens (bounded)
        if (await probe.run(timeout_ns=10**9, clock=clock)).output.startswith("HTTP"):
            break
        await asyncio.sleep(0.05)

    async def loop() -> None:
        for _ in range(probes):
            await probe.run(timeout_ns=10**10, clock=clock)
            await asyncio.sleep(INTERVAL_MS / 1000)

    cpu = await _measure(engine, loop(), 0)
    await close_sessions()
    engine.docker("rm", "-f", "bench-net")
    return cpu[0], cpu[1], probes


async def _event_delays(engine: DockerEngine, transitions: int) -> list[float]:
    """ms from Docker's ``health_status`` event to vigil's ``StatusChanged`` for the same
    change, mirrored by the daemon's container watcher, as /tmp/ok comes and goes."""
    with tempfile.TemporaryDirectory() as logs:
        clock = SystemClock()
        vigil_engine = Engine(clock=clock)
        manager = Manager(clock=clock, engine=vigil_engine, log_dir=Path(logs))
        seen: list[int] = []
        vigil_engine.stream.observe(
            lambda e: seen.append(time.time_ns()) if isinstance(e, StatusChanged) else None
        )
        async with DockerClient(engine.host) as client:
            docker_times: list[int] = []

            async def follow() -> None:
                async for event in client.events(filters={"event": ["health_status"]}):
                    docker_times.append(int(event["timeNano"]))

            watcher = ContainerWatcher(manager, client, clock=clock)
            tasks = [asyncio.ensure_future(watcher.run()), asyncio.ensure_future(follow())]
            _start(
                engine,
                "bench-delay",
                HEALTH_IMAGE,
                *KEEP_RUNNING,
            )
            try:
                for index in range(transitions):
                    command = "touch" if index % 2 == 0 else "rm"
                    engine.docker("exec", "bench-delay", command, "/tmp/ok")
                    for _ in range(600):  # bounded: 30 s
                        if len(seen) > index and len(docker_times) > index:
                            break
                        await asyncio.sleep(0.05)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await watcher.aclose()
                await vigil_engine.aclose()
                engine.docker("rm", "-f", "bench-delay")
    pairs = zip(docker_times, seen, strict=False)
    return [(mine - docker) / 1e6 for docker, mine in pairs]


async def _idle(engine: DockerEngine, seconds: float) -> float:
    engine_cpu, _ = await _measure(engine, asyncio.sleep(seconds), seconds)
    return engine_cpu / seconds


async def run(probes: int) -> None:
    engine = await asyncio.to_thread(start_engine)
    try:
        print(f"engine {engine.version}, {probes} probes per phase, one every {INTERVAL_MS} ms")
        seconds = probes * INTERVAL_MS / 1000
        idle_per_s = await _idle(engine, seconds)
        rows = [
            ("Docker's own HEALTHCHECK", await _docker_own(engine, probes)),
            ("vigil exec-API probe", await _vigil_exec(engine, probes)),
            ("vigil HTTP probe (host network)", await _vigil_net(engine, probes)),
        ]
        base = 0.0
        print(f"engine idle: {idle_per_s * 1000:.1f} ms CPU/s (subtracted)")
        print(
            f"{'phase':34} {'probes':>6} {'engine ms':>10} {'vigil ms':>9} {'total ms':>9}"
            f" {'ratio':>6}"
        )
        for label, (engine_s, self_s, count) in rows:
            engine_ms = max(engine_s - idle_per_s * count * INTERVAL_MS / 1000, 0) / count * 1000
            self_ms = self_s / count * 1000
            total = engine_ms + self_ms
            base = base or total
            print(
                f"{label:34} {count:>6} {engine_ms:>10.2f} {self_ms:>9.2f} {total:>9.2f}"
                f" {total / base:>6.2f}"
            )
        delays = await _event_delays(engine, 4)
        shown = ", ".join(f"{d:.0f}" for d in delays)
        print(f"Docker health_status -> vigil StatusChanged (mirrored): {shown} ms")
    finally:
        await asyncio.to_thread(engine.destroy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=20, choices=range(5, 201), metavar="5..200")
    asyncio.run(run(parser.parse_args().probes))


if __name__ == "__main__":
    main()
