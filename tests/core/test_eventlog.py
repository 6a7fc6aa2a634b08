"""Docker's event messages: JSON, filters and since/until (replay and streams: tests/runtime).

Expected values come from moby: ``api/types/events`` (message), ``daemon/events/filter.go``
(moby#25798 prefix rule), ``daemon/events/events.go`` (replay bounds) and
``api/types/time/timestamp_test.go`` (``TestGetTimestamp``, ``TestParseTimestamps``).
"""

from __future__ import annotations

import re

import pytest

from vigil.core.health import HealthStatus
from vigil.docker.events import (
    DaemonEvent,
    EventFilter,
    health_probe_event,
    health_status_event,
    lifecycle_event,
    parse_since_until,
)
from vigil.docker.health import dumps
from vigil.go.duration import MILLISECOND, SECOND

ID = "ab12" * 16
T0 = 1_700_000_000 * SECOND


def _event(action: str, at: int, name: str = "web", service_id: str = ID) -> DaemonEvent:
    return DaemonEvent("service", action, service_id, {"name": name}, at)


# ---- messages ----------------------------------------------------------------------------


def test_message_json_is_dockers_newest_shape() -> None:
    """Type, Action, Actor{ID, Attributes sorted}, scope local, time seconds and timeNano."""
    event = lifecycle_event("die", "web", ID, T0 + 123_456_789, exitCode=1, execDuration=3)
    assert event.to_json() == {
        "Type": "service",
        "Action": "die",
        "Actor": {"ID": ID, "Attributes": {"execDuration": "3", "exitCode": "1", "name": "web"}},
        "scope": "local",
        "time": 1_700_000_000,
        "timeNano": 1_700_000_000_123_456_789,
    }
    assert dumps(event.to_json()).startswith('{"Type":"service","Action":"die","Actor":{"ID":')
    assert '"Attributes":{"execDuration":"3","exitCode":"1","name":"web"}' in dumps(event.to_json())


def test_message_has_no_legacy_fields_and_omits_zero_times() -> None:
    """No status/id/from (API 1.52); Go's omitempty drops zero time fields."""
    got = _event("start", 0).to_json()
    assert set(got) == {"Type", "Action", "Actor", "scope"}
    assert set(_event("start", 5).to_json()) == {"Type", "Action", "Actor", "scope", "timeNano"}


def test_attributes_must_name_the_service() -> None:
    """Every event carries the ``name`` attribute."""
    with pytest.raises(ValueError, match="must include 'name'"):
        DaemonEvent("service", "start", ID, {"exitCode": "0"}, T0)
    assert DaemonEvent("service", "start", ID, [("name", "web")], T0).name == "web"


@pytest.mark.parametrize(
    ("event", "action", "attributes"),
    [
        (lifecycle_event("create", "web", ID, T0), "create", {"name": "web"}),
        (
            lifecycle_event("kill", "web", ID, T0, signal=15),
            "kill",
            {"name": "web", "signal": "15"},
        ),
        (lifecycle_event("destroy", "web", ID, T0), "destroy", {"name": "web"}),
        (
            health_status_event("web", ID, HealthStatus.HEALTHY, T0),
            "health_status: healthy",
            {"name": "web"},
        ),
        (
            health_status_event("web", ID, "unhealthy", T0),
            "health_status: unhealthy",
            {"name": "web"},
        ),
        (
            health_probe_event("web", ID, 0, 1_234_000, T0),
            "health_probe",
            {"name": "web", "exitCode": "0", "duration": "1.234ms"},
        ),
        (
            health_probe_event("web", ID, -1, 30 * SECOND, T0),
            "health_probe",
            {"name": "web", "exitCode": "-1", "duration": "30s"},
        ),
    ],
)
def test_event_builders(event: DaemonEvent, action: str, attributes: dict[str, str]) -> None:
    """Builders render actions and string attributes (Go durations, decimal exit codes)."""
    assert (event.type, event.action, event.actor_id, event.time_ns) == ("service", action, ID, T0)
    assert dict(event.attributes) == attributes


def test_builders_refuse_events_docker_never_sends() -> None:
    """Unknown lifecycle actions and health_status for starting/none are refused."""
    with pytest.raises(ValueError, match="unknown lifecycle action 'explode'"):
        lifecycle_event("explode", "web", ID, T0)
    for status in ("starting", "none"):
        with pytest.raises(ValueError, match="no health_status event"):
            health_status_event("web", ID, status, T0)


# ---- filters -----------------------------------------------------------------------------

HEALTHY = health_status_event("web", ID, "healthy", T0)
PROBE = health_probe_event("web", ID, 1, MILLISECOND, T0)
START = _event("start", T0)
OTHER = _event("start", T0, name="worker", service_id="cd34" * 16)

