"""``fleet:`` and ``checks:`` in vigil.yaml: what is accepted, every problem named by its path
and value, network probes only, and a round trip through the rendered config."""

from __future__ import annotations

import pytest
import yaml

from vigil.compose.load import load_project_text
from vigil.compose.project import parse_shared_check
from vigil.compose.render import project_to_dict
from vigil.core.fleet import FleetConfig, SharedCheck
from vigil.exceptions import ConfigError
from vigil.go.duration import SECOND

URL = "postgresql://vigil@db.example:5432/fleet"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, environ={})
    return [str(p) for p in caught.value.problems]


def test_fleet_and_checks_are_read() -> None:
    """Every key lands where it belongs; placement any is the empty tuple."""
    project = load_project_text(
        f"fleet: {{url: '{URL}', node: n1, lease_ttl: 15s}}\n"
        "checks:\n"
        "  api: {test: [HTTP, 'http://127.0.0.1:8080/health'], interval: 5s, retries: 2,\n"
        "        expect_status: [200], placement: {nodes: [n1, n2]}}\n"
        "  db: {test: [TCP, '127.0.0.1:5432'], placement: any}\n", environ={})
    assert project.fleet == FleetConfig(URL, "n1", 15 * SECOND)
    api = project.checks["api"]
    assert api.placement == ("n1", "n2")
    assert api.healthcheck.retries == 2
    assert api.healthcheck.http is not None
    assert project.checks["db"] == SharedCheck(
        "db", project.checks["db"].healthcheck, ())


def test_rendered_config_reads_back_the_same() -> None:
    """``vigil config`` shows fleet: and checks:, and that text loads to the same project."""
    text = (f"fleet: {{url: '{URL}', lease_ttl: 3s}}\n"
            "checks:\n  g: {test: [GRPC, '127.0.0.1:50051', svc], interval: 1s,"
            " placement: {nodes: [a]}}\n")
    project = load_project_text(text, environ={})
    again = load_project_text(yaml.safe_dump(project_to_dict(project)), environ={})
    assert again.fleet == project.fleet
    assert again.checks == project.checks


@pytest.mark.parametrize(("text", "expected"), [
    ("fleet: {node: a}", ["fleet: url is required (postgresql://...)"]),
    ("fleet: {url: 'sqlite:///x'}",
     ["fleet.url: must be a postgresql:// URL (the fleet shares one PostgreSQL database)"]),
    (f"fleet: {{url: '{URL}', node: 'a/b', lease_ttl: 500ms, extra: 1}}", [
        "fleet.node: invalid node name 'a/b': must match ^[a-zA-Z0-9._-]+$ "
        "(at most 128 characters), like a service name",
        "fleet.lease_ttl: must be from 1s to 1h0m0s, not 500ms",
        "fleet: Additional property extra is not allowed"]),
    (f"fleet: {{url: '{URL}', lease_ttl: 10}}",
     ["fleet.lease_ttl: must be a string"]),
    (f"fleet: {{url: '{URL}', lease_ttl: '10'}}",
     ['fleet.lease_ttl: time: missing unit in duration "10"']),
    ("fleet: [1]", ["fleet: must be a mapping"]),
])
def test_bad_fleet_settings_are_named(text: str, expected: list[str]) -> None:
    """Each problem names its path and the value; unknown keys are errors."""
    assert _problems(text) == expected


NET_ONLY = ('a shared check must be a network probe: test must start with "HTTP", "TCP" or '
            '"GRPC" (nothing in the fleet\'s tables is run as a command)')


@pytest.mark.parametrize(("entry", "expected"), [
    ("{test: [CMD, 'rm -rf /']}", [f"checks.x.test: {NET_ONLY}"]),
    ("{test: 'curl -f http://x/'}", [f"checks.x.test: {NET_ONLY}"]),
    ("{interval: 1s}", [f"checks.x: {NET_ONLY}"]),
    ("{dockerfile: 'HEALTHCHECK CMD true'}",
     ["checks.x: Additional property dockerfile is not allowed", f"checks.x: {NET_ONLY}"]),
    ("{test: [TCP, 'nohost'], placement: all}", [
        'checks.x.placement: must be "any" or a mapping {nodes: [...]}',
        "checks.x.test.1: address nohost: missing port in address"]),
    ("{test: [TCP, 'h:1'], placement: {nodes: []}}",
     ["checks.x.placement.nodes: must be a list of 1 to 1000 node names"]),
    ("{test: [TCP, 'h:1'], placement: {hosts: [a]}}", [
        "checks.x.placement: Additional property hosts is not allowed",
        "checks.x.placement: nodes is required"]),
    ("{test: [TCP, 'h:1'], placement: {nodes: [ok, 'no way']}}", [
        "checks.x.placement.nodes.1: invalid node name 'no way': must match "
        "^[a-zA-Z0-9._-]+$ (at most 128 characters), like a service name"]),
    ("{test: [TCP, 'h:1'], bogus: 1}", ["checks.x: Additional property bogus is not allowed"]),
])
def test_bad_shared_checks_are_named(entry: str, expected: list[str]) -> None:
    """Only network probes, placement any or {nodes: [...]}, every problem at its path."""
    assert sorted(_problems(f"checks:\n  x: {entry}\n")) == sorted(expected)


def test_a_check_name_follows_the_service_rule() -> None:
    assert _problems("checks:\n  'a b': {test: [TCP, 'h:1']}\n") == [
        "checks: Additional property a b is not allowed"]


def test_a_spec_read_back_from_the_database_is_checked_again() -> None:
    """What another node stored is parsed with the same rules: a command is refused."""
    with pytest.raises(ConfigError, match="network probe"):
        parse_shared_check("evil", {"test": ["CMD-SHELL", "id"]}, path="checks.evil")
    with pytest.raises(ConfigError, match="not allowed"):
        parse_shared_check("a/b", {"test": ["TCP", "h:1"]}, path="checks.a/b")
    check = parse_shared_check("ok", {"test": ["TCP", "h:1"], "placement": "any"},
                               path="checks.ok")
    assert check.placement == ()
