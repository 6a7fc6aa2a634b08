"""The one launcher, through both its doors (``launch`` and ``launch_async``) and both its
shapes: a probe (one output pipe, a new process group) and a service (stdout and stderr
apart, its own session). Real processes; no sleeps: every wait is on a pidfd or a pipe."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from collections.abc import Mapping
from pathlib import Path

import pytest

from vigil.linux import launch as _launch
from vigil.linux import process as _process
from vigil.linux.launch import MAX_ID, Child, LaunchSpec, StartError, launch, launch_async
from vigil.linux.process import become_subreaper, reap_leader

ENV = {"PATH": "/usr/bin:/bin"}
HOW = ["blocking", "async"]
PROBE = {}  # a probe's shape: the defaults
SERVICE = {"separate_stderr": True, "new_session": True}
SHAPES = pytest.mark.parametrize("shape", [PROBE, SERVICE], ids=["probe", "service"])
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


@pytest.fixture(scope="module", autouse=True)
def _subreaper() -> None:
    assert become_subreaper()


def start(spec: LaunchSpec, how: str) -> Child:
    if how == "async":
        return asyncio.run(launch_async(spec))
    return launch(spec)


def sh(script: str, env: Mapping[str, str] = ENV, **options: object) -> LaunchSpec:
    return LaunchSpec(("/bin/sh", "-c", script), env, **options)  # type: ignore[arg-type]


def read_to_end(fd: int) -> bytes:
    os.set_blocking(fd, True)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def finish(child: Child) -> tuple[int, bytes, bytes | None]:
    """Read every output to EOF, wait for the exit (pidfd), reap: (code, out, err)."""
    out = read_to_end(child.output_fd)
    err = None if child.error_fd is None else read_to_end(child.error_fd)
    os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED | os.WNOWAIT)
    os.close(child.pidfd)
    status = reap_leader(child.pid)
    assert status is not None
    return os.waitstatus_to_exitcode(status), out, err


def failure(spec: LaunchSpec, how: str) -> str:
    with pytest.raises(StartError) as caught:
        start(spec, how)
    return str(caught.value)


# -- the two shapes ---------------------------------------------------------------------

IDS = 'set -- $(cut -d" " -f5,6 /proc/$$/stat); echo "$$ $1 $2"'  # pid, pgid, session


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("cwd", [None, "/"])
def test_a_probe_leads_a_new_group_in_our_session_with_one_output_pipe(
    how: str, cwd: str | None
) -> None:
    """posix_spawn (no cwd) and Popen (cwd) alike: pgid == pid, stdin /dev/null, stdout and
    stderr in one pipe, tracked until reaped."""
    child = start(sh(f"{IDS}; cat; echo err >&2; pwd", cwd=cwd), how)
    assert child.pid in _process._tracked
    assert child.error_fd is None
    code, out, _ = finish(child)
    ids, *rest = out.decode().split("\n")
    pid, pgid, session = map(int, ids.split())
    assert code == 0
    assert pid == pgid == child.pid
    assert session == os.getsid(0)
    assert rest == ["err", cwd or os.getcwd(), ""]
    assert child.pid not in _process._tracked


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("cwd", [None, "/"])
def test_a_service_leads_its_own_session_with_stdout_and_stderr_apart(
    how: str, cwd: str | None
) -> None:
    child = start(sh(f"{IDS}; cat; echo err >&2; pwd", cwd=cwd, **SERVICE), how)
    code, out, err = finish(child)
    ids, *rest = out.decode().split("\n")
    assert code == 0
    assert list(map(int, ids.split())) == [child.pid] * 3
    assert rest == [cwd or os.getcwd(), ""]
    assert err == b"err\n"


@pytest.mark.parametrize("how", HOW)
def test_a_service_inherits_no_descriptor_but_its_stdio(how: str) -> None:
    """close_fds: a long-lived process keeps nothing of ours open."""
    read_fd, write_fd = os.pipe()
    os.set_inheritable(write_fd, True)
    try:
        child = start(sh("ls /proc/$$/fd", **SERVICE), how)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    code, out, _ = finish(child)
    assert code == 0
    assert sorted(int(fd) for fd in out.split()) == [0, 1, 2]


@pytest.mark.parametrize("how", HOW)
@SHAPES
def test_sigpipe_and_sigxfsz_get_their_default_action_back(
    how: str, shape: dict[str, bool]
) -> None:
    """Python ignores SIGPIPE; a child must not inherit that."""
    child = start(LaunchSpec(("grep", "SigIgn", "/proc/self/status"), ENV, **shape), how)
    code, out, _ = finish(child)
    ignored = int(out.split()[1], 16)
    assert code == 0
    assert ignored & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)) == 0


@pytest.mark.parametrize("how", HOW)
def test_the_environment_is_exactly_the_specs(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_LEAK_CHECK", "leaked")
    code, out, _ = finish(start(LaunchSpec(("env",), {**ENV, "A": "x=y"}), how))
    assert (code, out) == (0, b"PATH=/usr/bin:/bin\nA=x=y\n")


# -- start errors: the same texts through both doors and both shapes --------------------


@pytest.mark.parametrize("how", HOW)
@SHAPES
@pytest.mark.parametrize(
    ("argv", "cwd", "message"),
    [
        (("no-such-binary",), None, 'exec: "no-such-binary": executable file not found in $PATH'),
        (("/x/y",), None, 'exec: "/x/y": stat /x/y: no such file or directory'),
        (("/etc/passwd",), None, 'exec: "/etc/passwd": permission denied'),
        (("/tmp",), None, 'exec: "/tmp": is a directory'),
        (
            ("true",),
            "/nonexistent-dir",
            'chdir to cwd ("/nonexistent-dir") set in config failed: no such file or directory',
        ),
        (
            ("true",),
            "/etc/passwd",
            'chdir to cwd ("/etc/passwd") set in config failed: not a directory',
        ),
        (("tr\0ue",), None, "embedded null byte"),
    ],
)
def test_what_cannot_start_is_a_start_error_in_runcs_words(
    how: str, shape: dict[str, bool], argv: tuple[str, ...], cwd: str | None, message: str
) -> None:
    assert failure(LaunchSpec(argv, ENV, cwd=cwd, **shape), how) == message


@pytest.mark.parametrize("how", HOW)
@SHAPES
@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (("true", "a\0b"), ENV, "embedded null byte"),
        (("true",), {**ENV, "A": "x\0"}, "embedded null byte"),
        (("true",), {**ENV, "A=B": "x"}, "illegal environment variable name"),
    ],
)
def test_arguments_the_kernel_cannot_take_are_start_errors(
    how: str, shape: dict[str, bool], argv: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    assert failure(LaunchSpec(argv, env, **shape), how) == message


@pytest.mark.parametrize("how", HOW)
def test_a_working_dir_gone_between_check_and_spawn_is_named(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Popen reports the failed chdir itself: the same text as the check's."""
    monkeypatch.setattr(_launch, "check_working_dir", lambda cwd: None)
    missing = str(tmp_path / "missing")
    message = f'chdir to cwd ("{missing}") set in config failed: no such file or directory'
    assert failure(LaunchSpec(("true",), ENV, cwd=missing), how) == message


