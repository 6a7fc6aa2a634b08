"""Loading ``vigil.yaml`` (YAML rules, errors with places, files) and rendering it back."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from vigil.compose.load import load_project_file, load_project_text
from vigil.compose.render import project_to_dict, render_project
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
from vigil.core.signals import SIGNALS
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.duration import HOUR, MILLISECOND, SECOND, format_duration, parse_duration

S = SECOND


def load(text: str | bytes, environ: dict[str, str] | None = None) -> ProjectConfig:
    return load_project_text(text, environ={} if environ is None else environ)


def errors(text: str | bytes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return [str(problem) for problem in caught.value.problems]


def env(text: str) -> dict[str, str]:
    """The environment of service ``web`` whose environment block is ``text``."""
    body = "\n".join("      " + line for line in text.splitlines())
    return dict(load(f"services:\n  web:\n    environment:\n{body}\n").services["web"].environment)


# ---- YAML reading ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "services:\n  web:\n    command: a: b\n",
            "vigil.yaml:3:15: mapping values are not allowed here",
        ),
        ("services: [\n", "vigil.yaml:2:1: expected the node content, but found '<stream end>'"),
        ("\tservices: {}\n", "vigil.yaml:1:1: found character '\\t' that cannot start any token"),
        ("a: 1\n---\nb: 2\n", "vigil.yaml:2:1: but found another document"),
        ("services: *nope\n", "vigil.yaml:1:11: found undefined alias 'nope'"),
        (
            "services: !!python/object:os.system {}\n",
            "vigil.yaml:1:11: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("? [a]\n: b\n", "vigil.yaml:1:3: mapping keys must be strings"),
        ("a:\n  <<: {? [x] : 1}\n", "vigil.yaml:2:10: mapping keys must be strings"),
        ("services: !!map [a]\n", "vigil.yaml:1:11: expected a mapping node, but found sequence"),
        (
            "a: \x07\n",
            "vigil.yaml:1:4: unacceptable character #x0007: special characters are not allowed",
        ),
        (
            b"services: {}\n\xff\n",
            "vigil.yaml: 'utf-8' codec can't decode byte #xff: invalid start byte (byte 13)",
        ),
        (
            "a: b\nc: \x00".encode("utf-16"),
            "vigil.yaml:2:4: unacceptable character #x0000: special characters are not allowed",
        ),
        (
            b"a: \x07",
            "vigil.yaml:1:4: unacceptable character #x0007: special characters are not allowed",
        ),
        (
            codecs.BOM_UTF16_BE + "a: \x00".encode("utf-16-be"),
            "vigil.yaml:1:5: unacceptable character #x0000: special characters are not allowed",
        ),
    ],
)
def test_yaml_errors_name_line_and_column(text: str | bytes, expected: str) -> None:
    """Syntax errors carry ``source:line:column`` (1-based) and PyYAML's problem text."""
    assert errors(text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "services:\n  web: {}\n  web: {}\n",
            'vigil.yaml:3:3: mapping key "web" already defined at line 2',
        ),
        ("{a: 1, a: 2}", 'vigil.yaml:1:8: mapping key "a" already defined at line 1'),
        (
            "services:\n  web:\n    user: a\n    user: b\n",
            'vigil.yaml:4:5: mapping key "user" already defined at line 3',
        ),
        (
            "services:\n  '1': {}\n  1: {}\n",
            'vigil.yaml:3:3: mapping key "1" already defined at line 2',
        ),
    ],
)
def test_duplicate_keys_are_errors(text: str, expected: str) -> None:
    """A key given twice in one mapping is refused, at every level, like compose's YAML."""
    assert errors(text) == [expected]


