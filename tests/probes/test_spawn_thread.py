"""The spawn thread: posix_spawn through ctypes off the loop's thread, as os.posix_spawn does it.

No sleeps: every wait is on a pidfd, a future or an event, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
from collections.abc import Callable

import pytest

from vigil.linux import launch as _launch
from vigil.linux import process as _process
from vigil.linux import spawn_thread as _spawn_thread
from vigil.linux.process import become_subreaper, reap_leader
from vigil.linux.spawn_thread import Slots, encode

SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
ENV = {"PATH": "/usr/bin:/bin"}
BOUND_S = 10.0  # a safety net, never the expected path


@pytest.fixture(scope="module", autouse=True)
def _subreaper() -> None:
    assert become_subreaper()
    assert _spawn_thread.available(SIGNALS)


async def spawn(
    executable: str,
    argv: list[str],
    env: dict[str, str],
    abandon: Callable[[int], None] = _launch._abandon,
) -> tuple[int, int]:
    """On the spawn thread, as ``launch_async`` does: (pid, read end of its output)."""
    encoded = encode(executable, argv, env)
    assert encoded is not None
    return await _spawn_thread.spawn(
        encoded,
        default_signals=SIGNALS,
        stdin=_launch._devnull(),
        track=_process.track,
        abandon=abandon,
    )


def finish(pid: int, output_fd: int) -> tuple[int, bytes]:
    """Wait for the exit (pidfd), reap, read the whole output, close."""
    pidfd = os.pidfd_open(pid)
    os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOWAIT)
    os.close(pidfd)
    status = reap_leader(pid)
    assert status is not None
    os.set_blocking(output_fd, True)
    chunks = []
    while chunk := os.read(output_fd, 65536):
        chunks.append(chunk)
    os.close(output_fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["true", "a\0b"], {}),
        ([""], {}),
        ([], {}),
        (["true"], {"A=B": "x"}),
        (["true"], {"": "x"}),
        (["true"], {"A": "x\0"}),
        (["true"], {"A\0": "x"}),
        (["true", "\ud800"], {}),
    ],
)
def test_encode_refuses_what_os_posix_spawn_refuses(argv: list[str], env: dict[str, str]) -> None:
    assert encode("/bin/true", argv, env) is None
    with pytest.raises((ValueError, UnicodeEncodeError)):
        os.posix_spawn("/bin/true", argv, env)  # refused before any process starts


def test_encode_keeps_what_os_posix_spawn_accepts() -> None:
    """CPython allows a leading '=' in a variable name (``=C:``), and so do we."""
    assert encode("/bin/echo", ["echo", "é"], {"=A": "1", "B": "x=y"}) == (
        b"/bin/echo",
        [b"echo", "é".encode()],
        [b"=A=1", b"B=x=y"],
    )


def test_the_thread_spawns_in_a_new_group_with_output_and_environment() -> None:
    asyncio.run(_the_thread_spawns_in_a_new_group_with_output_and_environment())


async def _the_thread_spawns_in_a_new_group_with_output_and_environment() -> None:
    pid, output_fd = await spawn(
        "/bin/sh",
        ["sh", "-c", 'echo "$GREETING" >&2; ps -o pgid= $$'],
        {**ENV, "GREETING": "hello"},
    )
    assert pid in _process._tracked
    code, output = finish(pid, output_fd)
    assert code == 0
    lines = output.decode().split()
    assert lines == ["hello", str(pid)]  # stderr joins stdout; pgid == pid
    assert pid not in _process._tracked


def test_the_thread_resets_sigpipe_and_gives_devnull_as_stdin() -> None:
    asyncio.run(_the_thread_resets_sigpipe_and_gives_devnull_as_stdin())


async def _the_thread_resets_sigpipe_and_gives_devnull_as_stdin() -> None:
    script = 'read line; echo "read:$?"; kill -PIPE $$'
    code, output = finish(*await spawn("/bin/sh", ["sh", "-c", script], ENV))
    assert output == b"read:1\n"  # EOF at once from /dev/null
    assert code == -signal.SIGPIPE  # default action restored, not inherited "ignore"


def test_spawn_errors_are_the_errno_of_posix_spawn() -> None:
    asyncio.run(_spawn_errors_are_the_errno_of_posix_spawn())


async def _spawn_errors_are_the_errno_of_posix_spawn() -> None:
    with pytest.raises(FileNotFoundError) as caught:
        await spawn("/nonexistent/true", ["true"], ENV)
    assert caught.value.errno == errno.ENOENT
    assert caught.value.filename == "/nonexistent/true"  # as os.posix_spawn reports it


def test_a_cancelled_spawn_abandons_its_child() -> None:
    """The caller is gone when the worker is done: the child is handed to ``abandon`` (on
    the loop), which kills and reaps it; its pipe is closed."""
    pid, cancelled = asyncio.run(_cancel_a_spawn(delivered_first=False))
    assert cancelled
    assert_reaped(pid)


def test_a_spawn_cancelled_after_its_delivery_abandons_its_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The child was handed over, but the caller is cancelled before it resumes (a start
    deadline firing in the same loop round): the child is still killed and reaped."""
    pid, cancelled = asyncio.run(_cancel_a_spawn(delivered_first=True, monkeypatch=monkeypatch))
    assert cancelled
    assert_reaped(pid)


