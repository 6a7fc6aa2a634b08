"""compose-style projects from plain data: accepted shapes, and every rule's message and path."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.compose.project import (
    TextFloat,
    TextInt,
    go_float,
    parse_healthcheck,
    parse_project,
    parse_service,
)
from vigil.core.config import (
    CONDITION_COMPLETED,
    CONDITION_HEALTHY,
    CONDITION_STARTED,
    Dependency,
    HealthcheckConfig,
    ProjectConfig,
    RestartPolicy,
    ServiceConfig,
)
from vigil.exceptions import ConfigError
from vigil.go.duration import MILLISECOND, MINUTE, SECOND
from vigil.go.shellwords import split_command

S = SECOND
ENV = {"HOME": "/root", "EMPTY": ""}


def problems(data: object, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_project(data, environ=ENV if environ is None else environ)
    return [str(problem) for problem in caught.value.problems]


def service(body: dict[str, Any], environ: dict[str, str] | None = None) -> ServiceConfig:
    project = parse_project(
        {"services": {"web": body}}, environ=ENV if environ is None else environ
    )
    return project.services["web"]


def web_problems(body: object) -> list[str]:
    return problems({"services": {"web": body}})


def check_problems(check: object) -> list[str]:
    return web_problems({"healthcheck": check})


# ---- the project and its services ------------------------------------------------------


@pytest.mark.parametrize(
    "data", [None, {}, {"services": None}, {"services": {}}, {"x-anchors": {"a": 1}}]
)
def test_an_empty_project_has_no_services(data: object) -> None:
    """An empty file, an empty mapping or empty ``services`` is a project without services."""
    assert parse_project(data, environ={}) == ProjectConfig()


def test_services_keep_file_order_and_names() -> None:
    """Services come out in document order, each named by its key."""
    project = parse_project({"services": {"b": {}, "a.1": {}, "C_2-x": {}}}, environ={})
    assert list(project.services) == ["b", "a.1", "C_2-x"]
    assert project.services["a.1"] == ServiceConfig(name="a.1")
    assert isinstance(project.services, MappingProxyType)


def test_a_full_service() -> None:
    """Every service key is read into its ServiceConfig field."""
    got = parse_service(
        "web",
        {
            "command": ["python", "-m", "http.server"],
            "environment": {"A": "1"},
            "working_dir": "/srv",
            "user": "1000:1000",
            "shell": ["/bin/bash", "-c"],
            "healthcheck": {"test": "true"},
            "restart": "on-failure:3",
            "stop_signal": "SIGINT",
            "stop_grace_period": "1m",
            "depends_on": {"db": {"condition": "service_started", "required": False}},
            "x-note": "ignored",
        },
        path="services.web",
        environ=ENV,
    )
    assert got == ServiceConfig(
        name="web",
        command=("python", "-m", "http.server"),
        environment={"A": "1"},
        working_dir="/srv",
        user="1000:1000",
        shell=("/bin/bash", "-c"),
        healthcheck=HealthcheckConfig(test=("CMD-SHELL", "true")),
        restart=RestartPolicy("on-failure", 3),
        stop_signal="SIGINT",
        stop_grace_period=MINUTE,
        depends_on={"db": Dependency(CONDITION_STARTED, required=False)},
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (None, ()),
        ([], ()),
        (["a", "b c"], ("a", "b c")),
        ("echo 'hello world' \"x y\"", ("echo", "hello world", "x y")),
        ("", ()),
    ],
)
def test_command_forms(command: object, expected: tuple[str, ...]) -> None:
    """A list is exec form; a string is split like compose-go's shellwords."""
    assert service({"command": command}).command == expected


@pytest.mark.parametrize(("key", "value"), [("working_dir", ""), ("user", "")])
def test_empty_strings_mean_unset(key: str, value: str) -> None:
    """As Docker's empty WorkingDir and User, an empty string means not set."""
    assert getattr(service({key: value}), key) is None


