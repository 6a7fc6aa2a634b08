"""Starting a process: the one path shared by exec probes and supervised services.

A ``LaunchSpec`` says what to start; ``launch`` (the caller waits for the spawn) and
``launch_async`` (the event loop runs meanwhile) start it and return a ``Child``: pid, pidfd
and the read ends of its output. Before spawning come the checks runc and Go make, with
their texts: the working directory, the user, ``exec.LookPath`` with the command's own PATH.
Every failure to start is a ``StartError``; a started child is tracked until reaped (see
``vigil.linux.process``).

How it spawns, and why:
- Never fork(): it copies the page tables, so spawning slows down as the daemon's heap
  grows. posix_spawn (vfork in glibc) for the plain case, on the spawn thread with the GIL
  released when the caller is a loop; Popen (vfork too) for a working directory, which
  posix_spawn cannot set on 3.11, and for services.
- A user switch runs setpriv(1) after a vfork-safe spawn; Popen's own switch forks.
- A service (``new_session``) always goes through Popen: its close_fds keeps every inherited
  descriptor out of a long-lived process, which posix_spawn cannot do on 3.11.
- stdin is /dev/null; SIGPIPE and SIGXFSZ get their default action back (Python ignores
  them, and so would the child).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial

from vigil.core.names import MAX_ID as MAX_ID  # re-exported: runc's largest id
from vigil.core.names import user_ids
from vigil.go.strconv import go_quote
from vigil.linux import contain
from vigil.linux import process as _process
from vigil.linux import spawn_thread as _spawn_thread
from vigil.linux.contain import Jail

SETPRIV_FAILURE = b"setpriv: failed to execute "
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)  # ignored by Python; Popen restores them too


class StartError(Exception):
    """The process could not be started; the message says why, in runc's words."""


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """What to start. ``argv[0]`` is looked up in ``env``'s PATH (relative to ``cwd``);
    ``user`` (name, uid, ``name:group`` or ``uid:gid``) applies only when running as root;
    ``cwd`` None means this process's working directory."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str | None = None
    user: str | None = None
    separate_stderr: bool = False  # services: stdout and stderr apart; probes: one pipe
    new_session: bool = False  # services: their own session; probes: a new process group

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("LaunchSpec.argv is empty: there is nothing to start")
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "cwd", self.cwd or None)
        object.__setattr__(self, "user", self.user or None)


@dataclass(frozen=True, slots=True)
class Child:
    """A started process; it leads its own process group (``pgid == pid``)."""

    pid: int
    pidfd: int  # readable once the process has exited
    output_fd: int  # non-blocking read end of stdout, and of stderr unless separate
    error_fd: int | None = None  # stderr's, when the spec asked for it apart
    via_setpriv: bool = False  # the user switch went through setpriv(1)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a process runs as: uid, primary gid and supplementary groups."""

    uid: int
    gid: int
    groups: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Command:
    """A spec made ready to spawn: the executable to run and its arguments."""

    executable: str
    argv: tuple[str, ...]
    credentials: Credentials | None  # still to apply (Popen switches user)
    looked_up: str  # argv[0] as found in PATH: what errors name
    via_setpriv: bool


def launch(spec: LaunchSpec, jail: Jail | None = None) -> Child:
    """Start ``spec`` now; the caller waits while the child execs. Raises ``StartError``.
    The child (and anything it forked already) goes into ``jail`` as soon as it exists."""
    command = _prepare(spec)
    return _watch(*_spawn_blocking(spec, command, jail), command.via_setpriv)


async def launch_async(spec: LaunchSpec, jail: Jail | None = None) -> Child:
    """``launch`` for a loop: at most ``QUEUE_LIMIT`` of one loop's launches run at once
    (the rest wait here, one small future each), and the plain case spawns on the spawn
    thread, so the loop runs while the child execs (and is placed in ``jail`` there, right
    after the exec). Cancellable at any point: a child spawned for a cancelled caller is
    killed and reaped."""
    slots = _spawn_thread.slots()
    await slots.acquire()
    try:
        command = _prepare(spec)
        encoded = _threadable(spec, command)
        if encoded is None:
            return _watch(*_spawn_blocking(spec, command, jail), command.via_setpriv)
        try:
            pid, read_fd = await _spawn_thread.spawn(
                encoded,
                default_signals=_DEFAULT_SIGNALS,
                stdin=_devnull(),
                track=_process.track if jail is None else partial(_track_in, jail),
                before=_nothing if jail is None else jail.prepare,
                abandon=_abandon,
            )
        except OSError as exc:
            raise _spawn_failed(exc, spec, command) from None
        if jail is not None and contain.walks_after_spawn():
            jail.adopt(pid)
        return _watch(pid, read_fd, None, command.via_setpriv)
    finally:
        slots.release()


