"""The JSON shapes of the API: each JSON route's ``response_model``, and the document.

Bodies are built by ``vigil.docker.services`` and ``vigil.docker.events`` (the one place that
knows Docker's casing); FastAPI validates them against these models and serializes them in
the models' field order, which is Docker's. Keys that Docker omits when empty are optional
here and the routes serialize with ``response_model_exclude_unset``: absent, never ``null``.
A key these models do not know, or a value of another type, is an error (``Shape``), so the
document cannot silently fall behind the bodies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Shape(BaseModel):
    """Strict, and no unknown keys: a body that drifts from its model is a 500, not a
    silently dropped key or a ``true`` turned into ``1``."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorResponse(Shape):
    """Docker's error body."""

    message: str = Field(description="What went wrong, one line (config problems: one a line)")


class VersionResponse(Shape):
    Version: str
    ApiVersion: str
    Os: str
    Arch: str
    PythonVersion: str
    Pid: int


class HealthSummary(Shape):
    Status: str = Field(description="none, starting, healthy or unhealthy")
    FailingStreak: int


class ServiceListItem(Shape):
    Id: str
    Names: list[str]
    Command: str
    Created: int = Field(description="Unix seconds")
    State: str
    Status: str = Field(description="Human text, e.g. `Up 2 minutes (healthy)`")
    Health: HealthSummary


class HealthcheckResult(Shape):
    Start: str
    End: str
    ExitCode: int
    Output: str


class HealthDetail(Shape):
    Status: str
    FailingStreak: int
    Log: list[HealthcheckResult]


class ServiceState(Shape):
    Status: str
    Running: bool
    Paused: bool
    Restarting: bool
    OOMKilled: bool
    Dead: bool
    Pid: int
    ExitCode: int
    Error: str
    StartedAt: str
    FinishedAt: str
    Health: HealthDetail | None = Field(None, description="Absent without a running check")


class RestartPolicy(Shape):
    Name: str
    MaximumRetryCount: int


class HostConfig(Shape):
    RestartPolicy: RestartPolicy


class HealthcheckShape(Shape):
    Test: list[str]
    Interval: int | None = Field(None, description="ns; absent when 0")
    Timeout: int | None = None
    StartPeriod: int | None = None
    StartInterval: int | None = None
    Retries: int | None = None


class HealthcheckHttpShape(Shape):
    """vigil's HTTP options of an ``["HTTP", URL]`` test; unset ones are absent."""

    Method: str | None = None
    Headers: dict[str, str] | None = None
    ExpectStatus: list[int | str] | None = Field(None, description='codes and "lo-hi" ranges')
    ExpectBody: str | None = Field(None, description="a substring, or an RE2 regex /.../")
    MaxResponseTime: int | None = Field(None, description="ns")
    TLSSkipVerify: bool | None = None
    CAFile: str | None = None
    ClientCert: str | None = None
    ClientKey: str | None = None


class ServiceConfigShape(Shape):
    User: str
    Env: list[str]
    Cmd: list[str] | None
    Healthcheck: HealthcheckShape | None = None
    HealthcheckHTTP: HealthcheckHttpShape | None = None
    WorkingDir: str
    StopSignal: str | None = None
    StopTimeout: int | None = Field(None, description="seconds")


class ServiceInspect(Shape):
    Id: str
    Created: str
    Path: str
    Args: list[str]
    State: ServiceState
    Name: str
    RestartCount: int
    HostConfig: HostConfig
    Config: ServiceConfigShape


class CreateResponse(Shape):
    Id: str
    Warnings: list[str]


class WaitResponse(Shape):
    Met: bool
    Error: str | None = Field(description="Why the condition cannot be met, or null")
    ExitCode: int


class UpResponse(Shape):
    Errors: list[str]


class EventActor(Shape):
    ID: str
    Attributes: dict[str, str]


class EventMessage(Shape):
    """One line of the ``/events`` stream."""

    Type: str
    Action: str
    Actor: EventActor
    scope: str
    time: int | None = Field(None, description="Unix seconds")
    timeNano: int | None = Field(None, description="Unix nanoseconds")


_STRING_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_STRING_OR_LIST: dict[str, Any] = {"anyOf": [{"type": "string"}, _STRING_LIST]}
_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}

# A service entry exactly as under ``services.<name>`` in vigil.yaml; ``vigil.compose.project``
# is the authority (its texts come back as 400), this only sketches the keys.
SERVICE_ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ServiceEntry",
    "properties": {
        "command": _STRING_OR_LIST,
        "environment": {
            "anyOf": [{"type": "object", "additionalProperties": _SCALAR}, _STRING_LIST]
        },
        "working_dir": {"type": "string"},
        "user": {"type": "string"},
        "shell": _STRING_LIST,
        "healthcheck": {
            "type": "object",
            "properties": {
                "test": _STRING_OR_LIST,
                "interval": {"type": "string"},
                "timeout": {"type": "string"},
                "start_period": {"type": "string"},
                "start_interval": {"type": "string"},
                "retries": {"type": "integer"},
                "disable": {"type": "boolean"},
                "dockerfile": {"type": "string"},
                # vigil's HTTP options (README "Network checks"), with an HTTP test only
                "method": {"type": "string"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "expect_status": {"anyOf": [{"type": "integer"}, {"type": "string"},
                                            {"type": "array"}]},
                "expect_body": {"type": "string"},
                "max_response_time": {"type": "string"},
                "tls_skip_verify": {"type": "boolean"},
                "ca_file": {"type": "string"},
                "client_cert": {"type": "string"},
                "client_key": {"type": "string"},
            },
        },
        "restart": {"type": "string"},
        "stop_signal": {"type": "string"},
        "stop_grace_period": {"type": "string"},
        "depends_on": {
            "anyOf": [_STRING_LIST, {"type": "object", "additionalProperties": {"type": "object"}}]
        },
        "on_unhealthy": {
            "anyOf": [
                {"type": "string", "enum": ["restart", "stop", "kill", "none"]},
                {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string"},
                        "max_restarts": {"type": "integer"},
                        "window": {"type": "string"},
                        "backoff": {"type": "string"},
                    },
                },
            ]
        },
        "hooks": {
            "type": "object",
            "properties": {
                "on_unhealthy": _STRING_OR_LIST,
                "on_healthy": _STRING_OR_LIST,
                "timeout": {"type": "string"},
            },
        },
        "notify": _STRING_LIST,
        "notify_flap": {
            "type": "object",
            "properties": {
                "changes": {"type": "integer"},
                "window": {"type": "string"},
                "settle": {"type": "string"},
            },
        },
    },
}
