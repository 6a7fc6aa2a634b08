"""``on_unhealthy``: a subscriber of the event stream that restarts, stops or kills a service
that turned unhealthy, within the limits of ``vigil.core.remediation``.

- It reads a bounded, filtered subscription (failed probes of unhealthy services, the
  changes that end a wait), so it never delays a probe; a crash while handling one event is
  logged and the next event is handled as usual.
- A service is unhealthy when its health says so with a FailingStreak of at least its
  ``retries``: the ``health_status: unhealthy`` moment, and also a service that stays
  unhealthy after an unpause. The decision is taken on the health *now*, not on the queued
  event, so events that were waiting while an action ran cannot cause a second action.
- Every action goes through the ``Actuator`` (the daemon's ``Manager``): it holds the
  service's lock and uses the target's own restart, stop or kill, so a restart brings
  health back to ``starting`` exactly as ``vigil restart`` does. ``Remediated`` is
  published first, inside the lock; ``RemediationExhausted`` once when the limit is hit.
- Left alone: a paused service, one the user stopped or killed, and one whose start, stop,
  restart or removal is under way. A back-off (or exhaustion) timer is cancelled when the
  service turns healthy, is stopped, paused, exits or is removed.
- A manual start, stop, restart or kill by the user starts the count afresh (as Docker's
  restart manager does on a manual start). Counts are not kept across daemon restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.core.events import (
    ProbeCompleted,
    Remediated,
    RemediationExhausted,
    StatusChanged,
    TargetDied,
    TargetEvent,
    TargetExiting,
    TargetPaused,
    TargetRef,
    TargetRemoved,
    TargetStopped,
)
from vigil.core.remediation import (
    RemediationDecision,
    RemediationPolicy,
    RemediationTracker,
    Verdict,
    decide,
)
from vigil.core.status import HealthStatus
from vigil.daemon.reactor import Reactor
from vigil.go.duration import format_duration
from vigil.runtime.engine import Engine

_log = logging.getLogger("vigil")
_ENDS_WAIT = TargetStopped | TargetPaused | TargetExiting | TargetDied | TargetRemoved


class Actuator(Protocol):
    """What the remediator acts through (the daemon's ``Manager``)."""

    def remediable(self, name: str) -> bool: ...

    def interventions(self, name: str) -> int: ...

    async def remediate(self, name: str, action: str, announce: Callable[[], None]) -> bool: ...


PolicyOf = Callable[[str], RemediationPolicy | None]


@dataclass(slots=True)
class _Service:
    tracker: RemediationTracker
    interventions: int
    timer: asyncio.Task[None] | None = None
    acting: asyncio.Task[None] | None = None


class Remediator(Reactor[TargetEvent]):
    """Runs ``on_unhealthy`` for every service of ``engine``; ``policy_of(name)`` gives a
    service's policy (None for an unknown service). ``start()`` subscribes; ``aclose()``
    stops (timers cancelled, actions under way awaited)."""

    name = "remediation"

    def __init__(self, engine: Engine, actuator: Actuator, policy_of: PolicyOf) -> None:
        super().__init__(engine)
        self._actuator = actuator
        self._policy_of = policy_of
        self._services: dict[str, _Service] = {}  # by target ID

    async def stopped(self) -> None:
        timers = [s.timer for s in self._services.values() if s.timer is not None]
        for timer in timers:
            timer.cancel()
        actions = [s.acting for s in self._services.values() if s.acting is not None]
        await asyncio.gather(*timers, *actions, return_exceptions=True)

    # -- events --------------------------------------------------------------------------

    def filter(self, event: TargetEvent) -> TargetEvent | None:
        """Only what can start or end a remediation takes queue room."""
        if isinstance(event, ProbeCompleted):
            if event.status is not HealthStatus.UNHEALTHY or event.failing_streak == 0:
                return None
            service = self._services.get(event.target.id)
            if service is not None and (service.timer or service.acting):
                return None  # waiting or acting already: this result changes nothing
            policy = self._policy_of(event.target.name)
            return event if policy is not None and policy.acts else None
        if isinstance(event, StatusChanged | _ENDS_WAIT):
            return event if event.target.id in self._services else None
        return None

    def handle(self, event: TargetEvent) -> None:
        ref = event.target
        if isinstance(event, ProbeCompleted):
            self._evaluate(ref)
        elif isinstance(event, StatusChanged):
            if event.new is HealthStatus.HEALTHY:
                self._cancel_timer(ref.id)
        elif isinstance(event, TargetRemoved):
            self._cancel_timer(ref.id)
            service = self._services.get(ref.id)
            if service is not None and service.acting is None:
                del self._services[ref.id]
        else:  # stopped, paused, exiting, died: health will start over (or never)
            self._cancel_timer(ref.id)

    # -- decisions -----------------------------------------------------------------------

    def _evaluate(self, ref: TargetRef) -> None:
        """Decide for ``ref`` if it is unhealthy now and nothing is pending for it."""
        name = ref.name
        service = self._services.get(ref.id)
        if service is not None and (service.timer is not None or service.acting is not None):
            return
        policy = self._policy_of(name)
        if policy is None or not policy.acts or not self._unhealthy(ref):
            return
        if not self._actuator.remediable(name):
            return
        interventions = self._actuator.interventions(name)
        if service is None or service.interventions != interventions:
            service = _Service(RemediationTracker(), interventions)
            self._services[ref.id] = service
        decision = decide(policy, service.tracker, self._clock.now_ns())
        if decision.verdict is Verdict.ACT:
            reason = f"unhealthy (FailingStreak {self._engine.health(name).failing_streak})"
            service.acting = self._task(self._act(ref, service, policy, decision, reason))
            return
        service.tracker = decision.tracker
        if decision.verdict is Verdict.EXHAUSTED and decision.report:
            self._exhausted(ref, policy, decision)
        service.timer = self._task(self._wake_at(ref, service, decision.at_ns))

    def _unhealthy(self, ref: TargetRef) -> bool:
        try:
            health = self._engine.health(ref.name)
            check = self._engine.check(ref.name)
        except KeyError:
            return False
        if self._engine.ref(ref.name) != ref or check is None:
            return False  # removed, and a new service took the name
        return (health.status is HealthStatus.UNHEALTHY
                and health.failing_streak >= check.failure_threshold)

    async def _act(self, ref: TargetRef, service: _Service, policy: RemediationPolicy,
                   decision: RemediationDecision, reason: str) -> None:
        def announce() -> None:
            service.tracker = decision.tracker
            self._engine.publish(Remediated(ref, self._clock.now_ns(), policy.action, reason,
                                            decision.attempt))
            _log.warning("service %s is %s: %s (attempt %d of %d within %s)", ref.name, reason,
                         policy.action, decision.attempt, policy.effective_max_restarts,
                         format_duration(policy.effective_window))

        try:
            await self._actuator.remediate(ref.name, policy.action, announce)
        except Exception as exc:
            _log.error("service %s: on_unhealthy %s failed: %s", ref.name, policy.action,
                       str(exc) or type(exc).__name__)
        finally:
            service.acting = None
            if self._policy_of(ref.name) is None:  # removed while acting
                self._services.pop(ref.id, None)

    def _exhausted(self, ref: TargetRef, policy: RemediationPolicy,
                   decision: RemediationDecision) -> None:
        window = format_duration(policy.effective_window)
        reason = f"max_restarts ({policy.effective_max_restarts}) within {window} reached"
        self._engine.publish(RemediationExhausted(
            ref, self._clock.now_ns(), policy.action, reason, decision.attempt))
        _log.error("service %s stays unhealthy: on_unhealthy %s: %s; next try in %s",
                   ref.name, policy.action, reason,
                   format_duration(decision.at_ns - self._clock.now_ns()))

    async def _wake_at(self, ref: TargetRef, service: _Service, at_ns: int) -> None:
        await self._clock.sleep_ns(at_ns - self._clock.now_ns())
        service.timer = None
        self._evaluate(ref)

    def _cancel_timer(self, target_id: str) -> None:
        service = self._services.get(target_id)
        if service is not None and service.timer is not None:
            service.timer.cancel()
            service.timer = None

    def _task(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(_log_crash)
        return task


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        _log.error("remediation task failed: %r", exc, exc_info=exc)
