"""The daemon commands of the CLI against the real daemon API, in process (``cli_daemon`` in
``conftest.py``): real routes, manager and engine, scripted probes, a fake clock shared by the
daemon and the CLI. Local time is UTC; the fake clock starts at 2026-01-01T00:00:00Z."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from click.testing import CliRunner, Result

from vigil.cli import connection
from vigil.cli.main import cli
from vigil.go.duration import MINUTE, SECOND
from vigil.targets.logs import STDOUT

if TYPE_CHECKING:
    from conftest import CliDaemon

CHECK = {"healthcheck": {"test": ["CMD", "true"]}}  # probes are scripted: the test never runs
SLEEPER = {"command": ["sleep", "1000"]}  # a real process, stopped when the test ends

pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def daemon(cli_daemon: CliDaemon) -> CliDaemon:
    return cli_daemon


def vigil(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def inspect(daemon: CliDaemon, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = daemon.http.get(f"/services/{name}/json").json()
    return answer


# ---- registration and connection -----------------------------------------------------------


def test_every_daemon_command_is_registered():
    """The lead's group carries the daemon commands next to config and check."""
    expected = {"ps", "inspect", "events", "wait", "logs", "run", "start", "stop", "restart"}
    expected |= {"kill", "pause", "unpause", "rm", "down"}
    assert expected <= set(cli.commands)


@pytest.mark.parametrize(
    ("args", "env", "url"),
    [
        (["-H", "tcp://127.0.0.1:2375", "ps"], {}, "http://127.0.0.1:2375"),
        (["--host=tcp://127.0.0.1:2375", "ps"], {}, "http://127.0.0.1:2375"),
        (["ps", "-H", "tcp://127.0.0.1:2376"], {}, "http://127.0.0.1:2376"),
        (["-H", "tcp://127.0.0.1:1", "ps", "-H", "tcp://127.0.0.1:2"], {}, "http://127.0.0.1:2"),
        (["ps"], {"VIGIL_HOST": "tcp://[::1]:2377"}, "http://[::1]:2377"),
        (["-H", "tcp://127.0.0.1:3", "ps"], {"VIGIL_HOST": "tcp://127.0.0.1:4"},
         "http://127.0.0.1:3"),
        (["ps", "-H", "tcp://127.0.0.1:5"], {"VIGIL_HOST": "tcp://127.0.0.1:6"},
         "http://127.0.0.1:5"),
        (["ps"], {"VIGIL_HOST": ""}, "http://vigil"),  # empty: the default unix socket
        (["ps"], {}, "http://vigil"),
    ],
)  # fmt: skip
def test_host_goes_before_or_after_the_command(
    daemon: CliDaemon, args: list[str], env: dict[str, str], url: str
):
    """As docker's global -H: after the command wins, then before it, then VIGIL_HOST."""
    result = vigil(*args, env=env)
    assert result.exit_code == 0, result.stderr
    assert [str(r.url) for r in daemon.requests] == [f"{url}/services/json"]


def test_readmes_first_command_reaches_the_socket_it_names(tmp_path: Path):
    """`vigil -H unix://$PWD/.vigil/vigil.sock ps` with nothing there: docker's one line."""
    host = f"unix://{tmp_path}/.vigil/vigil.sock"
    for args in (["-H", host, "ps"], ["ps", "-H", host]):
        result = vigil(*args)
        assert (result.exit_code, result.stderr) == (
            1,
            f"Cannot connect to the vigil daemon at {host}. Is the vigil daemon running?\n",
        )
    stopped = vigil("-H", host, "stop", "a", "b")  # said once, not once per name
    assert stopped.exit_code == 1
    assert stopped.stderr.count("Cannot connect") == 1


def test_remote_host_is_refused_cleanly():
    """The real client refuses a non-loopback -H with one line."""
    result = vigil("ps", "-H", "tcp://192.0.2.1:2375")
    assert result.exit_code == 1
    assert "only loopback addresses" in result.stderr
    assert result.stderr.count("\n") == 1


