"""Go's ``time.ParseDuration`` and ``Duration.String()``, to the byte.

Durations are plain ``int`` nanoseconds everywhere in vigil, as ``time.Duration`` is in Go.
This module is part of the pure core: standard library only, no I/O, no clock.
"""

from __future__ import annotations

from vigil.go.strconv import quote_bytes

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_MAX = 1 << 63
_UNITS: dict[bytes, int] = {
    b"ns": NANOSECOND,
    b"us": MICROSECOND,
    "µ".encode() + b"s": MICROSECOND,  # U+00B5 micro sign
    "μ".encode() + b"s": MICROSECOND,  # U+03BC Greek mu
    b"ms": MILLISECOND,
    b"s": SECOND,
    b"m": MINUTE,
    b"h": HOUR,
}


def parse_duration(text: str) -> int:
    """Parse a Go duration string (``1m30s``, ``-1.5h``, ``0``) into nanoseconds.

    Raises ``ValueError`` with Go's exact message, for example
    ``time: missing unit in duration "1"``.
    """
    try:
        orig = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # A lone surrogate (a YAML "\ud800" escape) has no byte form; quote its WTF-8 bytes
        # so the caller gets Go's ValueError instead of a UnicodeEncodeError.
        orig = text.encode("utf-8", "surrogatepass")
    invalid = ValueError("time: invalid duration " + quote_bytes(orig))
    s = orig
    neg = False
    if s[:1] in (b"-", b"+"):
        neg = s[:1] == b"-"
        s = s[1:]
    if s == b"0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == 0x2E or 0x30 <= s[0] <= 0x39):
            raise invalid
        i = 0
        whole = 0
        while i < len(s) and 0x30 <= s[i] <= 0x39:
            if whole > _MAX // 10:
                raise invalid
            whole = whole * 10 + s[i] - 0x30
            if whole > _MAX:
                raise invalid
            i += 1
        pre = i > 0
        s = s[i:]
        frac, scale, post = 0, 1.0, False
        if s[:1] == b".":
            s = s[1:]
            j, overflow = 0, False
            while j < len(s) and 0x30 <= s[j] <= 0x39:
                if not overflow:
                    if frac > (_MAX - 1) // 10:
                        overflow = True
                    else:
                        nxt = frac * 10 + s[j] - 0x30
                        if nxt > _MAX:
                            overflow = True
                        else:
                            frac, scale = nxt, scale * 10
                j += 1
            post = j > 0
            s = s[j:]
        if not pre and not post:
            raise invalid
        k = 0
        while k < len(s) and not (s[k] == 0x2E or 0x30 <= s[k] <= 0x39):
            k += 1
        if k == 0:
            raise ValueError("time: missing unit in duration " + quote_bytes(orig))
        unit_text, s = s[:k], s[k:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise ValueError(
                "time: unknown unit " + quote_bytes(unit_text) + " in duration " + quote_bytes(orig)
            )
        if whole > _MAX // unit:
            raise invalid
        value = whole * unit
        if frac > 0:
            # Go converts through float64 here; int() truncates like uint64(float64).
            value += int(float(frac) * (float(unit) / scale))
            if value > _MAX:
                raise invalid
        total += value
        if total > _MAX:
            raise invalid
    if neg:
        return -total
    if total > _MAX - 1:
        raise invalid
    return total


def _frac(value: int, prec: int) -> tuple[str, int]:
    digits = []
    printed = False
    for _ in range(prec):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        value //= 10
    if not printed:
        return "", value
    return "." + "".join(reversed(digits)), value


def format_duration(ns: int) -> str:
    """Render nanoseconds exactly like Go's ``Duration.String()``.

    Examples: ``1h0m0s``, ``1.5s``, ``100µs``, ``0s``.
    """
    neg = ns < 0
    u = -ns if neg else ns
    if u < SECOND:
        if u == 0:
            return "0s"
        if u < MICROSECOND:
            prec, unit = 0, "ns"
        elif u < MILLISECOND:
            prec, unit = 3, "µs"
        else:
            prec, unit = 6, "ms"
        frac, whole = _frac(u, prec)
        text = f"{whole}{frac}{unit}"
    else:
        frac, secs = _frac(u, 9)
        text = f"{secs % 60}{frac}s"
        minutes = secs // 60
        if minutes > 0:
            text = f"{minutes % 60}m{text}"
            hours = minutes // 60
            if hours > 0:
                text = f"{hours}h{text}"
    return "-" + text if neg else text
