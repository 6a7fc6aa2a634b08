"""A container's ``vigil.*`` labels: parsed with the ``healthcheck:`` and ``on_unhealthy``
rules and texts, every problem under its label's name, merged over the container's own
healthcheck as Docker merges ``--health-*`` over an image's."""

from __future__ import annotations

import pytest

from vigil.compose.labels import ContainerLabels, describe, merged_healthcheck, parse_labels
from vigil.compose.project import parse_project
from vigil.compose.render import project_to_dict
from vigil.core.config import HealthcheckConfig
from vigil.core.remediation import RemediationPolicy
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.duration import MILLISECOND, MINUTE, SECOND


def _problems(labels: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_labels(labels)
    return [str(p) for p in caught.value.problems]


def test_no_vigil_labels_asks_for_nothing() -> None:
    """Labels of other tools are not vigil's business."""
    assert parse_labels({"com.docker.compose.service": "web", "vigil": "x"}) == ContainerLabels()


def test_heal_and_healthcheck_labels() -> None:
    """Every label is read: a JSON test list, Go durations and an integer."""
    labels = parse_labels(
        {
            "vigil.heal": "restart",
            "vigil.heal.max_restarts": "3",
            "vigil.heal.window": "1m",
            "vigil.heal.backoff": "0s",
            "vigil.healthcheck.test": '["CMD", "pg_isready", "-q"]',
            "vigil.healthcheck.interval": "2s",
            "vigil.healthcheck.timeout": "500ms",
            "vigil.healthcheck.start_period": "1m",
            "vigil.healthcheck.start_interval": "1s",
            "vigil.healthcheck.retries": "5",
        }
    )
    assert labels.heal == RemediationPolicy("restart", 3, MINUTE, 0)
    assert labels.healthcheck == HealthcheckConfig(
        ("CMD", "pg_isready", "-q"), 2 * SECOND, 500 * MILLISECOND, MINUTE, SECOND, 5
    )


def test_a_string_test_is_cmd_shell() -> None:
    """As ``docker run --health-cmd``: the string runs in the container's shell."""
    labels = parse_labels({"vigil.healthcheck.test": "test -f /ready || exit 1"})
    assert labels.healthcheck == HealthcheckConfig(("CMD-SHELL", "test -f /ready || exit 1"))


def test_network_tests_are_checked_like_healthcheck_test() -> None:
    """HTTP/TCP tests take the same checks as in ``vigil.yaml``."""
    labels = parse_labels({"vigil.healthcheck.test": '["TCP", "127.0.0.1:6379"]'})
    assert labels.healthcheck is not None
    assert labels.healthcheck.test == ("TCP", "127.0.0.1:6379")
    problems = _problems({"vigil.healthcheck.test": '["TCP", "nowhere"]'})
    assert problems
    assert all(p.startswith("vigil.healthcheck.test") for p in problems)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"vigil.healthcheck.interval": "0.1ms"},
            "vigil.healthcheck.interval: Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            {"vigil.healthcheck.timeout": "soon"},
            'vigil.healthcheck.timeout: time: invalid duration "soon"',
        ),
        (
            {"vigil.healthcheck.retries": "-1"},
            "vigil.healthcheck.retries: Retries in Healthcheck cannot be negative",
        ),
        (
            {"vigil.healthcheck.retries": "three"},
            'vigil.healthcheck.retries: strconv.Atoi: parsing "three": invalid syntax',
        ),
        (
            {"vigil.healthcheck.test": '["CMDX", "true"]'},
            'vigil.healthcheck.test: healthcheck.test must start either by "CMD", "CMD-SHELL" or'
            ' "NONE" (vigil also takes "HTTP", "TCP" and "GRPC")',
        ),
        ({"vigil.healthcheck.test": '["CMD", 1]'}, "vigil.healthcheck.test.1: must be a string"),
        (
            {"vigil.healthcheck.test": "[CMD"},
            "vigil.healthcheck.test: not a JSON list of strings: Expecting value: line 1 column 2"
            " (char 1)",
        ),
        ({"vigil.healthcheck.test": "  "}, "vigil.healthcheck.test: must not be empty"),
        (
            {"vigil.healthcheck.start_period": "0", "vigil.healthcheck.start_interval": "1s"},
            "vigil.healthcheck.start_interval: healthcheck.start_interval requires"
            " healthcheck.start_period to be set",
        ),
        (
            {"vigil.heal": "reboot"},
            'vigil.heal: unknown action "reboot": must be one of "restart", "stop", "kill", "none"',
        ),
        (
            {"vigil.heal": "kill"},
            'vigil.heal: "kill" is not a heal for a container: use "restart" or "stop"',
        ),
        (
            {"vigil.heal.max_restarts": "0"},
            "vigil.heal.max_restarts: must be from 1 to 10000, not 0",
        ),
        ({"vigil.heal.window": "-1s"}, 'vigil.heal.window: must be at least 1ms, not "-1s"'),
    ],
)
def test_bad_labels_are_named_with_their_value(labels: dict[str, str], expected: str) -> None:
    """Each problem names the label and says what is wrong with its value."""
    assert _problems(labels) == [expected]


