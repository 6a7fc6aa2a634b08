"""Which status changes become notifications, flap damping, retry back-off and message text.
Pure core: stdlib only; every time is an argument.

Rule 1, what is news: a change to ``unhealthy`` always; a change to ``healthy`` only after an
``unhealthy`` was announced (a recovery, as Alertmanager's "resolved" follows a "firing");
``starting`` never. A first start or a clean restart (``starting → healthy``) says nothing.

A ``remediation_exhausted`` fact (``on_unhealthy`` gave up) is always news, never damped.

Rule 2, flap damping: every ``StatusChanged`` of a service counts as a change. The change that
makes more than ``changes`` of them within ``window`` sends one ``flapping`` notice; from then
on nothing is sent for that service. Once no change has come for ``settle``, one ``settled``
summary is sent (the status then, how many changes the episode had) and rule 1 goes on from
that status. ``changes: 0`` turns damping off.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from vigil.core.events import ProbeCompleted, TargetRef
from vigil.core.status import HealthStatus
from vigil.go.duration import MINUTE, SECOND, format_duration
from vigil.go.timefmt import format_rfc3339nano

DEFAULT_FLAP_CHANGES = 5  # more changes than this within the window is flapping
DEFAULT_FLAP_WINDOW = 10 * MINUTE
DEFAULT_FLAP_SETTLE = 5 * MINUTE  # quiet time before the "settled" summary

OUTPUT_LIMIT = 1024  # characters of the last probe's output in a message
RETRY_BASE = SECOND  # first back-off between delivery attempts, doubled each time
RETRY_CAP = 5 * MINUTE


@dataclass(frozen=True, slots=True)
class FlapPolicy:
    """``notify_flap:`` as written: None / 0 means "not set, use the default" (the daemon's
    own ``notify_flap``, then the DEFAULT_FLAP_* values)."""

    changes: int | None = None
    window: int = 0
    settle: int = 0

    def over(self, default: FlapPolicy) -> FlapPolicy:
        """This policy with the keys it does not set taken from ``default``."""
        return FlapPolicy(
            self.changes if self.changes is not None else default.changes,
            self.window or default.window,
            self.settle or default.settle,
        )

    @property
    def effective_changes(self) -> int:
        return DEFAULT_FLAP_CHANGES if self.changes is None else self.changes

    @property
    def effective_window(self) -> int:
        return self.window or DEFAULT_FLAP_WINDOW

    @property
    def effective_settle(self) -> int:
        return self.settle or DEFAULT_FLAP_SETTLE


def merged_urls(*lists: Iterable[str]) -> tuple[str, ...]:
    """The daemon-wide URLs, then the service's own, each once (a service adds to the list)."""
    return tuple(dict.fromkeys(url for urls in lists for url in urls))


class NoticeKind(enum.StrEnum):
    STATUS = "status"
    FLAPPING = "flapping"
    SETTLED = "settled"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell: a status change, the start of flapping, or its end."""

    kind: NoticeKind
    old: HealthStatus
    new: HealthStatus
    time_ns: int
    changes: int = 0  # flapping/settled: changes in the episode so far
    since_ns: int = 0  # flapping/settled: when the episode's window began
    until_ns: int = 0  # settled: the episode's last change
    settle_ns: int = 0  # flapping: the quiet time that ends the episode


@dataclass(frozen=True, slots=True)
class NotifyState:
    """One service's notification memory."""

    recent: tuple[int, ...] = ()  # times of the latest changes, at most changes + 1
    announced: HealthStatus = HealthStatus.NONE  # the status the last message reported
    status: HealthStatus = HealthStatus.NONE
    last_change_ns: int = 0
    flapping: bool = False
    episode_changes: int = 0
    episode_since_ns: int = 0


def on_status_changed(
    state: NotifyState, policy: FlapPolicy, old: HealthStatus, new: HealthStatus, time_ns: int
) -> tuple[NotifyState, Notice | None]:
    """Apply one ``StatusChanged``; the notice to send, if any (rules 1 and 2)."""
    limit = policy.effective_changes
    horizon = time_ns - policy.effective_window
    recent = tuple(t for t in (*state.recent, time_ns) if t > horizon)[-(limit + 1):]
    state = NotifyState(recent, state.announced, new, time_ns, state.flapping,
                        state.episode_changes + 1 if state.flapping else 0,
                        state.episode_since_ns)
    if state.flapping:
        return state, None
    if limit > 0 and len(recent) > limit:
        state = NotifyState(recent, state.announced, new, time_ns, True, len(recent), recent[0])
        return state, Notice(NoticeKind.FLAPPING, old, new, time_ns, len(recent), recent[0],
                             settle_ns=policy.effective_settle)
    if new is HealthStatus.UNHEALTHY or (
        new is HealthStatus.HEALTHY and state.announced is HealthStatus.UNHEALTHY
    ):
        return _announced(state, new), Notice(NoticeKind.STATUS, old, new, time_ns)
    return state, None


