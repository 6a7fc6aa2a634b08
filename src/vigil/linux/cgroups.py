"""Control groups as jails: where they are mounted, placing a process, killing, freezing.

Two kinds, chosen by ``vigil.linux.contain``:
- ``cgroup2``: the unified hierarchy (``/sys/fs/cgroup`` on v2 hosts, ``/sys/fs/cgroup/unified``
  on hybrid ones). ``cgroup.kill`` SIGKILLs every member at once, forks included;
  ``cgroup.freeze`` freezes. Neither needs a controller, so no "no internal processes" rule.
- ``freezer``: cgroup v1's freezer hierarchy. Killing freezes the group (a frozen process
  cannot fork), SIGKILLs every member in bounded rounds, then thaws so they die.

Standard library only and no other vigil module (the ``vigil check`` guardian loads it).
"""

from __future__ import annotations

import contextlib
import os
import signal

V2 = "cgroup2"
FREEZER = "freezer"
KILL_ROUNDS = 8  # read-and-kill rounds while a v1 group freezes (a fork may be under way)


def mount_point(kind: str) -> tuple[str, str] | None:
    """Where the ``kind`` hierarchy is mounted and which of its cgroups the mount shows (its
    root: "/" unless this runs in a container without a cgroup namespace)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2].split(",")
        if (kind == V2 and fstype == "cgroup2") or (
            kind == FREEZER and fstype == "cgroup" and FREEZER in options
        ):
            return fields[4].replace("\\040", " "), fields[3].replace("\\040", " ")
    return None


def cgroup_of(kind: str, pid: int | str = "self") -> str | None:
    """The cgroup of ``pid`` in the ``kind`` hierarchy, as /proc/PID/cgroup says ("/a/b")."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if (kind == V2 and controllers == "") or (
            kind == FREEZER and FREEZER in controllers.split(",")
        ):
            return path
    return None


def own_directory(kind: str) -> str | None:
    """The directory of this process's own cgroup in the ``kind`` hierarchy, if mounted."""
    mount, own = mount_point(kind), cgroup_of(kind)
    if mount is None or own is None:
        return None
    where, root = mount
    if root != "/" and (own == root or own.startswith(root + "/")):
        own = own[len(root) :]
    return os.path.join(where, own.lstrip("/"))


def kind_of(path: str) -> str | None:
    """Which hierarchy a cgroup directory belongs to."""
    for kind in (V2, FREEZER):
        mount = mount_point(kind)
        if mount is not None and (path + "/").startswith(mount[0].rstrip("/") + "/"):
            return kind
    return None


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except OSError:
        return ""


def members(path: str) -> list[int]:
    """The pids in the group (not its children groups)."""
    return [int(word) for word in _read(os.path.join(path, "cgroup.procs")).split()]


def populated(kind: str, path: str) -> bool:
    """Whether a live process is left in the group (zombies do not count)."""
    if kind == V2:
        return "populated 1" in _read(os.path.join(path, "cgroup.events"))
    return bool(_read(os.path.join(path, "cgroup.procs")).strip())


def kill(kind: str, path: str) -> set[int]:
    """SIGKILL every member of the group now; the pids seen in it. Does not wait."""
    seen = set(members(path))
    if kind == V2:
        with contextlib.suppress(FileNotFoundError):
            _write(os.path.join(path, "cgroup.kill"), "1")
        return seen
    freeze(kind, path, True)
    killed: set[int] = set()
    try:
        for _ in range(KILL_ROUNDS):
            new = set(members(path)) - killed
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            killed |= new
    finally:
        freeze(kind, path, False)  # frozen, they could not die
    return seen | killed


def freeze(kind: str, path: str, frozen: bool) -> None:
    with contextlib.suppress(FileNotFoundError):
        if kind == V2:
            _write(os.path.join(path, "cgroup.freeze"), "1" if frozen else "0")
        else:
            _write(os.path.join(path, "freezer.state"), "FROZEN" if frozen else "THAWED")


def kill_tree(kind: str, path: str) -> set[int]:
    """``kill`` the group and every group below it; the pids seen."""
    seen: set[int] = set()
    for directory, _, _ in os.walk(path, topdown=False):
        seen |= kill(kind, directory)
    return seen


def remove_tree(path: str) -> bool:
    """rmdir the group and the groups below it (only empty ones go); True if it is gone."""
    for directory, _, _ in os.walk(path, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(directory)
    return not os.path.isdir(path)
