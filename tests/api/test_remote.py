"""TCP beyond loopback: only with ``--allow-remote``, which needs TLS; the Host check on
loopback TCP (DNS rebinding); the client speaking HTTPS with ``--tlscacert``."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from vigil.api import serve
from vigil.api.server import TLSFiles, parse_host
from vigil.api.tls import tls_files
from vigil.client import Client, DaemonConnectionError
from vigil.exceptions import ConfigError

if TYPE_CHECKING:
    from conftest import Api, ApiFactory

TOKEN = "0123456789abcdef0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def certificate(tmp_path: Path) -> TLSFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, made by openssl(1)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return TLSFiles(str(cert), str(key))


@asynccontextmanager
async def serving(api: Api, port: int, tls: TLSFiles | None) -> AsyncIterator[None]:
    """Serve ``api.app`` on 127.0.0.1:``port``; leaving stops it (bounded waits)."""
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(serve(api.app, unix_path=None, tcp=("127.0.0.1", port),
                                       token=TOKEN, tls=tls, ready=ready.set, stop=stop))
    waiting = asyncio.ensure_future(ready.wait())
    await asyncio.wait([task, waiting], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_tls_on_tcp_serves_https_to_a_client_with_the_ca(
    api_factory: ApiFactory, certificate: TLSFiles
) -> None:
    """The CLI's client with --tlscacert speaks HTTPS and verifies the daemon; plain HTTP on
    the same port gets no answer."""
    port = free_port()

    async def main() -> None:
        async with api_factory() as api, serving(api, port, certificate):

            def ping() -> str:
                with Client(f"tcp://127.0.0.1:{port}", token=TOKEN,
                            tls_ca=certificate.cert) as client:
                    return client.ping()

            assert await asyncio.to_thread(ping) == "OK"
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as plain:
                with pytest.raises(httpx.HTTPError):
                    await plain.get("/_ping", headers=BEARER)

    asyncio.run(main())


def test_on_loopback_tcp_a_foreign_host_header_is_403_even_with_the_token(
    api_factory: ApiFactory,
) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1."""
    port = free_port()

    async def main() -> None:
        async with (
            api_factory() as api,
            serving(api, port, None),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            answer = await client.get("/_ping", headers=BEARER)
            assert answer.status_code == 200
            evil = {**BEARER, "Host": f"evil.example:{port}"}
            answer = await client.get("/_ping", headers=evil)
            assert answer.status_code == 403
            assert "is not this daemon's address" in answer.json()["message"]

    asyncio.run(main())


def test_serve_refuses_remote_without_tls(api_factory: ApiFactory) -> None:
    async def main() -> None:
        async with api_factory() as api:
            with pytest.raises(ValueError, match="needs TLS"):
                await serve(api.app, unix_path=None, tcp=("0.0.0.0", 2375), token=TOKEN,
                            allow_remote=True, stop=asyncio.Event())

    asyncio.run(main())


@pytest.mark.parametrize(
    ("host", "cert", "key", "remote", "message"),
    [
        ("tcp://0.0.0.0:2375", None, None, True,
         "--allow-remote needs --tlscert and --tlskey: without TLS the API token and every "
         "request would cross the network in clear text"),
        ("tcp://127.0.0.1:2375", "c.pem", None, False,
         "--tlskey is missing: --tlscert and --tlskey go together"),
        ("unix:///run/x.sock", "c.pem", "k.pem", False,
         "--tlscert and --tlskey are for tcp:// hosts, not unix sockets"),
        ("tcp://127.0.0.1:2375", "/nonexistent/c.pem", "/nonexistent/k.pem", False,
         "--tlscert /nonexistent/c.pem / --tlskey /nonexistent/k.pem: No such file or "
         "directory"),
    ],
)  # fmt: skip
def test_tls_options_are_checked_with_one_clear_line(
    host: str, cert: str | None, key: str | None, remote: bool, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        tls_files(parse_host(host), cert, key, allow_remote=remote)
    assert str(caught.value) == message


def test_a_key_that_does_not_match_is_refused(certificate: TLSFiles, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True,
                   capture_output=True, timeout=60)
    with pytest.raises(ConfigError, match=r"^--tlscert .*: KEY_VALUES_MISMATCH"):
        tls_files(parse_host("tcp://127.0.0.1:2375"), certificate.cert, str(other),
                  allow_remote=False)


def test_the_client_needs_a_ca_for_a_remote_host() -> None:
    with pytest.raises(DaemonConnectionError, match="without --tlscacert"):
        Client("tcp://192.0.2.1:2376", token=TOKEN)
    with pytest.raises(DaemonConnectionError, match=r"^--tlscacert /nonexistent/ca\.pem: "):
        Client("tcp://192.0.2.1:2376", token=TOKEN, tls_ca="/nonexistent/ca.pem")


def test_vigil_up_refuses_allow_remote_without_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line, before anything listens."""
    from click.testing import CliRunner

    from vigil.cli.main import cli

    monkeypatch.setenv("VIGIL_TOKEN", TOKEN)
    (tmp_path / "vigil.yaml").write_text("services: {}\n")
    result = CliRunner().invoke(
        cli, ["up", "-f", str(tmp_path / "vigil.yaml"), "-H", "tcp://0.0.0.0:2375",
              "--allow-remote"],
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: --allow-remote needs --tlscert and --tlskey: without TLS the API token and "
        "every request would cross the network in clear text\n"
    )
