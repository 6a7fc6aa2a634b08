"""The history schema (``vigil.store.schema``, shared with SQLite) in a PostgreSQL schema of
its own, migrated on start: in one transaction under an advisory lock, so daemons starting
at once against one database apply each migration exactly once and wait for each other
(PostgreSQL's DDL is transactional). Several daemons (issue 11's fleet) keep their histories
side by side, one schema each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vigil.exceptions import StoreError
from vigil.store.schema import VERSION, VERSION_TABLE, pending

if TYPE_CHECKING:
    import psycopg

NAME_MAX = 63  # NAMEDATALEN - 1: longer names are cut by the server, silently
DEFAULT_SCHEMA = "vigil"
# Settings a user made on purpose (the URL's options, ALTER ROLE/DATABASE ... SET), not the
# server's default "$user", public.
_CHOSEN = ("client", "user", "database", "database user")


def check_schema(schema: str) -> None:
    if not schema or len(schema.encode("utf-8", "surrogatepass")) > NAME_MAX \
            or "\x00" in schema:
        raise StoreError(f"store schema {schema!r}: must be 1 to {NAME_MAX} bytes, no NUL")


def first_schema(search_path: str, user_schema_exists: bool, user: str) -> str | None:
    """The schema a ``search_path`` setting creates tables in, even one that does not exist
    yet (``current_schema()`` skips those): its first entry, ``"$user"`` only when that
    schema exists."""
    for raw in search_path.split(","):  # a name with a comma in it is not worth the parser
        name = raw.strip()
        if name.startswith('"') and name.endswith('"') and len(name) > 1:
            name = name[1:-1].replace('""', '"')
        else:
            name = name.lower()
        if not name or name.startswith("pg_"):
            continue
        if name == "$user":
            if user_schema_exists:
                return user
            continue
        return name
    return None


def chosen_schema(conn: psycopg.Connection[Any]) -> str:
    """The first schema of a ``search_path`` the user set (``options=-csearch_path=...``,
    a role or database setting), else ``vigil``."""
    row = conn.execute(
        "SELECT setting, source, current_user, "
        "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = current_user) "
        "FROM pg_settings WHERE name = 'search_path'").fetchone()
    if row is None or str(row[1]) not in _CHOSEN:
        return DEFAULT_SCHEMA
    schema = first_schema(str(row[0]), bool(row[3]), str(row[2])) or DEFAULT_SCHEMA
    check_schema(schema)
    return schema


def migrate(conn: psycopg.Connection[Any], schema: str) -> int:
    """Create ``schema`` if needed and bring its tables to ``schema.VERSION``; returns the
    version found. A schema written by a newer vigil is refused, untouched."""
    from psycopg import sql

    ident = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                     (f"vigil.store:{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
        conn.execute(VERSION_TABLE)
        row = conn.execute("SELECT max(version) FROM vigil_schema").fetchone()
        found = int(row[0] or 0) if row else 0
        try:
            steps = pending(found, seq_type="BIGINT")
        except ValueError as e:
            raise StoreError(f"store schema {schema!r}: {e}") from None
        for statement in steps:
            conn.execute(statement.encode())
        if steps:
            conn.execute("DELETE FROM vigil_schema")
            conn.execute("INSERT INTO vigil_schema (version) VALUES (%s)", (VERSION,))
    return found


def run_migrations(conn: psycopg.Connection[Any], schema: str, *, lock: str,
                   version_table: str, steps: list[list[str]]) -> int:
    """Bring ``schema`` to ``len(steps)`` with versioned ``steps`` (each a list of
    statements), in one transaction under the advisory lock ``lock``, as ``migrate`` does for
    the history tables; returns the version found. A newer version is refused, untouched."""
    from psycopg import sql

    ident = sql.Identifier(schema)
    table = sql.Identifier(schema, version_table)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL)")
                     .format(table))
        row = conn.execute(sql.SQL("SELECT max(version) FROM {}").format(table)).fetchone()
        found = int(row[0] or 0) if row else 0
        if found > len(steps):
            raise StoreError(f"schema {schema!r} is at version {found}, newer than this "
                             f"vigil knows ({len(steps)}): upgrade vigil")
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
        for step in steps[found:]:
            for statement in step:
                conn.execute(statement.encode())
        if found < len(steps):
            conn.execute(sql.SQL("DELETE FROM {}").format(table))
            conn.execute(sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table),
                         (len(steps),))
    return found
