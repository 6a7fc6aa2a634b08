"""Docker's error answers: ``{"message": "..."}`` with Docker's status codes, for every way a
request can fail (vigil's exceptions, bad parameters, unknown routes, bugs)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_PREFIX
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from vigil.api.schemas import ErrorResponse
from vigil.docker.health import dumps
from vigil.exceptions import ConfigError, ServiceError

_DESCRIPTIONS: dict[int | str, str] = {
    400: "bad parameter",
    404: "no such service",
    409: "conflict: the service is not in a state that allows it",
    500: "server error",
    503: "not in fleet mode, or the fleet database cannot be reached",
    "default": "any other error, in the same shape",
}
# Pydantic error types in Docker-like words; others use pydantic's own text.
_REASONS = {
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "greater_than_equal": "value out of range",
    "less_than_equal": "value out of range",
    "string_type": "must be a string",
}


class DockerJSONResponse(JSONResponse):
    """JSON as Docker writes it: Go's encoder (no HTML escaping, U+2028 and U+2029 escaped,
    keys in the order given), newline-terminated.

    The ``response_class`` of the JSON routes: FastAPI validates a handler's answer against
    the route's ``response_model`` and hands the serialized value (keys in the model's field
    order, fields Docker omits left unset) to ``render``. Being a ``JSONResponse``, it lets
    FastAPI document the answer from that model.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return (dumps(content) + "\n").encode("utf-8")


def error_response(status_code: int, message: str) -> Response:
    if status_code == 304:
        return Response(status_code=304)  # Docker: no body
    return DockerJSONResponse({"message": message}, status_code=status_code)


def error_responses(*codes: int, json_route: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route answers, and ``default`` for any
    other: always Docker's JSON ``{"message": ...}``. ``default`` is also what keeps FastAPI
    from documenting a 422, which vigil never answers (Docker says 400).

    FastAPI documents a ``model`` under the route's own media type, so a route that does not
    answer JSON (``json_route=False``) names the JSON content itself; ``ErrorResponse`` is in
    the document's components through the JSON routes.
    """
    statuses: tuple[int | str, ...] = (*codes, "default")
    if json_route:
        return {
            code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in statuses
        }
    content = {"application/json": {"schema": {"$ref": f"{REF_PREFIX}{ErrorResponse.__name__}"}}}
    return {code: {"description": _DESCRIPTIONS[code], "content": content} for code in statuses}


def validation_message(exc: RequestValidationError) -> str:
    """One line naming the parameter and its value, e.g.
    ``invalid query parameter t="x": must be an integer``."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    error = errors[0]
    loc = [str(part) for part in error.get("loc", ())]
    where = loc[0] if loc else "request"
    name = loc[1] if len(loc) > 1 else where  # the rest names a branch of an optional type
    kind = str(error.get("type", ""))
    if kind == "missing":
        return f"{where} parameter {name} is required"
    text = str(error.get("msg", "invalid value"))
    reason = _REASONS.get(kind) or text[:1].lower() + text[1:]
    value = dumps(str(error.get("input", "")))
    return f"invalid {where} parameter {name}={value}: {reason}".replace("\n", " ")


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.message)


MAX_PROBLEMS = 20  # config problems shown in one answer; a hostile body can have 100,000


async def _config_error(request: Request, exc: Exception) -> Response:
    lines = str(exc).split("\n")  # every problem, one a line
    if len(lines) > MAX_PROBLEMS:
        lines[MAX_PROBLEMS:] = [f"... and {len(lines) - MAX_PROBLEMS} more problems"]
    return error_response(400, "\n".join(lines))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, validation_message(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):  # Docker's router answers both the same way
        return error_response(404, "page not found")
    return error_response(exc.status_code, str(exc.detail))


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    # Anything else: ``guard.LastResort`` (a handler for Exception here would re-raise).
