"""The TCP and gRPC probes against real listeners on loopback."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tests.probes.netservers import GENEROUS_S, closed_port, run_real

from vigil.core.probespec import GrpcSpec, TcpSpec
from vigil.core.results import Outcome
from vigil.exceptions import ConfigError
from vigil.go.duration import MILLISECOND
from vigil.probes import ProbeReport, build_probe
from vigil.probes.grpc import MISSING, GrpcProbe
from vigil.probes.tcp import TcpProbe
from vigil.testing import FakeClock

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# -- TCP -----------------------------------------------------------------------------------


def test_tcp_passes_when_the_connection_is_accepted() -> None:
    async def scenario() -> ProbeReport:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            report = await run_real(build_probe(TcpSpec("127.0.0.1", port)))
        assert report.output.startswith(f"connected to 127.0.0.1:{port} in ")
        return report

    report = run(scenario())
    assert (report.outcome, report.exit_code) == (Outcome.PASS, 0)


def test_tcp_refused_is_gos_dial_text() -> None:
    port = closed_port()
    report = run(run_real(TcpProbe(TcpSpec("127.0.0.1", port))))
    assert (report.outcome, report.exit_code) == (Outcome.FAIL, 1)
    assert report.output == f"dial tcp 127.0.0.1:{port}: connect: connection refused"


def test_tcp_to_an_unknown_name_is_gos_lookup_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver's answer is faked: a real lookup would query a DNS server off loopback."""

    async def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def scenario() -> ProbeReport:
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
        return await run_real(TcpProbe(TcpSpec("db.example", 80)))

    report = run(scenario())
    assert (report.outcome, report.exit_code) == (Outcome.FAIL, 1)
    assert report.output == "dial tcp: lookup db.example: no such host"


def test_tcp_timeout_against_a_full_backlog() -> None:
    """A listener that never accepts, its queue full: the kernel drops our SYN, so the
    connect hangs until the probe's timeout (on the fake clock) ends it."""

    async def scenario() -> tuple[ProbeReport, bool]:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            fillers = [socket.socket() for _ in range(4)]
            try:
                for filler in fillers:
                    filler.setblocking(False)
                    filler.connect_ex(listener.getsockname())
                clock = FakeClock()
                port = listener.getsockname()[1]
                task = asyncio.ensure_future(
                    TcpProbe(TcpSpec("127.0.0.1", port)).run(
                        timeout_ns=300 * MILLISECOND, clock=clock)
                )
                for _ in range(50):  # the probe armed its deadline and is dialling
                    await asyncio.sleep(0)
                assert clock.next_deadline is not None
                hung = not task.done()
                clock.advance(300 * MILLISECOND)
                return await asyncio.wait_for(task, GENEROUS_S), hung
            finally:
                for filler in fillers:
                    filler.close()

    report, hung = run(scenario())
    assert hung
    assert (report.outcome, report.exit_code) == (Outcome.TIMEOUT, -1)
    assert report.output == "Health check exceeded timeout (300ms)"


# -- gRPC ----------------------------------------------------------------------------------


@asynccontextmanager
async def grpc_health_server() -> AsyncIterator[tuple[int, health.aio.HealthServicer]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port, servicer
    finally:
        await server.stop(None)


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_grpc_follows_the_servers_status() -> None:
    async def scenario() -> list[ProbeReport]:
        async with grpc_health_server() as (port, servicer):
            server_probe = build_probe(GrpcSpec("127.0.0.1", port))
            service_probe = build_probe(GrpcSpec("127.0.0.1", port, "shop.Cart"))
            await servicer.set("", SERVING)
            await servicer.set("shop.Cart", SERVING)
            reports = [await run_real(server_probe), await run_real(service_probe)]
            await servicer.set("shop.Cart", NOT_SERVING)
            reports.append(await run_real(service_probe))
            await servicer.set("shop.Cart", SERVING)
            reports.append(await run_real(service_probe))
            reports.append(await run_real(build_probe(GrpcSpec("127.0.0.1", port, "nope"))))
            return reports

    reports = run(scenario())
    assert [(r.exit_code, r.output) for r in reports[:4]] == [
        (0, "SERVING"), (0, "SERVING"), (1, "NOT_SERVING"), (0, "SERVING"),
    ]
    assert reports[4].exit_code == 1
    assert reports[4].output == 'rpc error: code = NotFound desc = unknown service "nope"'


def test_grpc_without_a_server_is_unavailable() -> None:
    port = closed_port()
    report = run(run_real(GrpcProbe(GrpcSpec("127.0.0.1", port))))
    assert report.exit_code == 1
    assert report.output.startswith("rpc error: code = Unavailable desc = ")


def test_grpc_that_never_answers_times_out() -> None:
    from tests.probes.netservers import never_answer, raw_server

    async def scenario() -> ProbeReport:
        async with raw_server(never_answer) as (port, accepted):
            from tests.probes.netservers import run_until_held

            report, _ = await run_until_held(
                GrpcProbe(GrpcSpec("127.0.0.1", port)), accepted, 500 * MILLISECOND)
            return report

    report = run(scenario())
    assert (report.outcome, report.output) == (
        Outcome.TIMEOUT, "Health check exceeded timeout (500ms)")


def test_without_grpcio_a_grpc_test_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "grpc_health.v1", None)  # import fails as if missing
    with pytest.raises(ConfigError) as error:
        build_probe(GrpcSpec("127.0.0.1", 1))
    assert str(error.value) == f"healthcheck.test: {MISSING}"
    report = run(run_real(GrpcProbe(GrpcSpec("127.0.0.1", 1))))
    assert (report.outcome, report.exit_code, report.output) == (Outcome.ERROR, -1, MISSING)
