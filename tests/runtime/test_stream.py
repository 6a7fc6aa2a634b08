"""The target event stream, the memory store behind replay, and Docker's ``/events`` projection.

Subscriptions are driven without an event loop: ``__anext__`` completes at once whenever
something waits, and would need a loop (RuntimeError) only to wait.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.core.events import (
    MonitorStarted,
    MonitorStopped,
    ProbeCompleted,
    StatusChanged,
    TargetCreated,
    TargetDied,
    TargetEvent,
    TargetKilled,
    TargetPaused,
    TargetRef,
    TargetRemoved,
    TargetRestarted,
    TargetRestarting,
    TargetStarted,
    TargetStopped,
    TargetUnpaused,
)
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.daemon import eventlog
from vigil.daemon.eventlog import DockerEventLog
from vigil.docker.events import DaemonEvent, EventFilter, project
from vigil.docker.health import dumps
from vigil.go.duration import MILLISECOND, SECOND
from vigil.runtime.engine import Engine
from vigil.runtime.stream import EventStream, Subscription
from vigil.store import StateStore
from vigil.store.memory import MemoryStore

T0 = 1_700_000_000 * SECOND
WEB = TargetRef("ab12" * 16, "web")
WORKER = TargetRef("cd34" * 16, "worker")
END = object()


def _next(subscription: Subscription[Any]) -> object:
    """One step of ``async for``, for a subscription that has something waiting."""
    step: Coroutine[Any, Any, object] = subscription.__anext__()
    try:
        step.send(None)
    except StopIteration as done:
        return done.value
    except StopAsyncIteration:
        return END
    except RuntimeError:  # it asked for the running loop: it would wait
        step.close()
        raise AssertionError("the subscription would have waited") from None
    step.close()
    raise AssertionError("the subscription would have waited")


def _drain(subscription: Subscription[Any]) -> list[object]:
    items = []
    while (item := _next(subscription)) is not END:
        items.append(item)
    return items


def _started(at: int, target: TargetRef = WEB) -> TargetStarted:
    return TargetStarted(target, at, 42)


# ---- the memory store --------------------------------------------------------------------


def test_memory_store_is_a_state_store() -> None:
    """The default store satisfies the protocol the engine depends on."""
    assert isinstance(MemoryStore(), StateStore)


def test_ring_buffer_keeps_the_newest_in_order() -> None:
    """Past capacity the oldest events go; replay returns the rest oldest first."""
    store = MemoryStore(capacity=3)
    events = [_started(T0 + i) for i in range(5)]
    for event in events:
        store.append_event(event)
    assert len(store) == 3
    assert store.events() == events[2:]


def test_replay_bounds_are_inclusive() -> None:
    """``since`` and ``until`` both include their instant, as Docker's loadBufferedEvents."""
    store = MemoryStore()
    events = [_started(T0 + i * SECOND) for i in range(5)]
    for event in events:
        store.append_event(event)
    assert store.events(T0 + SECOND, T0 + 3 * SECOND) == events[1:4]
    assert store.events(since_ns=T0 + 4 * SECOND) == [events[4]]
    assert store.events(until_ns=T0) == [events[0]]


def test_capacity_must_be_positive() -> None:
    """A store, a stream subscription and a Docker log all refuse a bound of 0."""
    with pytest.raises(ValueError, match="must be positive"):
        MemoryStore(capacity=0)
    with pytest.raises(ValueError, match="must be positive"):
        EventStream().subscribe(maxsize=0)
    with pytest.raises(ValueError, match="must be positive"):
        DockerEventLog(Engine(), queue_limit=0)


# ---- the stream --------------------------------------------------------------------------


def test_journal_sees_every_event_before_subscribers() -> None:
    """Publishing appends to the journal first, so a replay then live has no gap."""
    seen: list[TargetEvent] = []
    stream = EventStream(journal=seen.append)
    subscription = stream.subscribe()
    stream.publish(_started(T0))
    assert seen == [_started(T0)]
    assert _drain_open(subscription) == [_started(T0)]


