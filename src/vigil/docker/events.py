"""Docker's event messages, filters and ``since``/``until``: pure (every "now" is an argument).

Sources: ``moby/moby:daemon/events/events.go`` (ring buffer, replay bounds),
``daemon/events/filter.go`` (``Include``, ``matchEvent``), ``api/types/events`` (message JSON),
``api/types/time/timestamp.go`` (``GetTimestamp``, ``ParseTimestamps``), and Go's
``time.Parse`` for the layouts ``GetTimestamp`` uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vigil.core.events import (
    HookRan,
    ProbeCompleted,
    Remediated,
    RemediationExhausted,
    StatusChanged,
    TargetCreated,
    TargetDied,
    TargetEvent,
    TargetKilled,
    TargetPaused,
    TargetRemoved,
    TargetRestarted,
    TargetStarted,
    TargetStopped,
    TargetUnpaused,
)
from vigil.core.status import HealthStatus
from vigil.docker.health import JsonObject
from vigil.docker.services import FilterArgs
from vigil.go.duration import SECOND, format_duration, parse_duration
from vigil.go.strconv import parse_int, quote_bytes
from vigil.go.timefmt import (
    DATE,
    HOUR,
    MINUTE_LAYOUT,
    NANO,
    SECOND_LAYOUT,
    ZONE,
    go_bytes,
    local_offset,
    parse_layout,
)

__all__ = [
    "EVENT_TYPE",
    "LIFECYCLE_ACTIONS",
    "DaemonEvent",
    "EventFilter",
    "health_probe_event",
    "health_status_event",
    "lifecycle_event",
    "parse_since_until",
    "project",
]

EVENT_TYPE = "service"  # the only event type vigil emits
LIFECYCLE_ACTIONS = frozenset(
    {"create", "start", "die", "kill", "stop", "pause", "unpause", "restart", "destroy"}
)
# vigil's own actions, shaped like Docker's container events (Docker has no remediation)
REMEDIATION_ACTIONS = frozenset({"remediate", "remediation_exhausted", "hook"})
# moby#25798: an ``event`` filter naming one of these matches by prefix ("health_status"
# matches "health_status: healthy"); otherwise every value must match exactly.
_FUZZY_EVENTS = frozenset({"health_status", "exec_create", "exec_start"})


@dataclass(frozen=True, slots=True)
class DaemonEvent:
    """One event, Docker's ``events.Message`` (API 1.52: no legacy status/id/from).

    ``attributes`` may be given as a mapping or pairs; it is stored sorted by key (Go
    encodes maps that way) and must include ``name``.
    """

    type: str
    action: str
    actor_id: str
    attributes: tuple[tuple[str, str], ...]
    time_ns: int

    def __init__(
        self,
        type: str,  # Docker's field name
        action: str,
        actor_id: str,
        attributes: Mapping[str, str] | Iterable[tuple[str, str]],
        time_ns: int,
    ) -> None:
        pairs = dict(attributes.items() if isinstance(attributes, Mapping) else attributes)
        if "name" not in pairs:
            raise ValueError("event attributes must include 'name'")
        for key, value in (("type", type), ("action", action), ("actor_id", actor_id)):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "attributes", tuple(sorted(pairs.items())))
        object.__setattr__(self, "time_ns", time_ns)

    @classmethod
    def _sorted(
        cls, action: str, actor_id: str, attributes: tuple[tuple[str, str], ...], time_ns: int
    ) -> DaemonEvent:
        """A service event whose ``attributes`` are already sorted and include ``name``: the
        per-probe events skip ``__init__``'s checks (one dict and one sort less)."""
        event = object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(event, "type", EVENT_TYPE)
        setattr_(event, "action", action)
        setattr_(event, "actor_id", actor_id)
        setattr_(event, "attributes", attributes)
        setattr_(event, "time_ns", time_ns)
        return event

    @property
    def name(self) -> str:
        for key, value in self.attributes:
            if key == "name":
                return value
        raise KeyError("name")

    def to_json(self) -> JsonObject:
        """Docker's message; ``time``/``timeNano`` are omitted when zero (Go's omitempty)."""
        out: JsonObject = {
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
            "scope": "local",
        }
        if self.time_ns // SECOND:
            out["time"] = self.time_ns // SECOND
        if self.time_ns:
            out["timeNano"] = self.time_ns
        return out


