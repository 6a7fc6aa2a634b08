"""How fast vigil runs exec probes, against a plain posix_spawn loop on the same machine.

    python bench/exec_probes.py [--seconds 5] [--targets 64] [--heap-mb 0] [--mode all]

Phases (each ``--seconds`` long in total, run as ``--rounds`` interleaved slices so that a
change in the machine's background load hits every phase alike; each slice has a warm-up):
1. baseline: one loop of ``os.posix_spawn`` + output pipe read + ``waitpid`` of /bin/true;
2. direct: ``--targets`` asyncio loops, each ``await ExecProbe(("CMD", "true")).run(...)``
   then a ``--interval-ms`` sleep (the probe alone, no engine);
3. engine: ``vigil.Engine`` with ``--targets`` targets probing ``["CMD", "true"]`` at an
   interval of ``--interval-ms`` (Docker's minimum, 1 ms, by default).
Printed: probes/s, the ratio to the baseline, and CPU per probe of this process and of its
children (``getrusage``). ``--heap-mb`` first fills the heap with N MiB of Python objects, to
show that spawning does not slow down as the process grows (fork() would).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vigil.linux.process import become_subreaper
from vigil.probes.exec import ExecProbe
from vigil.runtime.clock import SystemClock

WARMUP_S = 0.3
TRUE = "/bin/true"


@dataclass
class Phase:
    name: str
    probes: int
    seconds: float
    self_cpu: float
    child_cpu: float

    @property
    def rate(self) -> float:
        return self.probes / self.seconds

    def __add__(self, other: Phase) -> Phase:
        return Phase(
            self.name,
            self.probes + other.probes,
            self.seconds + other.seconds,
            self.self_cpu + other.self_cpu,
            self.child_cpu + other.child_cpu,
        )


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def baseline(seconds: float) -> Phase:
    """A plain, single-flight posix_spawn loop: the machine's spawn rate for this process."""
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def once() -> None:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, write_fd, 1),
            (os.POSIX_SPAWN_DUP2, write_fd, 2),
        ]
        pid = os.posix_spawn(TRUE, [TRUE], {}, file_actions=actions)
        os.close(write_fd)
        os.read(read_fd, 65536)
        os.waitpid(pid, 0)
        os.close(read_fd)

    end = time.perf_counter() + WARMUP_S
    while time.perf_counter() < end:
        once()
    count = 0
    cpu0, t0 = _cpu(), time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        once()
        count += 1
    return _phase("baseline posix_spawn loop", count, t0, cpu0)


def _phase(name: str, count: int, t0: float, cpu0: tuple[float, float]) -> Phase:
    elapsed = time.perf_counter() - t0
    cpu1 = _cpu()
    return Phase(name, count, elapsed, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])


async def _measure(
    name: str, seconds: float, start: Callable[[], Awaitable[None]], probes: Callable[[], int]
) -> Phase:
    runner = asyncio.ensure_future(start())
    await asyncio.sleep(WARMUP_S)
    count0, cpu0, t0 = probes(), _cpu(), time.perf_counter()
    await asyncio.sleep(seconds)
    phase = _phase(name, probes() - count0, t0, cpu0)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    return phase


@dataclass(frozen=True)
class Options:
    working_dir: str | None = None  # set: Popen's vfork path instead of posix_spawn
    user: str | None = None  # set (as root): setpriv(1), or Popen's fork path without it
    interval_ns: int = 1_000_000  # pause between two probes of one target


async def direct(seconds: float, targets: int, options: Options) -> Phase:
    """ExecProbe alone: ``targets`` loops of run + 1 ms sleep."""
    clock = SystemClock()
    done = [0]

    async def one_target() -> None:
        probe = ExecProbe(("CMD", "true"), working_dir=options.working_dir, user=options.user)
        while True:
            report = await probe.run(timeout_ns=30_000_000_000, clock=clock)
            if report.exit_code != 0:
                raise RuntimeError(f"probe failed: {report}")
            done[0] += 1
            await clock.sleep_ns(options.interval_ns)

    async def start() -> None:
        await asyncio.gather(*(one_target() for _ in range(targets)))

    return await _measure(f"vigil ExecProbe x{targets}", seconds, start, lambda: done[0])