def test_observers_run_at_publish_after_the_journal_and_before_subscribers() -> None:
    """An observer is called inside ``publish`` (no queue, so it never misses an event), in
    order after the journal; stopping it, even from inside itself, takes effect at once."""
    order: list[str] = []
    stream = EventStream(journal=lambda e: order.append("journal"))
    subscription = stream.subscribe(lambda e: order.append("subscriber"), maxsize=10_000)
    stop_first = stream.observe(lambda e: order.append("first"))

    def second(event: TargetEvent) -> None:
        order.append("second")
        stop_second()

    stop_second = stream.observe(second)
    stream.publish(_started(T0))
    stream.publish(_started(T0 + 1))
    stop_first()
    stop_first()  # idempotent
    stream.publish(_started(T0 + 2))
    assert order == ["journal", "first", "second", "subscriber",
                     "journal", "first", "subscriber",
                     "journal", "subscriber"]
    assert subscription.pending == 0  # the transform returned None: nothing queued


def test_a_failing_observer_is_logged_and_stops_nothing(caplog: pytest.LogCaptureFixture) -> None:
    stream = EventStream()
    seen: list[TargetEvent] = []

    def broken(event: TargetEvent) -> None:
        raise ValueError("bug")

    stream.observe(broken)
    stream.observe(seen.append)
    subscription = stream.subscribe()
    stream.publish(_started(T0))
    assert seen == [_started(T0)]
    assert _drain_open(subscription) == [_started(T0)]
    assert "event observer" in caplog.text
    assert "ValueError: bug" in caplog.text


def _drain_open(subscription: Subscription[Any]) -> list[object]:
    items = []
    while subscription.pending:
        items.append(_next(subscription))
    return items


def test_subscriber_gets_replay_then_live_events() -> None:
    """Replay comes first, then live events, in order; a closed stream stays ended."""
    stream = EventStream()
    old = [TargetCreated(WEB, T0), _started(T0 + SECOND)]
    subscription = stream.subscribe(replay=old)
    live = [TargetStopped(WEB, T0 + 2 * SECOND), TargetRemoved(WEB, T0 + 3 * SECOND)]
    for event in live:
        stream.publish(event)
    assert subscription.pending == 4
    assert [_next(subscription) for _ in range(4)] == [*old, *live]
    subscription.close()
    assert _next(subscription) is END
    assert _next(subscription) is END
    assert stream.subscriber_count == 0


def test_transform_filters_before_queueing() -> None:
    """Events the transform maps to None take no room in the queue."""
    stream = EventStream()
    subscription = stream.subscribe(lambda e: e if e.target == WORKER else None, maxsize=1)
    for i in range(5):
        stream.publish(_started(T0 + i))
    stream.publish(_started(T0, WORKER))
    assert not subscription.closed
    assert _drain_open(subscription) == [_started(T0, WORKER)]


def test_slow_subscriber_is_closed_at_its_bound() -> None:
    """Policy "close": a reader ``maxsize`` behind is closed with a reason; what was queued is
    still delivered, nothing more is kept, other subscribers are unaffected, and the stream
    counts the overflow."""
    stream = EventStream()
    slow = stream.subscribe(maxsize=3)
    fast = stream.subscribe(maxsize=3)
    for i in range(10):
        stream.publish(_started(T0 + i))
        assert _next(fast) == _started(T0 + i)
    assert slow.close_reason == "subscriber too slow: 3 events were waiting; stream closed"
    assert [e.time_ns for e in _drain(slow)] == [T0, T0 + 1, T0 + 2]  # type: ignore[attr-defined]
    assert not fast.closed
    assert stream.subscriber_count == 1
    assert stream.overflows == 1


