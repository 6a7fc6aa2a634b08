"""vigil: Docker's HEALTHCHECK model, exactly, for anything.

The public API; everything else lives in private modules and may change.
"""

from vigil._clock import Clock as Clock
from vigil._clock import SystemClock as SystemClock
from vigil._config import HealthcheckConfig as HealthcheckConfig
from vigil._config import ProjectConfig as ProjectConfig
from vigil._config import ServiceConfig as ServiceConfig
from vigil._durations import format_duration as format_duration
from vigil._durations import parse_duration as parse_duration
from vigil._engine import Engine as Engine
from vigil._events import Event as Event
from vigil._events import MonitorStarted as MonitorStarted
from vigil._events import MonitorStopped as MonitorStopped
from vigil._events import ProbeCompleted as ProbeCompleted
from vigil._events import StatusChanged as StatusChanged
from vigil._process import become_subreaper as become_subreaper
from vigil._results import Outcome as Outcome
from vigil._results import ProbeResult as ProbeResult
from vigil._state import HealthState as HealthState
from vigil._state_types import HealthStatus as HealthStatus
from vigil.exceptions import ConfigError as ConfigError
from vigil.exceptions import ConfigProblem as ConfigProblem
from vigil.exceptions import VigilError as VigilError
from vigil.probes import Probe as Probe
from vigil.probes import ProbeReport as ProbeReport
from vigil.probes._exec import ExecProbe as ExecProbe

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
