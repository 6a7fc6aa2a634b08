"""Configuration values and Docker's defaults. Pure core: stdlib only.

Durations are int nanoseconds; ``0`` means "not set, use the default", exactly as in
Docker's ``HealthConfig``. Defaults are applied when a value is read for running
(``effective_*``), never written into the config, so ``vigil config`` and the API show
what the user wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from vigil.core.hooks import HooksConfig
from vigil.core.netspec import NET_TYPES, HttpOptions
from vigil.core.notify import FlapPolicy
from vigil.core.remediation import RemediationPolicy
from vigil.go.duration import MILLISECOND, SECOND, format_duration

if TYPE_CHECKING:  # vigil.core.fleet builds on this module's HealthcheckConfig
    from vigil.core.fleet import FleetConfig, SharedCheck

DEFAULT_INTERVAL = 30 * SECOND  # moby defaultProbeInterval
DEFAULT_TIMEOUT = 30 * SECOND  # moby defaultProbeTimeout
DEFAULT_START_PERIOD = 0  # moby defaultStartPeriod: failures count at once
DEFAULT_START_INTERVAL = 5 * SECOND  # moby defaultStartInterval (>= v27)
DEFAULT_FAILURE_THRESHOLD = 3  # moby defaultProbeRetries; applied when Retries <= 0
MIN_DURATION = MILLISECOND  # moby container.MinimumDuration
MAX_LOG_ENTRIES = 5  # moby maxLogEntries

DEFAULT_STOP_SIGNAL = "SIGTERM"  # compose/docker stop_signal
DEFAULT_STOP_GRACE_PERIOD = 10 * SECOND  # compose stop_grace_period, docker stop -t 10

DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")  # moby getShell on Linux
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # moby oci defaults

TEST_CMD = "CMD"
TEST_SHELL = "CMD-SHELL"
TEST_NONE = "NONE"


@dataclass(frozen=True, slots=True)
class HealthcheckConfig:
    """Docker's ``HealthConfig``. ``retries`` keeps Docker's name at this edge; the core calls
    the effective value ``failure_threshold`` because it counts consecutive failures and
    never retries anything."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0
    http: HttpOptions | None = None  # vigil's HTTP options, only with an HTTP test

    @property
    def runs_probe(self) -> bool:
        """True when Docker would start a health monitor (``Test[0]`` is CMD or CMD-SHELL,
        matched case-sensitively), or vigil a network probe (HTTP, TCP, GRPC); empty,
        ``NONE`` and unknown types mean no health at all."""
        return bool(self.test) and self.test[0] in (TEST_CMD, TEST_SHELL, *NET_TYPES)

    @property
    def effective_interval(self) -> int:
        return self.interval or DEFAULT_INTERVAL

    @property
    def effective_timeout(self) -> int:
        return self.timeout or DEFAULT_TIMEOUT

    @property
    def effective_start_period(self) -> int:
        return self.start_period or DEFAULT_START_PERIOD

    @property
    def effective_start_interval(self) -> int:
        return self.start_interval or DEFAULT_START_INTERVAL

    @property
    def failure_threshold(self) -> int:
        return self.retries if self.retries > 0 else DEFAULT_FAILURE_THRESHOLD


def validate_healthcheck(check: HealthcheckConfig) -> str | None:
    """Docker's create-time check (``validateHealthCheck``): the first problem's message, or None.

    Order and texts are moby's: Interval, Timeout, Retries, StartPeriod, StartInterval.
    """
    minimum = format_duration(MIN_DURATION)
    if check.interval != 0 and check.interval < MIN_DURATION:
        return f"Interval in Healthcheck cannot be less than {minimum}"
    if check.timeout != 0 and check.timeout < MIN_DURATION:
        return f"Timeout in Healthcheck cannot be less than {minimum}"
    if check.retries < 0:
        return "Retries in Healthcheck cannot be negative"
    if check.start_period != 0 and check.start_period < MIN_DURATION:
        return f"StartPeriod in Healthcheck cannot be less than {minimum}"
    if check.start_interval != 0 and check.start_interval < MIN_DURATION:
        return f"StartInterval in Healthcheck cannot be less than {minimum}"
    return None


def _frozen_env(env: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(env))


