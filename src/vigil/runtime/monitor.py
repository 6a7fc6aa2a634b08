"""One target's probe loop: sleep → probe under timeout → hand the result to the engine.

No health decisions here (they are the core's ``next_delay`` and ``apply_result``), and no
state: the engine is the single writer. Cancelling the task stops the loop; a probe in
flight is cancelled too, kills its processes, and its result is dropped (moby's monitor).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vigil.core.config import HealthcheckConfig
from vigil.core.health import HealthState, next_delay
from vigil.core.results import Outcome, ProbeResult
from vigil.probes import Probe, ProbeReport
from vigil.runtime.clock import Clock

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
    starting: Callable[[], None] | None = None,
    first_delay_ns: int | None = None,
) -> None:
    """Probe ``name`` forever; ``after`` is a previous monitor to wait out first, so two
    probes of one target never overlap. ``starting`` is called as each probe begins (where
    moby counts ``health_checks_total``), whether or not it ends with a result.
    ``first_delay_ns`` replaces the first wait (a check taken over keeps its schedule)."""
    if after is not None:
        await _wait_out(after)
    timeout = check.effective_timeout
    now_ns = clock.now_ns
    while True:
        if first_delay_ns is not None:
            delay, first_delay_ns = first_delay_ns, None
        else:
            delay = next_delay(read_state(), check, now_ns())
        await clock.sleep_ns(delay)
        start = now_ns()
        if starting is not None:
            starting()
        try:
            report = await probe.run(timeout_ns=timeout, clock=clock)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken probe is a failed check, never a dead monitor
            _log.warning("probe of %s raised %r", name, exc)
            report = ProbeReport(Outcome.ERROR, -1, str(exc) or type(exc).__name__)
        apply(ProbeResult(start, now_ns(), report.exit_code, report.output, report.outcome))


async def _wait_out(task: asyncio.Task[None]) -> None:
    if not task.done():
        await asyncio.wait([task])
