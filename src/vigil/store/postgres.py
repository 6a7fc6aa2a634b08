"""The PostgreSQL store: a ``DurableStore`` on psycopg 3 and psycopg-pool.

The same tables as SQLite (``vigil.store.schema``) in a schema of their own (``vigil`` unless
the URL says ``schema=NAME`` or sets a ``search_path``), migrated on start
(``vigil.store.pgschema``). The loop only queues rows; the one writer thread
(``vigil.store.writer``) COPYs each batch in one transaction, at least every 200 ms.

When the database goes away the rows stay queued (bounded; what does not fit is counted and
shown in ``problem``), the outage is logged once and its end too, and the writer retries with
back-off and catches up. A query the database does not answer within ``io_timeout`` (a dead
host, a black hole: libpq has no query timeout) is ended by shutting its socket down. A row
the database refuses (a value out of range) is logged and counted, and the rest of its batch
is written. PostgreSQL's text holds no NUL: a NUL in probe output is kept as U+FFFD.

The URL is libpq's, so every libpq parameter works (``sslmode=verify-full``, ``sslrootcert``,
``passfile``, ``service``, ``connect_timeout``, ...), plus vigil's ``schema``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, LiteralString
from urllib.parse import unquote

from vigil.core.events import TargetRef
from vigil.exceptions import StoreError
from vigil.store import TargetRecord, redact
from vigil.store.codec import EVENT_COLUMNS, RESULT_COLUMNS
from vigil.store.durable import BatchedStore, ReadQueries, Row, split_rows
from vigil.store.pgschema import check_schema, chosen_schema, migrate
from vigil.store.writer import FLUSH_INTERVAL_S, PENDING_LIMIT

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

_log = logging.getLogger("vigil")

IO_TIMEOUT_S = 10.0
# The pool's own reconnection backs off without bound (1 s, 2 s, 4 s, ...); it gives up after
# this, and the next write or read starts over at 1 s: back within seconds of an outage's end.
RECONNECT_S = 5.0
_RESULT_TYPES = ["int8", "text", "text", "int8", "int8", "int8", "int8", "text", "text",
                 "text", "int8"]
_EVENT_TYPES = ["int8", "text", "text", "int8", "text", "text"]
_VALUE_ERRORS = (ValueError, OverflowError, TypeError)  # what adapting a value can raise


def _driver() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, imported only when a PostgreSQL store is opened."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as e:
        raise StoreError(f"the PostgreSQL store needs psycopg 3 and psycopg-pool ({e}): "
                         "pip install 'vigil[postgresql]'") from None
    return psycopg, psycopg_pool


def split_url(url: str) -> tuple[str, str | None]:
    """libpq's URL without vigil's ``schema`` parameter (libpq refuses unknown ones), and
    that parameter. The rest is passed on as written: libpq, not Python, parses it."""
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError(f"store {_redact(url)!r}: must be valid Unicode") from None
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise StoreError(f"store {_redact(url)}: the scheme must be postgresql://")
    base, _, query = url.partition("?")
    kept, schemas = [], []
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if unquote(key) == "schema":
            schemas.append(unquote(value))
        else:
            kept.append(item)
    if len(schemas) > 1:
        raise StoreError(f"store {_redact(url)}: schema is given {len(schemas)} times")
    return base + ("?" + "&".join(kept) if kept else ""), schemas[0] if schemas else None


def _redact(url: str) -> str:
    """``redact``, and a ``password=`` among the URL's parameters masked too."""
    return re.sub(r"([?&]password=)[^&]*", r"\1***", redact(url))


