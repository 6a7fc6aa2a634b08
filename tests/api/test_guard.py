"""What the API refuses before a route runs, and how it fails when a route has a bug: the
body limit, the JSON Content-Type, Origin and Host (CSRF, DNS rebinding), the last-resort
500, and what a create body may not carry (lone surrogates, KEY-only variables, bad names)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from vigil.api.guard import MAX_BODY_BYTES, BrowserGuard

if TYPE_CHECKING:
    from conftest import Api, ApiFactory


def scenario(factory: ApiFactory, body: Callable[[Api], Any], **options: Any) -> None:
    async def main() -> None:
        async with factory(**options) as api:
            await body(api)

    asyncio.run(main())


JSON = {"Content-Type": "application/json"}


# ---- body limit --------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_by_its_content_length(api_factory: ApiFactory) -> None:
    """Content-Length over 1 MiB: 413 in Docker's shape, nothing created; at the limit the
    body reaches the parser."""

    async def body(api: Api) -> None:
        big = b" " * (MAX_BODY_BYTES + 1)
        answer = await api.client.post("/services/create?name=web", content=big, headers=JSON)
        assert answer.status_code == 413
        assert answer.json() == {
            "message": f"request body too large: the limit is {MAX_BODY_BYTES} bytes"
        }
        assert answer.headers["connection"] == "close"
        padded = b"{}" + b" " * (MAX_BODY_BYTES - 2)
        answer = await api.client.post("/services/create?name=web", content=padded, headers=JSON)
        assert answer.status_code == 201, answer.text

    scenario(api_factory, body)


def test_a_streamed_body_is_cut_at_the_limit(api_factory: ApiFactory) -> None:
    """Without Content-Length (chunked), reading stops once the limit is passed: 413, and
    the rest of the body is never asked for."""
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1000):  # 64 MiB if all of it were read
            sent.append(1)
            yield b" " * 65536

    async def body(api: Api) -> None:
        answer = await api.client.post("/services/create?name=web", content=chunks(),
                                       headers=JSON)
        assert answer.status_code == 413
        assert "request body too large" in answer.json()["message"]
        assert (await api.client.get("/services/web/json")).status_code == 404

    scenario(api_factory, body)
    assert len(sent) < 1000


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "malformed Content-Type header (): mime: no media type"),
        ({"Content-Type": "text/plain"},
         "unsupported Content-Type header (text/plain): must be 'application/json'"),
        ({"Content-Type": "application/x-www-form-urlencoded"},
         "unsupported Content-Type header (application/x-www-form-urlencoded): "
         "must be 'application/json'"),
    ],
)  # fmt: skip
def test_a_body_needs_a_json_content_type(
    api_factory: ApiFactory, headers: dict[str, str], message: str
) -> None:
    """moby's CheckForJSON: a body without JSON's type is refused (what a web form sends)."""

    async def body(api: Api) -> None:
        answer = await api.client.post("/services/create?name=web", content=b"{}",
                                       headers=headers)
        assert (answer.status_code, answer.json()) == (400, {"message": message})

    scenario(api_factory, body)


# ---- Origin and Host ---------------------------------------------------------------------


def test_a_cross_origin_request_is_403_a_same_origin_one_passes(api_factory: ApiFactory) -> None:
    """A web page's request carries its Origin: another origin is refused before any route."""

    async def body(api: Api) -> None:
        evil = {"Origin": "http://evil.example", **JSON}
        answer = await api.client.post("/services/create?name=web", content=b"{}", headers=evil)
        assert answer.status_code == 403
        assert answer.json()["message"] == (
            "forbidden: cross-origin request from Origin 'http://evil.example': the vigil API "
            "does not serve web pages of other origins"
        )
        assert (await api.client.get("/services/web/json")).status_code == 404
        assert (await api.client.get("/_ping", headers={"Origin": "null"})).status_code == 403
        same = {"Origin": "http://vigil", **JSON}
        answer = await api.client.post("/services/create?name=web", content=b"{}", headers=same)
        assert answer.status_code == 201

    scenario(api_factory, body)


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:2375", 200),
        ("localhost:2375", 200),
        ("LOCALHOST", 200),
        ("[::1]:2375", 200),
        ("127.0.0.2:2375", 200),
        ("vigil.internal:2375", 200),  # the listening host itself
        ("evil.example:2375", 403),  # DNS rebinding: a name of the attacker's, now loopback
        ("10.0.0.1:2375", 403),
        ("127.0.0.1:notaport", 403),
        ("", 403),
    ],
)
def test_on_tcp_the_host_must_be_loopback_or_the_listening_host(host: str, status: int) -> None:
    guarded = BrowserGuard(_ok, hosts=["vigil.internal"])

    async def main() -> None:
        transport = httpx.ASGITransport(app=guarded)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            answer = await client.get("/_ping", headers={"Host": host})
            assert answer.status_code == status
            if status == 403:
                assert answer.json()["message"].startswith(f"forbidden: Host header {host!r}")

    asyncio.run(main())