DEFAULT_HISTORY_KEEP = 30 * 24 * 3600 * SECOND  # issue 9: a month of history by default
DEFAULT_HISTORY_MAX_RESULTS = 100_000  # per service: about a day at one result per second


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """Retention of kept history (``history: {keep: 30d, max_results: 100000}``): results and
    events older than ``keep`` (ns) go, and a service keeps at most its newest
    ``max_results`` results. None means "not set here": a service's value overrides the
    daemon's, which overrides the defaults. 0 for either means "no limit"."""

    keep: int | None = None
    max_results: int | None = None

    def over(self, base: HistoryConfig) -> HistoryConfig:
        """This config's values where set, ``base``'s elsewhere."""
        return HistoryConfig(
            base.keep if self.keep is None else self.keep,
            base.max_results if self.max_results is None else self.max_results,
        )

    @property
    def effective_keep(self) -> int:
        return DEFAULT_HISTORY_KEEP if self.keep is None else self.keep

    @property
    def effective_max_results(self) -> int:
        return DEFAULT_HISTORY_MAX_RESULTS if self.max_results is None else self.max_results


RESTART_NO = "no"
RESTART_ALWAYS = "always"
RESTART_ON_FAILURE = "on-failure"
RESTART_UNLESS_STOPPED = "unless-stopped"

CONDITION_STARTED = "service_started"
CONDITION_HEALTHY = "service_healthy"
CONDITION_COMPLETED = "service_completed_successfully"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Docker's ``RestartPolicy``: ``name`` is no, always, on-failure or unless-stopped;
    ``maximum_retry_count`` only for on-failure (0 = no limit)."""

    name: str = RESTART_NO
    maximum_retry_count: int = 0

    def __str__(self) -> str:
        if self.name == RESTART_ON_FAILURE and self.maximum_retry_count:
            return f"{self.name}:{self.maximum_retry_count}"
        return self.name


@dataclass(frozen=True, slots=True)
class Dependency:
    """One ``depends_on`` entry: wait for ``condition`` of the named service."""

    condition: str = CONDITION_STARTED
    required: bool = True


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """One service of a ``vigil.yaml``: an optional process to own and an optional health check.

    ``command`` empty means the service is only watched, not started by vigil.
    ``healthcheck`` None means no check at all (health ``none``).
    """

    name: str
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=lambda: _frozen_env({}))
    working_dir: str | None = None
    user: str | None = None
    shell: tuple[str, ...] = ()
    healthcheck: HealthcheckConfig | None = None
    restart: RestartPolicy = RestartPolicy()
    stop_signal: str = ""  # empty: DEFAULT_STOP_SIGNAL
    stop_grace_period: int = 0  # ns; 0: DEFAULT_STOP_GRACE_PERIOD
    depends_on: Mapping[str, Dependency] = field(default_factory=lambda: MappingProxyType({}))
    on_unhealthy: RemediationPolicy = field(default_factory=RemediationPolicy)  # core.remediation
    hooks: HooksConfig = field(default_factory=HooksConfig)  # vigil.core.hooks
    notify: tuple[str, ...] = ()  # Apprise URLs, added to the daemon-wide ones (secrets)
    notify_flap: FlapPolicy | None = None  # over the daemon-wide notify_flap, key by key
    history: HistoryConfig | None = None  # retention of its results; None: the daemon's

    @property
    def effective_stop_signal(self) -> str:
        return self.stop_signal or DEFAULT_STOP_SIGNAL

    @property
    def effective_stop_grace_period(self) -> int:
        return self.stop_grace_period or DEFAULT_STOP_GRACE_PERIOD

    @property
    def effective_shell(self) -> tuple[str, ...]:
        return self.shell or DEFAULT_SHELL


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """A whole ``vigil.yaml``: services by name, in file order."""

    services: Mapping[str, ServiceConfig] = field(default_factory=lambda: MappingProxyType({}))
    notify: tuple[str, ...] = ()  # daemon-wide Apprise URLs (top-level notify:, up --notify)
    notify_flap: FlapPolicy | None = None
    history: HistoryConfig = HistoryConfig()  # daemon-wide retention (``history:``)
    store: str = ""  # ``store:``: where history is kept; empty: SQLite in the state dir

    web: str | None = None  # the status page's HOST:PORT (``web:``), None: no page
    fleet: FleetConfig | None = None  # ``fleet:`` (issue 11), None: a single host
    checks: Mapping[str, SharedCheck] = field(  # ``checks:``: the fleet's shared checks
        default_factory=lambda: MappingProxyType({}))
