"""What the durable stores (``vigil.store.sqlite``, ``vigil.store.postgres``) share: the
loop's side (positions, targets in memory, rows handed to the one writer thread), paging of
replays, and retention by age and count. A backend adds its connections, its queries and
four retention primitives.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.core.config import HistoryConfig
from vigil.core.events import ProbeCompleted, TargetEvent
from vigil.store import TargetRecord
from vigil.store.codec import (
    event_row,
    from_event_row,
    from_result_row,
    from_result_rows,
    result_row,
)
from vigil.store.writer import BatchWriter

_log = logging.getLogger("vigil")

PRUNE_INTERVAL_NS = 10 * 1_000_000_000  # retention looks for work this often
PRUNE_BUDGET = 10_000  # rows one retention pass may delete (the writer's pause stays short)
CLOSE_TIMEOUT_S = 60.0  # how long a daemon's shutdown waits for the last commits
LOW, HIGH = -(1 << 63), (1 << 63) - 1
Key = tuple[int, int]  # (time_ns, position): the replay's order
Page = list[tuple[Key, TargetEvent]]

# What the loop hands the writer: an event with its position, or a change of targets.
Row = tuple[int, TargetEvent] | tuple[int, TargetRecord] | tuple[int, str]


def split_rows(
    rows: Iterable[Row],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[TargetRecord | str]]:
    """A writer batch as rows of ``results`` and of ``events``, and the target changes (a
    record to keep, or the ID of one removed) in order."""
    results, events = [], []
    changes: list[TargetRecord | str] = []
    for seq, item in rows:
        if isinstance(item, ProbeCompleted):
            results.append(result_row(seq, item))
        elif isinstance(item, TargetRecord | str):
            changes.append(item)
        else:
            events.append(event_row(seq, item))
    return results, events, changes


def merge_page(results: Sequence[Sequence[Any]], others: Sequence[Sequence[Any]],
               limit: int) -> Page:
    """One replay page from up to ``limit`` rows of each table, in (time, position) order;
    kinds this vigil does not know are left out."""
    page: Page = [((row[3], row[0]), from_result_row(row)) for row in results]
    for row in others:
        event = from_event_row(row)
        if event is not None:
            page.append(((row[3], row[0]), event))
    page.sort(key=lambda item: item[0])
    return page[:limit]


@dataclass(frozen=True, slots=True)
class ReadQueries:
    """A backend's reads, in its own SQL: each takes the arguments its name says."""

    results_page: Any  # SELECT RESULT_COLUMNS of a replay page: upto, low, high, at, limit
    events_page: Any  # the same of EVENT_COLUMNS
    newest_results: Any  # a target's within [low, high], newest first: id, low, high, limit
    counts: Any  # (count, passed) of a target's within [low, high]: id, low, high


