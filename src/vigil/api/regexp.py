"""Docker's regular-expression filters in linear time: RE2, the engine Go's ``regexp`` is.

moby's ``filters.Args.Match`` runs ``regexp.MatchString`` (Go's RE2 syntax, no backtracking)
and skips a pattern that does not compile. Python's ``re`` backtracks: ``(a+)+b`` against 30
``a`` takes seconds and would stall the daemon's one event loop, so the API matches with
``google-re2`` instead. Where C++ RE2 accepts more than Go, the pattern is refused as Go
refuses it: ``\\C`` (any byte) is not Go syntax. Compiled patterns are cached; RE2's memory
budget bounds what one pattern may cost, and one over it is refused (Go: "expression too
large").
"""

from __future__ import annotations

import functools
import re
from typing import Protocol, cast

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # an invalid pattern is the client's business, not a log line
_GO_REFUSES = re.compile(r"(?<!\\)(?:\\\\)*\\C")  # an unescaped \C


@functools.lru_cache(maxsize=256)
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
