"""The agent's own rules on a fake clock, the database replaced at its seam (``_call``) by a
stub: it stops probing on its own clock before its lease can expire when renewals hang, it
continues Docker's state machine from the stored health (no status event repeated), a
refused write stops the probe, and a leaving agent releases what it holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from vigil.core.config import HealthcheckConfig
from vigil.core.events import StatusChanged
from vigil.core.fleet import FleetConfig, LeaseRow, SharedCheck, probe_deadline
from vigil.core.health import HealthState
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.fleet.agent import FleetAgent
from vigil.fleet.codec import decode_health, encode_health
from vigil.fleet.db import Claimed, Overview
from vigil.go.duration import SECOND
from vigil.runtime.engine import Engine
from vigil.testing import EventRecorder, FakeClock, ScriptedProbe

TTL = 9 * SECOND
INTERVAL = 1 * SECOND
CHECK = SharedCheck("x", HealthcheckConfig(test=("TCP", "127.0.0.1:9"), interval=INTERVAL,
                                           retries=3))
SPEC = {"test": ["TCP", "127.0.0.1:9"], "interval": "1s", "retries": 3, "placement": "any"}


class StubDb:
    """One check ``x``, one node ``me``; what the agent sent is kept for the test."""

    def __init__(self, health: dict[str, Any] | None = None) -> None:
        self.hang = False
        self.refuse = False
        self.owner: str | None = None
        self.epoch = 0
        self.health = health
        self.written: list[dict[str, tuple[int, dict[str, Any]]]] = []
        self.left: dict[str, int] | None = None
        self.first_started = 0
        self.revision = 1
        self.spec: dict[str, object] = SPEC
        self.released: list[dict[str, int]] = []

    def migrate(self) -> int:
        return 1

    def define(self, specs: dict[str, object]) -> None:
        pass

    def register(self, *args: object) -> bool:
        return True

    def specs(self, names: list[str]) -> dict[str, tuple[int, Any]]:
        return {"x": (self.revision, self.spec)}

    def release(self, node: str, held: dict[str, int]) -> None:
        self.released.append(held)
        self.owner = None

    def heartbeat(self, node: str, inc: str, held: dict[str, int], ttl: int) -> Overview:
        renewed = frozenset(n for n, e in held.items() if e == self.epoch and self.owner == node)
        free = self.owner is None
        return Overview(renewed, [LeaseRow("x", self.owner, 0 if free else -ttl)],
                        ["me"], {"x": self.revision})

    def claim(self, node: str, names: list[str], ttl: int) -> list[Claimed]:
        if self.owner is not None:
            return []
        self.owner, self.epoch = node, self.epoch + 1
        return [Claimed("x", self.epoch, self.health, self.first_started)]

    def hand_off(self, node: str, moves: dict[str, tuple[int, str]]) -> None:
        pass

    def write_health(self, node: str, states: dict[str, tuple[int, dict[str, Any]]]) -> set[str]:
        self.written.append(states)
        return set(states) if self.refuse else set()

    def leave(self, node: str, inc: str, held: dict[str, int]) -> None:
        self.left = held
        self.owner = None

    def close(self) -> None:
        pass


Scenario = Callable[[Engine, FakeClock, ScriptedProbe], Coroutine[Any, Any, None]]


def run(scenario: Scenario, script: list[int] | None = None) -> None:
    """Run ``scenario`` with an engine on a fake clock whose every probe plays ``script``."""
    async def main() -> None:
        clock = FakeClock()
        probe = ScriptedProbe(script or [0])
        async with Engine(clock=clock, probe_builder=lambda spec, ref: probe) as engine:
            await scenario(engine, clock, probe)

    asyncio.run(main())


def _agent(engine: Engine, db: StubDb) -> FleetAgent:
    agent = FleetAgent(engine, FleetConfig("postgresql://stub/x", "me", TTL), {"x": CHECK},
                       node="me")
    agent._lease_db = agent._write_db = db  # type: ignore[assignment]
    never = asyncio.Event()

    async def call(function: Callable[..., Any], *args: Any) -> Any:
        if db.hang and getattr(function, "__name__", "") == "heartbeat":
            await never.wait()  # a black-holed database: the call never returns
        return function(*args)

    agent._call = call  # type: ignore[method-assign]
    return agent


def test_hanging_renewals_stop_the_probes_before_the_lease_can_expire() -> None:
    """The agent's own timer ends probing at the last renewal's send time + TTL - margin,
    with the database silent; nothing probes after that."""

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        db = StubDb()
        agent = _agent(engine, db)
        await agent.start()
        assert await clock.run_until_true(lambda: "check/x" in set(engine.names()))
        renewed_at = clock.now_ns() + agent.period
        await clock.run_until(renewed_at)  # the next heartbeat renews ...
        db.hang = True  # ... and every one after that hangs
        deadline = probe_deadline(renewed_at, TTL)
        assert deadline - renewed_at == TTL - TTL // 5
        await clock.run_until(deadline - 1)
        assert engine.probing("check/x")
        await clock.run_until(deadline)
        await clock.run_for(1)
        assert "check/x" not in set(engine.names())
        probes = probe.runs
        await clock.run_for(3 * TTL)
        assert probe.runs == probes
        assert agent.held == {}
        await agent.aclose()

    run(scenario)


def test_a_taken_over_check_continues_its_streak_without_a_new_status_event() -> None:
    """Stored unhealthy with streak 3 and a full Log: the next failure makes streak 4, the
    Log keeps its last four entries plus the new one, and no status event is published; the
    first probe comes when the previous owner's next one was due."""

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        now = clock.now_ns()
        log = tuple(ProbeResult(now - (5 - i) * INTERVAL, now - (5 - i) * INTERVAL + 10, 1,
                                "refused", Outcome.FAIL) for i in range(5))
        stored = HealthState(HealthStatus.UNHEALTHY, 3, log, now - 60 * SECOND)
        db = StubDb(encode_health(stored))
        recorder = EventRecorder()
        engine.subscribe(recorder)
        agent = _agent(engine, db)
        await agent.start()
        assert await clock.run_until_true(lambda: "check/x" in set(engine.names()))
        assert await clock.run_until_true(
            lambda: engine.health("check/x").failing_streak == 4)
        state = engine.health("check/x")
        assert state.status is HealthStatus.UNHEALTHY
        assert state.log[:4] == log[1:]
        assert state.log[4].start == log[-1].start + INTERVAL == now  # overdue: at once
        await clock.run_for(agent.period)
        assert recorder.of(StatusChanged, "check/x") == []
        assert db.written  # the new health went back under the lease's epoch
        epoch, health = db.written[-1]["x"]
        assert epoch == 1
        written = decode_health(health)
        assert written is not None
        assert written.status is HealthStatus.UNHEALTHY
        assert written.failing_streak >= 4
        await agent.aclose()

    run(scenario, [1])


