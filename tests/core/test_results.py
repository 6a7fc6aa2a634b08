"""Probe output capture and result texts (reference §2.6 and §2.7).

The buffer is moby's ``limitedBuffer`` (daemon/health.go): one 4096-byte buffer, ``...``
only when bytes were dropped. Decoding follows Go's JSON encoder, which writes one U+FFFD per
byte that does not start a valid UTF-8 sequence.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.config import HealthcheckConfig
from vigil.core.results import (
    MAX_OUTPUT_BYTES,
    Outcome,
    OutputBuffer,
    ProbeResult,
    decode_output,
    error_result,
    exit_result,
    timeout_output,
    timeout_result,
)
from vigil.go.duration import MILLISECOND, SECOND

LIMIT = 4096
PROPERTY = settings(derandomize=True, deadline=None, max_examples=300)


def _buffer_of(*chunks: bytes) -> OutputBuffer:
    buffer = OutputBuffer()
    for chunk in chunks:
        buffer.write(chunk)
    return buffer


def test_limit_is_4096_bytes() -> None:
    """The cap is moby's maxOutputLen of 4096 bytes."""
    assert MAX_OUTPUT_BYTES == LIMIT


def test_empty_buffer() -> None:
    """A probe that writes nothing stores the empty string, with no truncation mark."""
    buffer = OutputBuffer()
    assert buffer.getvalue() == b""
    assert buffer.text() == ""
    assert not buffer.truncated


@pytest.mark.parametrize("size", [1, 100, LIMIT - 1, LIMIT])
def test_up_to_limit_is_kept_verbatim(size: int) -> None:
    """Output of at most 4096 bytes is stored exactly, without ``...``."""
    data = bytes(i % 251 for i in range(size))
    buffer = _buffer_of(data)
    assert buffer.getvalue() == data
    assert not buffer.truncated


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT + 3, 5000, 100_000])
def test_over_limit_keeps_first_4096_and_marks(size: int) -> None:
    """Output over 4096 bytes keeps the first 4096 bytes and appends ``...`` (4099 bytes)."""
    data = bytes(i % 251 for i in range(size))
    value = _buffer_of(data).getvalue()
    assert value == data[:LIMIT] + b"..."
    assert len(value) == LIMIT + 3


def test_small_writes_crossing_the_boundary() -> None:
    """Many small writes are concatenated and cut at byte 4096 exactly."""
    chunks = [bytes([65 + i % 26]) * 7 for i in range(700)]  # 4900 bytes in 7-byte writes
    value = _buffer_of(*chunks).getvalue()
    assert value == b"".join(chunks)[:LIMIT] + b"..."


def test_writes_that_fill_exactly_are_not_marked() -> None:
    """Writes summing to exactly 4096 bytes are stored without ``...``."""
    buffer = _buffer_of(b"a" * 4000, b"b" * 96)
    assert buffer.getvalue() == b"a" * 4000 + b"b" * 96
    assert not buffer.truncated


def test_write_after_full_marks_truncation() -> None:
    """Any byte written after the buffer is full is dropped and sets the mark."""
    buffer = _buffer_of(b"a" * LIMIT, b"z")
    assert buffer.getvalue() == b"a" * LIMIT + b"..."
    assert buffer.truncated


def test_empty_write_after_full_is_not_truncation() -> None:
    """An empty write on a full buffer drops nothing, so no ``...`` appears."""
    buffer = _buffer_of(b"a" * LIMIT, b"")
    assert buffer.getvalue() == b"a" * LIMIT
    assert not buffer.truncated


def test_write_straddling_the_limit_keeps_its_head() -> None:
    """A write that crosses 4096 contributes the bytes that still fit."""
    buffer = _buffer_of(b"a" * (LIMIT - 2), b"xyz", b"more")
    assert buffer.getvalue() == b"a" * (LIMIT - 2) + b"xy..."


