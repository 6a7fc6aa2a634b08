"""Processes that try to escape vigil, for the containment tests and the benchmark.

Each kind is a shell fragment that leaves one ``sleep MARKER`` behind by a different escape;
the escapee writes a line into the FIFO ``R`` just before it execs, so a test knows when
every escapee exists without sleeping. Survivors are counted by their argv in /proc.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from pathlib import Path

SAFETY_S = 10.0  # bound on waiting for SIGKILLed processes to disappear from /proc

ESCAPEE = """#!/bin/sh
# escapee FIFO MARKER [term]: announce, then become `sleep MARKER` (ignoring SIGTERM if asked)
[ "$3" = term ] && trap '' TERM
echo "$$" > "$1"
exec sleep "$2"
"""

# name -> fragment with {e} for the escapee command line (already quoted)
KINDS = {
    "setsid": "setsid sh -c {e_bg}",                       # new session, parent exits at once
    "setsid_f_ignoring_term": "setsid -f {e} term",        # setsid(1) forks; SIGTERM ignored
    "double_fork": "( {e} & )",                             # subshell exits: orphan
    "setpgrp": "perl -e 'setpgrp(0, 0); exec @ARGV' {e} &",  # own process group
    "holding_the_pipe": "{e} &",                            # in the group, holds stdout
    "env_cleared": "setsid env -i {e} &",                   # no VIGIL_SERVICE_ID to find it by
}


def write_escapee(directory: Path) -> Path:
    path = directory / "escapee.sh"
    path.write_text(ESCAPEE)
    path.chmod(0o755)
    return path


def fragment(kind: str, escapee: Path, fifo: Path, marker: int) -> str:
    command = f"{shlex.quote(str(escapee))} {shlex.quote(str(fifo))} {marker}"
    return KINDS[kind].format(e=command, e_bg=shlex.quote(command + " &"))


def script(kinds: list[str], escapee: Path, fifo: Path, marker: int, then: str) -> str:
    """Start one escapee of each kind, wait until all of them announced, then ``then``."""
    parts = [f"exec 3<>{shlex.quote(str(fifo))}"]
    parts += [fragment(kind, escapee, fifo, marker) for kind in kinds]
    parts += ["read -r _ <&3" for _ in kinds]
    parts.append(then)
    return "; ".join(parts).replace("&;", "&")


def survivors(marker: int) -> list[int]:
    """Live processes whose argv is ``sleep MARKER`` (zombies have no argv)."""
    wanted = f"sleep\0{marker}\0".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    if handle.read() == wanted:
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def settled_survivors(marker: int, expected: int = 0) -> list[int]:
    """``survivors`` once there are ``expected`` of them, or the safety bound passed: killed
    ones take a moment to go, and a process that announced itself a moment to exec. Spins
    (no sleep)."""
    deadline = time.monotonic() + SAFETY_S
    found = survivors(marker)
    while len(found) != expected and time.monotonic() < deadline:
        os.sched_yield()
        found = survivors(marker)
    return found


def swept_survivors(marker: int) -> list[int]:
    """``settled_survivors`` with the daemon's periodic orphan sweep (``contain.sweep``) run
    meanwhile. A service's child that escaped *before* its placement in the jail (the
    launcher places it right after the spawn returns: microseconds, but milliseconds on a
    CPU-starved machine) can reach us as an orphan after the run's own sweep; the daemon's
    next sweep (every second) kills it. Spins (no sleep), bounded by SAFETY_S."""
    from vigil.linux import contain

    deadline = time.monotonic() + SAFETY_S
    contain.sweep()
    found = survivors(marker)
    while found and time.monotonic() < deadline:
        os.sched_yield()
        contain.sweep()
        found = survivors(marker)
    return found


def kill_survivors(marker: int) -> None:
    """Test hygiene: whatever a failing test left goes, and no zombie of ours stays behind
    for another test's ``reap_orphans`` to find."""
    from vigil.linux.process import reap_orphans

    for pid in survivors(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    settled_survivors(marker)
    reap_orphans()
