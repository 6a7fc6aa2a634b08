"""A service in Docker's container shapes (inspect, list item, ps STATUS, list filters).

Expected texts come from moby: ``daemon/container/state.go`` (``State.String``),
``daemon/container/health.go``, ``daemon/list.go``, ``api/types/container`` validation
messages, ``api/types/filters/parse.go`` and go-units ``TestHumanDuration``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from types import MappingProxyType

import pytest

from vigil.core.config import HealthcheckConfig, RestartPolicy, ServiceConfig
from vigil.core.health import HealthState, HealthStatus
from vigil.core.results import Outcome, ProbeResult
from vigil.docker.health import dumps
from vigil.docker.services import (
    FilterArgs,
    ServiceView,
    human_duration,
    inspect_bytes,
    inspect_json,
    list_item_bytes,
    list_item_json,
    matches,
    parse_list_filters,
    status_text,
)
from vigil.go.duration import HOUR, MILLISECOND, MINUTE, SECOND

DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY
YEAR = 365 * DAY
T0 = 1_700_000_000 * SECOND
ID = "4f3c2b1a" * 8
CHECK = HealthcheckConfig(test=("CMD", "true"), interval=2 * SECOND, retries=3)
WEB = ServiceConfig(
    name="web",
    command=("python", "-m", "http.server", "hello world"),
    environment=MappingProxyType({"A": "1", "B": "x=y"}),
    working_dir="/srv",
    user="app",
    healthcheck=CHECK,
    restart=RestartPolicy("on-failure", 5),
)
WATCHED = ServiceConfig(name="db")


def _health(status: HealthStatus, streak: int = 0, log: int = 0) -> HealthState:
    results = tuple(
        ProbeResult(T0 + i * SECOND, T0 + i * SECOND + MILLISECOND, 1, "no", Outcome.FAIL)
        for i in range(log)
    )
    return HealthState(status, streak, results, T0)


def _view(status: str = "running", **changes: object) -> ServiceView:
    fields: dict[str, object] = {
        "id": ID,
        "config": WEB,
        "created_ns": T0 - MINUTE,
        "status": status,
        "pid": 4242 if status in ("running", "paused") else 0,
        "started_at_ns": T0,
    }
    fields.update(changes)
    return ServiceView(**fields)  # type: ignore[arg-type]


# ---- HumanDuration -----------------------------------------------------------------------

HUMAN_DURATIONS = [
    # go-units TestHumanDuration, row for row
    (450 * MILLISECOND, "Less than a second"),
    (1 * SECOND, "1 second"),
    (45 * SECOND, "45 seconds"),
    (46 * SECOND, "46 seconds"),
    (59 * SECOND, "59 seconds"),
    (60 * SECOND, "About a minute"),
    (1 * MINUTE, "About a minute"),
    (3 * MINUTE, "3 minutes"),
    (35 * MINUTE, "35 minutes"),
    (35 * MINUTE + 40 * SECOND, "35 minutes"),
    (45 * MINUTE, "45 minutes"),
    (45 * MINUTE + 40 * SECOND, "45 minutes"),
    (46 * MINUTE, "46 minutes"),
    (59 * MINUTE, "59 minutes"),
    (1 * HOUR, "About an hour"),
    (1 * HOUR + 29 * MINUTE, "About an hour"),
    (1 * HOUR + 31 * MINUTE, "2 hours"),
    (1 * HOUR + 59 * MINUTE, "2 hours"),
    (3 * HOUR, "3 hours"),
    (3 * HOUR + 29 * MINUTE, "3 hours"),
    (3 * HOUR + 31 * MINUTE, "4 hours"),
    (3 * HOUR + 59 * MINUTE, "4 hours"),
    (3 * HOUR + 60 * MINUTE, "4 hours"),
    (24 * HOUR, "24 hours"),
    (1 * DAY + 12 * HOUR, "36 hours"),
    (2 * DAY, "2 days"),
    (7 * DAY, "7 days"),
    (13 * DAY + 5 * HOUR, "13 days"),
    (2 * WEEK, "2 weeks"),
    (2 * WEEK + 4 * DAY, "2 weeks"),
    (3 * WEEK, "3 weeks"),
    (4 * WEEK, "4 weeks"),
    (4 * WEEK + 3 * DAY, "4 weeks"),
    (1 * MONTH, "4 weeks"),
    (1 * MONTH + 2 * WEEK, "6 weeks"),
    (2 * MONTH, "2 months"),
    (2 * MONTH + 2 * WEEK, "2 months"),
    (3 * MONTH, "3 months"),
    (3 * MONTH + 1 * WEEK, "3 months"),
    (5 * MONTH + 2 * WEEK, "5 months"),
    (13 * MONTH, "13 months"),
    (23 * MONTH, "23 months"),
    (24 * MONTH, "24 months"),
    (24 * MONTH + 2 * WEEK, "2 years"),
    (3 * YEAR + 2 * MONTH, "3 years"),
    # boundaries between the branches
    (0, "Less than a second"),
    (-5 * SECOND, "Less than a second"),
    (900 * MILLISECOND, "Less than a second"),
    (SECOND - 1, "Less than a second"),
    (1999 * MILLISECOND, "1 second"),
    (2 * SECOND, "2 seconds"),
    (60 * SECOND - 1, "59 seconds"),
    (119 * SECOND, "About a minute"),
    (120 * SECOND, "2 minutes"),
    (3599 * SECOND, "59 minutes"),
    (3600 * SECOND, "About an hour"),
    (HOUR + 30 * MINUTE - 1, "About an hour"),
    (HOUR + 30 * MINUTE, "2 hours"),
    (47 * HOUR + 29 * MINUTE, "47 hours"),
    (47 * HOUR + 30 * MINUTE, "2 days"),
    (14 * DAY - 31 * MINUTE, "13 days"),
    (14 * DAY - 30 * MINUTE, "2 weeks"),
    (60 * DAY - 31 * MINUTE, "8 weeks"),
    (60 * DAY - 30 * MINUTE, "2 months"),
    (2 * YEAR - 31 * MINUTE, "24 months"),
    (2 * YEAR - 30 * MINUTE, "1 years"),  # rounded hours reach 2 years; whole years are 1
    (2 * YEAR, "2 years"),
]


@pytest.mark.parametrize(("ns", "text"), HUMAN_DURATIONS)
def test_human_duration(ns: int, text: str) -> None:
    """Every go-units HumanDuration row and branch boundary gives Docker's words."""
    assert human_duration(ns) == text


