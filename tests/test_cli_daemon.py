"""The daemon commands of the CLI over a fake daemon (httpx.MockTransport), and their output
formats. Time is injected; local time is pinned to UTC."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from vigil.cli import services as _cli_daemon
from vigil.cli.main import cli
from vigil.client import Client

SECOND = 1_000_000_000
NOW = 1_795_806_124 * SECOND  # 2026-11-27T19:02:04Z
WEB_ID = "1f2e3d4c5b6a" + "0" * 52
DB_ID = "abcdef012345" + "9" * 52

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message})


class FakeDaemon:
    """Answers from a ``(method, path) -> response`` table (204 otherwise), recording requests."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Answer] = {}
        self.requests: list[httpx.Request] = []
        self.hosts: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path), httpx.Response(204))
        return answer(request) if callable(answer) else answer

    def factory(self, host: str | None) -> Client:
        self.hosts.append(host)
        return Client(host or "unix:///run/test/vigil.sock", transport=httpx.MockTransport(self))

    def calls(self) -> list[tuple[str, str, dict[str, str]]]:
        return [(r.method, r.url.path, dict(r.url.params)) for r in self.requests]


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Local time is UTC, so local-time output is predictable."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> FakeDaemon:
    fake = FakeDaemon()
    monkeypatch.setattr(_cli_daemon, "client_factory", fake.factory)
    monkeypatch.setattr(_cli_daemon, "now_ns", lambda: NOW)
    monkeypatch.delenv("VIGIL_HOST", raising=False)
    return fake


