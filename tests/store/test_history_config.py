"""``history:`` and ``store:`` in vigil.yaml: values, overrides, every problem named by its
path and value, and the normal form that loads back equal; the Health a restart restores
from stored results."""

from __future__ import annotations

import pytest

from vigil.compose.load import load_project_text
from vigil.compose.render import render_project
from vigil.core.config import DEFAULT_HISTORY_KEEP, DEFAULT_HISTORY_MAX_RESULTS, HistoryConfig
from vigil.core.events import ProbeCompleted, TargetRef
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.daemon.history import stored_health
from vigil.exceptions import ConfigError
from vigil.go.duration import HOUR, SECOND

DAY = 24 * HOUR


def _load(text: str):  # type: ignore[no-untyped-def]
    return load_project_text(text, environ={})


def test_daemon_wide_history_and_a_service_override() -> None:
    project = _load(
        "history: {keep: 30d, max_results: 100000}\n"
        "store: postgresql://vigil@127.0.0.1/test\n"
        "services:\n"
        "  web:\n"
        "    history: {max_results: 50}\n"
        "  db:\n"
        "    history: {keep: 1w2d12h}\n"
    )
    assert project.history == HistoryConfig(30 * DAY, 100_000)
    assert project.store == "postgresql://vigil@127.0.0.1/test"
    web = project.services["web"].history
    assert web == HistoryConfig(None, 50)
    assert web.over(project.history) == HistoryConfig(30 * DAY, 50)
    db = project.services["db"].history
    assert db == HistoryConfig(9 * DAY + 12 * HOUR, None)
    assert project.services.get("none") is None


def test_defaults_and_zero_means_no_limit() -> None:
    assert HistoryConfig().effective_keep == DEFAULT_HISTORY_KEEP
    assert HistoryConfig().effective_max_results == DEFAULT_HISTORY_MAX_RESULTS
    project = _load("history: {keep: 0, max_results: 0}\n")
    assert project.history.effective_keep == 0
    assert project.history.effective_max_results == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("history: 30d\n", "history: must be a mapping"),
        ("history: {keep: 30 days}\n", "history.keep:"),
        ("history: {keep: -1h}\n", "history.keep: must not be negative, not '-1h'"),
        ("history: {max_results: -1}\n",
         "history.max_results: must be a non-negative integer, not -1"),
        ("history: {max_results: true}\n",
         "history.max_results: must be a non-negative integer, not True"),
        ("history: {kep: 1d}\n", "history: Additional property kep is not allowed"),
        ("store: ''\n", "store: must be a non-empty string"),
        ("store: mysql://x\n", "store: unknown store scheme 'mysql'"),
        ("services:\n  web:\n    history: {keep: 1d, max: 3}\n",
         "services.web.history: Additional property max is not allowed"),
    ],
)
def test_problems_name_the_path_and_value(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(text)
    assert expected in str(caught.value)


def test_all_problems_are_collected() -> None:
    with pytest.raises(ConfigError) as caught:
        _load("history: {keep: x, max_results: y}\nstore: 3\n")
    text = str(caught.value)
    for path in ("history.keep", "history.max_results", "store"):
        assert f"{path}:" in text


def test_the_normal_form_loads_back_equal() -> None:
    project = _load(
        "history: {keep: 30d, max_results: 7}\nstore: sqlite:///var/lib/vigil/h.db\n"
        "services:\n  web:\n    history: {keep: 90m}\n"
    )
    for fmt in ("yaml", "json"):
        assert _load(render_project(project, fmt)) == project  # type: ignore[arg-type]


A = TargetRef("a" * 64, "a")


def _completed(t: int, code: int, status: HealthStatus, streak: int) -> ProbeCompleted:
    outcome = Outcome.PASS if code == 0 else Outcome.FAIL
    return ProbeCompleted(A, t, ProbeResult(t - 1, t, code, f"run {t}", outcome), status, streak)


def test_restored_health_is_a_stopped_services_with_the_last_five_results() -> None:
    results = [_completed(t * SECOND, 0, HealthStatus.HEALTHY, 0) for t in range(1, 6)]
    results.append(_completed(6 * SECOND, 1, HealthStatus.HEALTHY, 1))
    state = stored_health(results, started_at_ns=123)
    assert state is not None
    assert state.status is HealthStatus.UNHEALTHY  # moby CloseMonitorChannel: not running
    assert state.failing_streak == 1
    assert [r.output for r in state.log] == [f"run {t * SECOND}" for t in range(2, 7)]
    assert state.started_at == 123
    assert stored_health([], 0) is None
