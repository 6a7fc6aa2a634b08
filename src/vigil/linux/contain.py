"""Containing every process vigil starts: jails, the orphan sweep, and reclaiming what a
killed daemon left behind.

A ``Jail`` holds one process tree: one target's probes (one at a time; the jail is reused),
or one run of a service. The launcher places each child in its jail as soon as it has
exec'd, then places the descendants it already has (parent first, then its children, so a
fork in between cannot be missed). Whatever a child forks afterwards is born inside.

Backends, chosen once per process (``VIGIL_CONTAIN=auto|cgroup2|freezer|proc``; auto
takes the first that works, in that order):
- ``cgroup2``: one cgroup per jail under ``<own cgroup>/vigil-<pid>-<start>``; ``cgroup.kill`` kills
  every member, ``cgroup.freeze`` pauses. Needs write access (root, or a delegated subtree).
- ``freezer``: the same with cgroup v1's freezer (freeze, SIGKILL each member, thaw).
- ``proc``: no cgroup. The jail remembers the pids it placed (with their start times) and
  kills their trees as they stand (stop everything, walk again, SIGKILL), plus, for a
  service, every process carrying its ``VIGIL_SERVICE_ID`` token.

Escapes: a process whose parent died before it was placed (a double fork in the first
microseconds) is reparented to vigil, which is a child subreaper. ``sweep()`` therefore kills
every live child of vigil that vigil did not spawn and that no jail claims: anything vigil
did not start is a leftover. A jail whose cgroup cannot be written falls back to ``proc``.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import signal
import time
import weakref
from collections.abc import Callable, Mapping

from vigil.linux import cgroups, tree
from vigil.linux import process as _process
from vigil.linux import spawn_thread as _spawn_thread

BACKEND_ENV = "VIGIL_CONTAIN"
CGROUP2, FREEZER, PROC = cgroups.V2, cgroups.FREEZER, "proc"
BACKENDS = (CGROUP2, FREEZER, PROC)
TOKEN_ENV = "VIGIL_SERVICE_ID"  # set in a service's environment, one random token per run
CLEAR_WAIT_S = 2.0  # bound on waiting for a killed jail to empty (real time)
RECLAIM_GRACE_MAX_S = 60.0
EXIT_RMDIR_TRIES = 100  # 2 ms apart  # bound on waiting for a dead daemon's service to stop
_log = logging.getLogger("vigil")

_override: str | None = None
_parents: dict[str, str | None] = {}  # backend -> this process's parent cgroup (or None)
_jails: weakref.WeakSet[Jail] = weakref.WeakSet()
_names = itertools.count(1)
_place_hooks: list[Callable[[int, int], None]] = []  # proc backend: (pid, start time)
_owns_children = False  # see own_children()
_walk_after_spawn = False  # see walk_after_spawn()


# -- choosing the backend ----------------------------------------------------------------


def select_backend(kind: str | None) -> None:
    """Force a backend for this process (tests, benchmarks); None: ``VIGIL_CONTAIN`` or auto."""
    global _override
    if kind is not None and kind not in BACKENDS:
        raise ValueError(f"unknown containment backend {kind!r}: one of {', '.join(BACKENDS)}")
    _override = kind


def backend() -> str:
    """The backend new jails use: the forced one if it works here, else the best one."""
    wanted = _override or os.environ.get(BACKEND_ENV, "auto")
    candidates = (wanted,) if wanted in BACKENDS else (CGROUP2, FREEZER)
    for kind in candidates:
        if kind == PROC or parent_path(kind) is not None:
            return kind
    return PROC


def available(kind: str) -> bool:
    return kind == PROC or parent_path(kind) is not None


def parent_path(kind: str | None = None) -> str | None:
    """This process's own cgroup parent for jails (``.../vigil-<pid>-<start time>``), made
    on first use; None where that hierarchy is missing or not writable. What a daemon
    records, so that its successor can ``reclaim_parent`` the probe jails it left."""
    kind = kind or backend()
    if kind == PROC:
        return None
    if kind not in _parents:
        _parents[kind] = _make_parent(kind)
    return _parents[kind]


def _make_parent(kind: str) -> str | None:
    own = cgroups.own_directory(kind)
    if own is None:
        return None
    # The start time keeps a dead vigil's parent apart from a live process that got its pid.
    path = os.path.join(own, f"vigil-{os.getpid()}-{tree.starttime(os.getpid()) or 0}")
    if os.path.isdir(path):  # left by a dead process that had our pid
        cgroups.kill_tree(kind, path)
        cgroups.remove_tree(path)
    try:
        os.mkdir(path, 0o755)
    except OSError:
        return None
    atexit.register(_remove_parent, kind, path)
    _remove_empty_strays(own)
    return path


def _remove_empty_strays(own: str) -> None:
    """rmdir the empty parents of dead vigil processes (killed before their exit hook ran).
    A parent with processes in it is left for ``reclaim_parent``."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(own):
            pid, _, started = entry.name.removeprefix("vigil-").partition("-")
            if not (entry.name.startswith("vigil-") and pid.isdigit() and started.isdigit()):
                continue
            if not tree.is_alive(int(pid), int(started)):
                cgroups.remove_tree(entry.path)


