"""vigil: Docker's HEALTHCHECK model, exactly, for anything.

The public API; everything else lives in private modules and may change.
"""

from vigil.core.config import HealthcheckConfig as HealthcheckConfig
from vigil.core.config import ProjectConfig as ProjectConfig
from vigil.core.config import ServiceConfig as ServiceConfig
from vigil.core.events import Event as Event
from vigil.core.events import MonitorStarted as MonitorStarted
from vigil.core.events import MonitorStopped as MonitorStopped
from vigil.core.events import ProbeCompleted as ProbeCompleted
from vigil.core.events import StatusChanged as StatusChanged
from vigil.core.health import HealthState as HealthState
from vigil.core.results import Outcome as Outcome
from vigil.core.results import ProbeResult as ProbeResult
from vigil.core.status import HealthStatus as HealthStatus
from vigil.exceptions import ConfigError as ConfigError
from vigil.exceptions import ConfigProblem as ConfigProblem
from vigil.exceptions import VigilError as VigilError
from vigil.go.duration import format_duration as format_duration
from vigil.go.duration import parse_duration as parse_duration
from vigil.linux.process import become_subreaper as become_subreaper
from vigil.probes import Probe as Probe
from vigil.probes import ProbeReport as ProbeReport
from vigil.probes.exec import ExecProbe as ExecProbe
from vigil.runtime.clock import Clock as Clock
from vigil.runtime.clock import SystemClock as SystemClock
from vigil.runtime.engine import Engine as Engine

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ConfigError",
    "ConfigProblem",
    "Engine",
    "Event",
    "ExecProbe",
    "HealthState",
    "HealthStatus",
    "HealthcheckConfig",
    "MonitorStarted",
    "MonitorStopped",
    "Outcome",
    "Probe",
    "ProbeCompleted",
    "ProbeReport",
    "ProbeResult",
    "ProjectConfig",
    "ServiceConfig",
    "StatusChanged",
    "SystemClock",
    "VigilError",
    "become_subreaper",
    "format_duration",
    "parse_duration",
]
