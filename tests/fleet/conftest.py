"""A fresh PostgreSQL schema per fleet test (skipped, saying why, without a server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.postgres import URL, require_postgres


@pytest.fixture
def schema() -> Iterator[str]:
    postgres = require_postgres()
    name = f"vigil_fleet_{uuid.uuid4().hex[:12]}"
    yield name
    postgres.drop_schema(URL, name)