# ---- environment -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"A": "x", "B": ""}, {"A": "x", "B": ""}),
        ({"T": True, "F": False}, {"T": "true", "F": "false"}),
        ({"I": 7, "N": -3, "G": 1.5}, {"I": "7", "N": "-3", "G": "1.5"}),
        ({"X": TextInt(31, "0x1F"), "V": TextFloat(1.1, "1.10")}, {"X": "0x1F", "V": "1.10"}),
        ({"HOME": None, "MISSING": None, "EMPTY": None}, {"HOME": "/root", "EMPTY": ""}),
        (["A=x", "B=", "C=a=b"], {"A": "x", "B": "", "C": "a=b"}),
        (["HOME", "MISSING"], {"HOME": "/root"}),
        (["A=1", "A=2"], {"A": "2"}),
        (None, None),
    ],
)
def test_environment_values(environment: object, expected: dict[str, str] | None) -> None:
    """Map or KEY=VALUE list; scalars as compose renders them; a missing value comes from
    vigil's environment, or the variable is dropped."""
    if expected is None:
        assert web_problems({"environment": environment}) == [
            "services.web.environment: must be a mapping or list"
        ]
        return
    got = service({"environment": environment}).environment
    assert dict(got) == expected
    assert list(got) == list(expected)
    assert isinstance(got, MappingProxyType)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (0.5, "0.5"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (2.5e-7, "2.5e-07"),
        (1e100, "1e+100"),
        (-1.5, "-1.5"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_floats_without_text_render_like_go(value: float, text: str) -> None:
    """A float from JSON (no YAML text) is rendered as Go's fmt.Sprint would."""
    assert go_float(value) == text


# ---- health checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({}, HealthcheckConfig()),
        (
            {"test": "curl -f x || exit 1"},
            HealthcheckConfig(test=("CMD-SHELL", "curl -f x || exit 1")),
        ),
        ({"test": ["CMD", "a", "b"]}, HealthcheckConfig(test=("CMD", "a", "b"))),
        ({"test": ["CMD-SHELL", "a"]}, HealthcheckConfig(test=("CMD-SHELL", "a"))),
        ({"test": ["NONE"]}, HealthcheckConfig(test=("NONE",))),
        ({"test": ["CMD"]}, HealthcheckConfig(test=("CMD",))),
        ({"test": []}, HealthcheckConfig()),
        ({"disable": True}, HealthcheckConfig(test=("NONE",))),
        ({"disable": True, "x-why": "flaky"}, HealthcheckConfig(test=("NONE",))),
        ({"disable": False, "test": "x"}, HealthcheckConfig(test=("CMD-SHELL", "x"))),
        (
            {
                "test": ["CMD", "x"],
                "interval": "1m30s",
                "timeout": "1.5s",
                "retries": 5,
                "start_period": "1h",
                "start_interval": "1ms",
            },
            HealthcheckConfig(
                test=("CMD", "x"),
                interval=90 * S,
                timeout=1500 * MILLISECOND,
                retries=5,
                start_period=3600 * S,
                start_interval=MILLISECOND,
            ),
        ),
        ({"interval": "0"}, HealthcheckConfig()),
        ({"interval": "0s", "timeout": 0, "retries": 0}, HealthcheckConfig()),
        ({"start_interval": "0s"}, HealthcheckConfig()),
        (
            {"dockerfile": "HEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1"},
            HealthcheckConfig(
                test=("CMD-SHELL", "curl -f http://localhost/ || exit 1"), interval=5 * S
            ),
        ),
        ({"dockerfile": "HEALTHCHECK NONE", "x-a": 1}, HealthcheckConfig(test=("NONE",))),
    ],
)
def test_healthcheck_forms(check: dict[str, object], expected: HealthcheckConfig) -> None:
    """compose keys or one Dockerfile line; defaults are never written into the config."""
    assert service({"healthcheck": check}).healthcheck == expected
    assert parse_healthcheck(check, path="healthcheck") == expected


def test_no_healthcheck_key_means_none() -> None:
    """Without ``healthcheck`` the service has no check at all (status none)."""
    assert service({}).healthcheck is None


DURATIONS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start_period": "StartPeriod",
    "start_interval": "StartInterval",
}


UNDER_1MS = "in Healthcheck cannot be less than 1ms"
DISABLE_ALONE = (
    'services.web.healthcheck.disable: "disable: true" cannot be combined with other options'
)
TEST_START = (
    'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"'
    ' (vigil also takes "HTTP", "TCP" and "GRPC")'
)


def _with_field(field: str, value: object) -> dict[str, object]:
    """A healthcheck with one field set (start_interval gets the start period it needs)."""
    check: dict[str, object] = {field: value}
    if field == "start_interval":
        check["start_period"] = "10s"
    return check


