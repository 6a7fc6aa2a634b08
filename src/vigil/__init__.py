"""vigil: Docker's HEALTHCHECK model, exactly, for anything.

The public API; everything else lives in private modules and may change.
"""

from vigil.core.config import HealthcheckConfig as HealthcheckConfig
from vigil.core.config import HistoryConfig as HistoryConfig
from vigil.core.config import ProjectConfig as ProjectConfig
from vigil.core.config import ServiceConfig as ServiceConfig
from vigil.core.events import Event as Event
from vigil.core.events import MonitorStarted as MonitorStarted
from vigil.core.events import MonitorStopped as MonitorStopped
from vigil.core.events import ProbeCompleted as ProbeCompleted
from vigil.core.events import StatusChanged as StatusChanged
from vigil.core.events import TargetCreated as TargetCreated
from vigil.core.events import TargetDied as TargetDied
from vigil.core.events import TargetEvent as TargetEvent
from vigil.core.events import TargetExiting as TargetExiting
from vigil.core.events import TargetKilled as TargetKilled
from vigil.core.events import TargetPaused as TargetPaused
from vigil.core.events import TargetRef as TargetRef
from vigil.core.events import TargetRemoved as TargetRemoved
from vigil.core.events import TargetRestarted as TargetRestarted
from vigil.core.events import TargetRestarting as TargetRestarting
from vigil.core.events import TargetStarted as TargetStarted
from vigil.core.events import TargetStopped as TargetStopped
from vigil.core.events import TargetUnpaused as TargetUnpaused
from vigil.core.health import HealthState as HealthState
from vigil.core.lifecycle import ProcessState as ProcessState
from vigil.core.lifecycle import ProcessStatus as ProcessStatus
from vigil.core.probespec import ExecSpec as ExecSpec
from vigil.core.probespec import ProbeSpec as ProbeSpec
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
from vigil.probes import build_probe as build_probe
from vigil.probes.exec import ExecProbe as ExecProbe
from vigil.runtime.clock import Clock as Clock
from vigil.runtime.clock import SystemClock as SystemClock
from vigil.runtime.engine import Engine as Engine
from vigil.runtime.stream import Subscription as Subscription
from vigil.store import DurableStore as DurableStore
from vigil.store import StateStore as StateStore
from vigil.store import TargetRecord as TargetRecord
from vigil.store import open_store as open_store
from vigil.store.memory import MemoryStore as MemoryStore
from vigil.targets.base import Target as Target

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ConfigError",
    "ConfigProblem",
    "DurableStore",
    "Engine",
    "Event",
    "ExecProbe",
    "ExecSpec",
    "HealthState",
    "HealthStatus",
    "HealthcheckConfig",
    "HistoryConfig",
    "MemoryStore",
    "MonitorStarted",
    "MonitorStopped",
    "Outcome",
    "Probe",
    "ProbeCompleted",
    "ProbeReport",
    "ProbeResult",
    "ProbeSpec",
    "ProcessState",
    "ProcessStatus",
    "ProjectConfig",
    "ServiceConfig",
    "StateStore",
    "StatusChanged",
    "Subscription",
    "SystemClock",
    "Target",
    "TargetCreated",
    "TargetDied",
    "TargetEvent",
    "TargetExiting",
    "TargetKilled",
    "TargetPaused",
    "TargetRecord",
    "TargetRef",
    "TargetRemoved",
    "TargetRestarted",
    "TargetRestarting",
    "TargetStarted",
    "TargetStopped",
    "TargetUnpaused",
    "VigilError",
    "become_subreaper",
    "build_probe",
    "format_duration",
    "open_store",
    "parse_duration",
]
