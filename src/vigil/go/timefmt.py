"""Go's time formats: ``Time.Format(time.RFC3339Nano)`` and ``time.Parse`` for the layouts
Docker's ``GetTimestamp`` tries (``docker events --since/--until``), with Go's error texts.

Pure: the local zone is read from the tz database for a given instant; nothing reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.go.strconv import quote_bytes

SECOND = 1_000_000_000


def format_rfc3339nano(unix_ns: int, *, utc: bool = False, fixed: bool = False) -> str:
    """Go's ``Time.Format(time.RFC3339Nano)`` for a Unix-nanosecond instant in local time.

    ``fixed``: always nine fraction digits, docker/cli's ``rfc3339NanoFixed`` layout
    (``2006-01-02T15:04:05.000000000Z07:00``), so that columns of times line up."""
    seconds, nanos = divmod(unix_ns, SECOND)
    moment = datetime.fromtimestamp(seconds, UTC)
    offset = 0 if utc else local_offset(unix_ns)
    text = (moment + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos or fixed:
        text += "." + (f"{nanos:09d}" if fixed else f"{nanos:09d}".rstrip("0"))
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def local_offset(now_ns: int) -> int:
    """The local zone's UTC offset in seconds at ``now_ns`` (Go's ``Time.Zone()``)."""
    moment = datetime.fromtimestamp(now_ns // SECOND, UTC).astimezone()
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset else 0


# Layout pieces of Go's reference time: ("lit", text) or (kind, text as written in the layout).
Layout = tuple[tuple[str, str], ...]
DATE: Layout = (("year", "2006"), ("lit", "-"), ("month", "01"), ("lit", "-"), ("day", "02"))
HOUR: Layout = (*DATE, ("lit", "T"), ("hour", "15"))
MINUTE_LAYOUT: Layout = (*HOUR, ("lit", ":"), ("minute", "04"))
SECOND_LAYOUT: Layout = (*MINUTE_LAYOUT, ("lit", ":"), ("second", "05"))
NANO: Layout = (*SECOND_LAYOUT, ("frac", ".999999999"))
ZONE = (("zone", "Z07:00"),)


def go_bytes(text: str) -> bytes:
    """A query string as Go sees it: bytes (lone surrogates kept as their WTF-8 bytes)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _digit(value: bytes, i: int) -> bool:
    return i < len(value) and 0x30 <= value[i] <= 0x39


def _getnum(value: bytes, fixed: bool) -> tuple[int, bytes] | None:
    if not _digit(value, 0):
        return None
    if not _digit(value, 1):
        return None if fixed else (value[0] - 0x30, value[1:])
    return int(value[:2]), value[2:]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, Go allows 0000)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class _Bad(Exception):
    """Go's ``errBad`` inside the parser; never leaves this module."""


def _read_fraction(value: bytes) -> tuple[int, bytes]:
    """``.ddd`` (or ``,ddd``) as nanoseconds: Go takes every digit and keeps the first 9."""
    end = 1
    while _digit(value, end):
        end += 1
    return int(value[1:end][:9].ljust(9, b"0")), value[end:]


def _read_zone(value: bytes) -> tuple[int, bytes, str]:
    """Go's ``Z07:00``: ``Z`` or ``±hh:mm`` as (offset seconds, rest, range error)."""
    if value[:1] == b"Z":
        return 0, value[1:], ""
    if len(value) < 6 or value[3:4] != b":":
        raise _Bad
    hours = _getnum(value[1:3], True)
    minutes = _getnum(value[4:6], True) if hours else None
    hh, mm = (hours[0] if hours else 0), (minutes[0] if minutes else 0)
    over = "time zone offset hour" if hh > 24 else ""  # Go allows 24 and 60 here
    over = "time zone offset minute" if mm > 60 else over
    if over:
        return 0, value[6:], over
    if hours is None or minutes is None or value[:1] not in (b"+", b"-"):
        raise _Bad
    return (hh * 60 + mm) * 60 * (-1 if value[:1] == b"-" else 1), value[6:], ""


_LIMITS = {"month": 13, "day": 100, "hour": 24, "minute": 60, "second": 60}


def _read_piece(kind: str, value: bytes, got: dict[str, int], then: str) -> tuple[bytes, str]:
    """Parse one layout element into ``got``; returns the rest and a range error or ""."""
    if kind == "year":
        if not (len(value) >= 4 and value[:4].isdigit()):
            raise _Bad
        got["year"] = int(value[:4])
        return value[4:], ""
    if kind == "frac":
        if len(value) >= 2 and value[:1] in (b".", b",") and _digit(value, 1):
            got["frac"], value = _read_fraction(value)
        return value, ""
    if kind == "zone":
        got["zone"], value, over = _read_zone(value)
        return value, over
    number = _getnum(value, fixed=kind != "hour")  # Go reads "15" as one or two digits
    if number is None:
        raise _Bad
    got[kind], value = number
    if got[kind] >= _LIMITS[kind] or (kind == "month" and got[kind] < 1):
        return value, kind
    # Go reads a fraction after the seconds even when the layout has none.
    if kind == "second" and then != "frac" and value[:1] in (b".", b",") and _digit(value, 1):
        got["frac"], value = _read_fraction(value)
    return value, ""


def parse_layout(layout: Layout, text: str, offset_s: int | None) -> int:
    """Go's ``time.Parse`` (``offset_s`` None) or ``ParseInLocation`` in a fixed zone, for
    the layouts above, with Go's error texts; returns Unix ns."""
    layout_text = quote_bytes("".join(piece for _, piece in layout).encode())
    value = go_bytes(text)
    fail = f"parsing time {quote_bytes(value)}"
    got = {"year": 0, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "frac": 0}
    got["zone"] = offset_s or 0
    for index, (kind, piece) in enumerate(layout):
        then = layout[index + 1][0] if index + 1 < len(layout) else ""
        hold = value
        try:
            if kind == "lit":
                if not value.startswith(piece.encode()):
                    raise _Bad
                value = value[len(piece) :]
                continue
            value, over = _read_piece(kind, value, got, then)
        except _Bad:
            cannot = f"cannot parse {quote_bytes(hold)} as {quote_bytes(piece.encode())}"
            raise ValueError(f"{fail} as {layout_text}: {cannot}") from None
        if over:
            raise ValueError(f"{fail}: {over} out of range")
    if value:
        raise ValueError(f"{fail}: extra text: {quote_bytes(value)}")
    if not 1 <= got["day"] <= _days_in(got["month"], got["year"]):
        raise ValueError(f"{fail}: day out of range")
    days = _days_from_civil(got["year"], got["month"], got["day"])
    seconds = days * 86400 + got["hour"] * 3600 + got["minute"] * 60 + got["second"]
    return (seconds - got["zone"]) * SECOND + got["frac"]


