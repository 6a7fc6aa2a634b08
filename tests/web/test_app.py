"""The status page's routes in memory (ASGI) over a real Manager on a FakeClock: the data it
shows, what it never shows, its guards and headers, and the token its actions need."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.daemon.manager import Manager
from vigil.go.duration import MILLISECOND, SECOND
from vigil.runtime.engine import Engine
from vigil.store.memory import MemoryStore
from vigil.testing import FakeClock, ProbeStep, ScriptedProbe
from vigil.web import create_web_app
from vigil.web.data import overview, service_history
from vigil.web.headers import CONTENT_SECURITY_POLICY
from vigil.web.live import live, sse, subscribe

TOKEN = "unit-test-token-0123456789abcdef"
SECRET_ENV = "s3cr3t-env-value-never-shown"
SECRET_TEST = "Bearer-t0ken-in-the-probe-command"


@dataclass
class Page:
    clock: FakeClock
    manager: Manager
    client: httpx.AsyncClient

    async def add(self, name: str, steps: list[int | ProbeStep], **extra: Any) -> None:
        self.scripts[name] = steps
        check = HealthcheckConfig(test=("CMD", "curl", "-H", SECRET_TEST), interval=SECOND,
                                  retries=2)
        self.manager.create(ServiceConfig(name, healthcheck=check, **extra))
        await self.manager.start(name)

    scripts: dict[str, list[int | ProbeStep]]


def scenario(tmp_path: Path, body: Callable[[Page], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock()
        scripts: dict[str, list[int | ProbeStep]] = {}
        engine = Engine(clock=clock,
                        probe_builder=lambda spec, ref: ScriptedProbe(scripts[ref.name]))
        manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
        app = create_web_app(manager, token=TOKEN, hosts=["127.0.0.1"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            try:
                await body(Page(clock, manager, client, scripts))
            finally:
                await manager.down()
                await engine.aclose()

    asyncio.run(main())


def test_overview_shows_status_streak_uptime_last_output_and_strip(tmp_path: Path) -> None:
    """Each service: health, failing streak, uptime over 24 h and 7 d from the store, the last
    result with its output, and the strip of its newest results (no output there)."""

    async def body(page: Page) -> None:
        await page.add("api", [0, 0, ProbeStep(1, "HTTP 503"), ProbeStep(1, "HTTP 503")])
        await page.clock.run_for(4 * SECOND + SECOND // 2)
        answer = await page.client.get("/api/overview")
        assert answer.status_code == 200
        (row,) = answer.json()["services"]
        assert (row["name"], row["state"], row["health"]) == ("api", "running", "unhealthy")
        assert row["failing_streak"] == 2
        assert row["uptime"] == {"day": [2, 4], "week": [2, 4]}
        assert row["last"]["output"] == "HTTP 503"
        assert row["last"]["exit_code"] == 1
        assert [r["ok"] for r in row["recent"]] == [True, True, False, False]
        assert all("output" not in r for r in row["recent"])
        assert row["check"] == {"interval": "1s", "timeout": "30s", "start_period": "0s",
                                "retries": 2}

    scenario(tmp_path, body)


def test_service_history_has_points_results_and_events(tmp_path: Path) -> None:
    """A service's page data: every result in the range for the chart (duration, outcome),
    the newest with output first, and Docker's events without the per-probe ones."""

    async def body(page: Page) -> None:
        steps: list[int | ProbeStep] = [ProbeStep(0, "ok", 5 * MILLISECOND),
                                        ProbeStep(1, "boom", 40 * MILLISECOND),
                                        ProbeStep(1, "boom", 40 * MILLISECOND)]
        await page.add("db", steps)
        await page.clock.run_for(3 * SECOND + SECOND // 2)
        answer = await page.client.get("/api/services/db", params={"range": "1h"})
        assert answer.status_code == 200
        data = answer.json()
        assert data["range"] == "1h"
        assert [(p["duration_ms"], p["ok"]) for p in data["points"]] == [
            (5.0, True), (40.0, False), (40.0, False)]
        assert [r["output"] for r in data["results"]] == ["boom", "boom", "ok"]
        actions = [e["action"] for e in data["events"]]
        assert actions == ["health_status: unhealthy", "health_status: healthy", "start",
                           "create"]

    scenario(tmp_path, body)


def test_secrets_never_leave_the_daemon(tmp_path: Path) -> None:
    """Environment values and the probe's command (which may carry a header or a password)
    appear in no answer of the page: overview, service, live stream."""

    async def body(page: Page) -> None:
        await page.add("db", [0], environment={"PGPASSWORD": SECRET_ENV})
        await page.clock.run_for(2 * SECOND)
        texts = [(await page.client.get(path)).text
                 for path in ("/", "/api/overview", "/api/services/db")]
        subscription = subscribe(page.manager, None)
        stream = live(page.manager, subscription, lambda: overview(page.manager), output=True)
        texts.append((await anext(stream)).decode())
        await page.clock.run_for(2 * SECOND)
        texts.append((await anext(stream)).decode())
        await stream.aclose()
        for text in texts:
            assert SECRET_ENV not in text
            assert SECRET_TEST not in text
            assert "PGPASSWORD" not in text

    scenario(tmp_path, body)


def test_live_stream_sends_a_snapshot_then_updates(tmp_path: Path) -> None:
    """The stream starts with the retry delay and a snapshot, then one update per batch of
    events: the service as it is now, the new result, the event Docker would show."""

    async def body(page: Page) -> None:
        await page.add("api", [0, 1, 1])
        subscription = subscribe(page.manager, page.manager.lookup("api").id)
        stream = live(page.manager, subscription, lambda: overview(page.manager), output=False)
        first = (await anext(stream)).decode()
        assert first.startswith("retry: 2000\n\nevent: snapshot\ndata: {")
        await page.clock.run_for(3 * SECOND + SECOND // 2)
        updates = []
        while subscription.pending:
            chunk = (await anext(stream)).decode()
            assert chunk.startswith("event: update\ndata: ")
            assert chunk.endswith("\n\n")
            updates.append(json.loads(chunk.split("data: ", 1)[1]))
        assert [r["exit_code"] for u in updates for r in u["results"]] == [0, 1, 1]
        assert updates[-1]["services"][0]["health"] == "unhealthy"
        assert "health_status: unhealthy" in [e["action"] for u in updates for e in u["events"]]
        await stream.aclose()
        assert subscription.closed

    scenario(tmp_path, body)


def test_sse_data_stays_on_one_line() -> None:
    """Hostile output with CR, LF or a fake ``event:`` line cannot break out of its event."""
    text = sse("update", {"output": "a\r\nevent: snapshot\ndata: {}\n\n"}).decode()
    assert text.count("\n") == 3
    assert "\r" not in text


def test_every_answer_carries_a_strict_content_security_policy(tmp_path: Path) -> None:
    """The page, its data, its assets and its errors: no inline script, no framing, no
    sniffing; live data is never cached."""

    async def body(page: Page) -> None:
        for path, status in (("/", 200), ("/services/x", 200), ("/api/overview", 200),
                             ("/static/page.js", 200), ("/api/services/nope", 404)):
            answer = await page.client.get(path)
            assert answer.status_code == status, path
            assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        html = (await page.client.get("/")).text
        assert "<script>" not in html
        assert "<script src=\"/static/page.js\"" in html
        assert (await page.client.get("/api/overview")).headers["cache-control"] == "no-store"
        css = await page.client.get("/static/page.css")
        assert css.headers["content-type"].startswith("text/css")
        assert "prefers-color-scheme: dark" in css.text

    scenario(tmp_path, body)


def test_bad_input_is_refused_naming_the_value(tmp_path: Path) -> None:
    """An unknown range or service is a Docker-shaped error that names what was wrong."""

    async def body(page: Page) -> None:
        await page.add("api", [0])
        answer = await page.client.get("/api/services/api", params={"range": "1y"})
        assert answer.status_code == 400
        assert answer.json() == {
            "message": "invalid query parameter range='1y': must be one of 1h, 24h, 7d"}
        answer = await page.client.get("/api/services/nope")
        assert (answer.status_code, answer.json()) == (404, {"message": "No such service: nope"})
        answer = await page.client.get("/api/live", params={"service": "nope"})
        assert answer.status_code == 404

    scenario(tmp_path, body)


def test_actions_need_the_token(tmp_path: Path) -> None:
    """Restart, pause and the others answer 401 without the token or with a wrong one (and
    do nothing), 204 with it; the service then is as asked."""

    async def body(page: Page) -> None:
        await page.add("api", [0])
        url = "/api/actions/api/pause"
        missing = await page.client.post(url)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="vigil"'
        wrong = await page.client.post(url, headers={"Authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401
        assert page.manager.view("api").status == "running"
        good = await page.client.post(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 204
        assert page.manager.view("api").status == "paused"
        unknown = await page.client.post("/api/actions/api/explode",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        assert unknown.status_code == 400

    scenario(tmp_path, body)


def test_guards_refuse_other_origins_and_foreign_hosts(tmp_path: Path) -> None:
    """A web page elsewhere cannot post to the page (Origin), and a rebound DNS name cannot
    read it (Host), as with the API."""

    async def body(page: Page) -> None:
        await page.add("api", [0])
        cross = await page.client.post("/api/actions/api/pause", headers={
            "Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"})
        assert cross.status_code == 403
        rebound = await page.client.get("/api/overview", headers={"Host": "evil.example:8380"})
        assert rebound.status_code == 403
        same = await page.client.post("/api/actions/api/pause", headers={
            "Authorization": f"Bearer {TOKEN}", "Origin": "http://127.0.0.1"})
        assert same.status_code == 204

    scenario(tmp_path, body)


def test_metrics_is_a_mount_point_answering_404_until_served(tmp_path: Path) -> None:
    """``/metrics`` exists for the Prometheus exposition and says it is not served yet."""

    async def body(page: Page) -> None:
        answer = await page.client.get("/metrics")
        assert answer.status_code == 404
        assert answer.json() == {"message": "metrics are not served by this daemon"}

    scenario(tmp_path, body)


class _DurableLike:
    """A store that is not a MemoryStore (as SQLite's will not be): its reads go to a
    worker thread, one query per service. Delegates to a ring it fills on the loop."""

    def __init__(self) -> None:
        self.ring = MemoryStore()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ring, name)


def test_a_durable_store_is_read_per_service_in_a_thread_with_the_same_answer(
    tmp_path: Path,
) -> None:
    """The overview from per-service queries (a durable store, off the loop) equals the one
    read in a single pass over the memory ring."""

    async def main() -> None:
        clock = FakeClock()
        durable = _DurableLike()
        engine = Engine(clock=clock, store=durable,  # type: ignore[arg-type]
                        probe_builder=lambda spec, ref: ScriptedProbe([0, 1, 0, 0, 1]))
        manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
        check = HealthcheckConfig(test=("CMD", "true"), interval=SECOND, retries=3)
        for name in ("a", "b"):
            manager.create(ServiceConfig(name, healthcheck=check))
            await manager.start(name)
        await clock.run_for(40 * SECOND)
        threaded = await overview(manager)
        engine.store = durable.ring
        assert await overview(manager) == threaded
        assert threaded["services"][0]["uptime"]["day"] == [3, 40]  # 0 1 0 0, then 1s
        assert len(threaded["services"][0]["recent"]) == 30
        await manager.down()
        await engine.aclose()

    asyncio.run(main())


def test_a_week_of_history_lists_the_last_day_of_events(tmp_path: Path) -> None:
    """Over 7 d the chart has every result kept, the events list the last 24 h (the store
    has no per-service event query: a week of every service's events is too much to read)."""

    async def main() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe([0]))
        manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
        check = HealthcheckConfig(test=("CMD", "true"), interval=3600 * SECOND)
        manager.create(ServiceConfig("slow", healthcheck=check))
        await manager.start("slow")
        await clock.run_for(30 * 3600 * SECOND)
        await manager.pause("slow")
        data = await service_history(manager, "slow", "7d")
        assert len(data["points"]) == 30
        assert [e["action"] for e in data["events"]] == ["pause"]
        assert data["events_since"] == data["now"] - 24 * 3600 * 1000
        day = await service_history(manager, "slow", "1h")
        assert day["events_since"] == day["since"]
        await manager.down()
        await engine.aclose()

    asyncio.run(main())