def test_trailing_newline_is_kept() -> None:
    """Output is not trimmed: ``OK\\n`` is stored with its newline (moby TestHealth)."""
    assert _buffer_of(b"OK\n").text() == "OK\n"


def test_stdout_and_stderr_share_one_buffer() -> None:
    """Interleaved writes from both streams land in arrival order in a single buffer."""
    assert _buffer_of(b"out1 ", b"err1 ", b"out2").text() == "out1 err1 out2"


@PROPERTY
@given(st.lists(st.binary(max_size=1500), max_size=10))
def test_any_chunking_gives_head_plus_mark(chunks: list[bytes]) -> None:
    """For any chunking, the value is the first 4096 bytes, plus ``...`` iff more were written."""
    whole = b"".join(chunks)
    buffer = _buffer_of(*chunks)
    assert buffer.getvalue() == whole[:LIMIT] + (b"..." if len(whole) > LIMIT else b"")
    assert buffer.truncated == (len(whole) > LIMIT)


@PROPERTY
@given(st.binary(max_size=6000), st.data())
def test_chunking_does_not_matter(data: bytes, draw: st.DataObject) -> None:
    """Splitting the same bytes into different writes never changes the stored value."""
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=8)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert _buffer_of(*pieces).getvalue() == _buffer_of(data).getvalue()


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"", ""),
        (b"OK\n", "OK\n"),
        (b"\x00\x1b[0m\t", "\x00\x1b[0m\t"),  # control bytes are valid UTF-8, kept as is
        (b"caf\xc3\xa9", "caf\u00e9"),
        (b"\xe2\x82\xac", "\u20ac"),
        (b"\xf0\x9f\x98\x80", "\U0001f600"),
        (b"\xef\xbf\xbd", "\ufffd"),  # a real U+FFFD stays a single one
        (b"\xff", "\ufffd"),
        (b"a\x80b", "a\ufffdb"),
        (b"\xe2\x82", "\ufffd\ufffd"),  # truncated 3-byte sequence: one per byte, as Go
        (b"\xe2\x82x", "\ufffd\ufffdx"),
        (b"\xf0\x9f\x98", "\ufffd\ufffd\ufffd"),  # truncated 4-byte sequence
        (b"\xc0\xaf", "\ufffd\ufffd"),  # overlong encoding
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # UTF-16 surrogate
        (b"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"),  # above U+10FFFF
        (b"\xc3\xa9\xc3", "\u00e9\ufffd"),
    ],
)
def test_decode_output_like_go(raw: bytes, text: str) -> None:
    """Valid UTF-8 is preserved and every invalid byte becomes its own U+FFFD."""
    assert decode_output(raw) == text


def _go_decode(raw: bytes) -> str:
    # Oracle written from Go's utf8.DecodeRune contract: take the valid rune at i, else
    # emit U+FFFD and advance one byte.
    out, i = [], 0
    while i < len(raw):
        for width in (1, 2, 3, 4):
            try:
                char = raw[i : i + width].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(char) == 1:
                out.append(char)
                i += width
                break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


@PROPERTY
@given(st.binary(max_size=64))
def test_decode_output_matches_go_decoder_oracle(raw: bytes) -> None:
    """Arbitrary bytes decode exactly as a rune-by-rune Go decoder would render them."""
    assert decode_output(raw) == _go_decode(raw)


@PROPERTY
@given(st.text(max_size=64))
def test_decode_output_preserves_valid_text(text: str) -> None:
    """Any valid UTF-8 decodes back to the text it encodes."""
    assert decode_output(text.encode()) == text


