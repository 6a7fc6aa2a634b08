"""The history store: write rate through the daemon's writer, a week's history query, and
probe lateness with the store on.

    python bench/store.py [--quick] [--url postgresql://...] [--rows 300000] [--services 1000]

Every figure is printed with a baseline measured in the same run (the machine is shared):

1. **writes**: ``--rows`` probe results (``ProbeCompleted`` of 1,000 services, short
   output) appended as the engine does (``append_event`` on this thread) into a fresh
   ``SqliteStore`` in a temporary directory, timed until ``flush()`` says all are
   committed: the sustained rate of the daemon's writer (one thread, up to 5,000 rows per
   transaction, WAL, ``synchronous=NORMAL``). Baseline: a plain loop of single-row inserts
   with the same driver and settings, one commit each. With ``--url`` (and
   ``vigil.store.postgres`` importable), the same against PostgreSQL and a psycopg loop,
   and below the history and lateness runs on PostgreSQL too, each in a schema of its own
   that is dropped afterwards.
2. **history query**: one service with one result per second for 7 days (604,800 rows,
   bulk-loaded) in SQLite; the time of what ``vigil history --since 7d`` asks (the newest
   1,000 of the week), of its uptime over the week (``result_counts``), and, for scale, of
   reading every one of the week's rows as results. Each is the best of 5.
3. **lateness**: ``bench/daemon.py``'s probe run (``--services`` watched services probing
   ``true`` every 1 s, lateness of probe starts against Docker's schedule) on a daemon
   with the SQLite store (the default) against the same with ``VIGIL_STORE=memory``.

Everything runs in a temporary directory; every loop is bounded in rows or time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import daemon as daemon_bench  # bench/daemon.py: the probe-lateness run

from vigil.core.events import ProbeCompleted, TargetRef
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.store import DurableStore, open_store
from vigil.store.codec import RESULT_COLUMNS, result_row
from vigil.store.sqlite import SqliteStore

SECOND = 1_000_000_000
WEEK_S = 7 * 24 * 3600
GOAL_ROWS_S = 20_000
GOAL_QUERY_MS = 200.0
BASELINE_LIMIT_S = 5.0  # the single-row loop runs at most this long
_INSERT = (f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES "
           f"({', '.join('?' * len(RESULT_COLUMNS))})")


def _pg_schema(url: str) -> tuple[str, Callable[[], None]]:
    """``url`` with a fresh schema of its own, and what drops that schema."""
    schema = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    postgres: Any = importlib.import_module("vigil.store.postgres")
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}schema={schema}", lambda: postgres.drop_schema(url, schema)


@contextlib.contextmanager
def _postgres(url: str) -> Iterator[tuple[DurableStore | None, str]]:
    """A PostgreSQL store in a fresh schema, closed and dropped after, and its URL; None
    (and a line saying why) without the module or a server: the run goes on."""
    try:
        pg_url, drop = _pg_schema(url)
        store = open_store(pg_url)
    except Exception as exc:
        print(f"  PostgreSQL: skipped ({exc})")
        yield None, ""
        return
    assert isinstance(store, DurableStore)
    try:
        yield store, pg_url
    finally:
        store.close()
        drop()


def _refs(count: int) -> list[TargetRef]:
    return [TargetRef(f"{n:064x}", f"svc{n:05d}") for n in range(count)]


def _result(ref: TargetRef, t: int) -> ProbeCompleted:
    result = ProbeResult(t - 2_000_000, t, 0, "ok\n", Outcome.PASS)
    return ProbeCompleted(ref, t, result, HealthStatus.HEALTHY, 0)


def _events(rows: int, services: int = 1000) -> list[ProbeCompleted]:
    refs = _refs(services)
    base = 1_700_000_000 * SECOND
    return [_result(refs[n % services], base + n * 1_000) for n in range(rows)]


def writer_rate(store: DurableStore, events: list[ProbeCompleted]) -> tuple[float, float]:
    """(rows/s until committed, the loop's own seconds per append in µs)."""
    append = store.append_event
    started = time.perf_counter()
    for event in events:
        append(event)
    appended = time.perf_counter()
    if not store.flush(timeout_s=600):
        raise RuntimeError(f"the store did not commit: {store.problem}")
    done = time.perf_counter()
    return len(events) / (done - started), (appended - started) / len(events) * 1e6


def sqlite_single_rows(path: Path, events: list[ProbeCompleted]) -> float:
    """Rows/s of one INSERT and one COMMIT per row, same file settings as the store's."""
    SqliteStore(path).close()  # the same schema and pragmas
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    count = 0
    started = time.perf_counter()
    deadline = started + BASELINE_LIMIT_S
    for seq, event in enumerate(events, start=1):
        db.execute("BEGIN")
        db.execute(_INSERT, result_row(seq, event))
        db.execute("COMMIT")
        count += 1
        if count % 500 == 0 and time.perf_counter() > deadline:
            break
    rate = count / (time.perf_counter() - started)
    db.close()
    return rate


def postgres_single_rows(url: str, events: list[ProbeCompleted]) -> float:
    psycopg: Any = importlib.import_module("psycopg")
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TEMP TABLE bench_results (seq BIGINT PRIMARY KEY, target_id TEXT, "
                   "target_name TEXT, time_ns BIGINT, start_ns BIGINT, end_ns BIGINT, "
                   "exit_code BIGINT, output TEXT, outcome TEXT, status TEXT, "
                   "failing_streak BIGINT)")
        insert = (f"INSERT INTO bench_results VALUES "
                  f"({', '.join(['%s'] * len(RESULT_COLUMNS))})")
        count = 0
        started = time.perf_counter()
        deadline = started + BASELINE_LIMIT_S
        for seq, event in enumerate(events, start=1):
            db.execute(insert, result_row(seq, event))
            count += 1
            if count % 500 == 0 and time.perf_counter() > deadline:
                break
        return count / (time.perf_counter() - started)


def report_writes(tmp: Path, rows: int, url: str | None) -> None:
    events = _events(rows)
    store = SqliteStore(tmp / "writes.db")
    try:
        rate, per_append = writer_rate(store, events)
        transactions = store.writer.transactions
    finally:
        store.close()
    single = sqlite_single_rows(tmp / "single.db", events)
    print(f"\nwrites: {rows:,} probe results of 1,000 services")
    print(f"  SQLite, the daemon's writer     {rate:10,.0f} rows/s  ({transactions} "
          f"transactions; the loop spent {per_append:.2f} µs per append)")
    print(f"    baseline: single-row inserts  {single:10,.0f} rows/s   ratio "
          f"{rate / single:.1f}x   goal >= {GOAL_ROWS_S:,}/s: "
          f"{daemon_bench.verdict(rate >= GOAL_ROWS_S)}")
    if url is None:
        return
    with _postgres(url) as (pg_store, _):
        if pg_store is None:
            return
        pg_rate, pg_append = writer_rate(pg_store, events)
    pg_single = postgres_single_rows(url, events)
    print(f"  PostgreSQL, the daemon's writer {pg_rate:10,.0f} rows/s  (the loop spent "
          f"{pg_append:.2f} µs per append)")
    print(f"    baseline: single-row inserts  {pg_single:10,.0f} rows/s   ratio "
          f"{pg_rate / pg_single:.1f}x")


def best_ms(call: Callable[[], object], runs: int = 5) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        value = call()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best, value


def report_history(tmp: Path, url: str | None) -> None:
    path = tmp / "week.db"
    SqliteStore(path).close()
    ref = _refs(1)[0]
    now = 1_800_000_000 * SECOND
    start = now - WEEK_S * SECOND
    db = sqlite3.connect(path, isolation_level=None)
    loaded = time.perf_counter()
    chunk = 50_000
    for first in range(0, WEEK_S, chunk):
        db.execute("BEGIN")
        db.executemany(_INSERT, (
            result_row(n + 1, _result(ref, start + (n + 1) * SECOND))
            for n in range(first, min(first + chunk, WEEK_S))))
        db.execute("COMMIT")
    loaded = time.perf_counter() - loaded
    db.close()
    print(f"\nhistory: one service, one result per second for 7 days ({WEEK_S:,} rows)")
    store = SqliteStore(path)
    try:
        _history_figures(f"SQLite (loaded in {loaded:.1f} s)", store, ref, now)
    finally:
        store.close()
    if url is None:
        return
    with _postgres(url) as (pg_store, pg_url):
        if pg_store is None:
            return
        loaded = time.perf_counter()
        for n in range(WEEK_S):  # through the store's own writer, within its queue's bound
            pg_store.append_event(_result(ref, start + (n + 1) * SECOND))
            if n % 100_000 == 99_999 and not pg_store.flush(timeout_s=600):
                raise RuntimeError(f"the store did not commit: {pg_store.problem}")
        if not pg_store.flush(timeout_s=600):
            raise RuntimeError(f"the store did not commit: {pg_store.problem}")
        loaded = time.perf_counter() - loaded
        psycopg: Any = importlib.import_module("psycopg")
        with psycopg.connect(url, autocommit=True) as db:  # what autovacuum does in time
            db.execute(f'VACUUM ANALYZE "{pg_url.rpartition("schema=")[2]}".results')
        _history_figures(f"PostgreSQL (loaded in {loaded:.1f} s, then VACUUM ANALYZE)",
                         pg_store, ref, now)


def _history_figures(label: str, store: DurableStore, ref: TargetRef, now: int) -> None:
    since = now - WEEK_S * SECOND
    newest_ms, newest = best_ms(lambda: store.results(ref.id, since, now, 1000))
    counts_ms, counts = best_ms(lambda: store.result_counts(ref.id, since, now))
    every_ms, every = best_ms(lambda: store.results(ref.id, since, now), runs=2)
    assert isinstance(newest, list)
    assert isinstance(every, list)
    print(f"  {label}")
    print(f"  newest 1,000 of the week (vigil history --since 7d)  {newest_ms:8.1f} ms  "
          f"({len(newest)} rows)  goal <= {GOAL_QUERY_MS:g} ms: "
          f"{daemon_bench.verdict(newest_ms <= GOAL_QUERY_MS)}")
    print(f"  uptime over the week (result_counts)                {counts_ms:8.1f} ms  "
          f"({counts})  goal <= {GOAL_QUERY_MS:g} ms: "
          f"{daemon_bench.verdict(counts_ms <= GOAL_QUERY_MS)}")
    print(f"  for scale: every result of the week as objects      {every_ms:8.1f} ms  "
          f"({len(every):,} rows)")


def report_lateness(tmp: Path, args: argparse.Namespace) -> None:
    runs = {}
    stores = [("memory", "memory"), ("sqlite", "")]
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if args.url:
        pg_url, drop = _pg_schema(args.url)
        stores.append(("postgresql", pg_url))
    for label, store in stores:
        options = SimpleNamespace(services=args.services, flippers=1, flip=10.0,
                                  warmup=args.warmup, seconds=args.seconds)
        workdir = tmp / f"late-{label}"
        workdir.mkdir()
        original = daemon_bench.daemon

        def with_store(config: Path, work: Path, *, store: str = store,
                       original: Any = original, **kwargs: Any) -> Any:
            env = {"VIGIL_STORE": store} if store else {}
            return original(config, work, extra_env=env, **kwargs)

        daemon_bench.daemon = with_store  # type: ignore[assignment]
        try:
            runs[label] = daemon_bench.run_probes(workdir, options)
        finally:
            daemon_bench.daemon = original
    drop()
    memory = daemon_bench.Spread.of_ns(runs["memory"].lateness_ns)
    sqlite = daemon_bench.Spread.of_ns(runs["sqlite"].lateness_ns)
    print(f"\nlateness of probe starts, {args.services} services every 1 s, {args.seconds:g} s "
          f"measured after {args.warmup:g} s")
    print(f"  store: SQLite (default)   {sqlite.text()}  daemon CPU "
          f"{runs['sqlite'].daemon_cpu:.2f} cores")
    print(f"    baseline: memory store  {memory.text()}  daemon CPU "
          f"{runs['memory'].daemon_cpu:.2f} cores")
    if "postgresql" in runs:
        postgres = daemon_bench.Spread.of_ns(runs["postgresql"].lateness_ns)
        print(f"  store: PostgreSQL         {postgres.text()}  daemon CPU "
              f"{runs['postgresql'].daemon_cpu:.2f} cores  ratio p99 to memory "
              f"{daemon_bench.ratio(postgres.p99, memory.p99)}")
    met = daemon_bench.verdict(sqlite.p99 <= daemon_bench.GOAL_MS)
    print(f"    ratio p50 {daemon_bench.ratio(sqlite.p50, memory.p50)}  p99 "
          f"{daemon_bench.ratio(sqlite.p99, memory.p99)}   goal p99 <= "
          f"{daemon_bench.GOAL_MS:g} ms: {met}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about 1 minute)")
    parser.add_argument("--rows", type=int, default=300_000, help="results written")
    parser.add_argument("--url", help="also PostgreSQL, e.g. postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--services", type=int, default=1000, help="for the lateness run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not counted")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--only", choices=["all", "writes", "history", "lateness"],
                        default="all")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.services = min(args.rows, 100_000), min(args.services, 300)
        args.warmup, args.seconds = 3.0, 8.0
    args.rows = min(max(args.rows, 1000), 5_000_000)
    args.services = min(max(args.services, 1), 5000)
    args.warmup = min(max(args.warmup, 1.0), 30.0)
    args.seconds = min(max(args.seconds, 2.0), 60.0)
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-store-") as name:
        tmp = Path(name)
        if args.only in ("all", "writes"):
            report_writes(tmp, args.rows, args.url)
        if args.only in ("all", "history"):
            report_history(tmp, args.url)
        if args.only in ("all", "lateness"):
            report_lateness(tmp, args)
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
