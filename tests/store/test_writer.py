"""The store's writer thread: many rows per transaction, everything written by ``flush`` and
``close``, failing writes kept and retried and reported, and a bound on what waits.

Each writer here wakes by itself only once an hour: what happens is what ``flush``,
``close`` or a full batch make happen, so nothing depends on timing.
"""

from __future__ import annotations

import threading

from vigil.store.writer import BatchWriter

NEVER_S = 3600.0


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.failing: Exception | None = None
        self.lock = threading.Lock()

    def write(self, rows: list[int]) -> None:
        with self.lock:
            if self.failing is not None:
                raise self.failing
            self.batches.append(list(rows))

    @property
    def rows(self) -> list[int]:
        return [row for batch in self.batches for row in batch]


def test_rows_are_committed_in_order_many_per_transaction() -> None:
    sink = Sink()
    writer = BatchWriter(sink.write, name="test", interval_s=NEVER_S, batch=100, limit=1000)
    for row in range(250):
        writer.put(row)
    assert writer.flush(timeout_s=30)
    assert sink.rows == list(range(250))
    assert len(sink.batches) <= 4  # whole batches, not a transaction per row
    assert all(len(batch) <= 100 for batch in sink.batches)
    writer.close()


def test_close_writes_everything_waiting() -> None:
    sink = Sink()
    writer = BatchWriter(sink.write, name="test", interval_s=NEVER_S, batch=10, limit=100)
    for row in range(7):
        writer.put(row)
    writer.close(timeout_s=30)
    assert sink.rows == list(range(7))


def test_failing_writes_keep_the_rows_say_so_and_recover() -> None:
    sink = Sink()
    sink.failing = OSError(28, "No space left on device")
    writer = BatchWriter(sink.write, name="test.db", interval_s=NEVER_S, batch=10, limit=100)
    for row in range(5):
        writer.put(row)
    assert not writer.flush(timeout_s=30)  # could not: the disk is full
    problem = writer.problem
    assert problem is not None
    assert "test.db" in problem
    assert "No space left on device" in problem
    assert "5 rows wait" in problem
    sink.failing = None
    writer.put(5)
    assert writer.flush(timeout_s=30)
    assert sink.rows == list(range(6))  # nothing dropped, nothing twice, in order
    assert writer.problem is None
    writer.close()


def test_rows_beyond_the_limit_are_counted_and_reported() -> None:
    sink = Sink()
    sink.failing = OSError(5, "Input/output error")
    writer = BatchWriter(sink.write, name="test", interval_s=NEVER_S, batch=10, limit=20)
    for row in range(25):
        writer.put(row)
    assert writer.lost == 5
    assert "5 rows were not kept" in (writer.problem or "")
    sink.failing = None
    assert writer.flush(timeout_s=30)
    assert sink.rows == list(range(20))
    writer.close()


def test_sync_waits_for_a_whole_pass_with_its_maintenance() -> None:
    sink = Sink()
    passes: list[int] = []
    writer = BatchWriter(sink.write, name="test", interval_s=NEVER_S, batch=10, limit=100,
                         maintain=lambda: passes.append(len(sink.rows)))
    writer.put(1)
    assert writer.sync(timeout_s=30)
    assert passes
    assert passes[-1] == 1  # retention ran after the rows were written
    writer.close()
