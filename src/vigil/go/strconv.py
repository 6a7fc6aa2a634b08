"""Go's ``strconv``: ``Quote`` (also ``%q`` and ``%#v`` of a string), for error texts that quote
user input exactly as Docker's do, and ``ParseInt``/``Atoi`` with Go's rules and error texts,
the one integer parser for every number a user types. Pure core: stdlib only.

Printable runes (Go's ``IsPrint`` = Python's ``isprintable``) are kept; U+DC80-U+DCFF, which
``surrogateescape`` uses for invalid UTF-8 bytes, come out as ``\\xNN`` like Go's bad bytes.
"""

from __future__ import annotations

_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """``strconv.Quote(text)``."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")  # an invalid UTF-8 byte
        elif char.isprintable():
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def quote_bytes(raw: bytes) -> str:
    """Quote like Go's private ``time.quote``: non-ASCII and control bytes as ``\\xNN``."""
    out = ['"']
    for byte in raw:
        if byte >= 0x80 or byte < 0x20:
            out.append(f"\\x{byte:02x}")
        else:
            if byte in (0x22, 0x5C):
                out.append("\\")
            out.append(chr(byte))
    out.append('"')
    return "".join(out)


# ---- integers ---------------------------------------------------------------------------------

SYNTAX = "invalid syntax"
RANGE = "value out of range"
_DIGITS = {c: i for i, c in enumerate("0123456789abcdefghijklmnopqrstuvwxyz")}
_DIGITS |= {c.upper(): i for c, i in _DIGITS.items()}
_PREFIXES = {"b": 2, "o": 8, "x": 16}
_HEX_LETTERS = frozenset("abcdefABCDEF")
_MAX_UINT64 = (1 << 64) - 1


class NumError(ValueError):
    """Go's ``*strconv.NumError``; ``str()`` is Go's text,
    ``strconv.Atoi: parsing "x": invalid syntax``."""

    def __init__(self, func: str, num: str, err: str) -> None:
        super().__init__(f"strconv.{func}: parsing {go_quote(num)}: {err}")
        self.func = func
        self.num = num
        self.err = err


def parse_int(text: str, base: int = 10, bit_size: int = 64, *, func: str = "ParseInt") -> int:
    """``strconv.ParseInt(text, base, bit_size)``: an optional sign, then digits of ``base``
    (2 to 36), or with base 0 a Go literal (``0x1F``, ``0o17``, ``017``, ``0b1``, ``1_000``).
    No spaces, no other digits than ASCII. Raises :class:`NumError` (``func`` names the Go
    function in its text) with Go's reason: ``invalid syntax`` or ``value out of range``,
    whichever Go finds first scanning left to right."""
    if (base != 0 and not 2 <= base <= 36) or not 1 <= bit_size <= 64:
        raise ValueError(f"parse_int: bad base {base} or bit size {bit_size}")
    unsigned = text[1:] if text[:1] in ("+", "-") else text
    try:
        magnitude = _parse_uint(unsigned, base, (1 << bit_size) - 1)
    except NumError as error:
        if error.err != RANGE:
            raise NumError(func, text, error.err) from None
        magnitude = _MAX_UINT64  # out of range as an unsigned number: out of range signed
    cutoff = 1 << (bit_size - 1)
    negative = text.startswith("-")
    if magnitude > cutoff or (magnitude == cutoff and not negative):
        raise NumError(func, text, RANGE)
    return -magnitude if negative else magnitude


def atoi(text: str) -> int:
    """``strconv.Atoi`` on 64-bit Linux: ``parse_int(text, 10, 64)`` reported as ``Atoi``."""
    return parse_int(text, 10, 64, func="Atoi")


def _parse_uint(text: str, base: int, max_value: int) -> int:
    """``strconv.ParseUint``'s scan; errors carry no function name (the caller sets it)."""
    if text == "":
        raise NumError("", text, SYNTAX)
    literal = base == 0
    digits = text
    if literal:
        base = 10
        if text[0] == "0":
            prefixed = len(text) >= 3 and text[1].lower() in _PREFIXES
            base = _PREFIXES[text[1].lower()] if prefixed else 8
            digits = text[2:] if prefixed else text[1:]
    value = 0
    for char in digits:
        if char == "_" and literal:
            continue
        digit = _DIGITS.get(char, 36)
        if digit >= base:
            raise NumError("", text, SYNTAX)
        value = value * base + digit
        if value > max_value:  # Go stops at the first digit that overflows
            raise NumError("", text, RANGE)
    if literal and "_" in text and not _underscores_ok(text):
        raise NumError("", text, SYNTAX)
    return value


def _underscores_ok(text: str) -> bool:
    """Go's ``underscoreOK``: ``_`` only between digits, or between a base prefix and a digit."""
    prefixed = len(text) >= 2 and text[0] == "0" and text[1].lower() in _PREFIXES
    hexadecimal = prefixed and text[1].lower() == "x"
    previous = "0" if prefixed else "^"  # a base prefix counts as a digit
    for char in text[2:] if prefixed else text:
        if "0" <= char <= "9" or (hexadecimal and char in _HEX_LETTERS):
            previous = "0"
        elif char == "_":
            if previous != "0":
                return False
            previous = "_"
        elif previous == "_":
            return False
        else:
            previous = "!"
    return previous != "_"
