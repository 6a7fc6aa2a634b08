"""A real container's ``State``, read from Docker's inspect JSON, as vigil's values: its
process state and its ``State.Health``, and which Log entries are new since the last read.

Pure: JSON in, ``vigil.core`` values out. Docker keeps the newest 5 results; a result is new
when it started after the newest one vigil has already mirrored (Docker's ``Start`` is unique
per probe and increasing), so reading the same Log twice yields nothing twice.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from typing import Any

from vigil.core.health import HealthState
from vigil.core.lifecycle import ProcessState, ProcessStatus
from vigil.core.results import MAX_OUTPUT_BYTES, Outcome, ProbeResult
from vigil.core.status import HealthStatus

__all__ = ["health_state", "new_results", "parse_time", "process_state"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")
_STATUSES = {s.value: s for s in ProcessStatus}
_HEALTHS = {s.value: s for s in HealthStatus}


def parse_time(text: object) -> int:
    """Docker's RFC 3339 time as Unix ns; 0 for Go's zero time, or anything unreadable."""
    if not isinstance(text, str):
        return 0
    match = _RFC3339.fullmatch(text)
    if match is None or text.startswith("0001-"):
        return 0
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = (match.group(7) or "").ljust(9, "0")
    zone = match.group(8)
    offset = 0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * 60 \
        * (1 if zone[0] == "+" else -1)
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return 0
    return (seconds - offset) * 1_000_000_000 + int(fraction)


def process_state(state: Mapping[str, Any]) -> ProcessState:
    """Docker's ``State`` (inspect) as a ProcessState; ``dead`` and ``removing`` read as
    exited (vigil's targets have no such states)."""
    status = _STATUSES.get(str(state.get("Status", "")), ProcessStatus.EXITED)
    if state.get("Paused") is True:
        status = ProcessStatus.PAUSED
    return ProcessState(
        status=status,
        pid=_int(state.get("Pid")),
        exit_code=_int(state.get("ExitCode")),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        error=str(state.get("Error") or ""),
    )


def health_state(state: Mapping[str, Any]) -> HealthState | None:
    """Docker's ``State.Health`` as a HealthState (``started_at`` is the container's
    ``StartedAt``); None when the container has none (no check, or never started)."""
    health = state.get("Health")
    if not isinstance(health, Mapping):
        return None
    status = _HEALTHS.get(str(health.get("Status", "")), HealthStatus.NONE)
    entries = health.get("Log")
    log = tuple(_result(entry) for entry in entries if isinstance(entry, Mapping)) \
        if isinstance(entries, list) else ()
    return HealthState(status, _int(health.get("FailingStreak")), log[-5:],
                       parse_time(state.get("StartedAt")))


def new_results(mirrored: tuple[ProbeResult, ...],
                docker: tuple[ProbeResult, ...]) -> tuple[ProbeResult, ...]:
    """Docker's Log entries that started after the newest one already mirrored, in order."""
    after = mirrored[-1].start if mirrored else 0
    return tuple(result for result in docker if result.start > after)


def _result(entry: Mapping[str, Any]) -> ProbeResult:
    code = _int(entry.get("ExitCode"))
    output = str(entry.get("Output") or "")[:MAX_OUTPUT_BYTES]  # Docker cut it already
    outcome = Outcome.PASS if code == 0 else Outcome.FAIL if code > 0 else Outcome.ERROR
    return ProbeResult(parse_time(entry.get("Start")), parse_time(entry.get("End")), code,
                       output, outcome)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
