"""One target's probe loop: sleep → probe under timeout → hand the result to the engine.

No health decisions here (they are the core's ``next_delay`` and ``apply_result``), and no
state: the engine is the single writer. Cancelling the task stops the loop; a probe in
flight is cancelled too, kills its processes, and its result is dropped (moby's monitor).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vigil._clock import Clock
from vigil._config import HealthcheckConfig
from vigil._results import Outcome, ProbeResult
from vigil._state import HealthState, next_delay
from vigil.probes import Probe, ProbeReport

_log = logging.getLogger("vigil")


async def run_monitor(
    *,
    name: str,
    check: HealthcheckConfig,
    probe: Probe,
    clock: Clock,
    read_state: Callable[[], HealthState],
    apply: Callable[[ProbeResult], None],
    after: asyncio.Task[None] | None = None,
) -> None:
    """Probe ``name`` forever; ``after`` is a previous monitor to wait out first, so two
    probes of one target never overlap."""
    if after is not None:
        await _wait_out(after)
    timeout = check.effective_timeout
    while True:
        await clock.sleep_ns(next_delay(read_state(), check, clock.now_ns()))
        start = clock.now_ns()
        report = await _run_probe(name, probe, timeout, clock)
        apply(ProbeResult(start, clock.now_ns(), report.exit_code, report.output, report.outcome))


async def _run_probe(name: str, probe: Probe, timeout_ns: int, clock: Clock) -> ProbeReport:
    try:
        return await probe.run(timeout_ns=timeout_ns, clock=clock)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a broken probe is a failed check, never a dead monitor
        _log.warning("probe of %s raised %r", name, exc)
        return ProbeReport(Outcome.ERROR, -1, str(exc) or type(exc).__name__)


async def _wait_out(task: asyncio.Task[None]) -> None:
    if not task.done():
        await asyncio.wait([task])
