"""A share of the daemon for its API, so that probes keep their schedule under any API load.

Every request costs the event loop, and the machine: a client that gets its answer at once
asks again at once, and its own CPU competes with the probes'. Each ``Lane`` is a token
bucket of *estimated* loop time, refilled at ``share`` of the wall clock and holding at most
``burst_ns``: a burst (one ``ps`` of 10,000 services, a few commands) runs at full speed;
sustained hammering is held to the share, its requests waiting their turn, in arrival order,
before any work is done for them.

Two lanes, so that greedy clients of one kind cannot starve the other (bench/api_load.py):
**small** requests (ping, inspect, start/stop, a live stream's start...) and **bulk** ones (a
``ps`` list, an event replay: their cost grows with services or events). A polite client's
small request waits at most for the small requests already queued (one per greedy
connection), never behind a bulk one.

The bulk share shrinks while the probes are late: ``ApiBudget.watch`` checks every
``LAG_PERIOD_NS`` how late a loop timer fires; more than ``LAG_LIMIT_NS`` late halves the
bulk lane's refill (down to ``MIN_SCALE``), on time gives back ``SCALE_STEP`` (up to 1):
when the machine is short of CPU, bulk answers wait and their clients, idle, give the CPU
back (a replay costs its reader several times what it costs the daemon). The small lane
keeps its share: its requests are cheap, and a polite client's answer must not wait.

Costs are estimates measured with ``bench/api_load.py`` (``SMALL_COST_NS``, ``PER_*_NS``):
daemon CPU per request beyond its idle load. Waiting is on the injected clock; a cancelled
waiter (client gone) takes nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from vigil.runtime.clock import Cancellable, Clock

SMALL_COST_NS = 250_000  # uvicorn, FastAPI and a cached answer: ping, inspect (0.24-0.26 ms)
PER_SERVICE_NS = 2_500  # a ``ps`` list item, its view, its share of the write (1.4 us measured)
PER_EVENT_NS = 1_500  # a replayed event: projection and line cached, filter, write (1.4 us)
# Of one core, sustained, per lane; the probe path needs 0.3-0.45 of one at 1,000 probes/s.
SMALL_SHARE = 0.1
BULK_SHARE = 0.15
DEFAULT_BURST_NS = 200_000_000
LAG_PERIOD_NS = 20_000_000
LAG_LIMIT_NS = 5_000_000  # a loop this late also starts probes this late
MIN_SCALE = 0.05
SCALE_STEP = 0.05

_BULK_PATHS = frozenset({"/services/json", "/metrics"})
Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


class Lane:
    """A token bucket of loop time with a FIFO of waiters. Use from the loop's thread."""

    def __init__(self, clock: Clock, share: float, burst_ns: int = DEFAULT_BURST_NS) -> None:
        if not 0 < share <= 1 or burst_ns <= 0:
            raise ValueError("share must be in (0, 1] and burst_ns positive")
        self._clock = clock
        self._share = share
        self._burst = float(burst_ns)
        self._tokens = float(burst_ns)
        self._at = clock.now_ns()
        self._waiters: deque[tuple[asyncio.Future[None], int]] = deque()
        self._timer: Cancellable | None = None
        self.scale = 1.0  # of the share, set by ``ApiBudget.watch``

    @property
    def tokens_ns(self) -> float:
        """Estimated loop time left to spend now (negative: in debt)."""
        self._refill()
        return self._tokens

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def take(self, cost_ns: int) -> None:
        """Return once ``cost_ns`` may be spent: at once while the bucket is not in debt and
        nobody waits, else in turn once the refill has paid the debt off."""
        self._refill()
        if not self._waiters and self._tokens >= 0:
            self._tokens -= cost_ns
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (waiter, cost_ns)
        self._waiters.append(entry)
        self._arm()
        try:
            await waiter
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif not waiter.cancelled():
                self._tokens += cost_ns  # granted, then cancelled: nothing was spent
            raise

    def set_scale(self, scale: float) -> None:
        """Refill at ``scale`` times the share from now on."""
        self._refill()  # what was earned so far, at the old scale
        self.scale = scale

    def _refill(self) -> None:
        now = self._clock.now_ns()
        refill = (now - self._at) * self._share * self.scale
        self._tokens = min(self._burst, self._tokens + refill)
        self._at = now

    def _release(self) -> None:
        self._timer = None
        self._refill()
        while self._waiters and self._tokens >= 0:
            waiter, cost = self._waiters.popleft()
            if not waiter.done():
                self._tokens -= cost
                waiter.set_result(None)
        self._arm()

    def _arm(self) -> None:
        """A timer for when the debt will be paid off, while anyone waits."""
        if self._timer is None and self._waiters:
            delay = 0 if self._tokens >= 0 else int(-self._tokens / self._share / self.scale) + 1
            self._timer = self._clock.call_later_ns(delay, self._release)


class ApiBudget:
    """The daemon's two lanes (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        *,
        small_share: float = SMALL_SHARE,
        bulk_share: float = BULK_SHARE,
        burst_ns: int = DEFAULT_BURST_NS,
    ) -> None:
        self.small = Lane(clock, small_share, burst_ns)
        self.bulk = Lane(clock, bulk_share, burst_ns)
        self._clock = clock
        self._watch: Cancellable | None = None

    @property
    def scale(self) -> float:
        """Of the bulk lane's share, now."""
        return self.bulk.scale

    def watch(self) -> None:
        """Start adjusting the shares to the loop's lateness (see the module docstring)."""
        if self._watch is None:
            self._watch_from(self._clock.now_ns())

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _watch_from(self, now_ns: int) -> None:
        due = now_ns + LAG_PERIOD_NS
        self._watch = self._clock.call_later_ns(LAG_PERIOD_NS, lambda: self._tick(due))

    def _tick(self, due_ns: int) -> None:
        now = self._clock.now_ns()
        late = now - due_ns > LAG_LIMIT_NS
        scale = max(MIN_SCALE, self.scale / 2) if late else min(1.0, self.scale + SCALE_STEP)
        self.bulk.set_scale(scale)
        self._watch_from(now)


class Budgeted:
    """ASGI middleware: each HTTP request takes ``SMALL_COST_NS`` of ``budget`` before it
    runs, in the small lane, or in the bulk lane for the routes whose cost grows with the
    daemon's size (their handlers take the rest of their cost themselves)."""

    def __init__(self, app: Asgi, budget: ApiBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            bulk = scope.get("path") in _BULK_PATHS or _is_replay(scope)
            await (self.budget.bulk if bulk else self.budget.small).take(SMALL_COST_NS)
        await self.app(scope, receive, send)


async def spend(state: object, cost_ns: int) -> None:
    """Take a bulk route's own cost from the app's budget (``app.state.budget``), if any."""
    budget = getattr(state, "budget", None)
    if isinstance(budget, ApiBudget) and cost_ns > 0:
        await budget.bulk.take(cost_ns)


def _is_replay(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return scope.get("path") == "/events" and (b"since=" in query or b"until=" in query)
