"""A project rendered back as normalized configuration, like ``docker compose config``.

Pure core: standard library only, so YAML is written by a small emitter here rather than by
PyYAML (the output is plain block YAML that YAML 1.1 and 1.2 readers load the same way).

Normal form: services in file order; ``command`` and ``shell`` as lists; ``environment`` as a
map of strings; ``healthcheck.test`` as a list (``disable: true`` shows as ``[NONE]``);
durations as Go's ``Duration.String()`` (``1m30s``); ``restart`` as Docker's
``name[:max-retries]``; ``stop_signal`` as written; ``depends_on`` always in the long form
with ``condition`` and ``required``, as ``docker compose config`` prints it (in file order,
where compose sorts); ``on_unhealthy`` as the action alone unless a limit is set, else the
long form with the keys set; ``hooks`` commands as lists. Fields that are unset (empty, 0,
None, restart ``no``) are left out.
Keys follow compose-go's field order (alphabetical for a service; ``test``, ``timeout``,
``interval``, ``retries``, ``start_period``, ``start_interval`` for a health check).
Loading the rendered text gives back an equal ``ProjectConfig``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

from vigil.compose.fleet import fleet_to_dict, shared_check_to_dict
from vigil.compose.history import history_to_dict
from vigil.compose.netcheck import healthcheck_extras
from vigil.compose.notify import flap_to_dict
from vigil.core.config import (
    Dependency,
    HealthcheckConfig,
    ProjectConfig,
    RestartPolicy,
    ServiceConfig,
)
from vigil.core.hooks import HooksConfig
from vigil.core.notify import FlapPolicy
from vigil.core.remediation import RemediationPolicy
from vigil.go.duration import format_duration

Mask = Callable[[str], str]  # shows a notify URL without its secrets

# Strings that every YAML reader takes as plain strings: no indicator first, no ':', '#' or
# space, and not a word YAML 1.1 resolves to a bool or null.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@%+-]*")
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?(?:ns|us|µs|μs|ms|s|m|h))+")
_SPECIAL_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}
_ESCAPES = {
    "\0": "\\0",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
    "\ufeff": "\\ufeff",
}
_LONG_KEY = 1000  # YAML allows implicit keys of at most 1024 characters


def project_to_dict(project: ProjectConfig, mask: Mask | None = None) -> dict[str, object]:
    """The normalized configuration as plain data (the shape of ``vigil.yaml``); ``mask``
    hides the secrets of notify URLs (None: shown as written)."""
    services = {
        name: service_to_dict(service, mask) for name, service in project.services.items()
    }
    data: dict[str, object] = {"services": services}
    _add_notify(data, project.notify, project.notify_flap, mask)
    if history := history_to_dict(project.history):
        data["history"] = history
    if project.store:
        data["store"] = project.store
    if project.web is not None:
        data["web"] = project.web
    if project.fleet is not None:
        data["fleet"] = fleet_to_dict(project.fleet)  # the URL as written, like store:
    if project.checks:
        data["checks"] = {name: shared_check_to_dict(c) for name, c in project.checks.items()}
    return data


def _add_notify(
    entry: dict[str, object], urls: tuple[str, ...], flap: FlapPolicy | None, mask: Mask | None
) -> None:
    if urls:
        entry["notify"] = [mask(url) if mask else url for url in urls]
    if flap is not None:
        entry["notify_flap"] = flap_to_dict(flap)


def service_to_dict(service: ServiceConfig, mask: Mask | None = None) -> dict[str, object]:
    """One service entry, unset fields left out; ``mask`` as for ``project_to_dict``."""
    entry: dict[str, object] = {}
    if service.command:
        entry["command"] = list(service.command)
    if service.depends_on:
        entry["depends_on"] = {
            name: dependency_to_dict(dependency) for name, dependency in service.depends_on.items()
        }
    if service.environment:
        entry["environment"] = dict(service.environment)
    if service.healthcheck is not None:
        entry["healthcheck"] = healthcheck_to_dict(service.healthcheck)
    if service.hooks != HooksConfig():
        entry["hooks"] = hooks_to_dict(service.hooks)
    if service.on_unhealthy != RemediationPolicy():
        entry["on_unhealthy"] = on_unhealthy_to_dict(service.on_unhealthy)
    _add_notify(entry, service.notify, service.notify_flap, mask)
    if service.history is not None:
        entry["history"] = history_to_dict(service.history)
    if service.restart != RestartPolicy():
        entry["restart"] = str(service.restart)
    if service.shell:
        entry["shell"] = list(service.shell)
    if service.stop_grace_period:
        entry["stop_grace_period"] = format_duration(service.stop_grace_period)
    if service.stop_signal:
        entry["stop_signal"] = service.stop_signal
    if service.user:
        entry["user"] = service.user
    if service.working_dir:
        entry["working_dir"] = service.working_dir
    return entry


def dependency_to_dict(dependency: Dependency) -> dict[str, object]:
    """A ``depends_on`` entry in the long form, both keys always shown (compose-go's order)."""
    return {"condition": dependency.condition, "required": dependency.required}


def healthcheck_to_dict(check: HealthcheckConfig) -> dict[str, object]:
    """A health check with compose's keys; zero durations and retries are left out."""
    entry: dict[str, object] = {}
    if check.test:
        entry["test"] = list(check.test)
    for key, value in (("timeout", check.timeout), ("interval", check.interval)):
        if value:
            entry[key] = format_duration(value)
    if check.retries:
        entry["retries"] = check.retries
    for key, value in (
        ("start_period", check.start_period),
        ("start_interval", check.start_interval),
    ):
        if value:
            entry[key] = format_duration(value)
    entry |= healthcheck_extras(check)  # vigil's HTTP options, after Docker's keys
    return entry


def on_unhealthy_to_dict(policy: RemediationPolicy) -> object:
    """The short form (the action) when no limit is set, else the long form, set keys only."""
    limits = {"max_restarts": policy.max_restarts, "window": policy.window,
              "backoff": policy.backoff}
    if all(value is None for value in limits.values()):
        return policy.action
    entry: dict[str, object] = {"action": policy.action}
    if policy.max_restarts is not None:
        entry["max_restarts"] = policy.max_restarts
    for key in ("window", "backoff"):
        value = limits[key]
        if value is not None:
            entry[key] = format_duration(value)
    return entry


def hooks_to_dict(hooks: HooksConfig) -> dict[str, object]:
    """``hooks`` with its commands as lists; unset ones left out."""
    entry: dict[str, object] = {}
    if hooks.on_healthy:
        entry["on_healthy"] = list(hooks.on_healthy)
    if hooks.on_unhealthy:
        entry["on_unhealthy"] = list(hooks.on_unhealthy)
    if hooks.timeout:
        entry["timeout"] = format_duration(hooks.timeout)
    return entry


def render_project(
    project: ProjectConfig, fmt: Literal["yaml", "json"], mask: Mask | None = None
) -> str:
    """The normalized configuration as YAML or JSON text (indent 2), ending in a newline."""
    data = project_to_dict(project, mask)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return "".join(_mapping_lines(data, ""))
    raise ValueError(f"unknown format {fmt!r}: expected 'yaml' or 'json'")


def _mapping_lines(mapping: Mapping[str, object], pad: str) -> Iterator[str]:
    for key, value in mapping.items():
        name = _scalar(key)
        nested = isinstance(value, dict | list) and bool(value)
        if len(name) > _LONG_KEY:
            yield f"{pad}? {name}\n"
            head = f"{pad}:"
        else:
            head = f"{pad}{name}:"
        if not nested:
            yield f"{head} {_scalar(value)}\n"
        elif isinstance(value, dict):
            yield head + "\n"
            yield from _mapping_lines(value, pad + "  ")
        else:
            assert isinstance(value, list)
            yield head + "\n"
            yield from (f"{pad}  - {_scalar(item)}\n" for item in value)


def _scalar(value: object) -> str:
    """A scalar, or an empty mapping (empty lists are never rendered)."""
    if isinstance(value, bool):  # before int: True is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    assert isinstance(value, str), value
    if (_PLAIN.fullmatch(value) and value.lower() not in _SPECIAL_WORDS) or _DURATION.fullmatch(
        value
    ):
        return value
    return _quoted(value)


def _printable(code: int) -> bool:
    """YAML's printable set, minus what is clearer escaped."""
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _quoted(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _printable(code):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        else:  # surrogates, U+FFFE, U+FFFF: every astral character is printable
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)