def vigil(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def list_item(
    service_id: str, name: str, command: str, age_s: int, status: str, health: str = "none"
) -> dict[str, Any]:
    return {
        "Id": service_id,
        "Names": ["/" + name],
        "Command": command,
        "Created": NOW // SECOND - age_s,
        "State": "running" if status.startswith("Up") else "exited",
        "Status": status,
        "Health": {"Status": health, "FailingStreak": 0},
    }


ITEMS = [
    list_item(
        WEB_ID, "web", "python -m http.server 8000", 120, "Up 2 minutes (healthy)", "healthy"
    ),
    list_item(DB_ID, "db", "postgres", 3600, "Exited (1) 5 seconds ago"),
]


# ---- registration and plumbing -------------------------------------------------------------


def test_every_daemon_command_is_registered():
    """The lead's group carries the daemon commands next to config and check."""
    expected = {"ps", "inspect", "events", "wait", "logs", "run", "start", "stop", "restart"}
    expected |= {"kill", "pause", "unpause", "rm", "down"}
    assert expected <= set(cli.commands)


def test_host_comes_from_flag_or_environment(daemon: FakeDaemon):
    """-H wins; VIGIL_HOST is its environment variable; nothing means the client's default."""
    daemon.routes[("GET", "/services/json")] = httpx.Response(200, json=[])
    vigil("ps", "-H", "tcp://127.0.0.1:2375")
    vigil("ps", env={"VIGIL_HOST": "unix:///x.sock"})
    vigil("ps")
    assert daemon.hosts == ["tcp://127.0.0.1:2375", "unix:///x.sock", None]


def test_unreachable_daemon_is_one_line(monkeypatch: pytest.MonkeyPatch):
    """No daemon: docker's message, exit 1, no traceback."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(
        _cli_daemon,
        "client_factory",
        lambda host: Client("unix:///run/v.sock", transport=httpx.MockTransport(refuse)),
    )
    result = vigil("ps")
    assert result.exit_code == 1
    assert result.stderr == (
        "Cannot connect to the vigil daemon at unix:///run/v.sock. Is the vigil daemon running?\n"
    )
    stopped = vigil("stop", "a", "b")  # said once, not once per name
    assert stopped.exit_code == 1
    assert stopped.stderr.count("Cannot connect") == 1


def test_remote_host_is_refused_cleanly():
    """The real factory refuses a non-loopback -H with one line."""
    result = vigil("ps", "-H", "tcp://192.0.2.1:2375")
    assert result.exit_code == 1
    assert "only loopback addresses" in result.stderr
    assert result.stderr.count("\n") == 1


# ---- ps --------------------------------------------------------------------------------------


def test_ps_table(daemon: FakeDaemon):
    """docker ps columns, tabwriter padding, quoted and truncated commands, ages from now."""
    daemon.routes[("GET", "/services/json")] = httpx.Response(200, json=ITEMS)
    result = vigil("ps", "-a")
    assert result.exit_code == 0
    assert result.stdout == (
        "SERVICE ID     NAME      COMMAND                  CREATED             STATUS\n"
        '1f2e3d4c5b6a   web       "python -m http.serv…"   2 minutes ago       '
        "Up 2 minutes (healthy)\n"
        'abcdef012345   db        "postgres"               About an hour ago   '
        "Exited (1) 5 seconds ago\n"
    )
    assert daemon.calls() == [("GET", "/services/json", {"all": "1"})]


def test_ps_empty_prints_the_header(daemon: FakeDaemon):
    daemon.routes[("GET", "/services/json")] = httpx.Response(200, json=[])
    assert vigil("ps").stdout == "SERVICE ID   NAME      COMMAND   CREATED   STATUS\n"


def test_ps_json_lines(daemon: FakeDaemon):
    """One object per line, keys sorted like docker's {{json .}}, the table's texts."""
    daemon.routes[("GET", "/services/json")] = httpx.Response(200, json=ITEMS)
    lines = vigil("ps", "--format", "json").stdout.splitlines()
    assert lines[0] == (
        '{"Command":"\\"python -m http.serv…\\"","CreatedAt":"2026-11-27 19:00:04 +0000 UTC",'
        '"Health":"healthy","ID":"1f2e3d4c5b6a","Names":"web","RunningFor":"2 minutes ago",'
        '"State":"running","Status":"Up 2 minutes (healthy)"}'
    )
    second = json.loads(lines[1])
    assert second["Health"] == ""
    assert list(second) == sorted(second)


def test_ps_quiet_and_no_trunc(daemon: FakeDaemon):
    daemon.routes[("GET", "/services/json")] = httpx.Response(200, json=ITEMS)
    assert vigil("ps", "-q").stdout == "1f2e3d4c5b6a\nabcdef012345\n"
    assert vigil("ps", "-q", "--no-trunc").stdout == f"{WEB_ID}\n{DB_ID}\n"
    wide = vigil("ps", "--no-trunc").stdout
    assert WEB_ID in wide
    assert '"python -m http.server 8000"' in wide


def test_ps_filters(daemon: FakeDaemon):
    """--filter KEY=VALUE repeats into Docker's filters JSON; keys lower-cased, trimmed."""
    daemon.routes[("GET", "/services/json")] = httpx.Response(200, json=[])
    vigil("ps", "--filter", "health=healthy", "-f", " Health = starting", "-f", "name=w=x")
    assert daemon.calls()[0][2] == {
        "filters": '{"health":{"healthy":true,"starting":true},"name":{"w=x":true}}'
    }


def test_ps_bad_filter_is_a_usage_error(daemon: FakeDaemon):
    result = vigil("ps", "--filter", "healthy")
    assert result.exit_code == 2
    assert (
        'Error: invalid argument "healthy" for "-f, --filter" flag: '
        "bad format of filter (expected name=value)"
    ) in result.stderr
    assert daemon.requests == []


def test_ps_daemon_error(daemon: FakeDaemon):
    daemon.routes[("GET", "/services/json")] = error(400, "invalid filter 'colour'")
    result = vigil("ps", "-f", "colour=red")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: invalid filter 'colour'\n",
    )


# ---- inspect ---------------------------------------------------------------------------------


def test_inspect_prints_found_objects_then_fails_for_missing(daemon: FakeDaemon):
    """docker inspect: the array of what was found, then `Error: No such ...`, exit 1."""
    daemon.routes[("GET", "/services/web/json")] = httpx.Response(
        200, json={"Id": WEB_ID, "Name": "/web", "Args": ["a<b"]}
    )
    daemon.routes[("GET", "/services/x/json")] = error(404, "No such service: x")
    result = vigil("inspect", "web", "x")
    assert result.exit_code == 1
    assert result.stdout == (
        "[\n"
        "    {\n"
        f'        "Id": "{WEB_ID}",\n'
        '        "Name": "/web",\n'
        '        "Args": [\n'
        '            "a<b"\n'
        "        ]\n"
        "    }\n"
        "]\n"
    )
    assert result.stderr == "Error: No such service: x\n"


