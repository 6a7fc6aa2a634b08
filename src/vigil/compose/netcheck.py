"""The network-check parts of a ``healthcheck:`` entry: ``HTTP`` / ``TCP`` / ``GRPC`` tests and
the HTTP options. Pure: no I/O; ``re2`` (pure computation) checks ``expect_body`` patterns with
the engine the probe matches them with, so a pattern RE2 refuses is a config error, not a
probe that fails forever.

Rules, in the loader's style (every problem collected, each under its path):

- ``method``: one of ``GET HEAD POST PUT PATCH DELETE OPTIONS`` (no request body is sent).
- ``headers``: a mapping of RFC 9110 header names to strings without control characters.
- ``expect_status``: a code (``200``), a range (``"200-299"``) or a list of them; 100-599.
- ``expect_body``: a substring, or an RE2 regular expression written ``/.../``.
- ``max_response_time``: a Go duration of at least 1ms.
- ``tls_skip_verify``: a boolean; ``ca_file``, ``client_cert``, ``client_key``: absolute
  paths (the daemon's working directory means nothing to its callers); a key needs a cert.
- Any of them with a test that is not ``HTTP`` is an error, at the option's path.
"""

from __future__ import annotations

from collections.abc import Mapping

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from vigil.compose.values import Problems, boolean_field, go_duration, text_field
from vigil.core.config import HealthcheckConfig
from vigil.core.netspec import (
    METHODS,
    TEST_HTTP,
    HttpOptions,
    check_status,
    format_status_range,
    header_problem,
    parse_status_range,
    test_problem,
)
from vigil.exceptions import ConfigProblem
from vigil.go.duration import MILLISECOND, format_duration
from vigil.go.strconv import go_quote

HTTP_KEYS = (
    "method",
    "headers",
    "expect_status",
    "expect_body",
    "max_response_time",
    "tls_skip_verify",
    "ca_file",
    "client_cert",
    "client_key",
)
_PATHS = ("ca_file", "client_cert", "client_key")
MAX_HEADERS = 64
MAX_PATTERN_MEMORY = 1 << 20  # RE2's program budget for one expect_body pattern
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = MAX_PATTERN_MEMORY


def net_test_problems(test: tuple[str, ...], where: str, problems: Problems) -> None:
    """The problems of a network test (``test[0]`` in ``NET_TYPES``)."""
    problem = test_problem(test)
    if problem is not None:
        index, message = problem
        problems.append(ConfigProblem(f"{where}.{index}" if index else where, message))


def http_option(key: str, value: object, where: str, problems: Problems) -> object:
    """One HTTP option's value (``key`` in ``HTTP_KEYS``), checked."""
    if key == "method":
        method = text_field(value, where, problems)
        if method and method not in METHODS:
            problems.append(ConfigProblem(where, f"must be one of {', '.join(METHODS)}"))
        return method
    if key == "headers":
        return _headers(value, where, problems)
    if key == "expect_status":
        return _expect_status(value, where, problems)
    if key == "expect_body":
        return _expect_body(value, where, problems)
    if key == "max_response_time":
        duration = go_duration(value, where, problems)
        if duration is not None and duration < MILLISECOND:
            problems.append(ConfigProblem(where, "must be at least 1ms"))
        return duration
    if key == "tls_skip_verify":
        return boolean_field(value, where, problems)
    path = text_field(value, where, problems)
    if path and not path.startswith("/"):
        problems.append(ConfigProblem(where, f"{go_quote(path)} must be an absolute path"))
    return path


def http_options(
    values: Mapping[str, object], test: object, path: str, problems: Problems
) -> HttpOptions | None:
    """The options given (``values`` by key), or None when none were; problems when the
    test is not ``HTTP``."""
    given = [key for key in HTTP_KEYS if key in values]
    if not given:
        return None
    if not (isinstance(test, tuple) and test and test[0] == TEST_HTTP):
        kind = f", not {test[0]}" if isinstance(test, tuple) and test else ""
        for key in given:
            message = f'only for an HTTP test (test: ["HTTP", URL]){kind}'
            problems.append(ConfigProblem(f"{path}.{key}", message))
        return None
    if values.get("client_key") and not values.get("client_cert"):
        problems.append(ConfigProblem(f"{path}.client_key", "requires client_cert"))
    headers = values.get("headers")
    status = values.get("expect_status")
    return HttpOptions(
        method=_text(values.get("method")),
        headers=headers if isinstance(headers, tuple) else (),
        expect_status=status if isinstance(status, tuple) else (),
        expect_body=_text(values.get("expect_body")),
        max_response_time=_ns(values.get("max_response_time")),
        tls_skip_verify=values.get("tls_skip_verify") is True,
        ca_file=_text(values.get("ca_file")),
        client_cert=_text(values.get("client_cert")),
        client_key=_text(values.get("client_key")),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _ns(value: object) -> int:
    return value if isinstance(value, int) else 0


def _headers(value: object, where: str, problems: Problems) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return ()
    if len(value) > MAX_HEADERS:
        problems.append(ConfigProblem(where, f"at most {MAX_HEADERS} headers"))
        return ()
    headers = []
    for name, item in value.items():
        entry = f"{where}.{name}"
        if not isinstance(name, str):
            problems.append(ConfigProblem(entry, "header names must be strings"))
            continue
        text = text_field(item, entry, problems)
        problem = header_problem(name, text)
        if problem is not None:
            problems.append(ConfigProblem(entry, problem))
        headers.append((name, text))
    return tuple(headers)


def _expect_status(value: object, where: str, problems: Problems) -> tuple[tuple[int, int], ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        problems.append(ConfigProblem(where, "must not be empty"))
    ranges = []
    for index, item in enumerate(items):
        entry = f"{where}.{index}" if isinstance(value, list | tuple) else where
        try:
            if isinstance(item, int) and not isinstance(item, bool):
                check_status(int(item))
                ranges.append((int(item), int(item)))
            elif isinstance(item, str):
                ranges.append(parse_status_range(item))
            else:
                problems.append(ConfigProblem(entry, 'must be a code or a range like "200-299"'))
        except ValueError as error:
            problems.append(ConfigProblem(entry, str(error)))
    return tuple(ranges)


def _expect_body(value: object, where: str, problems: Problems) -> str:
    text = text_field(value, where, problems)
    pattern = HttpOptions(expect_body=text).body_regex
    if pattern is not None:
        problem = body_pattern_problem(pattern)
        if problem is not None:
            problems.append(ConfigProblem(where, problem))
    return text


def body_pattern_problem(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern`` (Go's wording where it has one), or None."""
    try:
        re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else ""
        if isinstance(reason, bytes):  # the C++ library's text
            reason = reason.decode("utf-8", "replace")
        return f"error parsing regexp: {reason}"
    return None


def healthcheck_extras(check: HealthcheckConfig) -> dict[str, object]:
    """The HTTP options of ``check`` as ``healthcheck:`` keys (unset ones left out)."""
    options = check.http
    if options is None:
        return {}
    entry: dict[str, object] = {}
    if options.method:
        entry["method"] = options.method
    if options.headers:
        entry["headers"] = dict(options.headers)
    if options.expect_status:
        entry["expect_status"] = [format_status_range(*pair) for pair in options.expect_status]
    if options.expect_body:
        entry["expect_body"] = options.expect_body
    if options.max_response_time:
        entry["max_response_time"] = format_duration(options.max_response_time)
    if options.tls_skip_verify:
        entry["tls_skip_verify"] = True
    for key in _PATHS:
        if getattr(options, key):
            entry[key] = getattr(options, key)
    return entry
