"""The history routes over a real SQLite store: ``/services/{ref}/history``, ``/events``
replayed from the store (read in threads, meeting the live stream with no gap and no
duplicate) and ``/info`` showing a store whose writes fail."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from vigil import Engine
from vigil.api import create_app
from vigil.core.events import TargetStarted
from vigil.daemon.manager import Manager
from vigil.docker.events import project
from vigil.go.duration import SECOND
from vigil.store.sqlite import SqliteStore
from vigil.testing import FakeClock, ScriptedProbe

HEALTHCHECK = {"test": ["CMD", "true"], "interval": "1s", "retries": 2}


class Api:
    def __init__(self, clock: FakeClock, manager: Manager, store: SqliteStore,
                 client: httpx.AsyncClient) -> None:
        self.clock, self.manager, self.store, self.client = clock, manager, store, client

    async def started(self, name: str) -> None:
        answer = await self.client.post(f"/services/create?name={name}",
                                        json={"healthcheck": HEALTHCHECK})
        assert answer.status_code == 201, answer.text
        answer = await self.client.post(f"/services/{name}/start")
        assert answer.status_code == 204, answer.text

    async def results(self, name: str, count: int) -> None:
        engine = self.manager.engine
        assert await self.clock.run_until_true(lambda: len(engine.health(name).log) >= count)


@contextlib.asynccontextmanager
async def open_api(tmp_path: Path, steps: tuple[int, ...]) -> AsyncIterator[Api]:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "vigil.db", flush_interval_s=3600.0)  # flushes on reads
    engine = Engine(clock=clock, store=store,
                    probe_builder=lambda spec, ref: ScriptedProbe(steps))
    manager = Manager(clock=clock, engine=engine, log_dir=tmp_path / "logs")
    transport = httpx.ASGITransport(app=create_app(manager))
    async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
        try:
            yield Api(clock, manager, store, client)
        finally:
            await engine.aclose()
            store.close()


def run(tmp_path: Path, body: Callable[[Api], Awaitable[None]],
        steps: tuple[int, ...] = (0,)) -> None:
    async def main() -> None:
        async with open_api(tmp_path, steps) as api:
            await body(api)

    asyncio.run(main())


def test_history_entries_are_health_log_entries_with_duration_and_outcome(
    tmp_path: Path
) -> None:
    async def body(api: Api) -> None:
        await api.started("web")
        await api.results("web", 4)  # pass, fail, fail (unhealthy), pass
        answer = await api.client.get("/services/web/history")
        assert answer.status_code == 200, answer.text
        entries = answer.json()
        assert [e["Outcome"] for e in entries] == ["pass", "fail", "fail", "pass"]
        assert [e["Status"] for e in entries] == ["healthy", "healthy", "unhealthy", "healthy"]
        assert [e["FailingStreak"] for e in entries] == [0, 1, 2, 0]
        inspected = (await api.client.get("/services/web/json")).json()
        log = inspected["State"]["Health"]["Log"]
        assert [{k: e[k] for k in ("Start", "End", "ExitCode", "Output")}
                for e in entries] == log[-4:]
        assert all(e["Duration"] >= 0 for e in entries)
        newest = await api.client.get("/services/web/history", params={"limit": "2"})
        assert newest.json() == entries[-2:]
        first_end = entries[0]["End"]
        since = await api.client.get("/services/web/history", params={"since": first_end})
        assert len(since.json()) >= 3

    run(tmp_path, body, steps=(0, 1, 1, 0))


def test_history_refuses_bad_parameters_and_unknown_services(tmp_path: Path) -> None:
    async def body(api: Api) -> None:
        await api.started("web")
        for params, status, text in [
            ({"since": "yesterday"}, 400, "yesterday"),
            ({"since": "20", "until": "10"}, 400, "cannot be after"),
            ({"limit": "-1"}, 400, "limit"),
            ({"limit": "10001"}, 400, "limit"),
        ]:
            answer = await api.client.get("/services/web/history", params=params)
            assert answer.status_code == status, (params, answer.text)
            assert text in answer.text
        missing = await api.client.get("/services/nope/history")
        assert missing.status_code == 404
        assert missing.json() == {"message": "No such service: nope"}

    run(tmp_path, body)


def test_a_replay_from_the_store_then_live_has_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    async def body(api: Api) -> None:
        await api.started("web")
        await api.results("web", 3)
        log = api.manager.events
        ref = api.manager.engine.ref("web")
        subscription, upto = log.subscribe_live()
        after_mark = TargetStarted(ref, api.clock.now_ns() + 1)
        api.manager.engine.stream.publish(after_mark)  # after the mark: live only
        replayed = []
        async for chunk, count in log.replay_lines(upto, since_ns=0):
            batch = [json.loads(line) for line in chunk.decode().splitlines()]
            assert len(batch) == count
            replayed += batch
        stored = [e for e in api.store.events() if project(e) is not None]
        assert stored[-1] == after_mark
        assert len(replayed) == len(stored) - 1  # everything but the event after the mark
        assert [e["timeNano"] for e in replayed] == sorted(e["timeNano"] for e in replayed)
        live = subscription.get_nowait()
        assert live is not None
        assert live.time_ns == after_mark.time_ns
        assert subscription.get_nowait() is None
        subscription.close()

        now = api.clock.now_ns() // SECOND
        answer = await api.client.get("/events", params={"since": "0", "until": str(now)})
        assert answer.status_code == 200
        actions = [json.loads(line)["Action"] for line in answer.text.splitlines()]
        assert actions[:2] == ["create", "start"]
        assert actions.count("health_probe") == 3

    run(tmp_path, body)


def test_info_shows_where_history_is_kept_and_a_failing_store(tmp_path: Path) -> None:
    async def body(api: Api) -> None:
        answer = (await api.client.get("/info")).json()
        assert answer["Store"] == {"Driver": "sqlite", "Location": str(tmp_path / "vigil.db"),
                                   "Problem": ""}
        assert answer["Warnings"] == []
        broken: Any = api.store
        broken._db.close()  # as a disk that stops taking writes
        await api.started("web")
        assert not await asyncio.to_thread(api.store.flush, 30)
        answer = (await api.client.get("/info")).json()
        assert "writes to" in answer["Store"]["Problem"]
        assert answer["Warnings"] == [f"history store: {answer['Store']['Problem']}"]

    run(tmp_path, body)
