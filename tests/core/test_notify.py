"""The pure rules of notifications: what is news, flap damping, back-off, message text, and
the ``notify:`` / ``notify_flap:`` keys of vigil.yaml."""

from __future__ import annotations

import pytest

from vigil.compose.load import load_project_text
from vigil.compose.render import render_project
from vigil.core.events import ProbeCompleted, TargetRef
from vigil.core.notify import (
    FlapPolicy,
    Notice,
    NoticeKind,
    NotifyState,
    merged_urls,
    message_text,
    on_settle_check,
    on_status_changed,
    retry_delay_ns,
    settle_due,
)
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.exceptions import ConfigError
from vigil.go.duration import MINUTE, SECOND

H, U, S, N = (HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, HealthStatus.STARTING,
              HealthStatus.NONE)
T0 = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
WEB = TargetRef("a" * 64, "web")


DEFAULT = FlapPolicy()


def play(changes: list[tuple[HealthStatus, HealthStatus, int]], policy: FlapPolicy = DEFAULT,
         state: NotifyState | None = None) -> tuple[NotifyState, list[Notice | None]]:
    state = state or NotifyState()
    notices = []
    for old, new, at in changes:
        state, notice = on_status_changed(state, policy, old, new, at)
        notices.append(notice)
    return state, notices


@pytest.mark.parametrize(
    ("changes", "kinds"),
    [
        ([(S, H)], [None]),  # a first start says nothing
        ([(S, U)], [U]),  # never got healthy
        ([(H, U), (U, H)], [U, H]),  # failure, then recovery
        ([(S, H), (H, U), (U, S), (S, H)], [None, U, None, H]),  # restarted back to health
        ([(H, U), (U, S), (S, U)], [U, None, U]),  # failed again after a restart: news again
        ([(S, H), (H, S), (S, H)], [None, None, None]),  # a clean restart says nothing
    ],
)
def test_what_is_news(changes: list[tuple[HealthStatus, HealthStatus]],
                      kinds: list[HealthStatus | None]) -> None:
    """``unhealthy`` is always news; ``healthy`` only after an announced ``unhealthy``."""
    _, notices = play([(old, new, T0 + i * MINUTE) for i, (old, new) in enumerate(changes)])
    assert [n.new if n else None for n in notices] == kinds
    assert all(n is None or n.kind is NoticeKind.STATUS for n in notices)


def test_flapping_sends_one_notice_then_a_summary_once_settled() -> None:
    """More than ``changes`` changes within ``window``: one flapping notice, the rest held
    back, then one summary ``settle`` after the last change, with the status then."""
    policy = FlapPolicy(changes=3, window=10 * MINUTE, settle=5 * MINUTE)
    flips = [(H, U), (U, H)] * 4  # 8 changes, one a minute
    state, notices = play([(o, n, T0 + i * MINUTE) for i, (o, n) in enumerate(flips)], policy)
    kinds = [n.kind if n else None for n in notices]
    assert kinds == [NoticeKind.STATUS] * 3 + [NoticeKind.FLAPPING,
                                               None, None, None, None]
    flapping = notices[3]
    assert flapping is not None
    assert flapping.changes == 4
    assert flapping.since_ns == T0
    assert flapping.settle_ns == 5 * MINUTE
    last = T0 + 7 * MINUTE
    assert settle_due(state, policy) == last + 5 * MINUTE
    assert on_settle_check(state, policy, last + 5 * MINUTE - 1) == (state, None)
    quiet, summary = on_settle_check(state, policy, last + 5 * MINUTE)
    assert summary is not None
    assert summary.kind is NoticeKind.SETTLED
    assert (summary.new, summary.changes, summary.since_ns) == (H, 8, T0)
    assert not quiet.flapping
    assert settle_due(quiet, policy) is None
    # after settling as healthy, a failure is news again, and counts from zero
    _, again = play([(H, U, last + 6 * MINUTE)], policy, quiet)
    assert again[0] is not None
    assert again[0].kind is NoticeKind.STATUS


def test_a_change_while_flapping_moves_the_settle_time() -> None:
    policy = FlapPolicy(changes=1, window=MINUTE, settle=MINUTE)
    state, _ = play([(H, U, T0), (U, H, T0 + SECOND)], policy)
    assert settle_due(state, policy) == T0 + SECOND + MINUTE
    state, notices = play([(H, U, T0 + 50 * SECOND)], policy, state)
    assert notices == [None]
    assert settle_due(state, policy) == T0 + 50 * SECOND + MINUTE


def test_changes_spread_wider_than_the_window_are_not_flapping() -> None:
    policy = FlapPolicy(changes=2, window=MINUTE)
    flips = [(H, U), (U, H)] * 5
    _, notices = play([(o, n, T0 + i * 31 * SECOND) for i, (o, n) in enumerate(flips)], policy)
    assert all(n is not None and n.kind is NoticeKind.STATUS for n in notices)


def test_changes_zero_turns_damping_off() -> None:
    flips = [(H, U), (U, H)] * 20
    _, notices = play([(o, n, T0 + i) for i, (o, n) in enumerate(flips)], FlapPolicy(changes=0))
    assert len([n for n in notices if n is not None]) == 40


def test_state_memory_is_bounded_by_the_threshold() -> None:
    policy = FlapPolicy(changes=3, window=10**18)
    state, _ = play([(H, U, T0 + i) for i in range(1000)], policy)
    assert len(state.recent) == 4