# ---- the last resort ---------------------------------------------------------------------


def test_a_bug_is_one_json_500_and_one_log_line(
    api_factory: ApiFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No traceback: one line naming the request, the error and where it happened."""

    def broken(ref: str) -> Any:
        raise KeyError("boom")

    async def body(api: Api) -> None:
        monkeypatch.setattr(api.manager, "view", broken)
        with caplog.at_level(logging.ERROR, logger="vigil.api"):
            answer = await api.client.get("/services/web/json")
        assert (answer.status_code, answer.json()) == (500, {"message": "'boom'"})
        [record] = caplog.records
        assert record.exc_info is None
        assert record.getMessage().startswith("GET /services/web/json failed: KeyError: 'boom'")
        assert "(at services.py:" in record.getMessage()
        assert (await api.client.get("/_ping")).status_code == 200

    scenario(api_factory, body)


# ---- create bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"command":["echo","\\ud800"]}', "services.web.command.1"),
        ('{"environment":{"A":"\\udfff"}}', "services.web.environment.A"),
        ('{"environment":{"\\ud800":"x"}}', "services.web.environment (a key)"),
        ('{"healthcheck":{"test":["CMD","a\\udc80b"]}}', "services.web.healthcheck.test.1"),
        ('{"x-note":[[{"deep":"\\ud83d"}]]}', "services.web.x-note.0.0.deep"),
    ],
)
def test_a_lone_surrogate_anywhere_is_400_naming_the_field(
    api_factory: ApiFactory, text: str, field: str
) -> None:
    """Never stored: ps, inspect and up keep working (issue 7: it broke all of them)."""

    async def body(api: Api) -> None:
        answer = await api.client.post("/services/create?name=web", content=text, headers=JSON)
        assert answer.status_code == 400
        assert answer.json()["message"] == (
            f"{field}: invalid Unicode: a lone surrogate (a \\ud800-\\udfff escape)"
        )
        assert (await api.client.get("/services/web/json")).status_code == 404
        assert (await api.client.get("/services/json?all=1")).json() == []
        assert (await api.client.post("/up")).status_code == 200

    scenario(api_factory, body)


def test_a_surrogate_pair_is_a_character_not_a_problem(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        text = '{"environment":{"FACE":"\\ud83d\\ude00"}}'
        answer = await api.client.post("/services/create?name=web", content=text, headers=JSON)
        assert answer.status_code == 201, answer.text
        env = (await api.client.get("/services/web/json")).json()["Config"]["Env"]
        assert env == ["FACE=\U0001f600"]

    scenario(api_factory, body)


@pytest.mark.parametrize(
    ("environment", "field"),
    [
        (["VIGIL_TEST_SECRET"], "services.web.environment.0"),
        (["A=1", "VIGIL_TEST_SECRET"], "services.web.environment.1"),
        ({"VIGIL_TEST_SECRET": None}, "services.web.environment.VIGIL_TEST_SECRET"),
    ],
)
def test_a_key_only_variable_never_takes_the_daemons_value(
    api_factory: ApiFactory, monkeypatch: pytest.MonkeyPatch, environment: Any, field: str
) -> None:
    """The daemon's own environment never reaches an API-created service: 400, naming it."""
    monkeypatch.setenv("VIGIL_TEST_SECRET", "hunter2")

    async def body(api: Api) -> None:
        answer = await api.client.post(
            "/services/create?name=web", json={"environment": environment}
        )
        assert answer.status_code == 400
        message = answer.json()["message"]
        assert message.startswith(f"{field}: VIGIL_TEST_SECRET has no value; ")
        assert "hunter2" not in message
        assert (await api.client.get("/services/web/json")).status_code == 404

    scenario(api_factory, body)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a", "Invalid service name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        ("-ab", "Invalid service name (-ab), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        ("a" * 129,
         f"Invalid service name ({'a' * 40}... (129 characters)), at most 128 characters are "
         "allowed"),
        ("a%ED%A0%80", "Invalid service name (a\ufffd\ufffd\ufffd), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
         "are allowed"),  # an encoded surrogate: invalid UTF-8, decoded as U+FFFD
    ],
)  # fmt: skip
def test_names_follow_dockers_rule_with_a_length_limit(
    api_factory: ApiFactory, name: str, message: str
) -> None:
    async def body(api: Api) -> None:
        answer = await api.client.post(f"/services/create?name={name}", json={})
        assert (answer.status_code, answer.json()) == (400, {"message": message})

    scenario(api_factory, body)


def test_the_longest_name_gets_a_working_log(api_factory: ApiFactory) -> None:
    """128 characters: the log file name still fits (issue 7: 237 broke ``logs``)."""
    name = "n" * 128

    async def body(api: Api) -> None:
        await api.create(name, {"command": ["true"]})
        answer = await api.client.get(f"/services/{name}/logs")
        assert (answer.status_code, answer.text) == (200, "")

    scenario(api_factory, body)