@pytest.mark.parametrize("how", HOW)
@SHAPES
def test_a_child_that_cannot_be_watched_is_killed_and_reaped(
    how: str, shape: dict[str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors for its pidfd: no unwatched process is left behind."""
    seen: list[int] = []

    def refuse(pid: int, flags: int = 0) -> int:
        seen.append(pid)
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(os, "pidfd_open", refuse)
    message = failure(LaunchSpec(("sleep", "1000"), ENV, **shape), how)
    assert message == "pidfd_open: too many open files"
    assert seen[0] not in _process._tracked
    with pytest.raises(ChildProcessError):
        os.waitpid(seen[0], os.WNOHANG)  # reaped already


def test_a_spec_needs_a_command() -> None:
    with pytest.raises(ValueError, match=r"LaunchSpec\.argv is empty"):
        LaunchSpec((), ENV)


def test_a_spec_reads_empty_cwd_and_user_as_none() -> None:
    assert LaunchSpec(["true"], ENV, cwd="", user="") == LaunchSpec(("true",), ENV)  # type: ignore[arg-type]


# -- users --------------------------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("how", HOW)
@SHAPES
@pytest.mark.parametrize("use_setpriv", [True, False])
@pytest.mark.parametrize("cwd", [None, "/"])
def test_the_user_is_applied(
    how: str,
    shape: dict[str, bool],
    use_setpriv: bool,
    cwd: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uid:gid (no passwd entry needed), via setpriv(1) or, without it, Popen's switch."""
    if not use_setpriv:
        monkeypatch.setattr(_launch, "setpriv_path", lambda: None)
    child = start(sh("id -u; id -g; id -G", cwd=cwd, user="12345:23456", **shape), how)
    assert child.via_setpriv is use_setpriv
    assert finish(child)[:2] == (0, b"12345\n23456\n23456\n")


@needs_root
@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("bob-no-such", "unable to find user bob-no-such: no matching entries in passwd file"),
        ("bob\0", "unable to find user bob\0: no matching entries in passwd file"),
        (
            "nobody:grp-no-such",
            "unable to find group grp-no-such: no matching entries in group file",
        ),
        (str(MAX_ID + 1), f"uids and gids must be in range 0-{MAX_ID}"),
        (f"0:{MAX_ID + 1}", f"uids and gids must be in range 0-{MAX_ID}"),
        ("9" * 30, f"uids and gids must be in range 0-{MAX_ID}"),
    ],
)
def test_users_runc_would_refuse_are_start_errors(user: str, message: str) -> None:
    assert failure(LaunchSpec(("true",), ENV, user=user), "blocking") == message
