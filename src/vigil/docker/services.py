"""A service shown in Docker's container shapes: inspect, list item, ``ps`` STATUS, list filters.

Pure: no asyncio, no I/O, no clock reads; every "now" is an argument (Unix ns).

Sources: ``moby/moby:daemon/container/state.go`` (``State.String``, ``State.State``),
``daemon/container/health.go`` (``Health.String``), ``daemon/list.go`` (list filters),
``api/types/filters/parse.go`` (``Args``: ``FromJSON``, ``ExactMatch``, ``FuzzyMatch``,
``Match``, ``Validate``) and ``docker/go-units:duration.go`` (``HumanDuration``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from vigil.core.config import ServiceConfig
from vigil.core.health import HealthState, HealthStatus
from vigil.docker.health import (
    JsonObject,
    dumps,
    health_json,
    healthcheck_config_json,
    http_options_json,
)
from vigil.go.duration import HOUR, MINUTE, SECOND
from vigil.go.strconv import atoi
from vigil.go.strings import replace_lone_surrogates
from vigil.go.timefmt import format_rfc3339nano

__all__ = [
    "FilterArgs",
    "ListFilters",
    "ServiceStatus",
    "ServiceView",
    "human_duration",
    "inspect_bytes",
    "inspect_json",
    "list_item_bytes",
    "list_item_json",
    "matches",
    "parse_list_filters",
    "status_text",
]

ServiceStatus = Literal["created", "running", "paused", "restarting", "removing", "exited", "dead"]
# Docker's order, as its error messages list them (api/types/container/state.go validStates).
STATUSES: tuple[str, ...] = get_args(ServiceStatus)
HEALTHS: tuple[str, ...] = tuple(s.value for s in HealthStatus)  # none, starting, healthy, ...
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Docker shows for a time never set
Search = Callable[[str, str], bool]  # (pattern, text) -> found: a regular expression engine


class Renders:
    """A view's encoded JSON, memoized (a view never changes, so neither do they)."""

    __slots__ = ("inspect", "list_head", "list_tail", "status", "status_at")

    def __init__(self) -> None:
        self.inspect: bytes | None = None
        self.list_head: bytes | None = None
        self.list_tail = b""
        self.status = b""
        self.status_at: tuple[int, int] | None = None  # whole seconds since start, since exit


