"""The API client: hosts, the requests each method builds, answers and error mapping."""

from __future__ import annotations

import http.server
import json
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.client import Client, DaemonConnectionError, check_token, default_host, encode_filters
from vigil.exceptions import ApiError, VigilError

Handler = Callable[[httpx.Request], httpx.Response]


class FakeDaemon:
    """Answers requests from a table of ``(method, path) -> response`` and records them."""

    def __init__(self, routes: dict[tuple[str, str], httpx.Response | Handler] | None = None):
        self.routes = routes or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.raw_path.decode().split("?")[0]))
        if answer is None:
            return httpx.Response(204)
        return answer(request) if callable(answer) else answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def client(self, host: str = "unix:///run/test/vigil.sock") -> Client:
        return Client(host, transport=httpx.MockTransport(self))


def params(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


# ---- hosts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "uid", "expected"),
    [
        ({"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, "unix:///run/user/1000/vigil/vigil.sock"),
        ({"XDG_RUNTIME_DIR": "/run/user/0"}, 0, "unix:///run/user/0/vigil/vigil.sock"),
        ({}, 0, "unix:///run/vigil/vigil.sock"),
        ({"XDG_RUNTIME_DIR": ""}, 1000, "unix:///tmp/vigil-1000/vigil.sock"),
    ],
)
def test_default_host_follows_the_contract(environ: dict[str, str], uid: int, expected: str):
    """XDG_RUNTIME_DIR first, then root's /run/vigil, then a per-user /tmp directory."""
    assert default_host(environ, uid) == expected


def test_host_comes_from_argument_then_env_then_default(monkeypatch: pytest.MonkeyPatch):
    """An explicit host wins over VIGIL_HOST, which wins over the default socket."""
    monkeypatch.setenv("VIGIL_HOST", "tcp://127.0.0.1:2375")
    assert Client("unix:///a.sock").host == "unix:///a.sock"
    assert Client().host == "tcp://127.0.0.1:2375"
    monkeypatch.setenv("VIGIL_HOST", "")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert Client().host == "unix:///run/user/7/vigil/vigil.sock"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("unix:///run/vigil/vigil.sock", "http://vigil/_ping"),
        ("tcp://127.0.0.1:2375", "http://127.0.0.1:2375/_ping"),
        ("tcp://127.1.2.3:8080/", "http://127.1.2.3:8080/_ping"),
        ("tcp://localhost:8080", "http://localhost:8080/_ping"),
        ("tcp://[::1]:9000", "http://[::1]:9000/_ping"),
    ],
)
def test_hosts_map_to_base_urls(host: str, url: str):
    """unix:// talks HTTP over the socket; tcp:// loopback addresses become http:// URLs."""
    daemon = FakeDaemon({("GET", "/_ping"): httpx.Response(200, text="OK")})
    assert daemon.client(host).ping() == "OK"
    assert str(daemon.last.url) == url


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("tcp://10.0.0.5:2375", "only loopback addresses"),
        ("tcp://example.com:2375", "only loopback addresses"),
        ("tcp://127.0.0.1", "expected tcp://127.0.0.1:PORT"),
        ("tcp://127.0.0.1:x", "expected tcp://127.0.0.1:PORT"),
        ("tcp://127.0.0.1:2375/api", "expected tcp://127.0.0.1:PORT"),
        ("http://127.0.0.1:2375", "expected unix:///path or tcp://127.0.0.1:PORT"),
        ("/run/vigil.sock", "expected unix:///path or tcp://127.0.0.1:PORT"),
        ("unix://", "no socket path"),
    ],
)
def test_bad_and_remote_hosts_are_refused(host: str, message: str):
    """Plain HTTP carries the token: anything but a socket or loopback TCP is an error."""
    with pytest.raises(DaemonConnectionError, match=message):
        Client(host, transport=httpx.MockTransport(FakeDaemon()))


# ---- the token -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["tcp://127.0.0.1:2375", "unix:///run/test/vigil.sock"])
def test_a_token_is_sent_as_a_bearer_token_on_every_request(host: str):
    """Plain requests and streams alike; the caller decides where a token goes."""
    daemon = FakeDaemon({("GET", "/events"): httpx.Response(200, text="")})
    with Client(host, token="s3cret.T0ken~", transport=httpx.MockTransport(daemon)) as client:
        client.ping()
        list(client.events())
        client.kill("web")
    assert [r.headers["Authorization"] for r in daemon.requests] == ["Bearer s3cret.T0ken~"] * 3


