"""The embedded durable store: SQLite (stdlib ``sqlite3``) in one file, ``<state dir>/vigil.db``.

Why stdlib ``sqlite3`` and not aiosqlite: aiosqlite runs each statement on a thread of its
own and awaits it, one round trip per call; vigil's writes are batched on one writer thread
(``vigil.store.writer``) and its reads already run in threads, so the stdlib module is all
that is needed.

WAL mode with ``synchronous=NORMAL``: a commit is an append to the WAL, readers never block
the writer, a killed daemon loses nothing committed and the file is never torn (a power cut
may lose the last commits, not the file). One connection writes (the writer thread), one
reads (under a lock; the API's reads run in threads).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vigil.core.config import HistoryConfig
from vigil.core.events import ProbeCompleted, TargetEvent, TargetRef
from vigil.exceptions import StoreError
from vigil.store import TargetRecord
from vigil.store.codec import (
    EVENT_COLUMNS,
    RESULT_COLUMNS,
    event_row,
    from_event_row,
    from_result_row,
    result_row,
)
from vigil.store.schema import VERSION, VERSION_TABLE, pending
from vigil.store.writer import FLUSH_INTERVAL_S, BatchWriter

_log = logging.getLogger("vigil")

DB_FILE = "vigil.db"
PRUNE_INTERVAL_NS = 10 * 1_000_000_000  # retention looks for work this often
PRUNE_BUDGET = 10_000  # rows one retention pass may delete (the writer's pause stays short)
_LOW, _HIGH = -(1 << 63), (1 << 63) - 1
_RESULTS = ", ".join(RESULT_COLUMNS)
_EVENTS = ", ".join(EVENT_COLUMNS)

# What the loop hands the writer: an event with its position, or a change of targets.
_Row = tuple[int, TargetEvent] | tuple[int, TargetRecord] | tuple[int, str]


class SqliteStore:
    """A ``DurableStore`` in the SQLite file ``path`` (created 0600, its directory 0700).

    ``now_ns`` is the clock background retention reads (None: retention runs only when
    ``prune`` is called). StoreError when the file cannot be opened or is not vigil's.
    """

    def __init__(
        self,
        path: Path,
        *,
        now_ns: Callable[[], int] | None = None,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.path = path
        self.location = str(path)
        self._now_ns = now_ns
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            self._db = _connect(path)
            self._migrate()
            self._reader = _connect(path)
            self._targets = {
                row[0]: TargetRecord(TargetRef(row[0], row[1]), row[2])
                for row in self._db.execute(
                    "SELECT id, name, created_ns FROM targets ORDER BY created_ns, id")
            }
            self._seq = max(
                self._db.execute("SELECT coalesce(max(seq), 0) FROM results").fetchone()[0],
                self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0],
            )
        except (OSError, sqlite3.Error, ValueError) as exc:
            raise StoreError(f"store {path}: cannot open: {exc}") from None
        self._default = HistoryConfig()
        self._retention: dict[str, HistoryConfig] = {}
        self._last_prune = _LOW
        self._more_to_prune = False
        self._prune_cursor = 0
        self._closed = False
        self._writer: BatchWriter[_Row] = BatchWriter(
            self._write_rows, name=str(path), maintain=self._maintain,
            interval_s=flush_interval_s)

    # -- writing (the loop) ---------------------------------------------------------------

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
        seq: int = self._seq
        return seq

    @property
    def problem(self) -> str | None:
        return self._writer.problem

    @property
    def writer(self) -> BatchWriter[_Row]:
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

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._db.close()

    # -- reading (threads) ----------------------------------------------------------------

    def events(
        self, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[TargetEvent]:
        found: list[TargetEvent] = []
        after: tuple[int, int] | None = None
        upto = self._seq
        while page := self.events_page(upto=upto, since_ns=since_ns, until_ns=until_ns,
                                       after=after, limit=10_000):
            found.extend(event for _, event in page)
            after = page[-1][0]
        return found

    def events_page(
        self,
        *,
        upto: int,
        since_ns: int | None = None,
        until_ns: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 1000,
    ) -> list[tuple[tuple[int, int], TargetEvent]]:
        self.flush()
        at_time, at_seq = after if after is not None else (_LOW, -1)
        low = max(_LOW if since_ns is None else since_ns, at_time)
        args = (upto, low, _HIGH if until_ns is None else until_ns, at_time, at_seq, limit)
        where = ("WHERE seq <= ? AND time_ns >= ? AND time_ns <= ? AND (time_ns, seq) > (?, ?) "
                 "ORDER BY time_ns, seq LIMIT ?")
        with self._reading() as db:
            results = db.execute(f"SELECT {_RESULTS} FROM results {where}", args).fetchall()
            others = db.execute(f"SELECT {_EVENTS} FROM events {where}", args).fetchall()
        page: list[tuple[tuple[int, int], TargetEvent]] = [
            ((row[3], row[0]), from_result_row(row)) for row in results]
        for row in others:
            event = from_event_row(row)
            if event is not None:
                page.append(((row[3], row[0]), event))
        page.sort(key=lambda item: item[0])
        return page[:limit]

    def results(
        self,
        target_id: str,
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int | None = None,
    ) -> list[ProbeCompleted]:
        if limit is not None and limit <= 0:
            return []
        self.flush()
        args: tuple[Any, ...] = (target_id, _LOW if since_ns is None else since_ns,
                                 _HIGH if until_ns is None else until_ns)
        query = (f"SELECT {_RESULTS} FROM results WHERE target_id = ? AND time_ns >= ? "
                 "AND time_ns <= ? ORDER BY time_ns DESC")  # one target's times never tie
        if limit is not None:
            query += " LIMIT ?"
            args += (limit,)
        with self._reading() as db:
            rows = db.execute(query, args).fetchall()
        rows.reverse()
        return [from_result_row(row) for row in rows]

    def result_counts(
        self, target_id: str, since_ns: int | None = None, until_ns: int | None = None
    ) -> tuple[int, int]:
        self.flush()
        with self._reading() as db:
            total, passed = db.execute(
                "SELECT count(*), coalesce(sum(exit_code = 0), 0) FROM results "
                "WHERE target_id = ? AND time_ns >= ? AND time_ns <= ?",
                (target_id, _LOW if since_ns is None else since_ns,
                 _HIGH if until_ns is None else until_ns)).fetchone()
        return int(passed), int(total)

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``ok``, or what is wrong."""
        with self._reading() as db:
            return "; ".join(str(row[0]) for row in db.execute("PRAGMA integrity_check"))

    # -- retention (the writer thread, or a test) -------------------------------------------

    def prune(self, now_ns: int, budget: int = PRUNE_BUDGET) -> int:
        deleted = 0
        with self._write_lock:
            default_keep = self._default.effective_keep
            own_keep = {i: h.keep for i, h in self._retention.items() if h.keep is not None}
            if default_keep:
                deleted += self._delete(
                    "results", "time_ns < ? AND target_id NOT IN "
                    f"({', '.join('?' * len(own_keep))})",
                    (now_ns - default_keep, *own_keep), budget - deleted)
                deleted += self._delete("events", "time_ns < ?", (now_ns - default_keep,),
                                        budget - deleted)
            for target_id, keep in own_keep.items():
                if keep and deleted < budget:
                    deleted += self._delete("results", "target_id = ? AND time_ns < ?",
                                            (target_id, now_ns - keep), budget - deleted)
            deleted += self._prune_counts(budget - deleted)
        self._more_to_prune = deleted >= budget
        return deleted

    def _prune_counts(self, budget: int) -> int:
        """Cut targets to their newest ``max_results``, a few targets per pass (round robin)."""
        ids = sorted(self._targets)
        deleted = 0
        for _ in range(min(len(ids), 50)):
            if deleted >= budget:
                break
            self._prune_cursor %= len(ids)
            target_id = ids[self._prune_cursor]
            self._prune_cursor += 1
            history = self._retention.get(target_id, HistoryConfig()).over(self._default)
            keep = history.effective_max_results
            if not keep:
                continue
            edge = self._db.execute(
                "SELECT time_ns FROM results WHERE target_id = ? "
                "ORDER BY time_ns DESC LIMIT 1 OFFSET ?", (target_id, keep)).fetchone()
            if edge is not None:
                deleted += self._delete("results", "target_id = ? AND time_ns <= ?",
                                        (target_id, edge[0]), budget - deleted)
        return deleted

    def _delete(self, table: str, condition: str, args: Sequence[object], budget: int) -> int:
        if budget <= 0:
            return 0
        with _transaction(self._db):
            cursor = self._db.execute(
                f"DELETE FROM {table} WHERE seq IN "
                f"(SELECT seq FROM {table} WHERE {condition} LIMIT ?)", (*args, budget))
        return max(cursor.rowcount, 0)

    def _maintain(self) -> None:
        if self._now_ns is None:
            return
        now = self._now_ns()
        if self._more_to_prune or now - self._last_prune >= PRUNE_INTERVAL_NS:
            self._last_prune = now
            self.prune(now)

    # -- internals --------------------------------------------------------------------------

    def _write_rows(self, rows: list[_Row]) -> None:
        results, events = [], []
        changes: list[TargetRecord | str] = []
        for seq, item in rows:
            if isinstance(item, ProbeCompleted):
                results.append(result_row(seq, item))
            elif isinstance(item, TargetRecord | str):
                changes.append(item)
            else:
                events.append(event_row(seq, item))
        with self._write_lock, _transaction(self._db):
            self._db.executemany(
                f"INSERT OR REPLACE INTO results ({_RESULTS}) VALUES "
                f"({', '.join('?' * len(RESULT_COLUMNS))})", results)
            self._db.executemany(
                f"INSERT OR REPLACE INTO events ({_EVENTS}) VALUES "
                f"({', '.join('?' * len(EVENT_COLUMNS))})", events)
            for change in changes:
                if isinstance(change, TargetRecord):
                    self._db.execute(
                        "INSERT OR REPLACE INTO targets (id, name, created_ns) VALUES (?, ?, ?)",
                        (change.ref.id, change.ref.name, change.created_ns))
                else:  # removed: like ``docker rm``, its results go; events age out
                    self._db.execute("DELETE FROM targets WHERE id = ?", (change,))
                    self._db.execute("DELETE FROM results WHERE target_id = ?", (change,))

    def _migrate(self) -> None:
        db = self._db
        with _transaction(db):
            db.execute(VERSION_TABLE)
            row = db.execute("SELECT max(version) FROM vigil_schema").fetchone()
            version = row[0] or 0
            steps = pending(version, seq_type="INTEGER")
            for statement in steps:
                db.execute(statement)
            if steps:
                db.execute("DELETE FROM vigil_schema")
                db.execute("INSERT INTO vigil_schema (version) VALUES (?)", (VERSION,))

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            if self._closed:
                raise StoreError(f"store {self.location} is closed")
            yield self._reader


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 5000")
    if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise ValueError("the file system does not support SQLite's WAL mode")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB: the indexes' hot pages stay cached
    return db


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


__all__ = ["DB_FILE", "SqliteStore"]
