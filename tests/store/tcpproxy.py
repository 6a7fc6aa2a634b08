"""A loopback TCP proxy a test controls: ``cut`` (the server went away: every connection is
reset, new ones refused), ``blackhole`` (the network went silent: bytes are swallowed,
nothing answers) and ``restore``. Every thread stops with ``close``; waits are bounded."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from types import TracebackType

FORWARD, CUT, BLACKHOLE = "forward", "cut", "blackhole"
_TICK_S = 0.05  # how often idle threads look at the mode


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a crashed server's kernel would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = FORWARD
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_TICK_S)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._spawn(self._accept)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def cut(self) -> None:
        with self._lock:
            self.mode = CUT
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def blackhole(self) -> None:
        with self._lock:
            self.mode = BLACKHOLE

    def restore(self) -> None:
        """Forward again; connections that lived through a black hole are reset (their
        streams lost bytes)."""
        if self.mode == BLACKHOLE:
            self.cut()
        with self._lock:
            self.mode = FORWARD

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._listener.close()
        for thread in self._threads:
            thread.join(10)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == CUT:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self.mode == CUT:  # cut while this one was connecting
                    _reset(client)
                    _reset(server)
                    continue
                self._pairs.append((client, server))
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([src], [], [], _TICK_S)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if self.mode == BLACKHOLE:
                    continue  # swallowed
                dst.sendall(data)
            except (OSError, ValueError):  # the other side, or cut(), closed it
                return