def test_merge_keys_are_not_duplicates_and_own_keys_win() -> None:
    """``<<: *anchor`` merges; a key of the mapping itself overrides the merged one."""
    project = load(
        "x-check: &check\n  interval: 5s\n  retries: 2\n"
        "services:\n  web:\n    healthcheck:\n      <<: *check\n      test: x\n      retries: 7\n"
    )
    assert project.services["web"].healthcheck == HealthcheckConfig(
        test=("CMD-SHELL", "x"), interval=5 * S, retries=7
    )


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("A: yes\nB: No\nC: on\nD: OFF", {"A": "yes", "B": "No", "C": "on", "D": "OFF"}),
        ("A: true\nB: False\nC: TRUE", {"A": "true", "B": "false", "C": "true"}),
        (
            "A: 1.10\nB: 0x1F\nC: 1_000\nD: 010\nE: 1e3\nF: .inf",
            {"A": "1.10", "B": "0x1F", "C": "1_000", "D": "010", "E": "1e3", "F": ".inf"},
        ),
        ("A: 2024-01-01\nB: =", {"A": "2024-01-01", "B": "="}),
        ("1: a\ntrue: b\n~: c", {"1": "a", "true": "b", "~": "c"}),
        ("A: ~\nB: null\nC:", {}),
        ("- A=1\n- B", {"A": "1"}),
    ],
)
def test_scalars_follow_compose_yaml_not_yaml_1_1(block: str, expected: dict[str, str]) -> None:
    """Only true/false are booleans, numbers keep their text, dates stay strings, keys as
    written."""
    assert env(block) == expected


def test_boolean_fields_take_only_true_and_false() -> None:
    """``disable: yes`` is a string (as in compose's YAML), hence not a boolean."""
    assert errors("services:\n  web:\n    healthcheck:\n      disable: yes\n") == [
        "services.web.healthcheck.disable: must be a boolean"
    ]
    check = load("services:\n  web:\n    healthcheck:\n      disable: True\n").services["web"]
    assert check.healthcheck == HealthcheckConfig(test=("NONE",))


def test_integer_zero_is_a_duration_but_other_integers_are_not() -> None:
    """YAML ``0`` counts as ``"0"``; any other integer must be written as a string."""
    base = "services:\n  web:\n    healthcheck:\n      test: x\n"
    assert load(base + "      interval: 0\n").services["web"].healthcheck == HealthcheckConfig(
        test=("CMD-SHELL", "x")
    )
    assert errors(base + "      interval: 30\n") == [
        "services.web.healthcheck.interval: must be a string"
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("restart: no", RestartPolicy("no")),
        ("restart: 'no'", RestartPolicy("no")),
        ("restart: on-failure:3", RestartPolicy("on-failure", 3)),
        ("restart: unless-stopped", RestartPolicy("unless-stopped")),
    ],
)
def test_restart_no_is_a_string_as_in_compose_yaml(line: str, expected: RestartPolicy) -> None:
    """yaml.v3 reads ``no`` as a string, so ``restart: no`` needs no quotes."""
    assert load(f"services:\n  web:\n    {line}\n").services["web"].restart == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("restart: false", "services.web.restart: must be a string"),
        ("restart: 1", "services.web.restart: must be a string"),
        ("stop_grace_period: 30", "services.web.stop_grace_period: must be a string"),
        ("stop_signal: 9", "services.web.stop_signal: must be a string"),
        (
            "depends_on: {db: {required: no}}",
            "services.web.depends_on.db.required: must be a boolean",
        ),
    ],
)
def test_lifecycle_keys_take_yaml_types_like_compose(line: str, expected: str) -> None:
    """Numbers and yes/no are not the strings and booleans these keys want."""
    assert errors(f"services:\n  web:\n    {line}\n  db: {{}}\n")[0] == expected


def test_stop_grace_period_takes_the_integer_zero() -> None:
    """As for health check durations, YAML ``0`` counts as ``"0"`` (unset)."""
    assert load("services:\n  web:\n    stop_grace_period: 0\n").services["web"] == ServiceConfig(
        name="web"
    )


@pytest.mark.parametrize("text", ["", "# nothing\n", "services:\n", "x-a: 1\n"])
def test_empty_documents_have_no_services(text: str) -> None:
    """An empty file (or only comments, or ``services:`` with nothing) is a valid, empty project."""
    assert load(text) == ProjectConfig()


