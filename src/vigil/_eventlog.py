"""The daemon's event log: Docker's event messages, filters, ``since``/``until``, replay, streams.

Everything but :class:`Subscription` is pure (no clock reads: every "now" is an argument,
Unix ns). ``Subscription`` uses asyncio only for its queue.

Sources: ``moby/moby:daemon/events/events.go`` (ring buffer, replay bounds),
``daemon/events/filter.go`` (``Include``, ``matchEvent``), ``api/types/events`` (message JSON),
``api/types/time/timestamp.go`` (``GetTimestamp``, ``ParseTimestamps``), and Go's
``time.Parse`` for the layouts ``GetTimestamp`` uses.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vigil._docker_json import JsonObject
from vigil._durations import SECOND, _go_quote, format_duration, parse_duration
from vigil._service_json import FilterArgs
from vigil._state import HealthStatus

__all__ = [
    "EVENT_TYPE",
    "LIFECYCLE_ACTIONS",
    "DaemonEvent",
    "EventFilter",
    "EventLog",
    "Subscription",
    "health_probe_event",
    "health_status_event",
    "lifecycle_event",
    "parse_since_until",
]

EVENT_TYPE = "service"  # the only event type vigil emits
LIFECYCLE_ACTIONS = frozenset(
    {"create", "start", "die", "kill", "stop", "pause", "unpause", "restart", "destroy"}
)
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
    action: str, name: str, service_id: str, now_ns: int, **attributes: str | int
) -> DaemonEvent:
    """``create``, ``start``, ``die`` (pass ``exitCode``), ``kill`` (pass ``signal``), ``stop``,
    ``pause``, ``unpause``, ``restart`` or ``destroy``. Values are rendered as strings."""
    if action not in LIFECYCLE_ACTIONS:
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

# Layout pieces of Go's reference time: ("lit", text) or (kind, text as written in the layout).
_Layout = tuple[tuple[str, str], ...]
_DATE: _Layout = (("year", "2006"), ("lit", "-"), ("month", "01"), ("lit", "-"), ("day", "02"))
_HOUR: _Layout = (*_DATE, ("lit", "T"), ("hour", "15"))
_MINUTE: _Layout = (*_HOUR, ("lit", ":"), ("minute", "04"))
_SECOND: _Layout = (*_MINUTE, ("lit", ":"), ("second", "05"))
_NANO: _Layout = (*_SECOND, ("frac", ".999999999"))
_ZONE = (("zone", "Z07:00"),)


def _go_bytes(text: str) -> bytes:
    """A query string as Go sees it: bytes (lone surrogates kept as their WTF-8 bytes)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _digit(value: bytes, i: int) -> bool:
    return i < len(value) and 0x30 <= value[i] <= 0x39


def _getnum(value: bytes, fixed: bool) -> tuple[int, bytes] | None:
    if not _digit(value, 0):
        return None
    if not _digit(value, 1):
        return None if fixed else (value[0] - 0x30, value[1:])
    return int(value[:2]), value[2:]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, Go allows 0000)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class _Bad(Exception):
    """Go's ``errBad`` inside the parser; never leaves this module."""


def _read_fraction(value: bytes) -> tuple[int, bytes]:
    """``.ddd`` (or ``,ddd``) as nanoseconds: Go takes every digit and keeps the first 9."""
    end = 1
    while _digit(value, end):
        end += 1
    return int(value[1:end][:9].ljust(9, b"0")), value[end:]


def _read_zone(value: bytes) -> tuple[int, bytes, str]:
    """Go's ``Z07:00``: ``Z`` or ``±hh:mm`` as (offset seconds, rest, range error)."""
    if value[:1] == b"Z":
        return 0, value[1:], ""
    if len(value) < 6 or value[3:4] != b":":
        raise _Bad
    hours = _getnum(value[1:3], True)
    minutes = _getnum(value[4:6], True) if hours else None
    hh, mm = (hours[0] if hours else 0), (minutes[0] if minutes else 0)
    over = "time zone offset hour" if hh > 24 else ""  # Go allows 24 and 60 here
    over = "time zone offset minute" if mm > 60 else over
    if over:
        return 0, value[6:], over
    if hours is None or minutes is None or value[:1] not in (b"+", b"-"):
        raise _Bad
    return (hh * 60 + mm) * 60 * (-1 if value[:1] == b"-" else 1), value[6:], ""


_LIMITS = {"month": 13, "day": 100, "hour": 24, "minute": 60, "second": 60}


