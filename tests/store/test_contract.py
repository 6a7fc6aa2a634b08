"""The store contract: every ``StateStore`` backend (memory, SQLite, PostgreSQL) keeps and
answers the same way; the durable ones (``DurableStore``) also survive being reopened, page
replays at a position, and apply retention.

The PostgreSQL backend (``vigil.store.postgres``) runs against the server at
127.0.0.1:5432; where the module or the server is missing its tests skip with one line
saying which. Each PostgreSQL test uses a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.postgres import URL, require_postgres

from vigil.core.config import HistoryConfig
from vigil.core.events import (
    MonitorStarted,
    MonitorStopped,
    ProbeCompleted,
    Remediated,
    RemediationExhausted,
    StatusChanged,
    TargetCreated,
    TargetDied,
    TargetEvent,
    TargetExiting,
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
from vigil.go.duration import HOUR, SECOND
from vigil.store import DurableStore, StateStore, TargetRecord, open_store
from vigil.store.memory import MemoryStore

A = TargetRef("a" * 64, "a")
B = TargetRef("b" * 64, "b")
T0 = 1_700_000_000 * SECOND

Opener = Callable[[], StateStore]


def _opener(kind: str, tmp_path: Path) -> tuple[Opener, Callable[[], None]]:
    """Opens the backend's store (every call after the first reopens the same one), and
    what closes them all."""
    opened: list[StateStore] = []
    if kind == "postgresql":
        postgres = require_postgres()
        schema = f"vigil_test_{uuid.uuid4().hex[:12]}"

        def open_one() -> StateStore:
            store: StateStore = postgres.PostgresStore(URL, schema=schema)
            opened.append(store)
            return store

        def close_all() -> None:
            for store in opened:
                store.close()
            postgres.drop_schema(URL, schema)

        return open_one, close_all
    if kind == "sqlite":
        def open_sqlite() -> StateStore:
            opened.append(open_store("", state_dir=tmp_path))
            return opened[-1]

        def close_sqlite() -> None:
            for store in opened:
                store.close()

        return open_sqlite, close_sqlite
    memory = MemoryStore()
    return (lambda: memory), (lambda: None)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    open_one, close_all = _opener(request.param, tmp_path)
    yield open_one()
    close_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    open_one, close_all = _opener(request.param, tmp_path)
    yield open_one
    close_all()


@pytest.fixture
def durable(opener: Opener) -> DurableStore:
    store = opener()
    assert isinstance(store, DurableStore)
    return store


def _result(ref: TargetRef, t: int, code: int = 0, output: str = "") -> ProbeCompleted:
    outcome = Outcome.PASS if code == 0 else Outcome.FAIL
    status = HealthStatus.HEALTHY if code == 0 else HealthStatus.UNHEALTHY
    return ProbeCompleted(ref, t, ProbeResult(t - 5, t, code, output, outcome), status,
                          0 if code == 0 else 3)


def _every_kind(ref: TargetRef, t: int) -> list[TargetEvent]:
    return [
        TargetCreated(ref, t),
        TargetStarted(ref, t + 1, pid=42),
        MonitorStarted(ref, t + 2),
        ProbeCompleted(ref, t + 3, ProbeResult(t, t + 3, -1, "Health check exceeded timeout "
                                               "(1s): ünïcode \ufffd\n", Outcome.TIMEOUT),
                       HealthStatus.STARTING, 1),
        StatusChanged(ref, t + 4, HealthStatus.STARTING, HealthStatus.UNHEALTHY),
        Remediated(ref, t + 5, action="restart", reason="unhealthy", attempt=1),
        RemediationExhausted(ref, t + 6, action="restart", reason="unhealthy", attempts=3),
        TargetKilled(ref, t + 7, signal=15),
        TargetPaused(ref, t + 8),
        TargetUnpaused(ref, t + 9),
        TargetExiting(ref, t + 10, exit_code=143),
        MonitorStopped(ref, t + 11),
        TargetDied(ref, t + 12, exit_code=143, will_restart=True, error="boom"),
        TargetRestarting(ref, t + 13, delay_ns=100, restart_count=2),
        TargetStopped(ref, t + 14),
        TargetRestarted(ref, t + 15),
        TargetRemoved(ref, t + 16),
    ]


# -- every backend ---------------------------------------------------------------------------


def test_every_kind_of_event_comes_back_equal_and_in_order(store: StateStore) -> None:
    events = _every_kind(A, T0)
    for event in events:
        store.append_event(event)
    assert store.events() == events


def test_events_within_inclusive_bounds(store: StateStore) -> None:
    for t in range(10):
        store.append_event(TargetStarted(A, T0 + t))
    assert [e.time_ns - T0 for e in store.events(T0 + 3, T0 + 6)] == [3, 4, 5, 6]
    assert [e.time_ns - T0 for e in store.events(since_ns=T0 + 8)] == [8, 9]
    assert [e.time_ns - T0 for e in store.events(until_ns=T0 + 1)] == [0, 1]


def test_results_are_one_targets_in_order_within_bounds(store: StateStore) -> None:
    for t in range(10, 100, 10):
        store.append_event(_result(A, T0 + t))
        store.append_event(_result(B, T0 + t + 1))
        store.append_event(TargetStarted(A, T0 + t + 2))
    found = store.results(A.id, since_ns=T0 + 20, until_ns=T0 + 50)
    assert [e.time_ns - T0 for e in found] == [20, 30, 40, 50]
    assert all(e.target == A for e in found)


def test_results_limit_keeps_the_newest(store: StateStore) -> None:
    for t in range(1, 8):
        store.append_event(_result(A, T0 + t, output=f"run {t}"))
    found = store.results(A.id, limit=3)
    assert [e.result.output for e in found] == ["run 5", "run 6", "run 7"]
    assert store.results(A.id, limit=0) == []
    assert store.results("unknown") == []


def test_result_counts(store: StateStore) -> None:
    for t, code in enumerate([0, 1, 0, 0, -1, 0], start=1):
        store.append_event(_result(A, T0 + t, code))
    store.append_event(_result(B, T0 + 3, 1))
    assert store.result_counts(A.id) == (4, 6)
    assert store.result_counts(A.id, since_ns=T0 + 2, until_ns=T0 + 5) == (2, 4)
    assert store.result_counts("unknown") == (0, 0)


def test_targets_in_creation_order(store: StateStore) -> None:
    store.save_target(TargetRecord(A, T0 + 1))
    store.save_target(TargetRecord(B, T0 + 2))
    assert store.targets() == [TargetRecord(A, T0 + 1), TargetRecord(B, T0 + 2)]
    store.remove_target(A.id)
    assert store.targets() == [TargetRecord(B, T0 + 2)]


# -- durable backends ------------------------------------------------------------------------


def test_everything_survives_reopening(opener: Opener, durable: DurableStore) -> None:
    events = _every_kind(A, T0)
    for event in events:
        durable.append_event(event)
    durable.save_target(TargetRecord(A, T0))
    position = durable.position()
    durable.close()
    again = opener()
    assert isinstance(again, DurableStore)
    assert again.events() == events
    assert again.targets() == [TargetRecord(A, T0)]
    assert again.position() == position  # positions continue after what is kept
    again.append_event(TargetStarted(A, T0 + 100))
    assert again.position() == position + 1


def test_pages_at_a_position_have_no_gap_and_no_duplicate(durable: DurableStore) -> None:
    for t in range(25):
        durable.append_event(_result(A, T0 + t) if t % 2 else TargetStarted(B, T0 + t))
    mark = durable.position()
    for t in range(25, 30):  # after the mark: the live stream's, not the replay's
        durable.append_event(TargetStarted(A, T0 + t))
    seen: list[TargetEvent] = []
    after = None
    while page := durable.events_page(upto=mark, since_ns=T0 + 3, after=after, limit=4):
        assert len(page) <= 4
        seen.extend(event for _, event in page)
        after = page[-1][0]
    assert [e.time_ns - T0 for e in seen] == list(range(3, 25))


def test_retention_by_age_and_count_with_a_service_override(durable: DurableStore) -> None:
    durable.save_target(TargetRecord(A, T0))
    durable.save_target(TargetRecord(B, T0))
    for hour in range(10):
        durable.append_event(_result(A, T0 + hour * HOUR))
        durable.append_event(_result(B, T0 + hour * HOUR))
        durable.append_event(TargetStarted(A, T0 + hour * HOUR))
    durable.set_retention(None, HistoryConfig(keep=5 * HOUR, max_results=0))
    durable.set_retention(B.id, HistoryConfig(keep=0, max_results=3))  # no age limit, 3 kept
    assert durable.flush()
    now = T0 + 10 * HOUR
    while durable.prune(now, budget=2):  # bounded passes until nothing is left to do
        pass
    assert [(e.time_ns - T0) // HOUR for e in durable.results(A.id)] == [5, 6, 7, 8, 9]
    assert [(e.time_ns - T0) // HOUR for e in durable.results(B.id)] == [7, 8, 9]
    assert [(e.time_ns - T0) // HOUR for e in durable.events()
            if isinstance(e, TargetStarted)] == [5, 6, 7, 8, 9]


def test_removing_a_target_drops_its_results(durable: DurableStore) -> None:
    durable.save_target(TargetRecord(A, T0))
    durable.append_event(_result(A, T0 + 1))
    durable.append_event(_result(B, T0 + 1))
    durable.remove_target(A.id)
    assert durable.results(A.id) == []
    assert len(durable.results(B.id)) == 1


def test_a_healthy_store_has_no_problem_and_flushes(durable: DurableStore) -> None:
    durable.append_event(TargetStarted(A, T0))
    assert durable.flush(timeout_s=30)
    assert durable.problem is None
    assert "***" not in durable.location


def test_the_sqlite_writer_applies_retention_in_the_background(tmp_path: Path) -> None:
    from vigil.store.sqlite import SqliteStore

    now = [T0 + 10 * HOUR]
    store = SqliteStore(tmp_path / "vigil.db", now_ns=lambda: now[0], flush_interval_s=3600.0)
    try:
        store.set_retention(None, HistoryConfig(keep=5 * HOUR))
        for hour in range(10):
            store.append_event(_result(A, T0 + hour * HOUR))
        assert store.writer.sync(timeout_s=30)  # writes, then a retention pass
        assert [(e.time_ns - T0) // HOUR for e in store.results(A.id)] == [5, 6, 7, 8, 9]
    finally:
        store.close()
