"""The containment tests run as the daemon does: every child of the test process that
vigil did not start is a leftover for ``contain.sweep`` (see ``contain.own_children``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vigil.linux import contain


@pytest.fixture(autouse=True)
def _own_children() -> Iterator[None]:
    contain.own_children()
    yield
    contain.own_children(False)