def test_no_token_no_authorization_header():
    daemon = FakeDaemon()
    daemon.client("tcp://127.0.0.1:2375").ping()
    assert "Authorization" not in daemon.last.headers


@given(st.text(max_size=40))
def test_a_token_is_visible_ascii_and_never_shown(text: str):
    """A token that cannot travel in a header is refused with a fixed reason, which cannot
    quote it; an accepted one shows neither in the client's repr nor in its headers'."""
    token = "tok_" + text
    usable = all(0x21 <= ord(char) <= 0x7E for char in token)
    assert (check_token(token) is None) == usable
    transport = httpx.MockTransport(FakeDaemon())
    if usable:
        client = Client("tcp://127.0.0.1:2375", token=token, transport=transport)
        assert token not in repr(client)
        assert token not in repr(client._http.headers)
        return
    with pytest.raises(DaemonConnectionError) as caught:
        Client("tcp://127.0.0.1:2375", token=token, transport=transport)
    assert str(caught.value) == (
        "invalid token: it must be visible ASCII characters, without spaces or line breaks"
    )


def test_an_empty_token_is_refused():
    with pytest.raises(DaemonConnectionError) as caught:
        Client("tcp://127.0.0.1:2375", token="", transport=httpx.MockTransport(FakeDaemon()))
    assert str(caught.value) == "invalid token: it is empty"


# ---- requests ------------------------------------------------------------------------------


def test_encode_filters_uses_dockers_map_form():
    """Filters travel as Docker's {"key": {"value": true}} JSON; empty means no parameter."""
    assert encode_filters({"health": ["healthy", "starting"], "name": ["web"]}) == (
        '{"health":{"healthy":true,"starting":true},"name":{"web":true}}'
    )
    assert encode_filters({}) is None
    assert encode_filters(None) is None


def test_list_services_sends_all_and_filters():
    """`all` is sent as 1 only when set; filters as JSON."""
    items = [{"Id": "a" * 64, "Names": ["/web"]}]
    daemon = FakeDaemon({("GET", "/services/json"): httpx.Response(200, json=items)})
    client = daemon.client()
    assert client.list_services() == items
    assert params(daemon.last) == {}
    client.list_services(all=True, filters={"status": ["exited"]})
    assert params(daemon.last) == {"all": "1", "filters": '{"status":{"exited":true}}'}


@pytest.mark.parametrize(
    ("call", "method", "path", "query"),
    [
        (lambda c: c.start("web"), "POST", "/services/web/start", {}),
        (lambda c: c.stop("web"), "POST", "/services/web/stop", {}),
        (lambda c: c.stop("web", t=-1), "POST", "/services/web/stop", {"t": "-1"}),
        (lambda c: c.restart("web", t=3), "POST", "/services/web/restart", {"t": "3"}),
        (lambda c: c.restart("web"), "POST", "/services/web/restart", {}),
        (lambda c: c.kill("web"), "POST", "/services/web/kill", {}),
        (lambda c: c.kill("web", signal="HUP"), "POST", "/services/web/kill", {"signal": "HUP"}),
        (lambda c: c.kill("web", signal=15), "POST", "/services/web/kill", {"signal": "15"}),
        (lambda c: c.pause("web"), "POST", "/services/web/pause", {}),
        (lambda c: c.unpause("web"), "POST", "/services/web/unpause", {}),
        (lambda c: c.remove("web"), "DELETE", "/services/web", {}),
        (lambda c: c.remove("web", force=True), "DELETE", "/services/web", {"force": "1"}),
        (lambda c: c.down(), "POST", "/down", {}),
    ],
)
def test_actions_build_dockers_requests(
    call: Callable[[Client], object], method: str, path: str, query: dict[str, str]
):
    """Each action is one request to its route, optional parameters left out when unset."""
    daemon = FakeDaemon()
    call(daemon.client())
    assert (daemon.last.method, daemon.last.url.path, params(daemon.last)) == (method, path, query)


def test_refs_are_quoted_into_one_path_segment():
    """A ref with a slash cannot reach another route."""
    daemon = FakeDaemon({("GET", "/services/a%2Fb/json"): httpx.Response(200, json={})})
    assert daemon.client().inspect("a/b") == {}
    assert daemon.last.url.raw_path == b"/services/a%2Fb/json"


