"""``vigil.linux.tree.kill_trees`` against a process that forks while it is being killed."""

from __future__ import annotations

import subprocess
import time

import pytest

from vigil.linux import tree

FORKING = ["/bin/sh", "-c", "while :; do sleep 3000 & done"]


def test_children_are_walked_only_once_their_parent_has_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGSTOP takes effect when a process leaves the kernel: one caught inside ``fork``
    lists its new child only then. A walk before it stopped could miss that child, which
    its parent's SIGKILL would orphan: every walk comes after the stop (bounded here by a
    generous limit, so a loaded machine only makes it slower)."""
    monkeypatch.setattr(tree, "STOP_POLLS", 12_000)  # a minute of 5 ms pauses
    walked: list[list[int]] = []  # per walk: those signalled before it that had not stopped
    signalled: set[int] = set()
    walk = tree.descendants

    def spy(pid: int) -> list[int]:
        walked.append([p for p in {pid, *signalled} if not tree.has_stopped(p)])
        found = walk(pid)
        signalled.update(found)  # kill_trees stops them all before its next walk
        return found

    monkeypatch.setattr(tree, "descendants", spy)
    process = subprocess.Popen(FORKING)
    try:
        for _ in range(3000):  # bounded (30 s): until the shell has forked
            if tree.children(process.pid):
                break
            time.sleep(0.01)
        killed = tree.kill_trees([process.pid])
    finally:
        process.kill()
        process.wait()
    assert process.pid in killed
    assert len(walked) >= 2  # the shell's children were found, stopped, then walked
    assert walked == [[]] * len(walked)

