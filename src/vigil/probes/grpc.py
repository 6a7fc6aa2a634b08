"""The gRPC probe (``["GRPC", "HOST:PORT"[, SERVICE]]``): one ``grpc.health.v1.Health/Check``
call over a fresh plaintext channel, as Kubernetes' ``grpc`` probe does.

``SERVING`` passes; ``NOT_SERVING``, ``UNKNOWN`` and ``SERVICE_UNKNOWN`` fail with the status
name as output; an RPC error fails with grpc-go's text (``rpc error: code = Unavailable desc =
...``), as ``grpc_health_probe`` prints it. grpcio is an optional extra (``vigil[grpc]``),
imported at the first probe: without it the probe cannot run (ExitCode -1) and says how to
install it, and ``build_probe`` refuses a GRPC test up front with the same text.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from vigil.core.probespec import GrpcSpec
from vigil.core.results import Outcome, timeout_output
from vigil.go.strconv import go_quote
from vigil.probes import ProbeReport, capped_report
from vigil.probes.dial import join_host_port
from vigil.runtime.clock import Clock, Deadline

MISSING = (
    "GRPC health checks need grpcio and grpcio-health-checking: "
    "pip install 'vigil[grpc]'"
)
MAX_MESSAGE_BYTES = 64 * 1024  # a health answer is a few bytes; a hostile server gets no more


def grpc_modules() -> tuple[ModuleType, ModuleType, ModuleType] | None:
    """``(grpc.aio, health_pb2, health_pb2_grpc)``, or None when the extra is missing."""
    try:
        import grpc.aio
        from grpc_health.v1 import health_pb2, health_pb2_grpc
    except ImportError:
        return None
    return grpc.aio, health_pb2, health_pb2_grpc


def _camel(code_name: str) -> str:
    """grpc-go's code names: ``UNAVAILABLE`` → ``Unavailable``, ``NOT_FOUND`` → ``NotFound``."""
    return "".join(part.capitalize() for part in code_name.split("_"))


class GrpcProbe:
    """Implements the ``Probe`` protocol for a ``GrpcSpec``."""

    __slots__ = ("_service", "_target")

    def __init__(self, spec: GrpcSpec) -> None:
        self._target = join_host_port(spec.host, spec.port)
        self._service = spec.service

    def __repr__(self) -> str:
        return f"GrpcProbe({self._target!r}, {self._service!r})"

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        modules = grpc_modules()
        if modules is None:
            return capped_report(Outcome.ERROR, -1, MISSING)
        try:
            async with Deadline(clock, timeout_ns):
                return await self._check(*modules)
        except TimeoutError:
            return capped_report(Outcome.TIMEOUT, -1, timeout_output(timeout_ns, ""))

    async def _check(self, aio: Any, health_pb2: Any, health_pb2_grpc: Any) -> ProbeReport:
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.use_local_subchannel_pool", 1),  # a fresh connection, never a shared one
            ("grpc.enable_retries", 0),
        ]
        channel = aio.insecure_channel(self._target, options=options)
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service=self._service)
            try:
                response = await stub.Check(request, wait_for_ready=False)
            except aio.AioRpcError as error:
                code = _camel(error.code().name)
                details = error.details() or ""
                if code == "NotFound" and not details:  # the health servicer's answer
                    details = f"unknown service {go_quote(self._service)}"
                return capped_report(Outcome.FAIL, 1, f"rpc error: code = {code} desc = {details}")
        finally:
            await channel.close()
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        if status == "SERVING":
            return capped_report(Outcome.PASS, 0, status)
        return capped_report(Outcome.FAIL, 1, status)