FILTER_CASES = [
    ('{"event":["health_status"]}', HEALTHY, True),
    ('{"event":{"health_status":true}}', HEALTHY, True),
    ('{"event":["health_status: healthy"]}', HEALTHY, True),
    ('{"event":["health_status: unhealthy"]}', HEALTHY, False),
    ('{"event":["health"]}', HEALTHY, False),  # prefix only for the moby#25798 names
    ('{"event":["health_status"]}', PROBE, False),
    ('{"event":["health_probe"]}', PROBE, True),
    ('{"event":["start"]}', START, True),
    ('{"event":["sta"]}', START, False),
    ('{"event":["health_status","sta"]}', START, True),  # Docker: fuzzy for every value then
    ('{"event":["stop","start"]}', START, True),
    ('{"service":["web"]}', START, True),
    ('{"service":["we"]}', START, True),  # Docker's fuzzyMatchName: prefix of the name
    ('{"service":["ab12ab"]}', START, True),  # or of the ID
    ('{"service":["web"]}', OTHER, False),
    ('{"service":["web","worker"]}', OTHER, True),
    ('{"container":["worker"]}', OTHER, True),
    ('{"container":["web"]}', OTHER, False),
    ('{"type":["service"]}', START, True),
    ('{"type":["container"]}', START, False),  # not an alias: see EventFilter
    ('{"scope":["local"]}', START, True),
    ('{"scope":["swarm"]}', START, False),
    ('{"event":["start"],"service":["worker"]}', START, False),
    ("", START, True),
    ("{}", HEALTHY, True),
]


@pytest.mark.parametrize(("text", "event", "expected"), FILTER_CASES)
def test_event_filter(text: str, event: DaemonEvent, expected: bool) -> None:
    """Docker's event rules: prefix for health_status, name/ID prefix, exact type and scope."""
    assert EventFilter.parse(text).matches(event) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"foo":["x"]}', "invalid filter 'foo'"),
        ('{"label":["a=b"],"event":["start"]}', "invalid filter 'label'"),
        ('{"event":"start"}', "invalid filter"),
        ("event=start", "invalid filter"),
    ],
)
def test_event_filter_errors(text: str, message: str) -> None:
    """Unknown keys and malformed JSON are refused in Docker's words."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        EventFilter.parse(text)


# ---- since / until -----------------------------------------------------------------------

NOW = 1_700_000_000 * SECOND + 700 * MILLISECOND

GET_TIMESTAMP = [
    # moby api/types/time TestGetTimestamp, in UTC
    ("2006-01-02T15:04:05.999999999+07:00", 1136189045_999999999),
    ("2006-01-02T15:04:05.999999999Z", 1136214245_999999999),
    ("2006-01-02T15:04:05.999999999", 1136214245_999999999),
    ("2006-01-02T15:04:05Z", 1136214245 * SECOND),
    ("2006-01-02T15:04:05", 1136214245 * SECOND),
    ("2006-01-02T15:04Z", 1136214240 * SECOND),
    ("2006-01-02T15:04+00:00", 1136214240 * SECOND),
    ("2006-01-02T15:04-00:00", 1136214240 * SECOND),
    ("2006-01-02T15:04", 1136214240 * SECOND),
    ("2006-01-02T15Z", 1136214000 * SECOND),
    ("2006-01-02T15+00:00", 1136214000 * SECOND),
    ("2006-01-02T15-00:00", 1136214000 * SECOND),
    ("2006-01-02T15", 1136214000 * SECOND),
    ("2006-01-02T1Z", 1136163600 * SECOND),
    ("2006-01-02T1", 1136163600 * SECOND),
    ("2006-01-02+00:00", 1136160000 * SECOND),
    ("2006-01-02-00:00", 1136160000 * SECOND),
    ("2006-01-02-00:01", 1136160060 * SECOND),
    ("2006-01-02Z", 1136160000 * SECOND),
    ("2006-01-02", 1136160000 * SECOND),
    ("2015-05-13T20:39:09Z", 1431549549 * SECOND),
    ("1136073600", 1136073600 * SECOND),
    ("1136073600.000000001", 1136073600 * SECOND + 1),
    # TestParseTimestamps
    ("1136073600.0000000010", 1136073600 * SECOND + 1),
    ("1136073600.00000001", 1136073600 * SECOND + 10),
    # durations before now, truncated to the second (reference.Add(-d).Unix())
    ("1m", 1_699_999_940 * SECOND),
    ("1.5h", 1_699_994_600 * SECOND),
    ("1h30m", 1_699_994_600 * SECOND),
    ("10m", 1_699_999_400 * SECOND),
    ("-1m", 1_700_000_060 * SECOND),
    ("0", 0),  # not a duration: Unix time 0
    # more forms Docker accepts
    ("1700000000.5", 1_700_000_000 * SECOND + 500 * MILLISECOND),
    ("+1700000000", 1_700_000_000 * SECOND),
    ("2006-01-02T15:04:05.1234567891Z", 1136214245_123456789),  # digits past 9 dropped
    ("2006-01-02T15:04:05,5Z", 1136214245_500000000),
    ("2006-01-02T15:04:05.5+07:00", 1136189045_500000000),
    ("2006-01-02T15:04:05+24:00", 1136127845 * SECOND),  # Go allows a 24-hour offset
    ("2024-02-29", 1709164800 * SECOND),
]


@pytest.mark.parametrize(("value", "expected"), GET_TIMESTAMP)
def test_since_until_forms(value: str, expected: int) -> None:
    """Every form Docker's GetTimestamp + ParseTimestamps accepts gives the same instant."""
    assert parse_since_until(value, NOW, utc_offset_s=0) == expected


