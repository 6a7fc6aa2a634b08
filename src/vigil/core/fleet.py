"""Fleet mode as plain values and pure decisions: the ``fleet:`` settings, the shared
``checks:`` and the lease rules every agent follows. Pure core: stdlib only, no clock (every
time is an argument, in nanoseconds).

The rules (``vigil.fleet`` applies them against PostgreSQL, whose clock alone decides when a
lease has expired):

- An agent renews all its leases in one statement every ``heartbeat_every(ttl)``. It may
  probe a check only until ``probe_deadline(sent, ttl)``: ``sent`` is when it sent its last
  successful renewal, on its own clock, which is before the server stamped the expiry, so
  the agent stops a margin before any other agent can take the lease over.
- Each check has one preferred owner among the live nodes that may run it (``assign``):
  rendezvous hashing with bounded loads, so every node gets its fair share and adding or
  removing a node moves little more than that node's share.
- ``plan`` says what an agent does on each heartbeat: claim the unowned or expired checks it
  prefers (and any left unowned for longer than a heartbeat, so differing views of the live
  set never strand a check), take over the checks their owner handed to it, and hand off
  the checks another live node now prefers (the owner keeps probing until the new owner's
  claim bumps the epoch: no gap, and an overlap of at most one renewal).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from vigil.core.config import HealthcheckConfig
from vigil.go.duration import SECOND

DEFAULT_LEASE_TTL = 10 * SECOND  # issue 11: --lease-ttl default
MIN_LEASE_TTL = 1 * SECOND  # a shorter lease would be renewed more often than a round trip
MAX_LEASE_TTL = 3600 * SECOND
HEARTBEATS_PER_TTL = 3  # renewals per TTL: two may fail before the lease is in danger
STOP_MARGIN_DIVISOR = 5  # stop probing a fifth of the TTL before the lease can expire
CHECK_PREFIX = "check/"  # a shared check's target name in the owning agent's engine


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """``fleet: {url:, node:, lease_ttl:}`` (or ``vigil up --fleet URL --node NAME
    --lease-ttl D``). ``node`` empty: the host name; ``lease_ttl`` 0: the default."""

    url: str = ""
    node: str = ""
    lease_ttl: int = 0  # ns

    @property
    def effective_lease_ttl(self) -> int:
        return self.lease_ttl or DEFAULT_LEASE_TTL


@dataclass(frozen=True, slots=True)
class SharedCheck:
    """One entry of the top-level ``checks:``: a network probe the fleet runs once, on one
    node at a time. ``placement`` empty means any node."""

    name: str
    healthcheck: HealthcheckConfig
    placement: tuple[str, ...] = ()

    def may_run_on(self, node: str) -> bool:
        return not self.placement or node in self.placement

    @property
    def target_name(self) -> str:
        return CHECK_PREFIX + self.name


def heartbeat_every(ttl: int) -> int:
    return ttl // HEARTBEATS_PER_TTL


def probe_deadline(renewal_sent: int, ttl: int) -> int:
    """Until when an agent whose last successful renewal was sent at ``renewal_sent`` may
    probe its checks (its own clock)."""
    return renewal_sent + ttl - ttl // STOP_MARGIN_DIVISOR


def _score(check: str, node: str) -> bytes:
    return hashlib.blake2b(f"{check}\x00{node}".encode(), digest_size=8).digest()


def preferred_node(check: SharedCheck, live: Collection[str]) -> str | None:
    """The live node that ranks highest for ``check`` (rendezvous hashing), or None when
    no live node may run it."""
    eligible = [node for node in live if check.may_run_on(node)]
    if not eligible:
        return None
    return max(eligible, key=lambda node: _score(check.name, node))


def assign(checks: Mapping[str, SharedCheck], live: Collection[str]) -> dict[str, str]:
    """Who should own each check: rendezvous hashing with bounded loads. Each check goes to
    the highest-ranked eligible node that has fewer than its fair share
    (``ceil(checks / live nodes)``); one with every eligible node full goes to its first.
    Every agent computes the same answer from the same inputs, and a node joining or
    leaving moves little more than its share."""
    nodes = sorted(set(live))
    if not nodes:
        return {}
    share = -(-len(checks) // len(nodes))
    load = dict.fromkeys(nodes, 0)
    owners: dict[str, str] = {}
    for name in sorted(checks, key=lambda n: (_score(n, ""), n)):  # a stable mixed order
        check = checks[name]
        ranked = sorted((node for node in nodes if check.may_run_on(node)),
                        key=lambda node: _score(name, node), reverse=True)
        if not ranked:
            continue
        chosen = next((node for node in ranked if load[node] < share), ranked[0])
        load[chosen] += 1
        owners[name] = chosen
    return owners


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """What an agent reads about one check's lease. ``expired_for`` is how long ago (ns, by
    the server's clock) the lease expired, or the check was defined if it was never owned:
    negative while a lease holds."""

    name: str
    owner: str | None
    expired_for: int
    handoff_to: str | None = None

    @property
    def free(self) -> bool:
        return self.owner is None or self.expired_for >= 0


@dataclass(frozen=True, slots=True)
class Plan:
    claim: tuple[str, ...] = ()  # unowned, expired, or handed to us
    hand_off: tuple[tuple[str, str], ...] = ()  # (check, to node): ours, another prefers it
    keep_handoff: tuple[str, ...] = ()  # ours, handed off earlier, still wanted elsewhere


def plan(
    me: str,
    checks: dict[str, SharedCheck],
    leases: list[LeaseRow],
    live: list[str],
    ttl: int,
    held: Collection[str],
    owners: Mapping[str, str] | None = None,
) -> Plan:
    """What ``me`` does on this heartbeat, given every check, its lease, the live nodes and
    the checks ``me`` holds and probes (a lease under its name it does not hold is a
    previous run's: it is claimed once it expires). ``owners`` is ``assign(checks, live)``
    when the caller keeps it between heartbeats."""
    live_nodes = sorted(set(live) | {me})
    if owners is None:
        owners = assign(checks, live_nodes)
    grace = heartbeat_every(ttl)
    claim: list[str] = []
    hand_off: list[tuple[str, str]] = []
    keep: list[str] = []
    for row in leases:
        check = checks.get(row.name)
        if check is None or not check.may_run_on(me):
            continue
        wanted = owners.get(row.name)
        if row.name in held:
            if wanted is not None and wanted != me:
                (keep.append(row.name) if row.handoff_to == wanted
                 else hand_off.append((row.name, wanted)))
        elif row.free:
            stranded = row.expired_for >= grace
            if wanted == me or stranded:
                claim.append(row.name)
        elif row.handoff_to == me:
            claim.append(row.name)
    return Plan(tuple(claim), tuple(hand_off), tuple(keep))


__all__ = [
    "CHECK_PREFIX",
    "DEFAULT_LEASE_TTL",
    "FleetConfig",
    "LeaseRow",
    "Plan",
    "SharedCheck",
    "assign",
    "heartbeat_every",
    "plan",
    "preferred_node",
    "probe_deadline",
]
