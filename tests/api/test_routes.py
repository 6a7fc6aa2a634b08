"""Each route of the daemon API, in memory (ASGI), over a real Manager on a FakeClock."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vigil.core.events import TargetCreated, TargetRef
from vigil.docker.health import dumps
from vigil.docker.services import inspect_json, list_item_json
from vigil.go.duration import SECOND
from vigil.testing import ProbeStep, settle

if TYPE_CHECKING:
    from conftest import Api, ApiFactory

HEX64 = re.compile(r"[0-9a-f]{64}")
HEALTHCHECK = {"test": ["CMD", "true"], "interval": "1s", "retries": 2}


def scenario(factory: ApiFactory, body: Callable[[Api], Any], **options: Any) -> None:
    async def main() -> None:
        async with factory(**options) as api:
            await body(api)

    asyncio.run(main())


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# ---- system ------------------------------------------------------------------------------


def test_ping_answers_plain_ok_with_docker_headers(api_factory: ApiFactory) -> None:
    """``GET /_ping`` is ``OK`` in text/plain with the API version header, as Docker's."""

    async def body(api: Api) -> None:
        answer = await api.client.get("/_ping")
        assert (answer.status_code, answer.text) == (200, "OK")
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.headers["api-version"] == "1.0"

    scenario(api_factory, body)


def test_version_names_the_daemon(api_factory: ApiFactory) -> None:
    """``GET /version`` carries the contract's keys; JSON bodies end with a newline (Go)."""

    async def body(api: Api) -> None:
        answer = await api.client.get("/version")
        assert answer.status_code == 200
        assert answer.text.endswith("}\n")
        assert list(answer.json()) == [
            "Version",
            "ApiVersion",
            "Os",
            "Arch",
            "PythonVersion",
            "Pid",
        ]
        assert answer.json()["ApiVersion"] == "1.0"
        assert answer.json()["Os"] == "linux"

    scenario(api_factory, body)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("GET", "/up"), ("GET", "/services/json/")]
)
def test_unknown_routes_are_docker_page_not_found(
    api_factory: ApiFactory, method: str, path: str
) -> None:
    """Unknown paths and wrong methods: 404 ``page not found``, as Docker's router answers."""

    async def body(api: Api) -> None:
        answer = await api.client.request(method, path)
        assert (answer.status_code, answer.json()) == (404, {"message": "page not found"})

    scenario(api_factory, body)


# ---- Docker's booleans and JSON ----------------------------------------------------------

GO_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
FALSE_WORDS = ("", "0", "no", "false", "none")
query_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


def spelled(word: str, data: st.DataObject) -> str:
    """``word`` in any mix of cases between any of Go's spaces."""
    cased = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in word)
    pad = st.text(st.sampled_from(GO_SPACES), max_size=3)
    return data.draw(pad) + cased + data.draw(pad)


def go_false(text: str) -> bool:
    return text.strip(GO_SPACES).lower() in FALSE_WORDS


