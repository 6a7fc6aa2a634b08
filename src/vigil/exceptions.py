"""vigil's one exception tree.

::

    VigilError                    root; never raised itself
    ├── ConfigError               bad configuration; carries every problem found
    ├── ProbeError                a probe could not be built or started (never for a failing target)
    ├── StoreError                persistence failed (later)
    ├── NotifyError               a notification was not delivered
    ├── ServiceError              a daemon operation was refused (HTTP status in ``status``)
    │   ├── NotFoundError         404: no such service
    │   ├── ConflictError         409: not in a state that allows it
    │   ├── InvalidParameterError 400: bad parameter
    │   └── NotModifiedError      304: nothing to do
    ├── ApiError                  the daemon API answered with an error (status, message)
    └── DockerEngineError         a Docker engine refused a request (status, message)
        └── DockerUnreachableError  ... or could not be reached (status 0)

A failing target is never an exception: probes turn it into a result with a non-zero
``ExitCode``. Exceptions of libraries vigil uses are mapped onto this tree where they enter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class VigilError(Exception):
    """Root of every error vigil raises on purpose."""

    def __new__(cls, *args: Any, **kwargs: Any) -> VigilError:
        if cls is VigilError:
            raise TypeError("VigilError is abstract; raise one of its subclasses")
        return super().__new__(cls, *args, **kwargs)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a configuration: where (``services.web.healthcheck.interval``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(VigilError):
    """The configuration is invalid. ``problems`` lists every problem, in document order."""

    def __init__(self, problems: list[ConfigProblem] | ConfigProblem | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("", problems)]
        elif isinstance(problems, ConfigProblem):
            problems = [problems]
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ProbeError(VigilError):
    """A probe could not be set up (bad spec). Probe *runs* never raise this."""


class StoreError(VigilError):
    """Reading or writing persisted state failed."""


class NotifyError(VigilError):
    """A notification was not delivered (the destination refused it, or did not answer)."""


class ApiError(VigilError):
    """The daemon's API answered with an error."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


class ServiceError(VigilError):
    """A daemon operation on a service was refused; ``status`` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NotFoundError(ServiceError):
    """No such service (404)."""

    status = 404


class ConflictError(ServiceError):
    """The service is not in a state that allows the operation (409)."""

    status = 409


class InvalidParameterError(ServiceError):
    """A parameter of the request is invalid (400)."""

    status = 400


class NotModifiedError(ServiceError):
    """Nothing to do: already started, already stopped (304, as Docker)."""

    status = 304


class DockerEngineError(VigilError):
    """A Docker engine answered a request with an error (``status``, its ``message``)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


class DockerUnreachableError(DockerEngineError):
    """The Docker engine could not be reached (no socket, refused, dropped): status 0."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)
