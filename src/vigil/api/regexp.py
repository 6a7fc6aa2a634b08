"""Docker's regular-expression filters in linear time: RE2, the engine Go's ``regexp`` is.

moby's ``filters.Args.Match`` runs ``regexp.MatchString`` (Go's RE2 syntax, no backtracking)
and skips a pattern that does not compile. Python's ``re`` backtracks: ``(a+)+b`` against 30
``a`` takes seconds and would stall the daemon's one event loop, so the API matches with
``google-re2`` instead. Where C++ RE2 accepts more than Go, the pattern is refused as Go
refuses it: ``\\C`` (any byte) is not Go syntax. A compiled pattern may use at most
``MAX_MEM`` (RE2's budget; one whose program does not fit is refused, as Go refuses an
"expression too large", at a lower size), and ``CACHED`` of them are kept, so a client
sending heavy patterns holds at most ~64 MiB (measured: 64 of ``[a-z]{1000}`` take 19 MiB;
with RE2's default 8 MiB budget they took 132 MiB).
"""

from __future__ import annotations

import functools
import re
from typing import Protocol, cast

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


MAX_MEM = 1 << 20
CACHED = 64
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # an invalid pattern is the client's business, not a log line
_OPTIONS.max_mem = MAX_MEM
_GO_REFUSES = re.compile(r"(?<!\\)(?:\\\\)*\\C")  # an unescaped \C


@functools.lru_cache(maxsize=CACHED)
def compile_go(pattern: str) -> Pattern | None:
    """``pattern`` compiled as Go would accept it, or None where Go's ``regexp`` errors."""
    if _GO_REFUSES.search(pattern):
        return None
    try:
        return cast(Pattern, re2.compile(pattern, _OPTIONS))
    except (re2.error, UnicodeError, TypeError):
        return None


def go_search(pattern: str, text: str) -> bool:
    """Go's ``regexp.MatchString(pattern, text)``, an invalid pattern matching nothing."""
    compiled = compile_go(pattern)
    return compiled is not None and compiled.search(text) is not None