def _token_file(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def _authorization(daemon: CliDaemon) -> list[str | None]:
    return [r.headers.get("Authorization") for r in daemon.requests]


@pytest.mark.parametrize("before", [True, False])
def test_token_file_goes_before_or_after_the_command(
    daemon: CliDaemon, tmp_path: Path, before: bool
):
    """The token travels as a bearer token to a TCP daemon; its file's last newline is not
    part of it. The file wins over VIGIL_TOKEN."""
    path = _token_file(tmp_path, "token", b"s3cret-T0ken\n")
    options = ["-H", "tcp://127.0.0.1:2375", "--token-file", path]
    args = [*options, "ps"] if before else ["ps", *options]
    assert vigil(*args, env={"VIGIL_TOKEN": "from-env"}).exit_code == 0
    assert _authorization(daemon) == ["Bearer s3cret-T0ken"]


def test_token_precedence_and_unix_sockets(daemon: CliDaemon, tmp_path: Path):
    """After the command beats before it, which beats VIGIL_TOKEN; nothing over a socket."""
    first = _token_file(tmp_path, "first", b"first")
    second = _token_file(tmp_path, "second", b"second")
    tcp = ["-H", "tcp://127.0.0.1:2375"]
    vigil(*tcp, "--token-file", first, "ps", "--token-file", second)
    vigil(*tcp, "ps", env={"VIGIL_TOKEN": "from-env"})
    vigil(*tcp, "ps")
    vigil("--token-file", first, "ps", env={"VIGIL_TOKEN": "from-env"})  # the unix socket
    assert _authorization(daemon) == ["Bearer second", "Bearer from-env", None, None]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "it is empty"),
        (b" \n", "it is empty"),
        (b"two words", "it must be visible ASCII characters, without spaces or line breaks"),
        (b"line\nbreak", "it must be visible ASCII characters, without spaces or line breaks"),
        ("clé".encode(), "it must be visible ASCII characters, without spaces or line breaks"),
        (b"x" * 4097, "longer than 4096 bytes: not a token"),
    ],
)
def test_unusable_token_files_are_refused_without_showing_them(
    daemon: CliDaemon, tmp_path: Path, content: bytes, problem: str
):
    path = _token_file(tmp_path, "token", content)
    result = vigil("-H", "tcp://127.0.0.1:2375", "--token-file", path, "ps")
    assert result.exit_code == 2
    assert f"Invalid value for '--token-file': {path}: {problem}" in result.stderr
    assert daemon.requests == []
    if content.strip():
        assert content.strip().decode(errors="replace")[:20] not in result.output


