"""A real Docker engine for the tests: Debian's ``dockerd``, started by hand on a private socket.

Everything lives under one fresh folder in /tmp (short: unix socket paths are limited to
108 bytes): its socket, data root, exec root (with the containerd it starts for itself) and
pidfile. No iptables, no bridge, vfs storage, cgroupfs; containers run with ``--network none``.
Images are made offline: busybox-static's binary tarred as a rootfs and ``docker import``ed,
then a ``HEALTHCHECK`` image ``docker build``-t from it (the classic builder: BuildKit needs
more than this engine has). One engine per test session (``docker_engine`` fixture); two
sessions at once get two folders and two engines.

Missing packages are installed with apt-get (CI runs as root). The tests skip only when
dockerd cannot start at all, from this one place, with one line saying why
(``SKIPPED [n] tests/docker_engine.py: Docker engine tests skipped: ...``).

Debian's engine is 20.10 (API 1.41): it predates ``start_interval`` (API 1.44, Engine 25),
the health-check timeout fixes of 23/24 (the probe's process is not killed on timeout, the
timeout message carries no output), so what the tests expect of Docker itself is 20.10's.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vigil.linux.process import track, untrack

SKIP_REASON = "Docker engine tests skipped: "
DOCKERD = "/usr/sbin/dockerd"
DOCKER_CLI = "/usr/bin/docker"  # the CLI of the same release as the engine
BUSYBOX = "/bin/busybox"  # busybox-static: one static binary, a whole userland
BASE_IMAGE = "vigil-busybox:test"
HEALTH_IMAGE = "vigil-health:test"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# The HEALTHCHECK image: healthy while /tmp/ok exists. PID 1 is a shell that exits on
# SIGTERM (a bare `sleep` as PID 1 ignores it and every stop would wait out its timeout).
HEALTH_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD test -f /tmp/ok
CMD ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
"""
# dockerd as a child subreaper (kept across exec): the containerd shims that daemonize are
# reparented to it, not to the test process (a subreaper too), where contain.sweep would
# take them for a probe's leftovers and kill the containers.
_AS_SUBREAPER = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)
BUSYBOX_APPLETS = ("sh", "true", "false", "touch", "rm", "test", "sleep", "cat", "echo", "ls")


@dataclass
class DockerEngine:
    """A running dockerd; ``host`` is its ``DOCKER_HOST``."""

    root: Path
    pid: int = 0
    version: str = ""
    log: Path = field(init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.log = self.root / "dockerd.log"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def docker(self, *args: str, stdin: bytes | None = None, check: bool = True,
               timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this engine."""
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0",
               "DOCKER_CONFIG": str(self.root / "cli")}
        done = subprocess.run([DOCKER_CLI, *args], input=stdin, env=env, capture_output=True,
                              timeout=timeout_s, check=False)
        result = subprocess.CompletedProcess(done.args, done.returncode,
                                             done.stdout.decode(errors="replace"),
                                             done.stderr.decode(errors="replace"))
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
        return result

    def run(self, name: str, *args: str, image: str = HEALTH_IMAGE) -> str:
        """``docker run -d --network none --name NAME ARGS IMAGE``; returns the ID."""
        return self.docker("run", "-d", "--network", "none", "--name", name, *args,
                           image).stdout.strip()

    def inspect(self, name: str) -> dict[str, object]:
        found: list[dict[str, object]] = json.loads(self.docker("inspect", name).stdout)
        return found[0]

    def start(self) -> None:
        """Start dockerd on this folder and wait until it answers (bounded)."""
        for leftover in ("docker.sock", "docker.pid"):
            (self.root / leftover).unlink(missing_ok=True)
        command = [
            DOCKERD, "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
            "--storage-driver=vfs", "--exec-opt", "native.cgroupdriver=cgroupfs",
            "--host", self.host, "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"),
            "--shutdown-timeout", "3",
        ]
        with self.log.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-c", _AS_SUBREAPER, *command],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        # Not a leftover for contain.sweep (tests that run as the daemon kill every child
        # they did not start): dockerd, and through it its shims, are the harness's.
        track(process.pid)
        self._process, self.pid = process, process.pid
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"dockerd exited with {process.returncode}: {self._tail()}")
            if self.socket.exists():
                done = self.docker("version", "--format", "{{.Server.Version}}", check=False,
                                   timeout_s=10)
                if done.returncode == 0:
                    self.version = done.stdout.strip()
                    return
            time.sleep(0.1)  # bounded poll: dockerd says nothing when it is ready
        self.stop()
        raise RuntimeError(f"dockerd did not answer within {START_TIMEOUT_S:.0f} s: "
                           f"{self._tail()}")

    def stop(self) -> None:
        """SIGTERM dockerd (it stops its containers and its containerd), SIGKILL when it
        does not end in time, then kill what it may have left: its containerd."""
        if self._process is not None:
            _terminate(self.pid, STOP_TIMEOUT_S)
            self._process.wait(timeout=10)  # reaped (it is ours)
            untrack(self.pid)
            self._process, self.pid = None, 0
        pidfile = self.root / "exec" / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            _terminate(int(pidfile.read_text().strip()), 10.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the engine, unmount what it left mounted and remove its folder."""
        with contextlib.suppress(Exception):
            for container in self.docker("ps", "-aq", check=False, timeout_s=20).stdout.split():
                self.docker("rm", "-f", container, check=False, timeout_s=20)
        self.stop()
        _kill_shims(self.root)
        for mount in reversed(_mounts_under(self.root)):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in lines[-3:])


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not select.select([fd], [], [], timeout_s)[0]:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            select.select([fd], [], [], 10.0)
    finally:
        os.close(fd)


def _kill_shims(root: Path) -> None:
    """containerd shims of this engine's containers that outlived it (killed dockerd)."""
    marker = str(root).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes()
            if b"containerd-shim" in cmdline and marker in cmdline:
                _terminate(int(proc.name), 5.0)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix):
            mounts.append(point)
    return mounts


