"""The exec probe against real processes: Docker's CMD / CMD-SHELL semantics and texts,
output capture, start errors, and that a timed-out or cancelled probe leaves no process
(zombies included) behind. Timeouts are driven by test clocks, never by real sleeping."""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vigil.core.config import DEFAULT_PATH, HealthcheckConfig, ServiceConfig
from vigil.core.results import Outcome
from vigil.exceptions import ProbeError
from vigil.go.duration import SECOND
from vigil.linux import launch as _launch
from vigil.linux import process as _process
from vigil.linux import spawn_thread as _spawn_thread
from vigil.linux.process import become_subreaper, group_members
from vigil.linux.spawn_thread import Slots
from vigil.probes import Probe, ProbeReport
from vigil.probes.exec import START_TIMEOUT_NS, ExecProbe
from vigil.runtime.clock import Cancellable, Clock, call_later_by_sleeping
from vigil.testing import FakeClock

T = TypeVar("T")
SERVICE_ID = "4f1c0a9e" * 8  # 64 hex digits, like a Docker container ID


@pytest.fixture(scope="session", autouse=True)
def _subreaper() -> None:
    """Orphans of killed probes come back to this process, so nothing is left as a zombie."""
    assert become_subreaper()


async def forever() -> None:
    await asyncio.get_running_loop().create_future()


class NeverClock:
    """No timeout ever fires."""

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Cancellable:
        return call_later_by_sleeping(self, delay_ns, callback)  # type: ignore[arg-type]

    def now_ns(self) -> int:
        return 0

    async def sleep_ns(self, duration_ns: int) -> None:
        await forever()


class ImmediateClock:
    """The probe's timeout fires as soon as its process has started; the start limit never."""

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Cancellable:
        return call_later_by_sleeping(self, delay_ns, callback)  # type: ignore[arg-type]

    def __init__(self) -> None:
        self.requested: list[int] = []

    def now_ns(self) -> int:
        return 0

    async def sleep_ns(self, duration_ns: int) -> None:
        self.requested.append(duration_ns)
        if duration_ns == START_TIMEOUT_NS:
            await forever()


class FifoClock:
    """The probe's timeout fires when the probe writes its pid into a FIFO (the start limit
    never): deterministic, no sleeps."""

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Cancellable:
        return call_later_by_sleeping(self, delay_ns, callback)  # type: ignore[arg-type]

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self.pid = 0

    def now_ns(self) -> int:
        return 0

    async def sleep_ns(self, duration_ns: int) -> None:
        if duration_ns == START_TIMEOUT_NS:
            await forever()
        self.pid = await read_pid(self.fifo)


async def read_pid(fifo: Path) -> int:
    # O_RDWR: never sees EOF, and never blocks the opener (Linux).
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
        return int(os.read(fd, 100))
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def check(probe: Probe, clock: Clock | None = None, timeout_ns: int = SECOND) -> ProbeReport:
    return run(probe.run(timeout_ns=timeout_ns, clock=clock or NeverClock()))


def shell(script: str, **options: Any) -> ProbeReport:
    return check(ExecProbe(("CMD-SHELL", script), **options))


def assert_group_gone(pgid: int) -> None:
    assert pgid > 0
    assert group_members(pgid) == []


# -- exit codes and outcomes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "outcome", "code"),
    [
        (("CMD", "true"), Outcome.PASS, 0),
        (("CMD", "false"), Outcome.FAIL, 1),
        (("CMD-SHELL", "exit 2"), Outcome.FAIL, 2),
        (("CMD-SHELL", "exit 3"), Outcome.FAIL, 3),
        (("CMD-SHELL", "kill -9 $$"), Outcome.FAIL, 137),
        (("CMD-SHELL", "kill -TERM $$"), Outcome.FAIL, 143),
    ],
)
def test_exit_code_and_outcome(test: tuple[str, ...], outcome: Outcome, code: int) -> None:
    """0 passes, anything else fails; death by signal N reads 128+N as in Docker."""
    assert check(ExecProbe(test)) == ProbeReport(outcome, code, "")


def test_cmd_passes_arguments_verbatim_without_a_shell() -> None:
    """CMD runs test[1:] directly: no word splitting, no expansion."""
    report = check(ExecProbe(("CMD", "printf", "%s|", "a b", "$HOME")))
    assert report == ProbeReport(Outcome.PASS, 0, "a b|$HOME|")