# ---- ps STATUS ---------------------------------------------------------------------------

STATUS_TEXTS = [
    ("running, no check", _view(), "Up 2 minutes"),
    ("running, check never ran", _view(health=HealthState()), "Up 2 minutes"),
    (
        "running, starting",
        _view(health=_health(HealthStatus.STARTING)),
        "Up 2 minutes (health: starting)",
    ),
    ("running, healthy", _view(health=_health(HealthStatus.HEALTHY)), "Up 2 minutes (healthy)"),
    (
        "running, unhealthy",
        _view(health=_health(HealthStatus.UNHEALTHY, 3)),
        "Up 2 minutes (unhealthy)",
    ),
    (
        "paused wins over health",
        _view("paused", health=_health(HealthStatus.UNHEALTHY)),
        "Up 2 minutes (Paused)",
    ),
    (
        "restarting",
        _view("restarting", exit_code=1, finished_at_ns=T0 + 115 * SECOND),
        "Restarting (1) 5 seconds ago",
    ),
    ("removing", _view("removing"), "Removal In Progress"),
    ("dead", _view("dead"), "Dead"),
    ("created", _view("created", started_at_ns=0), "Created"),
    ("exited but never started", _view("exited", started_at_ns=0), "Created"),
    ("exited without FinishedAt", _view("exited"), ""),
    (
        "exited",
        _view(
            "exited",
            exit_code=137,
            finished_at_ns=T0 + 60 * SECOND,
            health=_health(HealthStatus.UNHEALTHY),
        ),
        "Exited (137) About a minute ago",
    ),
    (
        "exited long ago",
        _view("exited", exit_code=0, finished_at_ns=T0 - 3 * DAY),
        "Exited (0) 3 days ago",
    ),
]


@pytest.mark.parametrize(("case", "view", "text"), STATUS_TEXTS, ids=[c[0] for c in STATUS_TEXTS])
def test_status_text(case: str, view: ServiceView, text: str) -> None:
    """Each branch of Docker's State.String() renders its exact text (now = start + 2 min)."""
    assert status_text(view, T0 + 2 * MINUTE) == text


def test_unknown_status_is_refused() -> None:
    """A view only takes Docker's container states."""
    with pytest.raises(ValueError, match="unknown service status 'stopped'"):
        _view("stopped")


# ---- inspect -----------------------------------------------------------------------------


