"""One node's part in the fleet: its heartbeat, its leases and the shared checks it probes.

Every ``heartbeat_every(ttl)`` the agent heartbeats, renews all its leases and reads the
fleet in one transaction (``FleetDb.heartbeat``), then acts on ``vigil.core.fleet.plan``:
claims, hand-offs. A check it holds is a target ``check/<name>`` of the daemon's engine, so
its events, history, metrics, notifications and page are every other target's.

Safety does not depend on the database answering: a timer on the agent's own clock stops
every probe at ``probe_deadline`` (a margin before the lease can expire by the server's
clock) unless a renewal got through. A lease found lost (not renewed, or a health write
refused for a stale epoch) stops its probe at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from vigil.compose.fleet import shared_check_to_dict
from vigil.compose.project import parse_shared_check
from vigil.core.config import ServiceConfig
from vigil.core.events import ProbeCompleted, StatusChanged, TargetEvent
from vigil.core.fleet import (
    CHECK_PREFIX,
    FleetConfig,
    SharedCheck,
    assign,
    heartbeat_every,
    plan,
    probe_deadline,
)
from vigil.core.health import HealthState, next_delay, start
from vigil.core.netspec import NET_TYPES
from vigil.docker.services import ServiceView
from vigil.exceptions import ConfigError, StoreError
from vigil.fleet.codec import decode_health, encode_health
from vigil.fleet.db import Claimed, FleetBusy, FleetDb, Overview
from vigil.runtime.clock import Cancellable, wait_for_event
from vigil.runtime.engine import Engine

_log = logging.getLogger("vigil")
T = TypeVar("T")
FLUSH_NS = 500_000_000  # health writes are batched this long, unless the status changed
JOIN_BACKOFF_NS = 100_000_000  # the first retry of a join step that failed transiently
JOIN_BACKOFF_MAX_NS = 5_000_000_000  # ... doubling up to this


class FleetAgent:
    """See the module docstring. ``start`` joins (StoreError when the database cannot be
    reached or a live agent already uses the node name); ``aclose`` leaves cleanly: probes
    stop, the last health is written, the leases are released for others to claim."""

    def __init__(self, engine: Engine, config: FleetConfig, checks: Mapping[str, SharedCheck],
                 *, node: str, address: str = "", version: str = "") -> None:
        self.engine = engine
        self.node = node
        self.ttl = config.effective_lease_ttl
        self.period = heartbeat_every(self.ttl)
        io_timeout = self.period / 1e9
        self._lease_db = FleetDb(config.url, io_timeout_s=io_timeout)
        self._write_db = FleetDb(config.url, io_timeout_s=io_timeout)
        self.schema = self._lease_db.schema
        self._mine = dict(checks)
        self._address, self._version = address, version
        self.incarnation = secrets.token_hex(8)
        self.checks: dict[str, SharedCheck] = {}  # every valid check in the database
        self._revisions: dict[str, int] = {}
        self._bad: set[tuple[str, int]] = set()  # (name, revision) already reported invalid
        self.held: dict[str, int] = {}  # check → epoch of the lease we hold and probe
        self._dirty: dict[str, HealthState] = {}
        self._flush = asyncio.Event()
        self._deadline: Cancellable | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._outage = False
        self.refused = 0  # health writes refused as stale (fencing)
        self._assigned: tuple[object, dict[str, str]] | None = None
        self._since: dict[str, int] = {}  # check → when this agent took it (ns)
        self._views: dict[str, ServiceView] = {}

    # -- joining and leaving ---------------------------------------------------------------

    async def start(self) -> None:
        specs = {name: shared_check_to_dict(check) for name, check in self._mine.items()}
        db = self._lease_db
        try:
            await self._joining(db.migrate)
            await self._joining(db.define, specs)
            if not await self._joining(db.register, self.node, self.incarnation, self.ttl,
                                       self._address, self._version):
                raise StoreError(f"fleet: node {self.node!r} is already live (another agent "
                                 "heartbeats under that name): pick another --node")
        except BaseException:
            db.close()
            raise
        _log.info("fleet: joined as node %s (lease TTL %ss, schema %s)",
                  self.node, self.ttl / 1e9, self.schema)
        self._unsubscribe = self.engine.subscribe(self._on_event)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._heartbeats(), name="vigil-fleet-heartbeat"),
                       loop.create_task(self._writes(), name="vigil-fleet-writer")]

    async def _joining(self, function: Callable[..., T], *args: Any) -> T:
        """One step of joining, tried again after a transient failure (agents starting
        together contend for the same rows; the connection may drop): one line is logged,
        then it is retried with a back-off of at most ``JOIN_BACKOFF_MAX_NS``, never given
        up. Any other failure (a newer schema, no rights) ends the start."""
        delay, logged = JOIN_BACKOFF_NS, False
        while True:
            try:
                return await self._call(function, *args)
            except FleetBusy as e:
                if not logged:
                    _log.warning("fleet: joining the fleet failed, retrying: %s", e)
                    logged = True
                await self.engine.clock.sleep_ns(delay)
                delay = min(delay * 2, JOIN_BACKOFF_MAX_NS)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._deadline is not None:
            self._deadline.cancel()
        held = dict(self.held)
        final = {name: (epoch, encode_health(self.engine.health(CHECK_PREFIX + name)))
                 for name, epoch in held.items()}
        await self._drop(list(held), "leaving the fleet")
        try:
            await self._call(self._write_db.write_health, self.node, final)
            await self._call(self._lease_db.leave, self.node, self.incarnation, held)
        except StoreError as e:
            _log.error("fleet: could not release %d leases (they expire in %ss): %s",
                       len(held), self.ttl / 1e9, e)
        finally:
            self._lease_db.close()
            self._write_db.close()

    # -- the heartbeat ---------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        clock = self.engine.clock
        while True:
            sent = clock.now_ns()
            try:
                await self._beat(sent)
                if self._outage:
                    _log.warning("fleet: the database answers again")
                self._outage = False
            except Exception as e:  # the database's, or a bug: the heartbeat goes on
                if not isinstance(e, StoreError):
                    _log.exception("fleet: heartbeat failed")
                elif not self._outage:
                    _log.error("fleet: heartbeat failed (probes stop %ss after the last "
                               "renewal unless one gets through): %s",
                               (self.ttl - self.ttl // 5) / 1e9, e)
                self._outage = True
            await clock.sleep_ns(max(sent + self.period - clock.now_ns(), 0))

    async def _beat(self, sent: int) -> None:
        held = dict(self.held)
        overview = await self._call(self._lease_db.heartbeat, self.node, self.incarnation,
                                    held, self.ttl)
        if overview is None:
            _log.error("fleet: node %s was taken over by another agent; re-joining",
                       self.node)
            await self._drop(list(self.held), "the node name was taken over")
            self.incarnation = secrets.token_hex(8)
            await self._call(self._lease_db.register, self.node, self.incarnation, self.ttl,
                             self._address, self._version)
            return
        lost = [name for name, epoch in held.items()
                if name not in overview.renewed and self.held.get(name) == epoch]
        await self._drop(lost, "its lease was taken over")
        if self.held:
            self._arm(probe_deadline(sent, self.ttl))
        await self._refresh(overview)
        decided = plan(self.node, self.checks, overview.leases, overview.live, self.ttl,
                       self.held, self._owners(overview.live))
        if decided.claim:
            claimed = await self._call(self._lease_db.claim, self.node, list(decided.claim),
                                       self.ttl)
            for claim in claimed:
                self._adopt(claim)
            if claimed:
                self._arm(probe_deadline(sent, self.ttl))
        moves = {name: (self.held[name], to) for name, to in decided.hand_off
                 if name in self.held}
        await self._call(self._lease_db.hand_off, self.node, moves)

    def _owners(self, live: list[str]) -> dict[str, str]:
        """``assign``, recomputed only when the live nodes or the checks change."""
        key = (tuple(sorted({*live, self.node})), tuple(sorted(self.checks.items())))
        if self._assigned is None or self._assigned[0] != key:
            self._assigned = (key, assign(self.checks, key[0]))
        return self._assigned[1]

    async def _refresh(self, overview: Overview) -> None:
        """Read the specs that are new or changed; a spec that is not a valid network check
        is never run (another node may have written anything)."""
        stale = [name for name, rev in overview.revisions.items()
                 if self._revisions.get(name) != rev and (name, rev) not in self._bad]
        for name in set(self.checks) - set(overview.revisions):
            del self.checks[name]
        if not stale:
            return
        for name, (revision, spec) in (await self._call(self._lease_db.specs, stale)).items():
            try:
                check = parse_shared_check(name, spec, path=f"checks.{name}")
                if not check.healthcheck.test or check.healthcheck.test[0] not in NET_TYPES:
                    raise ConfigError(f"checks.{name}: not a network probe")
            except ConfigError as e:
                self._bad.add((name, revision))
                self.checks.pop(name, None)
                _log.error("fleet: shared check %s in the database is invalid and is not "
                           "run: %s", name, e)
                await self._release(name, "its definition is invalid")
                continue
            changed = name in self.checks and self.checks[name] != check
            self.checks[name] = check
            self._revisions[name] = revision
            if changed:  # released: probed with the new spec from the next claim
                await self._release(name, "its definition changed")

    async def _release(self, name: str, why: str) -> None:
        epoch = self.held.get(name)
        if epoch is not None:
            await self._drop([name], why)
            await self._call(self._lease_db.release, self.node, {name: epoch})

    # -- holding checks --------------------------------------------------------------------

    def _adopt(self, claim: Claimed) -> None:
        check = self.checks.get(claim.name)
        if check is None:
            return
        engine, target = self.engine, check.target_name
        if target in set(engine.names()):
            return
        health = decode_health(claim.health) if claim.health is not None else None
        if claim.health is not None and health is None:
            _log.error("fleet: stored health of check %s is malformed; starting afresh",
                       claim.name)
        now = engine.clock.now_ns()
        state = health or start(HealthState(), claim.first_started_ns)
        due = next_delay(state, check.healthcheck, now)
        if state.log:  # keep the previous owner's schedule: probe when the next was due
            due = state.log[-1].start + due - now
        self.held[claim.name] = claim.epoch
        self._since[claim.name] = now
        self._views.pop(claim.name, None)
        engine.add(target, check.healthcheck)
        engine.adopt(target, state, first_delay_ns=max(due, 0))
        _log.info("fleet: probing check %s (epoch %d)", claim.name, claim.epoch)

    async def _drop(self, names: list[str], why: str) -> None:
        for name in names:
            if self.held.pop(name, None) is None:
                continue
            self._dirty.pop(name, None)
            target = CHECK_PREFIX + name
            if target in set(self.engine.names()):
                _log.warning("fleet: stopped probing check %s: %s", name, why)
                await self.engine.remove(target)

    def views(self) -> list[ServiceView]:
        """The checks this agent probes, as ``vigil ps`` and the page show services: running
        since it took the check, with their health (a view is reused while it is the same)."""
        shown: list[ServiceView] = []
        present = set(self.engine.names())  # once per call: the publisher calls this often
        for name in self.held:
            target, check = CHECK_PREFIX + name, self.checks.get(name)
            if check is None or target not in present:
                continue
            health = self.engine.health(target)
            cached = self._views.get(name)
            if cached is None or cached.health is not health:
                since, ref = self._since.get(name, 0), self.engine.ref(target)
                cached = ServiceView(
                    id=ref.id, config=ServiceConfig(name=target, healthcheck=check.healthcheck),
                    created_ns=since, status="running", started_at_ns=since, health=health)
                self._views[name] = cached
            shown.append(cached)
        return shown

    def _arm(self, deadline: int) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        clock = self.engine.clock
        self._deadline = clock.call_later_ns(deadline - clock.now_ns(), self._expired)

    def _expired(self) -> None:
        """No renewal got through in time: stop probing before anyone may take over."""
        self._deadline = None
        if not self.held:
            return
        names = list(self.held)
        _log.error("fleet: leases not renewed in time: stopped probing %d checks",
                   len(names))
        for name in names:  # the monitors are cancelled now, before any await
            self.held.pop(name, None)
            self._dirty.pop(name, None)
            task = asyncio.get_running_loop().create_task(self._remove(CHECK_PREFIX + name))
            self._tasks.append(task)

    async def _remove(self, target: str) -> None:
        if target in set(self.engine.names()):
            await self.engine.remove(target)

    # -- health writes ---------------------------------------------------------------------

    def _on_event(self, event: TargetEvent) -> None:
        if not isinstance(event, ProbeCompleted | StatusChanged):
            return
        name = event.target.name
        if not name.startswith(CHECK_PREFIX) or name[len(CHECK_PREFIX):] not in self.held:
            return
        try:
            self._dirty[name[len(CHECK_PREFIX):]] = self.engine.health(name)
        except KeyError:  # removed meanwhile
            return
        if isinstance(event, StatusChanged):
            self._flush.set()

    async def _writes(self) -> None:
        while True:
            await wait_for_event(self.engine.clock, self._flush, FLUSH_NS)
            self._flush.clear()
            batch = {name: (self.held[name], encode_health(state))
                     for name, state in self._dirty.items() if name in self.held}
            self._dirty.clear()
            if not batch:
                continue
            try:
                refused = await self._call(self._write_db.write_health, self.node, batch)
            except StoreError as e:
                _log.error("fleet: health of %d checks not written: %s", len(batch), e)
                continue
            stale = [n for n in refused if self.held.get(n) == batch[n][0]]
            self.refused += len(refused)
            if refused:
                _log.warning("fleet: write refused, stale epoch: %s", " ".join(sorted(refused)))
            await self._drop(stale, "a newer owner holds its lease (write refused)")

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(function, *args)


__all__ = ["FleetAgent"]
