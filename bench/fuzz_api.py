"""A hostile client against the daemon's API: random and mutated requests, counting 5xx
answers, dropped connections and tracebacks. The goal is 0 of each.

    python bench/fuzz_api.py [--requests 100000] [--seconds 300] [--workers 8] [--seed 1]
    python bench/fuzz_api.py --in-process        # the app in this process (ASGI), faster

As a user meets it: a real ``vigil up`` (a child of this script, on a unix socket in a
temporary directory, with an empty config), driven over one keep-alive connection per
worker by ``--workers`` concurrent workers sharing a small pool of service names, so that
creates, starts, stops, removes and inspects of one name race each other. Requests are
built by ``random_request``: every route, valid and broken parameters (filters JSON with
catastrophic regular expressions, lone surrogates, deep nesting, huge numbers), create bodies
mutated from valid entries (types swapped, keys dropped or added, surrogates, KEY-only
variables, over-long and invalid names), raw garbage, wrong Content-Types and cross-origin
requests. Services run real processes (``true``, ``sleep``, a missing binary).

Printed: requests, answers by status class, 5xx (with the first few), connections that
dropped, and the daemon's tracebacks and last-resort lines (``... failed: ...``) read from
its log. ``--in-process`` runs the same campaign against ``create_app`` through
``httpx.ASGITransport`` (no sockets, no keep-alive) and counts error log records instead.
Every wait is bounded; the daemon is stopped by its PID. ``tests/api/test_hostile.py`` runs
a few hundred of these requests in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

NAMES = ["web", "db", "web2", "x" * 128, "a.b-c_d"]
ACTIONS = ["start", "stop", "restart", "kill", "pause", "unpause", "wait", "logs", "json"]
COMMANDS: list[Any] = [["true"], ["sleep", "30"], ["sh", "-c", "echo hi; sleep 1"],
                       ["/nonexistent/binary"], "sleep 5", None]
EVIL_PATTERNS = ["(a+)+b", "(x+x+)+y", "^(a|aa)+$", "(", "\\C", "[[:alpha:]]", "(?P<n>x)",
                 "(?=x)", "a{1001}", "\\ud800", "." * 5000, "(((((((((a)))))))))*"]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, sometimes nasty."""
    pick = rng.randrange(14)
    if pick == 0:
        return rng.choice([None, True, False])
    if pick == 1:
        return rng.choice([0, -1, 2**63, -(2**63) - 1, 10**30, 1.5, -0.0, 1e308])
    if pick == 2:
        return "\ud800" if rng.random() < 0.5 else "a\udfffb"
    if pick == 3:
        return "x" * rng.choice([0, 1, 255, 4097, 70000])
    if pick == 4:
        return rng.choice(["0s", "-1s", "1ns", "99999999h", "abc", "1.5.5s", "\x00", "1e9s"])
    if pick == 5 and depth < 3:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 6 and depth < 3:
        return {rng.choice(["a", "test", "", "x-y", "\ud800"]): _junk(rng, depth + 1)}
    if pick == 7:
        return ["CMD", *rng.choice([[], ["true"], ["false"], [""], ["\x00"]])]
    if pick == 8:
        return rng.choice(["CMD-SHELL", "NONE", "CMD", "cmd", "SHELL"])
    if pick == 9:
        return rng.choice(["SIGKILL", "SIGFOO", "9", "-1", "0", "SIGRTMAX+1", "65"])
    if pick == 10:
        return rng.choice(["no", "always", "on-failure:-1", "on-failure:x", "unless-stopped"])
    return rng.choice(["", "web", "KEY", "KEY=v", "=x", "a=b=c", "/", "\n", "é"])


def _entry(rng: random.Random) -> dict[str, Any]:
    """A valid create body, most of the time."""
    entry: dict[str, Any] = {}
    command = rng.choice(COMMANDS)
    if command is not None:
        entry["command"] = command
    if rng.random() < 0.6:
        entry["healthcheck"] = {"test": ["CMD", "true"], "interval": "100ms",
                                "retries": rng.randrange(5)}
    if rng.random() < 0.3:
        entry["environment"] = rng.choice([{"A": "1"}, ["A=1", "B=2"], ["KEY"], {"K": None}])
    if rng.random() < 0.2:
        entry["restart"] = rng.choice(["no", "on-failure:2", "always"])
    if rng.random() < 0.2:
        entry["depends_on"] = rng.choice([["db"], {"db": {"condition": "service_healthy"}},
                                          ["web"], ["nope"]])
    return entry