def test_start_and_stop_report_not_modified_as_false():
    """304 (already started / stopped) is success with nothing done, as in Docker."""
    daemon = FakeDaemon(
        {
            ("POST", "/services/web/start"): httpx.Response(304),
            ("POST", "/services/db/stop"): httpx.Response(204),
        }
    )
    client = daemon.client()
    assert client.start("web") is False
    assert client.stop("db") is True


def test_create_sends_the_service_entry_and_name():
    """POST /services/create?name=... with the vigil.yaml entry as the JSON body."""
    answer = {"Id": "f" * 64, "Warnings": []}
    daemon = FakeDaemon({("POST", "/services/create"): httpx.Response(201, json=answer)})
    spec = {"command": ["sleep", "9"], "healthcheck": {"test": ["CMD-SHELL", "true"]}}
    assert daemon.client().create("web", spec) == answer
    assert params(daemon.last) == {"name": "web"}
    assert json.loads(daemon.last.content) == spec


def test_inspect_version_and_ping():
    """Simple GETs return the decoded body."""
    daemon = FakeDaemon(
        {
            ("GET", "/services/web/json"): httpx.Response(200, json={"Id": "x"}),
            ("GET", "/version"): httpx.Response(200, json={"ApiVersion": "1.0"}),
            ("GET", "/_ping"): httpx.Response(200, text="OK"),
        }
    )
    client = daemon.client()
    assert client.inspect("web") == {"Id": "x"}
    assert client.version() == {"ApiVersion": "1.0"}
    assert client.ping() == "OK"


def test_wait_sends_condition_and_timeout():
    """The timeout is a Go duration text; unset means wait as long as it takes."""
    answer = {"Met": False, "Error": "service db is unhealthy", "ExitCode": 0}
    daemon = FakeDaemon({("POST", "/services/db/wait"): httpx.Response(200, json=answer)})
    client = daemon.client()
    assert client.wait("db", "healthy", timeout="1m30s") == answer
    assert params(daemon.last) == {"condition": "healthy", "timeout": "1m30s"}
    client.wait("db")
    assert params(daemon.last) == {"condition": "exited"}


def test_up_returns_the_errors():
    """POST /up answers the per-service start errors."""
    errors = ["service db: dependency failed to start: service cache is unhealthy"]
    daemon = FakeDaemon({("POST", "/up"): httpx.Response(200, json={"Errors": errors})})
    assert daemon.client().up() == errors


# ---- streams -------------------------------------------------------------------------------


def test_logs_yield_whole_lines_across_chunks():
    """Lines are reassembled across chunk boundaries; a last unterminated line comes too."""
    chunks = [b"one\ntw", b"o\n", b"thr", b"ee"]
    daemon = FakeDaemon({("GET", "/services/web/logs"): httpx.Response(200, content=iter(chunks))})
    assert list(daemon.client().logs("web")) == ["one\n", "two\n", "three"]
    assert params(daemon.last) == {}


def test_logs_parameters():
    """follow, tail and timestamps map onto Docker's query parameters."""
    daemon = FakeDaemon({("GET", "/services/web/logs"): httpx.Response(200, text="")})
    assert list(daemon.client().logs("web", follow=True, tail=10, timestamps=True)) == []
    assert params(daemon.last) == {"follow": "1", "tail": "10", "timestamps": "1"}


def test_events_are_decoded_line_by_line_in_key_order():
    """ndjson: one object a line, blank lines skipped, key order kept."""
    first = '{"Type":"service","Action":"start","Actor":{"ID":"x","Attributes":{"name":"w"}}}'
    body = f'{first}\n\n{{"Type":"service","Action":"die"}}\n'
    daemon = FakeDaemon({("GET", "/events"): httpx.Response(200, text=body)})
    events = list(daemon.client().events(since="10m", until="0s", filters={"event": ["die"]}))
    assert [e["Action"] for e in events] == ["start", "die"]
    assert list(events[0]) == ["Type", "Action", "Actor"]
    assert params(daemon.last) == {
        "since": "10m",
        "until": "0s",
        "filters": '{"event":{"die":true}}',
    }


def test_events_with_bad_json_raise_api_error():
    """A garbled stream is an ApiError, not a JSONDecodeError."""
    daemon = FakeDaemon({("GET", "/events"): httpx.Response(200, text="{oops\n")})
    with pytest.raises(ApiError, match="invalid event JSON"):
        list(daemon.client().events())