def test_zone_less_forms_use_the_zone_of_now() -> None:
    """Times without a zone are read in the zone of ``now``; zoned times ignore it."""
    assert parse_since_until("2006-01-02T15:04:05", NOW, utc_offset_s=3600) == 1136210645 * SECOND
    assert parse_since_until("2006-01-02", NOW, utc_offset_s=-3600) == 1136163600 * SECOND
    assert parse_since_until("2006-01-02T15:04:05Z", NOW, utc_offset_s=3600) == 1136214245 * SECOND
    assert parse_since_until("1136073600", NOW, utc_offset_s=3600) == 1136073600 * SECOND
    assert isinstance(parse_since_until("2006-01-02", NOW), int)  # the machine's zone


SINCE_ERRORS = [
    ("invalid", 'failed to parse value as time or duration: "invalid"'),
    ("", 'failed to parse value as time or duration: ""'),
    ("1.x", 'failed to parse value as time or duration: "1.x"'),
    ("1_000", 'failed to parse value as time or duration: "1_000"'),
    ("1700000000.", 'failed to parse value as time or duration: "1700000000."'),
    ("99999999999999999999", 'failed to parse value as time or duration: "99999999999999999999"'),
    (
        "2006-01-02T15:04:0Z",
        'parsing time "2006-01-02T15:04:0Z" as "2006-01-02T15:04:05Z07:00": '
        'cannot parse "0Z" as "05"',
    ),
    (
        "2006-01-02T15:04:0",
        'parsing time "2006-01-02T15:04:0" as "2006-01-02T15:04:05": cannot parse "0" as "05"',
    ),
    (
        "2006-01-02T15:0Z",
        'parsing time "2006-01-02T15:0Z" as "2006-01-02T15:04Z07:00": cannot parse "0Z" as "04"',
    ),
    (
        "2006-01-02TZ",
        'parsing time "2006-01-02TZ" as "2006-01-02T15Z07:00": cannot parse "Z" as "15"',
    ),
    ("2006-01-02T", 'parsing time "2006-01-02T" as "2006-01-02T15": cannot parse "" as "15"'),
    ("06-01-02", 'parsing time "06-01-02" as "2006-01-02": cannot parse "06-01-02" as "2006"'),
    ("2006/01/02-x", 'parsing time "2006/01/02-x" as "2006-01-02": cannot parse "/01/02-x" as "-"'),
    ("2006-1-02", 'parsing time "2006-1-02" as "2006-01-02": cannot parse "1-02" as "01"'),
    ("2006-13-02", 'parsing time "2006-13-02": month out of range'),
    ("2006-00-02", 'parsing time "2006-00-02": month out of range'),
    ("2006-02-29", 'parsing time "2006-02-29": day out of range'),
    ("2006-01-00", 'parsing time "2006-01-00": day out of range'),
    ("2006-01-02T24", 'parsing time "2006-01-02T24": hour out of range'),
    ("2006-01-02T15:60", 'parsing time "2006-01-02T15:60": minute out of range'),
    ("2006-01-02T15:04:60", 'parsing time "2006-01-02T15:04:60": second out of range'),
    ("2006-01-02x", 'parsing time "2006-01-02x": extra text: "x"'),
    (
        "2006-01-02T15:04:05+25:00",
        'parsing time "2006-01-02T15:04:05+25:00": time zone offset hour out of range',
    ),
    (  # Docker drops one colon for the zone, so this is read as hours:minutes
        "2006-01-02T15:04:05+0700",
        'parsing time "2006-01-02T15:04:05+0700" as "2006-01-02T15:04Z07:00": '
        'cannot parse ":05+0700" as "Z07:00"',
    ),
    (
        "2006-01-02T15:04+0700",
        'parsing time "2006-01-02T15:04+0700" as "2006-01-02T15Z07:00": '
        'cannot parse ":04+0700" as "Z07:00"',
    ),
    ("2006-01-02é", 'parsing time "2006-01-02\\xc3\\xa9": extra text: "\\xc3\\xa9"'),
]


@pytest.mark.parametrize(("value", "message"), SINCE_ERRORS)
def test_since_until_errors(value: str, message: str) -> None:
    """Bad values fail with Docker's text, Go's time.Parse errors included."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_since_until(value, NOW, utc_offset_s=0)