@pytest.mark.parametrize("field", DURATIONS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", 'time: missing unit in duration "5"'),
        ("5x", 'time: unknown unit "x" in duration "5x"'),
        ("", 'time: invalid duration ""'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("5 s", 'time: unknown unit " s" in duration "5 s"'),
        (5, "must be a string"),
        (1.5, "must be a string"),
        (True, "must be a string"),
        (False, "must be a string"),
        (None, "must be a string"),
        (["5s"], "must be a string"),
    ],
)
def test_durations_are_go_duration_strings(field: str, value: object, message: str) -> None:
    """Every duration field takes a Go duration string; Go's parse errors are reported as is."""
    assert check_problems(_with_field(field, value)) == [
        f"services.web.healthcheck.{field}: {message}"
    ]


@pytest.mark.parametrize("field", DURATIONS)
@pytest.mark.parametrize("value", ["1ns", "999us", "999.999µs", "-1s", "-1ms"])
def test_durations_below_1ms_get_the_daemons_message(field: str, value: str) -> None:
    """A non-zero duration under 1ms, negative ones too, fails with the daemon's text."""
    assert check_problems(_with_field(field, value)) == [
        f"services.web.healthcheck.{field}: {DURATIONS[field]} {UNDER_1MS}"
    ]


@pytest.mark.parametrize("field", DURATIONS)
@pytest.mark.parametrize(("value", "nanoseconds"), [("1ms", MILLISECOND), ("0", 0), (0, 0)])
def test_durations_at_the_boundary_are_accepted(
    field: str, value: object, nanoseconds: int
) -> None:
    """1ms is the smallest duration; 0 (the YAML integer too) means unset."""
    check = parse_healthcheck(_with_field(field, value), path="h")
    assert getattr(check, field) == nanoseconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "Retries in Healthcheck cannot be negative"),
        ("3", "must be an integer"),
        (True, "must be an integer"),
        (3.0, "must be an integer"),
        (None, "must be an integer"),
    ],
)
def test_retries_is_a_non_negative_integer(value: object, message: str) -> None:
    """``retries`` is an int (never a bool) and not negative."""
    assert check_problems({"retries": value}) == [f"services.web.healthcheck.retries: {message}"]


@pytest.mark.parametrize(
    ("test", "message"),
    [
        (["curl", "x"], TEST_START),
        (["cmd", "x"], TEST_START),
        (["CMD-EXEC", "x"], TEST_START),
        (5, "must be a string or list"),
        (None, "must be a string or list"),
        ({"CMD": "x"}, "must be a string or list"),
    ],
)
def test_test_must_be_string_or_typed_list(test: object, message: str) -> None:
    """compose-go's test-type rule (case-sensitive) and the schema's type rule."""
    assert check_problems({"test": test}) == [f"services.web.healthcheck.test: {message}"]


def test_test_items_must_be_strings() -> None:
    """Each list item is checked where it is."""
    assert check_problems({"test": ["CMD", 1, None]}) == [
        "services.web.healthcheck.test.1: must be a string",
        "services.web.healthcheck.test.2: must be a string",
    ]


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"disable": "yes"}, ["services.web.healthcheck.disable: must be a boolean"]),
        (
            {"test": "x", "disable": True},
            [DISABLE_ALONE],
        ),
        (
            {"disable": True, "interval": "5s"},
            [DISABLE_ALONE],
        ),
    ],
)
def test_disable_rules(check: dict[str, object], expected: list[str]) -> None:
    """``disable`` is a boolean, and ``disable: true`` stands alone."""
    assert check_problems(check) == expected


START_INTERVAL = (
    "services.web.healthcheck.start_interval: "
    "healthcheck.start_interval requires healthcheck.start_period to be set"
)


@pytest.mark.parametrize(
    "check",
    [
        {"start_interval": "1s"},
        {"start_interval": "1s", "start_period": "0s"},
        {"start_period": 0, "start_interval": "1s"},
        {"test": "x", "start_interval": "5s", "interval": "1m"},
    ],
)
def test_start_interval_requires_a_start_period(check: dict[str, object]) -> None:
    """docker compose's rule, on the start_interval key (a zero start period counts as unset)."""
    assert check_problems(check) == [START_INTERVAL]


def test_start_interval_rule_is_reported_in_document_order() -> None:
    """The rule's problem sits where start_interval is, before later keys' problems."""
    assert check_problems({"test": 1, "start_interval": "1s", "interval": "5"}) == [
        "services.web.healthcheck.test: must be a string or list",
        START_INTERVAL,
        'services.web.healthcheck.interval: time: missing unit in duration "5"',
    ]