def _remove_parent(kind: str, path: str) -> None:
    """At exit: nothing vigil started outlives it, and no empty cgroup is left behind."""
    for jail in list(_jails):
        jail.close()
    cgroups.kill_tree(kind, path)
    for _ in range(EXIT_RMDIR_TRIES):  # a just-killed process leaves its cgroup in microseconds
        if cgroups.remove_tree(path):
            return
        time.sleep(0.002)


# -- jails ---------------------------------------------------------------------------------


class Jail:
    """One process tree's jail (see the module doc). Not thread-safe, except that ``add`` may
    run on the spawn thread while the loop waits for that spawn."""

    __slots__ = ("__weakref__", "_events_fd", "_members", "_procs_fd", "kind", "path", "token")

    def __init__(self, kind: str, path: str | None, token: str | None = None) -> None:
        self.kind = kind
        self.path = path
        self.token = token
        self._members: dict[int, int] = {}  # proc backend: pid -> start time
        self._procs_fd: int | None = None
        self._events_fd: int | None = None  # read: cgroup.events (v2), cgroup.procs (v1)
        if path is not None:
            self._procs_fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
            watched = "cgroup.events" if kind == CGROUP2 else "cgroup.procs"
            self._events_fd = os.open(os.path.join(path, watched), os.O_RDONLY | os.O_CLOEXEC)
        _jails.add(self)

    def prepare(self) -> None:
        """Just before a spawn: make the placement that follows fast (never raises).

        Moving a process between cgroups takes a global kernel lock whose first taker after
        an idle spell waits for an RCU grace period (5-15 ms measured here; nothing with
        the ``favordynmods`` mount option). Paid after the spawn, that wait is a window in
        which the new child runs and may fork before it is placed. So it is paid here: a
        no-op move of this process into its own cgroup takes the lock first (~20 us when
        the lock is warm, as at any steady probe rate)."""
        if self._procs_fd is not None:
            _warm_lock(self.kind)

    def add(self, pid: int) -> None:
        """Place ``pid`` and its present descendants in the jail (never raises)."""
        self.place(pid)
        self.adopt(pid)

    def place(self, pid: int) -> None:
        """Move ``pid`` into the jail: from now on what it forks is born inside. One write,
        made by the spawn thread right after the spawn (never raises). Without a cgroup:
        remember it, and tell the ``on_place`` hooks."""
        if self._procs_fd is not None:
            try:
                os.write(self._procs_fd, str(pid).encode())
                return
            except ProcessLookupError:
                return  # gone already; what it forked is found by ``adopt`` or the sweep
            except OSError as exc:
                _log.warning("cannot place pid %d in %s (%s): using /proc", pid, self.path, exc)
                self._fall_back()
        for dead in [p for p, s in self._members.items() if not tree.is_alive(p, s)]:
            del self._members[dead]
        started = tree.starttime(pid)
        if started is not None:
            self._members[pid] = started
            for hook in _place_hooks:
                hook(pid, started)

    def adopt(self, pid: int) -> None:
        """After ``place``: the descendants ``pid`` forked before it was placed (parent
        first, then its children, so none is missed). Those whose parent died already came
        back to us as orphans: ``sweep`` finds them. On the loop (never raises)."""
        if self._procs_fd is not None:
            try:
                self._place_descendants(pid)
                return
            except OSError as exc:
                _log.warning("cannot place in %s (%s): using /proc", self.path, exc)
                self._fall_back()
        for member in tree.descendants(pid):
            started = tree.starttime(member)
            if started is not None:
                self._members[member] = started

    def _place_descendants(self, pid: int) -> None:
        assert self._procs_fd is not None
        queue = tree.children(pid, pid)  # just exec'd: one thread (exec ends the others)
        for _ in range(tree.MAX_TREE):
            if not queue:
                return
            current = queue.pop()
            try:
                os.write(self._procs_fd, str(current).encode())
            except ProcessLookupError:
                continue  # exited meanwhile; its children were reparented
            queue.extend(tree.children(current))  # after the move: later forks are inside

    def _fall_back(self) -> None:
        self._close_fds()
        if self.path is not None:
            cgroups.remove_tree(self.path)
        self.kind, self.path = PROC, None

    def busy(self) -> bool:
        """Whether a live process is left in the jail."""
        if self._events_fd is not None:
            try:
                seen = os.pread(self._events_fd, 256, 0)
            except OSError:
                seen = b"populated 1"  # unreadable: assume the worst, clear() will tell
            return b"populated 1" in seen if self.kind == CGROUP2 else bool(seen.strip())
        if self.path is not None:
            return cgroups.populated(self.kind, self.path)
        alive = any(tree.is_alive(p, s) for p, s in self._members.items())
        return alive or (self.token is not None and bool(find_tagged_processes(self.token)))

    def kill(self) -> int:
        """SIGKILL everything in the jail now (without waiting); how many processes."""
        if self.path is not None:
            return len(cgroups.kill(self.kind, self.path))
        roots = [p for p, s in self._members.items() if tree.is_alive(p, s)]
        if self.token is not None:
            roots.extend(find_tagged_processes(self.token))
        return len(tree.kill_trees(roots))

    def freeze(self, frozen: bool) -> bool:
        """Freeze or thaw the whole jail; False where there is no freezer (``proc``)."""
        if self.path is None:
            return False
        cgroups.freeze(self.kind, self.path, frozen)
        return True

    def pids(self) -> list[int]:
        """The live processes in the jail (``proc``: those it knows of, and their trees)."""
        if self.path is not None:
            return cgroups.members(self.path)
        roots = [p for p, s in self._members.items() if tree.is_alive(p, s)]
        if self.token is not None:
            roots.extend(find_tagged_processes(self.token))
        return list({*roots, *(d for root in roots for d in tree.descendants(root))})

    def refresh(self) -> None:
        """``proc``: remember the present descendants of the members too (see ``claims``)."""
        if self.path is None:
            for pid in list(self._members):
                self.adopt(pid)

    def claims(self, pid: int, cgroup: str | None) -> bool:
        """Whether ``pid`` (whose cgroup in this jail's hierarchy is ``cgroup``) belongs here."""
        if self.path is not None:
            if cgroup is not None and self.path.endswith(cgroup):
                return True
            if self.token is not None and carries_token(pid, self.token):
                self.add(pid)  # escaped before the jail held its parent: in it goes
                return True
            return False
        if pid in self._members and tree.is_alive(pid, self._members[pid]):
            return True
        return self.token is not None and carries_token(pid, self.token)

    def close(self) -> None:
        """Forget the jail and remove its cgroup (once it is empty)."""
        _jails.discard(self)
        self._close_fds()
        if self.path is not None:
            cgroups.remove_tree(self.path)

    def _close_fds(self) -> None:
        for fd in (self._procs_fd, self._events_fd):
            if fd is not None:
                os.close(fd)
        self._procs_fd = self._events_fd = None

    def record(self) -> str | None:
        """What reopens the jail after a restart of vigil (``reclaim``): its cgroup path."""
        return self.path

    def __repr__(self) -> str:
        return f"Jail({self.kind!r}, {self.path!r})"


