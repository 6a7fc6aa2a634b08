"""What a crashed daemon left running, and how the next one stops it before starting anything.

While a supervised service runs, its ``ServiceRecord.run`` holds ``run_record(supervisor)``:
the main process's pid and kernel start time (so a reused pid is never mistaken for it),
the run's ``VIGIL_SERVICE_ID`` token, and the service's stop signal and grace period. After
a ``kill -9`` of the daemon those records are still on disk; ``reclaim(record)`` then does
what ``vigil stop`` would have done: the stop signal to the main process, a wait of at most
the grace period, then SIGKILL for its process group, its descendants and every process
carrying the token. vigil cannot re-attach the old output pipes or collect the old exit
status, so it stops leftovers rather than adopting them.

Stand-in, on purpose small: the ``contain`` work brings ``Supervisor.run_record()`` and
``vigil.linux.contain.reclaim`` with the same shapes; the daemon switches to those at merge.
Waits are bounded housekeeping on the loop's real timers, not the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping

from vigil.core.lifecycle import ProcessStatus
from vigil.core.signals import parse_signal
from vigil.go.duration import MINUTE, SECOND
from vigil.linux.process import wait_readable
from vigil.targets.supervised import Supervisor, find_tagged_processes

RECLAIM_GRACE_MAX_NS = 10 * MINUTE  # bound on the stop grace, even "wait forever" (negative)
DEATH_WAIT_S = 2.0  # a SIGKILLed process needs microseconds; D state can take longer
KILL_ROUNDS = 5  # scan/kill rounds: a forking leftover may spawn while we scan
_LIVE = (ProcessStatus.RUNNING, ProcessStatus.PAUSED)

Record = Mapping[str, object]


def run_record(supervisor: Supervisor) -> dict[str, object] | None:
    """The JSON-able description of the supervisor's current run, None when nothing runs."""
    state = supervisor.state
    if state.status not in _LIVE or not state.pid:
        return None
    starttime = proc_starttime(state.pid)
    if starttime is None:
        return None  # already gone: nothing to leave behind
    service = supervisor.service
    try:
        stop_signal = parse_signal(service.effective_stop_signal)
    except ValueError:
        stop_signal = signal.SIGTERM  # the supervisor refused it at creation already
    return {
        "pid": state.pid,
        "starttime": starttime,
        "token": _token_of(supervisor),
        "jail": None,
        "stop_signal": int(stop_signal),
        "stop_grace_ns": service.effective_stop_grace_period,
    }


async def reclaim(record: Record) -> int:
    """Stop what a crashed daemon's run left behind; returns how many of its processes it
    found alive (and stopped).

    A record that is not one of ours (missing fields) reclaims nothing."""
    pid, starttime = _int(record, "pid"), _int(record, "starttime")
    token = record.get("token")
    token = token if isinstance(token, str) and token else None
    if pid <= 0:
        return 0
    killed: set[tuple[int, int]] = set()
    descendants: list[tuple[int, int]] = []
    main = _open_if_same(pid, starttime)
    if main is not None:
        descendants = _descendants(pid)  # before the main exits and they are reparented
        killed.add((pid, starttime))
        try:
            with contextlib.suppress(OSError, ValueError, OverflowError):
                signal.pidfd_send_signal(main, _int(record, "stop_signal") or signal.SIGTERM)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGCONT)  # a paused run cannot handle its stop signal
            await wait_readable(main, _grace_s(record))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # its own session and group: pgid == pid
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(main, signal.SIGKILL)
            await wait_readable(main, DEATH_WAIT_S)
        finally:
            os.close(main)
    await _kill_rounds(descendants, token, killed)
    return len(killed)


async def _kill_rounds(
    descendants: list[tuple[int, int]], token: str | None, killed: set[tuple[int, int]]
) -> None:
    """SIGKILL the descendants seen earlier and every process with the token, in bounded
    rounds, waiting (bounded) for each to die."""
    for _ in range(KILL_ROUNDS):
        found = list(descendants)
        if token is not None:
            found += [(p, s) for p in find_tagged_processes(token)
                      if (s := proc_starttime(p)) is not None]
        descendants = []
        killed.update(found)  # found alive: counted even if the group's SIGKILL got it first
        pidfds = [fd for pair in found if (fd := _open_if_same(*pair)) is not None]
        if not pidfds:
            return
        for fd in pidfds:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        try:
            await asyncio.gather(*(wait_readable(fd, DEATH_WAIT_S) for fd in pidfds))
        finally:
            for fd in pidfds:
                os.close(fd)


def proc_starttime(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat`` (clock ticks since boot); None for a zombie or a
    process that is gone."""
    stat = _stat_fields(pid)
    if stat is None or stat[0] == "Z":
        return None
    return int(stat[19])


def _stat_fields(pid: int) -> list[str] | None:
    """The fields after ``comm`` (field 3 onwards), which may hold spaces and parentheses."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].decode("ascii", "replace").split()
    return fields if len(fields) > 19 else None


def _open_if_same(pid: int, starttime: int) -> int | None:
    """A pidfd for ``pid`` if it is still the process that started at ``starttime``."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if proc_starttime(pid) != starttime:  # checked after opening: the pidfd pins the process
        os.close(fd)
        return None
    return fd


def _descendants(root: int) -> list[tuple[int, int]]:
    """Every live descendant of ``root`` with its start time."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
                starts[int(entry.name)] = int(fields[19])
    found: list[tuple[int, int]] = []
    pending = list(children.get(root, []))
    while pending and len(found) < len(starts):  # bounded by the number of processes
        pid = pending.pop()
        found.append((pid, starts[pid]))
        pending.extend(children.get(pid, []))
    return found


def _token_of(supervisor: Supervisor) -> str | None:
    """The current run's ``VIGIL_SERVICE_ID``. Not read from ``/proc/<pid>/environ``: right
    after the spawn returns, the kernel may not have laid out the new environment yet (it
    reads empty). Stand-in only: contain's ``Supervisor.run_record()`` has it first-hand."""
    token = getattr(getattr(supervisor, "_run", None), "token", None)
    return token if isinstance(token, str) else None


def _int(record: Record, key: str) -> int:
    value = record.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _grace_s(record: Record) -> float:
    grace = _int(record, "stop_grace_ns")
    if grace < 0 or grace > RECLAIM_GRACE_MAX_NS:
        grace = RECLAIM_GRACE_MAX_NS
    return grace / SECOND
