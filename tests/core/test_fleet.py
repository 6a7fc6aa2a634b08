"""The lease rules of fleet mode, pure: who prefers which check, what an agent claims, hands
off and keeps, and until when it may probe."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from vigil.core.config import HealthcheckConfig
from vigil.core.fleet import (
    DEFAULT_LEASE_TTL,
    FleetConfig,
    LeaseRow,
    SharedCheck,
    assign,
    heartbeat_every,
    plan,
    preferred_node,
    probe_deadline,
)
from vigil.go.duration import SECOND

TTL = 10 * SECOND
CHECK = HealthcheckConfig(test=("TCP", "127.0.0.1:80"))


def _checks(n: int, placement: tuple[str, ...] = ()) -> dict[str, SharedCheck]:
    return {f"c{i}": SharedCheck(f"c{i}", CHECK, placement) for i in range(n)}


def _owners(checks: dict[str, SharedCheck], nodes: list[str]) -> dict[str, str]:
    return assign(checks, nodes)


def test_a_probe_stops_a_margin_before_the_lease_can_expire() -> None:
    """The deadline is the renewal's send time plus the TTL less a fifth: the server stamped
    the expiry after the send, so nobody can claim before the holder has stopped."""
    assert probe_deadline(100, TTL) == 100 + 8 * SECOND
    assert heartbeat_every(TTL) == TTL // 3
    assert FleetConfig().effective_lease_ttl == DEFAULT_LEASE_TTL == TTL


@pytest.mark.parametrize(("checks", "nodes"), [(6, 3), (7, 3), (4000, 4), (5000, 20)])
def test_every_node_gets_its_fair_share(checks: int, nodes: int) -> None:
    """No node is given more than ceil(checks / nodes), so the load is as even as it can be."""
    names = [f"n{i}" for i in range(nodes)]
    counts = Counter(_owners(_checks(checks), names).values())
    assert sum(counts.values()) == checks
    assert max(counts.values()) == -(-checks // nodes)
    assert min(counts.values()) >= checks // nodes - 1


@pytest.mark.parametrize("change", ["join", "leave"])
def test_a_node_joining_or_leaving_moves_only_its_share(change: str) -> None:
    """Only the checks the changed node gains or loses move; no other check changes hands."""
    checks = _checks(3000)
    before_nodes, after_nodes = ["a", "b", "c"], ["a", "b", "c", "d"]
    if change == "leave":
        before_nodes, after_nodes = after_nodes, before_nodes
    before, after = _owners(checks, before_nodes), _owners(checks, after_nodes)
    moved = [name for name in checks if before[name] != after[name]]
    share = 750  # a quarter: what d gains or loses
    assert share <= len(moved) <= share * 1.05
    assert sum("d" not in (before[name], after[name]) for name in moved) <= share * 0.05


def test_placement_restricts_the_preferred_node() -> None:
    """A check placed on some nodes is preferred only by those; none live: no owner."""
    check = SharedCheck("x", CHECK, ("b", "c"))
    assert preferred_node(check, ["a", "b", "c"]) in ("b", "c")
    assert preferred_node(check, ["a"]) is None
    assert assign({"x": check}, ["a"]) == {}
    placed = _checks(30, ("b", "c"))
    assert set(assign(placed, ["a", "b", "c"]).values()) == {"b", "c"}
    assert not check.may_run_on("a")
    assert check.target_name == "check/x"


def test_free_checks_are_claimed_by_their_preferred_node_only() -> None:
    """Each unowned check is claimed by exactly one of the live nodes."""
    checks = _checks(50)
    rows = [LeaseRow(name, None, 0) for name in checks]
    claims = {node: set(plan(node, checks, rows, ["a", "b", "c"], TTL, ()).claim)
              for node in "abc"}
    for x, y in itertools.combinations(claims.values(), 2):
        assert not x & y
    assert set().union(*claims.values()) == set(checks)


def test_a_check_left_unowned_too_long_is_claimed_by_anyone_eligible() -> None:
    """A lease expired for longer than a heartbeat is taken by any node that may run it, so
    differing views of the live set never strand a check."""
    checks = _checks(20)
    rows = [LeaseRow(name, "dead", heartbeat_every(TTL)) for name in checks]
    assert set(plan("a", checks, rows, ["a", "b"], TTL, ()).claim) == set(checks)
    fresh = [LeaseRow(name, "dead", 0) for name in checks]
    assert set(plan("a", checks, fresh, ["a", "b"], TTL, ()).claim) < set(checks)


def test_leases_held_elsewhere_or_by_an_earlier_run_are_left_until_they_expire() -> None:
    """A valid lease of another node, or under our name but not held by this run, is not
    claimed."""
    checks = _checks(10)
    rows = [LeaseRow(name, owner, -SECOND) for name in checks for owner in ("a", "b")]
    decided = plan("a", checks, rows, ["a", "b"], TTL, ())
    assert decided.claim == ()
    assert decided.hand_off == ()


def test_an_owner_hands_off_what_another_live_node_now_prefers() -> None:
    """When a node joins, the owner offers it the checks it now prefers and keeps probing;
    the new node claims exactly those, and the owner does not offer them twice."""
    checks = _checks(40)
    rows = [LeaseRow(name, "a", -SECOND) for name in checks]
    decided = plan("a", checks, rows, ["a", "b"], TTL, set(checks))
    wanted_by_b = {n for n, owner in assign(checks, ["a", "b"]).items() if owner == "b"}
    assert len(wanted_by_b) == 20
    assert {name for name, to in decided.hand_off} == wanted_by_b
    assert all(to == "b" for _, to in decided.hand_off)
    offered = [LeaseRow(r.name, "a", -SECOND, "b" if r.name in wanted_by_b else None)
               for r in rows]
    assert set(plan("b", checks, offered, ["a", "b"], TTL, ()).claim) == wanted_by_b
    again = plan("a", checks, offered, ["a", "b"], TTL, set(checks))
    assert again.hand_off == ()
    assert set(again.keep_handoff) == wanted_by_b


def test_a_node_never_claims_a_check_placed_elsewhere() -> None:
    """Placement holds even for a stranded check."""
    checks = _checks(5, placement=("b",))
    rows = [LeaseRow(name, None, 10 * TTL) for name in checks]
    assert plan("a", checks, rows, ["a", "b"], TTL, ()).claim == ()
    assert set(plan("b", checks, rows, ["a", "b"], TTL, ()).claim) == set(checks)