def test_cmd_shell_uses_the_given_shell() -> None:
    """CMD-SHELL runs shell + test[1:]."""
    probe = ExecProbe(("CMD-SHELL", "echo $0 $1"), shell=("/bin/sh", "-c"))
    assert probe.argv == ("/bin/sh", "-c", "echo $0 $1")
    report = check(ExecProbe(("CMD-SHELL", "x", "y"), shell=("/bin/sh", "-c", "echo $0 $1")))
    assert report.output == "x y\n"


# -- environment, stdin, working dir ---------------------------------------------------


def test_environment_is_dockers_not_vigils(monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH is Docker's default, HOSTNAME the host's; vigil's own variables do not leak."""
    monkeypatch.setenv("VIGIL_LEAK_CHECK", "leaked")
    report = check(ExecProbe(("CMD", "env")))
    assert report.output == f"PATH={DEFAULT_PATH}\nHOSTNAME={socket.gethostname()}\n"


def test_service_environment_overrides_and_appends() -> None:
    report = shell('echo "$HOSTNAME|$GREETING"', environment={"HOSTNAME": "web", "GREETING": "hi"})
    assert report.output == "web|hi\n"


def test_executable_is_looked_up_in_the_probes_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As inside a container: the probe's PATH decides, not vigil's."""
    (tmp_path / "my-check").write_text("#!/bin/sh\necho found\n")
    (tmp_path / "my-check").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert check(ExecProbe(("CMD", "my-check"))).outcome is Outcome.ERROR
    report = check(ExecProbe(("CMD", "my-check"), environment={"PATH": str(tmp_path)}))
    assert report == ProbeReport(Outcome.PASS, 0, "found\n")


def test_stdin_is_dev_null_and_there_is_no_tty() -> None:
    assert shell("cat") == ProbeReport(Outcome.PASS, 0, "")
    assert shell("test -t 0 || test -t 1 || test -t 2").exit_code == 1


def test_working_dir(tmp_path: Path) -> None:
    """The probe runs in working_dir; a relative executable resolves against it."""
    (tmp_path / "check.sh").write_text("#!/bin/sh\npwd\n")
    (tmp_path / "check.sh").chmod(0o755)
    report = check(ExecProbe(("CMD", "./check.sh"), working_dir=str(tmp_path)))
    assert report == ProbeReport(Outcome.PASS, 0, f"{tmp_path}\n")


# -- output ------------------------------------------------------------------------------


def test_stdout_and_stderr_share_one_buffer() -> None:
    assert shell("echo out; echo err >&2; echo out2").output == "out\nerr\nout2\n"


@pytest.mark.parametrize(
    ("size", "expected"),
    [(4096, "a" * 4096), (4097, "a" * 4096 + "..."), (1 << 20, "a" * 4096 + "...")],
)
def test_output_is_capped_at_4096_bytes(size: int, expected: str) -> None:
    """Exactly 4096 bytes stay verbatim; more adds "..."; a 1 MiB writer never blocks."""
    report = shell(f"head -c {size} /dev/zero | tr '\\0' a")
    assert report == ProbeReport(Outcome.PASS, 0, expected)


def test_leftovers_do_not_hold_the_probe_and_are_killed() -> None:
    """The probe ends with its main process; a background child holding the pipe is
    SIGKILLed and reaped, not waited for."""
    report = shell("sleep 1000 & echo $$")
    assert report.outcome is Outcome.PASS
    assert_group_gone(int(report.output))


# -- start errors -------------------------------------------------------------------------


def test_cmd_shell_missing_command_is_the_shells_127() -> None:
    report = shell("no-such-command-xyz")
    assert report.exit_code == 127
    assert report.outcome is Outcome.FAIL
    assert "not found" in report.output


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("no-such-binary", 'exec: "no-such-binary": executable file not found in $PATH'),
        ("/x/y", 'exec: "/x/y": stat /x/y: no such file or directory'),
        ("/etc/passwd", 'exec: "/etc/passwd": permission denied'),
        ("/tmp", 'exec: "/tmp": is a directory'),
    ],
)
def test_cmd_that_cannot_start_is_an_error(command: str, message: str) -> None:
    assert check(ExecProbe(("CMD", command))) == ProbeReport(Outcome.ERROR, -1, message)


def test_bad_interpreter_is_an_exec_error(tmp_path: Path) -> None:
    script = tmp_path / "bad"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    report = check(ExecProbe(("CMD", str(script))))
    assert report == ProbeReport(Outcome.ERROR, -1, f'exec: "{script}": no such file or directory')


@pytest.mark.parametrize(
    ("make_file", "reason"), [(False, "no such file or directory"), (True, "not a directory")]
)
def test_bad_working_dir_is_an_error(tmp_path: Path, make_file: bool, reason: str) -> None:
    cwd = tmp_path / "cwd"
    if make_file:
        cwd.write_text("")
    report = check(ExecProbe(("CMD", "true"), working_dir=str(cwd)))
    message = f'chdir to cwd ("{cwd}") set in config failed: {reason}'
    assert report == ProbeReport(Outcome.ERROR, -1, message)


@pytest.mark.parametrize(
    ("test", "target_id", "message"),
    [
        (("CMD",), "", "healthcheck has no command"),
        (("CMD-SHELL",), "", "healthcheck has no command"),
        (("CMD",), SERVICE_ID, f"healthcheck for service {SERVICE_ID} has no command"),
    ],
)
def test_empty_command(test: tuple[str, ...], target_id: str, message: str) -> None:
    """Docker >= 29.5: each run is an error naming the container's ID (here the service's)."""
    probe = ExecProbe(test, target_id=target_id)
    assert check(probe) == ProbeReport(Outcome.ERROR, -1, message)


def test_a_lost_exit_status_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """If someone else reaped the process, Docker's "has no exit code" error."""
    reap = _process.reap_leader

    def lose_status(pid: int) -> int | None:
        reap(pid)
        return None

    monkeypatch.setattr("vigil.linux.process.reap_leader", lose_status)
    report = check(ExecProbe(("CMD", "true"), target_id=SERVICE_ID))
    message = f"healthcheck for service {SERVICE_ID} has no exit code"
    assert report == ProbeReport(Outcome.ERROR, -1, message)