def settle_due(state: NotifyState, policy: FlapPolicy) -> int | None:
    """When a flapping service counts as settled if nothing changes before then."""
    if not state.flapping:
        return None
    return state.last_change_ns + policy.effective_settle


def on_settle_check(
    state: NotifyState, policy: FlapPolicy, now_ns: int
) -> tuple[NotifyState, Notice | None]:
    """At or after ``settle_due``: end the episode with its summary."""
    due = settle_due(state, policy)
    if due is None or now_ns < due:
        return state, None
    notice = Notice(NoticeKind.SETTLED, state.announced, state.status, now_ns,
                    state.episode_changes, state.episode_since_ns, state.last_change_ns)
    quiet = NotifyState(announced=state.status, status=state.status,
                        last_change_ns=state.last_change_ns)
    return quiet, notice


def _announced(state: NotifyState, status: HealthStatus) -> NotifyState:
    return NotifyState(state.recent, status, state.status, state.last_change_ns, state.flapping,
                       state.episode_changes, state.episode_since_ns)


def retry_delay_ns(attempt: int, base: int = RETRY_BASE, cap: int = RETRY_CAP) -> int:
    """Back-off after failed attempt number ``attempt`` (from 1): base, 2×base, 4×base ...
    up to ``cap``."""
    return min(cap, base << min(max(attempt - 1, 0), 40))


# -- message text -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageText:
    title: str
    body: str
    severity: str  # Apprise's notify types: info, success, warning, failure


def message_text(
    service: TargetRef, notice: Notice, last: ProbeCompleted | None
) -> MessageText:
    """Title and body naming the service, old → new, the streak, the last probe's output
    (capped at OUTPUT_LIMIT characters) and the time in RFC 3339 (UTC)."""
    name = service.name
    when = format_rfc3339nano(notice.time_ns, utc=True)
    change = f"{notice.old} → {notice.new}"
    if notice.kind is NoticeKind.FLAPPING:
        title, severity = f"{name} is flapping", "warning"
        lines = [f"{notice.changes} status changes since "
                 f"{format_rfc3339nano(notice.since_ns, utc=True)}; further changes are not "
                 f"notified until it has been stable for {format_duration(notice.settle_ns)}.",
                 f"Latest: {change}"]
    elif notice.kind is NoticeKind.SETTLED:
        title = f"{name} has settled: {notice.new}"
        severity = "failure" if notice.new is HealthStatus.UNHEALTHY else "success"
        span = format_duration(max(notice.until_ns - notice.since_ns, 0) // SECOND * SECOND)
        lines = [f"Stable again after flapping: {notice.changes} status changes in {span} "
                 "were not notified one by one.", f"Status: {notice.new}"]
    elif notice.new is HealthStatus.UNHEALTHY:
        title, severity, lines = f"{name} is unhealthy", "failure", [f"Status: {change}"]
    else:
        title, severity, lines = f"{name} is healthy again", "success", [f"Status: {change}"]
    lines.insert(0, f"Service: {name} ({service.id[:12]})")
    if last is not None and last.target.id == service.id:
        lines.append(f"Failing streak: {last.failing_streak}")
        lines.append(f"Last probe: exit code {last.result.exit_code} at "
                     f"{format_rfc3339nano(last.result.end, utc=True)}")
        if output := capped(last.result.output):
            lines.append(f"Output: {output}")
    lines.append(f"Time: {when}")
    return MessageText(f"vigil: {title}", "\n".join(lines), severity)


def exhausted_text(service: TargetRef, action: str, reason: str, attempts: int,
                   time_ns: int) -> MessageText:
    """``on_unhealthy`` spent its attempts (``RemediationExhausted``): always news, never
    damped (the remediation window already bounds it)."""
    lines = [f"Service: {service.name} ({service.id[:12]})",
             f"vigil tried to {action} it {attempts} times ({reason}) within its window and "
             "now leaves it as it is.", f"Time: {format_rfc3339nano(time_ns, utc=True)}"]
    title = f"vigil: {service.name}: {action} given up after {attempts} attempts"
    return MessageText(title, "\n".join(lines), "failure")


def capped(text: str, limit: int = OUTPUT_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."