def test_a_refused_write_stops_the_probe() -> None:
    """A health write refused for a stale epoch means another agent owns the check now."""

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        db = StubDb()
        db.refuse = True
        agent = _agent(engine, db)
        await agent.start()
        assert await clock.run_until_true(lambda: "check/x" in set(engine.names()))
        assert await clock.run_until_true(lambda: "check/x" not in set(engine.names()),
                                          limit_ns=TTL)
        assert agent.refused >= 1
        assert agent.held == {}
        assert agent.views() == []
        await agent.aclose()

    run(scenario)


def test_leaving_stops_probing_writes_the_last_health_and_releases() -> None:
    """``aclose``: the probe ends, the last health is written, the lease is released."""

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        db = StubDb()
        agent = _agent(engine, db)
        await agent.start()
        assert await clock.run_until_true(
            lambda: "check/x" in set(engine.names()) and engine.health("check/x").log != ())
        last = engine.health("check/x")
        await agent.aclose()
        assert "check/x" not in set(engine.names())
        assert db.left == {"x": 1}
        assert decode_health(db.written[-1]["x"][1]) == last

    run(scenario)


def test_a_changed_definition_is_probed_with_the_new_spec() -> None:
    """When the stored spec changes, the holder stops, releases the lease and, claiming it
    again, probes with the new interval; a spec that is not a network probe is never run."""

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        db = StubDb()
        agent = _agent(engine, db)
        await agent.start()
        assert await clock.run_until_true(lambda: "check/x" in set(engine.names()))
        (view,) = agent.views()
        assert view.config.name == "check/x"
        assert view.status == "running"
        assert view.health is engine.health("check/x")
        assert agent.views()[0] is view or view.health is not engine.health("check/x")
        db.revision, db.spec = 2, {**SPEC, "interval": "7s"}
        assert await clock.run_until_true(lambda: db.released == [{"x": 1}])
        assert await clock.run_until_true(lambda: agent.held == {"x": 2})
        check = engine.check("check/x")
        assert check is not None
        assert check.interval == 7 * SECOND
        db.revision, db.spec = 3, {"test": ["CMD", "touch", "/tmp/pwned"]}
        assert await clock.run_until_true(lambda: "check/x" not in set(engine.names()))
        await clock.run_for(3 * TTL)
        assert "check/x" not in set(engine.names())
        assert agent.checks == {}
        await agent.aclose()

    run(scenario)


