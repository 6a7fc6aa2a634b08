"""Go's ``encoding/json`` as BuildKit's ``parseJSON`` meets it: is a text one JSON value that
``json.Unmarshal`` into ``interface{}`` accepts, and how deeply does it nest? Pure: stdlib only.

Checked with a loop and an explicit stack, so a 10,000-deep array costs no recursion (Python's
``json`` module recurses and stops near 1,000). Go's rules: whitespace is space, tab, CR and
LF; no ``NaN``/``Infinity``; a number that does not fit a float64 cannot be unmarshalled;
nesting deeper than 10,000 is an error (``exceeded max depth``).
"""

from __future__ import annotations

import math
import re

MAX_DEPTH = 10_000  # encoding/json maxNestingDepth

_TOKEN = re.compile(
    r"""[ \t\n\r]*(?:
        (?P<punct>[\[\]{},:])
      | (?P<string>"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")
      | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)
      | (?P<literal>true|false|null)
    )""",
    re.VERBOSE,
)
_SPACE = re.compile(r"[ \t\n\r]*")
_CLOSE = {"[": "]", "{": "}"}


def value_depth(text: str) -> int | None:
    """The nesting depth of the one JSON value ``text`` holds (0 for a scalar, 1 for a flat
    array), or None when Go's ``json.Unmarshal`` would refuse it."""
    stack: list[str] = []  # the open containers
    expect = "value"  # value | value_or_close | key | key_or_close | colon | comma_or_close
    depth = 0
    pos = 0
    while True:  # bounded: each round consumes a token or returns
        match = _TOKEN.match(text, pos)
        if match is None:
            return None
        pos = match.end()
        punct = match.group("punct")
        if expect == "colon":
            if punct != ":":
                return None
            expect = "value"
            continue
        if expect == "comma_or_close":
            if punct == ",":
                expect = "key" if stack[-1] == "{" else "value"
                continue
            if punct != _CLOSE[stack[-1]]:
                return None
            stack.pop()
        elif punct in ("]", "}"):
            if expect not in ("value_or_close", "key_or_close") or punct != _CLOSE[stack[-1]]:
                return None
            stack.pop()
        elif expect in ("key", "key_or_close"):
            if match.group("string") is None:
                return None
            expect = "colon"
            continue
        elif punct in ("[", "{"):
            stack.append(punct)
            depth = max(depth, len(stack))
            if depth > MAX_DEPTH:
                return None
            expect = "value_or_close" if punct == "[" else "key_or_close"
            continue
        elif punct is not None:  # , or : where a value belongs
            return None
        elif match.group("number") is not None and math.isinf(float(match.group("number"))):
            return None  # Go: cannot unmarshal number into float64
        if not stack:  # the value is complete: only whitespace may follow
            return depth if _SPACE.fullmatch(text, pos) else None
        expect = "comma_or_close"