def test_start_interval_rule_waits_for_both_values_to_parse() -> None:
    """A start period that failed to parse does not add the rule's problem on top."""
    assert check_problems({"start_interval": "1s", "start_period": "x"}) == [
        'services.web.healthcheck.start_period: time: invalid duration "x"'
    ]


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"dockerfile": 5}, ["services.web.healthcheck.dockerfile: must be a string"]),
        (
            {"dockerfile": "HEALTHCHECK CMD"},
            ["services.web.healthcheck.dockerfile: Missing command after HEALTHCHECK CMD"],
        ),
        (
            {"dockerfile": "HEALTHCHECK --interval=5 CMD x"},
            ['services.web.healthcheck.dockerfile: time: missing unit in duration "5"'],
        ),
        (
            {"test": "x", "dockerfile": "HEALTHCHECK NONE", "retries": 1},
            ["services.web.healthcheck.dockerfile: cannot be combined with test, retries"],
        ),
        (
            {"dockerfile": "HEALTHCHECK --start-interval=1s CMD x"},
            [
                "services.web.healthcheck.dockerfile: "
                "healthcheck.start_interval requires healthcheck.start_period to be set"
            ],
        ),
    ],
)
def test_dockerfile_problems_are_moved_to_the_dockerfile_key(
    check: dict[str, object], expected: list[str]
) -> None:
    """BuildKit's texts, on ``healthcheck.dockerfile``; the key stands alone."""
    assert check_problems(check) == expected


# ---- types, unknown keys and names at every level ---------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], ["Top-level object must be a mapping"]),
        ("services", ["Top-level object must be a mapping"]),
        ({"version": "3"}, ["(root): Additional property version is not allowed"]),
        ({"services": []}, ["services: must be a mapping"]),
        ({"services": "web"}, ["services: must be a mapping"]),
        ({"services": {"bad name": {}}}, ["services: Additional property bad name is not allowed"]),
        ({"services": {"": {}}}, ["services: Additional property  is not allowed"]),
        ({"services": {"wéb": {}}}, ["services: Additional property wéb is not allowed"]),
        ({"services": {1: {}}}, ["services: Additional property 1 is not allowed"]),
        ({"services": {"web": None}}, ["services.web: must be a mapping"]),
        ({"services": {"web": ["a"]}}, ["services.web: must be a mapping"]),
        (
            {"services": {"web": {"image": "x"}}},
            ["services.web: Additional property image is not allowed"],
        ),
        (
            {"services": {"web": {"healthcheck": None}}},
            ["services.web.healthcheck: must be a mapping"],
        ),
        (
            {"services": {"web": {"healthcheck": "x"}}},
            ["services.web.healthcheck: must be a mapping"],
        ),
        (
            {"services": {"web": {"healthcheck": {"test": "x", "tests": "y"}}}},
            ["services.web.healthcheck: Additional property tests is not allowed"],
        ),
    ],
)
def test_shape_and_unknown_keys_at_every_level(data: object, expected: list[str]) -> None:
    """Wrong types and unknown keys are reported at the level they are found."""
    assert problems(data) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"command": 5}, ["services.web.command: must be a string or list"]),
        ({"command": {"a": 1}}, ["services.web.command: must be a string or list"]),
        ({"command": ["a", 1]}, ["services.web.command.1: must be a string"]),
        ({"command": ["a\0b"]}, ["services.web.command.0: must not contain a NUL character"]),
        ({"command": "echo 'open"}, ["services.web.command: invalid command line string"]),
        (
            {"command": "a && b"},
            [
                'services.web.command: unquoted "&" is not supported (compose would drop the rest'
                ' of the line); use a list, e.g. ["sh", "-c", "..."]'
            ],
        ),
        ({"environment": "A=1"}, ["services.web.environment: must be a mapping or list"]),
        (
            {"environment": {"A": [1]}},
            ["services.web.environment.A: must be a string, number, boolean or null"],
        ),
        ({"environment": [1]}, ["services.web.environment.0: must be a string"]),
        ({"environment": ["A=1", "A=1"]}, ["services.web.environment: array items must be unique"]),
        ({"environment": ["=x"]}, ['services.web.environment.0: invalid variable name ""']),
        (
            {"environment": {"A=B": "x"}},
            ['services.web.environment.A=B: invalid variable name "A=B"'],
        ),
        ({"environment": {"": "x"}}, ['services.web.environment.: invalid variable name ""']),
        (
            {"environment": {"A": "x\0"}},
            ["services.web.environment.A: must not contain a NUL character"],
        ),
        (
            {"environment": ["A=\0"]},
            ["services.web.environment.0: must not contain a NUL character"],
        ),
        (
            {"working_dir": "srv"},
            [
                "services.web.working_dir: the working directory 'srv' is invalid,"
                " it needs to be an absolute path"
            ],
        ),
        ({"working_dir": 5}, ["services.web.working_dir: must be a string"]),
        ({"working_dir": None}, ["services.web.working_dir: must be a string"]),
        ({"user": 1000}, ["services.web.user: must be a string"]),
        ({"user": "a\0"}, ["services.web.user: must not contain a NUL character"]),
        ({"shell": "bash -c"}, ["services.web.shell: must be a list"]),
        ({"shell": [1]}, ["services.web.shell.0: must be a string"]),
    ],
)
def test_service_field_rules(body: dict[str, object], expected: list[str]) -> None:
    """Each service field's type and value rules, on the field's own path."""
    assert web_problems(body) == expected


