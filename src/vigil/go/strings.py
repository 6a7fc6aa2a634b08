"""Go's ``strings.TrimSpace`` (``unicode.IsSpace`` differs from Python's ``str.strip()``,
which also trims U+001C-U+001F), and lone surrogates: a JSON ``\\ud800`` escape or a
``surrogateescape``d byte has no UTF-8 form, so Go's decoders make them U+FFFD."""

from __future__ import annotations

import re

SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    return LONE_SURROGATE.search(text) is not None


def replace_lone_surrogates(text: str) -> str:
    """Each lone surrogate as U+FFFD, as Go's JSON decoder does."""
    return LONE_SURROGATE.sub("\ufffd", text)


def trim_space(text: str) -> str:
    """``strings.TrimSpace(text)``."""
    return text.strip(SPACES)
