"""``history:`` (daemon-wide, and per service) and ``store:`` of ``vigil.yaml``. Pure.

``history: {keep: 30d, max_results: 100000}``: ``keep`` is a Go duration that may start
with whole weeks and days (``30d``, ``1w2d12h``), as Prometheus and Gatus write retention;
``max_results`` a non-negative integer. 0 means "no limit" for either. A service's keys
override the daemon's one by one. ``store:`` is a path, ``sqlite:///PATH``,
``postgresql://...`` or ``memory``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vigil.compose.values import Problems, go_duration, is_extension, unknown_key
from vigil.core.config import HistoryConfig
from vigil.exceptions import ConfigProblem
from vigil.go.duration import HOUR, format_duration

DAY = 24 * HOUR
_DAYS = re.compile(r"(?:(\d{1,6})w)?(?:(\d{1,6})d)?(.*)", re.DOTALL)
_STORE_SCHEMES = ("sqlite:", "postgresql://", "postgres://")
MAX_STORE_URL = 4096


def history_field(value: object, where: str, problems: Problems) -> HistoryConfig:
    """A ``history:`` mapping; every problem reported under ``where``."""
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(where, "must be a mapping"))
        return HistoryConfig()
    keep: int | None = None
    max_results: int | None = None
    for key, item in value.items():
        if key == "keep":
            keep = retention_duration(item, f"{where}.keep", problems)
        elif key == "max_results":
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                problems.append(ConfigProblem(f"{where}.max_results",
                                              f"must be a non-negative integer, not {item!r}"))
            else:
                max_results = item
        elif not is_extension(key):
            problems.append(ConfigProblem(where, unknown_key(key)))
    return HistoryConfig(keep, max_results)


def retention_duration(value: object, where: str, problems: Problems) -> int | None:
    """``30d``, ``1w``, ``12h``, ``0``: nanoseconds, or None after reporting why not."""
    if isinstance(value, str) and (match := _DAYS.fullmatch(value)) and (
            match.group(1) or match.group(2)):
        weeks, days, rest = match.groups()
        total = (int(weeks or 0) * 7 + int(days or 0)) * DAY
        if rest:
            more = go_duration(rest, where, problems)
            if more is None:
                return None
            total += more
        return total
    plain = go_duration(value, where, problems)
    if plain is not None and plain < 0:
        problems.append(ConfigProblem(where, f"must not be negative, not {value!r}"))
        return None
    return plain


def store_field(value: object, where: str, problems: Problems) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_STORE_URL or "\0" in value:
        problems.append(ConfigProblem(where, "must be a non-empty string: a path, "
                                      "sqlite:///PATH, postgresql://... or memory"))
        return ""
    if "://" in value and not value.startswith(_STORE_SCHEMES):
        scheme = value.partition("://")[0]
        problems.append(ConfigProblem(where, f"unknown store scheme {scheme!r}: use a path, "
                                      "sqlite:///PATH, postgresql://... or memory"))
        return ""
    return value


def history_to_dict(history: HistoryConfig) -> dict[str, object]:
    """The keys that are set, ``keep`` in days when it is whole days."""
    entry: dict[str, object] = {}
    if history.keep is not None:
        keep = history.keep
        entry["keep"] = f"{keep // DAY}d" if keep and keep % DAY == 0 else format_duration(keep)
    if history.max_results is not None:
        entry["max_results"] = history.max_results
    return entry


__all__ = ["history_field", "history_to_dict", "retention_duration", "store_field"]
