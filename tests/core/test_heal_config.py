"""``on_unhealthy`` and ``hooks`` in vigil.yaml: accepted shapes, the normal form, and every
problem named by its path with the value."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from vigil.compose.project import parse_project, parse_service
from vigil.compose.render import render_project
from vigil.core.config import ServiceConfig
from vigil.core.hooks import HookContext, HooksConfig, hook_environment
from vigil.core.remediation import RemediationPolicy
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.exceptions import ConfigError
from vigil.go.duration import MINUTE, SECOND

S = SECOND
OWNED = {"command": ["sleep", "1000"]}


def web(body: dict[str, Any]) -> ServiceConfig:
    return parse_service("web", body, path="services.web", environ={})


def problems(body: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_project({"services": {"web": body}}, environ={})
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        ("restart", RemediationPolicy("restart")),
        ("none", RemediationPolicy()),
        ({"action": "kill"}, RemediationPolicy("kill")),
        ({"action": "restart", "max_restarts": 5, "window": "10m", "backoff": "1s"},
         RemediationPolicy("restart", 5, 10 * MINUTE, 1 * S)),
        ({"action": "stop", "backoff": 0, "x-note": "ignored"},
         RemediationPolicy("stop", backoff=0)),
    ],
)  # fmt: skip
def test_on_unhealthy_forms(value: object, policy: RemediationPolicy) -> None:
    assert web({**OWNED, "on_unhealthy": value}).on_unhealthy == policy


def test_defaults_none_as_docker() -> None:
    assert web(OWNED).on_unhealthy == RemediationPolicy()
    assert web(OWNED).hooks == HooksConfig()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("reboot", ['services.web.on_unhealthy: unknown action "reboot": must be one of '
                    '"restart", "stop", "kill", "none"']),
        (5, ["services.web.on_unhealthy: must be a string or mapping, not 5"]),
        ([], ["services.web.on_unhealthy: must be a string or mapping, not a list"]),
        ({"max_restarts": 2}, ["services.web.on_unhealthy: action is required"]),
        ({"action": "restart", "max_restarts": 0},
         ["services.web.on_unhealthy.max_restarts: must be from 1 to 10000, not 0"]),
        ({"action": "restart", "max_restarts": "3"},
         ['services.web.on_unhealthy.max_restarts: must be an integer, not "3"']),
        ({"action": "restart", "max_restarts": True},
         ["services.web.on_unhealthy.max_restarts: must be an integer, not true"]),
        ({"action": "restart", "max_restarts": 10**400},
         ["services.web.on_unhealthy.max_restarts: must be from 1 to 10000, not "
          + "1" + "0" * 63 + "..."]),
        ({"action": "restart", "window": 0},
         ["services.web.on_unhealthy.window: must be at least 1ms, not 0"]),
        ({"action": "restart", "window": "10"},
         ['services.web.on_unhealthy.window: time: missing unit in duration "10"']),
        ({"action": "restart", "backoff": "-1s"},
         ['services.web.on_unhealthy.backoff: cannot be negative, not "-1s"']),
        ({"action": "restart", "retries": 3},
         ["services.web.on_unhealthy: Additional property retries is not allowed"]),
        ({"action": "bounce", "window": "x"},
         ['services.web.on_unhealthy.action: unknown action "bounce": must be one of '
          '"restart", "stop", "kill", "none"',
          'services.web.on_unhealthy.window: time: invalid duration "x"']),
    ],
)  # fmt: skip
def test_on_unhealthy_problems(value: object, expected: list[str]) -> None:
    assert problems({**OWNED, "on_unhealthy": value}) == expected


@pytest.mark.parametrize("action", ["restart", "kill"])
def test_restart_and_kill_need_a_process(action: str) -> None:
    """A watched service has no process to restart or signal; hooks can act on it."""
    assert problems({"on_unhealthy": action}) == [
        f'services.web.on_unhealthy: "{action}" needs a command: vigil only watches this '
        "service (run something on it with hooks.on_unhealthy instead)"]
    assert web({"on_unhealthy": "stop"}).on_unhealthy == RemediationPolicy("stop")


def test_hooks_forms() -> None:
    hooks = web({"hooks": {
        "on_unhealthy": "notify-send down",
        "on_healthy": ["CMD", "logger", "up"],
        "timeout": "3s",
        "x-why": "anchors",
    }}).hooks
    assert hooks == HooksConfig(("CMD-SHELL", "notify-send down"), ("CMD", "logger", "up"),
                                3 * S)
    assert hooks.effective_timeout == 3 * S
    assert HooksConfig().effective_timeout == 10 * S


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], ["services.web.hooks: must be a mapping"]),
        ({"on_unhealthy": ["NONE"]},
         ['services.web.hooks.on_unhealthy: must start with "CMD" or "CMD-SHELL", not "NONE"']),
        ({"on_unhealthy": []},
         ['services.web.hooks.on_unhealthy: must start with "CMD" or "CMD-SHELL", '
          "not an empty list"]),
        ({"on_healthy": ["CMD"]}, ['services.web.hooks.on_healthy: needs a command after "CMD"']),
        ({"on_healthy": ["CMD-SHELL", ""]},
         ['services.web.hooks.on_healthy: needs a command after "CMD-SHELL"']),
        ({"on_healthy": 7}, ["services.web.hooks.on_healthy: must be a string or list"]),
        ({"on_healthy": ["CMD", 7]}, ["services.web.hooks.on_healthy.1: must be a string"]),
        ({"on_healthy": "a\0b"}, ["services.web.hooks.on_healthy.1: must not contain a NUL "
                                  "character"]),
        ({"timeout": "0s"}, ['services.web.hooks.timeout: must be at least 1ms, not "0s"']),
        ({"on_change": "x"}, ["services.web.hooks: Additional property on_change is not "
                              "allowed"]),
    ],
)  # fmt: skip
def test_hooks_problems(value: object, expected: list[str]) -> None:
    assert problems({"hooks": value}) == expected


def test_normal_form_round_trips() -> None:
    """``vigil config`` shows the short form when no limit is set, the keys set otherwise,
    and loading what it prints gives the same project."""
    text = """