def test_all_problems_are_reported_together_in_document_order() -> None:
    """Problems of every service and level are collected, not just the first."""
    data = {
        "version": "3",
        "services": {
            "a": {
                "command": 1,
                "foo": 2,
                "healthcheck": {"interval": "5", "retries": -1, "test": ["x"]},
            },
            "b c": {},
            "d": {"user": 5, "healthcheck": {"timeout": "500us", "start_interval": "1s"}},
        },
        "x-ok": None,
        "networks": {},
    }
    assert problems(data) == [
        "(root): Additional property version is not allowed",
        "services.a.command: must be a string or list",
        "services.a: Additional property foo is not allowed",
        'services.a.healthcheck.interval: time: missing unit in duration "5"',
        "services.a.healthcheck.retries: Retries in Healthcheck cannot be negative",
        f"services.a.healthcheck.test: {TEST_START}",
        "services: Additional property b c is not allowed",
        "services.d.user: must be a string",
        "services.d.healthcheck.timeout: Timeout in Healthcheck cannot be less than 1ms",
        "services.d.healthcheck.start_interval: "
        "healthcheck.start_interval requires healthcheck.start_period to be set",
        "(root): Additional property networks is not allowed",
    ]


def test_every_bad_duration_field_is_reported_not_only_the_first() -> None:
    """Unlike the daemon (first failure wins), all four fields and retries are reported."""
    assert check_problems(
        {
            "interval": "1ns",
            "timeout": "1ns",
            "retries": -1,
            "start_period": "1ns",
            "start_interval": "1ns",
        }
    ) == [
        f"services.web.healthcheck.interval: Interval {UNDER_1MS}",
        f"services.web.healthcheck.timeout: Timeout {UNDER_1MS}",
        "services.web.healthcheck.retries: Retries in Healthcheck cannot be negative",
        f"services.web.healthcheck.start_period: StartPeriod {UNDER_1MS}",
        f"services.web.healthcheck.start_interval: StartInterval {UNDER_1MS}",
    ]


# ---- restart, stop_signal, stop_grace_period ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("no", RestartPolicy("no")),
        ("", RestartPolicy()),
        ("always", RestartPolicy("always")),
        ("unless-stopped", RestartPolicy("unless-stopped")),
        ("on-failure", RestartPolicy("on-failure")),
        ("on-failure:5", RestartPolicy("on-failure", 5)),
        ("on-failure:0", RestartPolicy("on-failure")),
    ],
)
def test_restart_policies(value: str, expected: RestartPolicy) -> None:
    """``restart`` is Docker's ``name[:max-retries]``; empty is the default, ``no``."""
    assert service({"restart": value}).restart == expected


def test_restart_defaults_to_no() -> None:
    """Without ``restart`` a service is never restarted (Docker's default)."""
    assert service({}).restart == RestartPolicy("no")


UNKNOWN_POLICY = (
    "invalid restart policy: unknown policy '{}'; "
    "use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sometimes", UNKNOWN_POLICY.format("sometimes")),
        ("any", UNKNOWN_POLICY.format("any")),
        ("none", UNKNOWN_POLICY.format("none")),
        ("Always", UNKNOWN_POLICY.format("Always")),
        (":3", "invalid restart policy format: no policy provided before colon"),
        ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
        ("on-failure:-1", "invalid restart policy: maximum retry count cannot be negative"),
        (
            "always:3",
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        (False, "must be a string"),
        (None, "must be a string"),
        (3, "must be a string"),
        (["always"], "must be a string"),
        ("no\0", "must not contain a NUL character"),
    ],
)
def test_restart_problems_name_the_field(value: object, message: str) -> None:
    """Docker's parse and validation texts (core.lifecycle), on ``services.<name>.restart``."""
    assert web_problems({"restart": value}) == [f"services.web.restart: {message}"]


