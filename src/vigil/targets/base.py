"""The ``Target`` protocol: what vigil can do to a thing it watches, whatever its kind.

A target is the single writer of its ``ProcessState``. Every change goes through a pure
transition of ``vigil.core.lifecycle`` and each resulting event is handed to the ``report``
callback it was built with (the engine's ``report``, which applies the health effect and
publishes the event), in order, before the call that caused it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from vigil.core.events import LifecycleEvent, TargetRef
from vigil.core.lifecycle import ProcessState

Report = Callable[[LifecycleEvent], None]


@runtime_checkable
class Target(Protocol):
    """Docker's container verbs. ``start`` and ``restart`` record a failure to start in
    ``state.error``; ``kill``, ``pause`` and ``unpause`` return False when the target is not
    in a state that allows them."""

    @property
    def ref(self) -> TargetRef: ...

    @property
    def state(self) -> ProcessState: ...

    @property
    def owned(self) -> bool:
        """True when vigil runs the target's process (so it can be signalled)."""
        ...

    async def start(self) -> None: ...

    async def stop(self, timeout_ns: int | None = None) -> None: ...

    async def restart(self, timeout_ns: int | None = None) -> None: ...

    def kill(self, sig: int, *, by_user: bool = True) -> bool:
        """Signal the target. ``by_user`` False (vigil's ``on_unhealthy: kill``): the exit
        counts as a crash, so the restart policy decides, instead of a manual stop."""
        ...

    def pause(self) -> bool: ...

    def unpause(self) -> bool: ...

    async def close(self, timeout_ns: int | None = None) -> None:
        """Daemon shutdown: stop without counting as a manual stop; release everything."""
        ...
