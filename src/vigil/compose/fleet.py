"""``fleet:`` and the top-level ``checks:`` of ``vigil.yaml``. Pure: stdlib only.

``fleet: {url: postgresql://..., node: NAME, lease_ttl: 10s}``: ``url`` is required (libpq's
URL); ``node`` follows the service-name rule (default: the host name); ``lease_ttl`` is a Go
duration from 1s to 1h.

``checks: {NAME: {test: [HTTP|TCP|GRPC, ...], interval:, ..., placement: any | {nodes: [...]}}}``:
the keys of a healthcheck plus ``placement``. Only network tests are accepted: a shared check
is stored in the fleet's database and run by whichever agent holds its lease, so nothing a
command could be made of ever goes there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from vigil.compose.values import (
    Problems,
    go_duration,
    is_extension,
    name_problem,
    text_field,
    unknown_key,
)
from vigil.core.config import HealthcheckConfig
from vigil.core.fleet import MAX_LEASE_TTL, MIN_LEASE_TTL, FleetConfig, SharedCheck
from vigil.core.names import MAX_NAME_LENGTH, compose_name_ok
from vigil.core.netspec import NET_TYPES
from vigil.exceptions import ConfigProblem
from vigil.go.duration import format_duration

HealthcheckParser = Callable[[object, str, Problems], HealthcheckConfig | None]
_SCHEMES = ("postgresql://", "postgres://")
MAX_URL = 4096
MAX_PLACEMENT_NODES = 1000
_NETWORK_ONLY = ('a shared check must be a network probe: test must start with "HTTP", "TCP" '
                 'or "GRPC" (nothing in the fleet\'s tables is run as a command)')


def fleet_url_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url or len(url) > MAX_URL or "\0" in url:
        return "must be a non-empty postgresql:// URL"
    if not url.startswith(_SCHEMES):
        return "must be a postgresql:// URL (the fleet shares one PostgreSQL database)"
    return None


def node_problem(name: object) -> str | None:
    """Why ``name`` cannot name a node (the service-name rule), or None."""
    if compose_name_ok(name):
        return None
    return (f"invalid node name {name!r}: must match ^[a-zA-Z0-9._-]+$ "
            f"(at most {MAX_NAME_LENGTH} characters), like a service name")


def lease_ttl_problem(ttl: int) -> str | None:
    if not MIN_LEASE_TTL <= ttl <= MAX_LEASE_TTL:
        return (f"must be from {format_duration(MIN_LEASE_TTL)} to "
                f"{format_duration(MAX_LEASE_TTL)}, not {format_duration(ttl)}")
    return None


def fleet_to_dict(config: FleetConfig) -> dict[str, object]:
    entry: dict[str, object] = {"url": config.url}
    if config.node:
        entry["node"] = config.node
    if config.lease_ttl:
        entry["lease_ttl"] = format_duration(config.lease_ttl)
    return entry


def fleet_field(value: object, where: str, problems: Problems) -> FleetConfig | None:
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return None
    url, node, ttl = "", "", 0
    before = len(problems)
    for key, item in value.items():
        path = f"{where}.{key}"
        if key == "url":
            if (problem := fleet_url_problem(item)) is not None:
                problems.append(ConfigProblem(path, problem))
            else:
                url = str(item)
        elif key == "node":
            node = text_field(item, path, problems)
            if isinstance(item, str) and (problem := node_problem(item)) is not None:
                problems.append(ConfigProblem(path, problem))
        elif key == "lease_ttl":
            parsed = go_duration(item, path, problems)
            if parsed is not None and (problem := lease_ttl_problem(parsed)) is not None:
                problems.append(ConfigProblem(path, problem))
            elif parsed is not None:
                ttl = parsed
        elif not is_extension(key):
            problems.append(ConfigProblem(where, unknown_key(key)))
    if "url" not in value:
        problems.append(ConfigProblem(where, "url is required (postgresql://...)"))
    return None if len(problems) > before else FleetConfig(url, node, ttl)


def checks_field(value: object, where: str, problems: Problems,
                 healthcheck: HealthcheckParser) -> dict[str, SharedCheck]:
    """Every shared check; ``healthcheck`` is the services' healthcheck parser."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return {}
    checks: dict[str, SharedCheck] = {}
    for name, entry in value.items():
        problem = name_problem(name)
        if problem is not None or not isinstance(name, str):
            problems.append(ConfigProblem(where, problem or unknown_key(name)))
            continue
        check = shared_check(name, entry, f"{where}.{name}", problems, healthcheck)
        if check is not None:
            checks[name] = check
    return checks


def shared_check(name: str, entry: object, where: str, problems: Problems,
                 healthcheck: HealthcheckParser) -> SharedCheck | None:
    if not isinstance(entry, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return None
    before = len(problems)
    placement: tuple[str, ...] = ()
    if "placement" in entry:
        placement = placement_field(entry["placement"], f"{where}.placement", problems)
    rest = {k: v for k, v in entry.items() if k != "placement"}
    for key in ("disable", "dockerfile"):
        if key in rest:
            problems.append(ConfigProblem(where, unknown_key(key)))
            del rest[key]
    check = healthcheck(rest, where, problems)
    if check is not None and (not check.test or check.test[0] not in NET_TYPES):
        where_test = f"{where}.test" if "test" in rest else where
        problems.append(ConfigProblem(where_test, _NETWORK_ONLY))
    if len(problems) > before or check is None:
        return None
    return SharedCheck(name, check, placement)


def shared_check_to_dict(check: SharedCheck) -> dict[str, object]:
    """A shared check as ``checks:`` writes it (and the fleet's table stores it)."""
    from vigil.compose.render import healthcheck_to_dict  # render shows checks: too

    entry = healthcheck_to_dict(check.healthcheck)
    entry["placement"] = {"nodes": list(check.placement)} if check.placement else "any"
    return entry


def placement_field(value: object, where: str, problems: Problems) -> tuple[str, ...]:
    """``any`` (empty) or ``{nodes: [NAME, ...]}``."""
    if value == "any":
        return ()
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(where, 'must be "any" or a mapping {nodes: [...]}'))
        return ()
    nodes: list[str] = []
    for key, item in value.items():
        path = f"{where}.{key}"
        if key != "nodes":
            if not is_extension(key):
                problems.append(ConfigProblem(where, unknown_key(key)))
            continue
        if not isinstance(item, list) or not item or len(item) > MAX_PLACEMENT_NODES:
            problems.append(ConfigProblem(
                path, f"must be a list of 1 to {MAX_PLACEMENT_NODES} node names"))
            continue
        for index, node in enumerate(item):
            if (problem := node_problem(node)) is not None:
                problems.append(ConfigProblem(f"{path}.{index}", problem))
            elif node not in nodes:
                nodes.append(node)
    if "nodes" not in value:
        problems.append(ConfigProblem(where, "nodes is required"))
    return tuple(nodes)


__all__ = ["checks_field", "fleet_field", "fleet_to_dict", "fleet_url_problem", "lease_ttl_problem",
           "node_problem", "placement_field", "shared_check", "shared_check_to_dict"]
