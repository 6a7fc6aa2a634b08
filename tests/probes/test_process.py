"""Low-level process helpers: spawning in a new group, exit codes, killing a group, and
reaping orphans and group members without waiting on timers."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from pathlib import Path

import pytest

from vigil.linux import process as _process
from vigil.linux.process import (
    Child,
    become_subreaper,
    errno_text,
    exit_code,
    group_members,
    is_subreaper,
    kill_group,
    reap_group,
    reap_leader,
    reap_orphans,
    spawn,
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
    status = reap_leader(child)
    assert status is not None
    return status


def read_all(child: Child) -> bytes:
    os.set_blocking(child.output_fd, True)
    chunks = []
    while chunk := os.read(child.output_fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


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


@pytest.mark.parametrize("cwd", [None, "/"])
def test_spawn_leads_a_new_group_with_one_output_pipe(cwd: str | None) -> None:
    """posix_spawn (no cwd) and Popen (cwd) both: pgid == pid, stdin /dev/null,
    stdout and stderr in one pipe, tracked until reaped."""
    script = 'echo "$(cut -d" " -f5 /proc/$$/stat) $$"; cat; echo err >&2; pwd'
    child = spawn("/bin/sh", ["sh", "-c", script], ENV, cwd=cwd)
    assert child.pid in _process._tracked
    output = read_all(child).decode().split("\n")
    assert wait_exit(child) == 0
    close(child)
    pgid, pid = output[0].split()
    assert int(pgid) == int(pid) == child.pid
    assert output[1:] == ["err", cwd or os.getcwd(), ""]
    assert child.pid not in _process._tracked


def test_spawn_restores_default_sigpipe() -> None:
    """Python ignores SIGPIPE; a probe must not inherit that (Popen restores it too)."""
    child = spawn("/bin/grep", ["grep", "SigIgn", "/proc/self/status"], ENV)
    ignored = int(read_all(child).split()[1], 16)
    assert ignored & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)) == 0
    assert wait_exit(child) == 0
    close(child)


def test_failed_chdir_names_the_working_dir(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as caught:
        spawn("/bin/true", ["true"], ENV, cwd=missing)
    assert caught.value.filename == missing


def test_kill_group_ignores_a_missing_group() -> None:
    kill_group(2**22 + 12345)  # above any pid_max: never a group


def test_reap_group_collects_orphans_of_a_killed_group() -> None:
    """Members reparented to this subreaper are reaped; /proc shows none afterwards."""
    child = spawn("/bin/sh", ["sh", "-c", "sleep 1000 & (sleep 1000 &); echo ready; wait"], ENV)
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
    child = spawn("/bin/sh", ["sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"], ENV)
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