def lifecycle_event(
    action: str, name: str, service_id: str, now_ns: int, /, **attributes: str | int
) -> DaemonEvent:
    """``create``, ``start``, ``die`` (pass ``exitCode``), ``kill`` (pass ``signal``), ``stop``,
    ``pause``, ``unpause``, ``restart`` or ``destroy``. Values are rendered as strings."""
    if action not in LIFECYCLE_ACTIONS and action not in REMEDIATION_ACTIONS:
        raise ValueError(f"unknown lifecycle action {action!r}")
    attrs = {key: str(value) for key, value in attributes.items()}
    return DaemonEvent(EVENT_TYPE, action, service_id, {**attrs, "name": name}, now_ns)


def health_status_event(
    name: str, service_id: str, status: HealthStatus | str, now_ns: int
) -> DaemonEvent:
    """``health_status: healthy|unhealthy``; emit only on a change (Docker never sends starting)."""
    value = HealthStatus(status)
    if value not in (HealthStatus.HEALTHY, HealthStatus.UNHEALTHY):
        raise ValueError(f"no health_status event for {value.value!r}")
    action = _STATUS_ACTIONS[value]
    return DaemonEvent._sorted(action, service_id, (("name", name),), now_ns)


def health_probe_event(
    name: str, service_id: str, exit_code: int, duration_ns: int, now_ns: int
) -> DaemonEvent:
    """One per probe, in place of Docker's exec_create/exec_start/exec_die triple."""
    attrs = (
        ("duration", format_duration(duration_ns)),
        ("exitCode", str(exit_code)),
        ("name", name),
    )  # sorted by key, as DaemonEvent stores them
    return DaemonEvent._sorted("health_probe", service_id, attrs, now_ns)


_STATUS_ACTIONS = {s: f"health_status: {s.value}" for s in HealthStatus}


def project(event: TargetEvent) -> DaemonEvent | None:
    """The Docker event message for a target event, or None when Docker shows none (monitor
    start/stop, a scheduled restart, a ``starting`` status)."""
    ref, when = event.target, event.time_ns
    match event:
        case ProbeCompleted(result=result):
            return health_probe_event(
                ref.name, ref.id, result.exit_code, result.end - result.start, when)
        case StatusChanged(new=new) if new in (HealthStatus.HEALTHY, HealthStatus.UNHEALTHY):
            return health_status_event(ref.name, ref.id, new, when)
        case TargetDied(exit_code=code):
            return lifecycle_event("die", ref.name, ref.id, when, exitCode=code)
        case TargetKilled(signal=sig):
            return lifecycle_event("kill", ref.name, ref.id, when, signal=sig)
        case Remediated(action=act, reason=reason, attempt=attempt):
            return lifecycle_event(
                "remediate", ref.name, ref.id, when, action=act, reason=reason, attempt=attempt)
        case RemediationExhausted(action=act, reason=reason, attempts=attempts):
            return lifecycle_event("remediation_exhausted", ref.name, ref.id, when,
                                   action=act, reason=reason, attempts=attempts)
        case HookRan(hook=hook, exit_code=code, duration_ns=duration):
            return lifecycle_event("hook", ref.name, ref.id, when, hook=hook, exitCode=code,
                                   duration=format_duration(duration))
    action = _LIFECYCLE_ACTIONS.get(type(event))
    return None if action is None else lifecycle_event(action, ref.name, ref.id, when)


_LIFECYCLE_ACTIONS: dict[type, str] = {
    TargetCreated: "create",
    TargetStarted: "start",
    TargetStopped: "stop",
    TargetPaused: "pause",
    TargetUnpaused: "unpause",
    TargetRestarted: "restart",
    TargetRemoved: "destroy",
}

# ---- filters -----------------------------------------------------------------------------

