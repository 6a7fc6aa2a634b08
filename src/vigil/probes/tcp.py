"""The TCP probe (``["TCP", "HOST:PORT"]``): passes when a connection is accepted, as
Kubernetes' ``tcpSocket`` probe does; the connection is closed at once, nothing is sent.

A refused or unreachable address is a failed check (ExitCode 1) with Go's dial text; the
whole probe, name resolution included, is bounded by the timeout on the injected clock.
"""

from __future__ import annotations

from vigil.core.probespec import TcpSpec
from vigil.core.results import Outcome, timeout_output
from vigil.probes import ProbeReport, capped_report
from vigil.probes.cycles import release_frames
from vigil.probes.dial import DialError, dial, join_host_port
from vigil.runtime.clock import Clock, Deadline


class TcpProbe:
    """Implements the ``Probe`` protocol for a ``TcpSpec``."""

    __slots__ = ("_spec",)

    def __init__(self, spec: TcpSpec) -> None:
        self._spec = spec

    def __repr__(self) -> str:
        return f"TcpProbe({join_host_port(self._spec.host, self._spec.port)!r})"

    async def run(self, *, timeout_ns: int, clock: Clock) -> ProbeReport:
        start = clock.now_ns()
        try:
            async with Deadline(clock, timeout_ns):
                sock = await dial(self._spec.host, self._spec.port)
        except TimeoutError:
            return capped_report(Outcome.TIMEOUT, -1, timeout_output(timeout_ns, ""))
        except DialError as error:
            release_frames(error)
            return capped_report(Outcome.FAIL, 1, str(error))
        try:
            peer = sock.getpeername()
        except OSError:  # reset between accept and now: it did accept
            peer = (self._spec.host, self._spec.port)
        finally:
            sock.close()
        elapsed_ms = (clock.now_ns() - start) // 1_000_000
        where = join_host_port(str(peer[0]), int(peer[1]))
        return capped_report(Outcome.PASS, 0, f"connected to {where} in {elapsed_ms}ms")
