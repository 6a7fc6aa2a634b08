"""A check's health as the fleet's ``checks.health`` column holds it: Docker's
``State.Health`` names (Status, FailingStreak, Log with Start/End/ExitCode/Output) plus
``StartedAt`` and each result's ``Outcome``, times in Unix ns. What is read back was written
by another node: anything malformed is refused (None), never trusted."""

from __future__ import annotations

from typing import Any

from vigil.core.config import MAX_LOG_ENTRIES
from vigil.core.health import HealthState
from vigil.core.results import MAX_OUTPUT_BYTES, Outcome, ProbeResult
from vigil.core.status import HealthStatus

_INT64 = 1 << 63


def encode_health(state: HealthState) -> dict[str, Any]:
    return {
        "Status": state.status.value,
        "FailingStreak": state.failing_streak,
        "StartedAt": state.started_at,
        "Log": [{"Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output,
                 "Outcome": r.outcome.value} for r in state.log],
    }


def decode_health(data: object) -> HealthState | None:
    try:
        if not isinstance(data, dict):
            return None
        log = data["Log"]
        if not isinstance(log, list) or len(log) > MAX_LOG_ENTRIES:
            return None
        results = tuple(_result(entry) for entry in log)
        streak, started = data["FailingStreak"], data["StartedAt"]
        if not (_int(streak) and _int(started) and streak >= 0):
            return None
        return HealthState(HealthStatus(data["Status"]), streak, results, started)
    except (KeyError, ValueError, TypeError):
        return None


def _result(entry: object) -> ProbeResult:
    if not isinstance(entry, dict):
        raise TypeError("a Log entry must be an object")
    start, end, code, output = entry["Start"], entry["End"], entry["ExitCode"], entry["Output"]
    if not (_int(start) and _int(end) and _int(code) and isinstance(output, str)):
        raise TypeError("a Log entry has a field of the wrong type")
    if len(output.encode("utf-8", "replace")) > MAX_OUTPUT_BYTES + 3:  # + "..."
        raise ValueError("Output longer than Docker keeps")
    return ProbeResult(start, end, code, output, Outcome(entry["Outcome"]))


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64
