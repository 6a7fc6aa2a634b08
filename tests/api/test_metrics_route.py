"""``GET /metrics`` on the API, and ``vigil.metrics.asgi_app`` mounted elsewhere: the format
the scraper asks for, the services made through the API, the guards every route has."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from vigil import Engine, ServiceConfig
from vigil.api import create_app
from vigil.api.budget import SMALL_COST_NS, ApiBudget
from vigil.api.metrics import PER_SCRAPED_SERVICE_NS
from vigil.daemon.manager import Manager
from vigil.metrics import EngineMetrics, asgi_app
from vigil.testing import FakeClock, ScriptedProbe

if TYPE_CHECKING:
    from conftest import ApiFactory

CHECK = {"healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 1}}
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_of_services_made_through_the_api(api_factory: ApiFactory) -> None:
    async def scenario() -> None:
        async with api_factory(steps=(0, 0, 1)) as api:
            await api.started("web", CHECK)
            await api.create("idle")
            assert await api.clock.run_until_true(
                lambda: api.manager.engine.health("web").status == "unhealthy")
            answer = await api.client.get("/metrics")
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert answer.headers["cache-control"] == "no-store"
            got = samples(answer.text)
            assert got["engine_daemon_health_checks_total", ()] == 3
            assert got["engine_daemon_health_checks_failed_total", ()] == 0
            assert got["vigil_probes_total", (("result", "fail"), ("service", "web"))] == 1
            assert got["vigil_health_status", (("service", "web"), ("status", "unhealthy"))] == 1
            assert got["vigil_health_failing_streak", (("service", "web"),)] == 1
            assert got["vigil_health_status", (("service", "idle"), ("status", "none"))] == 1

            assert (await api.client.post("/services/web/restart")).status_code == 204
            assert (await api.client.delete("/services/idle")).status_code == 204
            got = samples((await api.client.get("/metrics")).text)
            assert got["vigil_service_restarts_total", (("service", "web"),)] == 1
            assert not [key for key in got if ("service", "idle") in key[1]]

    asyncio.run(scenario())


def test_openmetrics_when_the_scraper_asks_for_it(api_factory: ApiFactory) -> None:
    async def scenario() -> None:
        async with api_factory() as api:
            await api.create("web", CHECK)
            accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            answer = await api.client.get("/metrics", headers={"Accept": accept})
            assert answer.headers["content-type"].startswith(OPENMETRICS)
            assert answer.text.endswith("# EOF\n")
            names = {family.name for family in openmetrics_families(answer.text)}
            assert {"engine_daemon_health_checks", "vigil_health_status",
                    "vigil_probe_duration_seconds"} <= names

    asyncio.run(scenario())


def test_metrics_are_behind_the_browser_guard(api_factory: ApiFactory) -> None:
    """A web page elsewhere cannot read them (the token on TCP: test_auth.py's ROUTES)."""

    async def scenario() -> None:
        async with api_factory() as api:
            evil = await api.client.get("/metrics", headers={"Origin": "http://evil.example"})
            assert evil.status_code == 403
            wrong = await api.client.post("/metrics")  # Docker's answer to any other method
            assert (wrong.status_code, wrong.json()) == (404, {"message": "page not found"})

    asyncio.run(scenario())


def test_asgi_app_mounts_at_another_address() -> None:
    """What the web status page mounts: the same scrape, GET and HEAD only."""

    async def scenario() -> None:
        async with Engine(clock=FakeClock()) as engine:
            metrics = EngineMetrics(engine)
            engine.add("web")
            page = Starlette(routes=[Route("/metrics", asgi_app(metrics)),
                                     Mount("/mounted", asgi_app(metrics))])
            transport = httpx.ASGITransport(app=page)
            async with httpx.AsyncClient(transport=transport, base_url="http://page") as client:
                answer = await client.get("/metrics")
                assert answer.status_code == 200
                got = samples(answer.text)
                assert got["vigil_health_status", (("service", "web"), ("status", "none"))] == 1
                assert (await client.get("/mounted/")).text == answer.text
                assert (await client.head("/metrics")).status_code == 200
                refused = await client.post("/metrics")
                assert refused.status_code == 405
                assert refused.headers["allow"] == "GET, HEAD"

    asyncio.run(scenario())


def test_a_scrape_takes_its_turn_in_the_bulk_lane(tmp_path: Path) -> None:
    """Its cost grows with the services, as a ``ps`` list: the API budget's bulk lane pays
    for it, by the service, and the small lane (ping, inspect) is untouched."""

    async def scenario() -> None:
        clock = FakeClock()
        engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe([0]))
        manager = Manager(clock=clock, engine=engine, log_dir=tmp_path)
        budget = ApiBudget(clock)
        app = create_app(manager, budget=budget)
        for i in range(5):
            manager.create(ServiceConfig(name=f"s{i}"))
        bulk, small = budget.bulk.tokens_ns, budget.small.tokens_ns
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            assert (await client.get("/metrics")).status_code == 200
        assert bulk - budget.bulk.tokens_ns == SMALL_COST_NS + 5 * PER_SCRAPED_SERVICE_NS
        assert budget.small.tokens_ns == small
        await engine.aclose()

    asyncio.run(scenario())


def test_gzip_when_the_scraper_accepts_it(api_factory: ApiFactory) -> None:
    async def scenario() -> None:
        async with api_factory() as api:
            for i in range(12):  # past INLINE_ROWS: compressed on the worker thread
                await api.create(f"s{i}", CHECK)
            plain = await api.client.get("/metrics", headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain.headers
            packed = await api.client.get("/metrics", headers={"Accept-Encoding": "gzip"})
            assert packed.headers["content-encoding"] == "gzip"
            assert packed.headers["vary"] == "Accept, Accept-Encoding"
            assert int(packed.headers["content-length"]) < len(plain.content) / 5
            assert packed.text == plain.text  # httpx undoes the gzip

    asyncio.run(scenario())