def test_semantic_problems_are_all_reported() -> None:
    """Once the YAML is read, every problem of the document comes back together."""
    text = (
        "services:\n"
        "  web:\n"
        "    command: 1\n"
        "    healthcheck:\n"
        "      interval: 5\n"
        "      retries: -1\n"
        "  db:\n"
        "    user: 5\n"
        "version: '3'\n"
    )
    assert errors(text) == [
        "services.web.command: must be a string or list",
        "services.web.healthcheck.interval: must be a string",
        "services.web.healthcheck.retries: Retries in Healthcheck cannot be negative",
        "services.db.user: must be a string",
        "(root): Additional property version is not allowed",
    ]


def test_source_names_the_text_in_errors() -> None:
    """``source`` is what syntax errors point at."""
    with pytest.raises(ConfigError) as caught:
        load_project_text("a: [", source="inline", environ={})
    assert caught.value.problems[0].path.startswith("inline:")


def test_environ_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``environ``, ``KEY``-only variables come from vigil's own environment."""
    monkeypatch.setenv("VIGIL_TEST_VALUE", "from-os")
    monkeypatch.delenv("VIGIL_TEST_MISSING", raising=False)
    text = "services:\n  web:\n    environment: [VIGIL_TEST_VALUE, VIGIL_TEST_MISSING]\n"
    assert dict(load_project_text(text).services["web"].environment) == {
        "VIGIL_TEST_VALUE": "from-os"
    }


# ---- files ------------------------------------------------------------------------------


