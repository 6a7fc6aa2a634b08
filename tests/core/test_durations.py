"""Go's ``time.ParseDuration`` and ``Duration.String()`` (reference §2.4).

Tables re-express golang/go ``src/time/time_test.go`` (parseDurationTests,
parseDurationErrorTests, durationTests, TestParseDurationRoundTrip) plus the boundary and
rounding cases of ``src/time/format.go``; expected values come from Go, not from vigil.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.go.duration import (
    HOUR,
    MICROSECOND,
    MILLISECOND,
    MINUTE,
    NANOSECOND,
    SECOND,
    format_duration,
    parse_duration,
)

MAX_INT64 = (1 << 63) - 1
MIN_INT64 = -(1 << 63)

# Fixed seeds keep the suite deterministic; deadline off because the machine is noisy.
PROPERTY = settings(derandomize=True, deadline=None, max_examples=500)

GO_PARSE_TABLE = [
    # simple
    ("0", 0),
    ("5s", 5 * SECOND),
    ("30s", 30 * SECOND),
    ("1478s", 1478 * SECOND),
    # sign
    ("-5s", -5 * SECOND),
    ("+5s", 5 * SECOND),
    ("-0", 0),
    ("+0", 0),
    # decimal
    ("5.0s", 5 * SECOND),
    ("5.6s", 5 * SECOND + 600 * MILLISECOND),
    ("5.s", 5 * SECOND),
    (".5s", 500 * MILLISECOND),
    ("1.0s", SECOND),
    ("1.00s", SECOND),
    ("1.004s", SECOND + 4 * MILLISECOND),
    ("1.0040s", SECOND + 4 * MILLISECOND),
    ("100.00100s", 100 * SECOND + MILLISECOND),
    # every unit
    ("10ns", 10 * NANOSECOND),
    ("11us", 11 * MICROSECOND),
    ("12\u00b5s", 12 * MICROSECOND),  # micro sign
    ("12\u03bcs", 12 * MICROSECOND),  # Greek mu
    ("13ms", 13 * MILLISECOND),
    ("14s", 14 * SECOND),
    ("15m", 15 * MINUTE),
    ("16h", 16 * HOUR),
    # composite, in any order
    ("3h30m", 3 * HOUR + 30 * MINUTE),
    ("10.5s4m", 4 * MINUTE + 10 * SECOND + 500 * MILLISECOND),
    ("-2m3.4s", -(2 * MINUTE + 3 * SECOND + 400 * MILLISECOND)),
    ("1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4 * MILLISECOND + 5 * MICROSECOND + 6),
    ("39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14 * SECOND + 425 * MILLISECOND),
    # large values
    ("52763797000ns", 52763797000),
    ("9007199254740993ns", (1 << 53) + 1),  # not representable as a float64
    ("9007199254.740993ms", (1 << 53) + 1),
    # more than 9 fractional digits (golang/go#6617, #15011)
    ("0.3333333333333333333h", 20 * MINUTE),
    ("0.100000000000000000000h", 6 * MINUTE),
    ("0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827),
    # int64 limits
    ("9223372036854775807ns", MAX_INT64),
    ("9223372036854775.807us", MAX_INT64),
    ("9223372036s854ms775us807ns", MAX_INT64),
    ("2562047h47m16.854775807s", MAX_INT64),
    ("-9223372036854775808ns", MIN_INT64),
    ("-9223372036854775.808us", MIN_INT64),
    ("-9223372036s854ms775us808ns", MIN_INT64),
    ("-2562047h47m16.854775808s", MIN_INT64),  # golang/go#48629
]

FRACTION_ROUNDING_TABLE = [
    # Go adds uint64(float64(frac) * (float64(unit) / scale)): truncation after float maths.
    ("1.0000000000000000000000001s", SECOND),
    (".5h", 30 * MINUTE),
    (".1m", 6 * SECOND),
    ("1.5us", 1500),
    ("1.5\u00b5s", 1500),
    ("0.0000000001s", 0),
    ("0.0000000015s", 1),
    ("0.9999999999s", 999_999_999),
    ("0.99999999999999999999s", SECOND),  # digits past int64 are dropped, then float rounds up
    ("1.123456789h", HOUR + 444_444_440_400),
]


@pytest.mark.parametrize(("text", "expected"), GO_PARSE_TABLE + FRACTION_ROUNDING_TABLE)
def test_parse_duration_matches_go(text: str, expected: int) -> None:
    """Each string parses to the nanoseconds Go's ParseDuration returns."""
    assert parse_duration(text) == expected