def test_invalid_environment_is_an_error_not_an_exception() -> None:
    report = check(ExecProbe(("CMD", "true"), environment={"BAD": "a\0b"}))
    assert report.outcome is Outcome.ERROR
    assert report.exit_code == -1


# -- user -------------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


@needs_root
@pytest.mark.parametrize("use_setpriv", [True, False])
@pytest.mark.parametrize("working_dir", [None, "/"])
def test_user_is_applied(
    monkeypatch: pytest.MonkeyPatch, use_setpriv: bool, working_dir: str | None
) -> None:
    """By name (primary group from passwd) or uid:gid; via setpriv(1) or Popen's fallback."""
    if not use_setpriv:
        monkeypatch.setattr("vigil.linux.launch.setpriv_path", lambda: None)
    nobody = pwd.getpwnam("nobody")
    ids = check(ExecProbe(("CMD-SHELL", "id -u; id -g"), user="nobody", working_dir=working_dir))
    assert ids == ProbeReport(Outcome.PASS, 0, f"{nobody.pw_uid}\n{nobody.pw_gid}\n")
    numeric = check(ExecProbe(("CMD-SHELL", "id -u; id -G"), user="12345:23456"))
    assert numeric == ProbeReport(Outcome.PASS, 0, "12345\n23456\n")


@needs_root
@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("bob-no-such", "unable to find user bob-no-such: no matching entries in passwd file"),
        (
            "nobody:grp-no-such",
            "unable to find group grp-no-such: no matching entries in group file",
        ),
    ],
)
def test_unknown_user_or_group_is_an_error(user: str, message: str) -> None:
    assert check(ExecProbe(("CMD", "true"), user=user)) == ProbeReport(Outcome.ERROR, -1, message)


@needs_root
def test_exec_failure_after_a_user_switch_is_an_error(tmp_path: Path) -> None:
    """setpriv's own "failed to execute" becomes Docker's exec error."""
    script = tmp_path / "bad"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    report = check(ExecProbe(("CMD", str(script)), user="nobody"))
    assert report == ProbeReport(Outcome.ERROR, -1, f'exec: "{script}": no such file or directory')


# -- from_service -------------------------------------------------------------------------