def test_token_file_must_be_a_readable_regular_file(daemon: CliDaemon, tmp_path: Path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it must not wait for a writer
    for path, problem in [
        (tmp_path / "absent", "No such file or directory"),
        (fifo, "not a regular file"),
    ]:
        result = vigil("--token-file", str(path), "ps")
        assert result.exit_code == 2
        assert f"Invalid value for '--token-file': {path}: {problem}" in result.stderr
    result = vigil("--token-file", str(tmp_path), "ps")
    assert (result.exit_code, daemon.requests) == (2, [])


def test_a_bad_vigil_token_is_named_not_shown(daemon: CliDaemon):
    result = vigil("-H", "tcp://127.0.0.1:2375", "ps", env={"VIGIL_TOKEN": "my secret"})
    assert (result.exit_code, result.stderr) == (
        1,
        "invalid VIGIL_TOKEN: it must be visible ASCII characters, without spaces or line breaks\n",
    )
    assert daemon.requests == []
    assert vigil("ps", env={"VIGIL_TOKEN": "my secret"}).exit_code == 0  # unix: not used


def test_help_says_where_the_connection_comes_from():
    text = vigil("--help").stdout + vigil("ps", "--help").stdout
    for words in ("-H, --host HOST", "VIGIL_HOST", "--token-file PATH", "VIGIL_TOKEN", "unix"):
        assert words in text


# ---- ps --------------------------------------------------------------------------------------


def _web_and_job(daemon: CliDaemon) -> tuple[str, str]:
    """web: watched, healthy for 2 minutes; job: created, never started, long command."""
    web = daemon.started("web", CHECK)
    job = daemon.create("job", {"command": ["python3", "-m", "http.server", "8000"]})
    daemon.run_for(2 * MINUTE)
    return web, job


def test_ps_table(daemon: CliDaemon):
    """docker ps columns, tabwriter padding, quoted and truncated commands, ages from now;
    newest first; without -a only running services."""
    web, job = _web_and_job(daemon)
    result = vigil("ps", "-a")
    assert result.exit_code == 0
    assert result.stdout == (
        "SERVICE ID     NAME      COMMAND                  CREATED         STATUS\n"
        f'{job[:12]}   job       "python3 -m http.ser…"   2 minutes ago   Created\n'
        f'{web[:12]}   web       ""                       2 minutes ago   '
        "Up 2 minutes (healthy)\n"
    )
    assert vigil("ps").stdout.splitlines()[1:] == [
        f'{web[:12]}   web       ""        2 minutes ago   Up 2 minutes (healthy)'
    ]
    assert daemon.calls() == [
        ("GET", "/services/json", {"all": "1"}),
        ("GET", "/services/json", {}),
    ]


def test_ps_empty_prints_the_header(daemon: CliDaemon):
    assert vigil("ps").stdout == "SERVICE ID   NAME      COMMAND   CREATED   STATUS\n"


def test_ps_json_lines(daemon: CliDaemon):
    """One object per line, keys sorted like docker's {{json .}}, the table's texts."""
    web, _ = _web_and_job(daemon)
    lines = vigil("ps", "-a", "--format", "json").stdout.splitlines()
    assert lines[1] == (
        '{"Command":"\\"\\"","CreatedAt":"2026-01-01 00:00:00 +0000 UTC",'
        f'"Health":"healthy","ID":"{web[:12]}","Names":"web","RunningFor":"2 minutes ago",'
        '"State":"running","Status":"Up 2 minutes (healthy)"}'
    )
    first = json.loads(lines[0])
    assert (first["Health"], first["Command"]) == ("", '"python3 -m http.ser…"')
    assert list(first) == sorted(first)


def test_ps_quiet_and_no_trunc(daemon: CliDaemon):
    web, job = _web_and_job(daemon)
    assert vigil("ps", "-aq").stdout == f"{job[:12]}\n{web[:12]}\n"
    assert vigil("ps", "-a", "-q", "--no-trunc").stdout == f"{job}\n{web}\n"
    wide = vigil("ps", "-a", "--no-trunc").stdout
    assert job in wide
    assert '"python3 -m http.server 8000"' in wide


def test_ps_filters(daemon: CliDaemon):
    """--filter KEY=VALUE repeats into Docker's filters JSON; keys lower-cased, trimmed."""
    web, _ = _web_and_job(daemon)
    result = vigil("ps", "-a", "--filter", "health=healthy", "-f", " Health = starting", "-q")
    assert result.stdout == f"{web[:12]}\n"
    assert vigil("ps", "-f", "health=healthy", "-f", "name=w=x").stdout.count("\n") == 1
    assert [call[2]["filters"] for call in daemon.calls()] == [
        '{"health":{"healthy":true,"starting":true}}',
        '{"health":{"healthy":true},"name":{"w=x":true}}',
    ]


def test_ps_bad_filter_is_a_usage_error(daemon: CliDaemon):
    result = vigil("ps", "--filter", "healthy")
    assert result.exit_code == 2
    assert (
        'Error: invalid argument "healthy" for "-f, --filter" flag: '
        "bad format of filter (expected name=value)"
    ) in result.stderr
    assert daemon.requests == []


def test_ps_daemon_error(daemon: CliDaemon):
    result = vigil("ps", "-f", "colour=red")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: invalid filter 'colour'\n",
    )


# ---- inspect ---------------------------------------------------------------------------------


