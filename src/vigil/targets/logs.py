"""Per-service logs in Docker's ``json-file`` format, with tail and follow.

One JSON object per line, byte for byte as moby's ``jsonlog.JSONLogs.MarshalJSONBuf`` writes
them: ``{"log":"<line>\\n","stream":"stdout","time":"<RFC3339Nano, UTC>"}``. The ``log``
string is escaped as moby's ffjson writer does (``<>&`` and control characters as ``\\u00XX``
except ``\\n``/``\\r``; every invalid UTF-8 byte as ``\\ufffd``; U+2028/U+2029 escaped).

Lines are split as moby's log copier splits them: a line is logged with its newline when it
is complete; output without a newline is buffered until one arrives, until the buffer holds
16 KiB (that much is logged as a *partial* entry, without a newline) or until ``flush`` (the
stream closed: what is left is logged as a complete line, so it gets a newline).

Rotation (like ``--log-opt max-size=10m --log-opt max-file=2``): before an entry is written,
a file that has reached ``max_size`` bytes is renamed to ``<path>.1`` (older ``.N`` files
shift up, the oldest beyond ``max_files - 1`` is deleted) and a new file is started. A file
can therefore exceed ``max_size`` by one entry. ``max_size <= 0`` turns rotation off.

``tail(n)`` reads the files backwards block by block, so its cost follows ``n``, not the
file size. ``follow()`` is fed in memory by ``append``; nothing polls the file. To show the
last lines and then follow without a gap or a duplicate, call ``tail`` and ``follow`` with no
``await`` between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from vigil.go.timefmt import format_rfc3339nano

STDOUT = "stdout"
STDERR = "stderr"
MAX_LINE_BYTES = 16 * 1024  # moby logger copier defaultBufSize: longer lines are split
DEFAULT_MAX_SIZE = 10 * 1024 * 1024  # bytes per file before rotating
DEFAULT_MAX_FILES = 2  # the current file and one rotated file
FOLLOW_BACKLOG = 10_000  # entries kept for a slow follower; older ones are dropped
RETRY_EVERY = 1000  # entries dropped after a failed write between two attempts to write again
_TAIL_BLOCK = 64 * 1024
_log = logging.getLogger("vigil")

_LOG_ESCAPES: dict[int, str] = {c: f"\\u{c:04x}" for c in range(0x20)}
_LOG_ESCAPES.update(
    {
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("<"): "\\u003c",
        ord(">"): "\\u003e",
        ord("&"): "\\u0026",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)
# ``surrogateescape`` turns each invalid byte into one lone surrogate U+DC80..U+DCFF.
_LOG_ESCAPES.update({c: "\\ufffd" for c in range(0xDC80, 0xDD00)})
_INVALID_TO_REPLACEMENT = {c: "\ufffd" for c in range(0xDC80, 0xDD00)}


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One json-file entry: the text (with its newline unless partial), stream and time."""

    log: str
    stream: str
    time: str

    @property
    def partial(self) -> bool:
        """True for a piece of a line longer than 16 KiB (no newline at the end)."""
        return not self.log.endswith("\n")


def encode_entry(line: bytes, stream: str, time_text: str) -> tuple[bytes, LogEntry]:
    """The json-file line for ``line`` (which already ends with its newline, if any)."""
    text = line.decode("utf-8", "surrogateescape")
    encoded = (
        '{"log":"' + text.translate(_LOG_ESCAPES) + '","stream":"' + stream + '","time":"'
        f'{time_text}"}}\n'
    )
    entry = LogEntry(text.translate(_INVALID_TO_REPLACEMENT), stream, time_text)
    return encoded.encode("utf-8"), entry


