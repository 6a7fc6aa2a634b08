"""Where a running daemon's CPU goes, per probe: an on-CPU sampler for Python, perf for the
kernel. Used by ``daemon_rate.py --profile DIR``, whose daemon runs under ``cpu_sampler.py``.

Method (every tool bounded in time, stopped by its PID):

1. **Threads**: each thread's CPU over the profiled window, from
   ``/proc/<pid>/task/<tid>/stat`` (exact; user and system apart), and its time runnable but
   waiting for a CPU from ``.../schedstat``.
2. **Python**: the loop's thread samples its own stack per millisecond of its own CPU time
   (``cpu_sampler.py``; SIGUSR1 starts, SIGUSR2 stops and writes). Each sample goes to one
   bucket: the innermost frame a rule of ``BUCKETS`` names; the buckets' shares split the
   thread's measured CPU. ``coverage`` compares the samples' weight with that CPU.
3. **Kernel**: ``perf record -g`` (on-CPU samples, when perf is installed) of the daemon's
   own threads over the same window: each sample filed under its system call, or the shared
   object it ran in (user space).

Not py-spy: it samples the wall clock and counts a *runnable* thread as busy, so on this
loaded 2-core machine a loop thread waiting for a CPU (after each wake-up, or preempted by the
reader its socket write woke) was charged to the line it waited on: its busy time came out at
0.1x to 1.5x the thread's real CPU from one run to the next.

Figures are per probe: a thread's CPU times a bucket's share, over the probes that ended in
the window (``health_probe`` events, counted by the caller).
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SAMPLE_MS = 1.0  # cpu_sampler.PERIOD_NS: a sample's weight in CPU ms
PERF_RATE = 499
TOOL_GRACE_S = 30.0  # a profiler gets this long past its duration before it is killed
OTHER = "other (no rule)"
MIN_SHARE = 0.005  # smaller buckets are summed up in one line

# (bucket, pattern): a frame ``function (file)`` matches when it contains the pattern. The
# innermost matching frame decides; the order only matters between patterns of one frame.
BUCKETS: list[tuple[str, str]] = [
    ("stream: JSON encoding (docker.health.dumps)", "dumps (vigil/docker/health.py"),
    ("stream: event to dict (DaemonEvent.to_json)", "DaemonEvent.to_json"),
    ("stream: queue read (Subscription.__anext__)", "Subscription.__anext__"),
    ("stream: starlette, uvicorn, h11, socket send", "StreamingResponse"),
    ("stream: starlette, uvicorn, h11, socket send", "RequestResponseCycle"),
    ("events: Docker projection (project, health_probe_event)", "health_probe_event"),
    ("events: Docker projection (project, health_probe_event)", "health_status_event"),
    ("events: Docker projection (project, health_probe_event)", "project (vigil/docker"),
    ("events: subscriber queues (Subscription.offer)", "Subscription.offer"),
    ("events: stream fan-out, journal (EventStream.publish)", "EventStream.publish"),
    ("engine: state machine (apply_result, next_delay)", "apply_result"),
    ("engine: state machine (apply_result, next_delay)", "next_delay"),
    ("engine: _Target.apply", "_Target.apply"),
    ("probe: fd watch (add_reader, remove_reader)", "add_reader (asyncio"),
    ("probe: fd watch (add_reader, remove_reader)", "remove_reader (asyncio"),
    ("probe: timers (monitor sleep, probe timeout)", "call_later (asyncio"),
    ("probe: timers (monitor sleep, probe timeout)", "call_at (asyncio"),
    ("probe: timers (monitor sleep, probe timeout)", "TimerHandle"),
    ("probe: timers (monitor sleep, probe timeout)", "SystemClock.sleep_ns"),
    ("probe: executable lookup (launch.look_path)", "look_path"),
    ("spawn: job prep (spawn_thread encode, prepare)", "_Libc.prepare"),
    ("spawn: job prep (spawn_thread encode, prepare)", "encode (vigil/linux/spawn"),
    ("spawn: hand-back (deliver, self-pipe wake-up)", "spawn.<locals>.deliver"),
    ("spawn: hand-back (deliver, self-pipe wake-up)", "_read_from_self"),
    ("spawn: hand-back (deliver, self-pipe wake-up)", "_process_self_data"),
    ("spawn: pipe2, submit (spawn_thread.spawn)", "spawn (vigil/linux/spawn_thread.py"),
    ("spawn: pidfd_open (process._watch)", "_watch (vigil/linux/process.py"),
    ("spawn: inline os.posix_spawn, pipe2 (process.spawn)", "spawn (vigil/linux/process.py"),
    ("spawn: slots (Slots)", "Slots."),
    ("probe: reap, kill, drain, close", "_finish_exited"),
    ("probe: reap, kill, drain, close", "group_exists"),
    ("probe: exit and output callbacks", "_read_output"),
    ("probe: exit and output callbacks", "_settle (vigil/probes"),
    ("probe: rest of ExecProbe.run, _supervise", "_supervise"),
    ("probe: rest of ExecProbe.run, _supervise", "ExecProbe.run"),
    ("monitor: rest of run_monitor (ProbeResult)", "run_monitor"),
    ("monitor: rest of run_monitor (ProbeResult)", "_wake (vigil/runtime/clock.py"),
    ("daemon: orphan scan of /proc (reap_orphans, 1/s)", "reap_orphans"),
    ("profiler: the sampler's own handler", "Sampler.sample"),
    ("loop: epoll (selectors.select)", "select (selectors.py"),
    ("loop: _run_once, handles", "_run_once (asyncio/base_events.py"),
]


@dataclass(frozen=True)
class ThreadCpu:
    name: str
    user_s: float
    system_s: float
    wait_s: float  # runnable, waiting for a CPU

    @property
    def total_s(self) -> float:
        return self.user_s + self.system_s


def thread_times(pid: int) -> dict[int, ThreadCpu]:
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            wait_ns = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        user, system = int(fields[11]) / tick, int(fields[12]) / tick
        found[int(tid)] = ThreadCpu(name, user, system, wait_ns / 1e9)
    return found


def thread_delta(before: dict[int, ThreadCpu], after: dict[int, ThreadCpu]) -> dict[int, ThreadCpu]:
    zero = ThreadCpu("", 0.0, 0.0, 0.0)
    return {
        tid: ThreadCpu(
            cpu.name,
            cpu.user_s - before.get(tid, zero).user_s,
            cpu.system_s - before.get(tid, zero).system_s,
            cpu.wait_s - before.get(tid, zero).wait_s,
        )
        for tid, cpu in after.items()
    }


@dataclass(frozen=True)
class Profile:
    """One profiled window: its length, each thread's CPU, and the tools' outputs."""

    seconds: float
    threads: dict[int, ThreadCpu]
    samples: Path
    perf: Path | None  # None: perf is not installed


def record(pid: int, seconds: float, samples: Path, out: Path) -> Profile:
    """Sample ``pid`` (run by ``cpu_sampler.py`` writing to ``samples``) and, when installed,
    perf on it, for ``seconds``."""
    perf_tool = shutil.which("perf")
    perf = None
    if perf_tool is not None:
        perf = out / "perf.data"
        argv = [perf_tool, "record", "-q", "-F", str(PERF_RATE), "-g", "--no-inherit"]
        argv += ["-p", str(pid), "-o", str(perf), "--", "sleep", f"{seconds:g}"]
    samples.unlink(missing_ok=True)
    before, start = thread_times(pid), time.monotonic()
    os.kill(pid, signal.SIGUSR1)
    tool = None
    try:
        if perf is not None:
            tool = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGUSR2)
        threads = thread_delta(before, thread_times(pid))
        elapsed = time.monotonic() - start
        if tool is not None:
            try:
                tool.wait(TOOL_GRACE_S)
            except subprocess.TimeoutExpired:
                tool.kill()
                tool.wait(TOOL_GRACE_S)
    deadline = time.monotonic() + TOOL_GRACE_S
    while not samples.exists() and time.monotonic() < deadline:  # written on the loop
        time.sleep(0.05)
    if tool is not None and tool.returncode:
        raise RuntimeError(f"perf failed (exit {tool.returncode})")
    return Profile(elapsed, threads, samples, perf)


# ---- reading the samples ---------------------------------------------------------------

_LINE = re.compile(r":\d+\)$")  # ``function (file:line)``: the line is dropped
_SYSCALL = re.compile(r"(?:__x64_sys_|__do_sys_|__se_sys_)(\w+)")


def collapsed(path: Path) -> Iterable[tuple[str, list[str], int]]:
    """(thread, frames outermost first, count) of each line of collapsed stacks."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread, *frames = stack.split(";")
        yield thread, [_LINE.sub(")", frame) for frame in frames], int(count)


