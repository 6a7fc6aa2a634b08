"""``depends_on`` ordering, as compose does it. Pure core: stdlib only.

Start order is a topological order (dependencies first, file order among equals); stop
order is its reverse. Cycles and unknown services are config errors with compose's texts.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.core.config import ServiceConfig
from vigil.exceptions import ConfigError, ConfigProblem


def check_dependencies(services: Mapping[str, ServiceConfig]) -> list[ConfigProblem]:
    """Every problem with the dependency graph: unknown services, then a cycle if any."""
    problems = [
        ConfigProblem(
            f"services.{name}.depends_on",
            f'service "{name}" depends on undefined service "{dep}": invalid compose project',
        )
        for name, service in services.items()
        for dep in service.depends_on
        if dep not in services
    ]
    cycle = _find_cycle(services)
    if cycle:
        problems.append(
            ConfigProblem("services", "dependency cycle detected: " + " -> ".join(cycle))
        )
    return problems


def start_order(services: Mapping[str, ServiceConfig]) -> list[str]:
    """Services with their dependencies first; raises ConfigError on an invalid graph."""
    problems = check_dependencies(services)
    if problems:
        raise ConfigError(problems)
    order: list[str] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        placed.add(name)
        for dep in services[name].depends_on:
            place(dep)
        order.append(name)

    for name in services:
        place(name)
    return order


def _find_cycle(services: Mapping[str, ServiceConfig]) -> list[str]:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str]:
        if name in done or name not in services:
            return []
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        visiting.append(name)
        for dep in services[name].depends_on:
            cycle = visit(dep)
            if cycle:
                return cycle
        visiting.pop()
        done.add(name)
        return []

    for name in services:
        cycle = visit(name)
        if cycle:
            return cycle
    return []
