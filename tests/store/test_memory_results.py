"""The store seam's results query on the in-memory store: the contract durable stores meet."""

from __future__ import annotations

from vigil.core.events import ProbeCompleted, TargetRef, TargetStarted
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.store.memory import MemoryStore

A = TargetRef("a" * 64, "a")
B = TargetRef("b" * 64, "b")


def _result(ref: TargetRef, t: int, code: int = 0) -> ProbeCompleted:
    outcome = Outcome.PASS if code == 0 else Outcome.FAIL
    return ProbeCompleted(ref, t, ProbeResult(t - 5, t, code, "", outcome),
                          HealthStatus.HEALTHY, 0)


def test_results_are_one_targets_probe_results_in_order_within_inclusive_bounds() -> None:
    store = MemoryStore()
    for t in range(10, 100, 10):
        store.append_event(_result(A, t))
        store.append_event(_result(B, t + 1))
        store.append_event(TargetStarted(A, t + 2))
    found = store.results(A.id, since_ns=20, until_ns=50)
    assert [e.time_ns for e in found] == [20, 30, 40, 50]
    assert all(e.target == A for e in found)


def test_limit_keeps_the_newest_and_zero_keeps_none() -> None:
    store = MemoryStore()
    for t in range(1, 8):
        store.append_event(_result(A, t))
    assert [e.time_ns for e in store.results(A.id, limit=3)] == [5, 6, 7]
    assert store.results(A.id, limit=0) == []
    assert store.results("unknown") == []


def test_result_counts_are_passed_and_total_within_bounds() -> None:
    store = MemoryStore()
    for t, code in enumerate([0, 1, 0, 0, -1, 0], start=1):
        store.append_event(_result(A, t, code))
    store.append_event(_result(B, 3, 1))
    assert store.result_counts(A.id) == (4, 6)
    assert store.result_counts(A.id, since_ns=2, until_ns=5) == (2, 4)
    assert store.result_counts("unknown") == (0, 0)