def bucket_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for bucket, pattern in BUCKETS:
            if pattern in frame:
                return bucket
    return OTHER


def thread_names(path: Path) -> dict[int, str]:
    """Python's thread names by tid, from the ``thread (tid): name`` roots."""
    names = {}
    for thread, _, _ in collapsed(path):
        if match := re.fullmatch(r"thread \((\d+)\): (.*)", thread):
            names[int(match[1])] = match[2]
    return names


def python_buckets(path: Path, tid: int) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for thread, frames, count in collapsed(path):
        if thread.startswith(f"thread ({tid})"):
            counts[bucket_of(frames)] += count
    return counts


def kernel_buckets(perf_data: Path) -> dict[int, collections.Counter[str]]:
    """Per thread: its samples by system call; ``user space``; or ``kernel, other`` for
    faults, interrupts and scheduling outside any system call."""
    perf = shutil.which("perf") or "perf"
    text = subprocess.run(
        [perf, "script", "-i", str(perf_data), "-F", "tid,ip,sym,dso"],
        capture_output=True,
        text=True,
        check=True,
        timeout=TOOL_GRACE_S * 4,
    ).stdout
    by_thread: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for sample in text.split("\n\n"):
        lines = [line.strip() for line in sample.strip().splitlines()]
        if not lines:
            continue
        tid, frames = int(lines[0].split()[0]), lines[1:]
        name = "user space"
        if frames and "[kernel" not in frames[0]:
            dso = frames[0][frames[0].rfind("(") + 1 :].rstrip(")")
            name = f"user space: {os.path.basename(dso)}"
        elif frames:
            name = "kernel, other (faults, interrupts, scheduling)"
            for frame in frames:
                if "[kernel" not in frame:
                    break
                if match := _SYSCALL.search(frame):
                    name = f"syscall {match[1]}"
                    break
        by_thread[tid][name] += 1
    return by_thread


