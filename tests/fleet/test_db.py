"""The fleet's statements against the real PostgreSQL (127.0.0.1:5432, a fresh schema per
test): migrations, the node registry, claims under SKIP LOCKED, and fencing: a stale epoch's
renewal and health write change nothing. Expiry is forced by moving ``expires_at`` back,
so nothing waits on the clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tests.postgres import URL

from vigil.exceptions import StoreError
from vigil.fleet.db import FleetBusy, FleetDb
from vigil.go.duration import SECOND

TTL = 10 * SECOND
SPEC: dict[str, object] = {"test": ["TCP", "127.0.0.1:1"], "placement": "any"}


@pytest.fixture
def db(schema: str) -> Iterator[FleetDb]:
    first = FleetDb(f"{URL}?schema={schema}", io_timeout_s=10)
    first.migrate()
    yield first
    first.close()


_opened: list[FleetDb] = []


def _other(schema: str) -> FleetDb:
    """Another agent's connection; closed after the test."""
    db = FleetDb(f"{URL}?schema={schema}", io_timeout_s=10)
    _opened.append(db)
    return db


@pytest.fixture(autouse=True)
def _close_others() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def _sql(schema: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cursor = conn.execute(statement, args)
        return cursor.fetchall() if cursor.description else []


def _expire(schema: str, *names: str) -> None:
    _sql(schema, "UPDATE checks SET expires_at = now() - interval '1 hour' "
                 "WHERE name = ANY(%s)", list(names))


def test_migrations_run_once_even_when_agents_start_together(schema: str) -> None:
    """Eight agents migrating at once: one creates the tables, the rest find them."""
    found: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        db = _other(schema)
        try:
            found.append(db.migrate())
        except BaseException as e:
            errors.append(e)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(found) == [0] + [1] * 7
    assert _sql(schema, "SELECT version FROM fleet_version") == [(1,)]


def test_a_newer_schema_is_refused_untouched(db: FleetDb, schema: str) -> None:
    _sql(schema, "UPDATE fleet_version SET version = 99")
    with pytest.raises(StoreError, match="version 99, newer"):
        _other(schema).migrate()


def test_a_live_node_name_cannot_be_taken_twice(db: FleetDb, schema: str) -> None:
    """A second agent under a live node's name is refused; once the first left (or its
    heartbeat is older than its TTL) the name is free again."""
    assert db.register("n1", "inc-a", TTL, "unix:///a", "0.1.0")
    assert not db.register("n1", "inc-b", TTL, "unix:///b", "0.1.0")
    assert db.register("n1", "inc-a", TTL, "unix:///a", "0.1.0")  # the same run again
    db.leave("n1", "inc-a", {})
    assert db.register("n1", "inc-b", TTL, "unix:///b", "0.1.0")
    assert db.heartbeat("n1", "inc-a", {}, TTL) is None  # the old run is told
    _sql(schema, "UPDATE nodes SET heartbeat_at = now() - interval '1 hour'")
    assert db.register("n1", "inc-c", TTL, "", "")


def test_each_check_is_claimed_once_and_every_claim_bumps_the_epoch(
        db: FleetDb, schema: str) -> None:
    """Two agents claiming the same checks get disjoint sets; a takeover after expiry bumps
    the epoch again."""
    db.define({f"c{i}": SPEC for i in range(20)})
    other = _other(schema)
    names = [f"c{i}" for i in range(20)]
    got_a = db.claim("a", names, TTL)
    got_b = other.claim("b", names, TTL)
    assert {c.name for c in got_a} == set(names)
    assert got_b == []
    assert {c.epoch for c in got_a} == {1}
    _expire(schema, "c0")
    retaken = other.claim("b", names, TTL)
    assert [(c.name, c.epoch) for c in retaken] == [("c0", 2)]


def test_claims_racing_on_locked_rows_skip_them(db: FleetDb, schema: str) -> None:
    """A row another transaction holds locked is skipped, not waited for."""
    import psycopg

    db.define({"x": SPEC, "y": SPEC})
    with psycopg.connect(URL) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("SELECT 1 FROM checks WHERE name = 'x' FOR UPDATE")
        got = db.claim("a", ["x", "y"], TTL)
        conn.rollback()
    assert [c.name for c in got] == ["y"]


def test_a_stale_owner_is_fenced_off(db: FleetDb, schema: str) -> None:
    """After a takeover the old owner's renewal and health write change nothing, and it
    learns which were refused; the new owner's go through."""
    assert db.register("a", "ia", TTL, "", "")
    assert db.register("b", "ib", TTL, "", "")
    db.define({"x": SPEC})
    (first,) = db.claim("a", ["x"], TTL)
    assert db.write_health("a", {"x": (first.epoch, {"Status": "healthy"})}) == set()
    _expire(schema, "x")
    other = _other(schema)
    (second,) = other.claim("b", ["x"], TTL)
    assert second.epoch == first.epoch + 1
    assert second.health == {"Status": "healthy"}  # health moves with the check
    late = db.write_health("a", {"x": (first.epoch, {"Status": "unhealthy"})})
    assert late == {"x"}
    overview = db.heartbeat("a", "ia", {"x": first.epoch}, TTL)
    assert overview is not None
    assert overview.renewed == frozenset()
    assert other.write_health("b", {"x": (second.epoch, {"Status": "starting"})}) == set()
    assert _sql(schema, "SELECT owner, epoch, health->>'Status', health_epoch FROM checks") \
        == [("b", second.epoch, "starting", second.epoch)]


def test_a_handed_off_check_goes_only_to_its_new_node(db: FleetDb, schema: str) -> None:
    """The owner offers a valid lease to b: c cannot take it, b can, with a new epoch."""
    db.define({"x": SPEC})
    (held,) = db.claim("a", ["x"], TTL)
    db.hand_off("a", {"x": (held.epoch, "b")})
    assert _other(schema).claim("c", ["x"], TTL) == []
    (taken,) = _other(schema).claim("b", ["x"], TTL)
    assert taken.epoch == held.epoch + 1
    assert _sql(schema, "SELECT owner, handoff_to FROM checks") == [("b", None)]


def test_heartbeat_reads_the_fleet(db: FleetDb, schema: str) -> None:
    """Live nodes (heartbeat within their TTL, not left) and every lease with its age."""
    for node in ("a", "b", "c"):
        assert db.register(node, f"i{node}", TTL, "", "")
    _sql(schema, "UPDATE nodes SET heartbeat_at = now() - interval '1 minute' WHERE name='c'")
    db.leave("b", "ib", {})
    db.define({"x": SPEC, "y": SPEC})
    (x,) = db.claim("a", ["x"], TTL)
    overview = db.heartbeat("a", "ia", {"x": x.epoch}, TTL)
    assert overview is not None
    assert overview.live == ["a"]
    assert overview.renewed == {"x"}
    rows = {row.name: row for row in overview.leases}
    assert rows["x"].owner == "a"
    assert not rows["x"].free
    assert rows["y"].owner is None
    assert rows["y"].free
    assert set(overview.revisions) == {"x", "y"}


def test_a_redefined_check_gets_a_new_revision(db: FleetDb) -> None:
    db.define({"x": SPEC})
    db.define({"x": SPEC})
    assert db.specs(["x"])["x"][0] == 1
    db.define({"x": {**SPEC, "interval": "5s"}})
    assert db.specs(["x"])["x"] == (2, {**SPEC, "interval": "5s"})


def test_leaving_releases_the_leases_for_others_at_once(db: FleetDb, schema: str) -> None:
    assert db.register("a", "ia", TTL, "", "")
    db.define({"x": SPEC})
    (x,) = db.claim("a", ["x"], TTL)
    db.leave("a", "ia", {"x": x.epoch})
    (taken,) = _other(schema).claim("b", ["x"], TTL)
    assert taken.epoch == x.epoch + 1


def test_a_released_lease_is_free_at_once_and_only_its_holder_can_release(
        db: FleetDb, schema: str) -> None:
    """``release`` names the epoch: a stale holder's release changes nothing."""
    db.define({"x": SPEC})
    (x,) = db.claim("a", ["x"], TTL)
    db.release("b", {"x": x.epoch})  # not the owner
    db.release("a", {"x": x.epoch - 1})  # a stale epoch
    assert _sql(schema, "SELECT owner FROM checks") == [("a",)]
    db.release("a", {"x": x.epoch})
    (again,) = _other(schema).claim("b", ["x"], TTL)
    assert again.epoch == x.epoch + 1


def test_agents_defining_the_same_checks_at_once_all_succeed(db: FleetDb, schema: str) -> None:
    """Issue 11: agents started together each define the same checks. Each lists them in
    its own order here (the worst case): none deadlocks or fails, every check is stored
    once, and nothing changed, so no revision moved."""
    import random

    names = [f"c{i:04d}" for i in range(1000)]
    errors: list[BaseException] = []
    agents = 8
    barrier = threading.Barrier(agents, timeout=60)

    def run(seed: int) -> None:
        order = list(names)
        random.Random(seed).shuffle(order)
        mine = _other(schema)
        try:
            barrier.wait()
            mine.define({name: SPEC for name in order})
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert _sql(schema, "SELECT count(*), min(revision), max(revision) FROM checks") \
        == [(len(names), 1, 1)]


def test_defining_unchanged_checks_waits_on_no_lease_being_renewed(
        db: FleetDb, schema: str) -> None:
    """A starting agent's definition takes no lock on a row it does not change, so it
    neither waits on nor blocks the running agents renewing or claiming those leases (a
    row locked here, as a renewal holds it, for longer than the definer's I/O timeout)."""
    import psycopg

    specs = {f"c{i}": SPEC for i in range(50)}
    db.define(specs)
    starting = FleetDb(f"{URL}?schema={schema}", io_timeout_s=2)
    _opened.append(starting)
    with psycopg.connect(URL) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("SELECT 1 FROM checks FOR UPDATE")  # a renewal in progress
        starting.define(specs)  # returns at once; the old upsert waited here and failed
        starting.define({**specs, "new": SPEC})  # a new check goes in meanwhile too
        conn.rollback()
    assert _sql(schema, "SELECT count(*), max(revision) FROM checks") == [(51, 1)]


def test_definitions_that_disagree_leave_the_last_one_with_a_new_revision(
        db: FleetDb, schema: str) -> None:
    """Two agents with different specs for the same checks: each write is whole, the last
    one wins, and each change bumps the revision."""
    db.define({"x": SPEC, "y": SPEC})
    _other(schema).define({"y": {**SPEC, "interval": "5s"}, "x": {**SPEC, "interval": "5s"}})
    assert db.specs(["x", "y"]) == {"x": (2, {**SPEC, "interval": "5s"}),
                                    "y": (2, {**SPEC, "interval": "5s"})}
    db.define({"x": SPEC})
    assert db.specs(["x", "y"]) == {"x": (3, SPEC), "y": (2, {**SPEC, "interval": "5s"})}


def test_a_definition_that_lost_a_race_is_tried_again(
        db: FleetDb, schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deadlock or serialization failure in ``define`` is retried (it is idempotent); a
    lost connection is left to the agent, which retries the whole step."""
    from vigil.fleet import db as fleet_db

    real = FleetDb._session
    raised: list[FleetBusy] = []

    def losing_once(self: FleetDb, timeout_s: float | None = None) -> Any:
        if not raised:
            raised.append(FleetBusy("fleet database: deadlock detected", conflict=True))
            raise raised[0]
        return real(self, timeout_s)

    monkeypatch.setattr(fleet_db.FleetDb, "_session", losing_once)
    db.define({"x": SPEC})
    assert len(raised) == 1
    assert db.specs(["x"]) == {"x": (1, SPEC)}

    def lost(self: FleetDb, timeout_s: float | None = None) -> Any:
        raise FleetBusy("fleet database: server closed the connection unexpectedly")

    monkeypatch.setattr(fleet_db.FleetDb, "_session", lost)
    with pytest.raises(FleetBusy, match="server closed"):
        db.define({"x": SPEC})
