"""Process groups after the start: exit codes, killing a group, and reaping orphans and
group members without waiting on timers. (Starting is tests/probes/test_launch.py.)"""

from __future__ import annotations

import asyncio
import errno
import os
import signal

import pytest

from vigil.linux import process as _process
from vigil.linux.launch import Child, LaunchSpec, launch
from vigil.linux.process import (
    become_subreaper,
    errno_text,
    exit_code,
    group_members,
    is_subreaper,
    kill_group,
    reap_group,
    reap_leader,
    reap_orphans,
    track,
    untrack,
)

ENV = {"PATH": "/usr/bin:/bin"}


@pytest.fixture(scope="session", autouse=True)
def _subreaper() -> None:
    assert become_subreaper()


def wait_exit(child: Child) -> int:
    """Block until the leader exits (its pidfd is readable), then reap it."""
    os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED | os.WNOWAIT)
    status = reap_leader(child.pid)
    assert status is not None
    return status


def read_all(child: Child) -> bytes:
    os.set_blocking(child.output_fd, True)
    chunks = []
    while chunk := os.read(child.output_fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def sh(script: str) -> Child:
    return launch(LaunchSpec(("/bin/sh", "-c", script), ENV))


def close(child: Child) -> None:
    os.close(child.output_fd)
    os.close(child.pidfd)


def test_subreaper_is_idempotent() -> None:
    assert become_subreaper()
    assert become_subreaper()
    assert is_subreaper()


@pytest.mark.parametrize(("status", "code"), [(0, 0), (3 << 8, 3), (signal.SIGKILL, 137)])
def test_exit_code_reads_signals_as_128_plus_n(status: int, code: int) -> None:
    assert exit_code(status) == code


def test_errno_text_is_gos_spelling() -> None:
    assert errno_text(errno.ENOENT) == "no such file or directory"
    assert errno_text(errno.EAGAIN) == "resource temporarily unavailable"


def test_kill_group_ignores_a_missing_group() -> None:
    kill_group(2**22 + 12345)  # above any pid_max: never a group


def test_reap_group_collects_orphans_of_a_killed_group() -> None:
    """Members reparented to this subreaper are reaped; /proc shows none afterwards."""
    child = sh("sleep 1000 & (sleep 1000 &); echo ready; wait")
    os.set_blocking(child.output_fd, True)
    assert os.read(child.output_fd, 100) == b"ready\n"
    assert len(group_members(child.pid)) == 3
    kill_group(child.pid)
    assert exit_code(wait_exit(child)) == 137
    close(child)
    assert asyncio.run(reap_group(child.pid))
    assert group_members(child.pid) == []


def test_reap_orphans_skips_tracked_children() -> None:
    """An orphan reparented here is reaped; a tracked child's status is left to its owner."""
    child = sh("sleep 1000 >/dev/null 2>&1 & echo $!")
    orphan = int(read_all(child))
    wait_exit(child)
    close(child)
    orphan_fd = os.pidfd_open(orphan)  # the orphan is our child now
    track(orphan)
    try:
        os.kill(orphan, signal.SIGKILL)
        os.waitid(os.P_PIDFD, orphan_fd, os.WEXITED | os.WNOWAIT)
        assert reap_orphans() == 0
        untrack(orphan)
        assert reap_orphans() == 1
        assert not os.path.exists(f"/proc/{orphan}")
    finally:
        untrack(orphan)
        os.close(orphan_fd)


def test_wait_readable_gives_up_after_its_bound() -> None:
    read_fd, write_fd = os.pipe()
    try:
        assert not asyncio.run(_process.wait_readable(read_fd, 0))
        os.write(write_fd, b"x")
        assert asyncio.run(_process.wait_readable(read_fd, 10))
    finally:
        os.close(read_fd)
        os.close(write_fd)