def test_inspect_prints_found_objects_then_fails_for_missing(daemon: CliDaemon):
    """docker inspect: the array of what was found, as the daemon sent it, indented by 4,
    HTML characters as they are; then `Error: No such ...`, exit 1."""
    web = daemon.create("web", {"command": ["echo", "a<b"]})
    result = vigil("inspect", "web", "x")
    assert result.exit_code == 1
    assert result.stdout.startswith(f'[\n    {{\n        "Id": "{web}",\n')
    assert '            "a<b"\n' in result.stdout
    assert json.loads(result.stdout) == [inspect(daemon, "web")]
    assert result.stderr == "Error: No such service: x\n"


def test_inspect_other_daemon_errors_are_docker_style(
    daemon: CliDaemon, monkeypatch: pytest.MonkeyPatch
):
    daemon.create("web")
    assert vigil("inspect", "web").exit_code == 0

    def broken(ref: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(daemon.manager, "view", broken)  # the daemon fails: a 500
    result = vigil("inspect", "web")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "[]\n",
        "Error response from daemon: boom\n",
    )


# ---- events ----------------------------------------------------------------------------------


def test_events_human_format(daemon: CliDaemon):
    """docker's line: local time with nine fraction digits, type, action, ID, attributes."""
    daemon.run_for(123_456_789)
    web = daemon.started("web", CHECK)
    daemon.run_for(30 * SECOND)
    until = "2026-01-01T00:01:00Z"  # "0s" is now truncated to the second, as Docker does
    result = vigil("events", "--since", "1h", "--until", until, "-f", "event=health_status")
    assert result.exit_code == 0
    assert result.stdout == (
        f"2026-01-01T00:00:30.123456789Z service health_status: healthy {web} (name=web)\n"
    )
    everything = vigil("events", "--since", "1h", "--until", until).stdout.splitlines()
    assert [line.split(" ")[0] for line in everything] == [
        "2026-01-01T00:00:00.123456789Z",
        "2026-01-01T00:00:00.123456789Z",
        "2026-01-01T00:00:30.123456789Z",
        "2026-01-01T00:00:30.123456789Z",
    ]
    assert everything[0] == f"2026-01-01T00:00:00.123456789Z service create {web} (name=web)"
    assert everything[2].endswith(f"health_probe {web} (duration=0s, exitCode=0, name=web)")
    assert daemon.calls()[0] == (
        "GET",
        "/events",
        {"since": "1h", "until": until, "filters": '{"event":{"health_status":true}}'},
    )


def test_events_json_format_and_filters(daemon: CliDaemon):
    """The daemon's own JSON, one object a line, filters as Docker's JSON."""
    daemon.started("db")
    daemon.started("web")
    assert daemon.http.post("/services/db/stop").status_code == 204
    result = vigil("events", "--format", "json", "--until", "0s", "--since", "0",
                   "--filter", "event=die", "-f", "service=db")  # fmt: skip
    expected = daemon.http.get(
        "/events", params={"since": "0", "until": "0s", "filters": '{"event":["die"]}'}
    )
    assert result.stdout == expected.text
    assert [json.loads(line)["Actor"]["Attributes"] for line in result.stdout.splitlines()] == [
        {"exitCode": "0", "name": "db"}
    ]
    assert daemon.calls()[0][2]["filters"] == '{"event":{"die":true},"service":{"db":true}}'


def test_events_errors(daemon: CliDaemon):
    assert vigil("events", "-f", "die").exit_code == 2
    result = vigil("events", "--since", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        'Error response from daemon: failed to parse value as time or duration: "x"\n',
    )


# ---- wait ------------------------------------------------------------------------------------


def test_wait_all_met(daemon: CliDaemon):
    """Healthy everywhere: exit 0, nothing printed; each waits as long as it takes."""
    daemon.started("web", CHECK, steps=(1, 1, 0))
    daemon.started("db", CHECK)
    result = vigil("wait", "--condition", "healthy", "web", "db")
    assert (result.exit_code, result.stdout) == (0, "")
    assert [c[2] for c in daemon.calls()] == [{"condition": "healthy"}] * 2
    assert daemon.clock.now_ns() - 1_767_225_600 * SECOND == 90 * SECOND  # web's third probe