def test_inspect_all_found_and_none_found(daemon: FakeDaemon):
    daemon.routes[("GET", "/services/web/json")] = httpx.Response(200, json={"Id": "1"})
    assert vigil("inspect", "web").exit_code == 0
    daemon.routes[("GET", "/services/web/json")] = error(500, "boom")
    result = vigil("inspect", "web")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "[]\n",
        "Error response from daemon: boom\n",
    )


# ---- events ----------------------------------------------------------------------------------

HEALTH_EVENT = {
    "Type": "service",
    "Action": "health_status: healthy",
    "Actor": {"ID": WEB_ID, "Attributes": {"name": "web"}},
    "scope": "local",
    "time": 1_795_806_124,
    "timeNano": 1_795_806_124_123_456_789,
}
DIE_EVENT = {
    "Type": "service",
    "Action": "die",
    "Actor": {"ID": DB_ID, "Attributes": {"name": "db", "exitCode": "1"}},
    "scope": "local",
    "time": 1_795_806_125,
    "timeNano": 1_795_806_125_000_000_000,
}


def _ndjson(*events: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, text="".join(json.dumps(e) + "\n" for e in events))


def test_events_human_format(daemon: FakeDaemon):
    """docker's line: local RFC3339Nano time, type, action, ID, sorted attributes."""
    daemon.routes[("GET", "/events")] = _ndjson(HEALTH_EVENT, DIE_EVENT)
    result = vigil("events", "--since", "1h", "--until", "0s")
    assert result.exit_code == 0
    assert result.stdout == (
        f"2026-11-27T19:02:04.123456789Z service health_status: healthy {WEB_ID} (name=web)\n"
        f"2026-11-27T19:02:05.000000000Z service die {DB_ID} (exitCode=1, name=db)\n"
    )
    assert daemon.calls() == [("GET", "/events", {"since": "1h", "until": "0s"})]


def test_events_json_format_and_filters(daemon: FakeDaemon):
    daemon.routes[("GET", "/events")] = _ndjson(DIE_EVENT)
    result = vigil("events", "--format", "json", "--filter", "event=die", "-f", "service=db")
    assert result.stdout == json.dumps(DIE_EVENT, separators=(",", ":")) + "\n"
    assert daemon.calls()[0][2] == {"filters": '{"event":{"die":true},"service":{"db":true}}'}


def test_events_errors(daemon: FakeDaemon):
    assert vigil("events", "-f", "die").exit_code == 2
    daemon.routes[("GET", "/events")] = error(400, 'failed to parse value "x" as a timestamp')
    result = vigil("events", "--since", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        'Error response from daemon: failed to parse value "x" as a timestamp\n',
    )


# ---- wait ------------------------------------------------------------------------------------