def _mutate(rng: random.Random, entry: dict[str, Any]) -> Any:
    for _ in range(rng.randrange(3)):
        pick = rng.randrange(5)
        keys = list(entry)
        if pick == 0 and keys:
            del entry[rng.choice(keys)]
        elif pick == 1:
            entry[rng.choice(["command", "environment", "healthcheck", "user", "working_dir",
                              "shell", "restart", "stop_signal", "stop_grace_period",
                              "depends_on", "bogus", "x-ext"])] = _junk(rng)
        elif pick == 2 and isinstance(entry.get("healthcheck"), dict):
            entry["healthcheck"][rng.choice(["test", "interval", "timeout", "retries",
                                             "start_period", "start_interval", "disable",
                                             "dockerfile"])] = _junk(rng)
        elif pick == 3:
            return _junk(rng)
    return entry


def _raw_body(rng: random.Random) -> bytes:
    pick = rng.randrange(8)
    if pick == 0:
        return b"[" * 100_000 + b"]" * 100_000
    if pick == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if pick == 2:
        return b'{"command": ["echo", "\\ud800"]}'
    if pick == 3:
        return b'{"healthcheck": {"retries": 1' + b"0" * 5000 + b"}}"
    if pick == 4:
        return b'{"command": ' + json.dumps(["x"] * 20000).encode() + b"}"
    if pick == 5:
        return b'{"environment": ' + json.dumps([f"K{i}=v" for i in range(20000)]).encode() + b"}"
    if pick == 6:
        return b'{"command": ["true"]'  # truncated
    return b"\xff\xfe{}"


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


def _query(rng: random.Random) -> str:
    params: list[tuple[str, str]] = []
    for _ in range(rng.randrange(3)):
        key = rng.choice(["all", "filters", "t", "signal", "force", "tail", "follow",
                          "timestamps", "since", "until", "condition", "timeout", "name",
                          "stdout", "stderr", "bogus"])
        if key == "filters":
            value = json.dumps(rng.choice([
                {"name": [rng.choice(EVIL_PATTERNS)]}, {"health": ["healthy"]},
                {"status": ["nope"]}, {"exited": ["x"]}, {"bogus": ["1"]}, ["name"], 5,
                {"name": {"\ud800": True}}, {"id": [""]}, {"event": ["health_status"]},
            ]))
        else:
            value = str(rng.choice(["1", "0", "-1", "", "x", "9" * 30, "1s", "all", "healthy",
                                    "SIGTERM", "2026-01-01", "%ff", "\x00"]))
        params.append((key, value))
    return "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params)


def random_request(rng: random.Random, wait_timeout: str = "1s") -> Request:
    """One request: a route, maybe mangled, with random parameters, body and headers.
    ``wait_timeout`` bounds every ``/wait`` (on the daemon's clock)."""
    name = rng.choice(NAMES) if rng.random() < 0.9 else rng.choice(["", "%2F", "..", "a" * 300,
                                                                     "%ff", "w", "-x"])
    pick = rng.randrange(20)
    query = _query(rng)
    headers: dict[str, str] = {}
    if rng.random() < 0.05:
        headers["Origin"] = rng.choice(["http://evil.example", "null", "http://vigil"])
    if pick < 6:
        headers["Content-Type"] = rng.choice(["application/json"] * 6 + [
            "text/plain", "application/json; charset=utf-8", "", "application/jsonx"])
        if not headers["Content-Type"]:
            del headers["Content-Type"]
        body = (json.dumps(_mutate(rng, _entry(rng))).encode()
                if rng.random() < 0.85 else _raw_body(rng))
        url = f"/services/create?name={name}" + (f"&{query}" if query else "")
        return Request("POST", url, headers, body)
    if pick < 14:
        action = rng.choice(ACTIONS)
        method = "GET" if action in ("json", "logs") else "POST"
        if action == "logs":
            query = query.replace("follow", "tail")  # a follow stream would hold the worker
        if action == "wait":  # bounded: a wait for a condition that never comes
            query = "&".join(p for p in query.split("&") if not p.startswith("timeout"))
            query += f"&timeout={wait_timeout}"
        return Request(method, f"/services/{name}/{action}?{query}", headers)
    if pick < 16:
        return Request("DELETE", f"/services/{name}?{query}", headers)
    if pick < 18:
        return Request("GET", f"/services/json?{query}", headers)
    path = rng.choice(["/_ping", "/version", "/up", "/openapi.json", "/nope", "//", "/services",
                       "/services/json/json", "/events?until=0"])
    method = rng.choice(["GET", "POST", "PUT", "HEAD", "OPTIONS", "PATCH"])
    if path == "/up":
        method = "POST"
    return Request(method, path, headers, b"{}" if method in ("PUT", "PATCH") else None)


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    dropped: int = 0
    hung: list[str] = field(default_factory=list)

    def record(self, request: Request, answer: httpx.Response | None) -> None:
        self.requests += 1
        if answer is None:
            self.dropped += 1
            return
        self.statuses[f"{answer.status_code // 100}xx"] += 1
        if answer.status_code >= 500:
            self.server_errors.append(
                f"{request.method} {request.url} -> {answer.status_code} {answer.text[:200]}"
            )


