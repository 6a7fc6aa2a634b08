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
    for root in services:  # depth-first, post-order; a stack, so no chain is too long
        if root in placed:
            continue
        placed.add(root)
        stack = [(root, iter(services[root].depends_on))]
        while stack:
            name, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                order.append(name)
            elif dep not in placed:
                placed.add(dep)
                stack.append((dep, iter(services[dep].depends_on)))
    return order


def _find_cycle(services: Mapping[str, ServiceConfig]) -> list[str]:
    """The first cycle a depth-first walk in file order meets, closed (``a -> b -> a``)."""
    done: set[str] = set()
    for root in services:
        if root in done:
            continue
        path = [root]
        on_path = {root: 0}  # name -> its index in path
        stack = [iter(services[root].depends_on)]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                stack.pop()
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
            elif dep in on_path:
                return [*path[on_path[dep] :], dep]
            elif dep not in done and dep in services:
                on_path[dep] = len(path)
                path.append(dep)
                stack.append(iter(services[dep].depends_on))
    return []
