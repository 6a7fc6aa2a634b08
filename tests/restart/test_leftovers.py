"""Crash leftovers with real processes: the run record of a supervised service, and reclaim
stopping what a dead daemon left: stop signal first, SIGKILL after the grace, the whole
group, descendants and escaped processes carrying the run's token; never a reused pid."""

from __future__ import annotations

import asyncio
import ctypes
import os
import secrets
import select
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.core.config import ServiceConfig
from vigil.core.events import TargetRef
from vigil.go.duration import MILLISECOND, SECOND
from vigil.linux.contain import reclaim
from vigil.linux.process import (
    PR_SET_CHILD_SUBREAPER,
    become_subreaper,
    is_subreaper,
    reap_orphans,
)
from vigil.linux.tree import is_alive
from vigil.linux.tree import starttime as proc_starttime
from vigil.targets.logs import ServiceLog
from vigil.targets.supervised import SERVICE_ID_ENV, Supervisor
from vigil.testing import FakeClock

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds")
READY_S = 10.0  # real-time safety net for a shell to print a line; never reached normally

# A service's main process with a child in its group and an escaped one (its own session,
# which prints its pid once it has left). TERM is handled (or ignored) as $ON_TERM says.
LEFTOVER = """
trap "$ON_TERM" TERM
sleep 1000 & child=$!
setsid sh -c 'echo "escaped $$"; exec sleep 1001' &
echo "main $$ $child"
wait
"""