@dataclass
class SharedApi:
    """One api on one event loop, kept across hypothesis examples (queries only)."""

    runner: asyncio.Runner
    api: Api

    def run(self, request: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
        return self.runner.run(request)


@pytest.fixture
def shared_api(api_factory: ApiFactory) -> Iterator[SharedApi]:
    with asyncio.Runner() as runner:
        opened = api_factory()
        api = runner.run(opened.__aenter__())
        runner.run(api.create("idle"))  # created, not running: listed with all=<true> only
        runner.run(api.started("web"))
        try:
            yield SharedApi(runner, api)
        finally:
            runner.run(opened.__aexit__(None, None, None))


@settings(settings.get_profile("api-shared-app"), max_examples=60)
@given(data=st.data(), word=st.sampled_from(FALSE_WORDS), other=query_text)
def test_query_booleans_follow_moby_bool_value(
    shared_api: SharedApi, data: st.DataObject, word: str, other: str
) -> None:
    """moby's ``BoolValue``: empty, 0, no, false and none, in any case between Go's spaces,
    are false and anything else true, for flags that default to false (``all``) and to true
    (``stdout``) alike."""
    assume(not go_false(other))
    client = shared_api.api.client

    def shown(value: str) -> bool:
        answer = shared_api.run(client.get("/services/json", params={"all": value}))
        return "/idle" in [item["Names"][0] for item in answer.json()]

    def stdout_chosen(value: str) -> bool:
        params = {"stdout": value, "stderr": "0"}
        answer = shared_api.run(client.get("/services/web/logs", params=params))
        return answer.status_code == 200  # else 400: no stream chosen

    false = spelled(word, data)
    assert (shown(false), shown(other)) == (False, True)
    assert (stdout_chosen(false), stdout_chosen(other)) == (False, True)


def test_go_spaces_only_are_trimmed(api_factory: ApiFactory) -> None:
    """Go's TrimSpace leaves \\x1c-\\x1f, which Python's strip() would remove: still true."""

    async def body(api: Api) -> None:
        await api.create("idle")
        answer = await api.client.get("/services/json", params={"all": "\x1cfalse"})
        assert [item["Names"] for item in answer.json()] == [["/idle"]]

    scenario(api_factory, body)


def test_json_bodies_are_docker_shapes_in_go_encoding(api_factory: ApiFactory) -> None:
    """Checked by the response models, the bodies stay byte for byte what vigil.docker builds,
    Go-encoded: key order, omitted fields, no HTML escaping, U+2028 escaped, newline."""

    async def body(api: Api) -> None:
        await api.started("web", {"healthcheck": HEALTHCHECK, "stop_signal": "SIGINT"})
        await api.create("plain")  # no healthcheck, no health, nothing optional
        await api.until(lambda: api.manager.view("web").health_status == "healthy")
        for name in ("web", "plain"):
            answer = await api.client.get(f"/services/{name}/json")
            assert answer.content == (dumps(inspect_json(api.manager.view(name))) + "\n").encode()
        web = await api.client.get("/services/web/json")
        assert '"Output":"<b>&amp;</b>\\u2028é"'.encode() in web.content
        listed = await api.client.get("/services/json?all=1")
        now = api.clock.now_ns()
        views = sorted(reversed(api.manager.views()), key=lambda v: -v.created_ns)  # as Docker
        assert listed.content == (dumps([list_item_json(v, now) for v in views]) + "\n").encode()
        waiting = await api.in_background(api.client.post("/services/plain/wait?timeout=1s"))
        await api.until(waiting.done)
        assert (await waiting).content == (
            b'{"Met":false,"Error":"timeout waiting for service plain to be exited","ExitCode":0}\n'
        )

    scenario(api_factory, body, steps=(ProbeStep(0, output="<b>&amp;</b>\u2028é"),))


def test_a_view_is_reused_until_its_service_changes(api_factory: ApiFactory) -> None:
    """``ps`` and ``inspect`` reuse a service's view, and so its encoded JSON, while its
    process state and health stay the same; any change gives a new one."""

    async def body(api: Api) -> None:
        await api.started("web", {"healthcheck": HEALTHCHECK})
        first = api.manager.view("web")
        assert api.manager.view("web") is first
        await api.until(lambda: api.manager.view("web").health_status == "healthy")
        assert api.manager.view("web") is not first
        answer = await api.client.post("/services/web/stop")
        assert answer.status_code == 204
        inspected = (await api.client.get("/services/web/json")).json()
        assert inspected["State"]["Status"] == "exited"
        listed = (await api.client.get("/services/json?all=1")).json()
        assert listed[0]["State"] == "exited"

    scenario(api_factory, body)


# ---- create and inspect --------------------------------------------------------------------


def test_create_returns_the_id_and_inspect_finds_it_by_name_and_prefix(
    api_factory: ApiFactory,
) -> None:
    """201 ``{"Id", "Warnings": []}``; inspect by name, full ID and unique prefix."""

    async def body(api: Api) -> None:
        answer = await api.client.post(
            "/services/create?name=web", json={"healthcheck": HEALTHCHECK}
        )
        assert answer.status_code == 201
        service_id = answer.json()["Id"]
        assert HEX64.fullmatch(service_id)
        assert answer.json()["Warnings"] == []
        for ref in ("web", service_id, service_id[:7]):
            shown = (await api.client.get(f"/services/{ref}/json")).json()
            assert (shown["Id"], shown["Name"]) == (service_id, "/web")
        assert shown["State"]["Status"] == "created"
        assert shown["Config"]["Healthcheck"] == {
            "Test": ["CMD", "true"],
            "Interval": SECOND,
            "Retries": 2,
        }

    scenario(api_factory, body)


def test_create_refuses_a_taken_name_with_docker_conflict(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        first = await api.create("web")
        answer = await api.client.post("/services/create?name=web", json={})
        assert answer.status_code == 409
        assert answer.json()["message"] == (
            f'Conflict. The service name "/web" is already in use by service "{first}". You '
            "have to remove (or rename) that service to be able to reuse that name."
        )

    scenario(api_factory, body)


@pytest.mark.parametrize("name", ["-web", "we b", "_x", "a/b"])
def test_create_refuses_invalid_names(api_factory: ApiFactory, name: str) -> None:
    async def body(api: Api) -> None:
        answer = await api.client.post("/services/create", params={"name": name}, json={})
        assert answer.status_code == 400
        assert answer.json()["message"] == (
            f"Invalid service name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )

    scenario(api_factory, body)


def test_create_lists_every_config_problem(api_factory: ApiFactory) -> None:
    """A bad entry: 400 with every problem of vigil.compose.project, one a line, in order."""

    async def body(api: Api) -> None:
        entry = {"command": 5, "healthcheck": {"interval": "abc", "retries": "x"}, "bogus": 1}
        answer = await api.client.post("/services/create?name=web", json=entry)
        assert answer.status_code == 400
        assert answer.json()["message"].split("\n") == [
            "services.web.command: must be a string or list",
            'services.web.healthcheck.interval: time: invalid duration "abc"',
            "services.web.healthcheck.retries: must be an integer",
            "services.web: Additional property bogus is not allowed",
        ]
        assert api.manager.names() == []

    scenario(api_factory, body)


@pytest.mark.parametrize(
    ("query", "content", "headers", "message"),
    [
        ("", b"{}", {"content-type": "application/json"}, "query parameter name is required"),
        ("?name=web", b"", {}, "invalid JSON: got EOF while reading request body"),
        ("?name=web", b"{", {"content-type": "application/json"}, "invalid JSON: "),
        (
            "?name=web",
            b"{}",
            {"content-type": "text/plain"},
            "unsupported Content-Type header (text/plain): must be 'application/json'",
        ),
    ],
)
def test_create_refuses_bad_requests(
    api_factory: ApiFactory, query: str, content: bytes, headers: dict[str, str], message: str
) -> None:
    async def body(api: Api) -> None:
        answer = await api.client.post(f"/services/create{query}", content=content, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["message"].startswith(message)

    scenario(api_factory, body)


def test_unknown_and_ambiguous_refs(api_factory: ApiFactory) -> None:
    """404 ``No such service``; a prefix matching several IDs is a 400, as in Docker."""

    async def body(api: Api) -> None:
        answer = await api.client.get("/services/nope/json")
        assert (answer.status_code, answer.json()) == (404, {"message": "No such service: nope"})
        for path in ("start", "stop", "restart", "kill", "pause", "unpause", "wait"):
            assert (await api.client.post(f"/services/nope/{path}")).status_code == 404
        assert (await api.client.delete("/services/nope")).status_code == 404
        assert (await api.client.get("/services/nope/logs")).status_code == 404
        ids = [await api.create(f"s{i}") for i in range(17)]  # 16 hex digits: two share one
        prefix = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
        answer = await api.client.get(f"/services/{prefix}/json")
        assert (answer.status_code, answer.json()) == (
            400,
            {"message": f"multiple IDs found with provided prefix: {prefix}"},
        )

    scenario(api_factory, body)


# ---- lifecycle ---------------------------------------------------------------------------


def test_start_stop_pause_unpause_restart_and_their_refusals(api_factory: ApiFactory) -> None:
    """204s; 304 with an empty body when already started/stopped; 409 for wrong states."""

    async def body(api: Api) -> None:
        service_id = await api.create("web")
        post = api.client.post
        assert (await post("/services/web/stop")).status_code == 304
        assert (await post("/services/web/pause")).json() == {
            "message": f"Service {service_id} is not running"
        }
        assert (await post("/services/web/start")).status_code == 204
        again = await post("/services/web/start")
        assert (again.status_code, again.content) == (304, b"")
        assert (await post("/services/web/pause")).status_code == 204
        answer = await post("/services/web/pause")
        assert (answer.status_code, answer.json()["message"]) == (
            409,
            f"Service {service_id} is already paused",
        )
        assert (await post("/services/web/start")).status_code == 409
        assert (await post("/services/web/unpause")).status_code == 204
        assert (await post("/services/web/unpause")).status_code == 409
        assert (await post("/services/web/restart?t=1")).status_code == 204
        assert (await post("/services/web/stop?t=-1")).status_code == 204
        again = await post("/services/web/stop")
        assert (again.status_code, again.content) == (304, b"")

    scenario(api_factory, body)


def test_kill_checks_the_signal_then_the_process(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.started("web")
        answer = await api.client.post("/services/web/kill?signal=NOPE")
        assert (answer.status_code, answer.json()) == (400, {"message": "invalid signal: NOPE"})
        answer = await api.client.post("/services/web/kill")
        assert answer.status_code == 409  # watched only: nothing of ours to signal
        assert answer.json()["message"].startswith("Cannot kill service: web: ")

    scenario(api_factory, body)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("t=abc", 'invalid query parameter t="abc": must be an integer'),
        ("t=1.5", 'invalid query parameter t="1.5": must be an integer'),
        (
            "t=99999999999999999999",
            'invalid query parameter t="99999999999999999999": value out of range',
        ),
    ],
)
def test_bad_query_values_are_400_naming_parameter_and_value(
    api_factory: ApiFactory, query: str, message: str
) -> None:
    """FastAPI's validation errors become Docker-like one-line 400s, not 422s."""

    async def body(api: Api) -> None:
        await api.started("web")
        answer = await api.client.post(f"/services/web/stop?{query}")
        assert (answer.status_code, answer.json()) == (400, {"message": message})

    scenario(api_factory, body)


def test_remove_refuses_running_without_force(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.started("web")
        answer = await api.client.delete("/services/web")
        assert answer.status_code == 409
        assert answer.json()["message"] == (
            'cannot remove service "/web": service is running: stop the service before '
            "removing or force remove"
        )
        assert (await api.client.delete("/services/web?force=1")).status_code == 204
        assert (await api.client.get("/services/web/json")).status_code == 404

    scenario(api_factory, body)


# ---- list and its filters ------------------------------------------------------------------


def test_list_shows_running_services_unless_all_newest_first(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.started("web", {"healthcheck": HEALTHCHECK})
        api.clock.advance(SECOND)
        await api.create("idle")
        running = (await api.client.get("/services/json")).json()
        assert [item["Names"] for item in running] == [["/web"]]
        everything = (await api.client.get("/services/json?all=1")).json()
        assert [item["Names"] for item in everything] == [["/idle"], ["/web"]]
        item = everything[1]
        assert list(item) == ["Id", "Names", "Command", "Created", "State", "Status", "Health"]
        assert item["Status"] == "Up 1 second (health: starting)"
        assert item["Health"] == {"Status": "starting", "FailingStreak": 0}

    scenario(api_factory, body)


def test_list_health_filter(api_factory: ApiFactory) -> None:
    """``health=healthy`` keeps only services whose check passed; ``none`` those without."""

    async def body(api: Api) -> None:
        await api.started("web", {"healthcheck": HEALTHCHECK})
        await api.started("plain")
        await api.until(lambda: api.manager.view("web").health_status == "healthy")

        async def names(health: str) -> list[str]:
            filters = json.dumps({"health": [health]})
            answer = await api.client.get("/services/json", params={"filters": filters})
            return [item["Names"][0] for item in answer.json()]

        assert await names("healthy") == ["/web"]
        assert await names("none") == ["/plain"]
        assert await names("unhealthy") == []

    scenario(api_factory, body)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ('{"foo":["x"]}', "invalid filter 'foo'"),
        (
            '{"health":["sick"]}',
            "invalid filter 'health=sick': invalid value for health (sick): "
            "must be one of none, starting, healthy, unhealthy",
        ),
        (
            '{"status":["up"]}',
            "invalid filter 'status=up': invalid value for state (up): must "
            "be one of created, running, paused, restarting, removing, exited, "
            "dead",
        ),
        (
            '{"exited":["x"]}',
            "invalid filter 'exited=x': strconv.Atoi: parsing \"x\": invalid syntax",
        ),
        ("{", "invalid filter"),
    ],
)
def test_list_filter_errors_are_docker_texts(
    api_factory: ApiFactory, filters: str, message: str
) -> None:
    async def body(api: Api) -> None:
        answer = await api.client.get("/services/json", params={"filters": filters})
        assert (answer.status_code, answer.json()) == (400, {"message": message})

    scenario(api_factory, body)


# ---- logs --------------------------------------------------------------------------------


def test_logs_tail_streams_and_timestamps(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.create("web")
        log = api.manager.log("web")
        log.append("stdout", b"one\ntwo\n", api.clock.now_ns())
        log.append("stderr", b"oops\n", api.clock.now_ns() + 500_000_000)
        get = api.client.get
        assert (await get("/services/web/logs")).text == "one\ntwo\noops\n"
        assert (await get("/services/web/logs?tail=2")).text == "two\noops\n"
        assert (await get("/services/web/logs?tail=0")).text == ""
        assert (await get("/services/web/logs?tail=x")).text == "one\ntwo\noops\n"
        assert (await get("/services/web/logs?tail=%2B1")).text == "oops\n"  # Atoi takes +1
        for not_atoi in ("1_0", "%202", "\u0661", "-1", "99999999999999999999"):
            answer = await get(f"/services/web/logs?tail={not_atoi}")
            assert answer.text == "one\ntwo\noops\n", not_atoi
        assert (await get("/services/web/logs?stdout=0")).text == "oops\n"
        stamped = await get("/services/web/logs?timestamps=1&stdout=false")
        assert stamped.text == "2026-01-01T00:00:00.500000000Z oops\n"
        assert stamped.headers["content-type"].startswith("text/plain")
        answer = await get("/services/web/logs?stdout=0&stderr=0")
        assert (answer.status_code, answer.json()) == (
            400,
            {"message": "Bad parameters: you must choose at least one stream"},
        )

    scenario(api_factory, body)


def test_logs_follow_sends_new_lines_until_the_service_is_removed(
    api_factory: ApiFactory,
) -> None:
    async def body(api: Api) -> None:
        await api.create("web")
        log = api.manager.log("web")
        log.append("stdout", b"old\n", api.clock.now_ns())
        request = await api.in_background(api.client.get("/services/web/logs?follow=1"))
        log.append("stdout", b"new\n", api.clock.now_ns())
        await api.manager.remove("web")
        answer = await asyncio.wait_for(request, 10)
        assert answer.text == "old\nnew\n"

    scenario(api_factory, body)


# ---- wait --------------------------------------------------------------------------------


def test_wait_met_and_not_met(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.started("web", {"healthcheck": HEALTHCHECK})
        waiting = await api.in_background(api.client.post("/services/web/wait?condition=healthy"))
        await api.until(waiting.done)
        assert (await waiting).json() == {"Met": True, "Error": None, "ExitCode": 0}
        await api.started("plain")
        answer = await api.client.post("/services/plain/wait?condition=healthy")
        assert answer.json() == {
            "Met": False,
            "ExitCode": 0,
            "Error": "service plain has no healthcheck configured",
        }

    scenario(api_factory, body)


def test_wait_timeout_uses_the_manager_clock(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.started("web", {"healthcheck": HEALTHCHECK})
        waiting = await api.in_background(
            api.client.post("/services/web/wait?condition=healthy&timeout=500ms")
        )
        await api.until(waiting.done)
        assert (await waiting).json() == {
            "Met": False,
            "ExitCode": 0,
            "Error": "timeout waiting for service web to be healthy",
        }

    scenario(api_factory, body, steps=(1,))


def test_wait_exited_after_stop_and_bad_parameters(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.started("web")
        waiting = await api.in_background(api.client.post("/services/web/wait"))
        assert not waiting.done()
        await api.client.post("/services/web/stop")
        assert (await waiting).json() == {"Met": True, "Error": None, "ExitCode": 0}
        answer = await api.client.post("/services/web/wait?condition=gone")
        assert answer.status_code == 400
        answer = await api.client.post("/services/web/wait?timeout=soon")
        assert (answer.status_code, answer.json()) == (
            400,
            {"message": 'invalid query parameter timeout: time: invalid duration "soon"'},
        )

    scenario(api_factory, body)


# ---- events ------------------------------------------------------------------------------


def test_events_replay_between_since_and_until_with_filters(api_factory: ApiFactory) -> None:
    """``since``/``until`` in the past: the matching stored events, then the stream ends."""

    async def body(api: Api) -> None:
        t0 = api.clock.now_ns() // SECOND
        await api.create("web")  # t0
        api.clock.advance(10 * SECOND)
        await api.started("db")  # t0+10: create, start
        api.clock.advance(10 * SECOND)
        await api.client.post("/services/db/stop")  # t0+20: die, stop
        api.clock.advance(10 * SECOND)

        async def actions(**params: str) -> list[tuple[str, str]]:
            answer = await api.client.get("/events", params=params)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "application/x-ndjson"
            return [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in lines(answer.text)]

        assert await actions(since=str(t0 + 5), until=str(t0 + 15)) == [
            ("create", "db"),
            ("start", "db"),
        ]
        assert await actions(until="15s") == [("create", "web"), ("create", "db"), ("start", "db")]
        everything = {"since": "0", "until": str(t0 + 30)}
        assert await actions(**everything, filters='{"event":["stop"]}') == [("stop", "db")]
        assert await actions(**everything, filters='{"service":["web"]}') == [("create", "web")]
        assert await actions(**everything, filters='{"type":["container"]}') == []

    scenario(api_factory, body)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filters": '{"nope":["x"]}'}, "invalid filter 'nope'"),
        ({"since": "yesterday"}, 'failed to parse value as time or duration: "yesterday"'),
        ({"since": "20", "until": "10"}, "`since` time (20) cannot be after `until` time (10)"),
    ],
)
def test_events_parameter_errors(
    api_factory: ApiFactory, params: dict[str, str], message: str
) -> None:
    async def body(api: Api) -> None:
        answer = await api.client.get("/events", params=params)
        assert (answer.status_code, answer.json()) == (400, {"message": message})
        assert api.manager.events.subscriber_count == 0

    scenario(api_factory, body)


def test_event_stream_receives_live_events_and_ends_at_until(api_factory: ApiFactory) -> None:
    """A live health_status event reaches the stream; ``until`` ends it with no event due."""

    async def body(api: Api) -> None:
        until = api.clock.now_ns() // SECOND + 60
        request = await api.in_background(
            api.client.get(
                "/events", params={"until": str(until), "filters": '{"event":["health_status"]}'}
            )
        )
        assert api.manager.events.subscriber_count == 1
        service_id = await api.started("web", {"healthcheck": HEALTHCHECK})
        await api.until(lambda: api.manager.view("web").health_status == "healthy")
        assert not request.done()
        await api.until(request.done)  # nothing more arrives: the until timer ends it
        events = lines((await request).text)
        assert [(e["Action"], e["Actor"]["ID"]) for e in events] == [
            ("health_status: healthy", service_id)
        ]
        assert api.clock.now_ns() == until * SECOND
        assert api.manager.events.subscriber_count == 0

    scenario(api_factory, body)


def test_event_stream_is_released_when_the_client_disconnects(api_factory: ApiFactory) -> None:
    """Driven at the ASGI level: a disconnect ends the stream and drops the subscription."""

    async def body(api: Api) -> None:
        sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        incoming.put_nowait({"type": "http.request", "body": b"", "more_body": False})

        async def send(message: dict[str, Any]) -> None:
            sent.put_nowait(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/events",
            "raw_path": b"/events",
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "client": ("127.0.0.1", 1),
            "server": ("vigil", 80),
        }
        call = asyncio.ensure_future(api.app(scope, incoming.get, send))
        assert (await sent.get())["status"] == 200
        created = TargetCreated(TargetRef("0" * 64, "x"), api.clock.now_ns())
        api.manager.engine.stream.publish(created)
        chunk = await sent.get()
        assert json.loads(chunk["body"])["Action"] == "create"
        assert api.manager.events.subscriber_count == 1
        incoming.put_nowait({"type": "http.disconnect"})
        await asyncio.wait_for(call, 10)
        assert api.manager.events.subscriber_count == 0

    scenario(api_factory, body)


# ---- up and down -------------------------------------------------------------------------


def test_up_starts_everything_and_down_stops_then_calls_on_down(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        await api.create("web")
        await api.create("db")
        answer = await api.client.post("/up")
        assert (answer.status_code, answer.json()) == (200, {"Errors": []})
        assert {v.status for v in api.manager.views()} == {"running"}
        assert api.downs == []
        answer = await api.client.post("/down")
        assert answer.status_code == 204
        assert {v.status for v in api.manager.views()} == {"exited"}
        await settle()
        assert api.downs == ["down"]

    scenario(api_factory, body)


# ---- real processes ------------------------------------------------------------------------


def test_kill_signals_a_real_process_and_wait_sees_its_exit(
    api_factory: ApiFactory, subreaper: None
) -> None:
    async def body(api: Api) -> None:
        await api.started("sleeper", {"command": ["sleep", "1000"]})
        state = (await api.client.get("/services/sleeper/json")).json()["State"]
        assert state["Running"]
        assert state["Pid"] > 0
        assert (await api.client.post("/services/sleeper/kill?signal=TERM")).status_code == 204
        answer = await asyncio.wait_for(api.client.post("/services/sleeper/wait"), 30)
        assert answer.json() == {"Met": True, "Error": None, "ExitCode": 143}
        answer = await api.client.post("/services/sleeper/kill")
        assert answer.status_code == 409
        events = await api.client.get("/events", params={"since": "0", "until": "0s"})
        died = [e for e in lines(events.text) if e["Action"] in ("kill", "die")]
        assert [(e["Action"], e["Actor"]["Attributes"]) for e in died] == [
            ("kill", {"name": "sleeper", "signal": "15"}),
            ("die", {"exitCode": "143", "name": "sleeper"}),
        ]

    scenario(api_factory, body)


def test_a_process_that_cannot_start_is_a_400_with_the_reason(
    api_factory: ApiFactory, subreaper: None
) -> None:
    """moby makes a missing binary, a permission or a user an invalid configuration: 400."""

    async def body(api: Api) -> None:
        await api.create("broken", {"command": ["/nonexistent/vigil-test-binary"]})
        answer = await api.client.post("/services/broken/start")
        assert answer.status_code == 400
        assert "/nonexistent/vigil-test-binary" in answer.json()["message"]
        shown = (await api.client.get("/services/broken/json")).json()["State"]
        assert shown["Error"] == answer.json()["message"]

    scenario(api_factory, body)
