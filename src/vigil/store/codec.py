"""Target events as table rows, the same shape for every durable backend.

A ``ProbeCompleted`` is a row of ``results`` (one column per field: the history queries
read them); every other event is a row of ``events`` whose ``kind`` is the class name and
whose ``data`` is a JSON object of the fields beyond target and time. A kind this version
does not know (written by a newer vigil) is skipped on reading, never an error.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from typing import Any

from vigil.core import events as _events
from vigil.core.events import ProbeCompleted, TargetEvent, TargetRef
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus

# (seq, target_id, target_name, time_ns, start_ns, end_ns, exit_code, output, outcome,
#  status, failing_streak)
ResultRow = tuple[int, str, str, int, int, int, int, str, str, str, int]
# (seq, target_id, target_name, time_ns, kind, data)
EventRow = tuple[int, str, str, int, str, str]

RESULT_COLUMNS = ("seq", "target_id", "target_name", "time_ns", "start_ns", "end_ns",
                  "exit_code", "output", "outcome", "status", "failing_streak")
EVENT_COLUMNS = ("seq", "target_id", "target_name", "time_ns", "kind", "data")

_KINDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in typing.get_args(_events.TargetEvent)
    if cls is not ProbeCompleted
}
_HINTS = {name: typing.get_type_hints(cls) for name, cls in _KINDS.items()}


_VALUES: dict[enum.Enum, str] = {
    **{o: o.value for o in Outcome}, **{s: s.value for s in HealthStatus}}  # no enum lookups


def result_row(seq: int, event: ProbeCompleted) -> ResultRow:
    result = event.result
    target = event.target
    return (seq, target.id, target.name, event.time_ns, result.start, result.end,
            result.exit_code, result.output, _VALUES[result.outcome], _VALUES[event.status],
            event.failing_streak)


def event_row(seq: int, event: TargetEvent) -> EventRow:
    data = {
        f.name: _plain(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.name not in ("target", "time_ns")
    }
    return (seq, event.target.id, event.target.name, event.time_ns, type(event).__name__,
            json.dumps(data, separators=(",", ":"), ensure_ascii=False))


def from_result_row(row: typing.Sequence[Any]) -> ProbeCompleted:
    _seq, target_id, name, time_ns, start, end, code, output, outcome, status, streak = row
    result = ProbeResult(start, end, code, output, Outcome(outcome))
    return ProbeCompleted(TargetRef(target_id, name), time_ns, result, HealthStatus(status),
                          streak)


_OUTCOMES = {outcome.value: outcome for outcome in Outcome}
_STATUSES = {status.value: status for status in HealthStatus}


def from_result_rows(rows: typing.Iterable[typing.Sequence[Any]]) -> list[ProbeCompleted]:
    """``from_result_row`` of many rows (a week of history is 604,800): one ``TargetRef``
    per target and dictionary lookups for the enums, about half the cost per row."""
    refs: dict[tuple[str, str], TargetRef] = {}
    found = []
    for _seq, target_id, name, time_ns, start, end, code, output, outcome, status, streak \
            in rows:
        ref = refs.get((target_id, name))
        if ref is None:
            ref = refs[(target_id, name)] = TargetRef(target_id, name)
        result = ProbeResult(start, end, code, output, _OUTCOMES[outcome])
        found.append(ProbeCompleted(ref, time_ns, result, _STATUSES[status], streak))
    return found


def from_event_row(row: typing.Sequence[Any]) -> TargetEvent | None:
    _seq, target_id, name, time_ns, kind, data = row
    cls = _KINDS.get(kind)
    if cls is None:
        return None
    hints = _HINTS[kind]
    fields = {
        key: hints[key](value) if isinstance(hints.get(key), type)
        and issubclass(hints[key], enum.Enum) else value
        for key, value in json.loads(data).items()
        if key in hints
    }
    event: TargetEvent = cls(TargetRef(target_id, name), time_ns, **fields)
    return event


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


__all__ = [
    "EVENT_COLUMNS",
    "RESULT_COLUMNS",
    "EventRow",
    "ResultRow",
    "event_row",
    "from_event_row",
    "from_result_row",
    "from_result_rows",
    "result_row",
]