def test_from_service_uses_the_services_settings(tmp_path: Path) -> None:
    service = ServiceConfig(
        name="web",
        environment={"GREETING": "hi"},
        working_dir=str(tmp_path),
        shell=("/bin/sh", "-c"),
        healthcheck=HealthcheckConfig(test=("CMD-SHELL", 'echo "$GREETING"; pwd')),
    )
    probe = ExecProbe.from_service(service, target_id=SERVICE_ID)
    assert probe.argv == ("/bin/sh", "-c", 'echo "$GREETING"; pwd')
    assert probe.target_id == SERVICE_ID
    assert check(probe) == ProbeReport(Outcome.PASS, 0, f"hi\n{tmp_path}\n")


def test_texts_name_the_target_id_never_the_service_name() -> None:
    """Docker names the container's ID; the service's name stays out of probe texts."""
    empty = ServiceConfig(name="api", healthcheck=HealthcheckConfig(test=("CMD",)))
    unnamed = check(ExecProbe.from_service(empty))
    assert unnamed == ProbeReport(Outcome.ERROR, -1, "healthcheck has no command")
    named = check(ExecProbe.from_service(empty, target_id=SERVICE_ID))
    message = f"healthcheck for service {SERVICE_ID} has no command"
    assert named == ProbeReport(Outcome.ERROR, -1, message)


@pytest.mark.parametrize("test", [(), ("NONE",), ("cmd", "true"), ("HTTP", "http://x/")])
def test_only_cmd_and_cmd_shell_make_a_probe(test: tuple[str, ...]) -> None:
    with pytest.raises(ProbeError):
        ExecProbe(test)
    with pytest.raises(ProbeError):
        ExecProbe.from_service(ServiceConfig(name="x", healthcheck=HealthcheckConfig(test=test)))


# -- timeout and cancellation --------------------------------------------------------------

STUBBORN = (
    'trap "" TERM; sleep 1000 & sleep 1000 & (sleep 1000 &); echo started; echo $$ > "$READY"; wait'
)


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    """SIGTERM-proof children and a double-forked grandchild holding the pipe are all
    killed and reaped; the captured output follows Docker's timeout text."""
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    clock = FifoClock(fifo)
    probe = ExecProbe(("CMD-SHELL", STUBBORN), environment={"READY": str(fifo)})
    report = check(probe, clock, timeout_ns=SECOND)
    assert report == ProbeReport(
        Outcome.TIMEOUT, -1, "Health check exceeded timeout (1s): started\n"
    )
    assert_group_gone(clock.pid)


def test_timeout_counts_on_the_given_clock_and_without_output_has_no_colon() -> None:
    clock = ImmediateClock()
    report = check(ExecProbe(("CMD", "sleep", "1000")), clock, timeout_ns=50_000_000)
    assert clock.requested == [START_TIMEOUT_NS, 50_000_000]  # both limits on that clock
    assert report == ProbeReport(Outcome.TIMEOUT, -1, "Health check exceeded timeout (50ms)")


def test_cancellation_kills_the_whole_group(tmp_path: Path) -> None:
    """A stopped monitor cancels its probe: the group is killed and reaped, then
    CancelledError propagates."""
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    probe = ExecProbe(("CMD-SHELL", STUBBORN), environment={"READY": str(fifo)})

    async def scenario() -> int:
        task = asyncio.create_task(probe.run(timeout_ns=SECOND, clock=NeverClock()))
        pid = await read_pid(fifo)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    assert_group_gone(run(scenario()))


def test_is_a_probe() -> None:
    assert isinstance(ExecProbe(("CMD", "true")), Probe)


# -- the start limit ------------------------------------------------------------------------

BOUND_S = 10.0  # a safety net on real waits, never the expected path
TIMED_OUT_STARTING = f"timed out starting health check for service {SERVICE_ID}"


class ArmedClock(FakeClock):
    """A FakeClock that tells when a sleep of a given length begins (a timer is armed)."""

    def __init__(self) -> None:
        super().__init__()
        self._armed: dict[int, asyncio.Event] = {}

    def armed(self, duration_ns: int) -> asyncio.Event:
        return self._armed.setdefault(duration_ns, asyncio.Event())

    def call_later_ns(self, delay_ns: int, callback: Callable[[], object]) -> Any:
        self.armed(delay_ns).set()  # sleeps and timers alike come through here
        return super().call_later_ns(delay_ns, callback)


async def take_every_slot() -> tuple[Slots, int]:
    """Make every probe of this loop wait to start, as in a burst of due probes."""
    slots = _spawn_thread.slots()
    taken = slots.free
    for _ in range(taken):
        await slots.acquire()
    return slots, taken


def release(slots: Slots, count: int) -> None:
    for _ in range(count):
        slots.release()


