"""Docker's multiplexed stdout/stderr stream (logs and exec of a container without a TTY).

Each frame is an 8-byte header, ``[stream, 0, 0, 0, size (4 bytes, big-endian)]``, then
``size`` bytes; stream 0 is stdin, 1 stdout, 2 stderr (moby ``pkg/stdcopy``). Pure: bytes
in, frames out, however the bytes were cut by the network.
"""

from __future__ import annotations

__all__ = ["STDERR", "STDOUT", "Demuxer"]

STDOUT = 1
STDERR = 2
_HEADER = 8


class Demuxer:
    """Feed it bytes as they arrive; it returns every frame completed so far."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        while len(self._buffer) >= _HEADER:
            size = int.from_bytes(self._buffer[4:_HEADER], "big")
            if len(self._buffer) < _HEADER + size:
                break
            stream = self._buffer[0]
            frames.append((stream, bytes(self._buffer[_HEADER:_HEADER + size])))
            del self._buffer[:_HEADER + size]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame (left over when the stream ended: it was cut)."""
        return len(self._buffer)
