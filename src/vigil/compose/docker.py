"""The Docker engine to watch (``docker:`` in ``vigil.yaml``, ``vigil up --docker``). Pure.

``true``: ``$DOCKER_HOST``, else ``unix:///var/run/docker.sock`` (returned as ``""``: the
client decides when it connects); ``false`` or null: none; else ``unix:///PATH`` or
``tcp://HOST:PORT``, as ``DOCKER_HOST`` takes them.
"""

from __future__ import annotations

import re

from vigil.compose.values import Problems
from vigil.exceptions import ConfigProblem

_HOST = re.compile(r"unix:///[^\x00]*|tcp://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}")
_EXPECTED = "expected true, false, unix:///PATH or tcp://HOST:PORT"


def docker_field(value: object, where: str, problems: Problems) -> str | None:
    """The ``docker:`` key: None (no engine), "" (the environment's), or the engine's URL."""
    if value is None or value is False:
        return None
    if value is True:
        return ""
    if not isinstance(value, str) or not _HOST.fullmatch(value):
        problems.append(ConfigProblem(where, f"{_EXPECTED}, got {value!r}"))
        return None
    return value