EVENT_FILTER_KEYS = ("container", "event", "scope", "service", "type")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Docker's event filter (``daemon/events/filter.go``) over vigil's keys.

    - ``event``: exact action, or prefix matching when a value is ``health_status``.
    - ``service``: prefix of the service name or ID (Docker's ``fuzzyMatchName``); the key
      ``container`` is accepted as an alias because Docker applies that same rule under it.
    - ``type``: exact. Decision: ``type=container`` is *not* an alias of ``service``; it
      matches nothing, as Docker's exact match on a type it never emits would, so clients
      reading ``Type`` are never told a service event is a container event.
    - ``scope``: exact (always ``local``). Any other key: ``invalid filter 'key'``.
    """

    args: FilterArgs = field(default_factory=FilterArgs)

    @classmethod
    def parse(cls, filters_json: str | None) -> EventFilter:
        args = FilterArgs.from_json(filters_json)
        args.validate(EVENT_FILTER_KEYS)
        return cls(args)

    def matches(self, event: DaemonEvent) -> bool:
        args = self.args
        if not len(args):
            return True  # no filter: every event (what the checks below give, for less)
        if _FUZZY_EVENTS.intersection(args.get("event")):
            event_ok = args.fuzzy_match("event", event.action)
        else:
            event_ok = args.exact_match("event", event.action)
        name = event.name
        return (
            event_ok
            and args.exact_match("type", event.type)
            and args.exact_match("scope", "local")
            and all(
                args.fuzzy_match(key, event.actor_id) or args.fuzzy_match(key, name)
                for key in ("container", "service")
            )
        )


# ---- since / until -----------------------------------------------------------------------

def _unix_timestamp(value: str) -> int | None:
    """``timetypes.ParseTimestamps``: ``seconds[.fraction]`` as Unix ns, None if invalid."""
    whole, dot, frac = value.partition(".")
    try:
        seconds, nanos = parse_int(whole), parse_int(frac) if dot else 0
    except ValueError:
        return None
    if dot:  # Go scales through float64: int64(float64(n) * 10^(9-len(n)))
        shift = 9 - len(frac)
        scale = 10.0**shift if shift >= 0 else 1.0 / 10.0**-shift  # Go's math.Pow here
        nanos = int(float(nanos) * scale)
    return seconds * SECOND + nanos


def parse_since_until(value: str, now_ns: int, *, utc_offset_s: int | None = None) -> int:
    """Docker's ``since``/``until`` as Unix ns (``GetTimestamp``, then ``ParseTimestamps``).

    Accepts Go durations before ``now`` (``10m`` = now - 10m, truncated to the second as
    Docker does), RFC 3339 with or without zone, fraction, seconds or minutes, dates
    (``2006-01-02``, ``2006-01-02Z07:00``) and Unix seconds with an optional fraction.
    Zone-less forms are read in the zone of ``now`` (``utc_offset_s``, default: the local
    zone). Raises ValueError with Docker's texts (Go's ``parsing time ...`` errors included).
    """
    if value != "0":
        try:
            duration = parse_duration(value)
        except ValueError:
            pass
        else:
            return (now_ns - duration) // SECOND * SECOND
    in_location = not any(c in value for c in "zZ+") and value.count("-") != 3
    if "." in value:
        layout = NANO if in_location else (*NANO, *ZONE)
    elif "T" in value:
        colons = value.count(":")
        if not in_location and not any(c in value for c in "zZ") and colons > 0:
            colons -= 1  # the zone offset's own colon
        layout = (HOUR, MINUTE_LAYOUT, SECOND_LAYOUT)[min(colons, 2)]
        layout = layout if in_location else (*layout, *ZONE)
    else:
        layout = DATE if in_location else (*DATE, *ZONE)
    offset = None
    if in_location:  # Go: ParseInLocation(..., FixedZone(reference.Zone()))
        offset = local_offset(now_ns) if utc_offset_s is None else utc_offset_s
    try:
        return parse_layout(layout, value, offset)
    except ValueError:
        if "-" in value:
            raise
    stamp = _unix_timestamp(value)
    if stamp is None:
        quoted = quote_bytes(go_bytes(value))
        raise ValueError(f"failed to parse value as time or duration: {quoted}")
    return stamp