class BatchedStore:
    """The shared half of a ``DurableStore``; a backend calls ``_start`` once open."""

    location: str
    _reads: ReadQueries
    _left_behind = "what it held is not written"  # said when a write hangs at close

    def _start(self, *, targets: Iterable[TargetRecord], seq: int,
               now_ns: Callable[[], int] | None, write: Callable[[list[Row]], None],
               **writer: Any) -> None:
        self._targets = {record.ref.id: record for record in targets}
        self._seq = seq
        self._now_ns = now_ns
        self._default = HistoryConfig()
        self._retention: dict[str, HistoryConfig] = {}
        self._last_prune = LOW
        self._more_to_prune = False
        self._prune_cursor = 0
        self._closed = False
        self._writer: BatchWriter[Row] = BatchWriter(
            write, name=self.location, maintain=self._maintain, **writer)

    # -- the loop's side ------------------------------------------------------------------

    def append_event(self, event: TargetEvent) -> None:
        self._seq += 1
        self._writer.put((self._seq, event))

    def save_target(self, record: TargetRecord) -> None:
        self._targets[record.ref.id] = record
        self._writer.put((0, record))

    def remove_target(self, target_id: str) -> None:
        self._targets.pop(target_id, None)
        self._retention.pop(target_id, None)
        self._writer.put((0, target_id))

    def targets(self) -> list[TargetRecord]:
        return sorted(self._targets.values(), key=lambda r: (r.created_ns, r.ref.id))

    def position(self) -> int:
        return self._seq

    @property
    def problem(self) -> str | None:
        return self._writer.problem

    @property
    def writer(self) -> BatchWriter[Row]:
        """The writer (tests and the benchmark read its counters)."""
        return self._writer

    def set_retention(self, target_id: str | None, history: HistoryConfig | None) -> None:
        if target_id is None:
            self._default = history or HistoryConfig()
        elif history is None:
            self._retention.pop(target_id, None)
        else:
            self._retention[target_id] = history

    def flush(self, timeout_s: float | None = None) -> bool:
        return self._writer.flush(timeout_s)

    def _close_writer(self) -> bool:
        """Write what is queued and stop the writer: True when the backend may now release
        its connections; False when already closed, or when a write still hangs (a dead
        network disk or server) after ``CLOSE_TIMEOUT_S``: that is left, and said."""
        if self._closed:
            return False
        self._closed = True
        self._writer.close(CLOSE_TIMEOUT_S)
        if self._writer.alive:
            _log.error("store %s: the writer did not finish within %g s; %s", self.location,
                       CLOSE_TIMEOUT_S, self._left_behind)
            return False
        return True

    # -- reading (threads) ----------------------------------------------------------------

    def events(
        self, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[TargetEvent]:
        found: list[TargetEvent] = []
        after: Key | None = None
        upto = self._seq
        while page := self.events_page(upto=upto, since_ns=since_ns, until_ns=until_ns,
                                       after=after, limit=10_000):
            found.extend(event for _, event in page)
            after = page[-1][0]
        return found

    def events_page(self, *, upto: int, since_ns: int | None = None,
                    until_ns: int | None = None, after: Key | None = None,
                    limit: int = 1000) -> Page:
        self.flush()
        at_time, at_seq = after if after is not None else (LOW, -1)
        low = max(LOW if since_ns is None else since_ns, at_time)
        args = (upto, low, HIGH if until_ns is None else until_ns, at_time, at_seq, limit)
        with self._reading() as db:
            results = db.execute(self._reads.results_page, args).fetchall()
            others = db.execute(self._reads.events_page, args).fetchall()
        return merge_page(results, others, limit)

    def results(self, target_id: str, since_ns: int | None = None,
                until_ns: int | None = None, limit: int | None = None) -> list[ProbeCompleted]:
        if limit is not None and limit <= 0:
            return []
        self.flush()
        args = (target_id, LOW if since_ns is None else since_ns,
                HIGH if until_ns is None else until_ns, HIGH if limit is None else limit)
        with self._reading() as db:
            rows = db.execute(self._reads.newest_results, args).fetchall()
        rows.reverse()
        return from_result_rows(rows)

    def result_counts(self, target_id: str, since_ns: int | None = None,
                      until_ns: int | None = None) -> tuple[int, int]:
        self.flush()
        args = (target_id, LOW if since_ns is None else since_ns,
                HIGH if until_ns is None else until_ns)
        with self._reading() as db:
            total, passed = db.execute(self._reads.counts, args).fetchone()
        return int(passed or 0), int(total)

    def _reading(self) -> contextlib.AbstractContextManager[Any]:
        """A connection to read with (StoreError when closed or unreachable)."""
        raise NotImplementedError

    # -- retention (the writer thread, or a test) -------------------------------------------

    def prune(self, now_ns: int, budget: int = PRUNE_BUDGET) -> int:
        deleted = 0
        with self._pruning() as db:
            default_keep = self._default.effective_keep
            retention = dict(self._retention)  # one C-level copy: the loop may change it
            own_keep = {i: h.keep for i, h in retention.items() if h.keep is not None}
            if default_keep:
                deleted += self._delete_results(db, budget - deleted, now_ns - default_keep,
                                                except_ids=list(own_keep))
                deleted += self._delete_events(db, budget - deleted, now_ns - default_keep)
            for target_id, keep in own_keep.items():
                if keep and deleted < budget:
                    deleted += self._delete_results(db, budget - deleted, now_ns - keep,
                                                    target_id=target_id)
            deleted += self._prune_counts(db, budget - deleted)
        self._more_to_prune = deleted >= budget
        return deleted

    def _prune_counts(self, db: Any, budget: int) -> int:
        """Cut targets to their newest ``max_results``, a few targets per pass (round robin)."""
        ids = sorted(list(self._targets))  # copied in one step: the loop may change it
        retention = dict(self._retention)
        deleted = 0
        for _ in range(min(len(ids), 50)):
            if deleted >= budget:
                break
            self._prune_cursor %= len(ids)
            target_id = ids[self._prune_cursor]
            self._prune_cursor += 1
            history = retention.get(target_id, HistoryConfig()).over(self._default)
            keep = history.effective_max_results
            if not keep:
                continue
            edge = self._time_of_newest(db, target_id, keep)  # the newest one too many
            if edge is not None:
                deleted += self._delete_results(db, budget - deleted, edge + 1,
                                                target_id=target_id)
        return deleted

    def _maintain(self) -> None:
        if self._now_ns is None:
            return
        now = self._now_ns()
        if self._more_to_prune or now - self._last_prune >= PRUNE_INTERVAL_NS:
            self._last_prune = now
            self.prune(now)

    # The backend's retention primitives; each deletes at most ``budget`` rows (none at 0)
    # and returns how many went.

    def _pruning(self) -> contextlib.AbstractContextManager[Any]:
        """What one retention pass works through (a connection, under a lock)."""
        raise NotImplementedError

    def _delete_results(self, db: Any, budget: int, before_ns: int, *,
                        target_id: str | None = None, except_ids: Sequence[str] = ()) -> int:
        """Results older than ``before_ns``: of ``target_id``, else of every target but
        ``except_ids``."""
        raise NotImplementedError

    def _delete_events(self, db: Any, budget: int, before_ns: int) -> int:
        raise NotImplementedError

    def _time_of_newest(self, db: Any, target_id: str, offset: int) -> int | None:
        """The time of the target's result ``offset`` places from its newest (0: the newest)."""
        raise NotImplementedError


__all__ = ["HIGH", "LOW", "PRUNE_BUDGET", "BatchedStore", "Key", "Page", "ReadQueries", "Row",
           "merge_page", "split_rows"]
