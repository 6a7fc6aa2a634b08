"""Keeping failed probes from leaving reference cycles behind.

An exception's traceback keeps the frames it went through, and a frame that held the
exception (or the one it was raised from) in a variable closes a cycle that only the
garbage collector can free: ~40 objects per refused HTTP probe, ~7 per refused TCP dial.
A service that is down is probed as often as one that is up, so these add up to what the
collector has to walk (bench/README.md, "lateness tail").
"""

from __future__ import annotations

import contextlib

_MAX_CHAIN = 16  # causes and contexts followed; a chain is rarely longer than three


def release_frames(error: BaseException) -> None:
    """Clear the locals of the finished frames in ``error``'s tracebacks (its own and those
    of its causes and contexts). Call once its text has been taken.

    A traceback's first frame is where the exception was caught, which may still be running
    or, for a coroutine, suspended (clearing would close it): it is left alone. Every later
    one is a frame the exception propagated out of, so it has finished."""
    current: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if current is None:
            return
        entry = current.__traceback__.tb_next if current.__traceback__ is not None else None
        while entry is not None:
            with contextlib.suppress(RuntimeError):  # still executing (a re-entered frame)
                entry.tb_frame.clear()
            entry = entry.tb_next
        current = current.__cause__ or current.__context__
