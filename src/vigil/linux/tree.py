"""Process trees from /proc: children, start times, and killing a tree that may still fork.

Standard library only and no other vigil module, so the ``vigil check`` guardian
(``vigil.linux.guardian``) can load it without vigil's public API.

Killing a tree that forks: every process found is SIGSTOPped first and the tree walked
again until a walk finds nobody new (a stopped process cannot fork), in bounded rounds;
then all of them get SIGKILL. A walk waits (bounded) until the processes just signalled
have really stopped: SIGSTOP takes effect only when a process returns to user space, so one
caught inside ``fork`` finishes it first, and its new child, not yet in /proc's children
lists when we looked, would be missed, then orphaned by its parent's SIGKILL. A process
whose parent dies while we walk is reparented, to the nearest subreaper (vigil) or PID 1:
``children_of_self`` finds the ones that came to us.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable

WALK_ROUNDS = 8  # stop-and-walk rounds before the SIGKILL; each round stops all it found
MAX_TREE = 100_000  # bound on one walk: a fork bomb must not make us loop for ever
STOP_POLLS = 110  # bound, per kill_trees, on the pauses waiting for stopped ones to stop
STOP_POLL_MAX_S = 0.005  # the longest pause (doubling from 0.1 ms): about 0.5 s in all
_STOPPED = (b"T", b"t", b"Z", b"X")  # states in which a thread is in no system call


def children(pid: int, thread: int | None = None) -> list[int]:
    """The live children (and zombies) of ``pid``, from every one of its threads (or from
    the one ``thread``)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task") if thread is None else [str(thread)]
    except OSError:
        return []
    found: list[int] = []
    for tid in tids:
        raw = _read(f"/proc/{pid}/task/{tid}/children")  # None: the thread ended meanwhile
        if raw:
            found.extend(int(word) for word in raw.split())
    return found


def _read(path: str) -> bytes | None:
    """A small /proc file in one read, with raw calls (open() costs more than the read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)


def children_of_self() -> list[int]:
    return children(os.getpid())


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid`` (not ``pid`` itself), breadth first, bounded."""
    found: list[int] = []
    queue = children(pid)
    while queue and len(found) < MAX_TREE:
        current = queue.pop()
        found.append(current)
        queue.extend(children(current))
    return found


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after ``comm`` (field 3, the state, is index 0)."""
    raw = _read(f"/proc/{pid}/stat")
    return None if raw is None else raw[raw.rfind(b")") + 2 :].split()


def starttime(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks after boot): a pid and its start time name
    one process, whatever pid reuse does. None if it is gone."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def is_alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` runs and is not a zombie (and, given ``started``, is that process)."""
    fields = stat_fields(pid)
    if fields is None or len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return False
    return started is None or int(fields[19]) == started


def signal_pids(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stop(pids: Iterable[int]) -> list[int]:
    """SIGSTOP ``pids``; those that got it."""
    sent = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGSTOP)
            sent.append(pid)
    return sent


def has_stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped (or exiting), or it is gone: then none of
    its forks is half done, and all its children are in /proc."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    for tid in tids:
        raw = _read(f"/proc/{pid}/task/{tid}/stat")
        if raw is not None and raw[raw.rfind(b")") + 2 :][:1] not in _STOPPED:
            return False
    return True


def _wait_stopped(pids: list[int], budget: list[int]) -> None:
    """Until every one of ``pids`` has stopped, or the ``budget`` of pauses (shared by the
    walks of one kill_trees) is spent."""
    pause = 0.0001
    while pids:
        pids = [pid for pid in pids if not has_stopped(pid)]
        if not pids or budget[0] <= 0:
            return
        budget[0] -= 1
        time.sleep(pause)  # bounded: a stopped process needs only to be scheduled once
        pause = min(pause * 2, STOP_POLL_MAX_S)


def kill_trees(roots: Iterable[int], *, include_roots: bool = True) -> set[int]:
    """Stop, then SIGKILL, ``roots`` (unless ``include_roots`` is False) and all their
    descendants; the pids signalled. Does not wait for them to die (it waits, at most
    ``STOP_POLLS`` pauses in all, for them to stop before each walk of their children)."""
    roots = list(roots)
    frozen: set[int] = set(roots) if include_roots else set()
    budget = [STOP_POLLS]
    stopping = _stop(frozen)
    for _ in range(WALK_ROUNDS):
        _wait_stopped(stopping, budget)  # one stopped inside fork has its child listed
        found: set[int] = set()
        for root in roots:
            found.update(descendants(root))
        new = found - frozen
        if not new or len(frozen) >= MAX_TREE:
            break
        stopping = _stop(new)
        frozen |= new
    signal_pids(frozen, signal.SIGKILL)
    return frozen
