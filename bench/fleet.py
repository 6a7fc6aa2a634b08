"""Fleet mode on one machine: N ``vigil up`` agents (processes) × M shared HTTP checks
against a local server, on the PostgreSQL at ``--url``, in a fleet schema of this run's
own (dropped afterwards).

    python bench/fleet.py [--agents 20] [--checks 5000] [--services 5] [--interval 30s]
                          [--lease-ttl 10s] [--measure 30] [--url postgresql://...]

Printed, in one run:

1. **store writes/s**: rows the database inserted per second during ``--measure`` seconds
   of steady state (``pg_stat_database.tup_inserted``: history, states, leases, health), and
   the history rows (results and events) the agents wrote, from their schemas; baseline: the
   probes the fleet should run in that time (``checks / interval`` plus the local services).
2. **PostgreSQL CPU share**: CPU seconds of every ``postgres`` process (``/proc``) over the
   window, as a share of the machine (all cores) and of all CPU the agents and the server
   used together.
3. **probe lateness p99** of each agent: how much later than Docker's schedule (the previous
   probe's end + interval) each probe of its shared checks started, from the results it
   wrote; with the median of those p99s.
4. **failover** after ``kill -9`` of the agent holding the most checks: per check it held,
   the time until another agent owned it (the ``checks`` table) and until the new owner's
   first probe started (its history), p50/p99, against the lease TTL (the bound is 2 × TTL
   for ownership).

Every wait is bounded; every agent is stopped by its PID, the HTTP server by closing its
stdin.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netbench import local_http_server

from vigil.client import Client
from vigil.go.duration import SECOND, parse_duration

DEFAULT_URL = os.environ.get("VIGIL_BENCH_POSTGRES_URL",
                             "postgresql://postgres@127.0.0.1:5432/test")
START_S = 180.0  # bound on bringing the fleet up (and on every other wait)
TICKS = os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _config(url: str, node: str, port: int, args: argparse.Namespace) -> str:
    lines = [f"fleet: {{url: '{url}', node: {node}, lease_ttl: {args.lease_ttl}}}",
             "services:"]
    lines += [f"  local{i}:\n    healthcheck:\n      test: [\"HTTP\", "
              f"\"http://127.0.0.1:{port}/{node}/{i}\"]\n      interval: 1s"
              for i in range(args.services)] or ["  {}"]
    lines.append("checks:")
    lines += [f"  c{i}:\n    test: [\"HTTP\", \"http://127.0.0.1:{port}/c/{i}\"]\n"
              f"    interval: {args.interval}" for i in range(args.checks)]
    return "\n".join(lines) + "\n"


def _cpu_of(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def _machine_cpu() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(v) for v in fields[:8]) / TICKS  # all cores, busy and idle


@contextlib.contextmanager
def _fleet_schema(url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    fleet = f"vigil_bench_{uuid.uuid4().hex[:10]}"
    try:
        yield fleet
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for (schema,) in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
                    (fleet, fleet + "\\_%")).fetchall():
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


class Agent:
    def __init__(self, workdir: Path, node: str, config: str) -> None:
        self.node = node
        self.workdir = workdir
        workdir.mkdir()
        (workdir / "vigil.yaml").write_text(config)
        self.host = f"unix://{workdir}/vigil.sock"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigil", "up", "-f", str(workdir / "vigil.yaml"),
             "--state-dir", str(workdir / "state")],
            env={**os.environ, "VIGIL_HOST": self.host}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=(workdir / "stderr").open("wb"))

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"agent {self.node} exited: "
                               f"{(self.workdir / 'stderr').read_text()[-2000:]}")
        try:
            with Client(self.host) as client:
                client.ping()
            return True
        except Exception:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _until(what: str, check: Any, bound_s: float = START_S, every_s: float = 0.2) -> float:
    """Seconds until ``check()`` is true (polled; bounded)."""
    start = time.monotonic()
    while time.monotonic() - start < bound_s:
        if check():
            return time.monotonic() - start
        time.sleep(every_s)
    raise RuntimeError(f"not within {bound_s:.0f} s: {what}")


def _query(url: str, text: Any, args: Any = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(text, args).fetchall()


def _node_schemas(url: str, fleet: str) -> dict[str, str]:
    from psycopg import sql

    return dict(_query(url, sql.SQL("SELECT node, schema FROM {}").format(
        sql.Identifier(fleet, "fleet_histories"))))


def _owned(url: str, fleet: str) -> dict[str, str | None]:
    from psycopg import sql

    rows = _query(url, sql.SQL("SELECT name, owner FROM {} WHERE expires_at > now() "
                               "OR owner IS NULL").format(sql.Identifier(fleet, "checks")))
    return dict(rows)


def _inserted(url: str) -> int:
    rows = _query(url, "SELECT tup_inserted FROM pg_stat_database "
                       "WHERE datname = current_database()")
    return int(rows[0][0])


def _history_rows(url: str, schemas: dict[str, str], since_ns: int, until_ns: int) -> int:
    from psycopg import sql

    total = 0
    for schema in schemas.values():
        for table in ("results", "events"):
            total += int(_query(url, sql.SQL(
                "SELECT count(*) FROM {} WHERE time_ns BETWEEN %s AND %s").format(
                    sql.Identifier(schema, table)), (since_ns, until_ns))[0][0])
    return total


def _lateness_p99(url: str, schema: str, since_ns: int, until_ns: int,
                  interval_ns: int) -> float | None:
    """p99 in ms of (start - (previous end + interval)) over the node's shared-check probes."""
    from psycopg import sql

    rows = _query(url, sql.SQL(
        "SELECT late FROM (SELECT start_ns, start_ns - lag(end_ns) OVER "
        "(PARTITION BY target_id ORDER BY start_ns) AS late FROM {} "
        "WHERE target_name LIKE 'check/%%' AND start_ns BETWEEN %s AND %s) AS gaps "
        "WHERE start_ns >= %s").format(sql.Identifier(schema, "results")),
        (since_ns - 2 * interval_ns, until_ns, since_ns))
    late = [max(0, int(r[0]) - interval_ns) / 1e6 for r in rows if r[0] is not None]
    return _percentile(late, 99) if late else None


