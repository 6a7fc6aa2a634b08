"""Delivery on the fake clock: retries with back-off, per-destination queues, bounded memory,
and the subscriber turning the engine's status changes into messages, flap damping included."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from vigil import Engine, HealthcheckConfig
from vigil.core.config import ProjectConfig, ServiceConfig
from vigil.core.events import RemediationExhausted, StatusChanged, TargetRef
from vigil.core.notify import FlapPolicy
from vigil.core.status import HealthStatus
from vigil.exceptions import NotifyError
from vigil.go.duration import MINUTE, SECOND
from vigil.notify import Message, Notifier
from vigil.notify.dispatch import Destination, Dispatcher
from vigil.notify.service import Notifications, settings_for
from vigil.notify.subscriber import Settings, StatusNotifier
from vigil.runtime.stream import EventStream
from vigil.testing import FakeClock, ScriptedProbe, settle


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


class Recorder:
    """A destination that fails its first ``failures`` sends, and can be held (never
    answers until released)."""

    def __init__(self, name: str, clock: FakeClock, failures: int = 0) -> None:
        self.name = name
        self.clock = clock
        self.failures = failures
        self.attempts: list[int] = []  # clock time of each attempt
        self.received: list[Message] = []
        self.hold: asyncio.Event | None = None

    async def send(self, message: Message) -> None:
        self.attempts.append(self.clock.now_ns())
        if self.hold is not None:
            await self.hold.wait()
        if len(self.attempts) <= self.failures:
            raise NotifyError(f"{self.name}: 503 Service Unavailable")
        self.received.append(message)


def test_a_recorder_is_a_notifier() -> None:
    assert isinstance(Recorder("r", FakeClock()), Notifier)


def test_failed_sends_are_retried_with_exponential_back_off(
        caplog: pytest.LogCaptureFixture) -> None:
    """Three failures, then success: attempts at 0, 1 s, 3 s, 7 s (1, 2, 4 s apart)."""
    async def scenario() -> None:
        clock = FakeClock()
        t0 = clock.now_ns()
        notifier = Recorder("hook", clock, failures=3)
        destination = Destination(notifier, clock)
        destination.put(Message("t", "b"))
        await clock.run_for(MINUTE)
        assert [(t - t0) / SECOND for t in notifier.attempts] == [0, 1, 3, 7]
        assert [m.title for m in notifier.received] == ["t"]
        assert (destination.sent, destination.failed, destination.pending) == (1, 0, 0)

    with caplog.at_level(logging.WARNING, "vigil"):
        run(scenario)
    assert "notify hook: attempt 1 failed (hook: 503 Service Unavailable); retrying in 1s" in (
        caplog.messages)


def test_a_message_is_given_up_after_the_last_attempt(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        notifier = Recorder("hook", clock, failures=100)
        destination = Destination(notifier, clock, attempts=3)
        destination.put(Message("t", "b"))
        destination.put(Message("next", "b"))
        await clock.run_for(MINUTE)
        assert len(notifier.attempts) == 6  # both messages, 3 attempts each
        assert (destination.sent, destination.failed) == (0, 2)

    with caplog.at_level(logging.ERROR, "vigil"):
        run(scenario)
    assert caplog.messages.count(
        "notify hook: gave up after 3 attempts: hook: 503 Service Unavailable") == 2


def test_an_attempt_that_never_answers_times_out_on_the_clock() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        t0 = clock.now_ns()
        notifier = Recorder("hang", clock)
        notifier.hold = asyncio.Event()  # never set
        destination = Destination(notifier, clock, attempts=2, timeout_ns=10 * SECOND)
        destination.put(Message("t", "b"))
        await clock.run_for(MINUTE)
        # attempt 1 at 0 times out at 10 s, back-off 1 s, attempt 2 at 11 s
        assert [(t - t0) / SECOND for t in notifier.attempts] == [0, 11]
        assert destination.failed == 1

    run(scenario)


def test_a_hung_destination_does_not_delay_another() -> None:
    """Each destination has its own queue and worker: one that never answers holds only its
    own messages."""
    async def scenario() -> None:
        clock = FakeClock()
        slow, fast = Recorder("slow", clock), Recorder("fast", clock)
        slow.hold = asyncio.Event()
        dispatcher = Dispatcher({"slow": slow, "fast": fast}.__getitem__, clock)
        for title in ("one", "two"):
            dispatcher.send(["slow", "fast"], Message(title, ""))
        await settle()
        assert [m.title for m in fast.received] == ["one", "two"]
        assert slow.received == []
        assert clock.now_ns() == FakeClock().now_ns()  # no time had to pass for "fast"
        slow.hold.set()
        assert await dispatcher.drain(MINUTE)
        assert [m.title for m in slow.received] == ["one", "two"]

    run(scenario)


def test_a_full_queue_drops_the_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        notifier = Recorder("hook", clock)
        notifier.hold = asyncio.Event()
        destination = Destination(notifier, clock, limit=3)
        destination.put(Message("0", ""))
        await settle()
        for i in range(1, 10):
            destination.put(Message(str(i), ""))
        assert destination.dropped == 6  # "0" is in flight; 1..6 dropped; 7, 8, 9 wait
        notifier.hold.set()
        await settle()
        assert [m.title for m in notifier.received] == ["0", "7", "8", "9"]

    with caplog.at_level(logging.WARNING, "vigil"):
        run(scenario)
    assert "notify hook: queue full (3 messages), dropping the oldest" in caplog.messages
    assert "notify hook: 6 messages were dropped while it was behind" in caplog.messages


# -- the subscriber, through a real engine ----------------------------------------------------

CHECK = HealthcheckConfig(test=("CMD", "x"), interval=SECOND, retries=1)


async def engine_with(clock: FakeClock, steps: list[int], settings: Settings
                      ) -> tuple[Engine, Recorder, StatusNotifier]:
    engine = Engine(clock=clock)
    hook = Recorder("hook", clock)
    notifier = StatusNotifier(engine.stream, clock, Dispatcher(lambda url: hook, clock),
                              lambda target: settings)
    notifier.start()
    engine.add("web", CHECK, probe=ScriptedProbe(steps))
    engine.start("web")
    return engine, hook, notifier


def test_status_changes_become_messages_with_the_last_probe() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        steps = [0, 0, 1, 1, 0]
        engine, hook, notifier = await engine_with(clock, steps, Settings(("x",), FlapPolicy()))
        await clock.run_for(10 * SECOND)
        titles = [m.title for m in hook.received]
        assert titles == ["vigil: web is unhealthy", "vigil: web is healthy again"]
        assert "Status: healthy → unhealthy\nFailing streak: 1\nLast probe: exit code 1" in (
            hook.received[0].body)
        await notifier.aclose()
        await engine.aclose()

    run(scenario)


def test_a_flapping_service_sends_one_notice_then_a_summary() -> None:
    """Flipping every second: two status messages, one flapping notice, nothing more while it
    flaps, then one summary a settle period after it went quiet."""
    async def scenario() -> None:
        clock = FakeClock()
        steps = [0, 1] * 20 + [0]  # 41 changes in 41 s, then healthy for good
        policy = FlapPolicy(changes=3, window=MINUTE, settle=2 * MINUTE)
        engine, hook, notifier = await engine_with(clock, steps, Settings(("x",), policy))
        await clock.run_for(10 * MINUTE)
        titles = [m.title for m in hook.received]
        assert titles == ["vigil: web is unhealthy", "vigil: web is healthy again",
                          "vigil: web is flapping", "vigil: web has settled: healthy"]
        assert "41 status changes in 40s " in hook.received[-1].body
        await notifier.aclose()
        await engine.aclose()

    run(scenario)


def test_services_without_urls_send_nothing() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        project_settings = settings_for(ProjectConfig(), lambda name: ServiceConfig(name))
        hook = Recorder("hook", clock)
        engine = Engine(clock=clock)
        notifications = Notifications(engine.stream, clock, project_settings,
                                      make=lambda url: hook)
        notifications.start()
        engine.add("web", CHECK, probe=ScriptedProbe([1]))
        engine.start("web")
        await clock.run_for(10 * SECOND)
        assert hook.attempts == []
        await notifications.aclose()
        await engine.aclose()

    run(scenario)


def test_settings_add_service_urls_and_override_flap_keys() -> None:
    project = ProjectConfig(notify=("a://all",), notify_flap=FlapPolicy(changes=9))
    services = {"web": ServiceConfig("web", notify=("b://web", "a://all"),
                                     notify_flap=FlapPolicy(settle=SECOND))}
    settings = settings_for(project, services.get)
    assert settings(TargetRef("1", "web")) == Settings(("a://all", "b://web"),
                                                       FlapPolicy(9, 0, SECOND))
    assert settings(TargetRef("2", "gone")) == Settings(("a://all",), FlapPolicy(changes=9))
    assert settings_for(ProjectConfig(), services.get)(TargetRef("3", "gone")) is None


def test_a_subscriber_that_falls_behind_drops_the_oldest_changes_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        stream = EventStream()
        hook = Recorder("hook", clock)
        notifier = StatusNotifier(stream, clock, Dispatcher(lambda url: hook, clock),
                                  lambda target: Settings(("x",), FlapPolicy(changes=0)),
                                  queue_limit=2)
        notifier.start()
        for i in range(5):  # published before the subscriber gets to run
            stream.publish(StatusChanged(TargetRef(str(i), f"s{i}"), clock.now_ns(),
                                         HealthStatus.HEALTHY, HealthStatus.UNHEALTHY))
        await settle()
        assert [m.title for m in hook.received] == ["vigil: s3 is unhealthy",
                                                    "vigil: s4 is unhealthy"]
        await notifier.aclose()

    with caplog.at_level(logging.WARNING, "vigil"):
        run(scenario)
    assert "notify: 3 status changes were dropped (the notifier fell 2 behind)" in (
        caplog.messages)


def test_remediation_exhausted_is_always_notified() -> None:
    """``on_unhealthy`` giving up is news even while the service is flapping."""
    async def scenario() -> None:
        clock = FakeClock()
        stream = EventStream()
        hook = Recorder("hook", clock)
        notifier = StatusNotifier(stream, clock, Dispatcher(lambda url: hook, clock),
                                  lambda target: Settings(("x",), FlapPolicy(changes=0)))
        notifier.start()
        web = TargetRef("f" * 64, "web")
        stream.publish(RemediationExhausted(web, clock.now_ns(), "restart", "unhealthy", 5))
        await settle()
        [message] = hook.received
        assert message.title == "vigil: web: restart given up after 5 attempts"
        assert message.severity == "failure"
        assert "tried to restart it 5 times (unhealthy)" in message.body
        await notifier.aclose()

    run(scenario)