def test_inspect_shape_of_a_running_healthy_service() -> None:
    """Inspect has Docker's keys, order, encodings and Health for a running checked service."""
    view = _view(restart_count=2, health=_health(HealthStatus.HEALTHY, log=1))
    got = inspect_json(view)
    assert list(got) == [
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Name",
        "RestartCount",
        "HostConfig",
        "Config",
    ]
    assert got["Id"] == ID
    assert got["Created"] == "2023-11-14T22:12:20Z"
    assert got["Path"] == "python"
    assert got["Args"] == ["-m", "http.server", "hello world"]
    assert got["Name"] == "/web"
    assert got["RestartCount"] == 2
    assert got["HostConfig"] == {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}}
    state = got["State"]
    assert list(state) == [
        "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead",
        "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt", "Health",
    ]  # fmt: skip
    assert state["Status"] == "running"
    assert (state["Running"], state["Paused"], state["Restarting"], state["Dead"]) == (
        True,
        False,
        False,
        False,
    )
    assert state["OOMKilled"] is False
    assert (state["Pid"], state["ExitCode"], state["Error"]) == (4242, 0, "")
    assert state["StartedAt"] == "2023-11-14T22:13:20Z"
    assert state["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert state["Health"]["Status"] == "healthy"
    assert state["Health"]["FailingStreak"] == 0
    assert len(state["Health"]["Log"]) == 1
    config = got["Config"]
    assert config == {
        "User": "app",
        "Env": ["A=1", "B=x=y"],
        "Cmd": ["python", "-m", "http.server", "hello world"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 2_000_000_000, "Retries": 3},
        "WorkingDir": "/srv",
    }
    json.loads(dumps([got]))  # serialisable as Docker's one-element array


def test_health_log_is_an_empty_list_never_null() -> None:
    """A started check with no result yet shows ``Log: []``."""
    got = inspect_json(_view(health=_health(HealthStatus.STARTING)))
    assert got["State"]["Health"] == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert '"Log":[]' in dumps(got)


@pytest.mark.parametrize("health", [None, HealthState()], ids=["no check", "never monitored"])
def test_health_is_absent_without_a_monitor(health: HealthState | None) -> None:
    """No check, or a check that never ran (created service), leaves State.Health out."""
    assert "Health" not in inspect_json(_view(health=health))["State"]


@pytest.mark.parametrize(
    ("status", "flags"),
    [
        ("running", (True, False, False, False)),
        ("paused", (True, True, False, False)),
        ("restarting", (True, False, True, False)),
        ("exited", (False, False, False, False)),
        ("created", (False, False, False, False)),
        ("dead", (False, False, False, True)),
    ],
)
def test_state_flags(status: str, flags: tuple[bool, bool, bool, bool]) -> None:
    """Running stays true while paused or restarting, as in Docker."""
    state = inspect_json(_view(status))["State"]
    assert (state["Running"], state["Paused"], state["Restarting"], state["Dead"]) == flags
    assert state["Status"] == status


def test_inspect_of_a_watched_only_created_service() -> None:
    """No command: Path "" and Args []; no check: no Healthcheck; unset times: Go's zero."""
    view = ServiceView(id=ID, config=WATCHED, created_ns=T0)
    got = inspect_json(view)
    assert (got["Path"], got["Args"]) == ("", [])
    assert got["Config"] == {"User": "", "Env": [], "Cmd": None, "WorkingDir": ""}
    assert got["HostConfig"] == {"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}
    assert got["State"]["StartedAt"] == got["State"]["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert got["State"]["Status"] == "created"


def test_healthcheck_durations_and_stop_settings() -> None:
    """Healthcheck durations are integer ns with zeros omitted; stop settings appear when set."""
    check = HealthcheckConfig(
        test=("CMD-SHELL", "exit 0"), timeout=1500 * MILLISECOND, start_period=0
    )
    config = ServiceConfig(
        name="w", healthcheck=check, stop_signal="SIGINT", stop_grace_period=2500 * MILLISECOND
    )
    got = inspect_json(ServiceView(id=ID, config=config, created_ns=T0))["Config"]
    assert got["Healthcheck"] == {"Test": ["CMD-SHELL", "exit 0"], "Timeout": 1_500_000_000}
    assert (got["StopSignal"], got["StopTimeout"]) == ("SIGINT", 2)
    disabled = ServiceConfig(name="w", healthcheck=HealthcheckConfig(test=("NONE",)))
    assert inspect_json(ServiceView(id=ID, config=disabled, created_ns=T0))["Config"][
        "Healthcheck"
    ] == {"Test": ["NONE"]}


# ---- list item ---------------------------------------------------------------------------


def test_list_item_shape() -> None:
    """A list item has Docker's keys, quoted Command, Unix-second Created and a Health summary."""
    view = _view(health=_health(HealthStatus.UNHEALTHY, streak=4))
    assert list_item_json(view, T0 + 3 * SECOND) == {
        "Id": ID,
        "Names": ["/web"],
        "Command": "python -m http.server 'hello world'",
        "Created": 1_699_999_940,
        "State": "running",
        "Status": "Up 3 seconds (unhealthy)",
        "Health": {"Status": "unhealthy", "FailingStreak": 4},
    }


def test_list_item_without_check_reports_none() -> None:
    """No check gives Health none/0 (API 1.52) and an empty Command for a watched service."""
    got = list_item_json(ServiceView(id=ID, config=WATCHED, created_ns=T0), T0)
    assert got["Health"] == {"Status": "none", "FailingStreak": 0}
    assert (got["Command"], got["Status"], got["State"]) == ("", "Created", "created")


def test_list_command_without_args_is_the_path() -> None:
    """A command with no arguments is just its path."""
    view = ServiceView(
        id=ID, config=ServiceConfig(name="x", command=("/bin/server",)), created_ns=T0
    )
    assert list_item_json(view, T0)["Command"] == "/bin/server"


# ---- encoded once per view ---------------------------------------------------------------

ODD = ServiceConfig(name="odd\u2028é", command=("say", 'a "quoted" <b>&</b>', "\u2029"))
RENDERED = [
    _view(health=_health(HealthStatus.HEALTHY, log=5)),
    _view("paused", health=_health(HealthStatus.UNHEALTHY, streak=7, log=2)),
    _view("restarting", exit_code=3, finished_at_ns=T0 + SECOND),
    _view("exited", exit_code=137, finished_at_ns=T0 + MINUTE, error="boom\u2028"),
    ServiceView(id=ID, config=WATCHED, created_ns=T0),
    _view(config=ODD, health=_health(HealthStatus.STARTING)),
]


@pytest.mark.parametrize("view", RENDERED)
def test_encoded_renders_are_the_json_shapes_byte_for_byte(view: ServiceView) -> None:
    """``inspect_bytes``/``list_item_bytes`` are ``dumps`` of the shapes, whatever the time:
    only ``Status`` moves with it; a second call returns the memoized bytes."""
    for now in (T0, T0 + 3 * SECOND, T0 + 2 * HOUR, T0 + 3 * WEEK):
        expected = dumps(list_item_json(view, now)).encode()
        assert list_item_bytes(view, now) == expected
        assert list_item_bytes(view, now) == expected
    assert inspect_bytes(view) == (dumps(inspect_json(view)) + "\n").encode()
    assert inspect_bytes(view) is inspect_bytes(view)


def test_a_replaced_view_does_not_inherit_renders() -> None:
    """``dataclasses.replace`` gives a view of its own, rendered afresh."""
    view = _view(health=_health(HealthStatus.HEALTHY))
    inspect_bytes(view), list_item_bytes(view, T0)
    exited = dataclasses.replace(view, status="exited", finished_at_ns=T0 + SECOND)
    assert inspect_bytes(exited) == (dumps(inspect_json(exited)) + "\n").encode()
    assert list_item_bytes(exited, T0) == dumps(list_item_json(exited, T0)).encode()


# ---- Docker's filters.Args ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"status":{"running":true,"exited":true}}',
        '{"status":["running","exited"]}',
    ],
    ids=["current map form", "legacy list form"],
)
def test_filter_args_accepts_both_json_forms(text: str) -> None:
    """Docker's FromJSON reads the map form and falls back to the legacy list form."""
    args = FilterArgs.from_json(text)
    assert args.get("status") == ["exited", "running"]
    assert args.exact_match("status", "running")
    assert not args.exact_match("status", "paused")


@pytest.mark.parametrize("text", ["", None, "null", "{}"])
def test_filter_args_empty(text: str | None) -> None:
    """Empty, null and {} filters mean no filter: everything matches."""
    args = FilterArgs.from_json(text)
    assert len(args) == 0
    assert args.exact_match("status", "anything")


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[]",
        '"status"',
        '{"a":{"x":1}}',
        '{"a":[1]}',
        '{"a":{"x":true},"b":["y"]}',
        '{"a":"x"}',
    ],
)
def test_filter_args_invalid_json(text: str) -> None:
    """JSON that fits neither form is Docker's bare ``invalid filter``."""
    with pytest.raises(ValueError, match=r"^invalid filter$"):
        FilterArgs.from_json(text)


