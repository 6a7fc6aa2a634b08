"""``posix_spawn(3)`` on a worker thread, with the GIL released while the parent waits.

A vfork-based spawn suspends the calling thread until the child has exec'd, and
``os.posix_spawn`` holds the GIL all along: 0.2-0.4 ms per probe during which the event loop
ran nothing (a third of its time at 1,000 probes/s on 2 cores, and the cause of most probe
lateness). The same libc call made through ctypes, which releases the GIL, from one worker
thread lets the loop run meanwhile.

The loop's thread prepares each job (pipe, argument arrays, file actions, with libc calls
that keep the GIL), so the worker needs the GIL only to pick a job up, after the spawn and to
hand the result back: each of those can wait for the loop's thread to let go of it.

Only the plain case comes here (no working directory, no user switch left to make, one
output pipe; see ``vigil.linux.launch.launch_async``), with arguments ``encode`` accepted, so
the worker never meets an error other than the ``errno`` of ``posix_spawn``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

_SETPGROUP = 0x02  # POSIX_SPAWN_SETPGROUP, the same value in glibc and musl
_SETSIGDEF = 0x04  # POSIX_SPAWN_SETSIGDEF
_ATTR_SIZE = 1024  # bytes; more than posix_spawnattr_t and sigset_t on any libc
_ACTIONS_SIZE = 256  # bytes; more than posix_spawn_file_actions_t (80 in glibc x86-64)
QUEUE_LIMIT = 32  # probes of one loop starting (looking up, spawning) at once

# Held by the worker from a spawn until its pid is tracked. Whoever reaps children nobody
# tracks (reap_orphans, reap_group) takes it before reaping, so a fresh child that has
# already exited cannot have its status stolen in between.
SPAWN_LOCK = threading.Lock()
_log = logging.getLogger("vigil")

Encoded = tuple[bytes, list[bytes], list[bytes]]  # path, argv, environment ("KEY=value")
Done = Callable[[int, BaseException | None], None]  # (pid or 0, error)


class _Libc:
    """The libc calls, and one shared spawn attribute: a new process group, and the given
    signals reset to their default action in the child."""

    def __init__(self, default_signals: Sequence[int]) -> None:
        releasing = ctypes.CDLL(None, use_errno=True)  # its calls release the GIL
        keeping = ctypes.PyDLL(None, use_errno=True)  # quick calls: keep it
        self._spawn = releasing.posix_spawn
        self._spawn.restype = ctypes.c_int
        self._spawn.argtypes = [
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_char_p),
        ]
        self._actions_init = keeping.posix_spawn_file_actions_init
        self._actions_dup2 = keeping.posix_spawn_file_actions_adddup2
        self._actions_destroy = keeping.posix_spawn_file_actions_destroy
        self._attr = ctypes.create_string_buffer(_ATTR_SIZE)
        sigset = ctypes.create_string_buffer(_ATTR_SIZE)
        _check(keeping.posix_spawnattr_init(self._attr))
        _check(
            keeping.posix_spawnattr_setflags(self._attr, ctypes.c_short(_SETPGROUP | _SETSIGDEF))
        )
        _check(keeping.posix_spawnattr_setpgroup(self._attr, 0))
        _check(keeping.sigemptyset(sigset))
        for number in default_signals:
            _check(keeping.sigaddset(sigset, number))
        _check(keeping.posix_spawnattr_setsigdefault(self._attr, sigset))

    def prepare(self, encoded: Encoded, stdin: int, out: int) -> _Job:
        """On the loop: stdin from ``stdin``, stdout and stderr to ``out``."""
        path, argv, envp = encoded
        actions = ctypes.create_string_buffer(_ACTIONS_SIZE)
        _check(self._actions_init(actions))
        try:
            for source, target in ((stdin, 0), (out, 1), (out, 2)):
                _check(self._actions_dup2(actions, source, target))
        except BaseException:
            self._actions_destroy(actions)
            raise
        c_argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
        c_envp = (ctypes.c_char_p * (len(envp) + 1))(*envp, None)
        return _Job(path, actions, c_argv, c_envp)

    def spawn(self, job: _Job) -> int:
        """On the worker: the one call made without the GIL; the pid."""
        pid = ctypes.c_int(0)
        error = self._spawn(ctypes.byref(pid), job.path, job.actions, self._attr, *job.arrays)
        if error:
            raise OSError(error, os.strerror(error), os.fsdecode(job.path))
        return pid.value

    def release(self, job: _Job) -> None:
        """On the loop, once the worker is done with ``job``."""
        self._actions_destroy(job.actions)


class _Job:
    """One spawn: prepared on the loop, run on the worker, handed back to ``deliver``."""

    __slots__ = ("actions", "arrays", "before", "deliver", "loop", "orphan", "path", "track")

    def __init__(self, path: bytes, actions: Any, c_argv: Any, c_envp: Any) -> None:
        self.path = path
        self.actions = actions
        self.arrays = (c_argv, c_envp)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.before: Callable[[], None] = _nothing  # on the worker, just before the spawn
        self.track: Callable[[int], None] = _no_track
        self.deliver: Done = _no_delivery  # on the loop
        self.orphan: Callable[[int], None] = _no_track  # on the worker, if the loop closed

    def unlink(self) -> None:
        """Drop the callbacks, which refer to the job: without this each job is a reference
        cycle that only the garbage collector frees (bench/README.md, "lateness tail")."""
        self.before, self.track, self.deliver, self.orphan = (
            _nothing, _no_track, _no_delivery, _no_track)


def _no_track(pid: int) -> None:
    pass


def _nothing() -> None:
    pass


def _no_delivery(pid: int, error: BaseException | None) -> None:
    pass


def _check(result: int) -> None:
    if result != 0:
        raise OSError(result, os.strerror(result))


class _Worker:
    """One daemon thread running the spawns in order."""

    def __init__(self, libc: _Libc) -> None:
        self.libc = libc
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="vigil-spawn", daemon=True).start()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            try:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    job = self._jobs.get()
                    with contextlib.suppress(Exception):  # a warm-up must not lose the job
                        job.before()  # after an idle spell only (see ``spawn``)
                self._spawn(job)
            except Exception:  # never let the thread die: every exec probe would hang
                _log.exception("vigil spawn thread")

    def _spawn(self, job: _Job) -> None:
        with SPAWN_LOCK:
            try:
                pid, error = self.libc.spawn(job), None
            except BaseException as exc:  # OSError from posix_spawn
                pid, error = 0, exc
            if pid:
                job.track(pid)
        assert job.loop is not None
        try:
            job.loop.call_soon_threadsafe(job.deliver, pid, error)
        except RuntimeError:  # the loop is closed: nobody waits for this child any more
            with contextlib.suppress(OSError):
                job.orphan(pid)


@cache
def _worker(default_signals: tuple[int, ...]) -> _Worker | None:
    try:
        return _Worker(_Libc(default_signals))
    except (OSError, AttributeError):  # no such libc functions: the caller spawns inline
        return None


def available(default_signals: tuple[int, ...]) -> bool:
    """Whether spawns can go to the worker (started on first use)."""
    return _worker(default_signals) is not None


def encode(executable: str, argv: Sequence[str], env: Mapping[str, str]) -> Encoded | None:
    """The arguments as ``os.posix_spawn`` passes them, or None where it would raise (a NUL,
    an empty or ``=``-containing variable name...): the caller lets it raise its own error."""
    if not argv or not argv[0] or "\0" in executable:
        return None
    try:
        args = []
        for arg in argv:
            if "\0" in arg:
                return None
            args.append(os.fsencode(arg))
        envp = []
        for key, value in env.items():
            if not key or "=" in key[1:] or "\0" in key or "\0" in value:  # CPython's checks
                return None
            envp.append(os.fsencode(key) + b"=" + os.fsencode(value))
        return os.fsencode(executable), args, envp
    except UnicodeEncodeError:  # a lone surrogate
        return None


async def spawn(
    encoded: Encoded,
    *,
    default_signals: tuple[int, ...],
    stdin: int,
    track: Callable[[int], None],
    abandon: Callable[[int], None],
    before: Callable[[], None] = _nothing,
) -> tuple[int, int]:
    """Spawn on the worker: (pid, non-inheritable read end of its stdout+stderr pipe).

    ``before()`` runs on the worker just before the spawn if the worker was idle (it must
    not raise: a warm-up whose effect lasts while spawns follow each other), ``track(pid)``
    as soon as the child exists. If the caller is cancelled
    meanwhile, the child is handed to ``abandon(pid)`` on the loop and the pipe closed.
    Raises OSError (the pipe, or ``posix_spawn``'s errno).
    """
    worker = _worker(default_signals)
    if worker is None:
        raise RuntimeError("no spawn thread: check available() first")
    libc = worker.libc
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        job = libc.prepare(encoded, stdin, write_fd)
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    future: asyncio.Future[tuple[int, int]] = loop.create_future()

    def deliver(pid: int, error: BaseException | None) -> None:  # on the loop
        job.unlink()
        libc.release(job)
        os.close(write_fd)  # the child has its copies
        if error is not None or future.cancelled():
            os.close(read_fd)
        if future.cancelled():
            if pid:
                abandon(pid)
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result((pid, read_fd))

    def orphan(pid: int) -> None:  # on the worker, the loop being closed
        job.unlink()
        libc.release(job)
        os.close(write_fd)
        os.close(read_fd)
        if pid:
            abandon(pid)

    job.loop, job.track, job.deliver, job.orphan = loop, track, deliver, orphan
    job.before = before
    worker.submit(job)
    try:
        return await future
    except asyncio.CancelledError:
        if future.done() and not future.cancelled() and future.exception() is None:
            pid, read_fd = future.result()  # delivered, then cancelled before we resumed
            os.close(read_fd)
            abandon(pid)
        raise


def slots() -> Slots:
    """The running loop's spawn slots (see ``Slots``)."""
    loop = asyncio.get_running_loop()
    try:
        found = _slots.get(loop)
        if found is None:
            found = _slots[loop] = Slots(QUEUE_LIMIT)
    except TypeError:  # a loop that cannot be weakly referenced: no bound, no waiting
        return _UNBOUNDED
    return found


class Slots:
    """A cheap semaphore: at most ``size`` probes of one loop starting at once. In a burst
    (thousands of monitors due together) the others wait as one future each, before any
    per-probe state (frames, pipes, queued jobs) exists."""

    __slots__ = ("free", "waiting")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, then cancelled: pass it on
            raise

    def release(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


# Keyed weakly: a loop's entry holds futures (which hold the loop) only while some wait.
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Slots] = weakref.WeakKeyDictionary()
_UNBOUNDED = Slots(1 << 62)