@given(st.integers(1, 20), st.integers(0, 60))
def test_drop_policy_keeps_the_newest_and_counts(maxsize: int, published: int) -> None:
    """Policy "drop": the newest ``maxsize`` events wait, in order; the rest are counted."""
    stream = EventStream()
    subscription = stream.subscribe(maxsize=maxsize, overflow="drop")
    events = [_started(T0 + i) for i in range(published)]
    for event in events:
        stream.publish(event)
    assert _drain_open(subscription) == (events[-maxsize:] if published else [])
    assert subscription.dropped == max(published - maxsize, 0)
    assert stream.overflows == subscription.dropped
    assert not subscription.closed


def test_closing_the_stream_ends_every_subscription() -> None:
    """Shutdown closes every subscription with a reason; queued events are still read."""
    stream = EventStream()
    subscriptions = [stream.subscribe(), stream.subscribe(replay=[TargetCreated(WEB, T0)])]
    stream.publish(_started(T0))
    stream.close("event log closed")
    assert stream.subscriber_count == 0
    for subscription in subscriptions:
        assert subscription.close_reason == "event log closed"
        assert _drain(subscription)[-1] == _started(T0)
    stream.publish(TargetStopped(WEB, T0))  # nobody listens any more


def test_subscriber_close_is_idempotent_and_keeps_the_first_reason() -> None:
    """Closing twice keeps the first reason and unregisters once."""
    stream = EventStream()
    subscription = stream.subscribe()
    subscription.close("client went away")
    subscription.close("again")
    assert subscription.close_reason == "client went away"
    assert stream.subscriber_count == 0
    assert _drain(subscription) == []
    assert subscription.__aiter__() is subscription


# ---- Docker's projection -----------------------------------------------------------------

RESULT = ProbeResult(T0, T0 + 3 * MILLISECOND, 1, "boom", Outcome.FAIL)


@pytest.mark.parametrize(
    ("event", "action", "attributes"),
    [
        (TargetCreated(WEB, T0), "create", {}),
        (TargetStarted(WEB, T0, 42), "start", {}),
        (TargetDied(WEB, T0, 137), "die", {"exitCode": "137"}),
        (TargetDied(WEB, T0, 127, error="exec: nope"), "die", {"exitCode": "127"}),
        (TargetKilled(WEB, T0, 15), "kill", {"signal": "15"}),
        (TargetStopped(WEB, T0), "stop", {}),
        (TargetPaused(WEB, T0), "pause", {}),
        (TargetUnpaused(WEB, T0), "unpause", {}),
        (TargetRestarted(WEB, T0), "restart", {}),
        (TargetRemoved(WEB, T0), "destroy", {}),
        (StatusChanged(WEB, T0, HealthStatus.STARTING, HealthStatus.HEALTHY),
         "health_status: healthy", {}),
        (StatusChanged(WEB, T0, HealthStatus.HEALTHY, HealthStatus.UNHEALTHY),
         "health_status: unhealthy", {}),
        (ProbeCompleted(WEB, RESULT.end, RESULT, HealthStatus.STARTING, 1), "health_probe",
         {"exitCode": "1", "duration": "3ms"}),
    ],
)
def test_projection_gives_docker_messages(
    event: TargetEvent, action: str, attributes: dict[str, str]
) -> None:
    """Each target event Docker knows becomes its message, with the target's ID and name."""
    docker = project(event)
    assert docker is not None
    assert (docker.type, docker.action, docker.actor_id, docker.time_ns) == (
        "service", action, WEB.id, event.time_ns)
    assert dict(docker.attributes) == {"name": "web", **attributes}


@pytest.mark.parametrize(
    "event",
    [
        MonitorStarted(WEB, T0),
        MonitorStopped(WEB, T0),
        TargetRestarting(WEB, T0, 100 * MILLISECOND, 1),
        StatusChanged(WEB, T0, HealthStatus.NONE, HealthStatus.STARTING),
    ],
)
def test_projection_skips_what_docker_does_not_show(event: TargetEvent) -> None:
    """Monitor start/stop, scheduled restarts and ``starting`` have no Docker message."""
    assert project(event) is None


def _docker_log(*events: TargetEvent) -> tuple[Engine, DockerEventLog]:
    engine = Engine()
    for event in events:
        engine.stream.publish(event)
    return engine, DockerEventLog(engine, queue_limit=3)