@pytest.mark.parametrize(
    "value",
    ["SIGTERM", "TERM", "term", "SigUsr1", "SIGRTMIN+3", "rtmax-14", "RTMAX", "9", "+9", "-1", ""],
)
def test_stop_signal_is_kept_as_written(value: str) -> None:
    """Names with or without SIG in any case, and non-zero numbers, as the daemon takes them;
    empty means unset (SIGTERM)."""
    assert service({"stop_signal": value}).stop_signal == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("SIGFOO", "invalid signal: SIGFOO"),
        ("SIG", "invalid signal: SIG"),
        ("0", "invalid signal: 0"),
        ("-0", "invalid signal: -0"),
        ("RTMIN+16", "invalid signal: RTMIN+16"),
        ("SIG TERM", "invalid signal: SIG TERM"),
        (" 9", "invalid signal:  9"),
        ("9223372036854775808", "invalid signal: 9223372036854775808"),
        (15, "must be a string"),
        (None, "must be a string"),
        ("TERM\0", "must not contain a NUL character"),
    ],
)
def test_stop_signal_problems(value: object, message: str) -> None:
    """moby's ``ParseSignal`` text, as ``docker create`` reports it."""
    assert web_problems({"stop_signal": value}) == [f"services.web.stop_signal: {message}"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10s", 10 * S),
        ("1m30s", 90 * S),
        ("1.5s", 1500 * MILLISECOND),
        ("1ns", 1),
        ("0", 0),
        ("0s", 0),
        ("-0s", 0),
        (0, 0),
    ],
)
def test_stop_grace_period_is_a_go_duration(value: object, expected: int) -> None:
    """A Go duration without the health check's 1ms minimum; 0 means unset (10s)."""
    assert service({"stop_grace_period": value}).stop_grace_period == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1s", "must not be negative"),
        ("-1ns", "must not be negative"),
        ("10", 'time: missing unit in duration "10"'),
        ("10 s", 'time: unknown unit " s" in duration "10 s"'),
        ("", 'time: invalid duration ""'),
        (10, "must be a string"),
        (1.5, "must be a string"),
        (False, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_stop_grace_period_problems(value: object, message: str) -> None:
    """Go's parse errors as is; a negative period (Docker's "wait forever") is refused."""
    assert web_problems({"stop_grace_period": value}) == [
        f"services.web.stop_grace_period: {message}"
    ]


# ---- depends_on ------------------------------------------------------------------------------


def _with_db(depends_on: object) -> dict[str, object]:
    return {"services": {"web": {"depends_on": depends_on}, "db": {}, "cache": {}}}


@pytest.mark.parametrize(
    ("depends_on", "expected"),
    [
        ([], {}),
        ({}, {}),
        (["db", "cache"], {"db": Dependency(), "cache": Dependency()}),
        (
            {
                "db": {"condition": "service_healthy", "required": False, "restart": True},
                "cache": {"condition": "service_completed_successfully", "x-why": "seed"},
            },
            {
                "db": Dependency(CONDITION_HEALTHY, required=False),
                "cache": Dependency(CONDITION_COMPLETED),
            },
        ),
        (
            {"cache": {"condition": "service_started", "required": True, "restart": False}},
            {"cache": Dependency(CONDITION_STARTED, required=True)},
        ),
    ],
)
def test_depends_on_forms(depends_on: object, expected: dict[str, Dependency]) -> None:
    """The list form means service_started and required; the long form says both, with
    ``restart`` accepted and ignored; file order is kept."""
    got = parse_project(_with_db(depends_on), environ={}).services["web"].depends_on
    assert dict(got) == expected
    assert list(got) == list(expected)
    assert isinstance(got, MappingProxyType)


def test_depends_on_defaults_to_none() -> None:
    """Without ``depends_on`` a service waits for nothing."""
    assert service({}).depends_on == {}


CONDITION_ENUM = (
    'must be one of the following: "service_started", "service_healthy", '
    '"service_completed_successfully"'
)


@pytest.mark.parametrize(
    ("depends_on", "expected"),
    [
        ("db", ["services.web.depends_on: must be a list or mapping"]),
        (None, ["services.web.depends_on: must be a list or mapping"]),
        (["db", 1], ["services.web.depends_on.1: must be a string"]),
        (["db", "db"], ["services.web.depends_on: array items must be unique"]),
        ({"db": None}, ["services.web.depends_on.db: must be a mapping"]),
        ({"db": "service_started"}, ["services.web.depends_on.db: must be a mapping"]),
        ({"db": {}}, ["services.web.depends_on.db: condition is required"]),
        (
            {"db": {"required": False}},
            ["services.web.depends_on.db: condition is required"],
        ),
        (
            {"db": {"condition": "healthy"}},
            [f"services.web.depends_on.db.condition: {CONDITION_ENUM}"],
        ),
        (
            {"db": {"condition": "Service_Healthy"}},
            [f"services.web.depends_on.db.condition: {CONDITION_ENUM}"],
        ),
        (
            {"db": {"condition": 1}},
            ["services.web.depends_on.db.condition: must be a string"],
        ),
        (
            {"db": {"condition": "service_started", "required": "false"}},
            ["services.web.depends_on.db.required: must be a boolean"],
        ),
        (
            {"db": {"condition": "service_started", "restart": "yes"}},
            ["services.web.depends_on.db.restart: must be a boolean"],
        ),
        (
            {"db": {"condition": "service_started", "wait": True}},
            ["services.web.depends_on.db: Additional property wait is not allowed"],
        ),
        (
            {"db": {"conditon": "service_started"}},
            [
                "services.web.depends_on.db: Additional property conditon is not allowed",
                "services.web.depends_on.db: condition is required",
            ],
        ),
        (
            {"d b": {"condition": "service_started"}},
            ["services.web.depends_on: Additional property d b is not allowed"],
        ),
    ],
)
def test_depends_on_problems(depends_on: object, expected: list[str]) -> None:
    """compose's schema: list of unique strings, or a map of entries with a required
    ``condition`` of three values, booleans, ``x-`` keys and nothing else."""
    assert problems(_with_db(depends_on)) == expected


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        (
            {"web": {"depends_on": ["db"]}},
            [
                'services.web.depends_on: service "web" depends on undefined service "db": '
                "invalid compose project"
            ],
        ),
        (
            {"web": {"depends_on": {"db": {"condition": "service_healthy", "required": False}}}},
            [
                'services.web.depends_on: service "web" depends on undefined service "db": '
                "invalid compose project"
            ],
        ),
        ({"web": {"depends_on": ["web"]}}, ["services: dependency cycle detected: web -> web"]),
        (
            {"a": {"depends_on": ["b"]}, "b": {"depends_on": ["c"]}, "c": {"depends_on": ["a"]}},
            ["services: dependency cycle detected: a -> b -> c -> a"],
        ),
        (
            {"a": {"depends_on": ["x"]}, "b": {"depends_on": ["b"]}},
            [
                'services.a.depends_on: service "a" depends on undefined service "x": '
                "invalid compose project",
                "services: dependency cycle detected: b -> b",
            ],
        ),
    ],
)
def test_dependency_graph_problems(services: dict[str, object], expected: list[str]) -> None:
    """compose-go's texts (via vigil.core.deps): undefined services, then a cycle; a service
    depending on itself is a cycle. ``required: false`` does not excuse an undefined one."""
    assert problems({"services": services}) == expected


