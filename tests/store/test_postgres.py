"""The PostgreSQL store beyond the contract suite: its URL and schema, concurrent migration,
hostile values, and outages (the server cut off or silent, through a proxy the test holds),
against the real server at 127.0.0.1:5432. Each test uses a schema of its own, dropped after
it; without a server or psycopg every test here skips with one line saying why."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.postgres import SERVER, URL, require_postgres
from tests.store.tcpproxy import TcpProxy

from vigil.core.events import ProbeCompleted, TargetDied, TargetRef, TargetStarted
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.exceptions import StoreError
from vigil.go.duration import SECOND
from vigil.store import open_store
from vigil.store.pgschema import first_schema
from vigil.store.schema import VERSION

A = TargetRef("a" * 64, "a")
T0 = 1_700_000_000 * SECOND
DEADLINE_S = 60.0  # only a broken store waits this long


@pytest.fixture
def pg() -> Any:
    return require_postgres()


@pytest.fixture
def schema(pg: Any) -> Iterator[str]:
    name = f"vigil_pg_{uuid.uuid4().hex[:12]}"
    yield name
    pg.drop_schema(URL, name)


@pytest.fixture
def proxy(pg: Any) -> Iterator[TcpProxy]:
    with TcpProxy(SERVER) as p:
        yield p


def _result(t: int, code: int = 0, output: str = "") -> ProbeCompleted:
    outcome = Outcome.PASS if code == 0 else Outcome.FAIL
    return ProbeCompleted(A, T0 + t, ProbeResult(T0 + t - 5, T0 + t, code, output, outcome),
                          HealthStatus.HEALTHY, 0)


def _caught_up(store: Any) -> bool:
    """Wait until everything appended is written: ``flush`` gives up after each failed
    write, and the first writes after an outage may fail while connections come back."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if store.flush(DEADLINE_S):
            return True
    return False


def _query(sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(URL) as conn:
        return conn.execute(sql.encode()).fetchall()


# -- URL, schema, migrations -----------------------------------------------------------------


def test_schema_comes_from_the_url_or_search_path_else_vigil(pg: Any, schema: str) -> None:
    import psycopg

    from vigil.store.pgschema import chosen_schema

    app = f"vigil-test-{schema}"
    store = open_store(f"{URL}?schema={schema}&application_name={app}")
    try:
        assert store.schema == schema  # type: ignore[attr-defined]
        assert store.location.endswith(f"(schema {schema})")  # type: ignore[attr-defined]
        store.append_event(TargetStarted(A, T0))
        assert store.flush(DEADLINE_S)  # its pool's connections carry the other parameters
        assert _query(f"SELECT count(*) > 0 FROM pg_stat_activity "
                      f"WHERE application_name = '{app}'") == [(True,)]
    finally:
        store.close()
    store = pg.PostgresStore(f"{URL}?options=-csearch_path%3D{schema}")
    try:
        assert store.schema == schema
        assert store.events() == [TargetStarted(A, T0)]  # the same tables
    finally:
        store.close()
    with psycopg.connect(URL) as conn:  # nothing chosen: vigil's own schema
        assert chosen_schema(conn) == "vigil"
    assert first_schema('"$user", public', False, "postgres") == "public"
    assert first_schema('"$user", public', True, "postgres") == "postgres"
    assert first_schema('"My ""odd"" one",x', False, "u") == 'My "odd" one'
    assert first_schema("pg_catalog, Mixed", False, "u") == "mixed"
    assert first_schema("", False, "u") is None


def test_the_url_reaches_libpq_as_written_but_for_schema(pg: Any) -> None:
    assert pg.split_url("postgresql:///test?host=/var/run/postgresql&schema=a%20b"
                        "&password=x+y%26z") == (
        "postgresql:///test?host=/var/run/postgresql&password=x+y%26z", "a b")
    assert pg.split_url("postgres://u:p@h/db") == ("postgres://u:p@h/db", None)


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://x@localhost/db", "the scheme must be postgresql://"),
    ("postgresql:x", "the scheme must be postgresql://"),
    ("postgresql://[", "IPv6 host address"),
    ("postgres://\udcff@127.0.0.1/test", "must be valid Unicode"),
    (f"{URL}?foo=bar", 'invalid URI query parameter: "foo"'),
    (f"{URL}?schema=a&schema=b", "schema is given 2 times"),
    (f"{URL}?schema=" + "x" * 64, "must be 1 to 63 bytes"),
    (f"{URL}?schema=", "must be 1 to 63 bytes"),
    (f"{URL}?schema=%00", "must be 1 to 63 bytes"),
])
def test_bad_urls_are_refused_naming_the_problem(pg: Any, url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        pg.PostgresStore(url)


def test_an_unreachable_server_is_a_store_error_without_the_password(pg: Any) -> None:
    with socket.socket() as holder:  # a loopback port nobody listens on
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    for url in (f"postgresql://postgres:s3cret@127.0.0.1:{port}/test",
                f"postgresql://127.0.0.1:{port}/test?user=postgres&password=s3cret"):
        with pytest.raises(StoreError) as caught:
            pg.PostgresStore(url)
        assert "s3cret" not in str(caught.value)
        assert f"127.0.0.1:{port}" in str(caught.value)


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                          pg: Any) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"pip install 'vigil\[postgresql\]'"):
        pg.PostgresStore(URL)


