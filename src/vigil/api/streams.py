"""Streamed answers (``/events``, ``/logs?follow=1``) and the long requests shutdown must end.

A stream writes each item as soon as its source yields it, and always releases the source
(subscription, log follower, ``until`` timer): when it ends, when the client disconnects and
when the server shuts down (``OpenStreams.close_all``).
"""

from __future__ import annotations

import re
import types
from collections.abc import AsyncGenerator, Callable, Generator

from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from vigil.docker.events import DaemonEvent
from vigil.runtime.clock import Cancellable, Clock
from vigil.runtime.stream import Subscription
from vigil.targets.logs import LogEntry, LogFollower

NDJSON = "application/x-ndjson"
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)")
_TAIL_CHUNK = 1000  # log lines per write when sending a tail
_EVENT_CHUNK = 256  # waiting events per write of the /events stream


class NDJSONResponse(JSONResponse):
    """The ``response_class`` of ``/events``, for its document only (the answer is a
    ``Stream``): FastAPI documents a route's ``response_model`` for ``JSONResponse`` classes,
    here as the shape of each line under Docker's media type."""

    media_type = NDJSON


class OpenStreams:
    """Long requests (streams, waits) that server shutdown must end at once."""

    def __init__(self) -> None:
        self._closers: set[Callable[[], object]] = set()
        self.closing = False

    def add(self, closer: Callable[[], object]) -> None:
        if self.closing:
            closer()
        self._closers.add(closer)

    def discard(self, closer: Callable[[], object]) -> None:
        self._closers.discard(closer)

    def close_all(self) -> None:
        self.closing = True
        for closer in tuple(self._closers):
            closer()


class Stream(StreamingResponse):
    """A streamed answer that always calls ``cleanup`` and closes its source."""

    def __init__(
        self,
        source: AsyncGenerator[bytes, None],
        *,
        media_type: str,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(source, media_type=media_type)
        self._source = source
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._cleanup is not None:
                self._cleanup()
            await self._source.aclose()


@types.coroutine
def _one_turn() -> Generator[None, None, None]:
    yield  # a bare yield: the task is scheduled again behind every ready callback


async def let_others_run() -> None:
    """Give the event loop one turn: every callback already ready (probes, other clients)
    runs before the caller goes on. No time passes: not a sleep."""
    await _one_turn()


def fixed_time(text: str) -> str:
    """A json-file time in Go's ``RFC3339NanoFixed`` (9 fraction digits), as moby's
    ``ContainerLogs`` prefixes lines with ``timestamps``."""
    match = _TIME.fullmatch(text)
    if match is None:
        return text
    return f"{match[1]}.{(match[2] or '').ljust(9, '0')}{match[3]}"


def _log_bytes(entry: LogEntry, stamped: bool) -> bytes:
    line = f"{fixed_time(entry.time)} {entry.log}" if stamped else entry.log
    return line.encode("utf-8")


async def log_chunks(
    entries: list[LogEntry],
    follower: LogFollower | None,
    streams: frozenset[str],
    stamped: bool,
) -> AsyncGenerator[bytes, None]:
    """The tail in large writes, then each followed line as it is logged."""
    lines = [_log_bytes(e, stamped) for e in entries if e.stream in streams]
    for start in range(0, len(lines), _TAIL_CHUNK):
        yield b"".join(lines[start : start + _TAIL_CHUNK])
    if follower is not None:
        async for entry in follower:
            if entry.stream in streams:
                yield _log_bytes(entry, stamped)


async def event_lines(
    subscription: Subscription[DaemonEvent], line: Callable[[DaemonEvent], bytes]
) -> AsyncGenerator[bytes, None]:
    """One NDJSON line per event (``line``: the event log's cached encoding); events already
    waiting go out in the same write (one chunk, one send) instead of one each, up to
    ``_EVENT_CHUNK``. After a full chunk (a long replay, a reader behind) the loop runs
    whatever else is ready first: probes and other clients are not held up by one stream."""
    async for event in subscription:
        lines = [line(event)]
        while len(lines) < _EVENT_CHUNK and (more := subscription.get_nowait()) is not None:
            lines.append(line(more))
        yield b"".join(lines)
        if len(lines) == _EVENT_CHUNK:
            await let_others_run()


def close_at(
    clock: Clock, subscription: Subscription[DaemonEvent], until_ns: int
) -> Cancellable | None:
    """Docker's ``until`` timer: the stream ends when ``until`` passes, events or not."""
    left = until_ns - clock.now_ns()
    if left <= 0:
        subscription.close("until reached")
        return None
    return clock.call_later_ns(left, lambda: subscription.close("until reached"))
