"""Each hostile input issue 7 reported, with the one-line error it gets now (the properties
in ``test_hostile_inputs.py`` look for the ones nobody reported)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from vigil.cli import connection
from vigil.cli.main import cli
from vigil.compose.dockerfile import parse_healthcheck_instruction
from vigil.compose.load import MAX_DEPTH, MAX_FILE_BYTES, load_project_file, load_project_text
from vigil.compose.project import parse_project
from vigil.core.config import ServiceConfig
from vigil.core.deps import check_dependencies, start_order
from vigil.core.names import (
    MAX_NAME_LENGTH,
    compose_name_ok,
    printable,
    service_name_problem,
    user_ids,
    user_problem,
)
from vigil.exceptions import ConfigError
from vigil.go.json import value_depth
from vigil.linux.launch import LaunchSpec, StartError, launch
from vigil.linux.process import become_subreaper, reap_leader

RANGE = "uids and gids must be in range 0-2147483647"


def problems(text: str | bytes, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, environ=os.environ if environ is None else environ)
    return [str(p) for p in caught.value.problems]


def service(body: str) -> str:
    return "services:\n  web:\n" + "".join(f"    {line}\n" for line in body.splitlines())


# ---- vigil.yaml ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a: "\\UFFFFFFFF"\n', "vigil.yaml:1:7: found invalid Unicode character escape code"),
        ('a: "\\U00110000"\n', "vigil.yaml:1:7: found invalid Unicode character escape code"),
        ('a: "\\ud800"\n', "vigil.yaml:1:4: found invalid Unicode character escape code"),
        (service('environment: ["\\udcff"]'), "vigil.yaml:3:19: found invalid Unicode "
         "character escape code"),
        (service('environment: {"\\ud800": x}'), "vigil.yaml:3:19: found invalid Unicode "
         "character escape code"),
    ],
)
def test_escapes_that_are_no_character_are_yaml_errors(text: str, expected: str) -> None:
    """yaml.v3 refuses escapes past U+10FFFF and lone surrogates; so does vigil, where PyYAML
    raised OverflowError or let a surrogate reach os.environ (UnicodeEncodeError)."""
    assert problems(text) == [expected]


@pytest.mark.parametrize(
    "text",
    ["a: " + "[" * 600 + "]" * 600, "a: " + "{a: " * 600 + "1" + "}" * 600,
     "a:\n" + "".join("  " * i + "- \n" for i in range(1, 700))],
)
def test_deep_nesting_stops_at_the_limit(text: str) -> None:
    """Flow or block, nesting past MAX_DEPTH is one error with its place, not RecursionError."""
    (problem,) = problems(text)
    assert problem.endswith(f": exceeded max depth of {MAX_DEPTH}")


def test_nesting_up_to_the_limit_is_fine() -> None:
    """x- keys may hold nested data (anchors live there): 99 levels under a key load."""
    text = "x-a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\nservices: {}\n"
    assert load_project_text(text, environ={}).services == {}


@pytest.mark.parametrize(
    ("retries", "shown"),
    [("9" * 4301, "9" * 4301), ("-" + "9" * 5000, "-" + "9" * 5000),
     ("9223372036854775808", "9223372036854775808"), ("0x8000000000000000", "0x8000000000000000")],
)
def test_integers_out_of_gos_range_are_gos_range_error(retries: str, shown: str) -> None:
    """Retries is a Go int in Docker's HealthConfig: beyond it, strconv's text with the number
    as written, where int() used to raise ValueError past 4,300 digits."""
    assert problems(service(f"healthcheck:\n  retries: {retries}")) == [
        f'services.web.healthcheck.retries: strconv.ParseInt: parsing "{shown}": '
        "value out of range"
    ]


def test_a_long_depends_on_chain_orders_without_recursion() -> None:
    """A chain of 3,000 services: dependencies first, no RecursionError; closing it into a
    cycle is compose's one error."""
    chain = {f"s{i}": ServiceConfig(f"s{i}", depends_on={f"s{i + 1}": _dep()}) for i in range(3000)}
    chain["s3000"] = ServiceConfig("s3000")
    order = start_order(chain)
    assert order[0] == "s3000"
    assert order[-1] == "s0"
    chain["s3000"] = ServiceConfig("s3000", depends_on={"s0": _dep()})
    (cycle,) = check_dependencies(chain)
    assert cycle.message.startswith("dependency cycle detected: s0 -> s1 -> s2")
    assert cycle.message.endswith("s2999 -> s3000 -> s0")


def _dep():  # type: ignore[no-untyped-def]
    from vigil.core.config import Dependency

    return Dependency()