# -- before spawning: runc's and Go's checks ----------------------------------------------


def _prepare(spec: LaunchSpec) -> _Command:
    try:
        if spec.cwd is not None:
            check_working_dir(spec.cwd)
        credentials = resolve_credentials(spec.user) if spec.user else None
        executable = look_path(spec.argv[0], spec.env.get("PATH", ""), spec.cwd)
    except ValueError as exc:  # a NUL byte in a path
        raise StartError(str(exc)) from None
    if credentials is not None and (helper := setpriv_path()) is not None:
        argv = (helper, *setpriv_options(credentials), "--", executable, *spec.argv[1:])
        return _Command(helper, argv, None, executable, via_setpriv=True)
    return _Command(executable, spec.argv, credentials, executable, via_setpriv=False)


def look_path(name: str, search_path: str, cwd: str | None) -> str:
    """Go's ``exec.LookPath`` with the command's PATH; relative names resolve against ``cwd``."""
    if "/" in name:
        code, stat_failed = _executable_errno(_in_dir(cwd, name))
        if code:
            reason = _process.errno_text(code)
            detail = f"stat {name}: {reason}" if stat_failed else reason
            raise StartError(f"exec: {go_quote(name)}: {detail}")
        return name
    for directory in search_path.split(":") if search_path else ():
        candidate = os.path.join(directory or ".", name)
        if not _executable_errno(_in_dir(cwd, candidate))[0]:
            return candidate
    raise StartError(f"exec: {go_quote(name)}: executable file not found in $PATH")


def _in_dir(cwd: str | None, path: str) -> str:
    return os.path.join(cwd, path) if cwd is not None else path


def _executable_errno(path: str) -> tuple[int, bool]:
    """Go's ``findExecutable``: (0, _) if runnable, else (errno, whether stat itself failed)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return exc.errno or errno.ENOENT, True
    if stat.S_ISDIR(mode):
        return errno.EISDIR, False
    if not os.access(path, os.X_OK, effective_ids=True):
        return errno.EACCES, False
    return 0, False


def check_working_dir(cwd: str) -> None:
    try:
        is_dir = stat.S_ISDIR(os.stat(cwd).st_mode)
    except OSError as exc:
        raise StartError(_chdir_text(cwd, exc.errno or 0)) from None
    if not is_dir:
        raise StartError(_chdir_text(cwd, errno.ENOTDIR))


def _chdir_text(cwd: str, code: int) -> str:
    return f"chdir to cwd ({go_quote(cwd)}) set in config failed: {_process.errno_text(code)}"


def spawn_error_text(exc: OSError, name: str, executable: str, cwd: str | None) -> str:
    code = exc.errno or 0
    if cwd is not None and exc.filename == cwd:
        return _chdir_text(cwd, code)  # Popen reports a failed chdir with the cwd as filename
    if code in _process.EXEC_ERRNOS:
        return f"exec: {go_quote(name)}: {_process.errno_text(code)}"
    return f"fork/exec {executable}: {_process.errno_text(code)}"  # EAGAIN, ENOMEM, EMFILE...


def setpriv_failure(raw: bytes, name: str) -> str | None:
    """setpriv(1) reports a failed exec as exit 126/127 and a message; Docker says ERROR."""
    if not raw.startswith(SETPRIV_FAILURE):
        return None
    reason = raw.rstrip(b"\n").rpartition(b": ")[2].decode(errors="replace")
    return f"exec: {go_quote(name)}: {reason[:1].lower()}{reason[1:]}"


def resolve_credentials(spec: str) -> Credentials | None:
    """runc's user resolution; None when not root (nothing to switch) or already that user.
    An id out of 0..2147483647 raises ValueError with runc's text (``user_ids``)."""
    if os.geteuid() != 0:
        return None
    user, _, group = spec.partition(":")
    group = group.partition(":")[0]
    uid_number, gid_number = user_ids(spec)
    entry = _passwd_entry(user, uid_number)
    uid = entry.pw_uid if entry is not None else uid_number or 0
    gid = entry.pw_gid if entry is not None else 0
    if group:
        gid = gid_number if gid_number is not None else _group_id(group)
    groups = tuple(os.getgrouplist(entry.pw_name, gid)) if entry is not None else (gid,)
    if uid == os.geteuid() and gid == os.getegid() and set(groups) == set(os.getgroups()):
        return None
    return Credentials(uid, gid, groups)


def _passwd_entry(user: str, uid: int | None) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(uid) if uid is not None else pwd.getpwnam(user)
    except (KeyError, ValueError):  # ValueError: a NUL byte, in no passwd file
        if uid is not None or not user:
            return None  # a numeric uid need not exist in /etc/passwd
        raise StartError(
            f"unable to find user {user}: no matching entries in passwd file"
        ) from None


