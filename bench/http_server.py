"""A small HTTP/1.1 server for the network-probe benchmarks, run as its own process so it
never shares the event loop being measured. Bench use only.

    python bench/http_server.py PORT_FILE [WORKERS]

Listens on 127.0.0.1 (an ephemeral port, written to PORT_FILE), answers every request with
``200 OK`` and a 2-byte body, and closes the connection when the client asks (probes do).
WORKERS processes (default 2) accept on the one socket, so a server starved of CPU by the
machine's other jobs does not let its accept queue overflow (dropped SYNs come back only
after a 1 s retransmit). Every worker exits when the parent closes its stdin, so the server
never outlives the benchmark.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n"


class _Handler(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            close = b"connection: close" in head.lower()
            self.transport.write(_RESPONSE + (b"Connection: close\r\n" if close else b"")
                                 + b"\r\nok")
            if close:
                self.transport.close()
                return


async def _serve(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Handler, sock=sock, backlog=4096)
    stdin_closed = loop.create_future()
    loop.add_reader(0, lambda: stdin_closed.done() or (
        os.read(0, 4096) or stdin_closed.set_result(None)))
    async with server:
        await stdin_closed


def main() -> None:
    port_file = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    with open(port_file + ".tmp", "w") as file:
        file.write(str(sock.getsockname()[1]))
    for _ in range(min(max(workers, 1), 8) - 1):
        if os.fork() == 0:
            break  # a worker: the same socket, its own event loop
    else:
        os.rename(port_file + ".tmp", port_file)  # the first process, once all are forked
    asyncio.run(_serve(sock))


if __name__ == "__main__":
    main()
