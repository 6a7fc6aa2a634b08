"""An API over a real Manager on a FakeClock with scripted probes, called in memory."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from vigil import Engine
from vigil.api import create_app
from vigil.daemon.manager import Manager
from vigil.linux.process import become_subreaper
from vigil.testing import FakeClock, ScriptedProbe, settle

# Hypothesis settings of these tests, by name (``settings.get_profile``): derandomized, so a
# failure reproduces, and blind to the wall clock (deadline, too_slow), which a busy machine
# does not keep. "api-shared-app" is for examples sharing one app, a fixture kept across
# them on purpose.
settings.register_profile(
    "api",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "api-shared-app",
    settings.get_profile("api"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass
class Api:
    clock: FakeClock
    manager: Manager
    app: FastAPI
    client: httpx.AsyncClient
    downs: list[str] = field(default_factory=list)

    async def create(self, name: str, entry: dict[str, Any] | None = None) -> str:
        answer = await self.client.post(f"/services/create?name={name}", json=entry or {})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["Id"])

    async def started(self, name: str, entry: dict[str, Any] | None = None) -> str:
        service_id = await self.create(name, entry)
        answer = await self.client.post(f"/services/{name}/start")
        assert answer.status_code == 204, answer.text
        return service_id

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Let tasks run and the fake clock jump until ``predicate()`` holds."""
        assert await self.clock.run_until_true(predicate)

    async def in_background(
        self, request: Coroutine[Any, Any, httpx.Response]
    ) -> asyncio.Task[httpx.Response]:
        task = asyncio.ensure_future(request)
        await settle()
        return task


@contextlib.asynccontextmanager
async def open_api(log_dir: Path, *, steps: tuple[int, ...] = (0,)) -> AsyncIterator[Api]:
    clock = FakeClock()
    engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe(steps))
    manager = Manager(clock=clock, engine=engine, log_dir=log_dir)
    downs: list[str] = []
    app = create_app(manager, on_down=lambda: downs.append("down"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
        api = Api(clock, manager, app, client, downs)
        try:
            yield api
        finally:
            await engine.aclose()


ApiFactory = Callable[..., contextlib.AbstractAsyncContextManager[Api]]


@pytest.fixture
def api_factory(tmp_path: Path) -> ApiFactory:
    def make(**options: Any) -> contextlib.AbstractAsyncContextManager[Api]:
        return open_api(tmp_path / "logs", **options)

    return make


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Make the test process a child subreaper, as the daemon is, for one test."""
    assert become_subreaper()
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        yield
    finally:
        libc.prctl(36, 0, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER off again