def test_docker_replay_is_projected_bounded_and_filtered() -> None:
    """Replay reads the engine's store, projects, bounds (inclusive) and filters."""
    _, log = _docker_log(
        TargetCreated(WEB, T0), MonitorStarted(WEB, T0), _started(T0 + SECOND),
        StatusChanged(WEB, T0 + 2 * SECOND, HealthStatus.STARTING, HealthStatus.HEALTHY),
        _started(T0 + 3 * SECOND, WORKER))
    assert [e.action for e in log.replay()] == [
        "create", "start", "health_status: healthy", "start"]
    assert [e.time_ns for e in log.replay(T0 + SECOND, T0 + 2 * SECOND)] == [
        T0 + SECOND, T0 + 2 * SECOND]
    only_worker = EventFilter.parse('{"service":["worker"]}')
    assert [e.actor_id for e in log.replay(event_filter=only_worker)] == [WORKER.id]


def test_docker_log_projects_and_encodes_each_event_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Live readers and replays of one event share one ``DaemonEvent`` and its NDJSON line
    (Docker's message, Go-encoded); past the cache's bound an event is projected again."""
    monkeypatch.setattr(eventlog, "CACHE_LIMIT", 2)
    engine, log = _docker_log()
    first, second = log.subscribe(), log.subscribe()
    event = _started(T0)
    engine.stream.publish(event)
    shared = _next(first)
    assert isinstance(shared, DaemonEvent)
    assert _next(second) is shared
    assert log.replay()[0] is shared
    assert log.line(shared) == (dumps(shared.to_json()) + "\n").encode()
    assert log.line(shared) is log.line(shared)
    for i in range(1, 4):  # pushes ``event`` out of the cache
        engine.stream.publish(_started(T0 + i))
    again = log.project(event)
    assert again is not shared
    assert again == shared
    assert log.line(again) == log.line(shared)


def test_docker_stream_without_since_or_until_is_live_only() -> None:
    """Without since/until Docker replays nothing; the filter applies to live events."""
    engine, log = _docker_log(_started(T0))
    stream = log.subscribe(EventFilter.parse('{"service":["worker"]}'))
    engine.stream.publish(_started(T0 + 1))
    engine.stream.publish(_started(T0 + 2, WORKER))
    engine.stream.publish(MonitorStarted(WORKER, T0 + 2))
    assert [e.actor_id for e in _drain_open(stream)] == [WORKER.id]


def test_docker_stream_drops_live_events_after_until() -> None:
    """Events after ``until`` are not delivered; the caller's timer ends the stream."""
    engine, log = _docker_log()
    stream = log.subscribe(until_ns=T0 + SECOND)
    engine.stream.publish(_started(T0 + SECOND))
    engine.stream.publish(TargetStopped(WEB, T0 + 2 * SECOND))
    assert [e.action for e in _drain_open(stream)] == ["start"]


def test_docker_stream_with_until_in_the_past_only_replays() -> None:
    """``until`` before ``now`` gives the replay and then the end (Docker's onlyPastEvents)."""
    engine, log = _docker_log(_started(T0), TargetStopped(WEB, T0 + 5 * SECOND))
    stream = log.subscribe(until_ns=T0 + SECOND, now_ns=T0 + 10 * SECOND)
    engine.stream.publish(TargetRemoved(WEB, T0 + 11 * SECOND))
    assert [e.action for e in _drain(stream)] == ["start"]


def test_docker_stream_closes_a_slow_reader_and_shutdown_closes_all() -> None:
    """A reader ``queue_limit`` behind is cut off with Docker's reason; ``close`` ends all."""
    engine, log = _docker_log()
    slow, other = log.subscribe(), log.subscribe()
    for i in range(4):
        engine.stream.publish(_started(T0 + i))
        _next(other)
    assert slow.close_reason == "subscriber too slow: 3 events were waiting; stream closed"
    log.close()
    assert other.close_reason == "event log closed"
    assert _drain(other) == []