# ---- report ----------------------------------------------------------------------------


def _table(title: str, counts: collections.Counter[str], cpu_s: float, probes: int) -> None:
    """One line per bucket of at least MIN_SHARE, biggest first, then the rest in one."""
    total = max(sum(counts.values()), 1)
    print(f"  {title}")
    rest = 0.0
    for bucket, count in counts.most_common():
        share = count / total
        if share < MIN_SHARE:
            rest += share
            continue
        print(f"    {1e6 * cpu_s * share / probes:6.1f} us  {100 * share:5.1f}%  {bucket}")
    if rest:
        print(f"    {1e6 * cpu_s * rest / probes:6.1f} us  {100 * rest:5.1f}%  (each under 0.5%)")


def report_profile(profile: Profile, probes: int) -> None:
    """Print the per-probe tables of one profiled window with ``probes`` probes in it."""
    probes = max(probes, 1)
    threads = profile.threads
    total = sum(cpu.total_s for cpu in threads.values())
    print(
        f"  {probes} probes in {profile.seconds:.1f} s ({probes / profile.seconds:.0f}/s); "
        f"daemon CPU {1e3 * total / probes:.3f} ms/probe, by thread:"
    )
    names = thread_names(profile.samples)
    for tid, cpu in sorted(threads.items(), key=lambda item: -item[1].total_s):
        if cpu.total_s > 0:
            ms = {key: 1e3 * getattr(cpu, key) / probes for key in ("user_s", "system_s", "wait_s")}
            print(
                f"    {names.get(tid, 'thread'):<12} tid {tid:<7} {1e3 * cpu.total_s / probes:.3f} "
                f"ms/probe (user {ms['user_s']:.3f}, system {ms['system_s']:.3f}; runnable, "
                f"waiting for a CPU {ms['wait_s']:.3f})"
            )
    main_tid = min(threads)  # the main thread's tid is the process id
    main = threads[main_tid]
    buckets = python_buckets(profile.samples, main_tid)
    sampled = sum(buckets.values()) * SAMPLE_MS / 1e3
    print(
        f"  coverage: the samples weigh {sampled:.2f} s of the loop thread's CPU; it used "
        f"{main.total_s:.2f} s (the shares below split the latter)"
    )
    title = "the loop's thread, Python (innermost frame a rule names):"
    _table(title, buckets, main.total_s, probes)
    if profile.perf is None:
        print("  (perf not installed: no kernel breakdown)")
        return
    for tid, counts in sorted(kernel_buckets(profile.perf).items()):
        if tid in threads:
            title = f"thread {names.get(tid, tid)} by perf, on CPU (syscall, or user-space object):"
            _table(title, counts, threads[tid].total_s, probes)