def test_filter_args_false_flag_and_null_entries() -> None:
    """A false flag does not match exactly (Go reads the map value); null means no values."""
    args = FilterArgs.from_json('{"a":{"x":false,"y":null},"b":null}')
    assert not args.exact_match("a", "x")
    assert not args.exact_match("a", "y")
    assert args.fuzzy_match("a", "xylophone")  # prefixes are every key, as in Go
    assert args.contains("b")
    assert args.exact_match("b", "whatever")


def test_filter_args_match_is_an_unanchored_regex() -> None:
    """Match is exact or a regex search; a broken pattern is skipped, as Go does."""
    args = FilterArgs({"name": {"^we": True, "(": True}})
    assert args.match("name", "web")
    assert not args.match("name", "cobweb")


# ---- list filters ------------------------------------------------------------------------

BAD_LIST_FILTERS = [
    ('{"foo":["x"]}', "invalid filter 'foo'"),
    ('{"label":["x"]}', "invalid filter 'label'"),
    (
        '{"health":["foo"]}',
        "invalid filter 'health=foo': invalid value for health (foo): "
        "must be one of none, starting, healthy, unhealthy",
    ),
    (
        '{"status":["stopped"]}',
        "invalid filter 'status=stopped': invalid value for state (stopped): "
        "must be one of created, running, paused, restarting, removing, exited, dead",
    ),
    ('{"exited":["x"]}', "invalid filter 'exited=x': strconv.Atoi: parsing \"x\": invalid syntax"),
    (
        '{"exited":["99999999999999999999"]}',
        "invalid filter 'exited=99999999999999999999': strconv.Atoi: parsing "
        '"99999999999999999999": value out of range',
    ),
    ("not json", "invalid filter"),
]