def test_flap_policy_defaults_and_key_by_key_override() -> None:
    daemon = FlapPolicy(changes=7, window=20 * MINUTE)
    merged = FlapPolicy(settle=MINUTE).over(daemon)
    assert merged == FlapPolicy(7, 20 * MINUTE, MINUTE)
    assert FlapPolicy(changes=0).over(daemon).effective_changes == 0
    assert (FlapPolicy().effective_changes, FlapPolicy().effective_window,
            FlapPolicy().effective_settle) == (5, 10 * MINUTE, 5 * MINUTE)


def test_service_urls_add_to_the_daemon_wide_ones_once() -> None:
    assert merged_urls(("a://x", "b://y"), ("b://y", "c://z")) == ("a://x", "b://y", "c://z")


def test_retry_back_off_doubles_up_to_the_cap() -> None:
    delays = [retry_delay_ns(n) // SECOND for n in range(1, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert retry_delay_ns(10**6) == 5 * MINUTE


def test_message_names_service_change_streak_output_and_time() -> None:
    result = ProbeResult(T0 - SECOND, T0, 1, "connection refused\n" + "x" * 5000, Outcome.FAIL)
    last = ProbeCompleted(WEB, T0, result, U, 3)
    text = message_text(WEB, Notice(NoticeKind.STATUS, H, U, T0), last)
    assert text.title == "vigil: web is unhealthy"
    assert text.severity == "failure"
    lines = text.body.splitlines()
    assert lines[:4] == ["Service: web (aaaaaaaaaaaa)", "Status: healthy → unhealthy",
                         "Failing streak: 3", "Last probe: exit code 1 at 2026-01-01T00:00:00Z"]
    assert lines[-1] == "Time: 2026-01-01T00:00:00Z"
    output = text.body.split("Output: ", 1)[1].rsplit("\nTime:", 1)[0]
    assert output.startswith("connection refused")
    assert output.endswith("...")
    assert len(output) == 1024 + 3
    recovered = message_text(WEB, Notice(NoticeKind.STATUS, U, H, T0), None)
    assert (recovered.title, recovered.severity) == ("vigil: web is healthy again", "success")


def test_flapping_and_settled_texts() -> None:
    flapping = message_text(
        WEB, Notice(NoticeKind.FLAPPING, U, H, T0 + MINUTE, 6, T0, settle_ns=MINUTE), None)
    assert flapping.title == "vigil: web is flapping"
    assert ("6 status changes since 2026-01-01T00:00:00Z; further changes are not notified "
            "until it has been stable for 1m0s.") in flapping.body
    settled = message_text(
        WEB, Notice(NoticeKind.SETTLED, H, U, T0 + 9 * MINUTE, 9, T0, T0 + 90 * SECOND), None)
    assert settled.title == "vigil: web has settled: unhealthy"
    assert "9 status changes in 1m30s" in settled.body
    assert settled.severity == "failure"


# -- config keys -----------------------------------------------------------------------------

CONFIG = """\
notify: ["json://127.0.0.1:9/all"]
notify_flap: {changes: 3, window: 2m}
services:
  web:
    command: ["true"]
    notify: ["json://user:hunter2@127.0.0.1:9/web"]
    notify_flap: {settle: 30s}
"""


def test_notify_keys_load_and_render_back() -> None:
    project = load_project_text(CONFIG, environ={})
    assert project.notify == ("json://127.0.0.1:9/all",)
    assert project.notify_flap == FlapPolicy(3, 2 * MINUTE, 0)
    web = project.services["web"]
    assert web.notify == ("json://user:hunter2@127.0.0.1:9/web",)
    assert web.notify_flap == FlapPolicy(None, 0, 30 * SECOND)
    text = render_project(project, "yaml")
    assert load_project_text(text, environ={}) == project
    masked = render_project(project, "yaml", lambda url: url.split("://")[0] + "://****")
    assert "hunter2" not in masked
    assert "json://****" in masked


@pytest.mark.parametrize(
    ("config", "problems"),
    [
        ("notify: json://x", ["notify: must be a list of Apprise URLs"]),
        ("notify: [1, '', 'a://b', 'a://b']",
         ["notify.0: must be a string", "notify.1: must not be empty",
          "notify.3: the same URL is listed twice"]),
        ("notify_flap: {changes: -1, window: 0s, settle: soon, every: 1s}",
         ["notify_flap.changes: must be between 0 (no damping) and 10000",
          "notify_flap.window: must be a positive duration",
          'notify_flap.settle: time: invalid duration "soon"',
          "notify_flap: Additional property every is not allowed"]),
        ("services: {web: {notify: [true], notify_flap: {changes: yes}}}",
         ["services.web.notify.0: must be a string",
          "services.web.notify_flap.changes: must be an integer"]),
        ("notify_flap: 5", ["notify_flap: must be a mapping"]),
    ],
)
def test_notify_key_errors_name_the_path(config: str, problems: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text(config, environ={})
    assert [str(p) for p in caught.value.problems] == problems


def test_too_many_urls() -> None:
    urls = ", ".join(f"'json://h/{i}'" for i in range(65))
    with pytest.raises(ConfigError, match="notify: at most 64 URLs"):
        load_project_text(f"notify: [{urls}]", environ={})
