"""Docker's JSON shapes and Go's encodings, at the edge: the one place that knows field casing.

- Timestamps: Go's ``time.RFC3339Nano`` of the daemon's local time (``vigil.go.timefmt``).
- Strings: Go's ``encoding/json`` with ``SetEscapeHTML(false)``: ``<>&`` raw, U+2028/U+2029
  escaped, control characters as ``\\n``-style or ``\\u00XX``; invalid UTF-8 was already turned
  into U+FFFD byte by byte when the output was decoded (``vigil.core.results.decode_output``).
- Durations in config shapes: integer nanoseconds, zero fields omitted (Docker's omitempty).
"""

from __future__ import annotations

import json
from typing import Any

from vigil.core.config import HealthcheckConfig
from vigil.core.health import HealthState
from vigil.core.netspec import HttpOptions, format_status_range
from vigil.core.results import ProbeResult
from vigil.go.timefmt import format_rfc3339nano

JsonObject = dict[str, Any]


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per call


def dumps(value: object, *, indent: int | None = None) -> str:
    """Encode like Go's ``json.Encoder`` with HTML escaping off (compact unless ``indent``)."""
    if indent is None:
        text = _COMPACT.encode(value)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ": "), indent=indent)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def result_json(result: ProbeResult) -> JsonObject:
    """Docker's ``HealthcheckResult``."""
    return {
        "Start": format_rfc3339nano(result.start),
        "End": format_rfc3339nano(result.end),
        "ExitCode": result.exit_code,
        "Output": result.output,
    }


def health_json(state: HealthState) -> JsonObject:
    """Docker's ``State.Health``: ``Log`` is ``[]``, never ``null``, oldest first."""
    return {
        "Status": state.status.value,
        "FailingStreak": state.failing_streak,
        "Log": [result_json(r) for r in state.log],
    }


def http_options_json(options: HttpOptions) -> JsonObject:
    """vigil's ``Config.HealthcheckHTTP`` (the HTTP options of an ``HTTP`` test), in the
    style of Docker's ``Healthcheck``: CamelCase keys, durations in ns, unset ones omitted."""
    fields: list[tuple[str, object]] = [
        ("Method", options.method),
        ("Headers", dict(options.headers)),
        ("ExpectStatus", [format_status_range(*pair) for pair in options.expect_status]),
        ("ExpectBody", options.expect_body),
        ("MaxResponseTime", options.max_response_time),
        ("TLSSkipVerify", options.tls_skip_verify),
        ("CAFile", options.ca_file),
        ("ClientCert", options.client_cert),
        ("ClientKey", options.client_key),
    ]
    return {key: value for key, value in fields if value}


def healthcheck_config_json(check: HealthcheckConfig) -> JsonObject:
    """Docker's ``Config.Healthcheck``: durations as integer ns, zero fields omitted."""
    fields: list[tuple[str, object]] = [
        ("Test", list(check.test)),
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
        ("StartInterval", check.start_interval),
        ("Retries", check.retries),
    ]
    return {key: value for key, value in fields if value}