def test_wait_exited_prints_exit_codes_like_docker_wait(daemon: CliDaemon):
    daemon.started("job", {"command": ["sh", "-c", "exit 3"]})
    result = vigil("wait", "job")
    assert (result.exit_code, result.stdout) == (0, "3\n")
    assert daemon.calls()[0][2] == {"condition": "exited"}


def test_wait_reports_every_reason(daemon: CliDaemon):
    """Compose's reasons on stderr, exit 1; every name is still asked."""
    daemon.started("job", {"command": ["sh", "-c", "exit 1"]})
    assert daemon.http.post("/services/job/wait").json()["ExitCode"] == 1
    daemon.started("db", CHECK, steps=(1,))
    daemon.started("web", CHECK)
    result = vigil("wait", "--condition", "healthy", "db", "web", "job", "x")
    assert result.exit_code == 1
    assert result.stderr == (
        "service db is unhealthy\nservice job exited (1)\n"
        "Error response from daemon: No such service: x\n"
    )


def test_wait_timeout_is_one_budget_for_all_names(daemon: CliDaemon):
    """Each request gets what is left of --timeout: aa is healthy at 30s, bb at 60s, and cc,
    never healthy, has the last 30s."""
    daemon.started("aa", CHECK)
    daemon.started("bb", CHECK, steps=(1, 0))
    daemon.started("cc", {"healthcheck": {"test": ["CMD", "true"], "retries": 1000}}, steps=(1,))
    result = vigil("wait", "--condition", "healthy", "--timeout", "1m30s", "aa", "bb", "cc")
    assert (result.exit_code, result.stderr) == (
        1,
        "timeout waiting for service cc to be healthy\n",
    )
    assert [c[2]["timeout"] for c in daemon.calls()] == ["1m30s", "1m0s", "30s"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", 'invalid argument "x" for "--timeout" flag: time: invalid duration "x"'),
        ("5", 'invalid argument "5" for "--timeout" flag: time: missing unit in duration "5"'),
        ("-1s", "--timeout cannot be negative"),
    ],
)
def test_wait_bad_timeout(daemon: CliDaemon, value: str, message: str):
    result = vigil("wait", f"--timeout={value}", "web")
    assert result.exit_code == 2
    assert f"Error: {message}\n" in result.stderr
    assert daemon.requests == []


# ---- lifecycle commands --------------------------------------------------------------------

# How web and job must be before the command (gone does not exist).
_CREATED, _RUNNING, _PAUSED, _PROCESS = "created", "running", "paused", "process"


@pytest.mark.parametrize(
    ("args", "before", "method", "action", "query"),
    [
        (["start"], _CREATED, "POST", "/start", {}),
        (["stop"], _RUNNING, "POST", "/stop", {}),
        (["stop", "-t", "5"], _RUNNING, "POST", "/stop", {"t": "5"}),
        (["stop", "--time", "-1"], _RUNNING, "POST", "/stop", {"t": "-1"}),
        (["stop", "--timeout=0x10"], _RUNNING, "POST", "/stop", {"t": "16"}),
        (["restart", "--timeout", "0"], _RUNNING, "POST", "/restart", {"t": "0"}),
        (["pause"], _RUNNING, "POST", "/pause", {}),
        (["unpause"], _PAUSED, "POST", "/unpause", {}),
        (["kill"], _PROCESS, "POST", "/kill", {}),
        (["kill", "-s", "HUP"], _PROCESS, "POST", "/kill", {"signal": "HUP"}),
        (["rm"], _CREATED, "DELETE", "", {}),
        (["rm", "-f"], _RUNNING, "DELETE", "", {"force": "1"}),
    ],
)
def test_lifecycle_commands(
    daemon: CliDaemon,
    args: list[str],
    before: str,
    method: str,
    action: str,
    query: dict[str, str],
):
    """Each name is printed when done; errors come after, one per line, and exit 1. (Names
    that are not hex digits: a missing name that prefixes an ID would reach that service.)"""
    for name in ("web", "job"):
        daemon.create(name, SLEEPER if before == _PROCESS else None)
        if before != _CREATED:
            daemon.start(name)
        if before == _PAUSED:
            assert daemon.http.post(f"/services/{name}/pause").status_code == 204
    result = vigil(*args, "web", "gone", "job")
    assert result.exit_code == 1
    assert result.stdout == "web\njob\n"
    assert result.stderr == "Error response from daemon: No such service: gone\n"
    names = ("web", "gone", "job")
    assert daemon.calls() == [(method, f"/services/{n}{action}", query) for n in names]