@pytest.mark.parametrize("timeout_ns", [1, SECOND, START_TIMEOUT_NS, 10 * START_TIMEOUT_NS])
def test_a_probe_that_cannot_start_within_30s_is_an_error(timeout_ns: int) -> None:
    """moby's separate 30 s limit on starting, whatever the probe's own timeout: ExitCode
    -1, the target's ID in the text, and no waiter left behind on the spawn slots."""

    async def scenario() -> tuple[ProbeReport, int]:
        clock = FakeClock()
        slots, taken = await take_every_slot()
        probe = ExecProbe(("CMD", "true"), target_id=SERVICE_ID)
        task = asyncio.ensure_future(probe.run(timeout_ns=timeout_ns, clock=clock))
        await clock.run_for(START_TIMEOUT_NS - 1)
        assert not task.done()
        await clock.run_for(1)
        assert task.done()
        release(slots, taken)
        return task.result(), slots.free

    report, free = run(scenario())
    assert report == ProbeReport(Outcome.ERROR, -1, TIMED_OUT_STARTING)
    assert free == _spawn_thread.QUEUE_LIMIT


def test_once_started_the_timeout_counts_from_the_start_and_the_start_limit_is_off() -> None:
    """A probe that waited 29 s for a slot then runs its whole timeout: it times out 60 s
    after its process started (89 s), not at the start limit (30 s) nor 60 s after run()."""

    async def scenario() -> tuple[ProbeReport, int]:
        clock = ArmedClock()
        slots, taken = await take_every_slot()
        probe = ExecProbe(("CMD", "sleep", "1000"), target_id=SERVICE_ID)
        task = asyncio.ensure_future(probe.run(timeout_ns=60 * SECOND, clock=clock))
        await clock.run_for(29 * SECOND)
        release(slots, 1)
        await asyncio.wait_for(clock.armed(60 * SECOND).wait(), BOUND_S)  # it runs
        await clock.run_for(60 * SECOND - 1)
        assert not task.done()
        await clock.run_for(1)
        report = await asyncio.wait_for(task, BOUND_S)  # kill and reap take real time
        release(slots, taken - 1)
        return report, slots.free

    report, free = run(scenario())
    assert report == ProbeReport(Outcome.TIMEOUT, -1, "Health check exceeded timeout (1m0s)")
    assert free == _spawn_thread.QUEUE_LIMIT


def test_a_spawn_that_completes_after_the_start_limit_is_killed_and_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hung spawn (the spawn thread held here): the probe gives up at 30 s; the child
    spawned afterwards is SIGKILLed and reaped, and nobody tracks it any more."""
    kill_and_reap = _launch._abandon

    async def scenario() -> tuple[ProbeReport, int]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()

        def abandon(pid: int) -> None:
            kill_and_reap(pid)
            done.set_result(pid)

        monkeypatch.setattr("vigil.linux.launch._abandon", abandon)
        clock = FakeClock()
        probe = ExecProbe(("CMD", "sleep", "1000"), target_id=SERVICE_ID)
        with _spawn_thread.SPAWN_LOCK:  # the worker waits for it before spawning
            task = asyncio.ensure_future(probe.run(timeout_ns=SECOND, clock=clock))
            await clock.run_for(START_TIMEOUT_NS)
            assert task.done()
        return task.result(), await asyncio.wait_for(done, BOUND_S)

    report, pid = run(scenario())
    assert report == ProbeReport(Outcome.ERROR, -1, TIMED_OUT_STARTING)
    assert pid not in _process._tracked
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already
    assert_group_gone(pid)


def test_cancelling_a_probe_while_it_starts_propagates_and_frees_its_slot() -> None:
    """The monitor stopping is not a start timeout, even when both happen at once."""

    async def scenario() -> int:
        clock = FakeClock()
        slots, taken = await take_every_slot()
        probe = ExecProbe(("CMD", "true"), target_id=SERVICE_ID)
        task = asyncio.ensure_future(probe.run(timeout_ns=SECOND, clock=clock))
        await clock.run_for(START_TIMEOUT_NS - 1)
        clock.advance(1)  # the start limit is due...
        task.cancel()  # ...and the monitor stops, before either has run
        with pytest.raises(asyncio.CancelledError):
            await task
        release(slots, taken)
        return slots.free

    assert run(scenario()) == _spawn_thread.QUEUE_LIMIT
