"""One writer thread for a durable store: the loop hands rows over, the thread commits them.

``put`` is what the event loop calls for every event: an append to a deque, nothing else
(no lock, no I/O). The thread wakes every ``interval_s`` (~200 ms: a kill -9 loses at most
that much) or as soon as ``batch`` rows wait, and commits up to ``batch`` rows per
transaction through ``write``. Between writes it lets the backend apply retention
(``maintain``), a bounded piece at a time.

When a write fails (disk full, read-only, server gone) the rows stay queued and are retried;
``problem`` says what is wrong and the log says so once, loudly, and again when writes work
again. Only when ``limit`` rows wait are new ones refused: each refused row is counted in
``lost`` and ``problem`` names the count, so nothing is ever lost silently.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

_log = logging.getLogger("vigil")
T = TypeVar("T")

FLUSH_INTERVAL_S = 0.2
BATCH_ROWS = 5_000
PENDING_LIMIT = 500_000  # ~ 8 minutes of 1,000 services × 1 s while the disk is failing
RETRY_LIMIT_S = 5.0  # the longest pause between retries of a failing write


class BatchWriter(Generic[T]):
    """See the module docstring. ``name`` names the store in log lines."""

    def __init__(
        self,
        write: Callable[[list[T]], None],
        *,
        name: str,
        maintain: Callable[[], object] | None = None,
        interval_s: float = FLUSH_INTERVAL_S,
        batch: int = BATCH_ROWS,
        limit: int = PENDING_LIMIT,
    ) -> None:
        if batch < 1 or limit < batch:
            raise ValueError("batch must be positive and limit at least batch")
        self._write = write
        self._maintain = maintain
        self._name = name
        self._interval_s = interval_s
        self._batch = batch
        self._limit = limit
        self._pending: deque[T] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._put = 0  # rows accepted (loop thread)
        self._written = 0  # rows committed (writer thread)
        self._closing = False
        self._passes_started = 0
        self._passes_ended = 0
        self._failure: str | None = None
        self.lost = 0
        self.transactions = 0
        self._thread = threading.Thread(target=self._run, name=f"vigil-store-{name}",
                                        daemon=True)
        self._thread.start()

    @property
    def problem(self) -> str | None:
        parts = []
        if self._failure is not None:
            parts.append(f"writes to {self._name} are failing ({self._failure}); "
                         f"{len(self._pending)} rows wait to be written")
        if self.lost:
            parts.append(f"{self.lost} rows were not kept: {self._limit} were waiting")
        return "; ".join(parts) or None

    @property
    def failing(self) -> bool:
        """The last write failed (rows wait for a retry)."""
        return self._failure is not None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def put(self, row: T) -> None:
        """Queue ``row`` (never blocks; refused and counted when ``limit`` rows wait)."""
        pending = self._pending
        if len(pending) >= self._limit:
            if not self.lost:
                _log.error("store %s: %d rows wait to be written; new history is being lost "
                           "until writes catch up", self._name, self._limit)
            self.lost += 1
            return
        pending.append(row)
        self._put += 1
        if len(pending) == self._batch:
            self._wake.set()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every row queued before this call is committed; False when writes are
        failing or ``timeout_s`` passed first."""
        target = self._put
        started = self._passes_started  # a pass that starts after this one tries our rows
        self._wake.set()
        with self._done:
            self._done.wait_for(
                lambda: self._written >= target or not self._thread.is_alive()
                or (self._passes_ended > started and self._failure is not None), timeout_s)
            return self._written >= target

    def sync(self, timeout_s: float | None = None) -> bool:
        """Wait until a whole pass of the thread (writes, then retention) that started after
        this call has ended; False if ``timeout_s`` passed first."""
        started = self._passes_started
        self._wake.set()
        with self._done:
            return self._done.wait_for(
                lambda: self._passes_ended > started or not self._thread.is_alive(), timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Commit what is queued, then stop the thread."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout_s)
        if self._pending:
            _log.error("store %s: closed with %d rows not written: %s", self._name,
                       len(self._pending), self._failure or "the writer did not finish")

    def _run(self) -> None:
        delay = self._interval_s
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            self._passes_started += 1
            closing = self._closing
            try:
                while self._pending:
                    self._commit_one_batch()
                delay = self._interval_s
                if self._maintain is not None and not closing:
                    self._maintain()
                if self._failure is not None:  # a failed retention pass went through
                    _log.warning("store %s: writes work again", self._name)
                    self._failure = None
            except Exception as exc:  # any driver error: keep the rows, say so, retry
                if self._failure is None:
                    _log.error("store %s: cannot write history: %s; retrying, nothing is "
                               "dropped until %d rows wait", self._name, exc, self._limit)
                self._failure = str(exc) or type(exc).__name__
                delay = min(delay * 2, RETRY_LIMIT_S)
            with self._done:
                self._passes_ended += 1
                self._done.notify_all()
            if closing and (not self._pending or self._failure is not None):
                return

    def _commit_one_batch(self) -> None:
        pending = self._pending
        count = min(len(pending), self._batch)
        rows = [pending.popleft() for _ in range(count)]  # only this thread takes rows
        try:
            self._write(rows)  # one transaction
        except BaseException:
            pending.extendleft(reversed(rows))  # back in front, in order, for the retry
            raise
        self.transactions += 1
        if self._failure is not None:  # before waking flush(): it reports a healthy store
            _log.warning("store %s: writes work again", self._name)
            self._failure = None
        with self._done:
            self._written += count
            self._done.notify_all()


__all__ = ["BATCH_ROWS", "FLUSH_INTERVAL_S", "PENDING_LIMIT", "BatchWriter"]