def _read_piece(kind: str, value: bytes, got: dict[str, int], then: str) -> tuple[bytes, str]:
    """Parse one layout element into ``got``; returns the rest and a range error or ""."""
    if kind == "year":
        if not (len(value) >= 4 and value[:4].isdigit()):
            raise _Bad
        got["year"] = int(value[:4])
        return value[4:], ""
    if kind == "frac":
        if len(value) >= 2 and value[:1] in (b".", b",") and _digit(value, 1):
            got["frac"], value = _read_fraction(value)
        return value, ""
    if kind == "zone":
        got["zone"], value, over = _read_zone(value)
        return value, over
    number = _getnum(value, fixed=kind != "hour")  # Go reads "15" as one or two digits
    if number is None:
        raise _Bad
    got[kind], value = number
    if got[kind] >= _LIMITS[kind] or (kind == "month" and got[kind] < 1):
        return value, kind
    # Go reads a fraction after the seconds even when the layout has none.
    if kind == "second" and then != "frac" and value[:1] in (b".", b",") and _digit(value, 1):
        got["frac"], value = _read_fraction(value)
    return value, ""


def _go_parse(layout: _Layout, text: str, offset_s: int | None) -> int:
    """Go's ``time.Parse`` (``offset_s`` None) or ``ParseInLocation`` in a fixed zone, for
    the layouts above, with Go's error texts; returns Unix ns."""
    layout_text = _go_quote("".join(piece for _, piece in layout).encode())
    value = _go_bytes(text)
    fail = f"parsing time {_go_quote(value)}"
    got = {"year": 0, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "frac": 0}
    got["zone"] = offset_s or 0
    for index, (kind, piece) in enumerate(layout):
        then = layout[index + 1][0] if index + 1 < len(layout) else ""
        hold = value
        try:
            if kind == "lit":
                if not value.startswith(piece.encode()):
                    raise _Bad
                value = value[len(piece) :]
                continue
            value, over = _read_piece(kind, value, got, then)
        except _Bad:
            cannot = f"cannot parse {_go_quote(hold)} as {_go_quote(piece.encode())}"
            raise ValueError(f"{fail} as {layout_text}: {cannot}") from None
        if over:
            raise ValueError(f"{fail}: {over} out of range")
    if value:
        raise ValueError(f"{fail}: extra text: {_go_quote(value)}")
    if not 1 <= got["day"] <= _days_in(got["month"], got["year"]):
        raise ValueError(f"{fail}: day out of range")
    days = _days_from_civil(got["year"], got["month"], got["day"])
    seconds = days * 86400 + got["hour"] * 3600 + got["minute"] * 60 + got["second"]
    return (seconds - got["zone"]) * SECOND + got["frac"]


_INT = re.compile(r"[+-]?[0-9]+")  # strconv.ParseInt, base 10


def _unix_timestamp(value: str) -> int | None:
    """``timetypes.ParseTimestamps``: ``seconds[.fraction]`` as Unix ns, None if invalid."""
    whole, dot, frac = value.partition(".")
    if not _INT.fullmatch(whole) or (dot and not _INT.fullmatch(frac)):
        return None
    seconds, nanos = int(whole), int(frac) if dot else 0
    if not -(1 << 63) <= seconds < (1 << 63) or not -(1 << 63) <= nanos < (1 << 63):
        return None
    if dot:  # Go scales through float64: int64(float64(n) * 10^(9-len(n)))
        shift = 9 - len(frac)
        scale = 10.0**shift if shift >= 0 else 1.0 / 10.0**-shift  # Go's math.Pow here
        nanos = int(float(nanos) * scale)
    return seconds * SECOND + nanos


