"""The guardian of a short-lived vigil process (``vigil check``): if that process dies, even
by SIGKILL, what it started dies too.

The guardian is a small process in a session of its own whose stdin is the read end of a
pipe that only the guarded process holds (close-on-exec, so probes never inherit it). The
guarded process writes one line per thing to kill: ``cgroup PATH`` (a jail parent: every
jail below it) or ``tree PID STARTTIME`` (a probe's process tree, without cgroups). When the
pipe reaches EOF, however the guarded process ended, the guardian kills them all, removes
the cgroups and exits. After a normal exit there is nothing left to kill.

It runs as a script (``python -S -E -s guardian.py``) and loads only ``vigil.linux.tree`` and
``vigil.linux.cgroups`` under a bare ``vigil`` package, not vigil's public API (~100 ms).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

EXIT_WAIT_S = 2.0  # how long the guarded process waits for its guardian after closing
RMDIR_TRIES = 100  # 2 ms apart: killed processes leave their cgroup in microseconds


class Guardian:
    """The guarded side: start with ``Guardian.start()``, name things with ``guard_cgroup`` /
    ``guard_tree``, and ``close()`` when done (or just die)."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid = pid
        self._pipe: int | None = pipe

    @classmethod
    def start(cls) -> Guardian:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            process = subprocess.Popen(
                [sys.executable, "-S", "-E", "-s", __file__],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # no Ctrl-C from the terminal, no SIGHUP with it
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        process.returncode = 0  # waited for by pid in close(); keep Popen.__del__ away
        return cls(process.pid, write_end)

    def guard_cgroup(self, path: str) -> None:
        self._send(f"cgroup {path}")

    def guard_tree(self, pid: int, starttime: int) -> None:
        self._send(f"tree {pid} {starttime}")

    def _send(self, line: str) -> None:
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.write(self._pipe, (line + "\n").encode())  # < PIPE_BUF: one atomic write

    def close(self) -> None:
        """Let the guardian go (it kills what is left), and wait for it, bounded."""
        if self._pipe is None:
            return
        os.close(self._pipe)
        self._pipe = None
        deadline = time.perf_counter() + EXIT_WAIT_S
        while time.perf_counter() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            time.sleep(0.001)


def execute(lines: list[str]) -> int:
    """Kill what ``lines`` name; how many processes were signalled."""
    from vigil.linux import cgroups, tree

    killed = 0
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "cgroup" and (kind := cgroups.kind_of(rest)) is not None:
            killed += len(cgroups.kill_tree(kind, rest))
            for _ in range(RMDIR_TRIES):
                if cgroups.remove_tree(rest):
                    break
                time.sleep(0.002)
        elif word == "tree":
            pid, started = (int(field) for field in rest.split())
            if tree.is_alive(pid, started):
                killed += len(tree.kill_trees([pid]))
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
    return killed


def _load_bare_package() -> None:
    """Make ``vigil.linux.*`` importable without running vigil's ``__init__``."""
    root = Path(__file__).resolve().parent.parent
    package = types.ModuleType("vigil")
    package.__path__ = [str(root)]
    sys.modules["vigil"] = package


def _main() -> None:
    _load_bare_package()
    data = sys.stdin.buffer.read()  # returns at EOF: the guarded process is gone or done
    execute(data.decode(errors="replace").splitlines())


if __name__ == "__main__":
    _main()
