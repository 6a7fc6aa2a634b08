"""The OpenAPI document: exactly the contract's routes, and the app answers as it documents.

The schemathesis test drives every operation but ``GET /events`` and ``/fleet`` with
generated requests
(derandomized, bounded) against an in-memory app on a fake clock, one per operation, and
checks status codes, content types and bodies against the document. ``/events`` is left out
because a stream without ``until`` never ends by design; its shapes are covered in
test_routes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis import checks

from vigil import Engine
from vigil.api import create_app
from vigil.daemon.manager import Manager
from vigil.go.duration import SECOND
from vigil.testing import FakeClock, ScriptedProbe

CONTRACT = {
    ("GET", "/_ping"),
    ("GET", "/version"),
    ("GET", "/services/json"),
    ("POST", "/services/create"),
    ("GET", "/services/{ref}/json"),
    ("POST", "/services/{ref}/start"),
    ("POST", "/services/{ref}/stop"),
    ("POST", "/services/{ref}/restart"),
    ("POST", "/services/{ref}/kill"),
    ("POST", "/services/{ref}/pause"),
    ("POST", "/services/{ref}/unpause"),
    ("DELETE", "/services/{ref}"),
    ("GET", "/services/{ref}/logs"),
    ("POST", "/services/{ref}/wait"),
    ("GET", "/events"),
    ("POST", "/up"),
    ("POST", "/down"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/services/{ref}/history"),
    ("GET", "/info"),
    ("GET", "/fleet/nodes"),
    ("GET", "/fleet/services/json"),
    ("GET", "/fleet/services/{node}/{ref}/json"),
    ("GET", "/fleet/events"),
}
PARAMETERS = {
    ("GET", "/services/json"): {"all", "filters"},
    ("POST", "/services/create"): {"name"},
    ("POST", "/services/{ref}/stop"): {"ref", "t"},
    ("POST", "/services/{ref}/restart"): {"ref", "t"},
    ("POST", "/services/{ref}/kill"): {"ref", "signal"},
    ("DELETE", "/services/{ref}"): {"ref", "force"},
    ("GET", "/services/{ref}/logs"): {"ref", "follow", "tail", "timestamps", "stdout", "stderr"},
    ("POST", "/services/{ref}/wait"): {"ref", "condition", "timeout"},
    ("GET", "/events"): {"since", "until", "filters"},
    ("GET", "/services/{ref}/history"): {"ref", "since", "until", "limit"},
    ("GET", "/fleet/services/json"): {"all", "filters"},
    ("GET", "/fleet/services/{node}/{ref}/json"): {"node", "ref"},
    ("GET", "/fleet/events"): {"since", "until", "filters"},
}


def _manager(log_dir: Path) -> Manager:
    clock = FakeClock()
    engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe([0, 1]))
    return Manager(clock=clock, engine=engine, log_dir=log_dir)


def _document() -> dict[str, Any]:
    return create_app(_manager(Path("/nonexistent"))).openapi()


def _in_contract(method: str, url: str) -> bool:
    return any(
        method == m and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), url)
        for m, path in CONTRACT
    )


def test_openapi_documents_and_the_app_routes_exactly_the_contract(tmp_path: Path) -> None:
    """Served at /openapi.json, the document lists exactly the contract's operations; the app
    routes every request the contract names and answers Docker's ``page not found`` to any
    other method on those paths."""
    app = create_app(_manager(tmp_path))
    urls = {re.sub(r"\{\w+\}", "nope", path) for _, path in CONTRACT}

    async def fetch() -> tuple[httpx.Response, dict[tuple[str, str], bool]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            routed = {}
            for url in urls:
                for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                    # ``until`` in the past: /events replays and ends instead of streaming
                    answer = await client.request(method, url, params={"until": "1"})
                    routed[method, url] = answer.content != b'{"message":"page not found"}\n'
            return await client.get("/openapi.json"), routed

    answer, routed = asyncio.run(fetch())
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document["openapi"].startswith("3.")
    documented = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops}
    assert documented == CONTRACT
    assert routed == {(method, url): _in_contract(method, url) for method, url in routed}


def test_every_operation_documents_parameters_and_answers() -> None:
    """Each operation: an ID, its query/path parameters, a success answer, JSON errors."""
    document = _document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            names = {p["name"] for p in operation.get("parameters", [])}
            assert names == PARAMETERS.get(key, {"ref"} if "{ref}" in path else set()), key
            assert operation["operationId"]
            codes = set(operation["responses"])
            assert codes & {"200", "201", "204"}, key
            assert "422" not in codes
            for code in codes - {"200", "201", "204", "304"}:
                content = operation["responses"][code]["content"]
                assert content == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                }
    create = document["paths"]["/services/create"]["post"]
    assert create["requestBody"]["required"] is True
    events = document["paths"]["/events"]["get"]["responses"]["200"]["content"]
    assert events == {
        "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/EventMessage"}}
    }
    assert set(document["components"]["schemas"]) >= {
        "ServiceInspect",
        "ServiceListItem",
        "EventMessage",
        "WaitResponse",
        "ErrorResponse",
    }


# ---- schemathesis ------------------------------------------------------------------------

# A wait or a log follow on a live service has, by design, no answer until the service
# changes: ``web``, the document's example ref, or any unique prefix of the services' random
# IDs (``0``, ``a``...). Each request gets at most this much fake time, deadline by deadline,
# then hangs up as a client would; no wall-clock timeout, so a busy machine changes nothing.
FAKE_PATIENCE_NS = 10 * SECOND
BLOCKING_BY_DESIGN = {("POST", "/services/{ref}/wait"), ("GET", "/services/{ref}/logs")}


@dataclass
class LiveApi:
    runner: asyncio.Runner
    clock: FakeClock
    client: httpx.AsyncClient

    def call(self, case: Any) -> httpx.Response | None:
        """The answer to ``case``, or None if it had none within ``FAKE_PATIENCE_NS``."""
        kwargs = case.as_transport_kwargs(base_url="http://vigil")
        body: dict[str, Any] = {}
        if "json" in kwargs:
            body["json"] = kwargs["json"]
        elif "data" in kwargs:
            body["content"] = kwargs["data"]
        request = self.client.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers=kwargs.get("headers"),
            **body,
        )
        return self.runner.run(self._answer(request))

    async def _answer(self, request: Awaitable[httpx.Response]) -> httpx.Response | None:
        task = asyncio.ensure_future(request)
        if await self.clock.run_until_true(task.done, limit_ns=FAKE_PATIENCE_NS):
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None


@contextlib.asynccontextmanager
async def _served(log_dir: Path) -> AsyncIterator[tuple[FakeClock, httpx.AsyncClient]]:
    manager = _manager(log_dir)
    transport = httpx.ASGITransport(app=create_app(manager))
    async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
        check = {"healthcheck": {"test": ["CMD", "true"], "interval": "1s"}}
        for name, entry in (("web", check), ("db", {}), ("cache", check)):
            answer = await client.post(f"/services/create?name={name}", json=entry)
            assert answer.status_code == 201
        for name in ("web", "cache"):
            assert (await client.post(f"/services/{name}/start")).status_code == 204
        assert (await client.post("/services/cache/pause")).status_code == 204
        try:
            assert isinstance(manager.clock, FakeClock)
            yield manager.clock, client
        finally:
            await manager.engine.aclose()


@pytest.fixture
def live_api(tmp_path: Path) -> Iterator[LiveApi]:
    """One app per operation, shared by its examples: each operation meets the same three
    services (``web`` running, ``db`` created, ``cache`` paused) whatever ran before."""
    with asyncio.Runner() as runner:
        served = _served(tmp_path)
        clock, client = runner.run(served.__aenter__())
        try:
            yield LiveApi(runner, clock, client)
        finally:
            runner.run(served.__aexit__(None, None, None))


DOCUMENT = _document()
STATUSES = {
    (method.upper(), path): set(operation["responses"]) - {"default"}
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
}
# The /fleet routes need the fleet's database: without one they answer 503 (not in fleet
# mode, as Docker's swarm routes), which schemathesis counts as a server error; they are
# driven against the real server in tests/fleet.
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/events").exclude(
    path_regex="^/fleet/")
# Not checked: ``unsupported_method`` (Docker answers 404 ``page not found``, not 405) and
# ``positive_data_acceptance`` (vigil.compose.project and the manager refuse schema-valid but
# meaningless values such as a random duration text, with Docker's 400 messages).
EXCLUDED = [checks.unsupported_method, checks.positive_data_acceptance]


# Worth running on every commit: every coverage case (each parameter's boundaries and wrong
# types, each body key, wrong methods) and a small fixed sample of fuzzed requests per
# operation; more fuzzed examples cost seconds and, derandomized, find nothing new.
CONTRACT_RUN = settings(settings.get_profile("api-shared-app"), max_examples=10)


@SCHEMA.parametrize()
@CONTRACT_RUN
def test_api_answers_as_documented(case: Any, live_api: LiveApi) -> None:
    response = live_api.call(case)
    if response is None:
        assert (case.method, case.path) in BLOCKING_BY_DESIGN, case
        return
    case.validate_response(response, excluded_checks=EXCLUDED)
    # ``default`` documents the shape of any other error; vigil answers only the listed ones.
    listed = STATUSES.get((case.method, case.path), {"404"})  # other methods: page not found
    assert str(response.status_code) in listed, (case, response.text)