def _wait_answers(answers: dict[str, dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        name = request.url.path.split("/")[2]
        return httpx.Response(200, json=answers[name])

    return answer


def test_wait_all_met(daemon: FakeDaemon):
    """Healthy everywhere: exit 0, nothing printed."""
    met = {"Met": True, "Error": None, "ExitCode": 0}
    for name in ("web", "db"):
        daemon.routes[("POST", f"/services/{name}/wait")] = httpx.Response(200, json=met)
    result = vigil("wait", "--condition", "healthy", "web", "db")
    assert (result.exit_code, result.stdout) == (0, "")
    assert [c[2] for c in daemon.calls()] == [{"condition": "healthy"}] * 2


def test_wait_exited_prints_exit_codes_like_docker_wait(daemon: FakeDaemon):
    daemon.routes[("POST", "/services/job/wait")] = httpx.Response(
        200, json={"Met": True, "Error": None, "ExitCode": 3}
    )
    result = vigil("wait", "job")
    assert (result.exit_code, result.stdout) == (0, "3\n")
    assert daemon.calls()[0][2] == {"condition": "exited"}


def test_wait_reports_every_reason(daemon: FakeDaemon):
    """Compose's reasons on stderr, exit 1; every name is still asked."""
    answers = {
        "db": {"Met": False, "Error": "service db is unhealthy", "ExitCode": 0},
        "job": {"Met": False, "Error": "service job exited (1)", "ExitCode": 1},
        "web": {"Met": True, "Error": None, "ExitCode": 0},
    }
    for name in answers:
        daemon.routes[("POST", f"/services/{name}/wait")] = _wait_answers(answers)
    daemon.routes[("POST", "/services/x/wait")] = error(404, "No such service: x")
    result = vigil("wait", "--condition", "healthy", "db", "web", "job", "x")
    assert result.exit_code == 1
    assert result.stderr == (
        "service db is unhealthy\nservice job exited (1)\n"
        "Error response from daemon: No such service: x\n"
    )


def test_wait_timeout_is_one_budget_for_all_names(
    daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
):
    """Each request gets what is left of --timeout."""
    times = iter([NOW, NOW, NOW + 60 * SECOND, NOW + 200 * SECOND])
    monkeypatch.setattr(_cli_daemon, "now_ns", lambda: next(times))
    met = httpx.Response(200, json={"Met": True, "Error": None, "ExitCode": 0})
    for name in ("a", "b", "c"):
        daemon.routes[("POST", f"/services/{name}/wait")] = met
    assert (
        vigil("wait", "--condition", "running", "--timeout", "1m30s", "a", "b", "c").exit_code == 0
    )
    assert [c[2]["timeout"] for c in daemon.calls()] == ["1m30s", "30s", "0s"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", 'invalid argument "x" for "--timeout" flag: time: invalid duration "x"'),
        ("5", 'invalid argument "5" for "--timeout" flag: time: missing unit in duration "5"'),
        ("-1s", "--timeout cannot be negative"),
    ],
)
def test_wait_bad_timeout(daemon: FakeDaemon, value: str, message: str):
    result = vigil("wait", f"--timeout={value}", "web")
    assert result.exit_code == 2
    assert f"Error: {message}\n" in result.stderr


# ---- lifecycle commands --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "method", "action", "query"),
    [
        (["start"], "POST", "/start", {}),
        (["stop"], "POST", "/stop", {}),
        (["stop", "-t", "5"], "POST", "/stop", {"t": "5"}),
        (["stop", "--time", "-1"], "POST", "/stop", {"t": "-1"}),
        (["restart", "--timeout", "0"], "POST", "/restart", {"t": "0"}),
        (["pause"], "POST", "/pause", {}),
        (["unpause"], "POST", "/unpause", {}),
        (["kill"], "POST", "/kill", {}),
        (["kill", "-s", "HUP"], "POST", "/kill", {"signal": "HUP"}),
        (["rm"], "DELETE", "", {}),
        (["rm", "-f"], "DELETE", "", {"force": "1"}),
    ],
)
def test_lifecycle_commands(
    daemon: FakeDaemon, args: list[str], method: str, action: str, query: dict[str, str]
):
    """Each name is printed when done; errors come after, one per line, and exit 1."""
    daemon.routes[(method, f"/services/b{action}")] = error(409, "service b is not running")
    result = vigil(*args, "a", "b", "c")
    assert result.exit_code == 1
    assert result.stdout == "a\nc\n"
    assert result.stderr == "Error response from daemon: service b is not running\n"
    assert daemon.calls() == [(method, f"/services/{n}{action}", query) for n in "abc"]


def test_already_started_is_success(daemon: FakeDaemon):
    """304 is not an error (docker start on a running container prints its name)."""
    daemon.routes[("POST", "/services/web/start")] = httpx.Response(304)
    result = vigil("start", "web")
    assert (result.exit_code, result.stdout) == (0, "web\n")


def test_names_are_required(daemon: FakeDaemon):
    assert vigil("stop").exit_code == 2


def test_down(daemon: FakeDaemon):
    result = vigil("down")
    assert result.exit_code == 0
    assert daemon.calls() == [("POST", "/down", {})]


# ---- logs ------------------------------------------------------------------------------------


def test_logs_passes_the_stream_through(daemon: FakeDaemon):
    daemon.routes[("GET", "/services/web/logs")] = httpx.Response(
        200, content=iter([b"2026-11-27T19:02:04Z hello\n2026-", b"11-27T19:02:05Z bye"])
    )
    result = vigil("logs", "-f", "--tail", "5", "-t", "web")
    assert result.stdout == "2026-11-27T19:02:04Z hello\n2026-11-27T19:02:05Z bye"
    assert daemon.calls() == [
        ("GET", "/services/web/logs", {"follow": "1", "tail": "5", "timestamps": "1"})
    ]


