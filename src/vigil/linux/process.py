"""Low-level process helpers: spawn without fork(), kill a process group, reap without zombies.

Why not ``subprocess``/``asyncio.create_subprocess_exec``: fork() copies the page tables, so
spawning slows down as the daemon's heap grows (17 spawns/s from a 1 GiB process), and
asyncio's 3.11 child watcher starts a thread per child. ``os.posix_spawn`` (vfork in glibc)
and ``Popen`` without a user switch (vfork too) keep ~1,100 spawns/s whatever the heap.
Exits are watched with a pidfd, never with SIGCHLD or ``waitpid(-1)``, so this module cannot
steal the exit status of a child it did not spawn.

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
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from vigil.linux import spawn_thread as _spawn_thread

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
LEADER_EXIT_WAIT_S = 2.0  # a SIGKILLed process needs microseconds; D state can take longer
GROUP_REAP_WAIT_S = 0.5  # bound on waiting for killed group members to die
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)  # ignored by Python; Popen restores them too

_tracked: set[int] = set()  # children whose exit status someone is waiting for


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a probe runs as: uid, primary gid and supplementary groups."""

    uid: int
    gid: int
    groups: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Child:
    """A spawned process that leads its own process group (``pgid == pid``)."""

    pid: int
    pidfd: int  # readable once the process has exited
    output_fd: int  # non-blocking read end of the stdout+stderr pipe
    via_setpriv: bool = False  # the user switch went through setpriv(1)


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


def reap_orphans() -> int:
    """Reap every zombie child of this process that nobody tracks; return how many."""
    me = os.getpid()
    zombies = [p.pid for p in _scan_proc() if p.ppid == me and p.state == "Z"]
    return _reap_untracked(zombies)


def _reap_untracked(pids: list[int]) -> int:
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
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # gone meanwhile
    try:
        raw = os.read(fd, 1024)
    except OSError:
        return None
    finally:
        os.close(fd)
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 3:
        return None
    return ProcStat(pid, fields[0].decode(), int(fields[1]), int(fields[2]))


def _reap_one(pid: int) -> int:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 0
    return 1 if done else 0


# -- spawning ----------------------------------------------------------------------------


@cache
def _devnull() -> int:
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


@cache
def setpriv_path() -> str | None:
    """util-linux setpriv(1): switches user after a vfork-safe spawn (Popen's user switch forks)."""
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


def spawn(
    executable: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: str | None = None,
    credentials: Credentials | None = None,
) -> Child:
    """Start ``executable`` in a new process group; stdin /dev/null, stdout+stderr one pipe.

    Raises ``OSError``; a failed chdir carries ``filename == cwd``. Never forks the caller
    unless a user switch is needed and setpriv(1) is missing.
    """
    via_setpriv = False
    if credentials is not None and (helper := setpriv_path()) is not None:
        argv = [helper, *setpriv_options(credentials), "--", executable, *argv[1:]]
        executable, credentials, via_setpriv = helper, None, True
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        if cwd is None and credentials is None:
            pid = _posix_spawn(executable, argv, env, write_fd)
        else:
            pid = _popen(executable, argv, env, write_fd, cwd, credentials)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    track(pid)
    return _watch(pid, read_fd, via_setpriv)


async def spawn_async(
    executable: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: str | None = None,
    credentials: Credentials | None = None,
) -> Child:
    """``spawn``, but the plain case (no working directory, no user switch) runs on the spawn
    thread, so the event loop keeps running while the parent waits for the child's exec."""
    encoded = None
    if cwd is None and credentials is None and _spawn_thread.available(_DEFAULT_SIGNALS):
        encoded = _spawn_thread.encode(executable, argv, env)
    if encoded is None:  # os.posix_spawn raises its own error for what encode refuses
        return spawn(executable, argv, env, cwd=cwd, credentials=credentials)
    pid, read_fd = await _spawn_thread.spawn(
        encoded,
        default_signals=_DEFAULT_SIGNALS,
        stdin=_devnull(),
        track=track,
        abandon=_abandon,
    )
    return _watch(pid, read_fd, False)


def spawn_slots() -> _spawn_thread.Slots:
    """The running loop's bound on probes starting at once: ``await acquire()`` before the
    executable lookup and ``spawn_async``, ``release()`` once the child runs (or failed)."""
    return _spawn_thread.slots()


def _abandon(pid: int) -> None:
    """A child spawned for a caller that is gone: kill and reap it."""
    kill_group(pid)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # just SIGKILLed: returns at once
    untrack(pid)


def _watch(pid: int, read_fd: int, via_setpriv: bool) -> Child:
    os.set_blocking(read_fd, False)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        kill_group(pid)
        os.waitpid(pid, 0)  # just SIGKILLed: returns at once
        untrack(pid)
        os.close(read_fd)
        raise
    return Child(pid, pidfd, read_fd, via_setpriv)


def setpriv_options(credentials: Credentials) -> list[str]:
    groups = ",".join(str(g) for g in credentials.groups)
    group_option = f"--groups={groups}" if groups else "--clear-groups"
    return [f"--reuid={credentials.uid}", f"--regid={credentials.gid}", group_option]


def _posix_spawn(executable: str, argv: Sequence[str], env: Mapping[str, str], out: int) -> int:
    return os.posix_spawn(
        executable,
        list(argv),
        env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, _devnull(), 0),
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, out, 2),
        ],
        setpgroup=0,
        setsigdef=_DEFAULT_SIGNALS,
    )


def _popen(
    executable: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    out: int,
    cwd: str | None,
    credentials: Credentials | None,
) -> int:
    # Python 3.11 has no posix_spawn chdir; Popen takes its vfork path unless a user is set.
    process = subprocess.Popen(
        list(argv),
        executable=executable,
        env=dict(env),
        cwd=cwd,
        stdin=_devnull(),
        stdout=out,
        stderr=out,
        process_group=0,
        user=None if credentials is None else credentials.uid,
        group=None if credentials is None else credentials.gid,
        extra_groups=None if credentials is None else list(credentials.groups),
    )
    # We reap it through its pidfd; a None returncode would make Popen.__del__ adopt (and
    # later waitpid) the pid.
    process.returncode = 0
    return process.pid


# -- killing and reaping -----------------------------------------------------------------


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group. Only call while its leader is unreaped (see module doc)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def exit_code(status: int) -> int:
    """The exit code Docker shows: the process's own code, or 128+N when killed by signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reap_leader(child: Child) -> int | None:
    """Reap an exited group leader: its wait status, or None if it has not exited (or
    someone else's ``waitpid(-1)`` took the status: Docker's "has no exit code")."""
    try:
        pid, status = os.waitpid(child.pid, os.WNOHANG)
    except ChildProcessError:
        pid, status = -1, 0
    if pid == 0:
        return None
    untrack(child.pid)
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
        _reap_untracked(zombies)
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