def test_already_started_is_success(daemon: CliDaemon):
    """304 is not an error (docker start on a running container prints its name)."""
    daemon.started("web")
    result = vigil("start", "web")
    assert (result.exit_code, result.stdout) == (0, "web\n")


def test_names_are_required(daemon: CliDaemon):
    assert vigil("stop").exit_code == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("1.5", 'strconv.ParseInt: parsing "1.5": invalid syntax'),
        (" 5", 'strconv.ParseInt: parsing " 5": invalid syntax'),
        ("99999999999999999999", 'strconv.ParseInt: parsing "99999999999999999999": '
                                 "value out of range"),
    ],
)  # fmt: skip
def test_stop_timeout_is_a_go_int(daemon: CliDaemon, value: str, message: str):
    """pflag's int flag, as docker stop -t: Go's literals, Go's errors, nothing sent."""
    result = vigil("stop", "-t", value, "web")
    assert result.exit_code == 2
    assert f'Error: invalid argument "{value}" for "-t, --timeout" flag: {message}' in (
        result.stderr
    )
    assert daemon.requests == []


@pytest.mark.parametrize(
    ("signal", "message"),
    [
        ("65", "the linux daemon does not support signal 65"),
        ("-1", "the linux daemon does not support signal -1"),
        ("0", "invalid signal: 0"),
        ("SIGFOO", "invalid signal: SIGFOO"),
        ("FOO", "invalid signal: FOO"),
        ("99999999999999999999", "invalid signal: 99999999999999999999"),
    ],
)
def test_kill_with_a_bad_signal_is_refused_and_sends_nothing(
    daemon: CliDaemon, signal: str, message: str
):
    """moby's texts, as 400s; the process keeps running."""
    daemon.started("sleeper", SLEEPER)
    result = vigil("kill", "-s", signal, "sleeper")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        f"Error response from daemon: {message}\n",
    )
    assert inspect(daemon, "sleeper")["State"]["Running"] is True
    assert daemon.http.post("/services/sleeper/kill", params={"signal": signal}).status_code == 400


def test_kill_with_a_signal_number(daemon: CliDaemon):
    daemon.started("sleeper", SLEEPER)
    assert vigil("kill", "--signal", "+15", "sleeper").stdout == "sleeper\n"
    assert vigil("wait", "sleeper").stdout == "143\n"


def test_down(daemon: CliDaemon):
    daemon.started("web")
    result = vigil("down")
    assert result.exit_code == 0
    assert daemon.calls() == [("POST", "/down", {})]
    assert daemon.downs == 1
    assert inspect(daemon, "web")["State"]["Running"] is False


# ---- logs ------------------------------------------------------------------------------------


def test_logs_as_written(daemon: CliDaemon):
    daemon.started("web")
    daemon.append_log("web", STDOUT, "hello\n")
    daemon.run_for(1500 * 10**6)
    daemon.append_log("web", STDOUT, "bye\n")
    assert vigil("logs", "web").stdout == "hello\nbye\n"
    assert vigil("logs", "-n", "1", "--timestamps", "web").stdout == (
        "2026-01-01T00:00:01.500000000Z bye\n"
    )
    assert daemon.calls() == [
        ("GET", "/services/web/logs", {"tail": "all"}),
        ("GET", "/services/web/logs", {"tail": "1", "timestamps": "1"}),
    ]