async def engine(seconds: float, targets: int, options: Options) -> Phase | None:
    """The whole runtime: Engine, monitors, core state machine, events."""
    try:
        from vigil import Engine, ExecSpec, HealthcheckConfig, ProbeCompleted
    except ImportError:
        return None
    done = [0]

    def count(event: object) -> None:
        if isinstance(event, ProbeCompleted):
            done[0] += 1

    check = HealthcheckConfig(test=("CMD", "true"), interval=max(options.interval_ns, 1_000_000))

    async def start() -> None:
        async with Engine() as eng:
            eng.subscribe(count)
            for i in range(targets):
                spec = ExecSpec(check.test, working_dir=options.working_dir, user=options.user)
                eng.add(f"t{i}", check, probe=spec)
                eng.start(f"t{i}")
            await asyncio.Event().wait()  # until cancelled; the context stops every monitor

    return await _measure(f"vigil Engine x{targets}", seconds, start, lambda: done[0])


def _fill_heap(megabytes: int) -> list[bytes]:
    block = b"x" * 1016
    # a million distinct 1 KiB objects per GiB: pages written by this process
    return [b"%08d" % i + block for i in range(megabytes * 1024)]


def _report(phase: Phase, base: Phase | None) -> None:
    ratio = f"  ratio {phase.rate / base.rate:.2f}" if base is not None else ""
    print(
        f"{phase.name:<28} {phase.rate:8.0f} probes/s{ratio}  "
        f"cpu/probe: self {1e3 * phase.self_cpu / max(phase.probes, 1):.3f} ms, "
        f"children {1e3 * phase.child_cpu / max(phase.probes, 1):.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved slices per phase")
    parser.add_argument("--targets", type=int, default=64, help="probes in flight")
    parser.add_argument("--heap-mb", type=int, default=0, help="allocate N MiB of objects first")
    parser.add_argument("--mode", choices=["all", "direct", "engine"], default="all")
    parser.add_argument("--working-dir", help="probe working_dir (spawns through Popen)")
    parser.add_argument("--user", help="probe user, applied when root (setpriv)")
    parser.add_argument(
        "--interval-ms", type=float, default=1.0, help="between probes (engine: at least 1)"
    )
    args = parser.parse_args(argv)
    options = Options(args.working_dir, args.user, int(args.interval_ms * 1_000_000))
    seconds = min(max(args.seconds, 0.5), 60.0)  # bounded
    rounds = min(max(args.rounds, 1), 20)
    heap = _fill_heap(args.heap_mb)
    subreaper = become_subreaper()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, heap +{args.heap_mb} MiB "
        f"({len(heap)} objects), subreaper={subreaper}, {seconds:g} s per phase "
        f"in {rounds} rounds, {args.targets} targets, {options}"
    )
    slice_s = seconds / rounds
    totals: dict[str, Phase] = {}

    def add(phase: Phase | None) -> None:
        if phase is not None:
            totals[phase.name] = totals[phase.name] + phase if phase.name in totals else phase

    for _ in range(rounds):
        add(baseline(slice_s))
        if args.mode in ("all", "direct"):
            add(asyncio.run(direct(slice_s, args.targets, options)))
        if args.mode in ("all", "engine"):
            add(asyncio.run(engine(slice_s, args.targets, options)))
    base = next(iter(totals.values()))
    for phase in totals.values():
        _report(phase, None if phase is base else base)
    if args.mode in ("all", "engine") and len(totals) < 2 + (args.mode == "all"):
        print("vigil Engine: not available (import failed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
