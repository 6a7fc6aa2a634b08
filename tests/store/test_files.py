"""The state directory: one record per service ID, atomic 0600 writes, a lock, and damaged
records reported by name while the others still load."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vigil.core.events import TargetRef
from vigil.exceptions import StoreError
from vigil.store import ORIGIN_FILE, ServiceRecord, ServiceStore, TargetRecord
from vigil.store.files import FileServiceStore
from vigil.store.memory import MemoryServiceStore


def record(digit: str, name: str, created_ns: int, **fields: Any) -> ServiceRecord:
    ref = TargetRef(digit * 64, name)
    config = fields.pop("config", {"command": ["sleep", "1"]})
    return ServiceRecord(TargetRecord(ref, created_ns), config, **fields)


def opened(tmp_path: Path) -> FileServiceStore:
    store = FileServiceStore(tmp_path / "state")
    store.lock()
    return store


def test_records_round_trip_in_creation_order(tmp_path: Path) -> None:
    """Every field comes back as saved, oldest service first, whatever the ID order."""
    store = opened(tmp_path)
    late = record("1", "web", 20, origin=ORIGIN_FILE, stopped=True, started=True, exit_code=143,
                  restart_count=2, run={"pid": 42, "starttime": 7, "token": "t"},
                  config={"command": ["sh", "-c", "é"], "environment": {"A": "1"}})
    early = record("2", "job", 10)
    store.save_service(late)
    store.save_service(early)
    records, problems = FileServiceStore(store.state_dir).load_services()
    assert problems == []
    assert records == [early, late]
    assert isinstance(store, ServiceStore)


def test_saving_again_replaces_atomically_with_private_modes(tmp_path: Path) -> None:
    """A second save replaces the record, leaves no temporary file, and files are 0600 in
    0700 directories."""
    store = opened(tmp_path)
    store.save_service(record("3", "web", 1))
    store.save_service(record("3", "web", 1, stopped=True))
    directory = store.services_dir / ("3" * 64)
    assert sorted(p.name for p in directory.iterdir()) == ["service.json"]
    assert store.load_services()[0][0].stopped is True
    assert stat.S_IMODE((directory / "service.json").stat().st_mode) == 0o600
    for path in (store.state_dir, store.services_dir, directory):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.state_dir / "daemon.lock").stat().st_mode) == 0o600


def test_only_what_must_survive_a_power_cut_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new record or a change of config or intent is fsynced (file and directory); a new
    run or exit is only renamed into place; an unchanged record is not written at all."""
    store = opened(tmp_path)
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append("rename") or real_replace(a, b))
    first = record("b", "web", 1)
    for changed, expected in (
        (first, ["fsync", "rename", "fsync"]),
        (replace(first, started=True, run={"pid": 1}), ["rename"]),
        (replace(first, started=True, run={"pid": 1}), []),
        (replace(first, started=True, exit_code=143), ["rename"]),
        (replace(first, stopped=True), ["fsync", "rename", "fsync"]),
        (replace(first, stopped=True, config={"command": ["true"]}),
         ["fsync", "rename", "fsync"]),
    ):
        calls.clear()
        store.save_service(changed)
        assert calls == expected, changed
    assert store.load_services()[0] == [replace(first, stopped=True, config={"command": ["true"]})]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"version": 1, "id": "', "not a service record"),  # torn write
        (b"\x00\xff garbage", "not a service record"),
        (b"[1, 2]", "a JSON object was expected"),
        (b'{"version": 9}', "unknown format version 9"),
        (b"", "not a service record"),
    ],
)
def test_a_damaged_record_is_named_and_the_others_still_load(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """Nothing is lost silently: the bad file is named in one line with why, left in
    place, and every other record loads."""
    store = opened(tmp_path)
    store.save_service(record("4", "web", 1))
    store.save_service(record("5", "db", 2))
    bad = store.services_dir / ("5" * 64) / "service.json"
    bad.write_bytes(content)
    records, problems = store.load_services()
    assert [r.name for r in records] == ["web"]
    assert len(problems) == 1
    assert problems[0].startswith(f"{bad}: ")
    assert reason in problems[0]
    assert "\n" not in problems[0]
    assert bad.read_bytes() == content


def test_a_record_with_a_wrong_field_is_refused(tmp_path: Path) -> None:
    """Field types, the ID matching its directory and the name are checked."""
    store = opened(tmp_path)
    good = record("6", "web", 1)
    store.save_service(good)
    path = store.services_dir / ("6" * 64) / "service.json"
    text = path.read_text()
    for broken, reason in (
        (text.replace('"created_ns": 1', '"created_ns": "1"'), "'created_ns': int expected"),
        (text.replace('"stopped": false', '"stopped": 0'), "'stopped': bool expected"),
        (text.replace('"name": "web"', '"name": "../x"'), "invalid service name '../x'"),
        (text.replace("6" * 64, "7" * 64), "does not match its directory"),
    ):
        path.write_text(broken)
        records, problems = store.load_services()
        assert records == []
        assert reason in problems[0], problems


def test_a_directory_without_a_record_is_reported(tmp_path: Path) -> None:
    """A service directory whose record is missing is named too (logs stay where they are)."""
    store = opened(tmp_path)
    (store.services_dir / ("8" * 64)).mkdir()
    records, problems = store.load_services()
    assert records == []
    assert "service.json: No such file or directory" in problems[0]


def test_remove_deletes_the_directory_logs_included(tmp_path: Path) -> None:
    """``rm`` leaves nothing behind: record, current and rotated logs."""
    store = opened(tmp_path)
    store.save_service(record("9", "web", 1))
    log = store.log_path("9" * 64)
    assert log == store.services_dir / ("9" * 64) / f"{'9' * 64}-json.log"
    log.write_text("{}\n")
    log.with_name(log.name + ".1").write_text("{}\n")
    store.remove_service("9" * 64)
    assert list(store.services_dir.iterdir()) == []
    store.remove_service("..")  # never a path of the caller's making
    assert store.state_dir.exists()


def test_a_second_daemon_cannot_take_the_directory(tmp_path: Path) -> None:
    """The lock refuses a second holder with one line naming the directory and the pid that
    holds it; closing releases it."""
    first = opened(tmp_path)
    second = FileServiceStore(first.state_dir)
    with pytest.raises(StoreError) as refused:
        second.lock()
    message = str(refused.value)
    assert str(first.state_dir) in message
    assert "in use by another vigil daemon (pid " in message
    assert "\n" not in message
    first.close()
    second.lock()
    second.close()


def test_the_memory_store_places_logs_the_same_way(tmp_path: Path) -> None:
    """Without a state directory, records live in memory and logs use the same layout."""
    store = MemoryServiceStore(tmp_path)
    kept = record("a", "web", 1)
    store.save_service(kept)
    store.log_path(kept.id).parent.mkdir()
    store.log_path(kept.id).write_text("{}\n")
    assert store.load_services() == ([kept], [])
    store.remove_service(kept.id)
    assert store.load_services() == ([], [])
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_state_directory_is_one_line(tmp_path: Path) -> None:
    """A state directory that cannot be created says so, naming it, without a traceback."""
    (tmp_path / "file").write_text("")
    store = FileServiceStore(tmp_path / "file" / "state")
    with pytest.raises(StoreError) as refused:
        store.lock()
    where = tmp_path / "file" / "state"
    assert str(refused.value) == f"cannot use state directory {where}: Not a directory"


def test_the_jails_parent_is_handed_to_the_next_daemon(tmp_path: Path) -> None:
    """What one daemon records (its cgroup parent) the next one reads; None clears it; an
    unreadable record is a StoreError naming the file."""
    store = FileServiceStore(tmp_path)
    store.lock()
    assert store.previous_jails() is None
    store.record_jails("/sys/fs/cgroup/unified/vigil-1-2")
    assert FileServiceStore(tmp_path).previous_jails() == "/sys/fs/cgroup/unified/vigil-1-2"
    assert stat.S_IMODE(os.stat(tmp_path / "jails").st_mode) == 0o600
    store.record_jails(None)
    assert store.previous_jails() is None
    (tmp_path / "jails").write_bytes(b"\xff")
    with pytest.raises(StoreError, match=r"jails: cannot read the previous daemon's cgroup"):
        store.previous_jails()
    store.close()
