"""The service keys that act on health: ``on_unhealthy`` and ``hooks``. Pure core: stdlib only.

``on_unhealthy`` (``vigil.core.remediation``): ``restart``, ``stop``, ``kill`` or ``none``,
or the long form ``{action: restart, max_restarts: 5, window: 10m, backoff: 10s}`` where
``action`` is required, ``max_restarts`` is an integer from 1 to 10000, ``window`` a Go
duration of at least 1ms and ``backoff`` a Go duration of at least 0. ``restart`` and
``kill`` need a ``command`` (vigil can only restart or signal a process it runs); ``stop``
of a watched service ends its probing, as ``vigil stop`` does.

``hooks`` (``vigil.core.hooks``): ``on_unhealthy`` and ``on_healthy`` are test lists like
``healthcheck.test`` (a string is CMD-SHELL; a list starts with ``CMD`` or ``CMD-SHELL``
and names a command), ``timeout`` a Go duration of at least 1ms.

Every problem names its path and quotes the value; unknown keys are errors; ``x-`` keys are
ignored, as in ``healthcheck``.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.compose.values import (
    Problems,
    go_duration,
    is_extension,
    string_list,
    text_field,
    unknown_key,
)
from vigil.core.config import MIN_DURATION, TEST_CMD, TEST_SHELL
from vigil.core.hooks import HOOK_NAMES, HooksConfig
from vigil.core.remediation import (
    ACTION_KILL,
    ACTION_RESTART,
    ACTIONS,
    MAX_RESTARTS_LIMIT,
    RemediationPolicy,
)
from vigil.exceptions import ConfigProblem
from vigil.go.duration import format_duration
from vigil.go.strconv import go_quote

_ACTIONS_TEXT = ", ".join(f'"{action}"' for action in ACTIONS)
_NEEDS_PROCESS = (ACTION_RESTART, ACTION_KILL)
_SHOWN_LENGTH = 64  # characters of a wrong value quoted in a message
_STR_BITS = 14_000  # str() of an int this large stays under Python's 4300-digit limit


def on_unhealthy_field(value: object, where: str, problems: Problems) -> RemediationPolicy:
    """``on_unhealthy:`` in the short (an action) or long (a mapping) form."""
    if isinstance(value, Mapping):
        return _long_form(value, where, problems)
    if not isinstance(value, str):
        problems.append(ConfigProblem(where, f"must be a string or mapping, not {_shown(value)}"))
        return RemediationPolicy()
    action = _action(value, where, problems)
    return RemediationPolicy(action) if action else RemediationPolicy()


def needs_process_problem(policy: RemediationPolicy, where: str) -> ConfigProblem | None:
    """``restart`` and ``kill`` of a service without ``command``: nothing to act on."""
    if policy.action not in _NEEDS_PROCESS:
        return None
    return ConfigProblem(
        where,
        f'"{policy.action}" needs a command: vigil only watches this service '
        "(run something on it with hooks.on_unhealthy instead)",
    )


def _long_form(data: Mapping[object, object], where: str, problems: Problems
               ) -> RemediationPolicy:
    action = ""
    limits: dict[str, int | None] = {"max_restarts": None, "window": None, "backoff": None}
    for key, value in data.items():
        at = f"{where}.{key}"
        if key == "action":
            action = _action(value, at, problems)
        elif key == "max_restarts":
            limits["max_restarts"] = _max_restarts(value, at, problems)
        elif key == "window":
            limits["window"] = _duration(value, at, problems, minimum=MIN_DURATION)
        elif key == "backoff":
            limits["backoff"] = _duration(value, at, problems, minimum=0)
        elif not is_extension(key):
            problems.append(ConfigProblem(where, unknown_key(key)))
    if "action" not in data:
        problems.append(ConfigProblem(where, "action is required"))
    return RemediationPolicy(action or RemediationPolicy().action, **limits)


def _action(value: object, where: str, problems: Problems) -> str:
    before = len(problems)
    text = text_field(value, where, problems)
    if len(problems) > before:
        return ""
    if text not in ACTIONS:
        problems.append(ConfigProblem(
            where, f"unknown action {_shown(text)}: must be one of {_ACTIONS_TEXT}"))
        return ""
    return text


def _max_restarts(value: object, where: str, problems: Problems) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(ConfigProblem(where, f"must be an integer, not {_shown(value)}"))
        return None
    if not 1 <= value <= MAX_RESTARTS_LIMIT:
        problems.append(ConfigProblem(
            where, f"must be from 1 to {MAX_RESTARTS_LIMIT}, not {_shown(value)}"))
        return None
    return int(value)


def _duration(value: object, where: str, problems: Problems, *, minimum: int) -> int | None:
    nanoseconds = go_duration(value, where, problems)
    if nanoseconds is None:
        return None
    if nanoseconds < minimum:
        wanted = f"must be at least {format_duration(minimum)}" if minimum else "cannot be negative"
        problems.append(ConfigProblem(where, f"{wanted}, not {_shown(value)}"))
        return None
    return nanoseconds


def hooks_field(value: object, where: str, problems: Problems) -> HooksConfig:
    """``hooks:``: a command per status change, and their timeout."""
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return HooksConfig()
    commands: dict[str, tuple[str, ...]] = {}
    timeout = 0
    for key, item in value.items():
        at = f"{where}.{key}"
        if key in HOOK_NAMES:
            assert isinstance(key, str)
            commands[key] = _command(item, at, problems)
        elif key == "timeout":
            timeout = _duration(item, at, problems, minimum=MIN_DURATION) or 0
        elif not is_extension(key):
            problems.append(ConfigProblem(where, unknown_key(key)))
    return HooksConfig(timeout=timeout, **commands)


def _command(value: object, where: str, problems: Problems) -> tuple[str, ...]:
    """A test list (``["CMD", ...]``, ``["CMD-SHELL", "..."]``) or a string (CMD-SHELL)."""
    if isinstance(value, str):
        value = [TEST_SHELL, value]
    before = len(problems)
    command = string_list(value, where, problems, "must be a string or list")
    if len(problems) > before:
        return ()
    if not command or command[0] not in (TEST_CMD, TEST_SHELL):
        first = _shown(command[0]) if command else "an empty list"
        problems.append(ConfigProblem(
            where, f'must start with "CMD" or "CMD-SHELL", not {first}'))
        return ()
    if len(command) < 2 or not command[1]:
        problems.append(ConfigProblem(where, f'needs a command after "{command[0]}"'))
        return ()
    return command


def _shown(value: object) -> str:
    """A wrong value, quoted on one short line."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = getattr(value, "text", None) or (
            str(value) if value.bit_length() < _STR_BITS else "a number of more than 4300 digits")
    else:
        text = str(value)
    if len(text) > _SHOWN_LENGTH:
        text = text[:_SHOWN_LENGTH] + "..."
    return go_quote(text) if isinstance(value, str) else text
