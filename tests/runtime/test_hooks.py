"""``hooks:`` run by the daemon's hook runner: real processes through the probe launcher, on
the real clock; every wait is for an event, bounded by a generous timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.core.events import HookRan, TargetEvent, TargetRef
from vigil.core.hooks import HookContext, HooksConfig
from vigil.core.status import HealthStatus
from vigil.daemon.hooks import MAX_PENDING, MAX_RUNNING, HookRunner, _Job
from vigil.go.duration import MILLISECOND
from vigil.runtime.engine import Engine
from vigil.runtime.stream import Subscription
from vigil.testing import ProbeStep, ScriptedProbe, settle

BOUND_S = 30.0  # only a broken runner waits this long
CHECK = HealthcheckConfig(test=("CMD", "true"), interval=10 * MILLISECOND, retries=1)


async def hook_runs(events: Subscription[TargetEvent], count: int) -> list[HookRan]:
    runs: list[HookRan] = []
    async with asyncio.timeout(BOUND_S):
        async for event in events:
            if isinstance(event, HookRan):
                runs.append(event)
                if len(runs) == count:
                    return runs
    raise AssertionError(f"only {len(runs)} hook runs")


def test_hooks_get_the_change_and_the_result_in_their_environment(tmp_path: Path) -> None:
    """unhealthy (exit 3, "down") then healthy: each hook runs once, in order, with the
    service's variables and the VIGIL_* ones, in the service's working directory."""
    out = tmp_path / "env"
    dump = f"env | grep -E '^(VIGIL_|MODE=)' | sort > {out}.$VIGIL_STATUS; pwd >> {out}.dir"
    config = ServiceConfig(
        "web", healthcheck=CHECK, environment={"MODE": "prod"}, working_dir=str(tmp_path),
        hooks=HooksConfig(on_unhealthy=("CMD-SHELL", dump), on_healthy=("CMD-SHELL", dump)))

    async def scenario() -> None:
        async with Engine() as engine:
            runner = HookRunner(engine, lambda name: config if name == "web" else None)
            runner.start()
            events = engine.events()
            ref = engine.add("web", CHECK, probe=ScriptedProbe([ProbeStep(3, "down"), 0]))
            engine.start("web")
            runs = await hook_runs(events, 2)
            assert [(r.hook, r.exit_code) for r in runs] == [("on_unhealthy", 0),
                                                            ("on_healthy", 0)]
            await runner.aclose()
            unhealthy = dict(line.split("=", 1) for line in
                             (tmp_path / "env.unhealthy").read_text().splitlines())
            assert unhealthy.pop("VIGIL_TIME").endswith("Z")
            assert unhealthy == {
                "MODE": "prod",
                "VIGIL_SERVICE": "web",
                "VIGIL_SERVICE_ID": ref.id,
                "VIGIL_STATUS": "unhealthy",
                "VIGIL_PREVIOUS_STATUS": "starting",
                "VIGIL_EXIT_CODE": "3",
                "VIGIL_OUTPUT": "down",
                "VIGIL_FAILING_STREAK": "1",
            }
            healthy = (tmp_path / "env.healthy").read_text()
            assert "VIGIL_PREVIOUS_STATUS=unhealthy\n" in healthy
            assert "VIGIL_EXIT_CODE=0\n" in healthy
            assert (tmp_path / "env.dir").read_text() == f"{tmp_path}\n{tmp_path}\n"

    asyncio.run(scenario())


@pytest.mark.usefixtures("subreaper")  # the killed sleep comes back to us to be reaped
def test_a_hook_that_outlives_its_timeout_is_killed_with_its_tree(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    config = ServiceConfig("web", healthcheck=CHECK, hooks=HooksConfig(
        on_unhealthy=("CMD-SHELL", f"sleep 1000 & echo $! > {pids}; wait"),
        timeout=200 * MILLISECOND))

    async def scenario() -> None:
        async with Engine() as engine:
            runner = HookRunner(engine, lambda name: config)
            runner.start()
            events = engine.events()
            engine.add("web", CHECK, probe=ScriptedProbe([1]))
            engine.start("web")
            [run] = await hook_runs(events, 1)
            assert run.exit_code == -1
            assert run.duration_ns >= 200 * MILLISECOND
            await runner.aclose()

    asyncio.run(scenario())
    assert not Path(f"/proc/{pids.read_text().strip()}").exists()


class _Gated(HookRunner):
    """Runs no process: each run waits for the test to open its gate."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, lambda name: None)
        self.running: list[str] = []
        self.most = 0
        self.done: list[str] = []
        self.gate = asyncio.Event()

    async def _run(self, job: Any) -> None:
        self.running.append(job.ref.name)
        self.most = max(self.most, len(self.running))
        await self.gate.wait()
        self.running.remove(job.ref.name)
        self.done.append(f"{job.ref.name}:{job.hook}")


def _job(name: str, hook: str) -> Any:
    context = HookContext(name, name, HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, 0, 0, None)
    return _Job(TargetRef(name, name), hook, ("CMD", "true"), context)


def test_runs_are_bounded_ordered_per_service_and_drop_the_oldest_waiting() -> None:
    """10 services change at once: at most MAX_RUNNING hooks run; a service's runs go one at
    a time in order; past MAX_PENDING waiting runs, the oldest is dropped."""

    async def scenario() -> None:
        async with Engine() as engine:
            runner = _Gated(engine)
            for i in range(10):
                runner.handle(_job(f"s{i}", "on_unhealthy"))
            await settle()  # every worker took its first job (4 run, 6 wait for a slot)
            for n in range(MAX_PENDING + 2):
                runner.handle(_job("s0", f"run{n}"))
            await settle()
            assert runner.most == MAX_RUNNING
            runner.gate.set()
            async with asyncio.timeout(BOUND_S):
                while len(runner.done) < 10 + MAX_PENDING:
                    await settle()
            mine = [d for d in runner.done if d.startswith("s0:")]
            assert mine == ["s0:on_unhealthy", *(f"s0:run{n}" for n in range(2, MAX_PENDING + 2))]
            assert runner.most == MAX_RUNNING
            await runner.aclose()

    asyncio.run(scenario())