def test_logs_follow_until_the_service_goes(daemon: CliDaemon):
    """-f prints what is there, then what comes, and ends when the log does."""
    daemon.started("web")
    daemon.append_log("web", STDOUT, "one\n")
    daemon.later(5 * SECOND, lambda: daemon.write_log("web", STDOUT, "two\n"))
    daemon.later(10 * SECOND, lambda: daemon.ahttp.delete("/services/web?force=1"))
    result = vigil("logs", "-f", "--tail", "5", "-t", "web")
    assert result.stdout == (
        "2026-01-01T00:00:00.000000000Z one\n2026-01-01T00:00:05.000000000Z two\n"
    )
    assert daemon.calls() == [
        ("GET", "/services/web/logs", {"follow": "1", "tail": "5", "timestamps": "1"})
    ]


def test_logs_of_a_missing_service(daemon: CliDaemon):
    result = vigil("logs", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: No such service: x\n",
    )
    assert daemon.calls()[0][2] == {"tail": "all"}


# ---- run -------------------------------------------------------------------------------------


def _spec(daemon: CliDaemon) -> dict[str, Any]:
    creates = [r for r in daemon.requests if r.url.path == "/services/create"]
    body: dict[str, Any] = json.loads(creates[0].content)
    return body


def test_run_creates_then_starts_and_prints_the_id(
    daemon: CliDaemon, monkeypatch: pytest.MonkeyPatch
):
    """Flags become the vigil.yaml entry; durations travel as Go duration strings."""
    monkeypatch.setenv("FROM_HERE", "yes")
    monkeypatch.delenv("NOT_SET", raising=False)
    result = vigil(
        "run", "-d", "--name", "web",
        "--health-cmd", "curl -f http://localhost/",
        "--health-interval", "90s", "--health-timeout", "500ms", "--health-retries", "0x3",
        "--health-start-period", "1m", "--health-start-interval", "1s",
        "-e", "A=1", "-e", "B=x=y", "-e", "A=2", "-e", "FROM_HERE", "-e", "NOT_SET",
        "-w", "/", "-u", "1000:1000", "--restart", "on-failure:3",
        "--", "sleep", "1000",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    shown = inspect(daemon, "web")
    assert (result.stdout, result.stderr) == (shown["Id"] + "\n", "")
    assert shown["State"]["Running"] is True
    assert [c[:2] for c in daemon.calls()] == [
        ("POST", "/services/create"),
        ("POST", "/services/web/start"),
    ]
    assert daemon.calls()[0][2] == {"name": "web"}
    assert _spec(daemon) == {
        "command": ["sleep", "1000"],
        "environment": {"A": "2", "B": "x=y", "FROM_HERE": "yes"},
        "working_dir": "/",
        "user": "1000:1000",
        "healthcheck": {
            "test": ["CMD-SHELL", "curl -f http://localhost/"],
            "interval": "1m30s",
            "timeout": "500ms",
            "start_period": "1m0s",
            "start_interval": "1s",
            "retries": 3,
        },
        "restart": "on-failure:3",
    }


def test_run_prints_the_daemons_warnings(monkeypatch: pytest.MonkeyPatch):
    """docker run's `WARNING:` lines. vigil's daemon sends none yet, so this one test has
    a canned answer."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/create":
            return httpx.Response(201, json={"Id": "f" * 64, "Warnings": ["something to know"]})
        return httpx.Response(204)

    monkeypatch.setattr(connection, "transport", httpx.MockTransport(answer))
    result = vigil("run", "-d", "--name", "web", "--", "sleep", "9")
    assert (result.exit_code, result.stdout) == (0, "f" * 64 + "\n")
    assert result.stderr == "WARNING: something to know\n"


def test_run_without_dashdash_stops_at_the_command(daemon: CliDaemon):
    """Options after the command belong to the command (docker's non-interspersed flags)."""
    assert vigil("run", "-d", "--name", "s1", "sleep", "--name", "x").exit_code == 0
    assert _spec(daemon) == {"command": ["sleep", "--name", "x"]}


@pytest.mark.parametrize(
    ("flags", "healthcheck"),
    [
        (["--no-healthcheck"], {"disable": True}),
        (["--no-healthcheck", "--health-interval", "0s"], {"disable": True}),
        (["--health-interval", "10s"], {"interval": "10s"}),  # no test: no check in vigil
        (["--health-retries", "0", "--health-timeout", "0"], None),
    ],
)
def test_run_healthcheck_shapes(
    daemon: CliDaemon, flags: list[str], healthcheck: dict[str, Any] | None
):
    assert vigil("run", "-d", "--name", "s1", *flags, "--", "sleep", "1000").exit_code == 0
    assert _spec(daemon).get("healthcheck") == healthcheck


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--no-healthcheck", "--health-cmd", "true"],
         "--no-healthcheck conflicts with --health-* options"),
        (["--no-healthcheck", "--health-retries=-1"],
         "--no-healthcheck conflicts with --health-* options"),
        (["--health-interval=-1s"], "--health-interval cannot be negative"),
        (["--health-timeout=-1s"], "--health-timeout cannot be negative"),
        (["--health-retries=-1"], "--health-retries cannot be negative"),
        (["--health-start-period=-1s"], "--health-start-period cannot be negative"),
        (["--health-start-interval=-1s"], "--health-start-interval cannot be negative"),
        (["--health-timeout=-1s", "--health-interval=-1s"],
         "--health-interval cannot be negative"),
        (["--health-interval", "x"],
         'invalid argument "x" for "--health-interval" flag: time: invalid duration "x"'),
        (["--health-timeout", "1"],
         'invalid argument "1" for "--health-timeout" flag: '
         'time: missing unit in duration "1"'),
        (["--health-start-period", "1d"],
         'invalid argument "1d" for "--health-start-period" flag: '
         'time: unknown unit "d" in duration "1d"'),
        (["--health-retries", "three"],
         'invalid argument "three" for "--health-retries" flag: '
         'strconv.ParseInt: parsing "three": invalid syntax'),
        (["--health-retries", "99999999999999999999"],
         'invalid argument "99999999999999999999" for "--health-retries" flag: '
         'strconv.ParseInt: parsing "99999999999999999999": value out of range'),
        (["-e", "=x"],
         'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'),
        (["--restart", "sometimes"], "invalid restart policy"),
    ],
)  # fmt: skip
def test_run_flag_validation(daemon: CliDaemon, flags: list[str], message: str):
    """docker run's client-side checks and texts; nothing reaches the daemon."""
    result = vigil("run", "-d", "--name", "s1", *flags, "--", "sleep", "9")
    assert result.exit_code == 2
    assert f"Error: {message}" in result.stderr
    assert daemon.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "s1", "--", "sleep"], "vigil run needs -d"),
        (["-d", "--", "sleep"], "vigil run needs --name NAME"),
        (["-d", "--name", "s1"], '"vigil run" requires at least 1 argument'),
    ],
)
def test_run_requires_detach_name_and_command(daemon: CliDaemon, args: list[str], message: str):
    result = vigil("run", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert daemon.requests == []


def test_run_daemon_errors(daemon: CliDaemon):
    """A refused create or a failed start is the daemon's message, exit 1."""
    web = daemon.create("web")
    result = vigil("run", "-d", "--name", "web", "--", "sleep", "9")
    assert (result.exit_code, result.stderr) == (
        1,
        f'Error response from daemon: Conflict. The service name "/web" is already in use by '
        f'service "{web}". You have to remove (or rename) that service to be able to reuse '
        "that name.\n",
    )
    result = vigil("run", "-d", "--name", "broken", "--", "/nonexistent/vigil-test-binary")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("Error response from daemon: ")
    assert "/nonexistent/vigil-test-binary" in result.stderr
    assert result.stderr.count("\n") == 1
