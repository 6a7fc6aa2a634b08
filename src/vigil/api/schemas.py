"""The documented JSON shapes of the API, for the OpenAPI document only.

Bodies are produced by ``vigil.docker.services`` and ``vigil.docker.events`` (the one place that
knows Docker's casing); these models describe them so clients and schemathesis can check
them. Keys that Docker omits when empty are optional here (absent, never ``null``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Docker's error body."""

    message: str = Field(description="What went wrong, one line (config problems: one a line)")


class VersionResponse(BaseModel):
    Version: str
    ApiVersion: str
    Os: str
    Arch: str
    PythonVersion: str
    Pid: int


class HealthSummary(BaseModel):
    Status: str = Field(description="none, starting, healthy or unhealthy")
    FailingStreak: int


class ServiceListItem(BaseModel):
    Id: str
    Names: list[str]
    Command: str
    Created: int = Field(description="Unix seconds")
    State: str
    Status: str = Field(description="Human text, e.g. `Up 2 minutes (healthy)`")
    Health: HealthSummary


class HealthcheckResult(BaseModel):
    Start: str
    End: str
    ExitCode: int
    Output: str


class HealthDetail(BaseModel):
    Status: str
    FailingStreak: int
    Log: list[HealthcheckResult]


class ServiceState(BaseModel):
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


class RestartPolicy(BaseModel):
    Name: str
    MaximumRetryCount: int


class HostConfig(BaseModel):
    RestartPolicy: RestartPolicy


class HealthcheckShape(BaseModel):
    Test: list[str]
    Interval: int | None = Field(None, description="ns; absent when 0")
    Timeout: int | None = None
    StartPeriod: int | None = None
    StartInterval: int | None = None
    Retries: int | None = None


class ServiceConfigShape(BaseModel):
    User: str
    Env: list[str]
    Cmd: list[str] | None
    Healthcheck: HealthcheckShape | None = None
    WorkingDir: str
    StopSignal: str | None = None
    StopTimeout: int | None = Field(None, description="seconds")


class ServiceInspect(BaseModel):
    Id: str
    Created: str
    Path: str
    Args: list[str]
    State: ServiceState
    Name: str
    RestartCount: int
    HostConfig: HostConfig
    Config: ServiceConfigShape


class CreateResponse(BaseModel):
    Id: str
    Warnings: list[str]


class WaitResponse(BaseModel):
    Met: bool
    Error: str | None = Field(description="Why the condition cannot be met, or null")
    ExitCode: int


class UpResponse(BaseModel):
    Errors: list[str]


class EventActor(BaseModel):
    ID: str
    Attributes: dict[str, str]


class EventMessage(BaseModel):
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
            },
        },
        "restart": {"type": "string"},
        "stop_signal": {"type": "string"},
        "stop_grace_period": {"type": "string"},
        "depends_on": {
            "anyOf": [_STRING_LIST, {"type": "object", "additionalProperties": {"type": "object"}}]
        },
    },
}


def tidy_openapi(document: dict[str, Any]) -> None:
    """Fix what FastAPI's generator says wrongly for this API, in place.

    - no 422 answers (vigil answers 400, as Docker) and no schemas for them;
    - error bodies are JSON even on text and NDJSON routes;
    - an absent query parameter is not ``null``: ``anyOf [X, null]`` becomes ``X``;
    - no ``"type": "string"`` beside the ``$ref`` of a non-JSON answer.
    """
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for code, response in responses.items():
                if int(code) >= 400:
                    response["content"] = error_body
                for media in response.get("content", {}).values():
                    schema = media.get("schema", {})
                    if "$ref" in schema:
                        schema.pop("type", None)
            for parameter in operation.get("parameters", []):
                _drop_null(parameter.get("schema", {}))
    found = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        found.pop(unused, None)


def _drop_null(schema: dict[str, Any]) -> None:
    choices = schema.get("anyOf")
    if not isinstance(choices, list):
        return
    kept = [choice for choice in choices if choice != {"type": "null"}]
    if len(kept) == 1 and len(kept) < len(choices):
        del schema["anyOf"]
        schema.update(kept[0])