def assert_reaped(pid: int) -> None:
    assert pid not in _process._tracked
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped


async def _cancel_a_spawn(
    *, delivered_first: bool, monkeypatch: pytest.MonkeyPatch | None = None
) -> tuple[int, bool]:
    loop = asyncio.get_running_loop()
    abandoned: asyncio.Future[int] = loop.create_future()

    def abandon(pid: int) -> None:
        _launch._abandon(pid)
        abandoned.set_result(pid)

    if monkeypatch is not None:  # spawn in submit(), on this thread: the order is ours
        worker = _spawn_thread._worker(SIGNALS)
        assert worker is not None
        monkeypatch.setattr(worker, "submit", worker._spawn)
    spawning = asyncio.ensure_future(spawn("/bin/sleep", ["sleep", "30"], ENV, abandon))
    await asyncio.sleep(0)  # submitted (and, spawning inline, its delivery queued)
    if delivered_first:
        loop.call_soon(spawning.cancel)  # after the delivery, before the caller resumes
    else:
        spawning.cancel()
    pid = await asyncio.wait_for(abandoned, BOUND_S)
    with contextlib.suppress(asyncio.CancelledError):
        await spawning
    return pid, spawning.cancelled()


def test_slots_bound_and_hand_over_in_order() -> None:
    asyncio.run(_slots_bound_and_hand_over_in_order())


async def _slots_bound_and_hand_over_in_order() -> None:
    slots = Slots(1)
    await slots.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        await slots.acquire()
        order.append(name)
        slots.release()

    first = asyncio.ensure_future(take("first"))
    cancelled = asyncio.ensure_future(take("cancelled"))
    last = asyncio.ensure_future(take("last"))
    await asyncio.sleep(0)
    cancelled.cancel()
    slots.release()
    await asyncio.wait_for(asyncio.gather(first, last), BOUND_S)
    assert order == ["first", "last"]
    assert slots.free == 1


def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    asyncio.run(_a_slot_handed_to_a_cancelled_waiter_is_passed_on())


async def _a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    other = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # hands the slot to ``waiter``...
    waiter.cancel()  # ...which is cancelled before it runs: ``other`` gets it
    await asyncio.wait_for(other, BOUND_S)
    assert waiter.cancelled()
    assert slots.free == 0


def test_reaping_skips_children_that_are_tracked() -> None:
    pid = os.posix_spawn("/bin/true", ["true"], ENV)
    _process.track(pid)
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # a zombie now
        assert _process.reap_untracked([pid]) == 0
    finally:
        _process.untrack(pid)
    assert _process.reap_untracked([pid]) == 1
