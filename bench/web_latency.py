"""How long from a health change in the daemon to the open status page showing it.

One daemon (real Manager and Engine, scripted probes on a FakeClock, the real page served by
uvicorn on loopback) and Debian's chromium through Playwright. A service flips between healthy
and unhealthy at each probe; for each flip the bench notes the wall time just before the
probe runs, and the page notes (a MutationObserver) when the service's row changes. The
baseline, measured in the same run and browser: a bare page whose EventSource sets one
attribute per message pushed by a bare SSE endpoint on the same loop (the floor that
browser, SSE and loopback give).

    .venv/bin/python bench/web_latency.py [--flips 50] [--services 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Page, sync_playwright
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, StreamingResponse
from starlette.routing import Route

from vigil.api.server import bind_tcp
from vigil.core.config import HealthcheckConfig, ServiceConfig
from vigil.daemon.manager import Manager
from vigil.go.duration import SECOND
from vigil.runtime.engine import Engine
from vigil.testing import FakeClock, ScriptedProbe
from vigil.web import create_web_app
from vigil.web.serve import serve_web

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 30_000
OBSERVE = """
window.__seen = [];
let last = document.querySelector("article.service[data-id='%s']").dataset.health;
new MutationObserver(() => {
  const row = document.querySelector("article.service[data-id='%s']");
  if (row && row.dataset.health !== last) {
    last = row.dataset.health;
    window.__seen.push(performance.timeOrigin + performance.now());
  }
}).observe(document.querySelector("main"), {subtree: true, childList: true,
                                            attributes: true, attributeFilter: ["data-health"]});
"""
BASELINE_PAGE = """<!doctype html><body data-n="0"><script>
window.__seen = [];
new EventSource("/sse").addEventListener("message", () => {
  document.body.dataset.n = String(Number(document.body.dataset.n) + 1);
  window.__seen.push(performance.timeOrigin + performance.now());
});
</script></body>"""


class Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(60)


servers: list[asyncio.Future[None]] = []


def serve(runner: Loop, app: Any) -> tuple[str, asyncio.Event]:
    sock = bind_tcp("127.0.0.1", 0)
    stop = asyncio.Event()

    async def start() -> None:
        ready = asyncio.Event()
        servers.append(asyncio.ensure_future(
            serve_web(app, sock, tls=None, ready=ready.set, stop=stop)))
        await ready.wait()

    runner.call(start())
    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def baseline_app(queue: asyncio.Queue[None]) -> Starlette:
    async def events() -> AsyncGenerator[bytes, None]:
        while True:
            await queue.get()
            yield b"data: x\n\n"

    async def sse(request: Any) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream")

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse(BASELINE_PAGE)

    return Starlette(routes=[Route("/", page), Route("/sse", sse)])


def measure(page: Page, flips: int, trigger: Any) -> list[float]:
    """Latencies (ms) of ``flips`` changes, one at a time: ``trigger()`` returns the wall
    time (ms) just before it made the change."""
    latencies = []
    for i in range(flips):
        started = trigger()
        page.wait_for_function(f"window.__seen.length >= {i + 1}", timeout=WAIT_MS)
        latencies.append(page.evaluate(f"window.__seen[{i}]") - started)
    return latencies


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"{name:<34} p50 {statistics.median(values):7.2f} ms   p95 {p95:7.2f} ms   "
            f"max {max(values):7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flips", type=int, default=50)
    parser.add_argument("--services", type=int, default=20, help="services on the page")
    args = parser.parse_args()
    runner = Loop()
    clock = FakeClock()

    async def build() -> tuple[Manager, str]:
        engine = Engine(clock=clock, probe_builder=lambda spec, ref: ScriptedProbe(
            [0, 1] * 10_000 if ref.name == "flipper" else [0]))
        manager = Manager(clock=clock, engine=engine,
                          log_dir=Path(tempfile.mkdtemp(prefix="vigil-bench-web-")))
        check = HealthcheckConfig(test=("CMD", "true"), interval=SECOND, retries=1)
        names = ["flipper"] + [f"other-{i}" for i in range(args.services - 1)]
        for name in names:
            manager.create(ServiceConfig(name, healthcheck=check))
            await manager.start(name)
        await clock.run_for(SECOND // 2)
        return manager, manager.lookup("flipper").id

    manager, flipper = runner.call(build())
    url, stop = serve(runner, create_web_app(manager, token="x" * 32, hosts=["127.0.0.1"]))
    queue: asyncio.Queue[None] = asyncio.Queue()
    base_url, base_stop = serve(runner, baseline_app(queue))

    def flip() -> float:
        async def one() -> float:
            started = time.time() * 1000
            await clock.run_for(SECOND)  # one probe: healthy <-> unhealthy
            return started

        return runner.call(one())

    def push() -> float:
        started = time.time() * 1000
        runner.loop.call_soon_threadsafe(queue.put_nowait, None)
        return started

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_context(bypass_csp=True).new_page()  # wait_for_function evals
        page.goto(base_url + "/")
        page.wait_for_function("document.readyState === 'complete'")
        measure(page, 3, push)  # warm-up, the EventSource connected
        page.goto(base_url + "/")
        page.wait_for_timeout(200)  # the bench may wait: a bench, not a test
        baseline = measure(page, args.flips, push)
        page.goto(url + "/")
        page.wait_for_selector(f"article.service[data-id='{flipper}']", timeout=WAIT_MS)
        page.evaluate(OBSERVE % (flipper, flipper))
        vigil = measure(page, args.flips, flip)
        browser.close()
    runner.call(_stop(stop, base_stop, manager))
    print(f"{args.flips} flips, {args.services} services on the page, chromium headless")
    print(summary("baseline (bare SSE -> attribute)", baseline))
    print(summary("vigil (probe -> row on the page)", vigil))
    print(f"ratio p50 vigil/baseline: {statistics.median(vigil) / statistics.median(baseline):.2f}")


async def _stop(stop: asyncio.Event, base_stop: asyncio.Event, manager: Manager) -> None:
    stop.set()
    base_stop.set()
    await manager.down()
    await manager.engine.aclose()


if __name__ == "__main__":
    main()
