"""Probes: how a target is asked whether it is healthy.

A probe never raises for a failing target: it returns a ``ProbeReport`` whose outcome says
whether the target passed, failed, timed out or could not be probed. The monitor stamps it
with Start/End and hands it to the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vigil.core.probespec import ExecSpec, GrpcSpec, HttpSpec, ProbeSpec, TcpSpec
from vigil.core.results import Outcome, OutputBuffer
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.runtime.clock import Clock


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """What one probe run found, before the monitor stamps Start and End."""

    outcome: Outcome
    exit_code: int
    output: str


def capped_report(outcome: Outcome, exit_code: int, output: str) -> ProbeReport:
    """A report whose output is capped like an exec probe's (4096 bytes, then ``...``):
    network probes quote URLs and server-chosen values (a redirect's Location)."""
    if len(output) > 1024:  # only long texts can exceed 4096 bytes of UTF-8
        buffer = OutputBuffer()
        buffer.write(output.encode("utf-8", "surrogateescape"))
        output = buffer.text()
    return ProbeReport(outcome, exit_code, output)


@runtime_checkable
class Probe(Protocol):
    """Anything that can check a target once, within a timeout measured on ``clock``."""

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport: ...


def build_probe(spec: ProbeSpec, *, target_id: str = "") -> Probe:
    """The probe that runs ``spec`` for the target ``target_id`` (named in error texts as
    Docker names the container ID)."""
    # Imported here: a cycle otherwise (each probe module needs ProbeReport).
    if isinstance(spec, ExecSpec):
        from vigil.probes.exec import ExecProbe

        return ExecProbe.from_spec(spec, target_id=target_id)
    if isinstance(spec, HttpSpec):
        from vigil.probes.http import HttpProbe

        return HttpProbe(spec)
    if isinstance(spec, TcpSpec):
        from vigil.probes.tcp import TcpProbe

        return TcpProbe(spec)
    if isinstance(spec, GrpcSpec):
        from vigil.probes.grpc import MISSING, GrpcProbe, grpc_modules

        if grpc_modules() is None:  # refused at create, not once per interval
            raise ConfigError(ConfigProblem("healthcheck.test", MISSING))
        return GrpcProbe(spec)
    raise TypeError(f"no probe for {type(spec).__name__}")  # pragma: no cover - union is closed


__all__ = ["Probe", "ProbeReport", "build_probe", "capped_report"]