def test_unknown_vigil_labels_are_errors_and_all_problems_are_reported() -> None:
    """A misspelt label is not silently ignored, and one pass reports everything."""
    problems = _problems(
        {
            "vigil.healtcheck.test": "true",
            "vigil.heal": "restart",
            "vigil.healthcheck.interval": "1",
            "vigil.healthcheck.retries": "x",
        }
    )
    assert len(problems) == 3
    assert problems[0].startswith(
        'vigil.healtcheck.test: unknown vigil label "vigil.healtcheck.test"'
    )
    assert problems[1] == 'vigil.healthcheck.interval: time: missing unit in duration "1"'


def test_describe_names_the_container_and_the_labels() -> None:
    """The log line says which container and which label, and what vigil does about it."""
    error = ConfigError([ConfigProblem("vigil.heal", "bad"), ConfigProblem("vigil.x", "worse")])
    assert describe("web", error) == (
        "container web: label vigil.heal: bad; label vigil.x: worse"
        " (vigil runs no probe and heals nothing for it)"
    )


def test_heal_labels_override_the_daemon_default_one_by_one() -> None:
    """A limit label alone keeps the default action; no heal label keeps the whole default."""
    default = RemediationPolicy("restart", max_restarts=5, window=MINUTE)
    assert parse_labels({}).heal_policy(default) == default
    limits = parse_labels({"vigil.heal.max_restarts": "2"})
    assert limits.heal_policy(default) == RemediationPolicy("restart", 2, MINUTE)
    off = parse_labels({"vigil.heal": "none"})
    assert off.heal_policy(default) == RemediationPolicy("none", 5, MINUTE)


def test_labels_merge_over_the_containers_healthcheck() -> None:
    """Unset labels take the image's values, as ``docker run --health-interval`` does."""
    image = HealthcheckConfig(
        ("CMD-SHELL", "curl -f localhost"), interval=30 * SECOND, start_period=MINUTE, retries=2
    )
    labels = parse_labels(
        {"vigil.healthcheck.interval": "5s", "vigil.healthcheck.start_interval": "1s"}
    ).healthcheck
    assert labels is not None
    assert merged_healthcheck(labels, image) == HealthcheckConfig(
        ("CMD-SHELL", "curl -f localhost"), 5 * SECOND, 0, MINUTE, SECOND, 2
    )


def test_merge_without_a_test_or_with_none_runs_no_probe() -> None:
    """Timings alone on a container without a healthcheck, or ``NONE``: nothing to run."""
    timing = parse_labels({"vigil.healthcheck.interval": "5s"}).healthcheck
    assert timing is not None
    assert merged_healthcheck(timing, None) is None
    none = parse_labels({"vigil.healthcheck.test": '["NONE"]'}).healthcheck
    assert none is not None
    assert merged_healthcheck(none, HealthcheckConfig(("CMD", "true"))) is None


def test_merge_refuses_a_start_interval_without_any_start_period() -> None:
    """The start interval would never be used: the label is refused, named."""
    labels = parse_labels({"vigil.healthcheck.start_interval": "1s"}).healthcheck
    assert labels is not None
    with pytest.raises(ConfigError, match=r"^vigil\.healthcheck\.start_interval: "):
        merged_healthcheck(labels, HealthcheckConfig(("CMD", "true")))


def test_docker_section_takes_the_heal_default_and_renders_back() -> None:
    """``docker: {host:, heal:}``: the engine and the containers' heal default, each form
    rendered so that ``vigil config`` reloads to the same project."""
    for data, host, heal in [
        ({"heal": "restart"}, "", RemediationPolicy("restart")),
        ({"host": "unix:///run/d.sock", "heal": {"action": "stop", "max_restarts": 2}},
         "unix:///run/d.sock", RemediationPolicy("stop", 2)),
    ]:
        project = parse_project({"docker": data}, environ={})
        assert (project.docker, project.docker_heal) == (host, heal)
        assert parse_project(project_to_dict(project), environ={}) == project
    assert parse_project({"docker": True}, environ={}).docker_heal is None


def test_docker_section_problems_are_named() -> None:
    """kill is refused as for the label; unknown keys are errors."""
    with pytest.raises(ConfigError) as caught:
        parse_project({"docker": {"heal": "kill", "hots": "x", "host": 3}}, environ={})
    assert [str(p) for p in caught.value.problems] == [
        'docker.heal: "kill" is not a heal for a container: use "restart" or "stop"',
        "docker: Additional property hots is not allowed",
        "docker.host: expected true, false, unix:///PATH or tcp://HOST:PORT, got 3",
    ]
