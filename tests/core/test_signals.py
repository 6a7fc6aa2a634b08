"""``vigil.core.signals``: moby's ``ParseSignal`` and the daemon's kill check, on Linux."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.core.signals import SIGNALS, parse_kill_signal, parse_signal, valid_signal

LINUX_NUMBERS = [*range(1, 32), *range(34, 65)]  # 32 and 33 are glibc's own


def outcome(parse: object, text: str) -> int | str:
    assert callable(parse)
    try:
        number: int = parse(text)
    except ValueError as error:
        return str(error)
    return number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("SIGTERM", 15),
        ("term", 15),
        ("sIgKiLl", 9),
        ("USR1", 10),
        ("SIGCLD", 17),
        ("POLL", 29),
        ("RTMIN", 34),
        ("RTMIN+15", 49),
        ("RTMAX-14", 50),
        ("SIGRTMAX", 64),
        ("9", 9),
        ("+9", 9),
        ("-9", -9),
        ("0099", 99),
        ("ſigterm", 15),  # Go's ToUpper maps the long s to S, one letter for one
    ],
)
def test_parse_signal(text: str, number: int) -> None:
    """moby's ``signal.ParseSignal`` on Linux: numbers are not range-checked, names are."""
    assert parse_signal(text) == number


@pytest.mark.parametrize(
    "text",
    ["", "0", "-0", "SIG", "SIGFOO", "FOO", "SIGSIGTERM", "ﬆop", "RTMAX-15", "RTMIN+16", "٩",
     "1_0", " 9", "9 ", "0x9", "99999999999999999999", "-9223372036854775809"],
)  # fmt: skip
def test_parse_signal_rejects(text: str) -> None:
    """Unknown names, 0, what Atoi refuses (spaces, non-ASCII digits, beyond int64)."""
    assert outcome(parse_signal, text) == f"invalid signal: {text}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("65", "the linux daemon does not support signal 65"),
        ("32", "the linux daemon does not support signal 32"),
        ("-1", "the linux daemon does not support signal -1"),
        ("9223372036854775807", "the linux daemon does not support signal 9223372036854775807"),
        ("0", "invalid signal: 0"),
        ("SIGFOO", "invalid signal: SIGFOO"),
        ("99999999999999999999", "invalid signal: 99999999999999999999"),
    ],
)
def test_kill_signal_problems_are_mobys(text: str, message: str) -> None:
    """``docker kill -s``: ParseSignal's text, else ``ValidSignalForPlatform``'s."""
    assert outcome(parse_kill_signal, text) == message


def test_signal_table_is_mobys_linux_map() -> None:
    """34 names plus 31 real-time ones (RTMIN..RTMIN+15, RTMAX-14..RTMAX)."""
    assert len(SIGNALS) == 65
    assert sorted(set(SIGNALS.values())) == LINUX_NUMBERS


def test_signal_table_matches_this_linux() -> None:
    """The pure table (no ``signal`` import in the core) equals what Python knows here."""
    known = {name.removeprefix("SIG"): int(sig) for name, sig in signal.Signals.__members__.items()}
    assert {name: SIGNALS[name] for name in known} == known
    assert (SIGNALS["RTMIN"], SIGNALS["RTMAX"]) == (signal.SIGRTMIN, signal.SIGRTMAX)


@given(st.sampled_from(sorted(SIGNALS)), st.sampled_from([str, str.lower, str.title]),
       st.booleans())  # fmt: skip
def test_every_name_parses_in_any_case_with_or_without_sig(
    name: str, case: object, prefixed: bool
) -> None:
    assert callable(case)
    text = case(("SIG" if prefixed else "") + name)
    assert parse_signal(text) == parse_kill_signal(text) == SIGNALS[name]


@given(st.integers(-(2**63), 2**63 - 1).filter(bool))
def test_every_nonzero_int64_is_a_signal_that_kill_takes_only_if_linux_has_it(
    number: int,
) -> None:
    assert parse_signal(str(number)) == number
    expected = (
        number
        if number in LINUX_NUMBERS
        else (f"the linux daemon does not support signal {number}")
    )
    assert outcome(parse_kill_signal, str(number)) == expected
    assert valid_signal(number) is (number in LINUX_NUMBERS)


@given(st.text(max_size=12))
def test_any_text_is_a_number_a_known_name_or_invalid(text: str) -> None:
    """Never another exception, never another message."""
    got = outcome(parse_signal, text)
    assert isinstance(got, int) or got == f"invalid signal: {text}"
    if isinstance(got, int):
        assert got != 0
    kill = outcome(parse_kill_signal, text)
    if isinstance(got, int) and not valid_signal(got):
        assert kill == f"the linux daemon does not support signal {got}"
    else:
        assert kill == got