@pytest.mark.parametrize(
    ("json_text", "expected"),
    [
        ("[" * 3000 + "]" * 3000, "when using JSON array syntax, arrays must be comprised of "
         "strings only"),
        ("[" * 10001 + "]" * 10001, None),  # Go's max depth: not JSON, so the shell form
        ("[" * 5000, None),  # unterminated: the shell form
    ],
)
def test_deep_json_in_a_healthcheck_is_buildkits_answer(
    json_text: str, expected: str | None
) -> None:
    """A deep array nested in the JSON form is BuildKit's error; past Go's 10,000 levels or
    invalid, the text is a shell command, as BuildKit reads it."""
    line = f"HEALTHCHECK CMD {json_text}"
    if expected is None:
        assert parse_healthcheck_instruction(line).test == ("CMD-SHELL", json_text)
    else:
        with pytest.raises(ConfigError) as caught:
            parse_healthcheck_instruction(line)
        assert str(caught.value) == expected


def test_go_json_depth() -> None:
    """The iterative checker agrees with Go on validity and counts the depth."""
    assert value_depth('["a", "b"]') == 1
    assert value_depth('[{"a": [1]}]') == 3
    assert value_depth("[1e999]") is None
    assert value_depth("[NaN]") is None
    assert value_depth("[1,]") is None


def test_values_are_quoted_on_one_line() -> None:
    """A problem quoting a value with a line break or a control character stays one line."""
    (problem,) = problems(service('restart: "x\\ny"'))
    assert "\n" not in problem
    assert problem.startswith("services.web.restart: ")
    assert "x\\ny" in problem


def test_lone_surrogates_from_json_are_refused_before_the_environment() -> None:
    """API bodies (JSON) can carry lone surrogates; they are refused, never looked up in
    os.environ (UnicodeEncodeError) or passed to a process."""
    data = {"services": {"web": {"environment": ["\ud800"], "command": ["echo", "\udcff"]}}}
    with pytest.raises(ConfigError) as caught:
        parse_project(data, environ=os.environ)
    assert [str(p) for p in caught.value.problems] == [
        "services.web.environment.0: must be valid Unicode (a lone surrogate is not)",
        "services.web.command.1: must be valid Unicode (a lone surrogate is not)",
    ]


# ---- files -------------------------------------------------------------------------------


def file_problem(path: str | Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_project_file(path)
    return str(caught.value)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """-f FIFO used to hang waiting for a writer."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert file_problem(fifo) == f"open {fifo}: not a regular file"


def test_a_device_is_never_read() -> None:
    """-f /dev/zero used to read until memory ran out."""
    assert file_problem("/dev/zero") == "open /dev/zero: not a regular file"


def test_a_huge_file_is_read_only_to_the_limit(tmp_path: Path) -> None:
    """A file larger than MAX_FILE_BYTES is refused after reading one byte more."""
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    assert file_problem(big) == f"read {big}: larger than 4 MiB"


def test_a_path_with_a_line_break_stays_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a\nb.yaml"
    assert file_problem(path) == f"open {printable(str(path))}: no such file or directory"


# ---- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("web", None),
        ("/web", None),
        ("a1.b_c-d", None),
        ("w", "Invalid service name (w), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        ("-web", "Invalid service name (-web), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        ("a b", "Invalid service name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        ("a\nb", 'Invalid service name ("a\\nb"), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'),
        ("a" * MAX_NAME_LENGTH, None),
        ("a" * 70000, "Invalid service name (" + "a" * 40 + "... (70000 characters)), "
         "at most 128 characters are allowed"),
    ],
)
def test_service_names_follow_moby_with_a_length_limit(name: str, problem: str | None) -> None:
    assert service_name_problem(name) == problem


def test_compose_names_follow_compose_with_the_same_limit() -> None:
    assert compose_name_ok("-")
    assert compose_name_ok("a")
    assert not compose_name_ok("a b")
    assert not compose_name_ok("a" * (MAX_NAME_LENGTH + 1))
    (problem,) = problems("services:\n  " + "s" * 200 + ": {}\n")
    assert problem == (
        "services: Additional property " + "s" * 40 + "... (200 characters) is not allowed: "
        "a service name has at most 128 characters"
    )


# ---- users ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ids"),
    [("0", (0, None)), ("+5:7", (5, 7)), ("root", (None, None)), ("٣", (None, None)),
     ("1:2:99999999999", (1, 2)), ("2147483647:2147483647", (2147483647, 2147483647))],
)
def test_user_specs_are_read_as_runc_does(spec: str, ids: tuple[int | None, int | None]) -> None:
    """strconv.Atoi decides what is a number (so ``٣`` is a name); runc ignores a third field."""
    assert user_ids(spec) == ids


@pytest.mark.parametrize(
    "spec", ["4294967295", "99999999999", "-1", "2147483648", "0:4294967295", "9" * 30]
)
def test_ids_out_of_runcs_range_are_refused_everywhere(spec: str) -> None:
    """In vigil.yaml, and by the launcher itself, with runc's text: never truncated."""
    assert user_problem(spec) == RANGE
    assert problems(service(f'user: "{spec}"'), environ={}) == [f"services.web.user: {RANGE}"]
    with pytest.raises(StartError, match=RANGE):
        launch(LaunchSpec(("id", "-u"), {"PATH": "/usr/bin:/bin"}, user=spec))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_a_high_uid_really_runs_as_that_uid_and_not_as_root() -> None:
    """The largest uid runc takes runs as itself: a real process reports it."""
    assert become_subreaper()
    child = launch(LaunchSpec(("id", "-u"), {"PATH": "/usr/bin:/bin"}, user="2147483647"))
    os.set_blocking(child.output_fd, True)
    output = b""
    while chunk := os.read(child.output_fd, 4096):  # bounded: EOF when the child exits
        output += chunk
    os.close(child.output_fd)
    os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED | os.WNOWAIT)
    os.close(child.pidfd)
    assert reap_leader(child.pid) == 0
    assert output == b"2147483647\n"


