"""``cli_daemon``: the real daemon API, in process, for the CLI's tests; ``utc``: local time
pinned to UTC.

The CLI is synchronous (an ``httpx.Client``); the API is an ASGI app over a real ``Manager``
and ``Engine``. The app lives on an event loop in a worker thread, and every request of the
CLI is handed to it through ``httpx.ASGITransport``. Time is a fake clock that moves only
while a request is in flight and the loop has nothing else to do: it then jumps to the next
deadline, as ``FakeClock.run_until`` does. So ``vigil wait`` on a service that turns healthy
after three 30 s probes answers at once, and always the same way.

A request that waits on the real world (a process exit) is waited for without polling: the
clock says when someone starts sleeping on it. Do not mix real processes with health checks in
one test: the clock would not wait for the process before jumping.

Only :func:`_build_app` knows how the daemon is put together.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from tests.docker_engine import docker_engine  # noqa: F401  (the session's real dockerd)
from tests.docker_engine import fold_skip as fold_docker_skip
from tests.postgres import fold_skip

from vigil.go.duration import HOUR
from vigil.testing import FakeClock, ProbeStep, ScriptedProbe, settle

T = TypeVar("T")

FAKE_LIMIT_NS = 24 * HOUR  # a request still pending after a fake day never ends
DEADLOCK_GUARD_S = 60.0  # only a bug in a test or in this harness waits this long
Steps = Sequence[int | ProbeStep]


class SteppingClock(FakeClock):
    """A FakeClock that says when a task starts to wait on it."""

    def __init__(self) -> None:
        super().__init__()
        self.slept = asyncio.Event()

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Any:
        if delay_ns > 0:  # sleeps, deadlines and timers all come through here
            self.slept.set()
        return super().call_later_ns(delay_ns, callback)


async def _build_app(
    clock: FakeClock, log_dir: Path, scripts: dict[str, Steps], *, on_down: Callable[[], None]
) -> Any:
    """The daemon as ``vigil up`` wires it, with scripted probes (``scripts[name]``, else
    always passing). Returns ``(app, manager)``; the one place to change when the daemon's
    insides do."""
    from vigil.api import create_app
    from vigil.daemon.manager import Manager
    from vigil.runtime.engine import Engine

    def probe(spec: Any, target: Any) -> ScriptedProbe:
        return ScriptedProbe(scripts.get(target.name, (0,)))

    engine = Engine(clock=clock, probe_builder=probe)
    manager = Manager(clock=clock, engine=engine, log_dir=log_dir)
    return create_app(manager, on_down=on_down), manager


class _Bridge(httpx.BaseTransport):
    """A synchronous transport that runs each request on the daemon's loop."""

    def __init__(self, daemon: CliDaemon, requests: list[httpx.Request] | None) -> None:
        self._daemon = daemon
        self._requests = requests

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._requests is not None:
            self._requests.append(request)
        return self._daemon.call(self._daemon.serve(request))