@dataclass(frozen=True, slots=True)
class ServiceView:
    """Everything Docker would show of a service at one moment.

    ``status`` is the process state (Docker's ``State.Status``). ``health`` None, or a state
    that never had a monitor (status ``none``), means no ``State.Health`` at all, as Docker
    leaves it nil for containers without a check or never started. Times are Unix ns, 0 = unset.
    ``renders`` memoizes its encoded JSON (``inspect_bytes``, ``list_item_bytes``).
    """

    id: str
    config: ServiceConfig
    created_ns: int
    status: ServiceStatus = "created"
    pid: int = 0
    exit_code: int = 0
    started_at_ns: int = 0
    finished_at_ns: int = 0
    restart_count: int = 0
    error: str = ""
    health: HealthState | None = None
    renders: Renders = field(default_factory=Renders, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown service status {self.status!r}")

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def running(self) -> bool:
        """Docker's ``State.Running``: also true while paused or restarting."""
        return self.status in ("running", "paused", "restarting")

    @property
    def shown_health(self) -> HealthState | None:
        """The health Docker would show (its ``State.Health``), or None."""
        if self.health is None or self.health.status is HealthStatus.NONE:
            return None
        return self.health

    @property
    def health_status(self) -> str:
        """The value the ``health`` list filter compares: the status, or ``none``."""
        shown = self.shown_health
        return "none" if shown is None else shown.status.value


# ---- timestamps and durations -----------------------------------------------------------


def _time_json(unix_ns: int) -> str:
    """``StartedAt``/``FinishedAt``/``Created``: stored in UTC by Docker; unset is Go's zero."""
    return format_rfc3339nano(unix_ns, utc=True) if unix_ns else GO_ZERO_TIME


def human_duration(ns: int) -> str:
    """go-units ``HumanDuration``: ``Less than a second``, ``About a minute``, ``3 weeks``...

    Integer forms of Go's float conversions: ``int(d.Hours() + 0.5)`` rounds half up.
    """
    seconds = ns // SECOND if ns > 0 else 0
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = ns // MINUTE
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = (ns + HOUR // 2) // HOUR
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{ns // HOUR // 24 // 365} years"


def status_text(view: ServiceView, now_ns: int) -> str:
    """Docker's ``State.String()``, the ``docker ps`` STATUS column, branch for branch."""
    if view.running:
        up = human_duration(now_ns - view.started_at_ns)
        if view.status == "paused":
            return f"Up {up} (Paused)"
        if view.status == "restarting":
            ago = human_duration(now_ns - view.finished_at_ns)
            return f"Restarting ({view.exit_code}) {ago} ago"
        shown = view.shown_health
        if shown is not None:
            health = shown.status.value
            return f"Up {up} (health: starting)" if health == "starting" else f"Up {up} ({health})"
        return f"Up {up}"
    if view.status == "removing":
        return "Removal In Progress"
    if view.status == "dead":
        return "Dead"
    if not view.started_at_ns:
        return "Created"
    if not view.finished_at_ns:
        return ""
    ago = human_duration(now_ns - view.finished_at_ns)
    return f"Exited ({view.exit_code}) {ago} ago"


# ---- JSON shapes -------------------------------------------------------------------------


def _command_text(command: tuple[str, ...]) -> str:
    """Docker's list ``Command``: Path, then args with a space quoted in single quotes."""
    if not command:
        return ""
    args = [f"'{arg}'" if " " in arg else arg for arg in command[1:]]
    return " ".join([command[0], *args]) if args else command[0]


def _config_json(config: ServiceConfig) -> JsonObject:
    out: JsonObject = {
        "User": config.user or "",
        "Env": [f"{key}={value}" for key, value in config.environment.items()],
        "Cmd": list(config.command) or None,  # Go's nil StrSlice: null, as Docker shows
    }
    if config.healthcheck is not None:
        out["Healthcheck"] = healthcheck_config_json(config.healthcheck)
        if config.healthcheck.http is not None:  # vigil's HTTP options, beside Docker's shape
            out["HealthcheckHTTP"] = http_options_json(config.healthcheck.http)
    out["WorkingDir"] = config.working_dir or ""
    if config.stop_signal:
        out["StopSignal"] = config.stop_signal
    if config.stop_grace_period:
        out["StopTimeout"] = config.stop_grace_period // SECOND  # compose: whole seconds
    return out


def inspect_json(view: ServiceView) -> JsonObject:
    """One element of Docker's ``GET /containers/{id}/json`` answer, in Docker's key order."""
    state: JsonObject = {
        "Status": view.status,
        "Running": view.running,
        "Paused": view.status == "paused",
        "Restarting": view.status == "restarting",
        "OOMKilled": False,
        "Dead": view.status == "dead",
        "Pid": view.pid,
        "ExitCode": view.exit_code,
        "Error": view.error,
        "StartedAt": _time_json(view.started_at_ns),
        "FinishedAt": _time_json(view.finished_at_ns),
    }
    shown = view.shown_health
    if shown is not None:
        state["Health"] = health_json(shown)
    command = view.config.command
    policy = view.config.restart
    return {
        "Id": view.id,
        "Created": _time_json(view.created_ns),
        "Path": command[0] if command else "",
        "Args": list(command[1:]),
        "State": state,
        "Name": "/" + view.name,
        "RestartCount": view.restart_count,
        "HostConfig": {
            "RestartPolicy": {"Name": policy.name, "MaximumRetryCount": policy.maximum_retry_count}
        },
        "Config": _config_json(view.config),
    }


def list_item_json(view: ServiceView, now_ns: int) -> JsonObject:
    """One element of Docker's ``GET /containers/json`` (API 1.52: with ``Health``)."""
    shown = view.shown_health
    return {
        "Id": view.id,
        "Names": ["/" + view.name],
        "Command": _command_text(view.config.command),
        "Created": view.created_ns // SECOND,
        "State": view.status,
        "Status": status_text(view, now_ns),
        "Health": {
            "Status": view.health_status,
            "FailingStreak": 0 if shown is None else shown.failing_streak,
        },
    }


_STATUS_KEY = '"Status":'
_STATUS_TEXTS: dict[str, bytes] = {}  # encoded ``ps`` STATUS texts: few distinct ones
_STATUS_TEXTS_LIMIT = 4096


def inspect_bytes(view: ServiceView) -> bytes:
    """``dumps(inspect_json(view))``, UTF-8, newline-terminated, encoded once per view."""
    memo = view.renders
    if memo.inspect is None:
        memo.inspect = (dumps(inspect_json(view)) + "\n").encode("utf-8")
    return memo.inspect


def list_item_bytes(view: ServiceView, now_ns: int) -> bytes:
    """``dumps(list_item_json(view, now_ns))`` in UTF-8. Only ``Status`` depends on the time:
    the rest is encoded once per view, around it."""
    memo = view.renders
    if memo.list_head is None:
        item = list_item_json(view, 0)
        before = dumps({key: value for key, value in item.items() if key != "Health"})
        cut = before.rindex(_STATUS_KEY) + len(_STATUS_KEY)
        memo.list_head = before[:cut].encode("utf-8")
        memo.list_tail = f',"Health":{dumps(item["Health"])}}}'.encode()
    # STATUS depends on the time only through the whole seconds since start and since exit
    # (human_duration's units are multiples of a second): the same seconds, the same text.
    seconds = ((now_ns - view.started_at_ns) // SECOND, (now_ns - view.finished_at_ns) // SECOND)
    if memo.status_at != seconds:
        memo.status_at, memo.status = seconds, _encoded_status(status_text(view, now_ns))
    return memo.list_head + memo.status + memo.list_tail


def _encoded_status(text: str) -> bytes:
    status = _STATUS_TEXTS.get(text)
    if status is None:
        if len(_STATUS_TEXTS) >= _STATUS_TEXTS_LIMIT:
            _STATUS_TEXTS.clear()
        status = _STATUS_TEXTS[text] = dumps(text).encode("utf-8")
    return status


# ---- Docker's filters.Args ---------------------------------------------------------------


def _fields_from(raw: Any) -> dict[str, dict[str, bool]] | None:
    """Go's json.Unmarshal into ``map[string]map[string]bool`` (current form), then into
    ``map[string][]string`` (legacy form); None when neither fits. JSON null is Go's zero."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    if all(v is None or isinstance(v, dict) for v in raw.values()):
        flags = [b for v in raw.values() for b in (v or {}).values()]
        if all(b is None or isinstance(b, bool) for b in flags):
            return {key: {v: bool(b) for v, b in (vs or {}).items()} for key, vs in raw.items()}
    if all(v is None or isinstance(v, list) for v in raw.values()):
        strings = [s for v in raw.values() for s in v or []]
        if all(s is None or isinstance(s, str) for s in strings):
            return {key: {s or "": True for s in vs or []} for key, vs in raw.items()}
    return None


def _no_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    if isinstance(value, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_surrogates(item) for item in value]
    return value


class FilterArgs:
    """Docker's ``filters.Args``: each key maps values to a flag (the legacy list form means
    all true). Several values of one key match if any does; keys are combined with AND."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Mapping[str, bool]] | None = None) -> None:
        self._fields = {key: dict(values) for key, values in (fields or {}).items()}

    @classmethod
    def from_json(cls, text: str | None) -> FilterArgs:
        """Parse the ``filters`` query parameter; both JSON forms Docker accepts:
        ``{"event":{"start":true}}`` and the legacy ``{"event":["start"]}``."""
        if not text:
            return cls()
        try:  # Go's decoder turns a lone surrogate escape into U+FFFD
            fields = _fields_from(_no_surrogates(json.loads(text)))
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            fields = None
        if fields is None:
            raise ValueError("invalid filter")
        return cls(fields)

    def __len__(self) -> int:
        return len(self._fields)

    def keys(self) -> list[str]:
        return sorted(self._fields)

    def contains(self, key: str) -> bool:
        return key in self._fields

    def get(self, key: str) -> list[str]:
        """Every value of ``key`` (sorted: Go's map order is random, ours is stable)."""
        return sorted(self._fields.get(key, {}))

    def validate(self, accepted: Iterable[str]) -> None:
        """Docker's ``Validate``: ``invalid filter 'foo'`` for the first unknown key."""
        allowed = set(accepted)
        for key in self.keys():
            if key not in allowed:
                raise ValueError(f"invalid filter '{key}'")

    def exact_match(self, key: str, source: str) -> bool:
        values = self._fields.get(key)
        return not values or values.get(source, False)

    def fuzzy_match(self, key: str, source: str) -> bool:
        """Exact, or ``source`` starts with one of the values (moby#25798)."""
        if self.exact_match(key, source):
            return True
        return any(source.startswith(prefix) for prefix in self._fields.get(key, {}))

    def match(self, key: str, source: str, search: Search | None = None) -> bool:
        """Exact, or an unanchored regular expression search (Go skips invalid patterns).

        ``search(pattern, text)`` is the regular expression engine: Go's is RE2, linear in
        time; pass one (the API passes ``google-re2``). The default, Python's ``re``,
        backtracks, so it is only for trusted patterns."""
        if self.exact_match(key, source):
            return True
        search = search or _backtracking_search
        return any(search(pattern, source) for pattern in self._fields.get(key, {}))


def _backtracking_search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


# ---- list filters ------------------------------------------------------------------------

LIST_FILTER_KEYS = ("exited", "health", "id", "name", "status")


@dataclass(frozen=True, slots=True)
class ListFilters:
    """Validated list filters. A ``status`` filter implies ``all``, as in Docker."""

    args: FilterArgs = field(default_factory=FilterArgs)
    exit_codes: tuple[int, ...] = ()

    @property
    def implies_all(self) -> bool:
        return self.args.contains("status")


def parse_list_filters(filters_json: str | None) -> ListFilters:
    """Parse and validate ``filters`` of ``GET /services/json`` with Docker's messages, checked
    in Docker's order (keys, ``exited``, ``status``, ``health``); raises ValueError."""
    args = FilterArgs.from_json(filters_json)
    args.validate(LIST_FILTER_KEYS)
    codes = []
    for value in args.get("exited"):
        try:
            codes.append(atoi(value))
        except ValueError as err:
            raise ValueError(f"invalid filter 'exited={value}': {err}") from None
    for key, label, valid in (("status", "state", STATUSES), ("health", "health", HEALTHS)):
        for value in args.get(key):
            if value not in valid:
                raise ValueError(
                    f"invalid filter '{key}={value}': invalid value for {label} ({value}): "
                    f"must be one of {', '.join(valid)}"
                )
    return ListFilters(args, tuple(codes))


def matches(
    view: ServiceView, filters: ListFilters, *, show_all: bool = True, search: Search | None = None
) -> bool:
    """Docker's ``includeContainerInList`` for one service.

    ``show_all`` is the API's ``all`` (pass it through; Docker's default is false): without
    it, only running services are listed, unless a ``status`` filter is given. ``id`` is a
    prefix of the ID (Docker's unique-prefix lookup, judged per service here); ``name`` is
    an unanchored regular expression tried on ``name`` and ``/name`` with ``search`` (see
    ``FilterArgs.match``).
    """
    args = filters.args
    if not view.running and not (show_all or filters.implies_all):
        return False
    if not len(args):
        return True  # no filter (the usual ``ps``): what the checks below give, for less
    if not (
        args.match("name", "/" + view.name, search) or args.match("name", view.name, search)
    ):
        return False
    ids = args.get("id")
    if ids and not any(prefix and view.id.startswith(prefix) for prefix in ids):
        return False
    if filters.exit_codes and not (
        view.exit_code in filters.exit_codes and not view.running and view.started_at_ns
    ):
        return False
    return args.exact_match("status", view.status) and args.exact_match(
        "health", view.health_status
    )