def on_place(hook: Callable[[int, int], None]) -> None:
    """Call ``hook(pid, starttime)`` for each process placed in a ``proc`` jail (from the
    spawn thread too): how the ``vigil check`` guardian learns what to kill without cgroups."""
    _place_hooks.append(hook)


def open_jail(token: str | None = None, kind: str | None = None) -> Jail:
    """A new empty jail of the current (or the given) backend."""
    kind = kind or backend()
    parent = parent_path(kind)
    if kind != PROC and parent is not None:
        path = os.path.join(parent, f"j{next(_names)}")
        try:
            os.mkdir(path, 0o755)
            return Jail(kind, path, token)
        except OSError as exc:
            _log.warning("cannot make a cgroup under %s (%s): using /proc", parent, exc)
    return Jail(PROC, None, token)


async def clear(jail: Jail) -> bool:
    """Kill everything in ``jail``, wait (real time, bounded) until it is empty, and sweep
    what came back to us; True if it emptied in time."""
    jail.kill()
    emptied = await _process.wait_until(lambda: not jail.busy(), CLEAR_WAIT_S)
    sweep()
    return emptied


def release() -> None:
    """Close every jail and remove this process's cgroup parents, killing what is in them
    (a daemon's last step; at exit it happens anyway)."""
    for kind, path in list(_parents.items()):
        if path is not None:
            _remove_parent(kind, path)
    _parents.clear()


