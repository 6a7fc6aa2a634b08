"""What the page shows, as plain JSON data: a service's summary, its results and events, the
overview and one service's history.

Only what a status page needs leaves here: names, states, health, probe results (output
included: the page escapes it) and the times and intervals of the check. Never the command,
the healthcheck test, the environment, the user or anything else of the config, which may
carry secrets. Times are Unix milliseconds (what JavaScript's ``Date`` takes).

Store reads may block on a durable backend: they run in a worker thread. ``MemoryStore`` is
the exception: it is in memory (fast) and its ring is appended to by the loop, so reading it
from another thread could see it change mid-iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from vigil.core.events import ProbeCompleted, TargetEvent
from vigil.core.results import ProbeResult
from vigil.daemon.manager import Manager
from vigil.docker.events import project
from vigil.docker.services import ServiceView
from vigil.go.duration import HOUR, format_duration
from vigil.store import StateStore
from vigil.store.memory import MemoryStore

T = TypeVar("T")
Json = dict[str, Any]

DAY_NS = 24 * HOUR
WEEK_NS = 7 * DAY_NS
RANGES = {"1h": HOUR, "24h": DAY_NS, "7d": WEEK_NS}  # the service page's chart spans
DEFAULT_RANGE = "24h"
STRIP_RESULTS = 30  # results in an overview row's strip
CHART_POINTS = 2000  # newest results drawn on a service's chart
TABLE_RESULTS = 50  # newest results listed with their output
EVENT_ROWS = 200  # newest events listed on a service page
# StateStore has no per-target event query: the events listed are read from every target's
# events over at most a day (a week of a thousand services probed each second is 600M rows).
EVENT_SPAN_NS = DAY_NS
_MS = 1_000_000


async def in_store(store: StateStore, read: Callable[..., T], *args: Any) -> T:
    """``read(*args)`` off the loop (a durable store may block), in place for MemoryStore."""
    if isinstance(store, MemoryStore):
        return read(*args)
    return await asyncio.to_thread(read, *args)


def result_json(result: ProbeResult, *, output: bool = True) -> Json:
    """One probe result; without ``output`` for the strips and chart (up to 4 KiB each)."""
    item: Json = {
        "start": result.start // _MS,
        "duration_ms": round((result.end - result.start) / _MS, 3),
        "exit_code": result.exit_code,
        "outcome": result.outcome.value,
        "ok": result.passed,
    }
    if output:
        item["output"] = result.output
    return item


def summary(view: ServiceView) -> Json:
    """A service's row: process state, health, streak, the last result and its check's timing."""
    health = view.shown_health
    last = health.log[-1] if health is not None and health.log else None
    check = view.config.healthcheck
    return {
        "id": view.id,
        "name": view.name,
        "state": view.status,
        "health": "none" if health is None else health.status.value,
        "failing_streak": 0 if health is None else health.failing_streak,
        "exit_code": view.exit_code,
        "restart_count": view.restart_count,
        "started_at": view.started_at_ns // _MS,
        "error": view.error,
        "check": None if check is None or not check.runs_probe else {
            "interval": format_duration(check.effective_interval),
            "timeout": format_duration(check.effective_timeout),
            "start_period": format_duration(check.effective_start_period),
            "retries": check.failure_threshold,
        },
        "last": None if last is None else result_json(last),
    }


def event_json(event: TargetEvent) -> Json | None:
    """An event as Docker's ``vigil events`` shows it (action and attributes), or None when
    Docker shows none. Per-probe events are left out too: results carry them."""
    shown = project(event)
    if shown is None or shown.action == "health_probe":
        return None
    return {
        "id": event.target.id,
        "name": event.target.name,
        "time": event.time_ns // _MS,
        "action": shown.action,
        "attributes": {key: value for key, value in shown.attributes if key != "name"},
    }


def _uptime(store: StateStore, target_id: str, now_ns: int) -> Json:
    day = store.result_counts(target_id, now_ns - DAY_NS, now_ns)
    week = store.result_counts(target_id, now_ns - WEEK_NS, now_ns)
    return {"day": list(day), "week": list(week)}


def _overview_rows(store: StateStore, views: list[ServiceView], now_ns: int) -> list[Json]:
    rows = []
    for view in views:
        row = summary(view)
        row["uptime"] = _uptime(store, view.id, now_ns)
        recent = store.results(view.id, now_ns - WEEK_NS, now_ns, STRIP_RESULTS)
        row["recent"] = [result_json(e.result, output=False) for e in recent]
        rows.append(row)
    return rows


def _ring_rows(store: MemoryStore, views: list[ServiceView], now_ns: int) -> list[Json]:
    """``_overview_rows`` in one pass over the ring: a query per service would scan it three
    times per service, seconds of a blocked loop for a thousand of them."""
    found: dict[str, list[ProbeCompleted]] = {view.id: [] for view in views}
    for event in store.events(now_ns - WEEK_NS, now_ns):
        if isinstance(event, ProbeCompleted) and (mine := found.get(event.target.id)) is not None:
            mine.append(event)
    rows = []
    for view in views:
        results = found[view.id]
        day = [e for e in results if e.time_ns >= now_ns - DAY_NS]
        row = summary(view)
        row["uptime"] = {"day": [sum(e.result.passed for e in day), len(day)],
                         "week": [sum(e.result.passed for e in results), len(results)]}
        row["recent"] = [result_json(e.result, output=False) for e in results[-STRIP_RESULTS:]]
        rows.append(row)
    return rows


async def overview(manager: Manager) -> Json:
    """Every service with its uptime over a day and a week and its strip of recent results."""
    now_ns = manager.clock.now_ns()
    store = manager.engine.store
    if isinstance(store, MemoryStore):
        rows = _ring_rows(store, manager.views(), now_ns)
    else:
        rows = await asyncio.to_thread(_overview_rows, store, manager.views(), now_ns)
    return {"now": now_ns // _MS, "services": rows}


def _history(store: StateStore, view: ServiceView, since_ns: int, now_ns: int) -> Json:
    found = store.results(view.id, since_ns, now_ns, CHART_POINTS)
    points = [result_json(e.result, output=False) for e in found]
    table = [result_json(e.result) for e in found[-TABLE_RESULTS:]]
    events = [
        shown
        for event in store.events(max(since_ns, now_ns - EVENT_SPAN_NS), now_ns)
        if event.target.id == view.id and not isinstance(event, ProbeCompleted)
        and (shown := event_json(event)) is not None
    ]
    return {"points": points, "results": table[::-1], "events": events[-EVENT_ROWS:][::-1]}


async def service_history(manager: Manager, ref: str, span: str) -> Json:
    """One service: its summary and uptime, its results over ``span`` (a key of ``RANGES``)
    for the chart, the newest results with output, and its events, newest first."""
    view = manager.view(ref)  # NotFoundError for an unknown one
    now_ns = manager.clock.now_ns()
    store = manager.engine.store
    since_ns = now_ns - RANGES[span]
    detail = summary(view)
    detail["uptime"] = await in_store(store, _uptime, store, view.id, now_ns)
    history = await in_store(store, _history, store, view, since_ns, now_ns)
    return {"now": now_ns // _MS, "range": span, "since": since_ns // _MS,
            "events_since": max(since_ns, now_ns - EVENT_SPAN_NS) // _MS,
            "service": detail, **history}
