"""``web``: the status page served for real over a FakeClock daemon (``harness.WebDaemon``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.harness import WebDaemon


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebDaemon]:
    daemon = WebDaemon(tmp_path / "logs")
    try:
        yield daemon
    finally:
        daemon.close()


