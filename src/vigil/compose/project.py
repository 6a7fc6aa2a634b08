"""A compose-style project (``services:``) from plain data, checked with Docker's and compose's
messages. Pure core: standard library only, no I/O; the environment is passed in.

Every problem is collected, in document order, as ``<path>: <message>``; one ``ConfigError``
carries them all. Texts are compose's schema wording (``must be a string``, ``Additional
property foo is not allowed``, service names ``^[a-zA-Z0-9._-]+$``), compose-go's
(``healthcheck.test must start either by ...``), docker compose's (``healthcheck.start_interval
requires ...``), the daemon's (``Interval in Healthcheck cannot be less than 1ms``, the
working-directory rule), Go's ``time.ParseDuration`` and BuildKit's (``dockerfile:``).

Choices, where compose is silent, loose or unsafe:

- Durations must be strings in Go syntax, as compose's schema says; the YAML integer ``0``
  alone is taken as ``"0"`` (Go accepts it). 0 means "not set": no defaults are written.
- ``retries`` must be an integer (booleans are not); compose also takes strings.
- ``disable: true`` gives ``test: [NONE]`` and cannot be combined with other keys (the text is
  docker-compose v1's; compose v2 silently ignores the other keys).
- ``start_interval`` needs a non-zero ``start_period`` (docker compose checks presence only;
  a zero start period would make the start interval dead, see moby#49900). The rule also
  applies to a ``dockerfile:`` healthcheck, so every accepted config renders and reloads.
- A string ``command`` is split like compose-go's ``shellwords.Parse``, except that an unquoted
  ``; & | < >`` is an error: compose silently drops the rest of the line there.
- ``environment`` map values: strings as is, booleans ``true``/``false``, numbers as written in
  the file (``TextInt``/``TextFloat`` carry the text; compose-go would turn ``1.10`` into
  ``1.1``); numbers without text (JSON) as Go's ``fmt.Sprint``. Null values and ``KEY`` list
  entries take the value from ``environ``, or the variable is dropped when it has none.
- ``x-`` keys are accepted and ignored where compose's schema allows them (top level, service,
  healthcheck, ``depends_on`` entry), so YAML anchors can live there. Nothing else is ignored.
- Empty ``working_dir`` and ``user`` mean unset, like Docker's empty strings.
- ``restart``, ``stop_signal``, ``stop_grace_period`` and ``depends_on`` are read by
  ``_compose_lifecycle`` (its docstring lists their rules). Once every service is read, the
  dependency graph is checked by ``_deps.check_dependencies`` (undefined services, cycles);
  a service that failed to parse still counts as defined there (with its ``depends_on`` if
  that part is valid), so it is not reported as undefined on top of its own problems.
  ``parse_service`` reads one entry alone and cannot check its dependencies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from vigil.compose.dockerfile import parse_healthcheck_instruction
from vigil.compose.fleet import checks_field, fleet_field, shared_check
from vigil.compose.heal import hooks_field, needs_process_problem, on_unhealthy_field
from vigil.compose.history import history_field, store_field
from vigil.compose.lifecycle import (
    depends_on_field,
    restart_field,
    stop_grace_period_field,
    stop_signal_field,
)
from vigil.compose.netcheck import HTTP_KEYS, http_option, http_options, net_test_problems
from vigil.compose.notify import notify_field, notify_flap_field
from vigil.compose.values import (
    Problems,
    TextFloat,
    TextInt,
    boolean_field,
    go_duration,
    go_float,
    is_extension,
    name_problem,
    one_line,
    string_list,
    text_field,
    unknown_key,
)
from vigil.compose.web import web_field
from vigil.core.config import (
    TEST_CMD,
    TEST_NONE,
    TEST_SHELL,
    Dependency,
    HealthcheckConfig,
    HistoryConfig,
    ProjectConfig,
    RestartPolicy,
    ServiceConfig,
    validate_healthcheck,
)
from vigil.core.deps import check_dependencies
from vigil.core.fleet import SharedCheck
from vigil.core.hooks import HooksConfig
from vigil.core.names import user_problem
from vigil.core.netspec import NET_TYPES
from vigil.core.notify import FlapPolicy
from vigil.core.remediation import RemediationPolicy
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.shellwords import split_command
from vigil.go.strconv import RANGE, go_quote

# TextInt, TextFloat and go_float live in _compose_values; the loader imports them from here.
__all__ = [
    "TextFloat",
    "TextInt",
    "go_float",
    "parse_healthcheck",
    "parse_project",
    "parse_service",
    "parse_shared_check",
]

_DURATIONS = ("interval", "timeout", "start_period", "start_interval")
_GO_INT_LIMIT = 1 << 63  # Docker's Retries is a Go int (64 bits)
_TEST_START = (
    'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"'
    ' (vigil also takes "HTTP", "TCP" and "GRPC")'
)
_DISABLE_ALONE = '"disable: true" cannot be combined with other options'
_START_INTERVAL = "healthcheck.start_interval requires healthcheck.start_period to be set"


def parse_project(data: object, *, environ: Mapping[str, str]) -> ProjectConfig:
    """A whole ``vigil.yaml`` document (already loaded) as a ``ProjectConfig``.

    ``None`` (an empty file) is a project without services. Raises ``ConfigError`` with
    every problem found, in document order.
    """
    if data is None:
        return ProjectConfig()
    if not isinstance(data, Mapping):
        raise ConfigError(ConfigProblem("", "Top-level object must be a mapping"))
    problems: Problems = []
    services: dict[str, ServiceConfig] = {}
    notify: tuple[str, ...] = ()
    notify_flap: FlapPolicy | None = None
    history = HistoryConfig()
    store = ""
    web: str | None = None
    fleet = None
    checks: dict[str, SharedCheck] = {}
    for key, value in data.items():
        if key == "services":
            services = _services(value, problems, environ)
        elif key == "notify":
            notify = notify_field(value, "notify", problems)
        elif key == "notify_flap":
            notify_flap = notify_flap_field(value, "notify_flap", problems)
        elif key == "history":
            history = history_field(value, "history", problems)
        elif key == "store":
            store = store_field(value, "store", problems)
        elif key == "web":
            web = web_field(value, "web", problems)
        elif key == "fleet":
            fleet = fleet_field(value, "fleet", problems)
        elif key == "checks":
            checks = checks_field(value, "checks", problems, _healthcheck)
        elif not is_extension(key):
            problems.append(ConfigProblem("(root)", unknown_key(key)))
    if problems:
        raise ConfigError(one_line(problems))
    return ProjectConfig(services=MappingProxyType(services), notify=notify,
                         notify_flap=notify_flap, history=history, store=store, web=web,
                         fleet=fleet, checks=MappingProxyType(checks))


def parse_service(
    name: str, data: object, *, path: str, environ: Mapping[str, str]
) -> ServiceConfig:
    """One service entry (``data`` as under ``services.<name>``), e.g. for an API create call.

    ``path`` is where the entry is (``services.web``); problems are reported under it.
    """
    problems: Problems = []
    service = _service(name, data, path, problems, environ)
    if problems or service is None:
        raise ConfigError(one_line(problems))
    return service


def parse_healthcheck(data: object, *, path: str) -> HealthcheckConfig:
    """A ``healthcheck:`` mapping (compose keys, or ``dockerfile:`` alone)."""
    problems: Problems = []
    check = _healthcheck(data, path, problems)
    if problems or check is None:
        raise ConfigError(one_line(problems))
    return check


def parse_shared_check(name: str, data: object, *, path: str) -> SharedCheck:
    """One ``checks:`` entry (also as read back from the fleet's database)."""
    problems: Problems = []
    problem = name_problem(name)
    if problem is not None:
        problems.append(ConfigProblem(path, problem))
    check = shared_check(name, data, path, problems, _healthcheck)
    if problems or check is None:
        raise ConfigError(one_line(problems))
    return check


def _services(
    data: object, problems: Problems, environ: Mapping[str, str]
) -> dict[str, ServiceConfig]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        problems.append(ConfigProblem("services", "must be a mapping"))
        return {}
    services: dict[str, ServiceConfig] = {}
    graph: dict[str, ServiceConfig] = {}  # for the dependency check, failed services too
    for name, entry in data.items():
        problem = name_problem(name)
        if problem is not None or not isinstance(name, str):
            problems.append(ConfigProblem("services", problem or unknown_key(name)))
            continue
        service = _service(name, entry, f"services.{name}", problems, environ)
        if service is not None:
            services[name] = service
        graph[name] = service or _failed_service(name, entry)
    problems.extend(check_dependencies(graph))
    return services


def _failed_service(name: str, data: object) -> ServiceConfig:
    """A service with problems, as the dependency check sees it: defined, with its
    ``depends_on`` when that part is valid (its other problems are reported already)."""
    scratch: Problems = []
    entries = data.get("depends_on", []) if isinstance(data, Mapping) else []
    depends_on = depends_on_field(entries, "", scratch)
    return ServiceConfig(name, depends_on=MappingProxyType({} if scratch else depends_on))


def _service(
    name: str, data: object, path: str, problems: Problems, environ: Mapping[str, str]
) -> ServiceConfig | None:
    problem = name_problem(name)
    if problem is not None:
        parent = path.rpartition(".")[0] or "(root)"
        problems.append(ConfigProblem(parent, problem))
        return None
    if not isinstance(data, Mapping):
        problems.append(ConfigProblem(path, "must be a mapping"))
        return None
    before = len(problems)
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = MappingProxyType({})
    working_dir: str | None = None
    user: str | None = None
    shell: tuple[str, ...] = ()
    healthcheck: HealthcheckConfig | None = None
    restart = RestartPolicy()
    stop_signal = ""
    stop_grace_period = 0
    depends_on: Mapping[str, Dependency] = MappingProxyType({})
    on_unhealthy = RemediationPolicy()
    hooks = HooksConfig()
    notify: tuple[str, ...] = ()
    notify_flap: FlapPolicy | None = None
    history: HistoryConfig | None = None
    for key, value in data.items():
        where = f"{path}.{key}"
        if key == "command":
            command = _command(value, where, problems)
        elif key == "environment":
            environment = MappingProxyType(_environment(value, where, problems, environ))
        elif key == "working_dir":
            working_dir = _working_dir(value, where, problems)
        elif key == "user":
            user = _user(value, where, problems)
        elif key == "shell":
            shell = string_list(value, where, problems, "must be a list")
        elif key == "healthcheck":
            healthcheck = _healthcheck(value, where, problems)
        elif key == "restart":
            restart = restart_field(value, where, problems)
        elif key == "stop_signal":
            stop_signal = stop_signal_field(value, where, problems)
        elif key == "stop_grace_period":
            stop_grace_period = stop_grace_period_field(value, where, problems)
        elif key == "depends_on":
            depends_on = MappingProxyType(depends_on_field(value, where, problems))
        elif key == "on_unhealthy":
            on_unhealthy = on_unhealthy_field(value, where, problems)
        elif key == "hooks":
            hooks = hooks_field(value, where, problems)
        elif key == "notify":
            notify = notify_field(value, where, problems)
        elif key == "notify_flap":
            notify_flap = notify_flap_field(value, where, problems)
        elif key == "history":
            history = history_field(value, where, problems)
        elif not is_extension(key):
            problems.append(ConfigProblem(path, unknown_key(key)))
    if not command and (needs := needs_process_problem(on_unhealthy, f"{path}.on_unhealthy")):
        problems.append(needs)
    if len(problems) > before:
        return None
    return ServiceConfig(
        name=name,
        command=command,
        environment=environment,
        working_dir=working_dir,
        user=user,
        shell=shell,
        healthcheck=healthcheck,
        restart=restart,
        stop_signal=stop_signal,
        stop_grace_period=stop_grace_period,
        depends_on=depends_on,
        on_unhealthy=on_unhealthy,
        hooks=hooks,
        notify=notify,
        notify_flap=notify_flap,
        history=history,
    )


def _command(value: object, where: str, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            words = split_command(value)
        except ValueError as error:
            problems.append(ConfigProblem(where, str(error)))
            return ()
        return tuple(text_field(word, where, problems) for word in words)
    return string_list(value, where, problems, "must be a string or list")


def _user(value: object, where: str, problems: Problems) -> str | None:
    """``user[:group]``; a numeric id out of runc's range is refused now, not at start."""
    text = text_field(value, where, problems)
    problem = user_problem(text)
    if problem is not None:
        problems.append(ConfigProblem(where, problem))
    return text or None


def _working_dir(value: object, where: str, problems: Problems) -> str | None:
    text = text_field(value, where, problems)
    if text and not text.startswith("/"):
        problems.append(
            ConfigProblem(
                where, f"the working directory '{text}' is invalid, it needs to be an absolute path"
            )
        )
    return text or None


def _environment(
    value: object, where: str, problems: Problems, environ: Mapping[str, str]
) -> dict[str, str]:
    """compose's ``list_or_dict``; a missing value comes from ``environ`` or is dropped."""
    entries: list[tuple[str, str | None, str]] = []  # name, value, where the entry is
    if isinstance(value, Mapping):
        for key, item in value.items():
            entry = f"{where}.{key}"
            if _is_text(str(key), entry, problems):
                entries.append((str(key), _env_value(item, entry, problems), entry))
    elif isinstance(value, list | tuple):
        seen: set[str] = set()  # not ``value[:index]``: 100k entries would stall the daemon
        for index, item in enumerate(value):
            entry = f"{where}.{index}"
            if not _is_text(item, entry, problems):
                continue
            assert isinstance(item, str)
            if item in seen:
                problems.append(ConfigProblem(where, "array items must be unique"))
            seen.add(item)
            name, has_value, text = item.partition("=")
            entries.append((name, text if has_value else None, entry))
    else:
        problems.append(ConfigProblem(where, "must be a mapping or list"))
    result: dict[str, str] = {}
    for name, text_value, entry in entries:
        if name == "" or "=" in name:
            problems.append(ConfigProblem(entry, f'invalid variable name "{name}"'))
        elif text_value is not None:
            result[name] = text_value
        elif name in environ:
            result[name] = environ[name]
    return result


def _is_text(value: object, where: str, problems: Problems) -> bool:
    """A string that can be a variable: one the environment can be asked about."""
    before = len(problems)
    text_field(value, where, problems)
    return len(problems) == before


def _env_value(value: object, where: str, problems: Problems) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return text_field(value, where, problems)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, TextInt | TextFloat):
        return value.text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    problems.append(ConfigProblem(where, "must be a string, number, boolean or null"))
    return None


def _healthcheck(data: object, path: str, problems: Problems) -> HealthcheckConfig | None:
    if not isinstance(data, Mapping):
        problems.append(ConfigProblem(path, "must be a mapping"))
        return None
    before = len(problems)
    keys = [key for key in data if not is_extension(key)]
    values: dict[str, object] = {}
    start_interval_at = -1  # where the start_interval rule's problem belongs
    for key, value in data.items():
        where = f"{path}.{key}"
        if key == "test":
            values["test"] = _test(value, where, problems)
        elif key in _DURATIONS:
            values[key] = _duration(key, value, where, problems)
            start_interval_at = len(problems) if key == "start_interval" else start_interval_at
        elif key == "retries":
            values["retries"] = _retries(value, where, problems)
        elif key in HTTP_KEYS:
            values[key] = http_option(key, value, where, problems)
        elif key == "disable":
            values["disable"] = disable = boolean_field(value, where, problems)
            if disable and len(keys) > 1:
                problems.append(ConfigProblem(where, _DISABLE_ALONE))
        elif key == "dockerfile":
            values["dockerfile"] = _dockerfile(value, where, problems)
            if len(keys) > 1:
                others = ", ".join(str(k) for k in keys if k != "dockerfile")
                problems.append(ConfigProblem(where, f"cannot be combined with {others}"))
        elif not is_extension(key):
            problems.append(ConfigProblem(path, unknown_key(key)))
    check = values.get("dockerfile")
    if isinstance(check, HealthcheckConfig):
        if _start_interval_unusable(check.start_interval, check.start_period):
            problems.append(ConfigProblem(f"{path}.dockerfile", _START_INTERVAL))
    elif _start_interval_unusable(values.get("start_interval"), values.get("start_period", 0)):
        problems.insert(start_interval_at, ConfigProblem(f"{path}.start_interval", _START_INTERVAL))
    test = values.get("test")
    http = None
    if not isinstance(check, HealthcheckConfig):
        http = http_options(values, test, path, problems)
    if len(problems) > before:
        return None
    if isinstance(check, HealthcheckConfig):
        return check
    return HealthcheckConfig(
        test=(TEST_NONE,) if values.get("disable") else test if isinstance(test, tuple) else (),
        interval=_int(values.get("interval")),
        timeout=_int(values.get("timeout")),
        start_period=_int(values.get("start_period")),
        start_interval=_int(values.get("start_interval")),
        retries=_int(values.get("retries")),
        http=http,
    )


def _int(value: object) -> int:
    return int(value) if isinstance(value, int) else 0


def _start_interval_unusable(start_interval: object, start_period: object) -> bool:
    """A start interval only runs during a start period; both must have parsed to check."""
    return (
        isinstance(start_interval, int)
        and start_interval != 0
        and isinstance(start_period, int)
        and start_period == 0
    )


def _test(value: object, where: str, problems: Problems) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (TEST_SHELL, text_field(value, where, problems))
    if not isinstance(value, list | tuple):
        problems.append(ConfigProblem(where, "must be a string or list"))
        return None
    before = len(problems)
    test = string_list(value, where, problems, "must be a string or list")
    if len(problems) > before or not test:
        return test
    if test[0] in NET_TYPES:
        net_test_problems(test, where, problems)
    elif test[0] not in (TEST_CMD, TEST_SHELL, TEST_NONE):
        problems.append(ConfigProblem(where, _TEST_START))
    return test


_FIELD_CHECKS: dict[str, Callable[[int], HealthcheckConfig]] = {
    "interval": lambda ns: HealthcheckConfig(interval=ns),
    "timeout": lambda ns: HealthcheckConfig(timeout=ns),
    "start_period": lambda ns: HealthcheckConfig(start_period=ns),
    "start_interval": lambda ns: HealthcheckConfig(start_interval=ns),
    "retries": lambda n: HealthcheckConfig(retries=n),
}


def _daemon_check(field: str, value: int, where: str, problems: Problems) -> int | None:
    """The daemon's rule for one field alone, so that every field's problem is reported."""
    message = validate_healthcheck(_FIELD_CHECKS[field](value))
    if message is not None:
        problems.append(ConfigProblem(where, message))
        return None
    return value


def _duration(field: str, value: object, where: str, problems: Problems) -> int | None:
    nanoseconds = go_duration(value, where, problems)
    if nanoseconds is None:
        return None
    return _daemon_check(field, nanoseconds, where, problems)


def _retries(value: object, where: str, problems: Problems) -> int | None:
    """An integer that fits Docker's ``Retries`` (a Go int); Go's text when it does not."""
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(ConfigProblem(where, "must be an integer"))
        return None
    if not -_GO_INT_LIMIT <= value < _GO_INT_LIMIT:
        text = value.text if isinstance(value, TextInt) else _decimal(value)
        message = f"strconv.ParseInt: parsing {go_quote(text)}: {RANGE}"
        problems.append(ConfigProblem(where, message))
        return None
    return _daemon_check("retries", int(value), where, problems)


def _decimal(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than str() converts
        return f"{'-' if value < 0 else ''}<a number of more than 4300 digits>"


def _dockerfile(value: object, where: str, problems: Problems) -> HealthcheckConfig | None:
    if not isinstance(value, str):
        problems.append(ConfigProblem(where, "must be a string"))
        return None
    try:
        return parse_healthcheck_instruction(value)
    except ConfigError as error:
        problems.extend(ConfigProblem(where, problem.message) for problem in error.problems)
        return None