@pytest.mark.parametrize("garbage", [
    None, [], {"Status": "healthy"}, {"Status": "sick", "FailingStreak": 0, "StartedAt": 0,
                                      "Log": []},
    {"Status": "healthy", "FailingStreak": -1, "StartedAt": 0, "Log": []},
    {"Status": "healthy", "FailingStreak": True, "StartedAt": 0, "Log": []},
    {"Status": "healthy", "FailingStreak": 0, "StartedAt": 0, "Log": [{}] * 6},
    {"Status": "healthy", "FailingStreak": 0, "StartedAt": 0,
     "Log": [{"Start": 1, "End": 2, "ExitCode": 0, "Output": "x" * 5000, "Outcome": "pass"}]},
    {"Status": "healthy", "FailingStreak": 0, "StartedAt": 2**63, "Log": []},
])
def test_malformed_stored_health_is_refused(garbage: object) -> None:
    """What another node wrote is never trusted: anything malformed reads as None."""
    assert decode_health(garbage) is None


def test_transient_failures_while_joining_are_retried_not_fatal(
        caplog: pytest.LogCaptureFixture) -> None:
    """Agents starting together contend for the same rows: a deadlock, or a statement ended
    for taking too long, is logged once and retried with a back-off on the agent's clock;
    the agent then joins and probes as usual."""
    from vigil.fleet.db import FleetBusy

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        db = StubDb()
        failures = [FleetBusy("fleet database: deadlock detected", conflict=True),
                    FleetBusy("fleet database: consuming input failed")]
        defined: list[object] = []

        def define(specs: dict[str, object]) -> None:
            if failures:
                raise failures.pop(0)
            defined.append(specs)

        db.define = define  # type: ignore[method-assign]
        agent = _agent(engine, db)
        joining = asyncio.ensure_future(agent.start())
        assert await clock.run_until_true(joining.done, limit_ns=60 * SECOND)
        joining.result()
        assert failures == []
        assert defined == [{"x": SPEC}]
        retried = [r for r in caplog.records if "retrying" in r.getMessage()]
        assert len(retried) == 1
        assert await clock.run_until_true(lambda: "check/x" in set(engine.names()))
        await agent.aclose()

    run(scenario)


def test_a_lasting_error_while_joining_still_ends_the_start() -> None:
    """Only transient failures are retried: a refusal (a newer schema, no rights) ends
    ``start`` with its message, as before."""
    from vigil.exceptions import StoreError

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        db = StubDb()

        def define(specs: dict[str, object]) -> None:
            raise StoreError("fleet database: permission denied for table checks")

        db.define = define  # type: ignore[method-assign]
        agent = _agent(engine, db)
        with pytest.raises(StoreError, match="permission denied"):
            await agent.start()

    run(scenario)


def test_views_list_each_held_check_in_the_engine_reading_its_names_once() -> None:
    """One view per held check the engine runs, in the order they were taken; a held name
    without a target (being removed) is left out. The engine's names are read once per
    call, not once per check: the publisher calls this every 0.5 s with thousands held."""
    from vigil.fleet.db import Claimed

    async def scenario(engine: Engine, clock: FakeClock, probe: ScriptedProbe) -> None:
        db = StubDb()
        agent = _agent(engine, db)
        await agent.start()
        assert await clock.run_until_true(lambda: "check/x" in set(engine.names()))
        for name in ("y", "z", "gone"):
            agent.checks[name] = SharedCheck(name, CHECK.healthcheck)
            agent._adopt(Claimed(name, 1, None, 0))
        await engine.remove("check/gone")  # held, but its target is already gone
        real, calls = engine.names, []

        def names() -> Any:
            calls.append(1)
            return real()

        engine.names = names  # type: ignore[method-assign]
        shown = agent.views()
        assert [v.config.name for v in shown] == ["check/x", "check/y", "check/z"]
        assert all(v.health is engine.health(v.config.name) for v in shown)
        assert len(calls) == 1
        again = agent.views()
        assert all(a is b or a.health is not b.health for a, b in zip(shown, again,
                                                                        strict=True))
        assert len(calls) == 2
        engine.names = real  # type: ignore[method-assign]
        del agent.held["gone"]
        await agent.aclose()

    run(scenario)
