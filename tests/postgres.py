"""The PostgreSQL server the tests use: 127.0.0.1:5432 (trust auth, database ``test``) unless
``VIGIL_TEST_POSTGRES_URL`` names another. Every PostgreSQL test calls ``require_postgres``:
without psycopg or a server they all skip from this one place, so the summary (``-ra``)
says why in one line, never silently."""

from __future__ import annotations

import functools
import importlib
import os
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

SKIP_REASON = "PostgreSQL tests skipped: "
URL = os.environ.get("VIGIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_parts = urlsplit(URL)
SERVER = (_parts.hostname or "127.0.0.1", _parts.port or 5432)


@functools.cache
def _missing() -> str | None:
    try:
        importlib.import_module("vigil.store.postgres")
        importlib.import_module("psycopg")
    except ImportError as exc:
        return f"psycopg is not installed ({exc}): scripts/bootstrap installs it"
    try:
        socket.create_connection(SERVER, timeout=2).close()
    except OSError as exc:
        return f"no server at {SERVER[0]}:{SERVER[1]} ({exc})"
    return None


def require_postgres() -> Any:
    """``vigil.store.postgres``, or skip the test saying why."""
    reason = _missing()
    if reason is not None:
        pytest.skip(SKIP_REASON + reason)
    return importlib.import_module("vigil.store.postgres")


def fold_skip(report: pytest.TestReport) -> None:
    """Point every PostgreSQL skip at this module, so ``-ra`` folds them into one line
    (``SKIPPED [33] tests/postgres.py: PostgreSQL tests skipped: no server at ...``)."""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3 \
            and SKIP_REASON in str(longrepr[2]):
        report.longrepr = ("tests/postgres.py", None, longrepr[2])  # type: ignore[assignment]