def test_logs_of_a_missing_service(daemon: FakeDaemon):
    daemon.routes[("GET", "/services/x/logs")] = error(404, "No such service: x")
    result = vigil("logs", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: No such service: x\n",
    )
    assert daemon.calls()[0][2] == {"tail": "all"}


# ---- run -------------------------------------------------------------------------------------


def _created(daemon: FakeDaemon, warnings: list[str] | None = None) -> None:
    daemon.routes[("POST", "/services/create")] = httpx.Response(
        201, json={"Id": WEB_ID, "Warnings": warnings or []}
    )


def _spec(daemon: FakeDaemon) -> dict[str, Any]:
    creates = [r for r in daemon.requests if r.url.path == "/services/create"]
    body: dict[str, Any] = json.loads(creates[0].content)
    return body


def test_run_creates_then_starts_and_prints_the_id(
    daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
):
    """Flags become the vigil.yaml entry; durations travel as Go duration strings."""
    _created(daemon, ["something to know"])
    monkeypatch.setenv("FROM_HERE", "yes")
    monkeypatch.delenv("NOT_SET", raising=False)
    result = vigil(
        "run", "-d", "--name", "web",
        "--health-cmd", "curl -f http://localhost/",
        "--health-interval", "90s", "--health-timeout", "500ms", "--health-retries", "3",
        "--health-start-period", "1m", "--health-start-interval", "1s",
        "-e", "A=1", "-e", "B=x=y", "-e", "A=2", "-e", "FROM_HERE", "-e", "NOT_SET",
        "-w", "/srv", "-u", "1000:1000", "--restart", "on-failure:3",
        "--", "python", "-m", "http.server", "--bind", "127.0.0.1",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, WEB_ID + "\n")
    assert result.stderr == "WARNING: something to know\n"
    assert [c[:2] for c in daemon.calls()] == [
        ("POST", "/services/create"),
        ("POST", "/services/web/start"),
    ]
    assert daemon.calls()[0][2] == {"name": "web"}
    assert _spec(daemon) == {
        "command": ["python", "-m", "http.server", "--bind", "127.0.0.1"],
        "environment": {"A": "2", "B": "x=y", "FROM_HERE": "yes"},
        "working_dir": "/srv",
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


def test_run_without_dashdash_stops_at_the_command(daemon: FakeDaemon):
    """Options after the command belong to the command (docker's non-interspersed flags)."""
    _created(daemon)
    assert vigil("run", "-d", "--name", "s", "sleep", "--name", "x").exit_code == 0
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
    daemon: FakeDaemon, flags: list[str], healthcheck: dict[str, Any] | None
):
    _created(daemon)
    assert vigil("run", "-d", "--name", "s", *flags, "--", "sleep", "9").exit_code == 0
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
def test_run_flag_validation(daemon: FakeDaemon, flags: list[str], message: str):
    """docker run's client-side checks and texts; nothing reaches the daemon."""
    result = vigil("run", "-d", "--name", "s", *flags, "--", "sleep", "9")
    assert result.exit_code == 2
    assert f"Error: {message}" in result.stderr
    assert daemon.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "s", "--", "sleep"], "vigil run needs -d"),
        (["-d", "--", "sleep"], "vigil run needs --name NAME"),
        (["-d", "--name", "s"], '"vigil run" requires at least 1 argument'),
    ],
)
def test_run_requires_detach_name_and_command(daemon: FakeDaemon, args: list[str], message: str):
    result = vigil("run", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert daemon.requests == []


def test_run_daemon_errors(daemon: FakeDaemon):
    """A refused create or a failed start is the daemon's message, exit 1."""
    daemon.routes[("POST", "/services/create")] = error(409, 'Conflict. The name "web" is in use')
    result = vigil("run", "-d", "--name", "web", "--", "sleep", "9")
    assert (result.exit_code, result.stderr) == (
        1,
        'Error response from daemon: Conflict. The name "web" is in use\n',
    )
    _created(daemon)
    daemon.routes[("POST", "/services/web/start")] = error(500, "exec: no such file")
    result = vigil("run", "-d", "--name", "web", "--", "nope")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error response from daemon: exec: no such file\n"
