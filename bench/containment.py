"""Do timed-out probes that escape leave anything behind, and what does containment cost?

    python bench/containment.py [--probes 10000] [--in-flight 32] [--timeout-ms 50]
                                [--backend auto|cgroup2|freezer|proc] [--plain 2000]

1. escapes: ``--probes`` probes spread evenly over the escape kinds (setsid, setsid -f
   ignoring SIGTERM, double fork, setpgrp, holding the pipe, clearing the environment),
   ``--in-flight`` at a time, each timing out after ``--timeout-ms`` with its escapee
   running; then the orphan sweep the daemon runs every second. Printed: the processes
   still alive whose argv is ``sleep MARKER`` (the goal is 0), per kind.
2. cost: in the same run, ``--plain`` probes of ``["CMD", "true"]`` with the chosen backend
   and with containment off (no jail: the pre-containment path), interleaved in slices;
   printed: CPU per probe of this process and its children, and the ratio.

This process is made a child subreaper, as the daemon is. Bounded: at most ``--probes``
probes, each killed at its timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.linux.escapes

from tests.linux import escapes

from vigil.go.duration import MILLISECOND, SECOND
from vigil.linux import contain
from vigil.linux.process import become_subreaper
from vigil.probes.exec import ExecProbe
from vigil.runtime.clock import SystemClock

SLICES = 5


def kind_probe(kind: str, escapee: Path, marker: int) -> ExecProbe:
    """A probe whose escapee of ``kind`` runs before the probe times out. The escapee
    announces itself on /dev/null here (no FIFO to wait on: the timeout is long enough
    for it to have started, and a late one is still counted)."""
    command = escapes.fragment(kind, escapee, Path("/dev/null"), marker)
    return ExecProbe(("CMD-SHELL", f"{command}; sleep {marker}".replace("&;", "&")))


async def escape_phase(args: argparse.Namespace, escapee: Path, marker: int) -> Counter[str]:
    kinds = list(escapes.KINDS)
    queue = [kinds[i % len(kinds)] for i in range(args.probes)]
    probes = {kind: [kind_probe(kind, escapee, marker) for _ in range(args.in_flight)]
              for kind in kinds}
    outcomes: Counter[str] = Counter()
    clock = SystemClock()

    async def worker(slot: int) -> None:
        while queue:
            kind = queue.pop()
            report = await probes[kind][slot].run(
                timeout_ns=args.timeout_ms * MILLISECOND, clock=clock)
            outcomes[report.outcome.value] += 1

    await asyncio.gather(*(worker(i) for i in range(args.in_flight)))
    contain.sweep()  # what the daemon does every second
    return outcomes


def cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def cost_slice(count: int, in_flight: int, contained: bool) -> float:
    """CPU seconds per probe of ``count`` probes of ``true``, with or without a jail."""
    saved = contain.open_jail, contain.sweep
    if not contained:
        contain.open_jail = _no_jail
        contain.sweep = _no_sweep
    try:
        probes = [ExecProbe(("CMD", "true")) for _ in range(in_flight)]
        clock = SystemClock()
        left = [count]

        async def worker(probe: ExecProbe) -> None:
            while left[0] > 0:
                left[0] -= 1
                await probe.run(timeout_ns=10 * SECOND, clock=clock)

        start = cpu_s()
        await asyncio.gather(*(worker(p) for p in probes))
        return (cpu_s() - start) / count
    finally:
        contain.open_jail, contain.sweep = saved


class _NoJail(contain.Jail):
    """The pre-containment path: nothing placed, nothing swept, never busy."""

    def prepare(self) -> None:
        pass

    def add(self, pid: int) -> None:
        pass

    def busy(self) -> bool:
        return False


def _no_sweep(*, quick: bool = False) -> int:
    return 0


def _no_jail(token: str | None = None, kind: str | None = None) -> contain.Jail:
    return _NoJail(contain.CGROUP2, None)  # not PROC: no clear() at each end


async def cost_phase(args: argparse.Namespace) -> tuple[float, float]:
    per_slice = max(args.plain // SLICES, 1)
    contained, plain = [], []
    for _ in range(SLICES):
        plain.append(await cost_slice(per_slice, args.in_flight, contained=False))
        contained.append(await cost_slice(per_slice, args.in_flight, contained=True))
    return sorted(plain)[SLICES // 2], sorted(contained)[SLICES // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--probes", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--timeout-ms", type=int, default=50)
    parser.add_argument("--plain", type=int, default=2_000, help="probes for the cost phase")
    parser.add_argument("--backend", choices=["auto", *contain.BACKENDS], default="auto")
    args = parser.parse_args()
    args.probes = max(1, min(args.probes, 100_000))
    become_subreaper()
    contain.own_children()
    if args.backend != "auto":
        contain.select_backend(args.backend)
    backend = contain.backend()
    marker = random.randrange(900_000_000, 999_999_999)
    workdir = Path(f"/tmp/vigil-bench-containment-{os.getpid()}")
    workdir.mkdir()
    escapee = escapes.write_escapee(workdir)
    try:
        started = time.perf_counter()
        outcomes = asyncio.run(escape_phase(args, escapee, marker))
        elapsed = time.perf_counter() - started
        left = escapes.settled_survivors(marker)
        print(f"backend: {backend}")
        print(f"escape phase: {args.probes} probes ({len(escapes.KINDS)} kinds), "
              f"{args.in_flight} in flight, timeout {args.timeout_ms} ms: {elapsed:.1f} s, "
              f"outcomes {dict(outcomes)}")
        print(f"survivors: {len(left)}  (goal 0)")
        plain, contained = asyncio.run(cost_phase(args))
        print(f"cost per probe of CMD true (median of {SLICES} slices, {args.plain} probes, "
              f"CPU of vigil + children): plain {plain * 1e3:.3f} ms, contained "
              f"{contained * 1e3:.3f} ms, ratio {contained / plain:.2f}")
        return 0 if not left else 1
    finally:
        escapes.kill_survivors(marker)
        escapee.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
