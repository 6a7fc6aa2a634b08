"""The service keys that drive vigil's supervisor: ``restart``, ``stop_signal``,
``stop_grace_period`` and ``depends_on``. Pure core: standard library only.

Texts and rules, and where vigil chooses:

- ``restart``: a string read by ``vigil.core.lifecycle.parse_restart_policy`` (docker/cli's parse
  and the daemon's validation), the parser of ``vigil run --restart`` and of the API too.
  docker compose also takes swarm's ``none``/``any`` and ignores a bad retry count
  (``on-failure:x``); vigil reports both with Docker's texts.
- ``stop_signal``: the daemon's check at create, ``vigil.core.signals.parse_signal`` (moby's
  ``signal.ParseSignal``): a non-zero number, or a Linux signal name with or without ``SIG``,
  any case (``invalid signal: X``).
  Kept as written (``TERM``, ``10``), as Docker keeps ``StopSignal``; empty means unset.
- ``stop_grace_period``: a Go duration like the health check's (YAML ``0`` too), with no
  1ms minimum. Negative values are refused: compose would pass them on as Docker's "wait
  forever". 0 means unset (the 10s default), so ``0s`` cannot ask for compose's immediate
  kill; and a sub-second period is kept, where compose rounds down to whole seconds.
- ``depends_on``: compose's list of names (``service_started``, required) or map of entries
  with ``condition`` (required by compose's schema, one of the three conditions),
  ``required`` and ``restart`` booleans and ``x-`` keys. ``restart: true`` (restart this
  service when the dependency is restarted) is accepted and ignored: vigil does not
  propagate restarts. Unknown and cyclic dependencies are checked on the whole project by
  ``vigil.core.deps.check_dependencies``.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.compose.values import (
    Problems,
    boolean_field,
    go_duration,
    is_extension,
    name_problem,
    text_field,
    unknown_key,
)
from vigil.core.config import (
    CONDITION_COMPLETED,
    CONDITION_HEALTHY,
    CONDITION_STARTED,
    Dependency,
    RestartPolicy,
)
from vigil.core.lifecycle import parse_restart_policy
from vigil.core.signals import parse_signal
from vigil.exceptions import ConfigError, ConfigProblem

CONDITIONS = (CONDITION_STARTED, CONDITION_HEALTHY, CONDITION_COMPLETED)
_CONDITION_ENUM = "must be one of the following: " + ", ".join(f'"{c}"' for c in CONDITIONS)


def restart_field(value: object, where: str, problems: Problems) -> RestartPolicy:
    """``restart:`` as Docker's ``name[:max-retries]``; empty is Docker's default, ``no``."""
    before = len(problems)
    text = text_field(value, where, problems)
    if len(problems) > before:
        return RestartPolicy()
    try:
        return parse_restart_policy(text)
    except ConfigError as error:
        problems.extend(ConfigProblem(where, problem.message) for problem in error.problems)
        return RestartPolicy()


def stop_signal_field(value: object, where: str, problems: Problems) -> str:
    """``stop_signal:`` as written, once the daemon would take it; empty means unset."""
    before = len(problems)
    text = text_field(value, where, problems)
    if text and len(problems) == before:
        try:
            parse_signal(text)
        except ValueError as error:
            problems.append(ConfigProblem(where, str(error)))
    return text


def stop_grace_period_field(value: object, where: str, problems: Problems) -> int:
    """``stop_grace_period:`` in nanoseconds; 0 means unset (10s)."""
    nanoseconds = go_duration(value, where, problems)
    if nanoseconds is None:
        return 0
    if nanoseconds < 0:
        problems.append(ConfigProblem(where, "must not be negative"))
        return 0
    return nanoseconds


def depends_on_field(value: object, where: str, problems: Problems) -> dict[str, Dependency]:
    """``depends_on:`` as a list of names or a map of entries, in file order."""
    if isinstance(value, list | tuple):
        return _short_form(value, where, problems)
    if isinstance(value, Mapping):
        return _long_form(value, where, problems)
    problems.append(ConfigProblem(where, "must be a list or mapping"))
    return {}


def _short_form(
    names: list[object] | tuple[object, ...], where: str, problems: Problems
) -> dict[str, Dependency]:
    dependencies: dict[str, Dependency] = {}
    for index, item in enumerate(names):
        before = len(problems)
        name = text_field(item, f"{where}.{index}", problems)
        if len(problems) > before:
            continue
        if name in dependencies:
            problems.append(ConfigProblem(where, "array items must be unique"))
        dependencies[name] = Dependency()
    return dependencies


def _long_form(
    entries: Mapping[object, object], where: str, problems: Problems
) -> dict[str, Dependency]:
    dependencies: dict[str, Dependency] = {}
    for name, entry in entries.items():
        problem = name_problem(name)
        if problem is not None or not isinstance(name, str):
            problems.append(ConfigProblem(where, problem or unknown_key(name)))
            continue
        dependency = _entry(entry, f"{where}.{name}", problems)
        if dependency is not None:
            dependencies[name] = dependency
    return dependencies


def _entry(entry: object, where: str, problems: Problems) -> Dependency | None:
    if not isinstance(entry, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return None
    condition: str | None = None
    required = True
    for key, value in entry.items():
        if key == "condition":
            condition = _condition(value, f"{where}.{key}", problems)
        elif key == "required":
            required = boolean_field(value, f"{where}.{key}", problems)
        elif key == "restart":
            boolean_field(value, f"{where}.{key}", problems)  # checked, then ignored
        elif not is_extension(key):
            problems.append(ConfigProblem(where, unknown_key(key)))
    if "condition" not in entry:
        problems.append(ConfigProblem(where, "condition is required"))
    return Dependency(condition or CONDITION_STARTED, required)


def _condition(value: object, where: str, problems: Problems) -> str | None:
    if not isinstance(value, str):
        problems.append(ConfigProblem(where, "must be a string"))
        return None
    if value not in CONDITIONS:
        problems.append(ConfigProblem(where, _CONDITION_ENUM))
        return None
    return value
