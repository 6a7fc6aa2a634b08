"""The live stream over real HTTP (uvicorn on loopback): its framing, its bound on open
pages, and that shutdown ends it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from tests.web.harness import WebDaemon

from vigil.web import app as web_app

pytestmark = pytest.mark.slow


def events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """(event name, data) of each server-sent event."""
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_a_page_gets_a_snapshot_then_live_updates(web: WebDaemon) -> None:
    """Over HTTP: ``text/event-stream``, never cached, a snapshot, then the update a probe
    makes."""
    web.add("api", [0, 1], retries=1)
    with httpx.Client(base_url=web.url, timeout=30) as client, \
            client.stream("GET", "/api/live") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        received = events(stream.iter_lines())
        name, snapshot = next(received)
        assert name == "snapshot"
        assert [s["name"] for s in snapshot["services"]] == ["api"]  # type: ignore[index]
        web.run_for(2)
        healths = []
        while "unhealthy" not in healths:
            name, update = next(received)
            assert name == "update"
            healths += [s["health"] for s in update["services"]]  # type: ignore[index]
        assert healths[-1] == "unhealthy"


def test_open_pages_are_bounded(web: WebDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit a page is refused with 503 (its browser retries later); a page that
    closes frees its place."""
    monkeypatch.setattr(web_app, "MAX_LIVE", 1)
    with httpx.Client(base_url=web.url, timeout=30) as client, \
            httpx.Client(base_url=web.url, timeout=30) as other:  # a page each
        with client.stream("GET", "/api/live") as first:
            lines = first.iter_lines()  # kept: a dropped iterator closes the stream
            assert next(lines) == "retry: 2000"
            refused = other.get("/api/live")
            assert refused.status_code == 503
            assert refused.json() == {"message": "too many open status pages (at most 1)"}
        web.call(_all_left(web))
        with other.stream("GET", "/api/live") as again:
            assert again.status_code == 200


async def _all_left(web: WebDaemon) -> None:
    """Until the server has seen every page go (the client's close reaches it a moment
    later), bounded."""

    async def gone() -> None:
        # a plain set: nothing to wait on but itself
        while web.app.state.pages:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await asyncio.wait_for(gone(), 20)


def test_shutdown_ends_open_pages(web: WebDaemon) -> None:
    """Stopping the listener ends every live stream at once (the browser then reconnects),
    rather than waiting for them."""
    with httpx.Client(base_url=web.url, timeout=30) as client, \
            client.stream("GET", "/api/live") as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 2000"
        web.stop_server()
        rest = list(lines)  # it ends: a stream left open would raise ReadTimeout here
        assert "event: snapshot" in rest
