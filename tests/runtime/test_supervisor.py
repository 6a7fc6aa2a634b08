"""The supervisor with real processes and a FakeClock: exits, stops, signals, restarts, orphans.

Nothing here sleeps to wait: tests wait for the supervisor's own events (with a few seconds'
real timeout as a safety net) and move the FakeClock for grace periods and back-offs.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pwd
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vigil.core.config import DEFAULT_PATH, RestartPolicy, ServiceConfig
from vigil.core.events import (
    LifecycleEvent,
    TargetDied,
    TargetExiting,
    TargetKilled,
    TargetRef,
    TargetRestarting,
    TargetStarted,
    TargetStopped,
)
from vigil.core.lifecycle import ProcessStatus
from vigil.exceptions import ConfigError
from vigil.go.duration import MILLISECOND, SECOND
from vigil.linux.contain import find_tagged_processes
from vigil.targets.logs import STDERR, STDOUT, ServiceLog
from vigil.targets.supervised import Supervisor
from vigil.testing import FakeClock

S = SECOND
MS = MILLISECOND
REF = TargetRef("5e" * 32, "web")
SAFETY_S = 10.0  # real-time safety net for waits on real processes; never reached normally
E = TypeVar("E", bound=LifecycleEvent)

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds")


class Killed:
    """Matches a TargetKilled of ``signal`` at any time."""

    def __init__(self, sig: int) -> None:
        self.signal = sig

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TargetKilled) and other.signal == self.signal

    def __repr__(self) -> str:
        return f"Killed({self.signal})"


class Stopped:
    """Matches a TargetStopped at any time."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TargetStopped)


class Recorder:
    """Collects the supervisor's events and lets a test await the next one of a kind."""

    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []
        self.all_events: list[LifecycleEvent] = []
        self._queue: asyncio.Queue[LifecycleEvent] = asyncio.Queue()

    def __call__(self, event: LifecycleEvent) -> None:
        self.all_events.append(event)
        if not isinstance(event, TargetExiting):  # checked on its own where it matters
            self.events.append(event)
        self._queue.put_nowait(event)

    async def next(self, kind: type[E]) -> E:
        async def find() -> E:
            while True:
                event = await self._queue.get()
                if isinstance(event, kind):
                    return event

        return await asyncio.wait_for(find(), SAFETY_S)

    def kinds(self) -> list[str]:
        return [type(e).__name__.removeprefix("Target") for e in self.events]


class Harness:
    def __init__(self, tmp_path: Path, service: ServiceConfig) -> None:
        self.clock = FakeClock()
        self.log = ServiceLog(tmp_path / f"{service.name}.log")
        self.events = Recorder()
        self.sup = Supervisor(service, clock=self.clock, log=self.log, report=self.events, ref=REF)

    async def line(self, follower: Any) -> str:
        entry = await asyncio.wait_for(anext(follower), SAFETY_S)
        return str(entry.log)


def run(tmp_path: Path, service: ServiceConfig, scenario: Callable[[Harness], Any]) -> Harness:
    """Run ``scenario`` against a fresh supervisor; always kill what is left afterwards."""

    async def main() -> Harness:
        harness = Harness(tmp_path, service)
        try:
            await scenario(harness)
        finally:
            await harness.sup.close(timeout_ns=0)
        return harness

    return asyncio.run(main())


def service(*command: str, **options: Any) -> ServiceConfig:
    return ServiceConfig(name=options.pop("name", "web"), command=command, **options)


def proc_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat, or None when the pid is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rfind(b")") + 2 :].split()[0].decode()


def settled_proc_state(pid: int, wanted: set[str]) -> str | None:
    """Signals are delivered asynchronously: spin (no sleep) until the state is reached."""
    deadline = time.monotonic() + SAFETY_S
    state = proc_state(pid)
    while state not in wanted and time.monotonic() < deadline:
        os.sched_yield()
        state = proc_state(pid)
    return state