def kill_all() -> int:
    """SIGKILL the contents of every open jail now (a forced exit); how many processes."""
    return sum(jail.kill() for jail in list(_jails))


_own_procs: dict[str, int | None] = {}  # backend -> our own cgroup's cgroup.procs, open


def _warm_lock(kind: str) -> None:
    if kind not in _own_procs:
        own = cgroups.own_directory(kind)
        try:
            path = os.path.join(own or "", "cgroup.procs")
            _own_procs[kind] = os.open(path, os.O_WRONLY | os.O_CLOEXEC) if own else None
        except OSError:
            _own_procs[kind] = None
    fd = _own_procs[kind]
    if fd is not None:
        with contextlib.suppress(OSError):
            os.write(fd, str(os.getpid()).encode())


# -- leftovers: the orphan sweep -----------------------------------------------------------


def walk_after_spawn(walk: bool = True) -> None:
    """Whether ``launch_async`` walks a new probe's descendants right after placing it
    (``Jail.adopt``, ~25 us). Off by default (a library's own program decides). On in the
    daemon and ``vigil check``: what forked before the placement would otherwise be found
    only as an orphan, once its parent dies, by a sweep that a SIGKILLed vigil never runs."""
    global _walk_after_spawn
    _walk_after_spawn = walk


def walks_after_spawn() -> bool:
    return _walk_after_spawn


def own_children(owned: bool = True) -> None:
    """Declare that every child of this process is vigil's (the daemon, ``vigil check``):
    only then does ``sweep`` kill. A program that embeds vigil and starts processes of its
    own does not call this, so its children are never taken for leftovers."""
    global _owns_children
    _owns_children = owned


def sweep(*, quick: bool = False) -> int:
    """Kill every live child of this process that it did not spawn (nobody tracks it) and
    that no open jail claims, with its tree; reap the untracked zombies. How many killed.
    Only meaningful in a child subreaper (``become_subreaper``).

    ``quick``: look only at the main thread's children, where the kernel hands orphans to
    a subreaper (its first live thread), and which the spawn thread's children never join:
    one small read and no lock, cheap enough for the end of every probe.

    Unless ``own_children()`` was called, nothing is killed, and only zombies outside this
    process's own process group are reaped (a probe's leftovers never are in it; a child
    the embedding program started usually is, and its exit status stays for its owner)."""
    if quick:
        zombies, alive = _untracked(tree.children(os.getpid(), os.getpid()))
    else:
        with _spawn_thread.SPAWN_LOCK:  # a child spawned just now is tracked before we look
            zombies, alive = _untracked(tree.children_of_self())
    if not _owns_children:
        own_group = os.getpgrp()
        _process.reap_untracked([pid for pid, group in zombies if group != own_group])
        return 0
    _process.reap_untracked([pid for pid, _ in zombies])  # takes the lock itself
    leftovers = [pid for pid in alive if not _claimed(pid)]
    return len(tree.kill_trees(leftovers)) if leftovers else 0