def decode_entry(raw: bytes) -> LogEntry | None:
    """Parse one json-file line; None for a damaged one (a torn write after a crash)."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return LogEntry(str(obj.get("log", "")), str(obj.get("stream", "")), str(obj.get("time", "")))


class LogFollower:
    """Async iterator over entries appended after it was created. Ends when the log closes.

    A follower that falls more than ``FOLLOW_BACKLOG`` entries behind loses the oldest ones
    (counted in ``dropped``) rather than growing the daemon's memory.
    """

    def __init__(self, log: ServiceLog) -> None:
        self._log = log
        self._queue: deque[LogEntry] = deque(maxlen=FOLLOW_BACKLOG)
        self._wakeup = asyncio.Event()
        self._ended = False
        self.dropped = 0

    def __aiter__(self) -> LogFollower:
        return self

    async def __anext__(self) -> LogEntry:
        while not self._queue:
            if self._ended:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()

    def close(self) -> None:
        """Stop following; entries already queued are still returned."""
        self._log._followers.discard(self)
        self._end()

    def _push(self, entry: LogEntry) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(entry)
        self._wakeup.set()

    def _end(self) -> None:
        self._ended = True
        self._wakeup.set()


class ServiceLog:
    """The log of one service: ``append`` output, read it back with ``tail``/``follow``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
    ) -> None:
        self.path = Path(path)
        self.max_size = max_size
        self.max_files = max(max_files, 1)
        self._fd: int | None = None
        self._size = 0
        self._pending: dict[str, bytearray] = {}
        self._followers: set[LogFollower] = set()
        self._closed = False
        self.failure: str | None = None  # why the file cannot be written now, or None
        self.lost = 0  # entries not written to the file since its last failure

    @property
    def problem(self) -> str:
        """One line for ``inspect`` while the file cannot be written, else empty."""
        if self.failure is None:
            return ""
        return f"log file {self.path}: {self.failure}; {self.lost} entries not saved"

    def append(self, stream: str, data: bytes, now_ns: int) -> None:
        """Log ``data`` read from ``stream``: every complete line, and 16 KiB pieces."""
        pending = self._pending.setdefault(stream, bytearray())
        pending += data
        start = 0
        time_text = ""
        while True:
            newline = pending.find(b"\n", start, start + MAX_LINE_BYTES)
            if newline >= 0:
                end, rest = newline + 1, newline + 1
            elif len(pending) - start >= MAX_LINE_BYTES:
                end = rest = start + MAX_LINE_BYTES
            else:
                break
            time_text = time_text or format_rfc3339nano(now_ns, utc=True)
            self._write(bytes(pending[start:end]), stream, time_text)
            start = rest
        del pending[:start]

    def flush(self, now_ns: int, stream: str | None = None) -> None:
        """Log what is buffered without a newline (for ``stream``, or all) as complete lines."""
        streams = [stream] if stream is not None else list(self._pending)
        for name in streams:
            pending = self._pending.pop(name, None)
            if pending:
                self._write(bytes(pending) + b"\n", name, format_rfc3339nano(now_ns, utc=True))

    def tail(self, n: int | None = None) -> list[LogEntry]:
        """The last ``n`` entries, oldest first (``None`` or negative: all of them)."""
        if n == 0:
            return []
        limit = None if n is None or n < 0 else n
        raw: list[bytes] = []  # newest first
        for path in self._files_newest_first():
            want = None if limit is None else limit - len(raw)
            raw.extend(_lines_backwards(path, want))
            if limit is not None and len(raw) >= limit:
                break
        entries = (decode_entry(line) for line in reversed(raw))
        return [entry for entry in entries if entry is not None]

    def follow(self) -> LogFollower:
        """Entries appended from now on; ends when the log is closed."""
        follower = LogFollower(self)
        if self._closed:
            follower._end()
        else:
            self._followers.add(follower)
        return follower

    def close(self) -> None:
        """Close the file and end every follower. Unflushed partial output is dropped."""
        self._closed = True
        if self._fd is not None:
            with contextlib.suppress(OSError):  # EIO on close: nothing left to save anyway
                os.close(self._fd)
            self._fd = None
        for follower in list(self._followers):
            follower._end()
        self._followers.clear()

    def _write(self, line: bytes, stream: str, time_text: str) -> None:
        encoded, entry = encode_entry(line, stream, time_text)
        if not self._closed:
            self._save(encoded)
        for follower in self._followers:
            follower._push(entry)

    def _save(self, encoded: bytes) -> None:
        """Write one entry to the file. A failing file system (full, read-only, a name too
        long, EIO) costs this log its file, never the daemon: the entry is counted as lost,
        the failure logged once, and writing is tried again every ``RETRY_EVERY`` entries."""
        if self.failure is not None and self.lost % RETRY_EVERY:
            self.lost += 1
            return
        try:
            self._rotate_if_full()
            fd = self._open()
            os.write(fd, encoded)
        except OSError as error:
            self._failed(error)
            return
        self._size += len(encoded)
        if self.failure is not None:
            _log.warning("%s: writing again after %d lost entries", self.path, self.lost)
            self.failure, self.lost = None, 0

    def _failed(self, error: OSError) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.failure is None:
            self.failure = error.strerror or type(error).__name__
            _log.warning(
                "%s: cannot write the service's log (%s): its output is not saved (followers "
                "still get it) until a write succeeds",
                self.path,
                self.failure,
            )
        self.lost += 1

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o600)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _rotate_if_full(self) -> None:
        if self.max_size <= 0:
            return
        self._open()
        if self._size < self.max_size:
            return
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.max_files == 1:
            self.path.unlink(missing_ok=True)
            return
        for index in range(self.max_files - 1, 0, -1):
            older = self._rotated(index)
            source = self.path if index == 1 else self._rotated(index - 1)
            with contextlib.suppress(FileNotFoundError):
                os.replace(source, older)

    def _rotated(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def _files_newest_first(self) -> list[Path]:
        paths = [self.path] + [self._rotated(i) for i in range(1, self.max_files)]
        return [path for path in paths if _exists(path)]


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, EIO: nothing readable there
        return False


def _lines_backwards(path: Path, limit: int | None) -> list[bytes]:
    """Up to ``limit`` non-empty lines of ``path``, newest first, read from the end."""
    lines: list[bytes] = []
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError:  # gone, or unreadable (the write side has reported it)
        return lines
    try:
        position = handle.seek(0, os.SEEK_END)
        carry = b""
        while position > 0 and (limit is None or len(lines) < limit):
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            block = handle.read(step) + carry
            parts = block.split(b"\n")
            carry = parts[0] if position > 0 else b""
            complete = parts[1:] if position > 0 else parts
            lines.extend(part for part in reversed(complete) if part)
    except OSError:  # EIO half way: what was read is still the newest lines
        pass
    finally:
        handle.close()
    return lines if limit is None else lines[:limit]