def drop_schema(url: str, schema: str) -> None:
    """Remove ``schema`` and everything in it (test teardown)."""
    psycopg, _ = _driver()
    from psycopg import sql

    conninfo, _ = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class PostgresStore(BatchedStore):
    """See the module docstring. ``now_ns`` is the clock background retention reads (None:
    retention runs only when ``prune`` is called). StoreError when the database cannot be
    reached or its schema is not vigil's."""

    _left_behind = "the server rolls its open transaction back when the daemon exits"

    def __init__(
        self,
        url: str,
        *,
        now_ns: Callable[[], int] | None = None,
        schema: str | None = None,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        pending_limit: int = PENDING_LIMIT,
        io_timeout: float = IO_TIMEOUT_S,
    ) -> None:
        psycopg, pool_mod = _driver()
        self._errors = psycopg
        conninfo, url_schema = split_url(url)
        where = _redact(conninfo)
        for name in (schema, url_schema):
            if name is not None:
                check_schema(name)
        self._io_timeout = io_timeout
        # libpq's connect_timeout bounds a connection attempt; the URL's own wins
        timeouts = {} if "connect_timeout=" in conninfo else {
            "connect_timeout": max(2, int(io_timeout))}
        try:
            with psycopg.connect(conninfo, **timeouts) as conn:
                self.schema = schema or url_schema or chosen_schema(conn)
                migrate(conn, self.schema)
                self._q = _queries(self.schema, conn)
                self._reads = ReadQueries(self._q.results_page, self._q.events_page,
                                          self._q.results, self._q.counts)
                targets = [TargetRecord(TargetRef(row[0], row[1]), row[2])
                           for row in conn.execute(self._q.targets)]
                row = conn.execute(self._q.max_seq).fetchone()
        except psycopg.Error as e:
            raise StoreError(f"store {where}: {_message(e)}") from None
        self.location = f"{where} (schema {self.schema})"
        self._pool: ConnectionPool[Any] = pool_mod.ConnectionPool(
            conninfo, min_size=1, max_size=4, open=False, name="vigil-store",
            timeout=io_timeout, kwargs=timeouts,
            check=self._check, reconnect_timeout=RECONNECT_S)
        self._pool.open(wait=False)
        self._retrying = False  # the last write failed: it may have committed all the same
        self.refused = 0  # rows the database would not take
        self._start(targets=targets, seq=int(row[0]) if row else 0, now_ns=now_ns,
                    write=self._write_rows, interval_s=flush_interval_s, limit=pending_limit)

    @property
    def problem(self) -> str | None:
        parts = [super().problem or ""]
        if self.refused:
            parts.append(f"{self.refused} rows were refused by the database (see the log)")
        return "; ".join(p for p in parts if p) or None

    def close(self) -> None:
        if self._close_writer():
            self._pool.close()

    # -- reading (threads) ----------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise StoreError(f"store {self.location} is closed")
        try:
            with self._pool.connection() as conn, self._deadline(conn):
                yield conn
        except self._errors.Error as e:
            raise StoreError(f"store {self.location}: {_message(e)}") from None

    # -- retention (the writer thread, or a test) -------------------------------------------

    @contextmanager
    def _pruning(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as conn, self._deadline(conn):
            yield conn

    def _delete_results(self, db: psycopg.Connection[Any], budget: int, before_ns: int, *,
                        target_id: str | None = None, except_ids: Sequence[str] = ()) -> int:
        if target_id is not None:
            return _delete(db, self._q.prune_results_own, (target_id, before_ns), budget)
        return _delete(db, self._q.prune_results_default, (before_ns, list(except_ids)),
                       budget)

    def _delete_events(self, db: psycopg.Connection[Any], budget: int, before_ns: int) -> int:
        return _delete(db, self._q.prune_events, (before_ns,), budget)

    def _time_of_newest(self, db: psycopg.Connection[Any], target_id: str,
                        offset: int) -> int | None:
        row = db.execute(self._q.count_edge, (target_id, offset)).fetchone()
        return None if row is None else int(row[0])

    # -- the writer thread ------------------------------------------------------------------

    def _write_rows(self, rows: list[Row]) -> None:
        results, events, changes = split_rows(rows)
        results = [_storable_result(row) for row in results]
        events = [_storable_event(row) for row in events]
        errors = self._errors
        try:
            self._write(results, events, changes, copy=not self._retrying)
        except (errors.OperationalError, errors.InterfaceError):
            self._retrying = True  # the commit may have landed before the line broke
            raise
        except (errors.Error, *_VALUE_ERRORS) as e:  # some row is refused: find which
            _log.error("store %s: a batch was refused (%s); writing its rows one by one",
                       self.location, _message(e))
            self._write(results, events, changes, copy=False, one_by_one=True)
        self._retrying = False

    def _write(self, results: list[tuple[Any, ...]], events: list[tuple[Any, ...]],
               changes: list[TargetRecord | str], *, copy: bool,
               one_by_one: bool = False) -> None:
        q = self._q
        with (self._pool.connection() as conn, self._deadline(conn), conn.transaction(),
              conn.cursor() as cur):
            for rows, copy_sql, insert_sql, types in (
                    (results, q.copy_results, q.insert_result, _RESULT_TYPES),
                    (events, q.copy_events, q.insert_event, _EVENT_TYPES)):
                if not rows:
                    continue
                if one_by_one:
                    for row in rows:
                        self._insert_or_refuse(conn, insert_sql, row)
                elif copy:
                    with cur.copy(copy_sql) as out:
                        out.set_types(types)
                        for row in rows:
                            out.write_row(row)
                else:  # idempotent: rows a lost commit kept are skipped
                    cur.executemany(insert_sql, rows)
            for change in changes:
                if isinstance(change, TargetRecord):
                    cur.execute(q.save_target, (change.ref.id, change.ref.name,
                                                change.created_ns))
                else:  # removed: like ``docker rm``, its results go; events age out
                    cur.execute(q.remove_target, (change,))
                    cur.execute(q.remove_results, (change,))

    def _insert_or_refuse(self, conn: psycopg.Connection[Any], insert_sql: bytes,
                          row: tuple[Any, ...]) -> None:
        errors = self._errors
        try:
            with conn.transaction():  # a savepoint: a refused row leaves the others
                conn.execute(insert_sql, row)
        except (errors.DataError, errors.IntegrityError, errors.ProgrammingError,
                *_VALUE_ERRORS) as e:
            self.refused += 1
            _log.error("store %s: refused the row at position %s of %r at %s: %s",
                       self.location, row[0], row[2], row[3], _message(e))

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's test of a connection before handing it out: one that died while idle
        (a server restart, an outage) is replaced instead of failing the next write."""
        with self._deadline(conn):
            conn.execute("")

    def _deadline(self, conn: psycopg.Connection[Any]) -> AbstractContextManager[None]:
        """End ``conn`` if what it does takes longer than ``io_timeout``."""
        return io_deadline(conn, self._io_timeout, self.location)


@contextmanager
def io_deadline(conn: psycopg.Connection[Any], seconds: float, location: str) -> Iterator[None]:
    """End ``conn`` if what it does takes longer than ``seconds`` (libpq has no query
    timeout): the blocked call then fails as a lost connection."""
    timer = threading.Timer(seconds, _sever, (conn, location))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _sever(conn: psycopg.Connection[Any], location: str) -> None:
    """Shut the connection's socket down: the blocked call fails as a lost connection."""
    try:
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # already closed: nothing is stuck on it
        return
    _log.error("store %s: no answer in time; connection ended", location)


def _delete(conn: psycopg.Connection[Any], query: bytes, args: tuple[Any, ...],
            budget: int) -> int:
    if budget <= 0:
        return 0
    with conn.transaction():
        cursor = conn.execute(query, (*args, budget))
    return max(cursor.rowcount, 0)


def _storable_result(row: tuple[Any, ...]) -> tuple[Any, ...]:
    output: str = row[7]
    if "\x00" in output:
        row = (*row[:7], output.replace("\x00", "\ufffd"), *row[8:])
    return row


def _storable_event(row: tuple[Any, ...]) -> tuple[Any, ...]:
    data: str = row[5]
    if not data.isascii():  # a lone surrogate (a file name) has no UTF-8: escape it
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            row = (*row[:5], json.dumps(json.loads(data), separators=(",", ":")))
    return row


def _message(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@dataclass(frozen=True, slots=True)
class _Queries:
    max_seq: bytes
    targets: bytes
    results_page: bytes
    events_page: bytes
    results: bytes
    counts: bytes
    copy_results: bytes
    copy_events: bytes
    insert_result: bytes
    insert_event: bytes
    save_target: bytes
    remove_target: bytes
    remove_results: bytes
    prune_results_default: bytes
    prune_results_own: bytes
    prune_events: bytes
    count_edge: bytes


def _queries(schema: str, conn: psycopg.Connection[Any]) -> _Queries:
    """Every statement, with the schema quoted in, composed once."""
    from psycopg import sql

    def q(text: LiteralString) -> bytes:
        return sql.SQL(text).format(
            results=sql.Identifier(schema, "results"), events=sql.Identifier(schema, "events"),
            targets=sql.Identifier(schema, "targets"),
            rcols=sql.SQL(", ").join(map(sql.Identifier, RESULT_COLUMNS)),
            ecols=sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS)),
            rargs=sql.SQL(", ").join([sql.Placeholder()] * len(RESULT_COLUMNS)),
            eargs=sql.SQL(", ").join([sql.Placeholder()] * len(EVENT_COLUMNS)),
        ).as_bytes(conn)

    page: LiteralString = (
        "WHERE seq <= %s AND time_ns >= %s AND time_ns <= %s AND (time_ns, seq) > (%s, %s) "
        "ORDER BY time_ns, seq LIMIT %s")
    in_range: LiteralString = "WHERE target_id = %s AND time_ns >= %s AND time_ns <= %s"
    limited: LiteralString = " WHERE seq IN (SELECT seq FROM "
    return _Queries(
        max_seq=q("SELECT greatest((SELECT coalesce(max(seq), 0) FROM {results}), "
                  "(SELECT coalesce(max(seq), 0) FROM {events}))"),
        targets=q("SELECT id, name, created_ns FROM {targets} ORDER BY created_ns, id"),
        results_page=q("SELECT {rcols} FROM {results} " + page),
        events_page=q("SELECT {ecols} FROM {events} " + page),
        results=q("SELECT {rcols} FROM {results} " + in_range
                  + " ORDER BY time_ns DESC LIMIT %s"),  # one target's times never tie
        counts=q("SELECT count(*), count(*) FILTER (WHERE exit_code = 0) FROM {results} "
                 + in_range),
        copy_results=q("COPY {results} ({rcols}) FROM STDIN (FORMAT BINARY)"),
        copy_events=q("COPY {events} ({ecols}) FROM STDIN (FORMAT BINARY)"),
        insert_result=q("INSERT INTO {results} ({rcols}) VALUES ({rargs}) "
                        "ON CONFLICT (seq) DO NOTHING"),
        insert_event=q("INSERT INTO {events} ({ecols}) VALUES ({eargs}) "
                       "ON CONFLICT (seq) DO NOTHING"),
        save_target=q("INSERT INTO {targets} (id, name, created_ns) VALUES (%s, %s, %s) "
                      "ON CONFLICT (id) DO UPDATE "
                      "SET name = excluded.name, created_ns = excluded.created_ns"),
        remove_target=q("DELETE FROM {targets} WHERE id = %s"),
        remove_results=q("DELETE FROM {results} WHERE target_id = %s"),
        prune_results_default=q(
            "DELETE FROM {results}" + limited + "{results} WHERE time_ns < %s "
            "AND target_id <> ALL(%s) LIMIT %s)"),
        prune_results_own=q("DELETE FROM {results}" + limited + "{results} "
                            "WHERE target_id = %s AND time_ns < %s LIMIT %s)"),
        prune_events=q("DELETE FROM {events}" + limited + "{events} WHERE time_ns < %s "
                       "LIMIT %s)"),
        count_edge=q("SELECT time_ns FROM {results} WHERE target_id = %s "
                     "ORDER BY time_ns DESC LIMIT 1 OFFSET %s"),
    )


__all__ = ["PostgresStore", "drop_schema", "io_deadline", "split_url"]