async def _worker(client: httpx.AsyncClient, rng: random.Random, tally: Tally,
                  count: int, deadline: float, wait_timeout: str) -> None:
    for _ in range(count):
        if time.monotonic() > deadline:
            return
        request = random_request(rng, wait_timeout)
        try:
            answer = await asyncio.wait_for(
                client.request(request.method, request.url, headers=request.headers,
                               content=request.content, timeout=30),
                60,
            )
        except httpx.HTTPError:
            answer = None
        except TimeoutError:
            tally.hung.append(f"{request.method} {request.url}")
            continue
        tally.record(request, answer)


async def campaign(clients: list[httpx.AsyncClient], seed: int, count: int,
                   seconds: float, wait_timeout: str = "1s") -> Tally:
    """``count`` requests shared among one worker per client, for at most ``seconds``."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    each = max(1, count // len(clients))
    await asyncio.gather(*(
        _worker(client, random.Random(seed * 1000 + i), tally, each, deadline, wait_timeout)
        for i, client in enumerate(clients)
    ))
    return tally


# ---- against a real daemon ----------------------------------------------------------------


@contextlib.contextmanager
def _daemon(workdir: Path) -> Iterator[tuple[str, Path, int]]:
    config = workdir / "vigil.yaml"
    config.write_text("services: {}\n")
    sock = workdir / "vigil.sock"
    log = workdir / "daemon.log"
    with open(log, "wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "vigil", "up", "-f", str(config), "-H", f"unix://{sock}",
             "--state-dir", str(workdir / "state")],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        for _ in range(300):  # up to 30 s
            if sock.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        if not sock.exists():
            raise SystemExit(f"the daemon did not start: {log.read_text()}")
        yield str(sock), log, child.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)


def _rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _fuzz_socket(args: argparse.Namespace, sock: str) -> tuple[Tally, float, int]:
    clients = [
        httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=sock, limits=httpx.Limits(max_connections=1)),
            base_url="http://vigil",
        )
        for _ in range(args.workers)
    ]
    started = time.monotonic()
    tally = await campaign(clients, args.seed, args.requests, args.seconds)
    elapsed = time.monotonic() - started
    ping = await clients[0].get("/_ping")
    for client in clients:
        await client.aclose()
    return tally, elapsed, ping.status_code


def against_daemon(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="vigil-fuzz-") as tmp:
        with _daemon(Path(tmp)) as (sock, log, pid):
            tally, elapsed, ping = asyncio.run(_fuzz_socket(args, sock))
            rss = _rss_mib(pid)
        text = log.read_text(errors="replace")
    tracebacks = text.count("Traceback")
    last_resort = sum(1 for line in text.splitlines() if " failed: " in line)
    _report(tally, elapsed, tracebacks, last_resort)
    print(f"daemon RSS at the end: {rss:.0f} MiB; /_ping after the campaign: {ping}")
    failed = tally.server_errors or tally.dropped or tally.hung or tracebacks or last_resort
    return 1 if failed else 0


# ---- in process ---------------------------------------------------------------------------


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


async def in_process(args: argparse.Namespace) -> int:
    from vigil import Engine
    from vigil.api import create_app
    from vigil.daemon.manager import Manager
    from vigil.runtime.clock import SystemClock

    errors = _Errors()
    logging.getLogger().addHandler(errors)
    with tempfile.TemporaryDirectory(prefix="vigil-fuzz-") as tmp:
        clock = SystemClock()
        engine = Engine(clock=clock)
        manager = Manager(clock=clock, engine=engine, log_dir=Path(tmp))
        app = create_app(manager)
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://vigil") for _ in range(args.workers)]
        started = time.monotonic()
        tally = await campaign(clients, args.seed, args.requests, args.seconds)
        elapsed = time.monotonic() - started
        for client in clients:
            await client.aclose()
        await manager.down()
    _report(tally, elapsed, 0, len(errors.records))
    for line in errors.records[:5]:
        print("  error log:", line)
    return 1 if tally.server_errors or tally.hung or errors.records else 0


def _report(tally: Tally, elapsed: float, tracebacks: int, last_resort: int) -> None:
    print(f"{tally.requests} requests in {elapsed:.1f} s ({tally.requests / elapsed:.0f}/s): "
          + ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items())))
    print(f"5xx: {len(tally.server_errors)}; dropped connections: {tally.dropped}; "
          f"unanswered after 60 s: {len(tally.hung)}; tracebacks: {tracebacks}; "
          f"last-resort errors: {last_resort}")
    for line in tally.hung[:5]:
        print("   unanswered:", line)
    for line in tally.server_errors[:5]:
        print("  ", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 3600.0)
    args.workers = min(max(args.workers, 1), 64)
    sys.exit(asyncio.run(in_process(args)) if args.in_process else against_daemon(args))


if __name__ == "__main__":
    main()