def test_load_a_file(tmp_path: Path) -> None:
    """A file is read as UTF-8 YAML; its path names it in errors."""
    path = tmp_path / "vigil.yaml"
    path.write_text("services:\n  web:\n    command: [sleep, '1']\n", encoding="utf-8")
    assert load_project_file(path, environ={}).services["web"].command == ("sleep", "1")
    path.write_text("services:\n  web: {user: 1}\n  web: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project_file(str(path), environ={})
    assert caught.value.problems == [
        ConfigProblem(f"{path}:3:3", 'mapping key "web" already defined at line 2')
    ]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A missing file gives Go's ``open <path>: no such file or directory``."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_project_file(missing)
    assert str(caught.value) == f"open {missing}: no such file or directory"


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    """Reading a directory fails with the OS reason, lower-cased like Go's."""
    with pytest.raises(ConfigError) as caught:
        load_project_file(tmp_path)
    assert str(caught.value) == f"open {os.fspath(tmp_path)}: is a directory"


# ---- rendering ---------------------------------------------------------------------------

SAMPLE = """\
services:
  web:
    working_dir: /srv
    user: "1000"
    healthcheck:
      start_period: 1m30s
      start_interval: 500ms
      retries: 3
      interval: 10s
      test: curl -f http://localhost/ || exit 1
    environment: [B=2, A=yes]
    command: python -m http.server "8000"
  db:
    healthcheck: {disable: true}
  idle: {}
"""

SAMPLE_YAML = """\
services:
  web:
    command:
      - python
      - "-m"
      - http.server
      - "8000"
    environment:
      B: "2"
      A: "yes"
    healthcheck:
      test:
        - CMD-SHELL
        - "curl -f http://localhost/ || exit 1"
      interval: 10s
      retries: 3
      start_period: 1m30s
      start_interval: 500ms
    user: "1000"
    working_dir: /srv
  db:
    healthcheck:
      test:
        - NONE
  idle: {}
"""


def test_render_yaml_is_the_normal_form() -> None:
    """Lists for commands and tests, a map for the environment, Go durations, unset left out."""
    assert render_project(load(SAMPLE), "yaml") == SAMPLE_YAML


def test_render_json_is_the_same_data() -> None:
    """JSON output (indent 2) carries the same structure as the YAML output."""
    project = load(SAMPLE)
    text = render_project(project, "json")
    assert text.endswith("}\n")
    assert json.loads(text) == project_to_dict(project) == yaml.safe_load(SAMPLE_YAML)


def test_render_an_empty_project() -> None:
    """No services renders as an empty mapping."""
    assert render_project(ProjectConfig(), "yaml") == "services: {}\n"
    assert render_project(ProjectConfig(), "json") == '{\n  "services": {}\n}\n'


LIFECYCLE = """\
services:
  web:
    stop_signal: SIGINT
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started, required: false}
    restart: on-failure:3
    stop_grace_period: 90s
    command: [run]
  db:
    restart: always
    stop_grace_period: 500ms
    stop_signal: "10"
    depends_on: [cache]
  cache:
    restart: no
"""

LIFECYCLE_YAML = """\
services:
  web:
    command:
      - run
    depends_on:
      db:
        condition: service_healthy
        required: true
      cache:
        condition: service_started
        required: false
    restart: "on-failure:3"
    stop_grace_period: 1m30s
    stop_signal: SIGINT
  db:
    depends_on:
      cache:
        condition: service_started
        required: true
    restart: always
    stop_grace_period: 500ms
    stop_signal: "10"
  cache: {}
"""


def test_render_lifecycle_keys_like_compose_config() -> None:
    """depends_on in the long form with condition and required, restart as Docker's text,
    Go durations, the stop signal as written; ``restart: no`` is the default, left out."""
    project = load(LIFECYCLE)
    assert render_project(project, "yaml") == LIFECYCLE_YAML
    assert json.loads(render_project(project, "json"))["services"]["web"]["depends_on"] == {
        "db": {"condition": "service_healthy", "required": True},
        "cache": {"condition": "service_started", "required": False},
    }
    assert load(LIFECYCLE_YAML) == project


def test_render_rejects_unknown_formats() -> None:
    """Only yaml and json exist."""
    with pytest.raises(ValueError, match="unknown format 'toml'"):
        render_project(ProjectConfig(), "toml")  # type: ignore[arg-type]


def test_render_quotes_what_yaml_would_read_otherwise() -> None:
    """Strings that look like numbers, booleans, nulls or dates, and odd characters, are quoted."""
    values = [
        "yes",
        "Null",
        "1",
        "0x1F",
        "1.5",
        "2024-01-01",
        "~",
        "",
        " a",
        "a: b",
        "#x",
        "-",
        "=",
        "<<",
        "a\nb",
        "\x85\u2028\u2029",
        "\x01\x7f\ufeff\ufffe",
        "\U0001f600",
        "é",
        "5s",
    ]
    environment = {f"K{index}": value for index, value in enumerate(values)}
    project = ProjectConfig(
        services=MappingProxyType({"web": ServiceConfig(name="web", environment=environment)})
    )
    text = render_project(project, "yaml")
    assert yaml.safe_load(text) == project_to_dict(project)
    assert load(text) == project


def test_render_handles_keys_longer_than_yaml_allows_inline() -> None:
    """Keys over YAML's 1024-character implicit-key limit use the explicit ``?`` form."""
    long_name = "s" * 128  # the longest service name; the variable's name is the long key
    project = ProjectConfig(
        services=MappingProxyType(
            {
                long_name: ServiceConfig(
                    name=long_name, environment={"E" * 2000: "v"}, command=("x",)
                )
            }
        )
    )
    text = render_project(project, "yaml")
    assert "? " in text
    assert load(text) == project


# ---- properties -------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=12)
NAMES = st.from_regex(r"[a-zA-Z0-9._-]{1,12}", fullmatch=True)
ENV_NAMES = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\0="), min_size=1, max_size=8
)
DURATIONS = st.one_of(st.just(0), st.integers(MILLISECOND, 2**63 - 1))
TESTS = st.one_of(
    st.just(()),
    st.just(("NONE",)),
    TEXT.map(lambda command: ("CMD-SHELL", command)),
    st.lists(TEXT, max_size=3).map(lambda args: ("CMD", *args)),
)


@st.composite
def healthchecks(draw: st.DrawFn) -> HealthcheckConfig:
    start_period = draw(DURATIONS)
    return HealthcheckConfig(
        test=draw(TESTS),
        interval=draw(DURATIONS),
        timeout=draw(DURATIONS),
        start_period=start_period,
        start_interval=draw(DURATIONS) if start_period else 0,
        retries=draw(st.integers(0, 2**63 - 1)),
    )