def _invalid(text: str) -> str:
    return f'time: invalid duration "{text}"'


GO_ERROR_TABLE = [
    # malformed
    ("", _invalid("")),
    ("-", _invalid("-")),
    ("+", _invalid("+")),
    ("s", _invalid("s")),
    (".", _invalid(".")),
    ("-.", _invalid("-.")),
    (".s", _invalid(".s")),
    ("+.s", _invalid("+.s")),
    ("--1s", _invalid("--1s")),
    (" 1s", _invalid(" 1s")),
    ("1s.", _invalid("1s.")),
    # missing unit
    ("3", 'time: missing unit in duration "3"'),
    ("00", 'time: missing unit in duration "00"'),
    ("0.0", 'time: missing unit in duration "0.0"'),
    ("1.5", 'time: missing unit in duration "1.5"'),
    ("-1", 'time: missing unit in duration "-1"'),
    ("1s2", 'time: missing unit in duration "1s2"'),
    # unknown unit (Go has no days)
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("1S", 'time: unknown unit "S" in duration "1S"'),
    ("1sec", 'time: unknown unit "sec" in duration "1sec"'),
    ("1e3s", 'time: unknown unit "e" in duration "1e3s"'),
    ("1 s", 'time: unknown unit " s" in duration "1 s"'),
    ("1ms ", 'time: unknown unit "ms " in duration "1ms "'),
    ("1\u00b5", 'time: unknown unit "\\xc2\\xb5" in duration "1\\xc2\\xb5"'),
    ("1h\t", 'time: unknown unit "h\\x09" in duration "1h\\x09"'),
    ('1"', 'time: unknown unit "\\"" in duration "1\\""'),
    ("1\\", 'time: unknown unit "\\\\" in duration "1\\\\"'),
    ("1\x7f", 'time: unknown unit "\x7f" in duration "1\x7f"'),  # DEL is printed as is
    # non-ASCII and invalid UTF-8 are quoted byte by byte (surrogateescape carries raw bytes)
    ("\udc85\udc85", _invalid("\\x85\\x85")),
    ("\udcffff", _invalid("\\xffff")),
    ("hello \udcffff world", _invalid("hello \\xffff world")),
    ("\ufffd", _invalid("\\xef\\xbf\\xbd")),
    ("\ufffd hello \ufffd world", _invalid("\\xef\\xbf\\xbd hello \\xef\\xbf\\xbd world")),
    ("\u00e9", _invalid("\\xc3\\xa9")),
    # overflow
    ("9223372036854775810ns", _invalid("9223372036854775810ns")),
    ("9223372036854775808ns", _invalid("9223372036854775808ns")),
    ("+9223372036854775808ns", _invalid("+9223372036854775808ns")),
    ("-9223372036854775809ns", _invalid("-9223372036854775809ns")),
    ("9223372036854776us", _invalid("9223372036854776us")),
    ("3000000h", _invalid("3000000h")),
    ("2562048h", _invalid("2562048h")),
    ("2562047h47m16.854775808s", _invalid("2562047h47m16.854775808s")),
    ("9223372036854775.808us", _invalid("9223372036854775.808us")),
    ("9223372036854ms775us808ns", _invalid("9223372036854ms775us808ns")),
    ("99999999999999999999ns", _invalid("99999999999999999999ns")),
]


@pytest.mark.parametrize(("text", "message"), GO_ERROR_TABLE)
def test_parse_duration_rejects_with_go_message(text: str, message: str) -> None:
    """Invalid input raises ValueError whose text is Go's error string, byte for byte."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\ud800", _invalid("\\xed\\xa0\\x80")),
        ("1\udfffs", 'time: unknown unit "\\xed\\xbf\\xbfs" in duration "1\\xed\\xbf\\xbfs"'),
    ],
)
def test_parse_duration_quotes_lone_surrogates(text: str, message: str) -> None:
    """A lone surrogate (possible from a YAML \\u escape) gives a Go-style error, not a crash."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$") as caught:
        parse_duration(text)
    assert not isinstance(caught.value, UnicodeError)