def test_an_acyclic_graph_is_accepted() -> None:
    """A diamond is no cycle."""
    project = parse_project(
        {
            "services": {
                "web": {"depends_on": ["api", "worker"]},
                "api": {"depends_on": ["db"]},
                "worker": {"depends_on": {"db": {"condition": "service_healthy"}}},
                "db": {},
            }
        },
        environ={},
    )
    assert list(project.services["web"].depends_on) == ["api", "worker"]


def test_a_broken_service_is_still_defined_for_its_dependents() -> None:
    """Depending on a service with problems reports only its problems; its own valid
    ``depends_on`` still takes part in the graph check."""
    data = {
        "services": {
            "web": {"depends_on": ["db"]},
            "db": {"user": 1, "depends_on": ["nope"]},
            "cache": {"user": 2, "depends_on": "bad"},
        },
        "networks": {},
    }
    assert problems(data) == [
        "services.db.user: must be a string",
        "services.cache.user: must be a string",
        "services.cache.depends_on: must be a list or mapping",
        'services.db.depends_on: service "db" depends on undefined service "nope": '
        "invalid compose project",
        "(root): Additional property networks is not allowed",
    ]


def test_a_broken_service_can_close_a_cycle() -> None:
    """The cycle is found through a service that has other problems."""
    data = {"services": {"a": {"depends_on": ["b"]}, "b": {"user": 1, "depends_on": ["a"]}}}
    assert problems(data) == [
        "services.b.user: must be a string",
        "services: dependency cycle detected: a -> b -> a",
    ]