def test_daemons_starting_at_once_migrate_once(pg: Any, schema: str) -> None:
    url = f"{URL}?schema={schema}"
    opened: list[Any] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(pg.PostgresStore(url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
    for store in opened:
        store.close()
    assert failures == []
    assert len(opened) == 6
    assert _query(f'SELECT version FROM "{schema}".vigil_schema') == [(VERSION,)]


def test_a_schema_from_a_newer_vigil_is_refused_untouched(pg: Any, schema: str) -> None:
    pg.PostgresStore(f"{URL}?schema={schema}").close()
    _query(f'UPDATE "{schema}".vigil_schema SET version = {VERSION + 1} RETURNING version')
    with pytest.raises(StoreError, match="newer than this vigil"):
        pg.PostgresStore(f"{URL}?schema={schema}")
    assert _query(f'SELECT version FROM "{schema}".vigil_schema') == [(VERSION + 1,)]


def test_any_schema_name_is_quoted(pg: Any) -> None:
    odd = f'x"; DROP TABLE y; -- {uuid.uuid4().hex[:8]}'
    store = pg.PostgresStore(URL, schema=odd)
    try:
        store.append_event(TargetStarted(A, T0))
        assert store.events() == [TargetStarted(A, T0)]
    finally:
        store.close()
        pg.drop_schema(URL, odd)


# -- values ----------------------------------------------------------------------------------


def test_hostile_values_are_kept_or_refused_and_counted(pg: Any, schema: str) -> None:
    store = pg.PostgresStore(URL, schema=schema)
    try:
        odd = TargetDied(A, T0 + 1, exit_code=1, error="exec /tmp/\udcff: no such file \x00")
        store.append_event(odd)
        store.append_event(_result(2, output="a\x00b"))
        store.append_event(TargetStarted(A, 1 << 63))  # beyond BIGINT: refused
        store.append_event(TargetStarted(A, T0 + 3))
        assert store.flush(DEADLINE_S)
        assert store.events()[0] == odd  # a lone surrogate and a NUL in JSON round-trip
        assert [e.result.output for e in store.results(A.id)] == ["a\ufffdb"]
        assert [e.time_ns for e in store.events(since_ns=T0 + 3)] == [T0 + 3]
        assert store.refused == 1
        assert "1 rows were refused" in store.problem
    finally:
        store.close()


# -- outages -----------------------------------------------------------------------------------


@contextmanager
def _via(proxy: TcpProxy, schema: str, **options: Any) -> Iterator[Any]:
    """A store that reaches the server through ``proxy``, closed after."""
    from vigil.store.postgres import PostgresStore

    url = urlunsplit(urlsplit(URL)._replace(netloc=f"postgres@127.0.0.1:{proxy.port}",
                                            query=f"schema={schema}"))
    store = PostgresStore(url, io_timeout=options.pop("io_timeout", 2.0), **options)
    try:
        yield store
    finally:
        store.close()


def _outage(store: Any, begin: Callable[[], None]) -> None:
    """Write the result at 0, take the server away with ``begin``, append the one at 1 and
    wait until its write has failed."""
    store.append_event(_result(0))
    assert store.flush(DEADLINE_S)
    begin()
    store.append_event(_result(1))
    assert not store.flush(DEADLINE_S)  # a write failed (or was cut off): the rows wait
    assert "are failing" in store.problem


def test_a_cut_buffers_reports_and_catches_up_with_nothing_lost(
        proxy: TcpProxy, schema: str, caplog: pytest.LogCaptureFixture) -> None:
    with _via(proxy, schema) as store:
        with caplog.at_level(logging.ERROR, logger="vigil"):
            _outage(store, proxy.cut)
            for t in range(2, 1001):
                store.append_event(_result(t, t % 3))
            assert "rows wait to be written" in store.problem
        assert any("cannot write history" in r.getMessage() for r in caplog.records)
        proxy.restore()
        assert _caught_up(store)
        assert store.problem is None
        assert store.result_counts(A.id) == (2 + 333, 1001)  # 0, 1 and t % 3 == 0 passed
        assert [e.time_ns - T0 for e in store.results(A.id)] == list(range(1001))


def test_past_the_bound_rows_are_counted_as_lost_never_silently(
        proxy: TcpProxy, schema: str) -> None:
    with _via(proxy, schema, pending_limit=5000) as store:
        _outage(store, proxy.cut)
        for t in range(2, 12_001):  # past the bound even with a full batch in flight
            store.append_event(_result(t))
        lost = store.writer.lost
        assert lost >= 12_000 - 2 * 5000  # t = 1 .. 12,000 waited
        assert f"{lost} rows were not kept" in store.problem
        proxy.restore()
        assert _caught_up(store)
        kept = 12_001 - lost
        assert store.result_counts(A.id) == (kept, kept)
        times = [e.time_ns for e in store.results(A.id)]
        assert times == sorted(set(times))  # what was kept, in order, once


def test_a_silent_server_is_cut_off_and_caught_up_after(
        proxy: TcpProxy, schema: str) -> None:
    with _via(proxy, schema, io_timeout=1.0) as store:
        _outage(store, proxy.blackhole)  # returns: the stuck write was ended, not waited on
        proxy.restore()
        assert _caught_up(store)
        assert [e.time_ns - T0 for e in store.results(A.id)] == [0, 1]


def test_reads_during_an_outage_fail_with_a_store_error(proxy: TcpProxy, schema: str) -> None:
    with _via(proxy, schema, io_timeout=1.0) as store:
        proxy.cut()
        with pytest.raises(StoreError, match=f"127.0.0.1:{proxy.port}"):
            store.result_counts(A.id)
        proxy.restore()
        store.append_event(_result(0))
        assert _caught_up(store)
        assert store.result_counts(A.id) == (1, 1)


def test_closing_during_an_outage_reports_what_was_not_written(
        proxy: TcpProxy, schema: str, caplog: pytest.LogCaptureFixture) -> None:
    with _via(proxy, schema, io_timeout=1.0) as store:
        _outage(store, proxy.cut)
        with caplog.at_level(logging.ERROR, logger="vigil"):
            store.close()  # bounded: one more try, then give up and say so
        assert any("closed with 1 rows not written" in r.getMessage()
                   for r in caplog.records)


def test_a_retry_after_a_lost_commit_does_not_double_rows(pg: Any, schema: str) -> None:
    store = pg.PostgresStore(URL, schema=schema)
    try:
        event = _result(0)
        store.append_event(event)
        assert store.flush(DEADLINE_S)
        store._retrying = True  # as after a connection lost with its COMMIT in flight
        store._write_rows([(1, event)])
        assert store.result_counts(A.id) == (1, 1)
        assert store.problem is None
    finally:
        store.close()
