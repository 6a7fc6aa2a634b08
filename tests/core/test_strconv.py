"""``vigil.go.strconv``'s integers: Go's ``strconv.Atoi`` and ``ParseInt``, rules and texts.

The tables are rows of Go's own ``atoi_test.go``; the properties compare with a reference
written from the rules: an optional sign and ASCII digits in int64 range, and, for bad text,
"value out of range" only when the digits before the first bad character already overflow
uint64 (Go scans left to right and stops at whichever it meets first).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vigil.go.strconv import RANGE, SYNTAX, NumError, atoi, go_quote, parse_int

INT64 = st.integers(-(2**63), 2**63 - 1)
_DECIMAL = re.compile(r"[+-]?[0-9]+")
_LEADING = re.compile(r"[+-]?([0-9]*)")


def reference_atoi(text: str) -> int | str:
    """The rules, independently of the scan: the value, or Go's reason."""
    if _DECIMAL.fullmatch(text):
        if len(text.lstrip("+-").lstrip("0")) > 19:  # int() refuses 4300+ digits
            return RANGE
        value = int(text)
        return value if -(2**63) <= value < 2**63 else RANGE
    leading = _LEADING.match(text)
    digits = leading.group(1).lstrip("0") if leading else ""
    overflows = len(digits) > 20 or (digits != "" and int(digits) >= 2**64)
    return RANGE if overflows else SYNTAX


def outcome(text: str, base: int | None = None) -> int | str:
    try:
        return atoi(text) if base is None else parse_int(text, base)
    except NumError as error:
        return error.err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SYNTAX),
        ("0", 0),
        ("-0", 0),
        ("+0", 0),
        ("1", 1),
        ("-1", -1),
        ("+1", 1),
        ("12345", 12345),
        ("-12345", -12345),
        ("012345", 12345),
        ("-012345", -12345),
        ("98765432100", 98765432100),
        ("-98765432100", -98765432100),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775807", -(2**63) + 1),
        ("9223372036854775808", RANGE),
        ("-9223372036854775808", -(2**63)),
        ("-9223372036854775809", RANGE),
        ("-1_2_3_4_5", SYNTAX),  # underscores only with base 0
        ("-_12345", SYNTAX),
        ("_12345", SYNTAX),
        ("1__2345", SYNTAX),
        ("12345_", SYNTAX),
        ("123%45", SYNTAX),
        ("+", SYNTAX),
        ("-", SYNTAX),
        ("+-1", SYNTAX),
        (" 1", SYNTAX),
        ("1 ", SYNTAX),
        ("0x10", SYNTAX),
        ("١٢", SYNTAX),  # Arabic-Indic digits: Python's int() takes them, Go does not
        ("99999999999999999999x", RANGE),  # overflows before the x
        ("9x99999999999999999999", SYNTAX),
        ("9223372036854775808x", SYNTAX),  # fits uint64 up to the x
    ],
)
def test_atoi_matches_gos_table(text: str, expected: int | str) -> None:
    assert outcome(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0x10", 16),
        ("0X10", 16),
        ("-0x10", -16),
        ("0b101", 5),
        ("0o17", 15),
        ("017", 15),
        ("0", 0),
        ("1_000", 1000),
        ("0x_1F", 31),
        ("0_1", 1),
        ("0x", SYNTAX),
        ("08", SYNTAX),
        ("0b2", SYNTAX),
        ("_1", SYNTAX),
        ("1_", SYNTAX),
        ("1__0", SYNTAX),
        ("0x__1", SYNTAX),
        ("0x7fffffffffffffff", 2**63 - 1),
        ("0x8000000000000000", RANGE),
        ("-0x8000000000000000", -(2**63)),
    ],
)
def test_parse_int_base_0_reads_go_literals(text: str, expected: int | str) -> None:
    """pflag's int flags: ``strconv.ParseInt(s, 0, 64)``."""
    assert outcome(text, 0) == expected


def test_error_texts_name_the_function_and_quote_the_input() -> None:
    with pytest.raises(NumError) as caught:
        atoi('1"\n')
    assert str(caught.value) == 'strconv.Atoi: parsing "1\\"\\n": invalid syntax'
    with pytest.raises(ValueError, match=r'^strconv.ParseInt: parsing "-9{19}": value out of'):
        parse_int("-" + "9" * 19)
    assert (caught.value.func, caught.value.num) == ("Atoi", '1"\n')


@given(INT64, st.integers(0, 3))
def test_every_int64_round_trips_with_sign_and_zeros(number: int, zeros: int) -> None:
    digits = "0" * zeros + str(abs(number))
    assert atoi(("-" if number < 0 else "") + digits) == number
    if number >= 0:
        assert atoi("+" + digits) == number


@given(st.integers(2**63, 2**80) | st.integers(-(2**80), -(2**63) - 1))
def test_outside_int64_is_out_of_range(number: int) -> None:
    assert outcome(str(number)) == RANGE


@given(st.text(alphabet="0123456789+-_ x٣\n", max_size=30) | st.text(max_size=30))
@example("1" * 5000)  # far past Python's int() digit limit: Go's scan has none
@example("9" * 21 + "x")
def test_atoi_agrees_with_the_rules(text: str) -> None:
    expected = reference_atoi(text)
    assert outcome(text) == expected
    if isinstance(expected, str):
        with pytest.raises(NumError) as caught:
            atoi(text)
        assert str(caught.value) == f"strconv.Atoi: parsing {go_quote(text)}: {expected}"


@given(INT64)
def test_base_0_reads_every_literal_form(number: int) -> None:
    sign, magnitude = ("-" if number < 0 else ""), abs(number)
    for text in (f"{magnitude:#x}", f"{magnitude:#o}", f"{magnitude:#b}", f"{magnitude:_}"):
        assert parse_int(sign + text, 0) == number
