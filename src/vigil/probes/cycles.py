"""Keeping failed probes from leaving reference cycles behind.

An exception's traceback keeps the frames it went through, and a frame that held the
exception (or the one it was raised from) in a variable closes a cycle that only the
garbage collector can free: ~40 objects per refused HTTP probe, ~7 per refused TCP dial.
A service that is down is probed as often as one that is up, so these add up to what the
collector has to walk (bench/README.md, "lateness tail").
"""

from __future__ import annotations

import traceback

_MAX_CHAIN = 16  # causes and contexts followed; a chain is rarely longer than three


def release_frames(error: BaseException) -> None:
    """Clear the locals of every finished frame in ``error``'s tracebacks (its own and those
    of its causes and contexts). Call once its text has been taken; frames still running
    (the caller's) are left alone."""
    current: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if current is None:
            return
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__