def _untracked(pids: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """(zombies with their process group, live ones) among ``pids`` that nobody tracks."""
    zombies: list[tuple[int, int]] = []
    alive: list[int] = []
    for pid in pids:
        if _process.is_tracked(pid):
            continue
        fields = tree.stat_fields(pid)
        if fields is None or len(fields) < 3:
            continue
        if fields[0] in (b"Z", b"X"):
            zombies.append((pid, int(fields[2])))
        else:
            alive.append(pid)
    return zombies, alive


def _claimed(pid: int) -> bool:
    jails = list(_jails)
    for jail in jails:
        jail.refresh()
    cgroup_by_kind = {k: cgroups.cgroup_of(k, pid) for k in {j.kind for j in jails} - {PROC}}
    return any(jail.claims(pid, cgroup_by_kind.get(jail.kind)) for jail in jails)


# -- service tokens (the proc backend's way to find a service's escaped processes) ---------


def find_tagged_processes(token: str) -> list[int]:
    """Pids whose environment holds ``VIGIL_SERVICE_ID=<token>`` (zombies have none)."""
    me = os.getpid()
    pids = (int(e.name) for e in os.scandir("/proc") if e.name.isdigit())
    return [pid for pid in pids if pid != me and carries_token(pid, token)]


def carries_token(pid: int, token: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:
        return False  # gone, or not ours to read
    return f"\0{TOKEN_ENV}={token}\0".encode() in b"\0" + environ + b"\0"


# -- reclaiming what a killed daemon left ----------------------------------------------------


async def reclaim(record: Mapping[str, object]) -> int:
    """Stop a run of a service that a previous, killed daemon left (``Supervisor.run_record``):
    the stop signal to its main process if pid and start time still match, a wait of up to
    its grace period (real time, at most RECLAIM_GRACE_MAX_S), then SIGKILL for everything
    of the run: its jail, the main process's tree, every process with its token. Returns how
    many processes it stopped. Raises ValueError for a malformed record."""
    pid, started, token, path = _int(record, "pid"), _int(record, "starttime"), \
        str(record.get("token") or ""), record.get("jail")
    grace_s = min(max(_int(record, "stop_grace_ns"), 0) / 1e9, RECLAIM_GRACE_MAX_S)
    stop_signal = _int(record, "stop_signal")
    kind = cgroups.kind_of(path) if isinstance(path, str) and path else None
    stopped: set[int] = set()
    main = _open_if_same(pid, started)
    if main is not None:
        try:
            with contextlib.suppress(OSError, ValueError, OverflowError):
                signal.pidfd_send_signal(main, stop_signal)
                stopped.add(pid)
            _continue(pid, kind, path)  # a paused run handles its stop signal itself
            await _process.wait_readable(main, grace_s)
        finally:
            os.close(main)
    if kind is not None:
        stopped |= await _empty_tree(kind, str(path))
    roots = [pid] if tree.is_alive(pid, started) else []
    tagged = find_tagged_processes(token) if token else []
    stopped |= tree.kill_trees(roots + tagged)
    await _process.wait_until(lambda: not any(tree.is_alive(p) for p in stopped), CLEAR_WAIT_S)
    return len(stopped)


def _continue(pid: int, kind: str | None, path: object) -> None:
    """Undo a pause (``vigil pause``): thaw the jail, SIGCONT the run's process group."""
    if kind is not None:
        with contextlib.suppress(OSError):
            cgroups.freeze(kind, str(path), False)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGCONT)  # a service leads its own session and group


async def reclaim_parent(path: str) -> int:
    """Kill everything under a previous daemon's cgroup parent (``parent_path``) and remove
    it; how many processes. A path that is no cgroup (or gone) is left alone."""
    kind = cgroups.kind_of(path)
    if kind is None or not os.path.basename(path.rstrip("/")).startswith("vigil-"):
        return 0  # never a whole hierarchy, nor a cgroup vigil did not make
    return len(await _empty_tree(kind, path))


async def _empty_tree(kind: str, path: str) -> set[int]:
    seen = cgroups.kill_tree(kind, path)  # nothing when the path is gone
    await _process.wait_until(lambda: not any(tree.is_alive(p) for p in seen), CLEAR_WAIT_S)
    cgroups.remove_tree(path)
    return seen


def _open_if_same(pid: int, started: int) -> int | None:
    """A pidfd for ``pid`` if it is still the process that started at ``started``."""
    if pid <= 0 or not tree.is_alive(pid, started):
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if not tree.is_alive(pid, started):  # reused between the check and the open
        os.close(fd)
        return None
    return fd


def _int(record: Mapping[str, object], key: str) -> int:
    value = record.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"run record: {key} must be an integer, not {value!r}")
    return value