def _failover(url: str, fleet: str, agents: list[Agent], ttl_s: float,
              interval_s: float) -> tuple[list[float], list[float], str, int]:
    from psycopg import sql

    owners = _owned(url, fleet)
    counts: dict[str, int] = {}
    for owner in owners.values():
        if owner:
            counts[owner] = counts.get(owner, 0) + 1
    victim_name = max(counts, key=lambda n: counts[n])
    victim = next(a for a in agents if a.node == victim_name)
    held = sorted(name for name, owner in owners.items() if owner == victim_name)
    targets = [f"check/{name}" for name in held]
    killed_at = time.time()
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait()
    killed_ns = int(killed_at * SECOND)
    moved: dict[str, float] = {}
    probed: dict[str, float] = {}
    bound = 3 * ttl_s + 2 * interval_s + 30

    def done() -> bool:
        now = time.time() - killed_at
        for name, owner in _owned(url, fleet).items():
            if name in held and owner not in (None, victim_name) and name not in moved:
                moved[name] = now
        for node, schema in _node_schemas(url, fleet).items():
            if node == victim_name:
                continue
            for target, first in _query(url, sql.SQL(
                    "SELECT target_name, min(start_ns) FROM {} WHERE start_ns > %s "
                    "AND target_name = ANY(%s) GROUP BY target_name").format(
                        sql.Identifier(schema, "results")), (killed_ns, targets)):
                name = str(target).removeprefix("check/")
                seconds = (int(first) - killed_ns) / SECOND
                probed[name] = min(probed.get(name, seconds), seconds)
        return len(moved) == len(held) and len(probed) == len(held)

    _until("every check of the killed agent probed by another", done, bound, every_s=0.25)
    return list(moved.values()), list(probed.values()), victim_name, len(held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--services", type=int, default=5, help="local services per agent")
    parser.add_argument("--interval", default="30s", help="of each shared check")
    parser.add_argument("--lease-ttl", default="10s")
    parser.add_argument("--measure", type=float, default=30.0, help="steady-state seconds")
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    interval_ns = parse_duration(args.interval)
    ttl_s = parse_duration(args.lease_ttl) / SECOND
    cores = os.cpu_count() or 1
    print(f"fleet bench: {args.agents} agents × {args.checks} shared HTTP checks every "
          f"{args.interval} (+{args.services} local services each, 1s), lease TTL "
          f"{args.lease_ttl}, {cores} cores")
    with (local_http_server() as port, _fleet_schema(args.url) as fleet,
          tempfile.TemporaryDirectory() as tmp):
        url = f"{args.url}?schema={fleet}"
        agents: list[Agent] = []
        try:
            started = time.monotonic()
            # Every agent defines the same checks and all start at once, as a fleet
            # deployed from one vigil.yaml does.
            for i in range(args.agents):
                node = f"a{i:02d}"
                agents.append(Agent(Path(tmp) / node, node, _config(url, node, port, args)))
            _until("every agent answering", lambda: all(a.ready() for a in agents))
            _until("every check owned", lambda: sum(
                1 for o in _owned(args.url, fleet).values() if o) == args.checks)
            print(f"  up: every agent answering and every check owned in "
                  f"{time.monotonic() - started:.1f} s")
            time.sleep(min(interval_ns / SECOND, 30))  # one interval: every check probed

            pg_pids = _postgres_pids()
            agent_pids = [a.process.pid for a in agents]
            since_ns = time.time_ns()
            inserted, pg_cpu, agent_cpu = _inserted(args.url), _cpu_of(pg_pids), \
                _cpu_of(agent_pids)
            machine, wall = _machine_cpu(), time.monotonic()
            time.sleep(args.measure)
            wall = time.monotonic() - wall
            inserted = _inserted(args.url) - inserted
            pg_cpu, agent_cpu = _cpu_of(pg_pids) - pg_cpu, _cpu_of(agent_pids) - agent_cpu
            machine = _machine_cpu() - machine
            until_ns = time.time_ns()
            schemas = _node_schemas(args.url, fleet)
            history = _history_rows(args.url, schemas, since_ns, until_ns)
            expected = args.checks * SECOND / interval_ns + args.agents * args.services
            print(f"  store writes: {inserted / wall:,.0f} rows/s inserted by the database; "
                  f"history {history / wall:,.0f} rows/s; baseline: {expected:,.0f} "
                  f"probes/s scheduled (ratio history/scheduled "
                  f"{history / wall / expected:.2f})")
            print(f"  PostgreSQL CPU: {pg_cpu / wall:.2f} cores = {pg_cpu / machine:.1%} of "
                  f"the machine; {pg_cpu / max(pg_cpu + agent_cpu, 1e-9):.1%} of the fleet's "
                  f"CPU (agents {agent_cpu / wall:.2f} cores)")
            p99s = {node: _lateness_p99(args.url, schema, since_ns, until_ns, interval_ns)
                    for node, schema in sorted(schemas.items())}
            shown = [f"{n} {v:.0f}" for n, v in p99s.items() if v is not None]
            values = [v for v in p99s.values() if v is not None]
            print(f"  probe lateness p99 per agent (ms): {', '.join(shown)}")
            print(f"  median of the p99s {_percentile(values, 50):.0f} ms, worst "
                  f"{max(values, default=float('nan')):.0f} ms (baseline: the interval, "
                  f"{interval_ns / 1e6:.0f} ms)")

            moved, probed, victim, held = _failover(
                args.url, fleet, agents, ttl_s, interval_ns / SECOND)
            print(f"  failover after kill -9 of {victim} ({held} checks): owned by another "
                  f"after p50 {_percentile(moved, 50):.1f} s / p99 "
                  f"{_percentile(moved, 99):.1f} s; first probe by it p50 "
                  f"{_percentile(probed, 50):.1f} s / p99 {_percentile(probed, 99):.1f} s "
                  f"(lease TTL {ttl_s:g} s; bound 2 × TTL = {2 * ttl_s:g} s)")
        finally:
            for agent in agents:
                if agent.process.poll() is None:
                    agent.process.send_signal(signal.SIGTERM)
            for agent in agents:
                agent.stop()


if __name__ == "__main__":
    main()
