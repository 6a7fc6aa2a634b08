"""``vigil.runtime.heap.settle``: the heap so far frozen, full collections made rarer, the
young generations left as they were, and a disabled collector left disabled."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from vigil.runtime import heap


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        (gc.enable if enabled else gc.disable)()


def test_settle_freezes_what_exists_and_makes_full_passes_rarer() -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    gc.unfreeze()
    kept = [[i] for i in range(1000)]  # long-lived, tracked objects
    heap.settle()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (700, 10, heap.FULL_PASS_EVERY)
    assert not any(item is kept for item in gc.get_objects())  # frozen: not walked any more


def test_settle_keeps_a_rarer_full_pass_chosen_by_the_application() -> None:
    gc.set_threshold(2000, 20, 5000)
    heap.settle()
    assert gc.get_threshold() == (2000, 20, 5000)


def test_settle_leaves_a_collector_turned_off_by_threshold_zero_off() -> None:
    gc.set_threshold(0)
    heap.settle()
    assert gc.get_threshold()[0] == 0
