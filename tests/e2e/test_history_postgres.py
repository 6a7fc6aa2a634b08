"""End to end: the real daemon keeping history in PostgreSQL (``store:`` in vigil.yaml), at
127.0.0.1:5432 in a schema of this test's own, dropped after it. A restart finds the same
service, its Log and its history there. Skips with one line when there is no server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.postgres import URL, require_postgres

pytestmark = pytest.mark.slow
Daemon = Any  # tests/e2e/conftest.py's Daemon
WAIT_S = 30.0


@pytest.fixture
def schema() -> Iterator[str]:
    postgres = require_postgres()
    name = f"vigil_e2e_{uuid.uuid4().hex[:12]}"
    yield name
    postgres.drop_schema(URL, name)


def _config(schema: str, interval: str) -> str:
    return (f"store: {URL}?schema={schema}\n"
            "services:\n  svc0:\n    healthcheck:\n"
            f'      test: ["CMD", "true"]\n      interval: {interval}\n')


def test_history_lives_in_postgresql_across_a_restart(
        daemon_factory: Callable[[str], Daemon], schema: str) -> None:
    import psycopg

    start = time.time()
    first = daemon_factory(_config(schema, "50ms"))
    until = f"{time.time() + WAIT_S:.9f}"
    seen = 0
    for _ in first.client.events(since=f"{start:.9f}", until=until,
                                 filters={"event": ["health_probe"]}):
        seen += 1
        if seen >= 5:
            break
    assert seen >= 5, f"only {seen} probes in {WAIT_S} s"
    service_id = first.client.inspect("svc0")["Id"]
    assert first.terminate()
    first.client.close()

    with psycopg.connect(URL) as conn:
        stored = conn.execute(f'SELECT count(*) FROM "{schema}".results '
                              "WHERE target_id = %s", (service_id,)).fetchone()
    assert stored is not None
    assert stored[0] >= 5  # a clean shutdown wrote every result

    second = daemon_factory(_config(schema, "1h"))
    found = second.client.inspect("svc0")
    assert found["Id"] == service_id
    entries = second.client.history("svc0")
    assert len(entries) == stored[0]
    assert found["State"]["Health"]["Log"] == [
        {key: entry[key] for key in ("Start", "End", "ExitCode", "Output")}
        for entry in entries[-5:]
    ]
