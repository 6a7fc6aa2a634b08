"""Probes leave no reference cycles behind, passing or failing: what they allocate is freed
by reference counting, so at 1,000 probes/s the garbage collector has nothing of theirs to
find (bench/README.md, "lateness tail"). Real servers and processes; the collector is the
judge (``DEBUG_SAVEALL`` keeps what it would have freed)."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType

import aiohttp
import pytest
from tests.probes.netservers import GENEROUS_S, closed_port

from vigil.core.probespec import ExecSpec, HttpSpec, TcpSpec
from vigil.core.results import Outcome
from vigil.probes import Probe, build_probe
from vigil.probes.cycles import release_frames
from vigil.probes.http import close_sessions
from vigil.runtime.clock import SystemClock

PROBES = 20
OURS = ("asyncio", "aiohttp", "aiohappyeyeballs", "vigil")  # a thread server's garbage is not


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, closed by the server

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def thread_server() -> Iterator[str]:
    """A plain HTTP server on a thread: no event-loop transports of its own to confuse the
    count."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(GENEROUS_S)


def _where(thing: object) -> str:
    if isinstance(thing, FrameType):
        return thing.f_code.co_filename
    if isinstance(thing, TracebackType):
        return thing.tb_frame.f_code.co_filename
    return type(thing).__module__


def cyclic_garbage(run_once: Callable[[], Awaitable[object]]) -> list[str]:
    """Run ``run_once`` once to warm up, then ``PROBES`` times; the types of asyncio's,
    aiohttp's and vigil's objects that only the collector could free."""

    async def main() -> list[str]:
        await run_once()  # sessions, imports, the spawn thread: created once, kept
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(PROBES):
                await run_once()
            gc.collect()
            return [type(thing).__qualname__ for thing in gc.garbage
                    if any(part in _where(thing) for part in OURS)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            await close_sessions()

    return asyncio.run(main())


def probing(probe: Probe, outcome: Outcome) -> Callable[[], Awaitable[object]]:
    async def run_once() -> None:
        report = await probe.run(timeout_ns=int(GENEROUS_S * 1e9), clock=SystemClock())
        assert report.outcome == outcome, report.output

    return run_once


def test_a_passing_http_probe_leaves_no_cycle() -> None:
    with thread_server() as url:
        assert cyclic_garbage(probing(build_probe(HttpSpec(url)), Outcome.PASS)) == []


def test_the_control_plain_aiohttp_connections_do_leave_cycles() -> None:
    """What the probes' connector fixes (CPython 3.11's selector transport): if this starts
    failing, CPython fixed it and ``vigil.probes.httpconn`` can go."""
    with thread_server() as url:

        async def get() -> None:
            connector = aiohttp.TCPConnector(force_close=True)
            async with (aiohttp.ClientSession(connector=connector) as session,
                        session.get(url) as response):
                assert response.status == 200

        assert cyclic_garbage(get).count("_SelectorSocketTransport") >= PROBES


def test_a_refused_http_probe_leaves_no_cycle() -> None:
    probe = build_probe(HttpSpec(f"http://127.0.0.1:{closed_port()}/"))
    assert cyclic_garbage(probing(probe, Outcome.FAIL)) == []


def test_a_timed_out_http_probe_leaves_no_cycle() -> None:
    async def run_once() -> None:
        with socket_listener() as port:  # handshakes completed by the kernel, never answered
            probe = build_probe(HttpSpec(f"http://127.0.0.1:{port}/"))
            report = await probe.run(timeout_ns=20_000_000, clock=SystemClock())
            assert report.outcome == Outcome.TIMEOUT, report.output

    assert cyclic_garbage(run_once) == []


def test_a_refused_tcp_probe_leaves_no_cycle() -> None:
    probe = build_probe(TcpSpec("127.0.0.1", closed_port()))
    assert cyclic_garbage(probing(probe, Outcome.FAIL)) == []


def test_exec_probes_leave_no_cycle_passing_or_failing() -> None:
    assert cyclic_garbage(probing(build_probe(ExecSpec(("CMD", "true"))), Outcome.PASS)) == []
    assert cyclic_garbage(probing(build_probe(ExecSpec(("CMD", "false"))), Outcome.FAIL)) == []


@contextmanager
def socket_listener() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def _raise_with_a_local() -> None:
    payload = ["held by the frame"]
    raise KeyError(payload[0])


def test_release_frames_clears_the_frames_the_exception_left() -> None:
    try:
        _raise_with_a_local()
    except KeyError as error:
        caught = error
    assert caught.__traceback__ is not None
    assert caught.__traceback__.tb_next is not None
    left = caught.__traceback__.tb_next.tb_frame
    assert "payload" in left.f_locals
    release_frames(caught)
    assert left.f_locals == {}


def test_release_frames_leaves_a_suspended_coroutine_that_caught_it_alive() -> None:
    caught: list[BaseException] = []

    async def keeper() -> str:
        try:
            raise ValueError("kept")
        except ValueError as error:
            caught.append(error)
        await asyncio.sleep(0)  # suspended here, holding the frame that caught it
        return "still alive"

    coroutine = keeper()
    coroutine.send(None)
    release_frames(caught[0])
    with pytest.raises(StopIteration) as finished:
        coroutine.send(None)
    assert finished.value.value == "still alive"
