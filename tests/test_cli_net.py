"""`vigil check --http/--tcp/--grpc` and `vigil run --health-http/-tcp/-grpc` flags."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click
import pytest
from click.testing import CliRunner

from vigil.cli.flags import run_spec
from vigil.cli.main import cli
from vigil.cli.netflags import net_test


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == "/ok" else 503
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(30)


def check(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(cli, ["check", *args])
    out = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, out, result.stderr


def test_check_http_passes_and_fails_with_dockers_result_shape(server: int) -> None:
    code, out, _ = check("--http", f"http://127.0.0.1:{server}/ok")
    assert code == 0
    assert list(out) == ["Start", "End", "ExitCode", "Output"]
    assert out["Output"].startswith("HTTP 200 OK in ")
    code, out, _ = check("--http", f"http://127.0.0.1:{server}/down")
    assert (code, out["ExitCode"]) == (1, 1)
    assert out["Output"].startswith("HTTP 503 Service Unavailable in ")


def test_check_tcp(server: int) -> None:
    code, out, _ = check("--tcp", f"127.0.0.1:{server}")
    assert (code, out["ExitCode"]) == (0, 0)


def test_check_grpc_without_a_server_fails(server: int) -> None:
    code, out, _ = check("--grpc", f"127.0.0.1:{server}/my.Service", "--health-timeout", "5s")
    assert code == 1
    assert out["ExitCode"] in (1, -1)  # an HTTP/1 server is no gRPC server either way


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--http", "ftp://x"],
         'invalid argument "ftp://x" for "--http" flag: unsupported protocol scheme "ftp"'),
        (["--tcp", "localhost"],
         'invalid argument "localhost" for "--tcp" flag: address localhost: missing port'),
        (["--grpc", "h:1/s", "--tcp", "h:1"], "--tcp, --grpc: give only one network check"),
        (["--tcp", "h:1", "--", "true"], "--http, --tcp and --grpc take no -f"),
    ],
)
def test_check_flag_errors(args: list[str], message: str) -> None:
    code, _, err = check(*args)
    assert code == 2
    assert message in err


def test_grpc_flag_splits_the_service() -> None:
    assert net_test(http=None, tcp=None, grpc="[::1]:50051/shop.Cart") == [
        "GRPC", "[::1]:50051", "shop.Cart"]
    assert net_test(http=None, tcp=None, grpc="h:1") == ["GRPC", "h:1"]
    assert net_test(http=None, tcp=None, grpc=None) is None


def _run_options(**given: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "detach": True, "name": "web", "command": ("sleep", "9"), "env": (), "workdir": None,
        "user": None, "restart": None, "health_cmd": None, "health_interval": None,
        "health_timeout": None, "health_retries": None, "health_start_period": None,
        "health_start_interval": None, "no_healthcheck": False, "health_http": None,
        "health_tcp": None, "health_grpc": None,
    }
    return options | given


def test_run_health_flags_make_the_test() -> None:
    spec = run_spec(_run_options(health_http="http://127.0.0.1:8000/", health_interval="5s"))
    assert spec["healthcheck"] == {"test": ["HTTP", "http://127.0.0.1:8000/"], "interval": "5s"}
    assert run_spec(_run_options(health_grpc="h:1/svc"))["healthcheck"] == {
        "test": ["GRPC", "h:1", "svc"]}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"health_cmd": "true", "health_tcp": "h:1"},
         "--health-cmd conflicts with --health-http/-tcp/-grpc"),
        ({"health_tcp": "h"}, 'invalid argument "h" for "--health-tcp" flag'),
        ({"health_http": "x", "health_tcp": "h:1"}, "--health-http, --health-tcp: give only one"),
        ({"health_tcp": "h:1", "no_healthcheck": True},
         "--no-healthcheck conflicts with --health-* options"),
    ],
)
def test_run_health_flag_errors(given: dict[str, Any], message: str) -> None:
    with pytest.raises(click.UsageError) as error:
        run_spec(_run_options(**given))
    assert message in str(error.value)


def test_check_a_files_http_service_with_its_options(server: int, tmp_path: Any) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text(f"""
services:
  web:
    healthcheck:
      test: ["HTTP", "http://127.0.0.1:{server}/down"]
      expect_status: [503]
""")
    code, out, err = check("-f", str(config), "web")
    assert code == 0, err
    assert out["Output"].startswith("HTTP 503 Service Unavailable in ")


def test_vigil_config_says_when_grpcio_is_missing(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from vigil.probes.grpc import MISSING

    config = tmp_path / "vigil.yaml"
    config.write_text('services:\n  cart:\n    healthcheck:\n      test: ["GRPC", "h:1"]\n')
    assert CliRunner().invoke(cli, ["config", "-f", str(config)]).exit_code == 0
    monkeypatch.setitem(sys.modules, "grpc_health.v1", None)  # as if not installed
    result = CliRunner().invoke(cli, ["config", "-f", str(config)])
    assert result.exit_code == 1
    assert result.stderr == f"services.cart.healthcheck.test: {MISSING}\n"
