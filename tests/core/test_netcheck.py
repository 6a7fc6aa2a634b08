"""Network checks in vigil.yaml: the HTTP / TCP / GRPC test forms, the HTTP options, their
errors (every one under its path) and the render round trip."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.compose.load import load_project_text
from vigil.compose.project import parse_project
from vigil.compose.render import render_project
from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.core.netspec import HttpOptions, split_host_port
from vigil.core.probespec import (
    ExecSpec,
    GrpcSpec,
    HttpSpec,
    TcpSpec,
    spec_for_check,
    spec_for_service,
    unknown_test_type,
)
from vigil.exceptions import ConfigError
from vigil.go.duration import MILLISECOND

P = "services.web.healthcheck"


def web(check: dict[str, Any]) -> ServiceConfig:
    return parse_project({"services": {"web": {"healthcheck": check}}}, environ={}).services["web"]


def problems(check: object) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_project({"services": {"web": {"healthcheck": check}}}, environ={})
    return [str(problem) for problem in error.value.problems]


@pytest.mark.parametrize(
    ("test", "spec"),
    [
        (["HTTP", "http://127.0.0.1:8080/healthz"],
         HttpSpec("http://127.0.0.1:8080/healthz", HttpOptions())),
        (["HTTP", "https://example.test/"], HttpSpec("https://example.test/", HttpOptions())),
        (["TCP", "db.internal:5432"], TcpSpec("db.internal", 5432)),
        (["TCP", "[::1]:6379"], TcpSpec("::1", 6379)),
        (["GRPC", "127.0.0.1:50051"], GrpcSpec("127.0.0.1", 50051, "")),
        (["GRPC", "127.0.0.1:50051", "shop.Cart"], GrpcSpec("127.0.0.1", 50051, "shop.Cart")),
    ],
)
def test_network_test_forms_become_their_specs(test: list[str], spec: object) -> None:
    service = web({"test": test})
    assert service.healthcheck is not None
    assert service.healthcheck.runs_probe
    assert spec_for_service(service) == spec
    assert spec_for_check(service.healthcheck) == spec
    assert unknown_test_type(service.healthcheck) is None


def test_docker_types_keep_their_behaviour() -> None:
    assert spec_for_check(HealthcheckConfig(("CMD", "true"))) == ExecSpec(("CMD", "true"))
    assert not HealthcheckConfig(("NONE",)).runs_probe
    assert not HealthcheckConfig(("http", "http://x/")).runs_probe  # case-sensitive, as CMD
    assert unknown_test_type(HealthcheckConfig(("http", "http://x/"))) == "http"


@pytest.mark.parametrize(
    ("test", "message"),
    [
        (["HTTP"], f'{P}.test: ["HTTP", "URL"] expected, got 0 arguments'),
        (["HTTP", "ftp://x/"], f'{P}.test.1: unsupported protocol scheme "ftp" (http or https)'),
        (["HTTP", "http:///x"], f'{P}.test.1: parse "http:///x": no host in request URL'),
        (["HTTP", "http://a b/"],
         f'{P}.test.1: parse "http://a b/": invalid character in URL (percent-encode it)'),
        (["HTTP", "http://x:99999/"],
         f'{P}.test.1: parse "http://x:99999/": Port out of range 0-65535'),
        (["TCP", "127.0.0.1"], f"{P}.test.1: address 127.0.0.1: missing port in address"),
        (["TCP", "::1:80"], f"{P}.test.1: address ::1:80: too many colons in address"),
        (["TCP", "h:0"], f'{P}.test.1: address h:0: invalid port "0" (1-65535)'),
        (["TCP", ":80"], f"{P}.test.1: address :80: missing host"),
        (["TCP", "a/b:80"], f'{P}.test.1: address a/b:80: invalid host "a/b"'),
        (["TCP", "h:1", "x"], f'{P}.test: ["TCP", "HOST:PORT"] expected, got 2 arguments'),
        (["GRPC", "h:1", "s", "x"],
         f'{P}.test: ["GRPC", "HOST:PORT"] or ["GRPC", "HOST:PORT", "SERVICE"] expected, '
         "got 3 arguments"),
    ],
)
def test_malformed_network_tests_name_the_element(test: list[str], message: str) -> None:
    assert problems({"test": test}) == [message]


def test_http_options_are_read() -> None:
    service = web({
        "test": ["HTTP", "https://127.0.0.1:8443/ready"],
        "method": "HEAD",
        "headers": {"Authorization": "Bearer x", "Host": "app.local"},
        "expect_status": [200, "300-399"],
        "expect_body": "/ok|ready/",
        "max_response_time": "500ms",
        "tls_skip_verify": True,
        "ca_file": "/etc/ssl/ca.pem",
        "client_cert": "/etc/ssl/c.pem",
        "client_key": "/etc/ssl/k.pem",
        "interval": "5s",
    })
    assert service.healthcheck is not None
    assert service.healthcheck.http == HttpOptions(
        method="HEAD",
        headers=(("Authorization", "Bearer x"), ("Host", "app.local")),
        expect_status=((200, 200), (300, 399)),
        expect_body="/ok|ready/",
        max_response_time=500 * MILLISECOND,
        tls_skip_verify=True,
        ca_file="/etc/ssl/ca.pem",
        client_cert="/etc/ssl/c.pem",
        client_key="/etc/ssl/k.pem",
    )
    assert service.healthcheck.http.body_regex == "ok|ready"


def test_expect_status_may_be_a_single_code_or_range() -> None:
    for value, expected in ((204, ((204, 204),)), ("200-299", ((200, 299),))):
        check = web({"test": ["HTTP", "http://h/"], "expect_status": value}).healthcheck
        assert check is not None
        assert check.http is not None
        assert check.http.expect_status == expected


def test_every_http_option_problem_is_reported_under_its_path() -> None:
    assert problems({
        "test": ["HTTP", "http://h/"],
        "method": "TRACE",
        "headers": {"Bad Name": "x", "X-Ok": "line\nbreak", "X-Num": 5},
        "expect_status": [99, "200-100", "2xx", True],
        "expect_body": "/(unclosed/",
        "max_response_time": "10us",
        "tls_skip_verify": "yes",
        "ca_file": "relative.pem",
        "client_key": "/k.pem",
        "bogus": 1,
    }) == [
        f"{P}.method: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        f'{P}.headers.Bad Name: invalid header name "Bad Name"',
        f'{P}.headers.X-Ok: invalid value for header "X-Ok": control characters are not allowed',
        f"{P}.headers.X-Num: must be a string",
        f"{P}.expect_status.0: invalid status 99: HTTP codes are 100-599",
        f'{P}.expect_status.1: invalid status range "200-100": 200 is greater than 100',
        f'{P}.expect_status.2: invalid status "2xx": a code like 200 or a range like "200-299"',
        f'{P}.expect_status.3: must be a code or a range like "200-299"',
        f"{P}.expect_body: error parsing regexp: missing ): (unclosed",
        f"{P}.max_response_time: must be at least 1ms",
        f"{P}.tls_skip_verify: must be a boolean",
        f'{P}.ca_file: "relative.pem" must be an absolute path',
        f"{P}: Additional property bogus is not allowed",
        f"{P}.client_key: requires client_cert",
    ]


def test_http_options_on_another_test_are_errors() -> None:
    assert problems({"test": ["CMD", "true"], "method": "GET", "expect_body": "x"}) == [
        f'{P}.method: only for an HTTP test (test: ["HTTP", URL]), not CMD',
        f'{P}.expect_body: only for an HTTP test (test: ["HTTP", URL]), not CMD',
    ]
    assert problems({"test": ["TCP", "h:1"], "headers": {}}) == [
        f'{P}.headers: only for an HTTP test (test: ["HTTP", URL]), not TCP',
    ]
    assert problems({"dockerfile": "HEALTHCHECK CMD true", "method": "GET"}) == [
        f"{P}.dockerfile: cannot be combined with method",
    ]


def test_split_host_port_reads_like_go() -> None:
    assert split_host_port("[fe80::1]:443") == ("fe80::1", 443)
    assert split_host_port("localhost:80") == ("localhost", 80)
    with pytest.raises(ValueError, match="missing port"):
        split_host_port("[::1]")


YAML = """\
services:
  web:
    healthcheck:
      test: ["HTTP", "https://127.0.0.1:8443/ready?full=1"]
      interval: 5s
      method: POST
      headers: {Authorization: "Bearer t0k:en", X-Empty: ""}
      expect_status: [200, "300-304"]
      expect_body: '/"status":\\s*"UP"/'
      max_response_time: 1.5s
      tls_skip_verify: true
      ca_file: /etc/vigil/ca.pem
      client_cert: /etc/vigil/client.pem
      client_key: /etc/vigil/client.key
  db:
    healthcheck:
      test: ["TCP", "127.0.0.1:5432"]
  api:
    healthcheck:
      test: ["GRPC", "[::1]:50051", "shop.Cart"]
"""


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_vigil_config_renders_network_checks_back_to_an_equal_config(fmt: str) -> None:
    project = load_project_text(YAML)
    rendered = render_project(project, fmt)  # type: ignore[arg-type]
    assert load_project_text(rendered) == project
    assert "expect_status" in rendered


def test_the_daemons_saved_form_reads_back_equal() -> None:
    """The state directory keeps services as ``service_to_dict``; a restart reads them with
    ``parse_service``: HTTP options survive a daemon restart."""
    from vigil.compose.project import parse_service
    from vigil.compose.render import service_to_dict

    for name, service in load_project_text(YAML).services.items():
        saved = service_to_dict(service)
        assert parse_service(name, saved, path=f"services.{name}", environ={}) == service
