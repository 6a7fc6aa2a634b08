"""What a daemon restart brings back from the history store: each service's Health (status,
failing streak and the Log of its last 5 results), as Docker keeps ``State.Health`` in
the container's state on disk.

The restored status is the one a stopped service shows (moby's ``CloseMonitorChannel``:
``unhealthy``, streak and Log kept), since every process of the previous daemon is gone;
a service that starts again goes ``starting`` with streak 0 and the Log kept, as the
newest Docker re-initialises a live-restored container's monitor (moby#47051).
"""

from __future__ import annotations

import asyncio
import logging

from vigil.core import health as _health
from vigil.core.config import MAX_LOG_ENTRIES
from vigil.core.events import ProbeCompleted
from vigil.core.health import HealthState
from vigil.daemon.manager import Manager
from vigil.store import StateStore

_log = logging.getLogger("vigil")


def stored_health(results: list[ProbeCompleted], started_at_ns: int) -> HealthState | None:
    """The Health the newest results (oldest first) leave, as a stopped service shows it;
    None without results (Docker shows no Health then)."""
    if not results:
        return None
    last = results[-1]
    log = tuple(event.result for event in results[-MAX_LOG_ENTRIES:])
    return _health.stop(HealthState(last.status, last.failing_streak, log, started_at_ns))


async def restore_health(manager: Manager, store: StateStore) -> int:
    """Give every service with a check the Health its stored results leave; returns how
    many got one. The store is read in a thread: the loop never waits on the disk."""
    engine = manager.engine
    wanted = {name: engine.ref(name).id for name in manager.names() if engine.has_check(name)}

    def read() -> dict[str, list[ProbeCompleted]]:
        return {name: store.results(target_id, limit=MAX_LOG_ENTRIES)
                for name, target_id in wanted.items()}

    try:
        found = await asyncio.to_thread(read)
    except Exception as exc:  # a damaged store must not keep the services down
        _log.error("service health not restored from the store: %s", exc)
        return 0
    restored = 0
    for name, results in found.items():
        state = stored_health(results, manager.record(name).started_at_ns)
        if state is not None:
            engine.restore_health(name, state)
            restored += 1
    return restored


__all__ = ["restore_health", "stored_health"]
