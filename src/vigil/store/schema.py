"""The history schema, versioned: migration N brings a store from version N-1 to N.

One text for SQLite and PostgreSQL (``{seq}`` is the key type: SQLite's ``INTEGER PRIMARY
KEY`` is the rowid itself, PostgreSQL's is ``BIGINT``), so both backends keep the same
shape. A backend runs ``pending(version)`` in one transaction on start and records the new
version in ``vigil_schema``; a store newer than this vigil is refused, never altered.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: targets, events, probe results
        "CREATE TABLE targets (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "created_ns BIGINT NOT NULL)",
        "CREATE TABLE events (seq {seq} PRIMARY KEY, target_id TEXT NOT NULL, "
        "target_name TEXT NOT NULL, time_ns BIGINT NOT NULL, kind TEXT NOT NULL, "
        "data TEXT NOT NULL)",
        "CREATE INDEX events_time ON events (time_ns, seq)",
        "CREATE TABLE results (seq {seq} PRIMARY KEY, target_id TEXT NOT NULL, "
        "target_name TEXT NOT NULL, time_ns BIGINT NOT NULL, start_ns BIGINT NOT NULL, "
        "end_ns BIGINT NOT NULL, exit_code BIGINT NOT NULL, output TEXT NOT NULL, "
        "outcome TEXT NOT NULL, status TEXT NOT NULL, failing_streak BIGINT NOT NULL)",
        # exit_code too: uptime over a week (result_counts) is read from the index alone
        "CREATE INDEX results_target_time ON results (target_id, time_ns, exit_code)",
        "CREATE INDEX results_time ON results (time_ns, seq)",
    ),
)
VERSION = len(MIGRATIONS)
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS vigil_schema (version INTEGER NOT NULL)"


def pending(version: int, *, seq_type: str) -> list[str]:
    """The statements that bring a store at ``version`` to ``VERSION``; ValueError for a
    store written by a newer vigil."""
    if version > VERSION:
        raise ValueError(f"schema version {version} is newer than this vigil's ({VERSION}); "
                         "upgrade vigil or use another store")
    return [s.format(seq=seq_type) for step in MIGRATIONS[version:] for s in step]


__all__ = ["MIGRATIONS", "VERSION", "VERSION_TABLE", "pending"]
