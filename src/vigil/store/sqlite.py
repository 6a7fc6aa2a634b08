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

from vigil.core.events import TargetRef
from vigil.exceptions import StoreError
from vigil.store import TargetRecord
from vigil.store.codec import EVENT_COLUMNS, RESULT_COLUMNS
from vigil.store.durable import BatchedStore, ReadQueries, Row, split_rows
from vigil.store.schema import VERSION, VERSION_TABLE, pending
from vigil.store.writer import FLUSH_INTERVAL_S

_log = logging.getLogger("vigil")

DB_FILE = "vigil.db"
_RESULTS = ", ".join(RESULT_COLUMNS)
_EVENTS = ", ".join(EVENT_COLUMNS)


class SqliteStore(BatchedStore):
    """A ``DurableStore`` in the SQLite file ``path`` (created 0600, its directory 0700).

    ``now_ns`` is the clock background retention reads (None: retention runs only when
    ``prune`` is called). StoreError when the file cannot be opened or is not vigil's.
    """

    _left_behind = "the database is left to SQLite's recovery on the next start"

    def __init__(
        self,
        path: Path,
        *,
        now_ns: Callable[[], int] | None = None,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.path = path
        self.location = str(path)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            self._db = _connect(path)
            self._migrate()
            self._reader = _connect(path)
            targets = [
                TargetRecord(TargetRef(row[0], row[1]), row[2])
                for row in self._db.execute(
                    "SELECT id, name, created_ns FROM targets ORDER BY created_ns, id")
            ]
            seq = max(
                self._db.execute("SELECT coalesce(max(seq), 0) FROM results").fetchone()[0],
                self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0],
            )
        except (OSError, sqlite3.Error, ValueError) as exc:
            raise StoreError(f"store {path}: cannot open: {exc}") from None
        where = ("WHERE seq <= ? AND time_ns >= ? AND time_ns <= ? AND (time_ns, seq) > (?, ?) "
                 "ORDER BY time_ns, seq LIMIT ?")
        in_range = "WHERE target_id = ? AND time_ns >= ? AND time_ns <= ?"
        self._reads = ReadQueries(
            results_page=f"SELECT {_RESULTS} FROM results {where}",
            events_page=f"SELECT {_EVENTS} FROM events {where}",
            # one target's times never tie
            newest_results=f"SELECT {_RESULTS} FROM results {in_range} "
                           "ORDER BY time_ns DESC LIMIT ?",
            counts=f"SELECT count(*), sum(exit_code = 0) FROM results {in_range}")
        self._start(targets=targets, seq=seq, now_ns=now_ns, write=self._write_rows,
                    interval_s=flush_interval_s)

    def close(self) -> None:
        if not self._close_writer():
            return
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._db.close()

    # -- reading (threads) ----------------------------------------------------------------

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``ok``, or what is wrong."""
        with self._reading() as db:
            return "; ".join(str(row[0]) for row in db.execute("PRAGMA integrity_check"))

    # -- retention (the writer thread, or a test) -------------------------------------------

    @contextlib.contextmanager
    def _pruning(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            yield self._db

    def _delete_results(self, db: sqlite3.Connection, budget: int, before_ns: int, *,
                        target_id: str | None = None, except_ids: Sequence[str] = ()) -> int:
        if target_id is not None:
            return self._delete("results", "target_id = ? AND time_ns < ?",
                                (target_id, before_ns), budget)
        return self._delete(
            "results", f"time_ns < ? AND target_id NOT IN ({', '.join('?' * len(except_ids))})",
            (before_ns, *except_ids), budget)

    def _delete_events(self, db: sqlite3.Connection, budget: int, before_ns: int) -> int:
        return self._delete("events", "time_ns < ?", (before_ns,), budget)

    def _time_of_newest(self, db: sqlite3.Connection, target_id: str, offset: int) -> int | None:
        row = db.execute("SELECT time_ns FROM results WHERE target_id = ? "
                         "ORDER BY time_ns DESC LIMIT 1 OFFSET ?", (target_id, offset)).fetchone()
        return None if row is None else int(row[0])

    def _delete(self, table: str, condition: str, args: Sequence[object], budget: int) -> int:
        if budget <= 0:
            return 0
        with _transaction(self._db):
            cursor = self._db.execute(
                f"DELETE FROM {table} WHERE seq IN "
                f"(SELECT seq FROM {table} WHERE {condition} LIMIT ?)", (*args, budget))
        return max(cursor.rowcount, 0)

    # -- internals --------------------------------------------------------------------------

    def _write_rows(self, rows: list[Row]) -> None:
        results, events, changes = split_rows(rows)
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