def test_parse_service_does_not_check_dependencies() -> None:
    """One entry alone cannot know the other services; the caller checks the graph."""
    got = parse_service("api", {"depends_on": ["db"]}, path="services.api", environ={})
    assert got.depends_on == {"db": Dependency()}


# ---- the entry points for single services and checks --------------------------------------


def test_parse_service_reports_under_the_given_path() -> None:
    """The API's create route builds one service from the same structure."""
    got = parse_service("api", {"command": "run"}, path="services.api", environ={})
    assert got == ServiceConfig(name="api", command=("run",))
    with pytest.raises(ConfigError) as caught:
        parse_service("api", {"user": 1}, path="services.api", environ={})
    assert [str(p) for p in caught.value.problems] == ["services.api.user: must be a string"]


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("bad name", "services.bad name", "services: Additional property bad name is not allowed"),
        ("a/b", "a/b", "(root): Additional property a/b is not allowed"),
    ],
)
def test_parse_service_checks_the_name(name: str, path: str, expected: str) -> None:
    """A service name must match compose's ``^[a-zA-Z0-9._-]+$``."""
    with pytest.raises(ConfigError) as caught:
        parse_service(name, {}, path=path, environ={})
    assert [str(p) for p in caught.value.problems] == [expected]


def test_parse_healthcheck_reports_under_the_given_path() -> None:
    """A bare health check's problems carry the caller's path."""
    with pytest.raises(ConfigError) as caught:
        parse_healthcheck({"interval": 5}, path="check")
    assert [str(p) for p in caught.value.problems] == ["check.interval: must be a string"]


# ---- command splitting (compose-go's shellwords) ----------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("", []),
        (" \t\r\n", []),
        ("a\tb\nc", ["a", "b", "c"]),
        ("'a b' \"c d\"", ["a b", "c d"]),
        ('""', [""]),
        ("''", [""]),
        ("a''b", ["ab"]),
        ("a\\ b", ["a b"]),
        ("a\\tb a\\nb", ["a\tb", "a\nb"]),
        ('"a\\"b"', ['a"b']),
        ('"a\\$b"', ["a$b"]),
        ("'a\\b'", ["a\\b"]),
        ("'a\"b'", ['a"b']),
        ("echo $(date)", ["echo", "$(date)"]),
        ("echo $(a b)", ["echo", "$(a b)"]),
        ("echo `a b`", ["echo", "`a b`"]),
        ("echo `a\\ b`", ["echo", "`a\\ b`"]),
        ("'a;b' \"c|d\" e\\&f", ["a;b", "c|d", "e&f"]),
        ('"(x)"', ["(x)"]),
    ],
)
def test_shellwords_splitting(line: str, words: list[str]) -> None:
    """go-shellwords rules: quotes, backslashes (not POSIX: \\t \\n), literal $() and backticks."""
    assert split_command(line) == words


@pytest.mark.parametrize(
    "line",
    ["echo 'open", 'echo "open', "trailing\\", "`open", "$(open", "a(b", "a)b", "$((x))"],
)
def test_shellwords_rejects_unbalanced_lines(line: str) -> None:
    """Unterminated quotes, escapes, substitutions and bare parentheses are errors."""
    with pytest.raises(ValueError, match=r"^invalid command line string$"):
        split_command(line)


@pytest.mark.parametrize("operator", [";", "&", "|", "<", ">"])
def test_shellwords_refuses_unquoted_operators(operator: str) -> None:
    """shellwords would silently drop the rest of the line; vigil refuses instead."""
    with pytest.raises(ValueError, match=f'^unquoted "{operator}" is not supported'):
        split_command(f"echo a {operator} b")


@given(st.lists(st.text(st.characters(exclude_characters="\\'\0"), max_size=8), max_size=5))
def test_single_quoted_words_split_back_to_themselves(words: list[str]) -> None:
    """Any words, each single-quoted and space-joined, split back into the same words."""
    assert split_command(" ".join(f"'{word}'" for word in words)) == words
