"""Process groups after the start: track, kill, reap, and the child subreaper.

Starting is ``vigil.linux.launch``. Exits are watched with a pidfd, never with SIGCHLD or
``waitpid(-1)``, so nothing here can steal the exit status of a child it did not spawn; a
child is *tracked* from its spawn until its owner reaps it.

Zombies: a killed probe's grandchildren are reparented to the nearest *subreaper*, else to
PID 1, which does not reap on every machine. ``become_subreaper()`` makes this process the
subreaper (the daemon, CLI and tests call it); then ``reap_group`` and ``reap_orphans`` reap.

Waits for the kernel (a SIGKILLed process to die) use the loop's real timers on purpose:
they are bounded housekeeping, not health-check time, so the injected clock is not used.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from vigil.linux import spawn_thread as _spawn_thread
from vigil.linux import tree

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
LEADER_EXIT_WAIT_S = 2.0  # a SIGKILLed process needs microseconds; D state can take longer
GROUP_REAP_WAIT_S = 0.5  # bound on waiting for killed group members to die

_tracked: set[int] = set()  # children whose exit status someone is waiting for


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that reaping needs."""

    pid: int
    state: str
    ppid: int
    pgid: int


# -- subreaper and orphans ---------------------------------------------------------------


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux prctl). Idempotent."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def is_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        value = ctypes.c_int(0)
        ok = int(libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
    return ok and value.value != 0


def track(pid: int) -> None:
    """Protect a child from ``reap_orphans``: its owner will collect its exit status."""
    _tracked.add(pid)


def untrack(pid: int) -> None:
    _tracked.discard(pid)


def is_tracked(pid: int) -> bool:
    return pid in _tracked


def reap_orphans() -> int:
    """Reap every zombie child of this process that nobody tracks; return how many."""
    me = os.getpid()
    zombies = [p.pid for p in _scan_proc() if p.ppid == me and p.state == "Z"]
    return reap_untracked(zombies)


def reap_untracked(pids: list[int]) -> int:
    """Reap those of ``pids`` nobody tracks. The spawn thread's lock makes sure a child it
    has just spawned is tracked before we look."""
    if not pids:
        return 0
    reaped = 0
    with _spawn_thread.SPAWN_LOCK:
        for pid in pids:
            if pid not in _tracked:
                reaped += _reap_one(pid)
    return reaped


def group_members(pgid: int) -> list[ProcStat]:
    """Every process (zombies included) whose process group is ``pgid``."""
    return [proc for proc in _scan_proc() if proc.pgid == pgid]


def _scan_proc() -> list[ProcStat]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            proc = _read_stat(int(entry.name))
            if proc is not None:
                found.append(proc)
    return found


def _read_stat(pid: int) -> ProcStat | None:
    fields = tree.stat_fields(pid)  # None: gone meanwhile
    if fields is None or len(fields) < 3:
        return None
    return ProcStat(pid, fields[0].decode(), int(fields[1]), int(fields[2]))


def _reap_one(pid: int) -> int:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 0
    return 1 if done else 0


# -- killing and reaping -----------------------------------------------------------------


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group. Only call while its leader is unreaped (see module doc)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def exit_code(status: int) -> int:
    """The exit code Docker shows: the process's own code, or 128+N when killed by signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reap_leader(leader: int) -> int | None:
    """Reap an exited group leader: its wait status, or None if it has not exited (or
    someone else's ``waitpid(-1)`` took the status: Docker's "has no exit code")."""
    try:
        pid, status = os.waitpid(leader, os.WNOHANG)
    except ChildProcessError:
        pid, status = -1, 0
    if pid == 0:
        return None
    untrack(leader)
    return status if pid > 0 else None


async def wait_readable(fd: int, timeout_s: float) -> bool:
    """Wait (real time) until ``fd`` is readable; False after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()
    loop.add_reader(fd, _settle, ready, True)
    timer = loop.call_later(timeout_s, _settle, ready, False)
    try:
        return await ready
    finally:
        timer.cancel()
        loop.remove_reader(fd)


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


async def wait_until(done: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``done`` with short real waits (0.5 ms doubling to 50 ms) until it holds; False
    after ``timeout_s``. For the kernel's housekeeping (killed processes dying)."""
    if done():
        return True
    deadline = asyncio.get_running_loop().time() + timeout_s
    delay = 0.0005
    while asyncio.get_running_loop().time() < deadline:
        await _pause(delay)
        if done():
            return True
        delay = min(delay * 2, 0.05)
    return False


async def _pause(seconds: float) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    timer = loop.call_later(seconds, _settle, done, True)
    try:
        await done
    finally:
        timer.cancel()


async def reap_group(pgid: int) -> bool:
    """After the group was SIGKILLed and its leader reaped: reap the members that end up as
    our children (orphans reparented to this subreaper). True when none is left.

    The fast path is one ``killpg(pgid, 0)``. Otherwise members are found in /proc and reaped
    by pid (never ``waitpid(-pgid)``: with the leader gone the pgid number could be reused by
    another probe's group), polling with short real waits, bounded by GROUP_REAP_WAIT_S.
    Zombies whose parent is not this process are left to their parent (PID 1 without a
    subreaper); this gives up at once when only those remain.
    """
    if not group_exists(pgid):
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GROUP_REAP_WAIT_S
    delay = 0.0005
    me = os.getpid()
    while True:
        waiting = False
        zombies = []
        for proc in group_members(pgid):
            if proc.pid in _tracked:
                continue  # another probe's leader: the pgid number was reused
            if proc.ppid == me and proc.state == "Z":
                zombies.append(proc.pid)
            elif proc.state != "Z":
                waiting = True  # still dying, or its parent is dying and will hand it to us
        reap_untracked(zombies)
        if not waiting:
            return not group_exists(pgid)
        if loop.time() >= deadline:
            return False
        await _pause(delay)
        delay = min(delay * 2, 0.05)


def group_exists(pgid: int) -> bool:
    """Whether any process (zombies included) is left in the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def errno_text(code: int) -> str:
    """Go's text for an errno: glibc's strerror with a lower-case first letter."""
    text = os.strerror(code) if code else "unknown error"
    return text[:1].lower() + text[1:]


EXEC_ERRNOS = frozenset(
    {errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR, errno.ELOOP, errno.ETXTBSY}
    | {errno.E2BIG, errno.EISDIR, errno.ENAMETOOLONG, errno.EPERM}
)


def read_some(fd: int, size: int = 65536) -> bytes | None:
    """One read of a non-blocking pipe: None when nothing is there yet, ``b""`` at EOF or
    when the pipe failed (either way the reader is done with it)."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError:
        return b""
