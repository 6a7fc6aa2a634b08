"""When the garbage collector runs, for a process whose heap is mostly long-lived.

A daemon's monitors, targets and configuration live as long as it does, and each target
keeps a few objects alive for an interval (its sleep, its last results). CPython then runs a
full pass (the old generation: every object not frozen) whenever objects promoted since the
last one reach a quarter of those it kept, which with 10,000 targets every 10 s is every few
seconds, and each pass stalls the loop for as long as walking ~200,000 objects takes (tens
of ms on a quiet core, 0.1-0.7 s on a busy one): the p99 of probe-start lateness
(bench/README.md, "lateness tail"). Almost none of those objects is garbage: they die by
reference count when their interval ends.

``settle()``, called once start-up is over, freezes what exists (those objects are never
walked again) and lets the old generation wait for ``FULL_PASS_EVERY`` middle-generation
passes instead of CPython's 10. Young passes are unchanged, so cyclic garbage is still
found within milliseconds; what reaches the old generation (cycles caught mid-life by a
young pass) waits longer, bounded by the same count of allocations, never by time alone.
"""

from __future__ import annotations

import gc

FULL_PASS_EVERY = 100  # middle-generation passes between two full passes (CPython: 10)


def settle() -> None:
    """Freeze the heap built so far and make full passes rarer (see the module's doc). Call
    again after a large reconfiguration: what was added since is frozen too."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young:  # the collector was not disabled by the embedding application
        gc.set_threshold(young, middle, max(old, FULL_PASS_EVERY))