def service_token(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [token] = [v.split(b"=", 1)[1] for v in environ if v.startswith(b"VIGIL_SERVICE_ID=")]
    return token.decode()


# -- start and exit ----------------------------------------------------------------------


def test_start_runs_the_command_and_reports_its_exit(tmp_path: Path) -> None:
    """A started process is running with a pid; its exit gives a die event with its code."""

    async def scenario(h: Harness) -> None:
        t0 = h.clock.now_ns()
        await h.sup.start()
        state = h.sup.state
        assert state.status is ProcessStatus.RUNNING
        assert state.pid > 0
        assert state.started_at == t0
        exited = await h.events.next(TargetDied)
        assert exited == TargetDied(REF, t0, 3, will_restart=False)
        state = h.sup.state
        assert (state.status, state.exit_code, state.pid, state.finished_at) == (
            ProcessStatus.EXITED,
            3,
            0,
            t0,
        )
        assert h.events.kinds() == ["Started", "Died"]

    run(tmp_path, service("sh", "-c", "echo out; echo err >&2; exit 3"), scenario)


def test_stdout_and_stderr_land_in_the_log_with_their_stream(tmp_path: Path) -> None:
    """Lines go to the log tagged stdout or stderr; a last line without newline too."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        await h.events.next(TargetDied)
        got = [(e.stream, e.log) for e in h.log.tail()]
        assert sorted(got) == sorted(
            [(STDOUT, "one\n"), (STDERR, "two\n"), (STDOUT, "three\n"), (STDOUT, "tail\n")]
        )
        assert [log for stream, log in got if stream == STDOUT] == ["one\n", "three\n", "tail\n"]

    command = "echo one; echo two >&2; echo three; printf tail"
    run(tmp_path, service("sh", "-c", command), scenario)


def test_environment_is_dockers_plus_the_service_and_its_tag(tmp_path: Path) -> None:
    """PATH and HOSTNAME like Docker, the service's variables, and VIGIL_SERVICE(_ID)."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        await h.events.next(TargetDied)
        lines = [e.log for e in h.log.tail()]
        assert lines[0] == f"{DEFAULT_PATH}|web|bar\n"
        assert len(lines[1].strip()) == 32  # a fresh random token per start
        assert lines[2].strip() != ""  # HOSTNAME

    command = 'echo "$PATH|$VIGIL_SERVICE|$FOO"; echo "$VIGIL_SERVICE_ID"; echo "$HOSTNAME"'
    run(tmp_path, service("sh", "-c", command, environment={"FOO": "bar"}), scenario)


def test_working_dir_is_used(tmp_path: Path) -> None:
    """The process starts in the service's working directory."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        await h.events.next(TargetDied)
        assert [e.log for e in h.log.tail()] == [f"{tmp_path}\n"]

    run(tmp_path, service("pwd", working_dir=str(tmp_path)), scenario)


@pytest.mark.parametrize(
    ("command", "code"),
    [("kill -KILL $$", 137), ("kill -TERM $$", 143), ("kill -USR1 $$", 138)],
)
def test_death_by_signal_gives_128_plus_n(tmp_path: Path, command: str, code: int) -> None:
    """Killed by signal N, the exit code is 128+N as Docker shows it."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        assert (await h.events.next(TargetDied)).exit_code == code

    run(tmp_path, service("sh", "-c", command), scenario)


@pytest.mark.parametrize(
    ("command", "options", "message", "code"),
    [
        (
            ("definitely-not-a-binary-xyz",),
            {},
            'exec: "definitely-not-a-binary-xyz": executable file not found in $PATH',
            127,
        ),
        (
            ("/nonexistent/bin",),
            {},
            'exec: "/nonexistent/bin": stat /nonexistent/bin: no such file or directory',
            127,
        ),
        (
            ("true",),
            {"working_dir": "/nonexistent-dir"},
            'chdir to cwd ("/nonexistent-dir") set in config failed: no such file or directory',
            127,
        ),
        (("/",), {}, 'exec: "/": is a directory', 126),
    ],
)
def test_a_process_that_cannot_start_records_the_error(
    tmp_path: Path, command: tuple[str, ...], options: dict[str, str], message: str, code: int
) -> None:
    """A start error is kept in the state with runc's text and moby's code; die event fires."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        state = h.sup.state
        assert (state.status, state.exit_code, state.error, state.pid) == (
            ProcessStatus.CREATED,  # Docker: never started, so "created"
            code,
            message,
            0,
        )
        now = h.clock.now_ns()
        assert h.events.events == [TargetDied(REF, now, code, will_restart=False, error=message)]

    run(tmp_path, service(*command, **options), scenario)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches users")
def test_user_runs_the_process_as_that_user(tmp_path: Path) -> None:
    """user: the process runs with that uid and gets the user's HOME (as runc sets it)."""
    nobody = pwd.getpwnam("nobody")

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        await h.events.next(TargetDied)
        assert [e.log for e in h.log.tail()] == [f"{nobody.pw_uid} {nobody.pw_dir}\n"]

    run(tmp_path, service("sh", "-c", 'echo "$(id -u) $HOME"', user="nobody"), scenario)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches users")
def test_an_unknown_user_cannot_start(tmp_path: Path) -> None:
    """runc's text for a user missing from /etc/passwd; moby's exit code 128."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        state = h.sup.state
        assert (state.exit_code, state.error) == (
            128,
            "unable to find user no-such-user: no matching entries in passwd file",
        )

    run(tmp_path, service("true", user="no-such-user"), scenario)


def test_a_file_without_execute_permission_gives_126(tmp_path: Path) -> None:
    """Not executable: permission denied, exit code 126."""
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o644)

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        assert (h.sup.state.exit_code, h.sup.state.error) == (
            126,
            f'exec: "{script}": permission denied',
        )

    run(tmp_path, service(str(script), restart=RestartPolicy("always")), scenario)


def test_a_failed_start_never_enters_the_restart_loop(tmp_path: Path) -> None:
    """Even under 'always', a command that cannot start is not retried (moby)."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        await h.clock.run_for(120 * S)
        assert h.events.kinds() == ["Died"]

    run(tmp_path, service("no-such-cmd", restart=RestartPolicy("always")), scenario)


def test_invalid_stop_signal_is_a_config_error() -> None:
    """stop_signal goes through moby's ParseSignal, with its message."""
    with pytest.raises(ConfigError, match="invalid signal: SIGNOPE"):
        Supervisor(
            service("true", stop_signal="SIGNOPE"),
            clock=FakeClock(),
            log=ServiceLog("/dev/null"),
            report=lambda _: None,
        )


# -- stop and kill -----------------------------------------------------------------------


def test_stop_sends_sigterm_and_a_cooperative_process_exits(tmp_path: Path) -> None:
    """stop: SIGTERM to the process, which exits at once (143); no SIGKILL, no clock time."""

    async def scenario(h: Harness) -> None:
        t0 = h.clock.now_ns()
        await h.sup.start()
        await h.sup.stop()
        assert h.events.kinds() == ["Started", "Killed", "Died", "Stopped"]
        assert h.events.events[1] == Killed(signal.SIGTERM)
        assert h.events.events[2] == TargetDied(REF, t0, 143, will_restart=False)
        assert h.sup.manually_stopped
        assert h.clock.now_ns() == t0

    run(tmp_path, service("sleep", "1000"), scenario)


@pytest.mark.parametrize("stop_signal", ["2147483648", "65"])
def test_a_stop_signal_linux_cannot_send_falls_back_to_sigkill(
    tmp_path: Path, stop_signal: str
) -> None:
    """A stop_signal Docker's parser accepts but the kernel refuses is not sent; as moby does
    when the signal fails, stop waits 2 s and SIGKILLs (no crash)."""

    async def scenario(h: Harness) -> None:
        t0 = h.clock.now_ns()
        await h.sup.start()
        stopping = asyncio.ensure_future(h.sup.stop())
        killed = await h.clock.run_until_true(
            lambda: Killed(signal.SIGKILL) in h.events.events, limit_ns=3 * S)
        assert killed
        await asyncio.wait_for(stopping, SAFETY_S)  # the process dies in real time
        assert h.events.kinds() == ["Started", "Killed", "Died", "Stopped"]
        assert h.events.events[1] == Killed(signal.SIGKILL)
        assert h.clock.now_ns() == t0 + 2 * S

    run(tmp_path, service("sleep", "1000", stop_signal=stop_signal), scenario)


def test_stop_kills_after_the_grace_period_when_sigterm_is_ignored(tmp_path: Path) -> None:
    """A process ignoring SIGTERM is SIGKILLed after stop_grace_period (10 s of FakeClock)."""

    async def scenario(h: Harness) -> None:
        follower = h.log.follow()
        t0 = h.clock.now_ns()
        await h.sup.start()
        assert await h.line(follower) == "ready\n"
        stopping = asyncio.ensure_future(h.sup.stop())
        assert await h.clock.run_until_true(
            lambda: Killed(signal.SIGKILL) in h.events.events
        )
        await asyncio.wait_for(stopping, SAFETY_S)
        assert h.clock.now_ns() - t0 == 10 * S
        assert h.events.events[1:] == [
            Killed(signal.SIGTERM),
            Killed(signal.SIGKILL),
            TargetDied(REF, t0 + 10 * S, 137, will_restart=False),
            Stopped(),
        ]

    command = 'trap "" TERM; echo ready; exec sleep 1000'
    run(tmp_path, service("sh", "-c", command), scenario)


def test_stop_uses_the_services_signal_and_an_explicit_timeout(tmp_path: Path) -> None:
    """stop_signal replaces SIGTERM; stop(timeout_ns) overrides stop_grace_period."""

    async def scenario(h: Harness) -> None:
        follower = h.log.follow()
        await h.sup.start()
        assert await h.line(follower) == "ready\n"
        t0 = h.clock.now_ns()
        stopping = asyncio.ensure_future(h.sup.stop(timeout_ns=2 * S))
        assert (await h.events.next(TargetDied)).exit_code == 7  # the clock stays put
        await asyncio.wait_for(stopping, SAFETY_S)
        assert h.events.events[1] == Killed(signal.SIGUSR1)
        assert h.clock.now_ns() == t0
        assert h.clock.next_deadline is None  # the 2 s timer went with the stop

    command = "trap 'exit 7' USR1; echo ready; sleep 1000 & wait"
    options = {"stop_signal": "SIGUSR1", "stop_grace_period": 60 * S}
    run(tmp_path, service("sh", "-c", command, **options), scenario)


def test_no_orphan_survives_a_stop(tmp_path: Path) -> None:
    """A grandchild that setsid()s and ignores SIGTERM is found by its tag and SIGKILLed."""
    script = tmp_path / "forker.sh"
    script.write_text(
        "trap '' TERM\n"
        'setsid sh -c \'trap "" TERM; echo "grandchild $$"; exec sleep 1000\' &\n'
        "exec sleep 1000\n"
    )

    async def scenario(h: Harness) -> None:
        follower = h.log.follow()
        await h.sup.start()
        grandchild = int((await h.line(follower)).split()[1])
        assert os.getsid(grandchild) == grandchild != h.sup.state.pid  # escaped the session
        token = service_token(grandchild)
        assert sorted(find_tagged_processes(token)) == sorted([h.sup.state.pid, grandchild])
        stopping = asyncio.ensure_future(h.sup.stop())
        await h.clock.run_until_true(stopping.done)
        await asyncio.wait_for(stopping, SAFETY_S)
        assert proc_state(grandchild) in (None, "Z")  # dead; a zombie only if not ours
        assert find_tagged_processes(token) == []

    run(tmp_path, service("sh", str(script)), scenario)


def test_no_orphan_and_no_zombie_when_the_daemon_is_a_subreaper(
    tmp_path: Path, subreaper: None
) -> None:
    """As subreaper, the group member and the escaped grandchild become ours and are reaped."""
    script = tmp_path / "forker.sh"
    script.write_text(
        'sleep 1000 &\necho "member $!"\n'
        "setsid sh -c 'echo \"grandchild $$\"; exec sleep 1000' &\nwait\n"
    )

    async def scenario(h: Harness) -> None:
        follower = h.log.follow()
        await h.sup.start()
        pids = [int((await h.line(follower)).split()[1]) for _ in range(2)]
        assert h.sup.kill(signal.SIGKILL)
        assert (await h.events.next(TargetDied)).exit_code == 137
        assert [proc_state(pid) for pid in pids] == [None, None]

    run(tmp_path, service("sh", str(script)), scenario)


def test_kill_with_a_harmless_signal_changes_nothing(tmp_path: Path) -> None:
    """docker kill -s WINCH: the signal is sent (kill event), the process keeps running."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        assert h.sup.kill(signal.SIGWINCH)
        assert h.events.events[-1] == Killed(signal.SIGWINCH)
        assert h.sup.state.status is ProcessStatus.RUNNING
        assert settled_proc_state(h.sup.state.pid, {"S"}) == "S"

    run(tmp_path, service("sleep", "1000"), scenario)


def test_kill_cancels_the_restart_policy(tmp_path: Path) -> None:
    """docker kill (SIGKILL) under 'always': the process dies and is not restarted."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        assert h.sup.kill()
        exited = await h.events.next(TargetDied)
        assert (exited.exit_code, exited.will_restart) == (137, False)
        await h.clock.run_for(120 * S)
        assert h.events.kinds() == ["Started", "Killed", "Died"]
        assert h.sup.kill() is False  # not running any more

    run(tmp_path, service("sleep", "1000", restart=RestartPolicy("always")), scenario)


# -- pause -------------------------------------------------------------------------------


def frozen(pid: int, backend: str, wanted: bool = True) -> bool:
    """Whether ``pid`` is paused: its cgroup frozen, or (no cgroup) stopped by SIGSTOP. The
    kernel freezes asynchronously: spin (no sleep) until ``wanted`` or the safety bound."""
    if backend == "proc":
        return settled_proc_state(pid, {"T"} if wanted else {"S", "R"}) == "T"
    from vigil.linux import cgroups

    directory = cgroups.mount_point(backend)
    cgroup = cgroups.cgroup_of(backend, pid)
    assert directory is not None
    assert cgroup is not None
    base = Path(directory[0]) / cgroup.lstrip("/")

    def now_frozen() -> bool:
        if backend == "cgroup2":
            return "frozen 1" in (base / "cgroup.events").read_text()
        return (base / "freezer.state").read_text().strip() == "FROZEN"

    deadline = time.monotonic() + SAFETY_S
    while now_frozen() != wanted and time.monotonic() < deadline:
        os.sched_yield()
    return now_frozen()


def test_pause_freezes_and_unpause_thaws_the_run(tmp_path: Path, contain_backend: str) -> None:
    """pause freezes the run's jail (no cgroup: SIGSTOP to the group, state T), unpause thaws
    it (SIGCONT); both are reported."""

    async def scenario(h: Harness) -> None:
        follower = h.log.follow()
        await h.sup.start()
        child = int((await h.line(follower)).strip())
        pid = h.sup.state.pid
        assert h.sup.pause()
        assert h.sup.state.status is ProcessStatus.PAUSED
        assert frozen(pid, contain_backend)
        assert frozen(child, contain_backend)
        assert not h.sup.pause()  # already paused
        assert h.sup.unpause()
        assert h.sup.state.status is ProcessStatus.RUNNING
        assert not frozen(pid, contain_backend, wanted=False)
        assert settled_proc_state(pid, {"S", "R"}) in ("S", "R")
        assert settled_proc_state(child, {"S", "R"}) in ("S", "R")
        assert h.events.kinds() == ["Started", "Paused", "Unpaused"]

    run(tmp_path, service("sh", "-c", "sleep 1000 & echo $!; wait"), scenario)


def test_stopping_a_paused_process_continues_it_first(tmp_path: Path) -> None:
    """A paused process cannot handle SIGTERM: stop sends it, then SIGCONT (Docker resumes)."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        assert h.sup.pause()
        await h.sup.stop()
        assert h.events.kinds() == ["Started", "Paused", "Killed", "Unpaused", "Died", "Stopped"]
        assert h.sup.state.exit_code == 143

    run(tmp_path, service("sleep", "1000"), scenario)


# -- restart policy ----------------------------------------------------------------------


def test_on_failure_restarts_with_docker_backoff(tmp_path: Path) -> None:
    """on-failure:3 restarts a failing process 3 times after 100, 200, 400 ms; then it stays."""

    async def scenario(h: Harness) -> None:
        t0 = h.clock.now_ns()
        await h.sup.start()
        starts = [t0]
        while True:
            exited = await h.events.next(TargetDied)
            if not exited.will_restart:
                break
            assert h.sup.state.status is ProcessStatus.RESTARTING
            restarting = await h.events.next(TargetRestarting)
            h.clock.advance(restarting.delay_ns)
            starts.append((await h.events.next(TargetStarted)).time_ns)
        assert [b - a for a, b in itertools.pairwise(starts)] == [
            100 * MS,
            200 * MS,
            400 * MS,
        ]
        restarts = [e for e in h.events.events if isinstance(e, TargetRestarting)]
        assert [e.restart_count for e in restarts] == [1, 2, 3]
        state = h.sup.state
        assert (state.status, state.exit_code, state.restart_count) == (
            ProcessStatus.EXITED,
            3,
            3,
        )

    policy = RestartPolicy("on-failure", 3)
    run(tmp_path, service("sh", "-c", "exit 3", restart=policy), scenario)


def test_on_failure_does_not_restart_a_clean_exit(tmp_path: Path) -> None:
    """Exit 0 under on-failure ends it."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        assert not (await h.events.next(TargetDied)).will_restart
        assert h.sup.state.restart_count == 0

    run(tmp_path, service("true", restart=RestartPolicy("on-failure")), scenario)


def test_stop_cancels_a_pending_restart(tmp_path: Path) -> None:
    """'always' waits its back-off; a stop meanwhile cancels it for good."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        await h.events.next(TargetRestarting)
        assert h.sup.state.status is ProcessStatus.RESTARTING
        await h.sup.stop()
        assert h.sup.state.status is ProcessStatus.EXITED
        await h.clock.run_for(120 * S)
        assert h.events.kinds() == ["Started", "Died", "Restarting", "Stopped"]

    run(tmp_path, service("true", restart=RestartPolicy("always")), scenario)


def test_manual_restart_resets_the_restart_count(tmp_path: Path) -> None:
    """docker restart: stop, start, and RestartCount back to 0."""
    marker = tmp_path / "ran-once"
    command = f"if [ -e {marker} ]; then echo up; exec sleep 1000; fi; touch {marker}; exit 1"

    async def scenario(h: Harness) -> None:
        follower = h.log.follow()
        await h.sup.start()
        restarting = await h.events.next(TargetRestarting)
        h.clock.advance(restarting.delay_ns)
        assert await h.line(follower) == "up\n"
        assert h.sup.state.restart_count == 1
        await h.sup.restart()
        assert h.sup.state.status is ProcessStatus.RUNNING
        assert h.sup.state.restart_count == 0
        assert not h.sup.manually_stopped
        assert h.events.kinds()[-4:] == ["Killed", "Died", "Stopped", "Started"]

    run(tmp_path, service("sh", "-c", command, restart=RestartPolicy("on-failure")), scenario)


def test_close_stops_without_marking_a_manual_stop(tmp_path: Path) -> None:
    """Daemon shutdown stops the process and leaves 'unless-stopped' services restartable."""

    async def scenario(h: Harness) -> None:
        await h.sup.start()
        await h.sup.close()
        assert h.sup.state.status is ProcessStatus.EXITED
        assert not h.sup.manually_stopped
        assert not (await h.events.next(TargetDied)).will_restart
        await h.sup.start()  # closed: stays down
        assert h.sup.state.status is ProcessStatus.EXITED

    run(tmp_path, service("sleep", "1000", restart=RestartPolicy("unless-stopped")), scenario)


def test_a_service_without_command_cannot_be_supervised() -> None:
    """Watched-only services have no process to own."""
    with pytest.raises(ValueError, match="no command"):
        Supervisor(
            ServiceConfig(name="db"),
            clock=FakeClock(),
            log=ServiceLog("/dev/null"),
            report=lambda _: None,
        )
