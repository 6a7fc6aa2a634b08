"""Apprise URLs at config time: checked with Apprise's own parser, shown without secrets.

A notify URL carries credentials (``mailto://user:password@...``, a webhook token in the
path). Everything vigil shows of one, in errors, logs and ``vigil config``, goes through
``mask_url``: Apprise's privacy form of the URL (``json://user:****@host/...``,
``slack://T...2/A...D/T...Q/``), or the scheme alone when Apprise cannot read it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote

from vigil.core.config import ProjectConfig, ServiceConfig
from vigil.exceptions import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]{0,31})://")
_PARTS = re.compile(r"[^/:@?&=#,;\s]{3,}")  # the pieces of a URL a message could quote
_SEGMENTS = re.compile(r"[/?&#]")  # ... and its whole path segments and query items


def load_plugin(url: str) -> NotifyBase:
    """Apprise's plugin for ``url``; ValueError with a masked reason when it has none."""
    import apprise

    scheme = _SCHEME.match(url)
    if scheme is None:
        raise ValueError("not an Apprise URL (expected SCHEME://...)")
    with _apprise_quiet():
        try:
            plugin = apprise.Apprise.instantiate(url, suppress_exceptions=False)
        except Exception as error:  # a plugin's constructor refusing its arguments
            raise ValueError(f"Apprise cannot use it: {_scrub(str(error), url)}") from None
    if plugin is None:
        name = scheme.group(1).lower()
        if not _known_scheme(name):
            raise ValueError(f"unsupported Apprise scheme {name}://")
        raise ValueError(f"not a valid {name}:// URL for Apprise")
    return plugin


def url_problems(urls: Iterable[str], path: str) -> list[ConfigProblem]:
    """Every URL Apprise cannot use, as ``<path>.<index>: <masked URL>: <why>``."""
    problems = []
    for index, url in enumerate(urls):
        try:
            load_plugin(url)
        except ValueError as error:
            reason = str(error).rstrip(".: ")
            problems.append(ConfigProblem(f"{path}.{index}", f"{mask_url(url)}: {reason}"))
    return problems


def check_service(service: ServiceConfig, path: str) -> None:
    """ConfigError naming each notify URL of ``service`` that Apprise cannot use."""
    problems = url_problems(service.notify, f"{path}.notify")
    if problems:
        raise ConfigError(problems)


def check_project(project: ProjectConfig, *, extra: Iterable[str] = (),
                  extra_path: str = "--notify") -> None:
    """ConfigError naming every notify URL of ``project`` (and of ``extra``, the command
    line's, reported under ``extra_path``) that Apprise cannot use."""
    problems = url_problems(project.notify, "notify")
    for name, service in project.services.items():
        problems += url_problems(service.notify, f"services.{name}.notify")
    problems += [ConfigProblem(extra_path, p.message) for p in url_problems(extra, extra_path)]
    if problems:
        raise ConfigError(problems)


def mask_url(url: str) -> str:
    """``url`` with its secrets hidden (Apprise's privacy form), fit for logs and output."""
    import apprise

    with _apprise_quiet():
        try:
            plugin = apprise.Apprise.instantiate(url)
        except Exception:  # never let showing a URL fail
            plugin = None
    if plugin is not None:
        return str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
    return scheme_only(url)


def scheme_only(url: str) -> str:
    """The least a URL can be shown as: its scheme (``json://****``)."""
    scheme = _SCHEME.match(url)
    return f"{scheme.group(1).lower()}://****" if scheme else "****"


def _known_scheme(name: str) -> bool:
    from apprise.manager_plugins import NotificationManager

    return name in NotificationManager()  # type: ignore[no-untyped-call]


def _scrub(message: str, url: str) -> str:
    """Apprise's reason with every piece of ``url`` it quotes shortened to first...last."""
    body = url.split("://", 1)[-1]
    parts = {piece for text in (body, unquote(body))
             for piece in (*_PARTS.findall(text), *_SEGMENTS.split(text)) if len(piece) >= 3}
    for part in sorted(parts, key=len, reverse=True):
        message = message.replace(part, f"{part[0]}...{part[-1]}")
    return " ".join(message.split())  # one line


class _Quiet(logging.Filter):
    """Apprise logs what it refuses; vigil reports it once, masked, in its own words. Its
    records are dropped while any thread is inside ``_apprise_quiet`` (a count, so threads
    entering and leaving in any order leave the logger as it was)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        return self.depth == 0


_QUIET = _Quiet()
logging.getLogger("apprise").addFilter(_QUIET)


@contextlib.contextmanager
def _apprise_quiet() -> Iterator[None]:
    with _QUIET.lock:
        _QUIET.depth += 1
    try:
        yield
    finally:
        with _QUIET.lock:
            _QUIET.depth -= 1
