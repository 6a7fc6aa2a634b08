"""``python bench/cpu_sampler.py ARGS...`` runs ``python -m vigil ARGS...`` with an on-CPU
sampler of its main thread (the event loop), for ``profile_daemon.py``. Bench use only.

SIGUSR1 starts sampling, SIGUSR2 stops it and writes the samples to ``$VIGIL_SAMPLES`` as
collapsed stacks (``thread (tid): MainThread;outer (file);...;inner (file) count`` lines,
py-spy's raw format). With ``VIGIL_BENCH_SPAWN=inline`` the daemon spawns probes with
``os.posix_spawn`` on the loop's thread instead of its spawn thread (an experiment: what
the thread costs per probe).

How: a POSIX timer on the main thread's own CPU clock (``timer_create`` with
``SIGEV_THREAD_ID``) sends it SIGPROF each millisecond of *its* CPU time. The kernel checks
CPU timers at its tick, while the thread runs, so a sample is taken only when the thread is on
a CPU, whatever the machine's load: unlike a wall-clock sampler (py-spy), which counts a
runnable thread waiting for a CPU as busy. The Python handler runs at the next bytecode
boundary and records the Python stack there (time in C code, a system call included, goes to
the Python function that called it), weighted by the timer's overruns (the CPU milliseconds
since the previous sample).
"""

from __future__ import annotations

import collections
import ctypes
import os
import runpy
import signal
import sys
import threading
import time
from types import FrameType

SAMPLES_ENV = "VIGIL_SAMPLES"
SPAWN_ENV = "VIGIL_BENCH_SPAWN"
SIGEV_THREAD_ID = 4  # Linux
PERIOD_NS = 1_000_000  # of the thread's CPU time; the kernel's tick bounds the real rate


class _SigEvent(ctypes.Structure):  # struct sigevent, glibc x86-64 and aarch64: 64 bytes
    _fields_ = [
        ("value", ctypes.c_void_p),
        ("signo", ctypes.c_int),
        ("notify", ctypes.c_int),
        ("tid", ctypes.c_int),
        ("pad", ctypes.c_int * 11),
    ]


class _TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("interval", _TimeSpec), ("value", _TimeSpec)]


class Sampler:
    """Samples the calling (main) thread's Python stack per millisecond of its CPU time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.counts: collections.Counter[str] = collections.Counter()
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._timer = ctypes.c_void_p()
        self._running = False
        self._tid = threading.get_native_id()
        self._roots = sorted((p for p in sys.path if p), key=len, reverse=True)

    def start(self, *_: object) -> None:
        if self._running:
            return
        self.counts.clear()
        event = _SigEvent(signo=signal.SIGPROF, notify=SIGEV_THREAD_ID, tid=self._tid)
        clock = time.pthread_getcpuclockid(threading.get_ident())
        self._check(self._libc.timer_create(clock, ctypes.byref(event), ctypes.byref(self._timer)))
        period = _TimeSpec(0, PERIOD_NS)
        spec = _ITimerSpec(period, period)
        self._check(self._libc.timer_settime(self._timer, 0, ctypes.byref(spec), None))
        self._running = True

    def stop(self, *_: object) -> None:
        if not self._running:
            return
        self._running = False
        self._check(self._libc.timer_delete(self._timer))
        lines = [f"{stack} {count}\n" for stack, count in self.counts.items()]
        # every thread's name, for the report (weight 0: no sample)
        lines += [f"thread ({t.native_id}): {t.name} 0\n" for t in threading.enumerate()]
        with open(self.path, "w") as out:
            out.writelines(lines)

    def sample(self, _signum: int, frame: FrameType | None) -> None:
        if not self._running:
            return
        names = []
        while frame is not None:
            code = frame.f_code
            names.append(f"{code.co_qualname} ({self._short(code.co_filename)})")
            frame = frame.f_back
        names.append(f"thread ({self._tid}): MainThread")
        weight = 1 + max(self._libc.timer_getoverrun(self._timer), 0)
        self.counts[";".join(reversed(names))] += weight

    def _short(self, filename: str) -> str:
        for root in self._roots:
            if filename.startswith(root + os.sep):
                return filename[len(root) + 1 :]
        return filename

    def _check(self, result: int) -> None:
        if result != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))


def main() -> None:
    if os.environ.get(SPAWN_ENV) == "inline":
        from vigil.linux import spawn_thread

        spawn_thread.available = lambda default_signals: False  # spawn_async's fallback
    sampler = Sampler(os.environ.get(SAMPLES_ENV, os.devnull))
    signal.signal(signal.SIGPROF, sampler.sample)
    signal.signal(signal.SIGUSR1, sampler.start)
    signal.signal(signal.SIGUSR2, sampler.stop)
    sys.argv = ["vigil", *sys.argv[1:]]
    runpy.run_module("vigil", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