# -- set-up ---------------------------------------------------------------------------------


def _install_packages() -> str | None:
    """Install docker.io and busybox-static when missing; the reason they are not, or None."""
    if os.path.exists(DOCKERD) and os.path.exists(BUSYBOX) and os.path.exists(DOCKER_CLI):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "docker.io / busybox-static are missing and apt-get cannot install them here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300",
               "docker.io", "busybox-static"]
    done = subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
    if done.returncode != 0:  # an old or missing package list: fetch it once, then retry
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True,
                       timeout=600, check=False)
        done = subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
    if done.returncode != 0:
        return f"apt-get install docker.io busybox-static failed: {done.stderr[-300:]!r}"
    return None


def _rootfs_tar() -> bytes:
    """busybox-static as a whole root filesystem: /bin/busybox, its applets, /tmp."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buffer.getvalue()


def _build_images(engine: DockerEngine) -> None:
    engine.docker("import", "--change", 'CMD ["sh"]', "-", BASE_IMAGE, stdin=_rootfs_tar())
    context = engine.root / "context"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(HEALTH_DOCKERFILE)
    engine.docker("build", "-q", "-t", HEALTH_IMAGE, str(context))


def start_engine() -> DockerEngine:
    """A new engine in a new folder, with both images; raises RuntimeError when impossible."""
    missing = _install_packages()
    if missing is not None:
        raise RuntimeError(missing)
    engine = DockerEngine(Path(tempfile.mkdtemp(prefix="vigil-dockerd-", dir="/tmp")))
    try:
        engine.start()
        _build_images(engine)
    except BaseException:
        engine.destroy()
        raise
    return engine


@functools.cache
def _session_engine() -> DockerEngine | str:
    try:
        return start_engine()
    except (RuntimeError, OSError, subprocess.SubprocessError, AssertionError) as exc:
        return str(exc)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """The session's engine (started on first use, destroyed at the end of the session)."""
    engine = _session_engine()
    if isinstance(engine, str):
        print(f"\n*** {SKIP_REASON}{engine}")  # loud: also on the terminal, not only in -ra
        pytest.skip(SKIP_REASON + engine)
    yield engine
    engine.destroy()
    _session_engine.cache_clear()


def wait_until(condition: Callable[[], object], timeout_s: float = 30.0,
               what: str = "condition") -> object:
    """Poll ``condition`` (every 50 ms, at most ``timeout_s``) until it returns a truthy value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def fold_skip(report: pytest.TestReport) -> None:
    """Point every Docker skip at this module, so ``-ra`` folds them into one line."""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3 \
            and SKIP_REASON in str(longrepr[2]):
        report.longrepr = ("tests/docker_engine.py", None, longrepr[2])  # type: ignore[assignment]