def _group_id(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except (KeyError, ValueError):
        raise StartError(
            f"unable to find group {group}: no matching entries in group file"
        ) from None


@cache
def setpriv_path() -> str | None:
    """util-linux setpriv(1): switches user after a vfork-safe spawn (Popen's user switch forks)."""
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


def setpriv_options(credentials: Credentials) -> list[str]:
    groups = ",".join(str(g) for g in credentials.groups)
    group_option = f"--groups={groups}" if groups else "--clear-groups"
    return [f"--reuid={credentials.uid}", f"--regid={credentials.gid}", group_option]


# -- spawning ----------------------------------------------------------------------------


@cache
def _devnull() -> int:
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


def _posix_spawnable(spec: LaunchSpec, command: _Command) -> bool:
    return spec.cwd is None and command.credentials is None and not spec.new_session


def _threadable(spec: LaunchSpec, command: _Command) -> _spawn_thread.Encoded | None:
    """The arguments for the spawn thread, or None where ``launch``'s own path must run (it
    also gives the exact error for what ``encode`` refuses)."""
    if not _posix_spawnable(spec, command) or spec.separate_stderr:
        return None
    if not _spawn_thread.available(_DEFAULT_SIGNALS):
        return None
    return _spawn_thread.encode(command.executable, command.argv, spec.env)


def _nothing() -> None:
    pass


def _track_in(jail: Jail, pid: int) -> None:
    """On the spawn thread: one write, so that the child's forks are born in its jail."""
    _process.track(pid)
    jail.place(pid)


def _spawn_blocking(
    spec: LaunchSpec, command: _Command, jail: Jail | None
) -> tuple[int, int, int | None]:
    """Spawn in this thread: (pid, stdout read end, stderr read end or None). The write
    ends are closed whatever happens; the read ends too if it fails."""
    readers: list[int] = []
    writers: list[int] = []
    if jail is not None:
        jail.prepare()
    try:
        for _ in range(2 if spec.separate_stderr else 1):
            read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
            readers.append(read_fd)
            writers.append(write_fd)
        if _posix_spawnable(spec, command):
            pid = _posix_spawn(command, spec.env, writers[0], writers[-1])
        else:
            pid = _popen(spec, command, writers[0], writers[-1])
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte, a bad variable name
        _close_all(readers)
        raise _spawn_failed(exc, spec, command) from None
    except BaseException:
        _close_all(readers)
        raise
    finally:
        _close_all(writers)
    _process.track(pid)
    if jail is not None:
        jail.add(pid)
    return pid, readers[0], readers[1] if len(readers) > 1 else None


def _spawn_failed(exc: OSError | ValueError, spec: LaunchSpec, command: _Command) -> StartError:
    if isinstance(exc, OSError):
        return StartError(spawn_error_text(exc, spec.argv[0], command.looked_up, spec.cwd))
    return StartError(str(exc))


def _posix_spawn(command: _Command, env: Mapping[str, str], stdout: int, stderr: int) -> int:
    return os.posix_spawn(
        command.executable,
        list(command.argv),
        env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, _devnull(), 0),
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2),
        ],
        setpgroup=0,
        setsigdef=_DEFAULT_SIGNALS,
    )


def _popen(spec: LaunchSpec, command: _Command, stdout: int, stderr: int) -> int:
    credentials = command.credentials
    process = subprocess.Popen(  # vfork unless it must switch users itself
        list(command.argv),
        executable=command.executable,
        env=dict(spec.env),
        cwd=spec.cwd,
        stdin=_devnull(),
        stdout=stdout,
        stderr=stderr,
        start_new_session=spec.new_session,
        process_group=None if spec.new_session else 0,
        user=None if credentials is None else credentials.uid,
        group=None if credentials is None else credentials.gid,
        extra_groups=None if credentials is None else list(credentials.groups),
    )
    # Reaped through its pidfd; a None returncode would make Popen.__del__ adopt (and later
    # waitpid) the pid.
    process.returncode = 0
    return process.pid


def _watch(pid: int, output_fd: int, error_fd: int | None, via_setpriv: bool) -> Child:
    readers = [output_fd] if error_fd is None else [output_fd, error_fd]
    for fd in readers:
        os.set_blocking(fd, False)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as exc:  # out of descriptors: leave no unwatched process behind
        _abandon(pid)
        _close_all(readers)
        raise StartError(f"pidfd_open: {_process.errno_text(exc.errno or 0)}") from None
    return Child(pid, pidfd, output_fd, error_fd, via_setpriv)


def _abandon(pid: int) -> None:
    """A child nobody will watch: kill its group and reap it."""
    _process.kill_group(pid)  # safe: the unreaped child keeps its pgid from reuse
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # just SIGKILLed: returns at once
    _process.untrack(pid)


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)
