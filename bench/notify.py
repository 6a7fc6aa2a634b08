"""What notifications cost: per probe on the event stream, per message delivered, at start-up.

    .venv/bin/python bench/notify.py                # ~15 s
    .venv/bin/python bench/notify.py --messages 400 --publishes 200000

1. **stream**: publishing ``ProbeCompleted`` events with the notify subscriber attached
   against the same stream without it (its filter keeps each target's last result at publish
   time): ns per publish, and the ratio.
2. **delivery**: messages through the dispatcher and real Apprise ``json://`` sends to a
   loopback server (4 destinations, one send each in flight), against a baseline of plain
   ``requests.post`` calls from 4 threads to the same server in the same run: messages/s
   and the ratio.
3. **start-up**: what checking one notify URL adds to ``vigil config`` / ``vigil up``
   (importing Apprise and its first parse), in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.notify.inbox import serve_inbox

from vigil.core.events import ProbeCompleted, TargetRef
from vigil.core.notify import FlapPolicy
from vigil.core.results import Outcome, ProbeResult
from vigil.core.status import HealthStatus
from vigil.notify import Message
from vigil.notify.apprise_notifier import AppriseNotifier
from vigil.notify.dispatch import Dispatcher
from vigil.notify.subscriber import Settings, StatusNotifier
from vigil.notify.threads import SendThreads
from vigil.runtime.clock import SystemClock
from vigil.runtime.stream import EventStream

DESTINATIONS = 4


def publish_ns(count: int, subscribed: bool) -> float:
    async def run() -> float:
        clock = SystemClock()
        stream = EventStream()
        notifier = None
        if subscribed:
            notifier = StatusNotifier(stream, clock, Dispatcher(lambda url: None, clock),  # type: ignore[arg-type, return-value]
                                      lambda target: Settings(("x",), FlapPolicy()))
            notifier.start()
        targets = [TargetRef(str(i), f"s{i}") for i in range(1000)]
        result = ProbeResult(0, 1, 0, "ok", Outcome.PASS)
        events = [ProbeCompleted(targets[i % 1000], i, result, HealthStatus.HEALTHY, 0)
                  for i in range(count)]
        start = time.perf_counter_ns()
        for event in events:
            stream.publish(event)
        elapsed = time.perf_counter_ns() - start
        if notifier is not None:
            await notifier.aclose()
        return elapsed / count

    return asyncio.run(run())


def delivery_rate(where: str, messages: int) -> float:
    async def run() -> float:
        clock = SystemClock()
        threads = SendThreads()
        dispatcher = Dispatcher(lambda url: AppriseNotifier(url, threads), clock)
        urls = [f"json://{where}/d{i}" for i in range(DESTINATIONS)]
        start = time.perf_counter()
        for i in range(messages // DESTINATIONS):
            dispatcher.send(urls, Message(f"m{i}", "body"))
        assert await dispatcher.drain(120 * 10**9)
        return messages / (time.perf_counter() - start)

    return asyncio.run(run())


def baseline_rate(where: str, messages: int) -> float:
    import requests

    def worker(path: str) -> None:
        with requests.Session() as session:
            for i in range(messages // DESTINATIONS):
                session.post(f"http://{where}/{path}", json={"title": f"m{i}"}, timeout=10)

    start = time.perf_counter()
    with ThreadPoolExecutor(DESTINATIONS) as pool:
        list(pool.map(worker, [f"b{i}" for i in range(DESTINATIONS)]))
    return messages / (time.perf_counter() - start)


def startup_ms() -> tuple[float, float]:
    code = ("import time; t=time.perf_counter(); import vigil.cli.main; b=time.perf_counter();"
            "from vigil.notify.urls import url_problems; url_problems(['json://h/x'], 'n');"
            "print((b-t)*1e3, (time.perf_counter()-b)*1e3)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--publishes", type=int, default=200_000)
    args = parser.parse_args()
    messages = max(DESTINATIONS, min(args.messages, 10_000))
    publishes = max(1000, min(args.publishes, 2_000_000))

    bare = publish_ns(publishes, False)
    with_notify = publish_ns(publishes, True)
    print(f"stream: {bare:.0f} ns/publish bare, {with_notify:.0f} with the notify subscriber "
          f"(+{with_notify - bare:.0f} ns per probe, ratio {bare / with_notify:.2f})")
    with serve_inbox() as (where, _):
        base = baseline_rate(where, messages)
        vigil = delivery_rate(where, messages)
        base2 = baseline_rate(where, messages)
    baseline = (base + base2) / 2
    print(f"delivery: {vigil:.0f} messages/s through Apprise, baseline requests.post "
          f"{baseline:.0f}/s (ratio {vigil / baseline:.2f})")
    cli_ms, check_ms = startup_ms()
    print(f"start-up: vigil.cli imports in {cli_ms:.0f} ms; checking the first notify URL "
          f"adds {check_ms:.0f} ms (Apprise import and parse)")


if __name__ == "__main__":
    main()