@pytest.mark.parametrize(
    ("head", "tail", "expected"),
    [
        (LIMIT - 1, "\u00e9", "a" * (LIMIT - 1) + "\ufffd..."),
        (LIMIT - 2, "\u20ac", "a" * (LIMIT - 2) + "\ufffd\ufffd..."),
        (LIMIT - 1, "\u20ac", "a" * (LIMIT - 1) + "\ufffd..."),
        (LIMIT - 2, "\u00e9", "a" * (LIMIT - 2) + "\u00e9"),
        (LIMIT, "\u00e9", "a" * LIMIT + "..."),
    ],
)
def test_multibyte_split_at_the_limit(head: int, tail: str, expected: str) -> None:
    """A character cut by the 4096-byte limit leaves one U+FFFD per kept byte before ``...``."""
    assert _buffer_of(b"a" * head, tail.encode()).text() == expected


@pytest.mark.parametrize(
    ("timeout_ns", "captured", "message"),
    [
        (SECOND, "", "Health check exceeded timeout (1s)"),
        (
            50 * MILLISECOND,
            "logs1 logs2 logs3\n",
            "Health check exceeded timeout (50ms): logs1 logs2 logs3\n",
        ),
        (90 * SECOND, "", "Health check exceeded timeout (1m30s)"),
        (1500 * MILLISECOND, "x", "Health check exceeded timeout (1.5s): x"),
        (MILLISECOND, "", "Health check exceeded timeout (1ms)"),
        (3600 * SECOND, "", "Health check exceeded timeout (1h0m0s)"),
    ],
)
def test_timeout_output_texts(timeout_ns: int, captured: str, message: str) -> None:
    """The timeout text renders the configured timeout with Go's Duration.String()."""
    assert timeout_output(timeout_ns, captured) == message


def test_timeout_output_default_is_30s() -> None:
    """An unset timeout is reported as the 30s default."""
    timeout = HealthcheckConfig().effective_timeout
    assert timeout_output(timeout, "") == "Health check exceeded timeout (30s)"


def test_timeout_output_appends_truncated_capture_verbatim() -> None:
    """Captured output that was cut keeps its ``...`` after the timeout prefix."""
    captured = _buffer_of(b"x" * (LIMIT + 10)).text()
    message = timeout_output(SECOND, captured)
    assert message == "Health check exceeded timeout (1s): " + "x" * LIMIT + "..."


def test_timeout_result_is_a_failure_with_exit_code_minus_one() -> None:
    """A timed-out probe records ExitCode -1, the timeout text and outcome TIMEOUT."""
    result = timeout_result(10, 20, SECOND, "")
    assert (result.start, result.end) == (10, 20)
    assert result.exit_code == -1
    assert result.output == "Health check exceeded timeout (1s)"
    assert result.outcome is Outcome.TIMEOUT
    assert not result.passed


def test_error_result_keeps_the_error_text() -> None:
    """A probe that could not run records ExitCode -1 and the error's text as output."""
    result = error_result(1, 2, "healthcheck for container x has no command")
    assert result.exit_code == -1
    assert result.output == "healthcheck for container x has no command"
    assert result.outcome is Outcome.ERROR
    assert not result.passed


@pytest.mark.parametrize(
    ("exit_code", "outcome", "passed"),
    [
        (0, Outcome.PASS, True),
        (1, Outcome.FAIL, False),
        (2, Outcome.FAIL, False),  # "reserved", still a failure since moby 91e9f38313
        (126, Outcome.FAIL, False),
        (127, Outcome.FAIL, False),
        (137, Outcome.FAIL, False),
        (255, Outcome.FAIL, False),
    ],
)
def test_exit_codes(exit_code: int, outcome: Outcome, passed: bool) -> None:
    """Exit code 0 is the only success; every other code is a failure."""
    result = exit_result(0, 1, exit_code, "out")
    assert result.exit_code == exit_code
    assert result.outcome is outcome
    assert result.passed is passed
    assert result.output == "out"


def test_probe_result_is_frozen() -> None:
    """Results are immutable values that can be shared between state and events."""
    result = ProbeResult(1, 2, 0, "", Outcome.PASS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.exit_code = 1  # type: ignore[misc]
