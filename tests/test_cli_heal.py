"""``vigil run --on-unhealthy``: the short form of ``on_unhealthy``, checked before sending."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.core.remediation import RemediationPolicy

if TYPE_CHECKING:
    from conftest import CliDaemon


def _spec(daemon: CliDaemon) -> dict[str, Any]:
    creates = [r for r in daemon.requests if r.url.path == "/services/create"]
    body: dict[str, Any] = json.loads(creates[0].content)
    return body


def test_run_sends_on_unhealthy(cli_daemon: CliDaemon) -> None:
    result = CliRunner().invoke(cli, ["run", "-d", "--name", "web", "--on-unhealthy", "restart",
                                      "--", "sleep", "1000"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert _spec(cli_daemon) == {"command": ["sleep", "1000"], "on_unhealthy": "restart"}
    config = cli_daemon.manager.lookup("web").config
    assert config.on_unhealthy == RemediationPolicy("restart")


def test_run_refuses_an_unknown_action(cli_daemon: CliDaemon) -> None:
    result = CliRunner().invoke(cli, ["run", "-d", "--name", "web", "--on-unhealthy", "reboot",
                                      "--", "sleep", "9"], catch_exceptions=False)
    assert result.exit_code == 2
    assert ('Error: invalid argument "reboot" for "--on-unhealthy" flag: must be one of '
            "restart, stop, kill, none") in result.stderr
    assert cli_daemon.requests == []
