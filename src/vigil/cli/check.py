"""``vigil check``: one probe, now, with the full runtime semantics (like a Docker probe)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from vigil.core.config import TEST_CMD, TEST_SHELL, HealthcheckConfig, ServiceConfig
from vigil.core.names import shown_name
from vigil.core.netspec import NET_TYPES
from vigil.core.probespec import spec_for_check
from vigil.core.results import ProbeResult
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.duration import MILLISECOND
from vigil.runtime.clock import SystemClock


def build_check_service(
    *,
    path: Path | None,
    health_cmd: str | None,
    args: Sequence[str],
    env: Mapping[str, str],
    workdir: str | None,
    user: str | None,
    net_test: Sequence[str] | None = None,
) -> ServiceConfig:
    """The service to probe, from a config file's service or from docker-run-style flags
    (``net_test``: the test of ``--http`` / ``--tcp`` / ``--grpc``)."""
    if net_test is not None:
        if path is not None or health_cmd is not None or args:
            raise ValueError("--http, --tcp and --grpc take no -f, --health-cmd or command")
        service = ServiceConfig(name="check", healthcheck=HealthcheckConfig(tuple(net_test)))
    elif path is not None:
        if health_cmd is not None or len(args) != 1:
            raise ValueError("-f FILE takes exactly one SERVICE and no --health-cmd")
        from vigil.compose.load import load_project_file

        project = load_project_file(path)
        name = args[0]
        if name not in project.services:
            raise ConfigError(ConfigProblem("services", f"no such service: {shown_name(name)}"))
        service = project.services[name]
        if service.healthcheck is None or not service.healthcheck.runs_probe:
            raise ConfigError(
                ConfigProblem(f"services.{name}", f"service {name} has no healthcheck configured")
            )
    elif health_cmd is not None:
        if args:
            raise ValueError("--health-cmd and a command after -- are mutually exclusive")
        check = HealthcheckConfig((TEST_SHELL, health_cmd))
        service = ServiceConfig(name="check", healthcheck=check)
    elif args:
        service = ServiceConfig(name="check", healthcheck=HealthcheckConfig((TEST_CMD, *args)))
    else:
        raise ValueError(
            "nothing to check: give -f FILE SERVICE, --health-cmd CMD or -- CMD ARG..."
        )
    return replace(
        service,
        environment={**service.environment, **env},
        working_dir=workdir if workdir is not None else service.working_dir,
        user=user if user is not None else service.user,
    )


SWEEP_INTERVAL_NS = 50 * MILLISECOND  # an orphan lost if we are SIGKILLed lives this long


async def _sweep_every(clock: SystemClock, interval_ns: int) -> None:
    """Kill orphans that escaped the jail before it held them (they came back to us, and
    would be lost if this process were SIGKILLed): the daemon does so every second."""
    from vigil.linux import contain

    while True:
        await clock.sleep_ns(interval_ns)
        contain.sweep(quick=True)


async def run_check(service: ServiceConfig, *, timeout_ns: int = 0) -> ProbeResult:
    """Run the service's probe once; ``timeout_ns`` 0 means the configured (or default) one.

    Nothing it starts outlives it: the probe runs in a jail, orphans that escaped it are
    swept while it runs and at the end, and a guardian process kills the jail if this
    process is killed before it could (``vigil.linux.guardian``)."""
    from vigil.linux import contain
    from vigil.linux.guardian import Guardian
    from vigil.linux.process import become_subreaper, reap_orphans, track
    from vigil.probes.exec import ExecProbe

    assert service.healthcheck is not None
    if service.healthcheck.test[0] in NET_TYPES:
        return await run_net_check(service.healthcheck, timeout_ns=timeout_ns)
    become_subreaper()  # so grandchildren a timed-out probe leaves behind are ours to reap
    contain.own_children()
    contain.walk_after_spawn()
    clock = SystemClock()
    probe = ExecProbe.from_service(service)
    timeout = timeout_ns or service.healthcheck.effective_timeout
    guardian = Guardian.start()
    track(guardian.pid)  # ours, not a leftover for the sweep
    try:
        parent = contain.parent_path()
        if parent is not None:
            guardian.guard_cgroup(parent)
        else:
            contain.on_place(guardian.guard_tree)
        sweeper = asyncio.ensure_future(_sweep_every(clock, SWEEP_INTERVAL_NS))
        start = clock.now_ns()
        try:
            report = await probe.run(timeout_ns=timeout, clock=clock)
        finally:
            sweeper.cancel()
        end = clock.now_ns()
    finally:
        contain.sweep()
        reap_orphans()
        guardian.close()
    return ProbeResult(start, end, report.exit_code, report.output, report.outcome)


async def run_net_check(check: HealthcheckConfig, *, timeout_ns: int = 0) -> ProbeResult:
    """Run an HTTP / TCP / GRPC check once, in this process (nothing to contain or reap)."""
    from vigil.probes import build_probe
    from vigil.probes.http import close_sessions

    clock = SystemClock()
    probe = build_probe(spec_for_check(check))
    start = clock.now_ns()
    try:
        report = await probe.run(timeout_ns=timeout_ns or check.effective_timeout, clock=clock)
    finally:
        await close_sessions()
    return ProbeResult(start, clock.now_ns(), report.exit_code, report.output, report.outcome)
