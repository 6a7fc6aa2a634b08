"""``notify:`` and ``notify_flap:`` of a service or of the whole file. Pure: stdlib only.

Here only their shape is checked; whether Apprise can use a URL is checked by
``vigil.notify.urls`` where the config is loaded (Apprise is not imported by the pure
parser). A URL holds secrets, so no message here quotes one: the path names it.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.compose.values import Problems, go_duration, is_extension, text_field, unknown_key
from vigil.core.notify import FlapPolicy
from vigil.exceptions import ConfigProblem
from vigil.go.duration import format_duration

MAX_URLS = 64  # per list; a real config names a handful of destinations
MAX_URL_LENGTH = 4096
_MAX_CHANGES = 10_000


def notify_field(value: object, where: str, problems: Problems) -> tuple[str, ...]:
    """A list of distinct, non-empty URL strings."""
    if not isinstance(value, list | tuple):
        problems.append(ConfigProblem(where, "must be a list of Apprise URLs"))
        return ()
    if len(value) > MAX_URLS:
        problems.append(ConfigProblem(where, f"at most {MAX_URLS} URLs"))
        return ()
    urls: list[str] = []
    for index, item in enumerate(value):
        entry = f"{where}.{index}"
        before = len(problems)
        url = text_field(item, entry, problems).strip()
        if len(problems) > before:
            continue
        if not url:
            problems.append(ConfigProblem(entry, "must not be empty"))
        elif len(url) > MAX_URL_LENGTH:
            problems.append(ConfigProblem(entry, f"longer than {MAX_URL_LENGTH} characters"))
        elif url in urls:
            problems.append(ConfigProblem(entry, "the same URL is listed twice"))
        else:
            urls.append(url)
    return tuple(urls)


def notify_flap_field(value: object, where: str, problems: Problems) -> FlapPolicy | None:
    """``{changes: N, window: DURATION, settle: DURATION}``, each key optional."""
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return None
    before = len(problems)
    changes: int | None = None
    durations = {"window": 0, "settle": 0}
    for key, item in value.items():
        at = f"{where}.{key}"
        if key == "changes":
            changes = _changes(item, at, problems)
        elif key in durations:
            nanoseconds = go_duration(item, at, problems)
            if nanoseconds is not None and nanoseconds <= 0:
                problems.append(ConfigProblem(at, "must be a positive duration"))
            durations[key] = nanoseconds or 0
        elif not is_extension(key):
            problems.append(ConfigProblem(where, unknown_key(key)))
    if len(problems) > before:
        return None
    return FlapPolicy(changes, durations["window"], durations["settle"])


def _changes(value: object, where: str, problems: Problems) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(ConfigProblem(where, "must be an integer"))
        return None
    if not 0 <= value <= _MAX_CHANGES:
        problems.append(ConfigProblem(where, f"must be between 0 (no damping) and {_MAX_CHANGES}"))
        return None
    return int(value)


def flap_to_dict(policy: FlapPolicy) -> dict[str, object]:
    """The keys that were written."""
    entry: dict[str, object] = {}
    if policy.changes is not None:
        entry["changes"] = policy.changes
    for key, value in (("window", policy.window), ("settle", policy.settle)):
        if value:
            entry[key] = format_duration(value)
    return entry
