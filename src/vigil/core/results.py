"""Probe results and the output rules Docker applies to them. Pure core: stdlib only."""

from __future__ import annotations

import codecs
import enum
from dataclasses import dataclass

from vigil.go.duration import format_duration

MAX_OUTPUT_BYTES = 4096  # moby maxOutputLen: one buffer for stdout and stderr
TRUNCATION_MARK = b"..."  # appended only when bytes were dropped


class Outcome(enum.Enum):
    """Why a probe ended. TIMEOUT and ERROR both count as failures with ExitCode -1 (as moby)."""

    PASS = "pass"
    FAIL = "fail"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's result, Docker's ``HealthcheckResult``. Times are Unix nanoseconds."""

    start: int
    end: int
    exit_code: int
    output: str
    outcome: Outcome

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def _one_replacement_per_byte(error: UnicodeError) -> tuple[str, int]:
    # Go's JSON encoder turns every invalid byte into its own U+FFFD; Python's "replace"
    # would fold a truncated multi-byte sequence into one.
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd", error.start + 1


codecs.register_error("vigil.go-replace", _one_replacement_per_byte)


def decode_output(raw: bytes) -> str:
    """Decode probe output the way Go renders a byte string as JSON."""
    return raw.decode("utf-8", "vigil.go-replace")


class OutputBuffer:
    """moby's ``limitedBuffer``: keep the first 4096 bytes, note whether any were dropped."""

    __slots__ = ("_chunks", "_size", "truncated")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False

    def write(self, data: bytes) -> None:
        keep = min(MAX_OUTPUT_BYTES - self._size, len(data))
        if keep > 0:
            self._chunks.append(data[:keep])
            self._size += keep
        if keep < len(data):
            self.truncated = True

    def getvalue(self) -> bytes:
        data = b"".join(self._chunks)
        return data + TRUNCATION_MARK if self.truncated else data

    def text(self) -> str:
        return decode_output(self.getvalue())


def timeout_output(timeout_ns: int, captured: str) -> str:
    """Docker's timeout text, with the captured output appended when there is any (moby#43997)."""
    message = f"Health check exceeded timeout ({format_duration(timeout_ns)})"
    return f"{message}: {captured}" if captured else message


def exit_result(start: int, end: int, exit_code: int, output: str) -> ProbeResult:
    """A probe that ran to completion with an exit code."""
    outcome = Outcome.PASS if exit_code == 0 else Outcome.FAIL
    return ProbeResult(start, end, exit_code, output, outcome)


def timeout_result(start: int, end: int, timeout_ns: int, captured: str) -> ProbeResult:
    return ProbeResult(start, end, -1, timeout_output(timeout_ns, captured), Outcome.TIMEOUT)


def error_result(start: int, end: int, message: str) -> ProbeResult:
    """A probe that could not run (binary missing, bad user, ...): ExitCode -1, the error."""
    return ProbeResult(start, end, -1, message, Outcome.ERROR)
