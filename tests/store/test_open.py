"""Choosing and opening the history store: ``open_store`` by URL, and ``vigil up`` refusing
a store it cannot use with one line saying why (a daemon never runs with history it would
silently not keep)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.exceptions import StoreError
from vigil.store import open_store, redact
from vigil.store.memory import MemoryStore
from vigil.store.sqlite import SqliteStore


def test_urls_pick_the_backend_and_the_file(tmp_path: Path) -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    for url, where in [
        ("", tmp_path / "vigil.db"),
        ("sqlite", tmp_path / "vigil.db"),
        ("history.db", tmp_path / "history.db"),
        ("sqlite:other.db", tmp_path / "other.db"),
        (f"sqlite://{tmp_path}/abs.db", tmp_path / "abs.db"),
        (str(tmp_path / "plain.db"), tmp_path / "plain.db"),
    ]:
        store = open_store(url, state_dir=tmp_path)
        assert isinstance(store, SqliteStore), url
        assert store.path == where, url
        assert (where.stat().st_mode & 0o777) == 0o600
        store.close()


def test_bad_urls_and_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown scheme 'mysql'"):
        open_store("mysql://root:secret@db/x", state_dir=tmp_path)
    with pytest.raises(StoreError) as caught:
        open_store("mysql://root:secret@db/x", state_dir=tmp_path)
    assert "secret" not in str(caught.value)
    with pytest.raises(StoreError, match="needs a state directory"):
        open_store("relative.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, not at all" * 100)
    with pytest.raises(StoreError, match=f"store {garbage}: cannot open: file is not a database"):
        open_store(str(garbage))


def test_a_store_written_by_a_newer_vigil_is_refused_not_altered(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE vigil_schema SET version = 99")
    with pytest.raises(StoreError, match="schema version 99 is newer than this vigil's"):
        SqliteStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM vigil_schema").fetchone() == (99,)


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://vigil:s3cret@db:5432/h") == "postgresql://vigil:***@db:5432/h"
    assert redact("postgresql://vigil@db/h") == "postgresql://vigil@db/h"
    assert redact("/var/lib/vigil/vigil.db") == "/var/lib/vigil/vigil.db"


def test_vigil_up_refuses_a_store_it_cannot_use(tmp_path: Path) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text("services: {}\n")
    env = {"VIGIL_HOST": f"unix://{tmp_path}/vigil.sock", "VIGIL_STORE": ""}
    base = ["up", "-f", str(config), "--state-dir", str(tmp_path / "state")]
    runner = CliRunner()
    both = runner.invoke(cli, [*base, "--ephemeral", "--store", "x.db"], env=env)
    assert both.exit_code == 1
    assert "--ephemeral and --store cannot be combined" in both.output
    bad = runner.invoke(cli, [*base, "--store", "redis://h"], env=env)
    assert bad.exit_code == 1
    assert "Error: store redis://h: unknown scheme 'redis'" in bad.output
    config.write_text("store: redis://h\n")
    loaded = runner.invoke(cli, base, env=env)
    assert loaded.exit_code == 1
    assert "store: unknown store scheme 'redis'" in loaded.output
