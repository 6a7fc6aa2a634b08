"""Serving on real sockets (a unix socket under tmp_path, TCP on loopback with its token),
host addresses, and shutdown that does not wait for open streams."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from vigil.api import ListenError, close_streams, default_host, parse_host, serve
from vigil.core.events import TargetCreated, TargetRef
from vigil.exceptions import ConfigError
from vigil.testing import settle

if TYPE_CHECKING:
    from conftest import Api, ApiFactory


TOKEN = "0123456789abcdef0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def serving(
    api: Api, *, unix_path: Path | None = None, tcp: tuple[str, int] | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Serve ``api.app``; leaving the block sets ``stop`` and waits (bounded) for the end."""
    stop = asyncio.Event()
    listening = asyncio.Event()
    calls: list[str] = []

    def ready() -> None:
        calls.append("ready")
        listening.set()

    where = None if unix_path is None else str(unix_path)
    task = asyncio.ensure_future(
        serve(api.app, unix_path=where, tcp=tcp, token=TOKEN, ready=ready, stop=stop)
    )
    waiting = asyncio.ensure_future(listening.wait())
    await asyncio.wait([task, waiting], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # raises what serve raised
    assert calls == ["ready"]
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def uds_client(path: Path) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(uds=str(path))
    return httpx.AsyncClient(transport=transport, base_url="http://vigil")


def test_unix_socket_is_private_and_answers(api_factory: ApiFactory, tmp_path: Path) -> None:
    """Mode 0600 in a new 0700 directory; /_ping answers over it; the file goes at the end."""
    path = tmp_path / "run" / "vigil.sock"

    async def main() -> None:
        async with api_factory() as api:
            umask = os.umask(0o022)
            try:
                async with serving(api, unix_path=path):
                    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
                    assert stat.S_ISSOCK(os.stat(path).st_mode)
                    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
                    assert os.umask(0o022) == 0o022  # restored after binding
                    async with uds_client(path) as client:
                        answer = await client.get("/_ping")
                        assert (answer.status_code, answer.text) == (200, "OK")
                        assert answer.headers["server"].startswith("vigil/")
            finally:
                os.umask(umask)
            assert not path.exists()

    asyncio.run(main())


def test_open_event_stream_gets_live_events_and_does_not_block_shutdown(
    api_factory: ApiFactory, tmp_path: Path
) -> None:
    """A live event is written as soon as it is appended; stopping the server ends the open
    stream and releases its subscription."""
    path = tmp_path / "vigil.sock"

    async def main() -> None:
        async with api_factory() as api:
            events = api.manager.events
            async with serving(api, unix_path=path) as task, uds_client(path) as client:
                async with client.stream("GET", "/events") as answer:
                    assert answer.headers["content-type"] == "application/x-ndjson"
                    assert events.subscriber_count == 1
                    api.manager.engine.stream.publish(
                        TargetCreated(TargetRef("0" * 64, "x"), api.clock.now_ns()))
                    lines = answer.aiter_lines()
                    line = await asyncio.wait_for(anext(lines), 10)
                    assert json.loads(line)["Action"] == "create"
                    close_streams(api.app)  # what serve does first when stop is set
                    assert [line async for line in lines] == []
                assert not task.done()
            assert events.subscriber_count == 0

    asyncio.run(main())


def test_stop_with_a_stream_still_open_returns_promptly(
    api_factory: ApiFactory, tmp_path: Path
) -> None:
    path = tmp_path / "vigil.sock"

    async def main() -> None:
        async with api_factory() as api, uds_client(path) as client:
            async with serving(api, unix_path=path):
                stream = client.stream("GET", "/events")
                answer = await stream.__aenter__()
                assert api.manager.events.subscriber_count == 1
            # serving() returned: serve ended although the client never closed its stream
            assert api.manager.events.subscriber_count == 0
            await answer.aread()
            await stream.__aexit__(None, None, None)

    asyncio.run(main())


def test_a_second_daemon_on_the_same_socket_is_refused(
    api_factory: ApiFactory, tmp_path: Path
) -> None:
    path = tmp_path / "vigil.sock"

    async def main() -> None:
        async with api_factory() as api, serving(api, unix_path=path):
            with pytest.raises(ListenError) as caught:
                await serve(api.app, unix_path=str(path), tcp=None, stop=asyncio.Event())
            assert str(caught.value) == f"a vigil daemon is already listening on unix://{path}"
            assert path.exists()
            async with uds_client(path) as client:
                assert (await client.get("/_ping")).status_code == 200

    asyncio.run(main())


def test_a_stale_socket_file_is_replaced(api_factory: ApiFactory, tmp_path: Path) -> None:
    path = tmp_path / "vigil.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: a daemon that crashed

    async def main() -> None:
        async with api_factory() as api, serving(api, unix_path=path), uds_client(path) as client:
            assert (await client.get("/_ping")).status_code == 200

    asyncio.run(main())


def test_a_file_that_is_not_a_socket_is_left_alone(api_factory: ApiFactory, tmp_path: Path) -> None:
    path = tmp_path / "vigil.sock"
    path.write_text("keep me")

    async def main() -> None:
        async with api_factory() as api:
            with pytest.raises(ListenError, match="exists and is not a socket"):
                await serve(api.app, unix_path=str(path), tcp=None, stop=asyncio.Event())

    asyncio.run(main())
    assert path.read_text() == "keep me"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_tcp_on_loopback_needs_the_token_the_unix_socket_does_not(
    api_factory: ApiFactory, tmp_path: Path
) -> None:
    """One daemon on both: TCP answers 401 without the token (``/_ping`` too) and serves with
    it; the unix socket, guarded by its mode, serves without. A taken port is refused."""
    port = free_port()
    path = tmp_path / "vigil.sock"

    async def main() -> None:
        async with api_factory() as api, serving(api, unix_path=path, tcp=("127.0.0.1", port)):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for route in ("/_ping", "/version"):
                    answer = await client.get(route)
                    assert answer.status_code == 401
                    assert answer.json()["message"].startswith("unauthorized: ")
                    assert answer.headers["www-authenticate"] == 'Bearer realm="vigil"'
                answer = await client.get("/version", headers=BEARER)
                assert answer.json()["Pid"] == os.getpid()
            async with uds_client(path) as client:
                assert (await client.get("/version")).json()["Pid"] == os.getpid()
            with pytest.raises(ListenError, match="address already in use"):
                await serve(
                    api.app,
                    unix_path=None,
                    tcp=("127.0.0.1", port),
                    token=TOKEN,
                    stop=asyncio.Event(),
                )

    asyncio.run(main())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_tcp_listens_on_loopback_only(api_factory: ApiFactory, host: str) -> None:
    async def main() -> None:
        async with api_factory() as api:
            with pytest.raises(ListenError) as caught:
                await serve(
                    api.app, unix_path=None, tcp=(host, 2375), token=TOKEN, stop=asyncio.Event()
                )
            where = f"tcp://[{host}]:2375" if ":" in host else f"tcp://{host}:2375"
            assert str(caught.value) == (
                f"cannot listen on {where}: only loopback addresses (127.0.0.1, ::1, "
                "localhost) are allowed without --allow-remote (which needs --tlscert and --tlskey)"
            )

    asyncio.run(main())


def test_tcp_without_a_token_is_refused_before_binding(api_factory: ApiFactory) -> None:
    async def main() -> None:
        async with api_factory() as api:
            for token in (None, ""):
                with pytest.raises(ValueError, match="needs a token"):
                    await serve(
                        api.app,
                        unix_path=None,
                        tcp=("127.0.0.1", 1),
                        token=token,
                        stop=asyncio.Event(),
                    )

    asyncio.run(main())


def test_shutdown_answers_a_pending_wait(api_factory: ApiFactory) -> None:
    """A ``wait`` still blocked at shutdown gets a 500 saying so instead of hanging."""

    async def main() -> None:
        async with api_factory() as api:
            await api.started("web")
            request = asyncio.ensure_future(api.client.post("/services/web/wait"))
            await settle()
            close_streams(api.app)
            answer = await asyncio.wait_for(request, 10)
            assert (answer.status_code, answer.json()) == (
                500,
                {"message": "the vigil daemon is shutting down"},
            )

    asyncio.run(main())


# ---- host addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("unix:///run/vigil/vigil.sock", ("unix", "/run/vigil/vigil.sock")),
        ("tcp://127.0.0.1:2375", ("tcp", ("127.0.0.1", 2375))),
        ("tcp://localhost:8080/", ("tcp", ("localhost", 8080))),
        ("tcp://[::1]:2375", ("tcp", ("::1", 2375))),
    ],
)
def test_parse_host(text: str, parsed: object) -> None:
    assert parse_host(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/run/vigil.sock", "expected unix:///path/to/socket or tcp://HOST:PORT"),
        ("unix://", "the socket path is missing"),
        ("unix://vigil.sock", "the socket path must be absolute"),
        ("http://127.0.0.1:80", "unsupported protocol http://, expected unix:// or tcp://"),
        ("tcp://127.0.0.1", "the port is missing"),
        ("tcp://127.0.0.1:0", "the port must be from 1 to 65535"),
        ("tcp://127.0.0.1:99999", "the port must be a number from 1 to 65535"),
        ("tcp://127.0.0.1:http", "the port must be a number from 1 to 65535"),
        ("tcp://:2375", "the host name is missing"),
        ("tcp://127.0.0.1:2375/v1", "expected tcp://HOST:PORT and nothing more"),
    ],
)
def test_parse_host_errors_name_the_host(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_host(text)
    assert str(caught.value) == f'invalid host "{text}": {reason}'


def test_default_host_follows_the_contract() -> None:
    assert default_host({"XDG_RUNTIME_DIR": "/run/user/1000"}, uid=1000) == (
        "unix:///run/user/1000/vigil/vigil.sock"
    )
    assert default_host({"XDG_RUNTIME_DIR": ""}, uid=0) == "unix:///run/vigil/vigil.sock"
    assert default_host({}, uid=1000) == "unix:///tmp/vigil-1000/vigil.sock"