RESTARTS = st.one_of(
    st.sampled_from(["no", "always", "unless-stopped"]).map(RestartPolicy),
    st.integers(0, 2**63 - 1).map(lambda count: RestartPolicy("on-failure", count)),
)
STOP_SIGNALS = st.one_of(
    st.just(""),
    st.sampled_from(sorted(SIGNALS)).flatmap(
        lambda name: st.sampled_from([name, "SIG" + name, name.lower(), "Sig" + name.title()])
    ),
    st.integers(-(2**63), 2**63 - 1).filter(bool).map(str),
)
DEPENDENCIES = st.builds(
    Dependency,
    st.sampled_from([CONDITION_STARTED, CONDITION_HEALTHY, CONDITION_COMPLETED]),
    st.booleans(),
)


@st.composite
def projects(draw: st.DrawFn) -> ProjectConfig:
    services: dict[str, ServiceConfig] = {}
    for name in draw(st.lists(NAMES, max_size=3, unique=True)):
        services[name] = ServiceConfig(
            name=name,
            command=tuple(draw(st.lists(TEXT, max_size=3))),
            environment=MappingProxyType(draw(st.dictionaries(ENV_NAMES, TEXT, max_size=3))),
            working_dir=draw(st.none() | TEXT.map(lambda path: "/" + path)),
            user=draw(st.none() | TEXT.filter(bool)),
            shell=tuple(draw(st.lists(TEXT, max_size=2))),
            healthcheck=draw(st.none() | healthchecks()),
            restart=draw(RESTARTS),
            stop_signal=draw(STOP_SIGNALS),
            stop_grace_period=draw(st.integers(0, 2**63 - 1)),
            # only on earlier services, so the graph has no cycle
            depends_on=MappingProxyType(
                {
                    dep: draw(DEPENDENCIES)
                    for dep in draw(st.lists(st.sampled_from(list(services)), unique=True))
                }
                if services
                else {}
            ),
        )
    return ProjectConfig(services=MappingProxyType(services))


@given(projects())
def test_rendered_yaml_loads_back_to_an_equal_project(project: ProjectConfig) -> None:
    """Any valid project survives render → load unchanged; any YAML reader sees the same data."""
    text = render_project(project, "yaml")
    assert load(text) == project
    assert yaml.safe_load(text) == project_to_dict(project)


@given(projects())
def test_rendered_json_is_the_same_data(project: ProjectConfig) -> None:
    """The JSON rendering carries exactly the normalized data."""
    assert json.loads(render_project(project, "json")) == project_to_dict(project)


@given(st.integers(-(2**63) + 1, 2**63 - 1))
def test_any_duration_round_trips_through_its_text(nanoseconds: int) -> None:
    """Go's Duration.String() output parses back to the same duration."""
    assert parse_duration(format_duration(nanoseconds)) == nanoseconds


DURATION_TEXT = st.builds(
    lambda sign, parts: sign + "".join(parts),
    st.sampled_from(["", "+", "-"]),
    st.lists(
        st.builds(
            lambda whole, fraction, unit: whole + fraction + unit,
            st.from_regex(r"[0-9]{1,4}", fullmatch=True),
            st.sampled_from(["", "."]) | st.from_regex(r"\.[0-9]{1,6}", fullmatch=True),
            st.sampled_from(["ns", "us", "µs", "μs", "ms", "s", "m", "h"]),
        ),
        min_size=1,
        max_size=4,
    ),
)


@given(DURATION_TEXT)
def test_any_valid_duration_string_round_trips_through_a_config(text: str) -> None:
    """A healthcheck written with any Go duration renders and reloads to the same value."""
    nanoseconds = parse_duration(text)
    assume(MILLISECOND <= nanoseconds <= 1000 * HOUR)
    check = HealthcheckConfig(interval=nanoseconds)
    loaded = load(f"services:\n  web:\n    healthcheck:\n      interval: '{text}'\n")
    assert loaded.services["web"].healthcheck == check
    assert load(render_project(loaded, "yaml")) == loaded


# ---- the stop signal parser matches the supervisor's ----------------------------------------
