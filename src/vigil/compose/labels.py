"""A container's ``vigil.*`` labels: what vigil does for it beyond mirroring Docker's health.
Pure core: stdlib only.

- ``vigil.heal``: ``restart``, ``stop`` or ``none``, what to do when the container turns
  unhealthy (``vigil.core.remediation``); ``vigil.heal.max_restarts``, ``.window`` and
  ``.backoff`` set the limits, as ``on_unhealthy``'s long form. Unset labels take the
  daemon-wide default (``docker: {heal: ...}``).
- ``vigil.healthcheck.test``: a JSON list (``["CMD", "pg_isready"]``, ``["HTTP", URL]``, as
  ``healthcheck.test``) or a string, run as ``CMD-SHELL`` (Docker's ``--health-cmd``).
  ``.interval``, ``.timeout``, ``.start_period``, ``.start_interval`` (Go durations) and
  ``.retries`` (an integer, read by Go's ``strconv.Atoi``) take the daemon's rules and
  messages. Any of them gives the container a vigil probe, which replaces Docker's: as
  Docker merges ``docker run --health-*`` over an image's ``HEALTHCHECK``, an unset label
  takes the container's own ``Healthcheck`` value (``merged_healthcheck``).

Other ``vigil.`` labels are errors (a misspelt label must not be silently ignored); labels
outside ``vigil.`` are not vigil's. Every problem's path is the label's name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from vigil.compose.docker_heal import KILL_REFUSED
from vigil.compose.heal import on_unhealthy_field
from vigil.compose.project import (
    _START_INTERVAL,
    _duration,
    _retries,
    _start_interval_unusable,
    _test,
)
from vigil.compose.values import Problems, one_line, text_field
from vigil.core.config import TEST_NONE, HealthcheckConfig
from vigil.core.remediation import ACTION_KILL, RemediationPolicy
from vigil.exceptions import ConfigError, ConfigProblem
from vigil.go.strconv import NumError, atoi, go_quote

PREFIX = "vigil."
HEAL = "vigil.heal"
HEALTHCHECK = "vigil.healthcheck"
_HEAL_LIMITS = ("max_restarts", "window", "backoff")
_DURATIONS = ("interval", "timeout", "start_period", "start_interval")
HEALTHCHECK_KEYS = ("test", *_DURATIONS, "retries")
_MAX_LABEL_VALUE = 65536  # a label's value vigil reads; Docker's own limit is the whole config


@dataclass(frozen=True, slots=True)
class ContainerLabels:
    """What a container's labels ask of vigil. ``heal`` None: no ``vigil.heal*`` label (the
    daemon default applies whole); ``healthcheck`` None: no ``vigil.healthcheck.*`` label
    (Docker's health is mirrored). A healthcheck's zero values are unset (see
    ``merged_healthcheck``)."""

    heal: RemediationPolicy | None = None
    heal_action_set: bool = False
    healthcheck: HealthcheckConfig | None = None

    def heal_policy(self, default: RemediationPolicy) -> RemediationPolicy:
        """The container's policy: each label over the daemon-wide default."""
        own = self.heal
        if own is None:
            return default
        return RemediationPolicy(
            own.action if self.heal_action_set else default.action,
            default.max_restarts if own.max_restarts is None else own.max_restarts,
            default.window if own.window is None else own.window,
            default.backoff if own.backoff is None else own.backoff,
        )


def parse_labels(labels: Mapping[str, str]) -> ContainerLabels:
    """The ``vigil.*`` labels of one container; ``ConfigError`` with every problem, each
    under its label's name."""
    problems: Problems = []
    heal: dict[str, str] = {}
    check: dict[str, str] = {}
    for name in sorted(labels):
        if not name.startswith(PREFIX):
            continue
        value = labels[name]
        if len(value) > _MAX_LABEL_VALUE:
            problems.append(ConfigProblem(name, f"longer than {_MAX_LABEL_VALUE} characters"))
        elif name == HEAL:
            heal["action"] = value
        elif name.startswith(HEAL + ".") and name[len(HEAL) + 1 :] in _HEAL_LIMITS:
            heal[name[len(HEAL) + 1 :]] = value
        elif (
            name.startswith(HEALTHCHECK + ".") and name[len(HEALTHCHECK) + 1 :] in HEALTHCHECK_KEYS
        ):
            check[name[len(HEALTHCHECK) + 1 :]] = value
        else:
            problems.append(ConfigProblem(name, _unknown(name)))
    policy = _heal(heal, problems) if heal else None
    healthcheck = _healthcheck(check, problems) if check else None
    if problems:
        raise ConfigError(one_line(problems))
    return ContainerLabels(policy, "action" in heal, healthcheck)


def merged_healthcheck(
    labels: HealthcheckConfig, container: HealthcheckConfig | None
) -> HealthcheckConfig | None:
    """The check vigil runs: each label over the container's ``Config.Healthcheck`` (Docker's
    rule for ``--health-*`` over an image). None when no test is left to run (none at all,
    or ``NONE``); ``ConfigError`` when the merge has a start interval without a start
    period (compose's rule, as in ``vigil.yaml``)."""
    base = container or HealthcheckConfig()
    merged = HealthcheckConfig(
        test=labels.test or base.test,
        interval=labels.interval or base.interval,
        timeout=labels.timeout or base.timeout,
        start_period=labels.start_period or base.start_period,
        start_interval=labels.start_interval or base.start_interval,
        retries=labels.retries or base.retries,
        http=labels.http,
    )
    if labels.start_interval and not merged.start_period:
        raise ConfigError(ConfigProblem(f"{HEALTHCHECK}.start_interval", _START_INTERVAL))
    if not merged.test or merged.test[0] == TEST_NONE:
        return None
    return merged


def describe(container: str, error: ConfigError) -> str:
    """One log line for a container whose labels were refused."""
    problems = "; ".join(f"label {p}" for p in error.problems)
    return f"container {container}: {problems} (vigil runs no probe and heals nothing for it)"


def _unknown(name: str) -> str:
    known = [
        HEAL,
        *(f"{HEAL}.{k}" for k in _HEAL_LIMITS),
        *(f"{HEALTHCHECK}.{k}" for k in HEALTHCHECK_KEYS),
    ]
    return f"unknown vigil label {go_quote(name)}: must be one of {', '.join(known)}"


def _heal(values: Mapping[str, str], problems: Problems) -> RemediationPolicy:
    before = len(problems)
    data: dict[str, object] = {"action": values.get("action", "none")}
    for key in _HEAL_LIMITS:
        if key not in values:
            continue
        if key != "max_restarts":
            data[key] = values[key]
            continue
        try:
            data[key] = atoi(values[key])
        except NumError as error:
            problems.append(ConfigProblem(f"{HEAL}.{key}", str(error)))
    found: Problems = []
    policy = on_unhealthy_field(data, HEAL, found)
    for problem in found:
        path = HEAL if problem.path == f"{HEAL}.action" else problem.path
        problems.append(ConfigProblem(path, problem.message))
    if policy.action == ACTION_KILL:  # Docker's restart policy would decide: not a heal
        problems.append(ConfigProblem(HEAL, KILL_REFUSED))
    return policy if len(problems) == before else RemediationPolicy()


def _healthcheck(values: Mapping[str, str], problems: Problems) -> HealthcheckConfig:
    fields: dict[str, int] = {}
    test: tuple[str, ...] | None = ()
    for key, text in values.items():
        where = f"{HEALTHCHECK}.{key}"
        if key == "test":
            test = _label_test(text, where, problems)
        elif key == "retries":
            fields[key] = _label_retries(text, where, problems)
        else:
            fields[key] = _duration(key, text, where, problems) or 0
    check = HealthcheckConfig(
        test=test or (),
        interval=fields.get("interval", 0),
        timeout=fields.get("timeout", 0),
        start_period=fields.get("start_period", 0),
        start_interval=fields.get("start_interval", 0),
        retries=fields.get("retries", 0),
    )
    if "start_period" in values and _start_interval_unusable(
        check.start_interval, check.start_period
    ):
        problems.append(ConfigProblem(f"{HEALTHCHECK}.start_interval", _START_INTERVAL))
    return check


def _label_test(text: str, where: str, problems: Problems) -> tuple[str, ...] | None:
    """A JSON list (the API's ``Test``) or a string (``CMD-SHELL``, as ``--health-cmd``)."""
    if not text.lstrip().startswith("["):
        if not text.strip():
            problems.append(ConfigProblem(where, "must not be empty"))
            return None
        return _test(text_field(text, where, problems), where, problems)
    try:
        value = json.loads(text)
    except ValueError as error:
        problems.append(ConfigProblem(where, f"not a JSON list of strings: {error}"))
        return None
    if isinstance(value, list) and not value:
        problems.append(ConfigProblem(where, "must not be an empty list"))
        return None
    return _test(value, where, problems)


def _label_retries(text: str, where: str, problems: Problems) -> int:
    try:
        value = atoi(text)
    except NumError as error:
        problems.append(ConfigProblem(where, str(error)))
        return 0
    return _retries(value, where, problems) or 0


__all__ = ["ContainerLabels", "describe", "merged_healthcheck", "parse_labels"]
