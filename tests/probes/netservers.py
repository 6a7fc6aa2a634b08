"""Real servers on loopback for the network-probe tests, run in the test's own event loop."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from vigil.probes import Probe, ProbeReport
from vigil.runtime.clock import SystemClock
from vigil.testing import FakeClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GENEROUS_S = 30.0  # bounds every wait on a real event; never reached when things work


@asynccontextmanager
async def http_server(
    routes: dict[str, Handler], *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """An aiohttp server with ``routes`` (path -> handler); yields its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP server running ``serve`` per connection; yields its port and an event set once a
    connection was accepted."""
    accepted = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        accepted.set()
        try:
            await serve(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, accepted
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()  # holds the connection until the server closes


def slow_loris(
    body_started: asyncio.Event,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """Headers at once, then the body a byte at a time, never finishing."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nx")
        await writer.drain()
        body_started.set()
        for _ in range(10_000):  # bounded: 10,000 bytes at most
            await asyncio.sleep(0.01)
            writer.write(b"x")
            await writer.drain()

    return serve


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: refused until reused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_real(probe: Probe, timeout_s: float = GENEROUS_S) -> ProbeReport:
    """One probe on the system clock, with a timeout it never reaches when things work."""
    return await probe.run(timeout_ns=int(timeout_s * 1e9), clock=SystemClock())


async def run_until_held(
    probe: Probe, held: asyncio.Event, timeout_ns: int
) -> tuple[ProbeReport, FakeClock]:
    """Run ``probe`` on a FakeClock; once the server holds its connection (``held``), let the
    timeout pass. Deterministic: the only wait is on a real event, with a generous bound."""
    clock = FakeClock()
    task = asyncio.ensure_future(probe.run(timeout_ns=timeout_ns, clock=clock))
    await asyncio.wait_for(held.wait(), GENEROUS_S)
    for _ in range(100):  # let the probe get to waiting on the server
        await asyncio.sleep(0)
    clock.advance(timeout_ns)
    return await asyncio.wait_for(task, GENEROUS_S), clock
