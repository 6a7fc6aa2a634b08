"""What ``on_unhealthy`` and ``hooks`` cost the probes: the engine with and without the
daemon's remediator and hook runner subscribed, in the same run.

    python bench/heal_overhead.py [--targets 2000] [--seconds 3] [--rounds 3] [--failing]

Every target has ``on_unhealthy: restart`` and a hook configured (the worst case for the
publish-time filters, which look the service up on every probe event); the hook is for the
change that never comes, as a hook run is a process spawn (its cost is exec_probes.py's).
Probes are scripted (no process), at Docker's minimum interval of 1 ms, so the event path is
all there is to measure. ``--failing``: every probe fails, so every probe event reaches the
remediator (its actions are stubbed: announced, nothing restarted; it soon waits on its
back-off or exhaustion timer).
Phases alternate (``--rounds`` of each) so background load hits both alike; printed: probe
results per second and CPU per result in each, and the ratio with / without.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import time
from collections.abc import Callable

from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.core.events import ProbeCompleted
from vigil.core.hooks import HooksConfig
from vigil.core.remediation import RemediationPolicy
from vigil.daemon.hooks import HookRunner
from vigil.daemon.remediation import Remediator
from vigil.go.duration import MILLISECOND
from vigil.runtime.engine import Engine
from vigil.testing import ScriptedProbe

CHECK = HealthcheckConfig(test=("CMD", "true"), interval=MILLISECOND, retries=1)


class StubActuator:
    """Announces each action and does nothing: the bench measures the deciding, not a restart."""

    def remediable(self, name: str) -> bool:
        return True

    def interventions(self, name: str) -> int:
        return 0

    async def remediate(self, name: str, action: str, announce: Callable[[], None]) -> bool:
        announce()
        return True


async def phase(targets: int, seconds: float, *, reactions: bool, failing: bool
                ) -> tuple[int, float]:
    """Probe results seen in ``seconds`` and the CPU seconds it took."""
    hook = ("CMD", "true")  # for the change that never comes: runs are spawns, measured elsewhere
    hooks = HooksConfig(on_healthy=hook) if failing else HooksConfig(on_unhealthy=hook)
    config = ServiceConfig("x", healthcheck=CHECK, on_unhealthy=RemediationPolicy("restart"),
                           hooks=hooks)
    async with Engine() as engine:
        subscribers: list[Remediator | HookRunner] = []
        if reactions:
            subscribers = [
                Remediator(engine, StubActuator(), lambda name: config.on_unhealthy),
                HookRunner(engine, lambda name: config),
            ]
            for subscriber in subscribers:
                subscriber.start()
        results = 0

        def count(event: object) -> None:
            nonlocal results
            results += isinstance(event, ProbeCompleted)

        engine.stream.subscribe(lambda e: count(e))  # counted at publish time: no queue
        for i in range(targets):
            engine.add(f"t{i}", CHECK, probe=ScriptedProbe([1 if failing else 0]))
            engine.start(f"t{i}")
        await engine.clock.sleep_ns(300 * MILLISECOND)  # warm-up
        before, cpu = results, _cpu()
        started = time.perf_counter()
        await engine.clock.sleep_ns(int(seconds * 1e9))
        elapsed = time.perf_counter() - started
        done, used = results - before, _cpu() - cpu
        for subscriber in subscribers:
            await subscriber.aclose()
    return int(done / elapsed * seconds), used


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    logging.getLogger("vigil").addHandler(logging.NullHandler())  # records made, not printed
    logging.getLogger("vigil").propagate = False
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--failing", action="store_true")
    args = parser.parse_args()
    totals: dict[bool, list[float]] = {False: [0, 0.0], True: [0, 0.0]}
    for _ in range(args.rounds):
        for reactions in (False, True):
            done, used = asyncio.run(phase(args.targets, args.seconds, reactions=reactions,
                                           failing=args.failing))
            totals[reactions][0] += done
            totals[reactions][1] += used
    span = args.seconds * args.rounds
    for reactions, (results, cpu) in totals.items():
        label = "with remediator+hooks" if reactions else "engine alone         "
        print(f"{label}: {results / span:9.0f} results/s, {cpu / max(results, 1) * 1e6:6.1f} us "
              "CPU per result")
    ratio = totals[True][0] / max(totals[False][0], 1)
    print(f"ratio with / without: {ratio:.3f}")


if __name__ == "__main__":
    main()