def _local_offset(now_ns: int) -> int:
    moment = datetime.fromtimestamp(now_ns // SECOND, UTC).astimezone()
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset else 0


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
        layout = _NANO if in_location else (*_NANO, *_ZONE)
    elif "T" in value:
        colons = value.count(":")
        if not in_location and not any(c in value for c in "zZ") and colons > 0:
            colons -= 1  # the zone offset's own colon
        layout = (_HOUR, _MINUTE, _SECOND)[min(colons, 2)]
        layout = layout if in_location else (*layout, *_ZONE)
    else:
        layout = _DATE if in_location else (*_DATE, *_ZONE)
    offset = None
    if in_location:  # Go: ParseInLocation(..., FixedZone(reference.Zone()))
        offset = _local_offset(now_ns) if utc_offset_s is None else utc_offset_s
    try:
        return _go_parse(layout, value, offset)
    except ValueError:
        if "-" in value:
            raise
    stamp = _unix_timestamp(value)
    if stamp is None:
        quoted = _go_quote(_go_bytes(value))
        raise ValueError(f"failed to parse value as time or duration: {quoted}")
    return stamp


# ---- the log -----------------------------------------------------------------------------

DEFAULT_CAPACITY = 10_000  # Docker keeps 256 (eventsLimit)
DEFAULT_QUEUE_LIMIT = 1_000  # live events one subscriber may have waiting


def _in_range(event: DaemonEvent, since_ns: int | None, until_ns: int | None) -> bool:
    """Docker's ``loadBufferedEvents`` bounds: both inclusive."""
    if since_ns is not None and event.time_ns < since_ns:
        return False
    return until_ns is None or event.time_ns <= until_ns


class Subscription:
    """One stream: first the replay, then live events, as an async iterator.

    Bounded: when more than ``queue_limit`` live events wait (a stalled reader), the
    subscription is closed with ``close_reason`` saying so; the events already queued are
    still delivered, then iteration stops, so memory never grows past the limit. A live
    event after ``until_ns`` also ends it (the caller closes it when ``until`` passes in real
    time; Docker's stream does the same with a timer). Use from the event loop's thread.
    """

    def __init__(
        self,
        event_filter: EventFilter,
        replay: list[DaemonEvent],
        until_ns: int | None,
        queue_limit: int,
        on_close: Callable[[Subscription], None],
    ) -> None:
        self._filter = event_filter
        self._replay = deque(replay)
        self._until_ns = until_ns
        self._limit = queue_limit
        self._on_close = on_close
        self._queue: asyncio.Queue[DaemonEvent | None] = asyncio.Queue()
        self.close_reason: str | None = None

    @property
    def closed(self) -> bool:
        """No event will be added any more (some may still wait to be read)."""
        return self.close_reason is not None

    @property
    def pending(self) -> int:
        """Events waiting to be read (replay and live)."""
        queued = self._queue.qsize() - (1 if self.closed else 0)  # minus the end marker
        return len(self._replay) + max(queued, 0)

    def close(self, reason: str = "closed") -> None:
        """Stop adding events; iteration ends after those already waiting. Idempotent."""
        if self.close_reason is None:
            self.close_reason = reason
            self._queue.put_nowait(None)  # wakes a waiting reader
            self._on_close(self)

    def offer(self, event: DaemonEvent) -> None:
        """Called by the log for each appended event."""
        if self.closed or not self._filter.matches(event):
            return
        if self._until_ns is not None and event.time_ns > self._until_ns:
            self.close("until reached")
        elif self._queue.qsize() >= self._limit:
            self.close(f"subscriber too slow: {self._limit} events were waiting; stream closed")
        else:
            self._queue.put_nowait(event)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> DaemonEvent:
        if self._replay:
            return self._replay.popleft()
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


class EventLog:
    """A ring buffer of the newest ``capacity`` events, fanned out to live subscribers."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, queue_limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        if capacity < 1 or queue_limit < 1:
            raise ValueError("capacity and queue_limit must be positive")
        self._events: deque[DaemonEvent] = deque(maxlen=capacity)
        self._subscribers: list[Subscription] = []
        self._queue_limit = queue_limit

    def __len__(self) -> int:
        return len(self._events)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def append(self, event: DaemonEvent) -> None:
        """Store (dropping the oldest when full) and hand to every live subscriber."""
        self._events.append(event)
        for subscription in tuple(self._subscribers):
            subscription.offer(event)

    def replay(
        self,
        since_ns: int | None = None,
        until_ns: int | None = None,
        event_filter: EventFilter | None = None,
    ) -> list[DaemonEvent]:
        """Stored events within the inclusive bounds that pass the filter, oldest first."""
        check = event_filter or EventFilter()
        return [e for e in self._events if _in_range(e, since_ns, until_ns) and check.matches(e)]

    def subscribe(
        self,
        event_filter: EventFilter | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        *,
        now_ns: int | None = None,
    ) -> Subscription:
        """A stream as Docker's ``GET /events``: a replay only when ``since`` or ``until`` is
        given; live events unless ``until`` is already past (``until_ns < now_ns``)."""
        check = event_filter or EventFilter()
        wanted = since_ns is not None or until_ns is not None
        replay = self.replay(since_ns, until_ns, check) if wanted else []
        subscription = Subscription(check, replay, until_ns, self._queue_limit, self._remove)
        self._subscribers.append(subscription)
        if until_ns is not None and now_ns is not None and until_ns < now_ns:
            subscription.close("until reached")
        return subscription

    def close(self) -> None:
        """End every stream (daemon shutdown)."""
        for subscription in tuple(self._subscribers):
            subscription.close("event log closed")

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