# ---- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """A transport that records what would have been sent (nothing, for these tests)."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404, json={"message": "No such service: x"})

    monkeypatch.setattr(connection, "transport", httpx.MockTransport(answer))
    return sent


def vigil(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["run", "-d", "--name", "web", "--", "echo", "\udcff"],
         'invalid argument "\\xff": not valid UTF-8'),
        (["run", "-d", "--name", "w\udce9b", "--", "echo"],
         'invalid argument "w\\xe9b": not valid UTF-8'),
        (["run", "-d", "--name", "web", "-e", "K=\udcff", "--", "echo"],
         'invalid argument "\\xff": not valid UTF-8'),
        (["run", "-d", "--name", "a" * 70000, "--", "echo"],
         "Invalid service name (" + "a" * 40 + "... (70000 characters)), at most 128 "
         "characters are allowed"),
        (["start", "\udcff"], 'invalid argument "\\xff": not valid UTF-8'),
        (["stop", "a" * 70000], "No such service: " + "a" * 40 + "... (70000 characters)"),
        (["kill", "-s", "\udcff", "web"], 'invalid argument "\\xff": not valid UTF-8'),
        (["ps", "--filter", "name=\udcff"], 'invalid argument "\\xff": not valid UTF-8'),
    ],
)
def test_client_commands_refuse_what_cannot_be_sent(
    no_daemon: list[httpx.Request], args: list[str], line: str
) -> None:
    """Non-UTF-8 arguments and names no service can have: one line, exit 1, nothing sent."""
    result = vigil(*args)
    assert (result.exit_code, result.output) == (1, line + "\n")
    assert no_daemon == []


@pytest.mark.parametrize("command", [["run", "-d", "--name", "web"], ["check"]])
@pytest.mark.parametrize("user", ["4294967295", "99999999999", "0:4294967295"])
def test_out_of_range_users_are_usage_errors(
    no_daemon: list[httpx.Request], command: list[str], user: str
) -> None:
    """``-u`` is checked before anything runs: runc's text, as a flag error (exit 2)."""
    result = vigil(*command, "-u", user, "--", "id", "-u")
    assert result.exit_code == 2
    assert f'invalid argument "{user}" for "-u, --user" flag: {RANGE}' in result.output
    assert no_daemon == []


def test_config_command_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = vigil("config", "-f", str(fifo))
    assert (result.exit_code, result.output) == (1, f"open {fifo}: not a regular file\n")


def test_a_deep_json_config_through_the_cli_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(json.dumps({"x-a": "b"}) + "\n" + "[" * 2000)
    result = vigil("config", "-f", str(path))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1


# ---- found by bench/fuzz_inputs.py ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a: !!int ""\n', "vigil.yaml:1:4: cannot decode !!str `` as a !!int"),
        ("a: !!int abc\n", "vigil.yaml:1:4: cannot decode !!str `abc` as a !!int"),
        ("a: !!float abc\n", "vigil.yaml:1:4: cannot decode !!str `abc` as a !!float"),
        ("a: !!timestamp x\n", "vigil.yaml:1:4: cannot decode !!str `x` as a !!timestamp"),
    ],
)
def test_values_their_tag_cannot_make_are_yaml_errors(text: str, expected: str) -> None:
    """An explicit tag on a value it cannot make raised IndexError or ValueError in PyYAML's
    constructors (and a huge decimal is still a number, out of range)."""
    assert problems(text) == [expected]


def test_a_parameter_too_long_for_a_url_is_one_line(no_daemon: list[httpx.Request]) -> None:
    """``kill -s`` with 70,000 characters: httpx refused to build the URL (InvalidURL)."""
    result = vigil("kill", "-s", "x" * 70000, "web")
    assert (result.exit_code, result.output) == (
        1, "an argument is too long to send: URL component 'query' too long\n"
    )
    assert no_daemon == []


def test_a_user_name_of_unicode_digits_has_no_home_and_no_crash() -> None:
    """``¹`` passes str.isdigit() but not int(): the service's HOME lookup used to raise
    ValueError when it started (runc reads ``¹`` as a name, and so does the launcher)."""
    from vigil.targets.supervised import _home

    assert _home("¹") == "/"
    assert user_ids("¹") == (None, None)