services:
  a:
    command: [sleep, "1"]
    on_unhealthy: restart
    hooks: {on_unhealthy: "echo down", on_healthy: [CMD, "true"], timeout: 90s}
  b:
    command: [sleep, "1"]
    on_unhealthy: {action: kill, max_restarts: 3, window: 1h, backoff: 0}
  c:
    on_unhealthy: none
    hooks: {}
"""
    project = parse_project(yaml.safe_load(text), environ={})
    rendered = render_project(project, "yaml")
    assert "    on_unhealthy: restart\n" in rendered
    assert ("    on_unhealthy:\n      action: kill\n      max_restarts: 3\n"
            "      window: 1h0m0s\n      backoff: 0s\n") in rendered
    assert "on_unhealthy" not in rendered.split("  c:")[1]
    assert "hooks" not in rendered.split("  c:")[1]
    for fmt in ("yaml", "json"):
        again = parse_project(yaml.safe_load(render_project(project, fmt)), environ={})
        assert again == project


def test_hook_environment_describes_the_change() -> None:
    result = ProbeResult(10, 20, 1, "down\0!", Outcome.FAIL)
    context = HookContext("web", "abc", HealthStatus.UNHEALTHY, HealthStatus.HEALTHY,
                          1_767_225_600_123_000_000, 3, result)
    assert hook_environment(context) == {
        "VIGIL_SERVICE": "web",
        "VIGIL_SERVICE_ID": "abc",
        "VIGIL_STATUS": "unhealthy",
        "VIGIL_PREVIOUS_STATUS": "healthy",
        "VIGIL_EXIT_CODE": "1",
        "VIGIL_OUTPUT": "down\ufffd!",
        "VIGIL_FAILING_STREAK": "3",
        "VIGIL_TIME": "2026-01-01T00:00:00.123Z",
    }
    bare = HookContext("web", "abc", HealthStatus.HEALTHY, HealthStatus.STARTING, 0, 0, None)
    assert hook_environment(bare)["VIGIL_EXIT_CODE"] == ""
