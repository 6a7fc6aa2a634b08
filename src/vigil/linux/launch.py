"""Starting a process the way runc and Go do: ``exec.LookPath``, the working directory and
user checks, and their exact error texts. Shared by exec probes and supervised services.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat

from vigil.go.strconv import go_quote
from vigil.linux import process as _process
from vigil.linux.process import Credentials

SETPRIV_FAILURE = b"setpriv: failed to execute "


class StartError(Exception):
    """The process could not be started; the message says why, in runc's words."""


def look_path(name: str, search_path: str, cwd: str | None) -> str:
    """Go's ``exec.LookPath`` with the probe's PATH; relative names resolve against ``cwd``."""
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
    """runc's user resolution; None when not root (nothing to switch) or already that user."""
    if os.geteuid() != 0:
        return None
    user, _, group = spec.partition(":")
    entry = _passwd_entry(user)
    uid = entry.pw_uid if entry is not None else int(user or 0)
    gid = entry.pw_gid if entry is not None else 0
    if group:
        gid = _group_id(group)
    groups = tuple(os.getgrouplist(entry.pw_name, gid)) if entry is not None else (gid,)
    if uid == os.geteuid() and gid == os.getegid() and set(groups) == set(os.getgroups()):
        return None
    return Credentials(uid, gid, groups)


def _passwd_entry(user: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        if user.isdigit() or not user:
            return None  # a numeric uid need not exist in /etc/passwd
        raise StartError(
            f"unable to find user {user}: no matching entries in passwd file"
        ) from None


def _group_id(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise StartError(
            f"unable to find group {group}: no matching entries in group file"
        ) from None