GO_STRING_TABLE = [
    ("0s", 0),
    ("1ns", 1),
    ("1.1\u00b5s", 1100),
    ("2.2ms", 2200 * MICROSECOND),
    ("3.3s", 3300 * MILLISECOND),
    ("4m5s", 4 * MINUTE + 5 * SECOND),
    ("4m5.001s", 4 * MINUTE + 5001 * MILLISECOND),
    ("5h6m7.001s", 5 * HOUR + 6 * MINUTE + 7001 * MILLISECOND),
    ("8m0.000000001s", 8 * MINUTE + 1),
    ("2562047h47m16.854775807s", MAX_INT64),
    # reference §2.4: inner zero units kept, fractions trimmed, non-ASCII micro sign
    ("999ns", 999),
    ("1\u00b5s", MICROSECOND),
    ("1.001\u00b5s", 1001),
    ("100\u00b5s", 100 * MICROSECOND),
    ("999.999\u00b5s", 999_999),
    ("1ms", MILLISECOND),
    ("50ms", 50 * MILLISECOND),
    ("999.999999ms", SECOND - 1),
    ("1s", SECOND),
    ("1.5s", 1500 * MILLISECOND),
    ("30s", 30 * SECOND),
    ("59.999999999s", MINUTE - 1),
    ("1m0s", MINUTE),
    ("1m30s", 90 * SECOND),
    ("2m0s", 2 * MINUTE),
    ("59m59s", HOUR - SECOND),
    ("1h0m0s", HOUR),
    ("1h0m0.5s", HOUR + 500 * MILLISECOND),
    ("24h0m0s", 24 * HOUR),
]


@pytest.mark.parametrize(("text", "ns"), GO_STRING_TABLE)
def test_format_duration_matches_go(text: str, ns: int) -> None:
    """Each duration renders exactly as Go's Duration.String()."""
    assert format_duration(ns) == text


@pytest.mark.parametrize(("text", "ns"), [row for row in GO_STRING_TABLE if row[1] > 0])
def test_format_negative_duration_is_prefixed(text: str, ns: int) -> None:
    """A negative duration renders as its absolute value with a leading minus sign."""
    assert format_duration(-ns) == "-" + text


def test_format_min_int64() -> None:
    """The most negative int64 renders without overflow, as Go prints it."""
    assert format_duration(MIN_INT64) == "-2562047h47m16.854775808s"


def test_micro_sign_is_u00b5() -> None:
    """Rendering uses the micro sign U+00B5 (two UTF-8 bytes), not the Greek mu."""
    assert format_duration(1500).encode() == b"1.5\xc2\xb5s"


@pytest.mark.parametrize("ns", [MAX_INT64, MIN_INT64, 0, 1, -1, SECOND, 1 << 62])
def test_round_trip_at_the_limits(ns: int) -> None:
    """The int64 extremes survive a format/parse round trip (golang/go#48629)."""
    assert parse_duration(format_duration(ns)) == ns


@PROPERTY
@given(st.integers(min_value=MIN_INT64, max_value=MAX_INT64))
def test_format_then_parse_is_identity(ns: int) -> None:
    """Every int64 duration parses back from its rendering to the same nanoseconds."""
    assert parse_duration(format_duration(ns)) == ns


@PROPERTY
@given(st.integers(min_value=0, max_value=1 << 31))
def test_millisecond_round_trip_like_go(ms: int) -> None:
    """Go's own round-trip check: whole milliseconds up to 2^31 survive String then Parse."""
    ns = ms * MILLISECOND
    assert parse_duration(format_duration(ns)) == ns


UNITS = {"ns": 1, "us": MICROSECOND, "\u00b5s": MICROSECOND, "\u03bcs": MICROSECOND}
UNITS |= {"ms": MILLISECOND, "s": SECOND, "m": MINUTE, "h": HOUR}


@PROPERTY
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(UNITS))),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["", "+", "-"]),
)
def test_composite_parses_to_sum_of_parts(parts: list[tuple[int, str]], sign: str) -> None:
    """A signed sequence of integer/unit parts, in any order, parses to their sum."""
    text = sign + "".join(f"{value}{unit}" for value, unit in parts)
    total = sum(value * UNITS[unit] for value, unit in parts)
    assert parse_duration(text) == (-total if sign == "-" else total)


@PROPERTY
@given(st.text(max_size=30))
def test_parse_raises_only_go_errors(text: str) -> None:
    """Arbitrary text either parses to an int64 or raises ValueError with a ``time:`` message."""
    outcome: int | str
    try:
        outcome = parse_duration(text)
    except ValueError as error:
        outcome = str(error)
    if isinstance(outcome, str):
        assert outcome.startswith("time: ")
    else:
        assert MIN_INT64 <= outcome <= MAX_INT64
