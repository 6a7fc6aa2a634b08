"""The PostgreSQL store against a plain loop of the same driver: results/s written, and the
history queries of one service over a week of one result per second.

    python bench/store_postgres.py [--url postgresql://postgres@127.0.0.1:5432/test]
                                   [--results 200000] [--days 7]

In one run, in a schema of its own (dropped at the end):

1. **baseline**: a plain loop of single-row ``INSERT``s (autocommit) with psycopg into a table
   of the same shape, for 3 s: what one naive writer gets from this server;
2. **store**: ``PostgresStore.append_event`` of ``--results`` results from this thread (as
   the event loop would), then ``flush``: results/s through the writer thread's COPY
   batches, and its ratio to the baseline; also the time ``append_event`` took (what the
   loop pays);
3. **history**: ``--days`` days of one result per second for one service (604,800 for 7)
   among others, then the time of ``result_counts`` (uptime) over the whole week and over
   the last day, ``results(limit=100)`` (the newest) and ``results`` of the last hour; each
   the median of 5 runs.

Every loop is bounded in count; the schema is dropped even on failure.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import psycopg

from vigil.core.events import ProbeCompleted, TargetRef
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.store.postgres import PostgresStore, drop_schema

SECOND = 1_000_000_000
DAY = 86_400 * SECOND


def _result(ref: TargetRef, t: int, code: int = 0) -> ProbeCompleted:
    outcome = Outcome.PASS if code == 0 else Outcome.FAIL
    return ProbeCompleted(ref, t, ProbeResult(t - 3_000_000, t, code, "ok\n", outcome),
                          HealthStatus.HEALTHY, 0)


def _baseline(url: str, schema: str, seconds: float = 3.0) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".plain (seq bigint PRIMARY KEY, target_id text, '
                     "target_name text, time_ns bigint, start_ns bigint, end_ns bigint, "
                     "exit_code bigint, output text, outcome text, status text, "
                     "failing_streak bigint)".encode())
        insert = (f'INSERT INTO "{schema}".plain VALUES '
                  "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)").encode()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds and done < 10_000_000:
            done += 1
            conn.execute(insert, (done, "a" * 64, "a", done, done, done, 0, "ok\n", "pass",
                                  "healthy", 0))
        return done / (time.perf_counter() - start)


def _median_ms(call: object, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--results", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    count = max(1_000, min(args.results, 5_000_000))
    days = max(1, min(args.days, 31))
    schema = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    store = PostgresStore(args.url, schema=schema)
    try:
        plain = _baseline(args.url, schema)
        ref = TargetRef("b" * 64, "bench")
        t0 = 1_700_000_000 * SECOND
        events = [_result(ref, t0 + i) for i in range(count)]
        start = time.perf_counter()
        for event in events:
            store.append_event(event)
        appended = time.perf_counter() - start
        assert store.flush(600), store.problem
        written = time.perf_counter() - start
        rate = count / written
        print(f"baseline: single-row INSERT loop   {plain:10,.0f} rows/s")
        print(f"store:    writer (COPY batches)    {rate:10,.0f} results/s  "
              f"ratio {rate / plain:.1f}x  ({count:,} results, "
              f"append_event {appended / count * 1e6:.2f} us each)")

        week = TargetRef("c" * 64, "week")
        end = t0 + days * DAY
        for t in range(t0, end, SECOND):
            store.append_event(_result(week, t, 0 if (t // SECOND) % 97 else 1))
        assert store.flush(600), store.problem
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f'VACUUM ANALYZE "{schema}".results'.encode())
        rows = days * 86_400
        print(f"history:  {rows:,} results of one service over {days} d "
              f"(+{count:,} of another)")
        for label, call in (
            (f"result_counts over {days} d", lambda: store.result_counts(week.id, t0, end)),
            ("result_counts over the last day",
             lambda: store.result_counts(week.id, end - DAY, end)),
            ("results(limit=100), the newest", lambda: store.results(week.id, limit=100)),
            ("results of the last hour (3,600)",
             lambda: store.results(week.id, end - 3600 * SECOND, end)),
        ):
            print(f"  {label:36} {_median_ms(call):8.1f} ms (median of 5)")
        full = _median_ms(lambda: store.results(week.id, t0, end), runs=1)
        print(f"  {f'results over {days} d (every row)':36} {full:8.1f} ms (one run)")
    finally:
        store.close()
        drop_schema(args.url, schema)


if __name__ == "__main__":
    main()