@dataclass
class CliDaemon:
    clock: SteppingClock
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    log_dir: Path
    scripts: dict[str, Steps] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    """What the CLI sent (not the set-up calls of the tests)."""
    downs: int = 0
    """How often the app asked the daemon to exit (after ``POST /down``)."""
    _pending: set[asyncio.Future[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.app, self.manager = self.call(
            _build_app(self.clock, self.log_dir, self.scripts, on_down=self._count_down)
        )
        self._asgi = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.transport = _Bridge(self, self.requests)
        self.http = httpx.Client(transport=_Bridge(self, None), base_url="http://vigil")
        """For setting the scene from the test."""
        self.ahttp = httpx.AsyncClient(transport=self._asgi, base_url="http://vigil")
        """For actions on the daemon's loop (see :meth:`later`)."""

    @classmethod
    def open(cls, log_dir: Path) -> CliDaemon:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="vigil-api", daemon=True)
        thread.start()
        clock = asyncio.run_coroutine_threadsafe(_make_clock(), loop).result(DEADLOCK_GUARD_S)
        return cls(clock, loop, thread, log_dir)

    def _count_down(self) -> None:
        self.downs += 1

    def close(self) -> None:
        self.http.close()
        try:
            self.call(self.ahttp.aclose())
            # Not stepping: with monitors still due, fake time would run ahead of the real
            # exits it waits for. The tests' processes end on the stop signal.
            self.call(self.manager.down())
        finally:
            self.call(_cancel_the_rest())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(DEADLOCK_GUARD_S)
            self.loop.close()

    # -- running things on the daemon's loop ---------------------------------------------------

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(DEADLOCK_GUARD_S)

    async def serve(self, request: httpx.Request) -> httpx.Response:
        """One request, the clock stepping while it waits; the body read to the end."""
        response = await self.stepping(self._asgi.handle_async_request(request))
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    async def stepping(self, work: Awaitable[T]) -> T:
        """Await ``work``, jumping the clock to the next deadline whenever all else waits."""
        task = asyncio.ensure_future(work)
        end = self.clock.now_ns() + FAKE_LIMIT_NS
        while True:
            await settle()
            if task.done():
                return task.result()
            deadline = self.clock.next_deadline
            if deadline is not None:
                if deadline > end:
                    task.cancel()
                    raise AssertionError("the request was still pending after a fake day")
                self.clock.advance(max(deadline - self.clock.now_ns(), 0))
                continue
            self.clock.slept.clear()  # nothing due: real I/O (a process) must move first
            slept = asyncio.ensure_future(self.clock.slept.wait())
            await asyncio.wait([task, slept], return_when=asyncio.FIRST_COMPLETED)
            slept.cancel()

    def run_for(self, duration_ns: int) -> None:
        """Let fake time pass with no request in flight (probes run, statuses change)."""
        self.call(self.clock.run_for(duration_ns))

    def later(self, delay_ns: int, action: Callable[[], Awaitable[object]]) -> None:
        """Run ``action`` once ``delay_ns`` of fake time has passed (during a request)."""

        async def wait_then_act() -> None:
            await self.clock.sleep_ns(delay_ns)
            await action()

        async def schedule() -> None:
            self._pending.add(asyncio.ensure_future(wait_then_act()))
            await settle()  # asleep on the clock before the next request

        self.call(schedule())

    # -- setting the scene through the API -----------------------------------------------------

    def create(self, name: str, entry: dict[str, Any] | None = None, steps: Steps = (0,)) -> str:
        """A service from a vigil.yaml entry; its probes exit with ``steps``, then the last."""
        self.scripts[name] = steps
        answer = self.http.post("/services/create", params={"name": name}, json=entry or {})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["Id"])

    def start(self, name: str) -> None:
        answer = self.http.post(f"/services/{name}/start")
        assert answer.status_code == 204, answer.text

    def started(self, name: str, entry: dict[str, Any] | None = None, steps: Steps = (0,)) -> str:
        service_id = self.create(name, entry, steps)
        self.start(name)
        return service_id

    async def write_log(self, name: str, stream: str, text: str) -> None:
        """Output as if the service's process had written it, now."""
        self.manager.log(name).append(stream, text.encode(), self.clock.now_ns())

    def append_log(self, name: str, stream: str, text: str) -> None:
        self.call(self.write_log(name, stream, text))

    def calls(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, query) of each request of the CLI."""
        return [(r.method, r.url.path, dict(r.url.params)) for r in self.requests]


async def _make_clock() -> SteppingClock:
    return SteppingClock()  # made on the loop: its Event belongs there


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


@pytest.fixture
def cli_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliDaemon]:
    """The CLI talks to a real daemon API in process; its clock is the daemon's."""
    from vigil.cli import connection, services

    daemon = CliDaemon.open(tmp_path / "logs")
    monkeypatch.setattr(connection, "transport", daemon.transport)
    monkeypatch.setattr(services, "now_ns", daemon.clock.now_ns)
    for name in (connection.HOST_ENV, connection.TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
    try:
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC (a test may set another TZ, then call ``time.tzset``); the real
    zone is back afterwards."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Make the test process a child subreaper, as the daemon is, for one test."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    try:
        yield
    finally:
        libc.prctl(36, 0, 0, 0, 0)


def _backends() -> list[Any]:
    from vigil.linux import contain

    return [
        pytest.param(kind, marks=pytest.mark.skipif(not contain.available(kind),
                                                    reason=f"no {kind} containment here"))
        for kind in contain.BACKENDS
    ]


@pytest.fixture(params=_backends())
def contain_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each containment backend this machine offers (cgroup2, freezer, proc), forced for one
    test; the others are skipped, with the reason."""
    from vigil.linux import contain

    kind = str(request.param)
    contain.select_backend(kind)
    try:
        yield kind
    finally:
        contain.select_backend(None)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outermost: after pytest's own rewrite
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """PostgreSQL tests without a server, Docker tests without an engine, skip in one summary
    line each (``tests.postgres``, ``tests.docker_engine``)."""
    outcome = yield
    fold_skip(outcome.get_result())  # type: ignore[attr-defined]
    fold_docker_skip(outcome.get_result())  # type: ignore[attr-defined]