def test_stream_errors_carry_the_daemons_message():
    """An error status on a stream route raises before any item."""
    body = {"message": "invalid filter 'colour'"}
    daemon = FakeDaemon({("GET", "/events"): httpx.Response(400, json=body)})
    with pytest.raises(ApiError) as caught:
        list(daemon.client().events(filters={"colour": ["red"]}))
    assert (caught.value.status, caught.value.message) == (400, "invalid filter 'colour'")


def test_a_stream_dropped_midway_is_a_connection_error():
    """A transport error while reading a stream does not leak httpx's exception."""

    def broken() -> Iterator[bytes]:
        yield b"line\n"
        raise httpx.ReadError("connection reset")

    daemon = FakeDaemon({("GET", "/services/web/logs"): httpx.Response(200, content=broken())})
    lines = daemon.client().logs("web", follow=True)
    assert next(lines) == "line\n"
    with pytest.raises(DaemonConnectionError, match="connection reset"):
        next(lines)


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "status", "message"),
    [
        (httpx.Response(404, json={"message": "No such service: x"}), 404, "No such service: x"),
        (httpx.Response(409, json={"message": "is running"}), 409, "is running"),
        (httpx.Response(500, text="boom\n"), 500, "boom"),
        (httpx.Response(502, json={"error": "x"}), 502, '{"error":"x"}'),
        (httpx.Response(500), 500, "500 Internal Server Error"),
    ],
)
def test_error_answers_raise_api_error(response: httpx.Response, status: int, message: str):
    """Docker's {"message"} body becomes ApiError(status, message); other bodies as text."""
    daemon = FakeDaemon({("GET", "/services/x/json"): response})
    with pytest.raises(ApiError) as caught:
        daemon.client().inspect("x")
    assert (caught.value.status, caught.value.message) == (status, message)
    assert isinstance(caught.value, VigilError)


def test_invalid_json_answer_is_an_api_error():
    """A 200 that is not JSON cannot crash the caller with a decode error."""
    daemon = FakeDaemon({("GET", "/version"): httpx.Response(200, text="<html>")})
    with pytest.raises(ApiError, match="invalid JSON"):
        daemon.client().version()


def _raising(exc: type[httpx.TransportError], text: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(text, request=request)

    return handler


def test_connection_refused_reads_like_docker():
    """A daemon that is not there gets Docker's "Is the daemon running?" message."""
    client = Client(
        "unix:///run/x.sock",
        transport=httpx.MockTransport(
            _raising(httpx.ConnectError, "[Errno 111] Connection refused")
        ),
    )
    with pytest.raises(DaemonConnectionError) as caught:
        client.ping()
    assert str(caught.value) == (
        "Cannot connect to the vigil daemon at unix:///run/x.sock. Is the vigil daemon running?"
    )


def test_timeouts_and_other_transport_errors_are_mapped():
    """No httpx exception crosses the client."""
    timing_out = Client(
        "tcp://127.0.0.1:1", transport=httpx.MockTransport(_raising(httpx.ReadTimeout, "timed out"))
    )
    with pytest.raises(DaemonConnectionError, match="timed out talking to the vigil daemon"):
        timing_out.version()
    broken = Client(
        "tcp://127.0.0.1:1",
        transport=httpx.MockTransport(_raising(httpx.RemoteProtocolError, "illegal header")),
    )
    with pytest.raises(DaemonConnectionError, match="illegal header"):
        broken.version()


def test_missing_socket_is_a_connection_error(tmp_path: Path):
    """The real unix-socket transport, pointed at nothing."""
    host = f"unix://{tmp_path}/absent.sock"
    with Client(host) as client, pytest.raises(DaemonConnectionError) as caught:
        client.ping()
    assert str(caught.value) == (
        f"Cannot connect to the vigil daemon at {host}. Is the vigil daemon running?"
    )


class _PingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"OK" if self.path == "/_ping" else b'{"message":"page not found"}'
        self.send_response(200 if self.path == "/_ping" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port) pair


def test_unix_socket_round_trip():
    """The default transport really speaks HTTP over the socket path."""
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        path = f"{directory}/v.sock"  # short: AF_UNIX paths are limited to 107 bytes
        server = _UnixHTTPServer(path, _PingHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with Client(f"unix://{path}") as client:
                assert client.ping() == "OK"
                with pytest.raises(ApiError, match="page not found"):
                    client.inspect("nope")
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
