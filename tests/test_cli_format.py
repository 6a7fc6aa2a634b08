"""The CLI's output formats, as pure functions of the API's JSON: docker/cli's formatter
(Ellipsis, tabwriter), Go's quoting and time layouts. Local time is pinned per test."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.cli.format import ellipsis, event_line, go_quote, go_time_string, tabulate


def local_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()


pytestmark = pytest.mark.usefixtures("utc")


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short", 20, "short"),
        ("x" * 20, 20, "x" * 20),
        ("x" * 21, 20, "x" * 19 + "…"),
        ("日本語のコマンドです長い", 10, "日本語の…"),
        ("日本語", 6, "日本語"),
        ("héllo wörld, long enough", 10, "héllo wör…"),
        ("abc", 1, "a"),
        ("abc", 0, ""),
    ],
)
def test_ellipsis_matches_docker(text: str, width: int, expected: str):
    """docker/cli formatter.Ellipsis: display columns, wide runes count 2."""
    assert ellipsis(text, width) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sh -c 'echo \"hi\"'", '"sh -c \'echo \\"hi\\"\'"'),
        ("a\tb\nc\\", '"a\\tb\\nc\\\\"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("é…\u200b\u2028", '"é…\\u200b\\u2028"'),
    ],
)
def test_go_quote(text: str, expected: str):
    """strconv.Quote: printable runes kept, controls and format characters escaped."""
    assert go_quote(text) == expected


def test_tabulate_pads_all_but_the_last_column():
    assert tabulate([["A", "B", "C"], ["long cell here", "x", "last"]]) == (
        "A                B         C\nlong cell here   x         last\n"
    )
    assert tabulate([]) == ""


def test_go_time_string_in_utc():
    assert go_time_string(1_795_806_124) == "2026-11-27 19:02:04 +0000 UTC"


def test_event_line_without_nanoseconds_or_attributes():
    event = {"Type": "service", "Action": "x", "Actor": {"ID": "i", "Attributes": {}}, "time": 1}
    assert event_line(event) == "1970-01-01T00:00:01.000000000Z service x i"
    assert event_line({"Type": "service", "Action": "y", "Actor": {"ID": "j"}}) == "service y j"


@pytest.mark.parametrize(
    ("zone", "nanos", "expected"),
    [
        ("UTC", 1_795_806_124_348_887_870, "2026-11-27T19:02:04.348887870Z"),
        ("UTC", 1_795_806_125_000_000_000, "2026-11-27T19:02:05.000000000Z"),
        ("UTC", 1_795_806_125_000_000_100, "2026-11-27T19:02:05.000000100Z"),
        ("Asia/Kolkata", 1_795_806_124_000_000_001, "2026-11-28T00:32:04.000000001+05:30"),
        ("America/St_Johns", 1_795_806_124_500_000_000, "2026-11-27T15:32:04.500000000-03:30"),
    ],
)
def test_event_time_has_nine_fraction_digits_in_local_time(
    zone: str, nanos: int, expected: str, monkeypatch: pytest.MonkeyPatch
):
    """docker/cli's rfc3339NanoFixed: no trimmed zeros; Z only when local time is UTC."""
    local_zone(monkeypatch, zone)
    event = {"Type": "service", "Action": "die", "Actor": {"ID": "i"}, "timeNano": nanos}
    assert event_line(event) == f"{expected} service die i"


@given(st.integers(1, 2**62))
def test_event_times_line_up_and_read_back(nanos: int):
    """Every time is the same width and names the same instant."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        local_zone(monkeypatch, "Asia/Kolkata")
        stamp = event_line({"timeNano": nanos, "Actor": {}}).split(" ")[0]
    time.tzset()  # back to the fixture's UTC
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d", stamp)
    whole, fraction = stamp[:19] + stamp[29:], stamp[20:29]
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S%z")
    assert int(moment.timestamp()) * 10**9 + int(fraction) == nanos