class Leftover:
    """A process tree as a crashed daemon leaves it: a session of its own, tagged."""

    def __init__(self, tmp_path: Path, on_term: str) -> None:
        self.token = secrets.token_hex(16)  # this test's processes only
        env = {"PATH": os.environ["PATH"], "ON_TERM": on_term, SERVICE_ID_ENV: self.token,
               "TERMFILE": str(tmp_path / "term")}
        self.process = subprocess.Popen(
            ["sh", "-c", LEFTOVER], env=env, stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            lines = dict(line.partition(" ")[::2] for line in self._lines(2))  # either order
        except AssertionError:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(READY_S)
            raise
        main, self.child = map(int, lines["main"].split())
        self.escaped = int(lines["escaped"])
        assert main == self.process.pid

    def _lines(self, count: int) -> list[str]:
        assert self.process.stdout is not None
        fd, data = self.process.stdout.fileno(), b""
        while data.count(b"\n") < count:
            ready, _, _ = select.select([fd], [], [], READY_S)
            assert ready, "the leftover did not start"
            chunk = os.read(fd, 4096)
            assert chunk, "the leftover ended early"
            data += chunk
        return data.decode().splitlines()

    @property
    def pids(self) -> list[int]:
        return [self.process.pid, self.child, self.escaped]

    def record(self, **changes: object) -> dict[str, object]:
        pid = self.process.pid
        record: dict[str, object] = {
            "pid": pid, "starttime": proc_starttime(pid), "token": self.token, "jail": None,
            "stop_signal": int(signal.SIGTERM), "stop_grace_ns": 10 * SECOND}
        record.update(changes)
        return record

    def alive(self) -> list[int]:
        return [pid for pid in self.pids if is_alive(pid)]  # zombies are dead

    def close(self) -> None:
        for pid in self.alive():
            os.kill(pid, signal.SIGKILL)
        self.process.wait(READY_S)
        assert self.process.stdout is not None
        self.process.stdout.close()
        reap_orphans()


@pytest.fixture
def leftovers(tmp_path: Path) -> Iterator[list[Leftover]]:
    was_subreaper = is_subreaper()
    become_subreaper()  # escaped sleeps end up as our zombies, reaped on close
    made: list[Leftover] = []
    yield made
    for leftover in made:
        leftover.close()
    if not was_subreaper:  # later tests (daemons detaching) expect the default again
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def test_the_stop_signal_comes_first_then_everything_of_the_run_is_killed(
    tmp_path: Path, leftovers: list[Leftover]
) -> None:
    """The main process gets its stop signal and exits by itself (status 0 from its trap);
    its group child and the escaped, tagged process are SIGKILLed after it."""
    leftover = Leftover(tmp_path, 'echo term >> "$TERMFILE"; exit 0')
    leftovers.append(leftover)
    count = asyncio.run(reclaim(leftover.record()))
    assert leftover.process.wait(READY_S) == 0
    assert (tmp_path / "term").read_text() == "term\n"
    assert leftover.alive() == []
    assert count == 3


def test_a_main_process_ignoring_the_stop_signal_is_killed_after_the_grace(
    tmp_path: Path, leftovers: list[Leftover]
) -> None:
    """Ignored stop signal: after the grace period, SIGKILL for the whole run."""
    leftover = Leftover(tmp_path, "")
    leftovers.append(leftover)
    asyncio.run(reclaim(leftover.record(stop_grace_ns=50 * MILLISECOND)))
    assert leftover.process.wait(READY_S) == -signal.SIGKILL
    assert leftover.alive() == []


def test_a_paused_run_still_gets_its_stop_signal(
    tmp_path: Path, leftovers: list[Leftover]
) -> None:
    """A run left paused (SIGSTOP, as ``vigil pause``) is continued, so it handles its stop
    signal itself instead of waiting out the grace period."""
    leftover = Leftover(tmp_path, 'echo term >> "$TERMFILE"; exit 0')
    leftovers.append(leftover)
    os.killpg(leftover.process.pid, signal.SIGSTOP)
    asyncio.run(reclaim(leftover.record()))
    assert leftover.process.wait(READY_S) == 0
    assert (tmp_path / "term").read_text() == "term\n"
    assert leftover.alive() == []


def test_a_reused_pid_is_never_signalled(tmp_path: Path, leftovers: list[Leftover]) -> None:
    """A record whose start time does not match the process now holding the pid (and whose
    token nobody carries) reclaims nothing."""
    leftover = Leftover(tmp_path, 'echo term >> "$TERMFILE"; exit 0')
    leftovers.append(leftover)
    starttime = proc_starttime(leftover.process.pid)
    assert starttime is not None
    stale = leftover.record(starttime=starttime - 1, token="ff" * 16)
    assert asyncio.run(reclaim(stale)) == 0
    assert sorted(leftover.alive()) == sorted(leftover.pids)
    assert not (tmp_path / "term").exists()


def test_only_the_token_is_left_when_the_main_process_is_gone(
    tmp_path: Path, leftovers: list[Leftover]
) -> None:
    """With its main process already dead, the processes carrying the token still go."""
    leftover = Leftover(tmp_path, "exit 0")
    leftovers.append(leftover)
    record = leftover.record()
    os.kill(leftover.process.pid, signal.SIGTERM)
    leftover.process.wait(READY_S)
    assert asyncio.run(reclaim(record)) == 2
    assert leftover.alive() == []


@pytest.mark.parametrize("record", [{}, {"pid": True, "starttime": "x"}])
def test_a_record_that_is_not_ours_is_refused(record: dict[str, object]) -> None:
    """Missing or mistyped fields: ValueError naming the field, nothing is signalled."""
    with pytest.raises(ValueError, match="run record: pid must be an integer"):
        asyncio.run(reclaim(record))


def test_the_run_record_describes_the_running_process(tmp_path: Path) -> None:
    """pid, kernel start time, the run's token (the one its environment holds), the stop
    signal and grace; None once the service no longer runs."""

    async def scenario() -> None:
        service = ServiceConfig(name="web", command=("sh", "-c", "echo $VIGIL_SERVICE_ID; "
                                                     "exec sleep 1000"),
                                stop_signal="SIGINT", stop_grace_period=3 * SECOND)
        log = ServiceLog(tmp_path / "log")
        supervisor = Supervisor(service, clock=FakeClock(), log=log,
                                report=lambda event: None, ref=TargetRef("5e" * 32, "web"))
        assert supervisor.run_record() is None
        lines = log.follow()
        await supervisor.start()
        pid = supervisor.state.pid
        record = supervisor.run_record()
        assert record is not None
        token = (await asyncio.wait_for(anext(lines), READY_S)).log.strip()
        assert len(token) == 32
        assert record == {"pid": pid, "starttime": proc_starttime(pid), "token": token,
                          "jail": record["jail"], "stop_signal": int(signal.SIGINT),
                          "stop_grace_ns": 3 * SECOND}
        await supervisor.close()
        assert supervisor.run_record() is None

    asyncio.run(scenario())