@pytest.mark.parametrize(("text", "message"), BAD_LIST_FILTERS)
def test_list_filter_errors_use_dockers_words(text: str, message: str) -> None:
    """Invalid list filters are refused with moby's exact messages."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_list_filters(text)


def test_status_filter_implies_all() -> None:
    """A status filter lists stopped services even without ``all``, as Docker does."""
    stopped = _view("exited", finished_at_ns=T0)
    assert not matches(stopped, parse_list_filters(None), show_all=False)
    assert matches(stopped, parse_list_filters('{"status":["exited"]}'), show_all=False)
    assert matches(stopped, parse_list_filters(None), show_all=True)
    assert matches(_view("paused"), parse_list_filters(None), show_all=False)


HEALTH_FILTER_CASES = [
    ("none", _view(), True),
    ("none", _view(health=HealthState()), True),
    ("starting", _view(health=_health(HealthStatus.STARTING)), True),
    ("healthy", _view(health=_health(HealthStatus.STARTING)), False),
    ("unhealthy", _view("exited", finished_at_ns=T0, health=_health(HealthStatus.UNHEALTHY)), True),
    ("none", _view("exited", finished_at_ns=T0, health=_health(HealthStatus.UNHEALTHY)), False),
]


@pytest.mark.parametrize(("value", "view", "expected"), HEALTH_FILTER_CASES)
def test_health_filter(value: str, view: ServiceView, expected: bool) -> None:
    """``health`` compares the check's status, or ``none`` without a (started) check."""
    filters = parse_list_filters(json.dumps({"health": [value]}))
    assert matches(view, filters) is expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"name": ["web"]}, True),
        ({"name": ["^/web$"]}, True),
        ({"name": ["^web$"]}, True),
        ({"name": ["db"]}, False),
        ({"id": [ID[:6]]}, True),
        ({"id": [ID]}, True),
        ({"id": ["ffff"]}, False),
        ({"id": [""]}, False),
        ({"name": ["web"], "id": ["ffff"]}, False),
        ({"status": ["running", "paused"]}, True),
        ({"status": ["exited"]}, False),
        ({"exited": ["0"]}, False),  # exited filters never match a running service
    ],
)
def test_name_id_status_filters(filters: dict[str, list[str]], expected: bool) -> None:
    """Name is a regex on name and /name, id a prefix, status exact; keys combine with AND."""
    assert matches(_view(), parse_list_filters(json.dumps(filters))) is expected


def test_exited_filter() -> None:
    """``exited`` matches stopped services that ran, by exit code."""
    filters = parse_list_filters('{"exited":["137","+1"]}')
    assert matches(_view("exited", exit_code=137, finished_at_ns=T0), filters)
    assert matches(_view("exited", exit_code=1, finished_at_ns=T0), filters)
    assert not matches(_view("exited", exit_code=0, finished_at_ns=T0), filters)
    assert not matches(_view("created", exit_code=137, started_at_ns=0), filters)
