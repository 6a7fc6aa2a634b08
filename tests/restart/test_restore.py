"""What a daemon restart brings back, in memory with a FakeClock: records kept up to date by
the manager, the same IDs by name, the user's intent, moby's restart-on-daemon-start rule,
orphans and records that no longer load."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from vigil.compose.project import parse_service
from vigil.compose.render import service_to_dict
from vigil.core.config import (
    Dependency,
    HealthcheckConfig,
    ProjectConfig,
    RestartPolicy,
    ServiceConfig,
)
from vigil.core.events import TargetRef
from vigil.core.lifecycle import parse_restart_policy
from vigil.daemon.manager import Manager
from vigil.daemon.restore import restore, starts_on_daemon_start
from vigil.go.duration import MILLISECOND, SECOND
from vigil.runtime.engine import Engine
from vigil.store import ORIGIN_API, ORIGIN_FILE, ServiceRecord, TargetRecord
from vigil.store.files import FileServiceStore
from vigil.store.memory import MemoryServiceStore
from vigil.testing import FakeClock


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def project(*services: ServiceConfig) -> ProjectConfig:
    return ProjectConfig({s.name: s for s in services})


def daemon(store: FileServiceStore) -> tuple[Manager, list[ServiceRecord]]:
    """A manager as ``vigil up`` wires one on ``store``, with what the store holds."""
    records, problems = store.load_services()
    assert problems == []
    clock = FakeClock()
    manager = Manager(clock=clock, engine=Engine(clock=clock), services=store, known=records)
    return manager, records


def record(policy: str = "no", *, stopped: bool = False, started: bool = True,
           exit_code: int = 0, restart_count: int = 0) -> ServiceRecord:
    return ServiceRecord(TargetRecord(TargetRef("1" * 64, "web"), 1), {}, stopped=stopped,
                         started=started, exit_code=exit_code, restart_count=restart_count)


@pytest.mark.parametrize(
    ("policy", "fields", "in_file", "starts"),
    [
        ("no", {}, True, True),  # vigil up brings the file up
        ("no", {"started": False}, True, True),
        ("no", {"stopped": True}, True, False),  # ... except what the user stopped
        ("always", {"stopped": True}, True, True),  # always: even that (moby)
        ("unless-stopped", {"stopped": True}, True, False),
        ("no", {}, False, False),  # run -d: the restart policy decides
        ("always", {"started": False}, False, False),  # moby: HasBeenStartedBefore
        ("always", {"stopped": True, "exit_code": 0}, False, True),
        ("unless-stopped", {"exit_code": 143}, False, True),
        ("unless-stopped", {"stopped": True}, False, False),
        ("on-failure", {"exit_code": 0}, False, False),
        ("on-failure", {"exit_code": 143}, False, True),  # stopped by the daemon's shutdown
        ("on-failure", {"exit_code": 1, "stopped": True}, False, True),  # moby ignores it
        ("on-failure:2", {"exit_code": 1, "restart_count": 2}, False, False),
        ("on-failure:2", {"exit_code": 1, "restart_count": 1}, False, True),
    ],
)
def test_which_services_start_when_the_daemon_starts(
    policy: str, fields: dict[str, Any], in_file: bool, starts: bool
) -> None:
    """compose up for the file's services the user did not stop; moby's restore rule
    (``ShouldRestart`` with the last exit and ``HasBeenManuallyStopped``) for the others."""
    restart = parse_restart_policy(policy)
    assert starts_on_daemon_start(record(**fields), restart, in_file=in_file) is starts


def test_a_stored_config_loads_back_equal() -> None:
    """The record's config (vigil.yaml's normal form) recreates the service exactly."""
    service = ServiceConfig(
        name="web", command=("sh", "-c", "echo 'a b' \"$X\""), environment={"X": "1", "E": ""},
        working_dir="/tmp", user="1000:1000", shell=("/bin/bash", "-c"),
        healthcheck=HealthcheckConfig(test=("CMD-SHELL", "true"), interval=1500 * MILLISECOND,
                                      timeout=SECOND, start_period=SECOND,
                                      start_interval=10 * MILLISECOND, retries=4),
        restart=RestartPolicy("on-failure", 3), stop_signal="SIGINT",
        stop_grace_period=2 * SECOND,
        depends_on={"db": Dependency("service_healthy", required=False)},
    )
    loaded = parse_service("web", service_to_dict(service), path="services.web", environ={})
    assert loaded == service


def test_records_follow_the_service_and_a_restart_keeps_ids_and_intent(tmp_path: Path) -> None:
    """Each lifecycle moment is saved; the next daemon gives the file's services and the API's
    their IDs back, keeps what the user stopped stopped and starts the rest."""
    store = FileServiceStore(tmp_path)
    web, idle = ServiceConfig(name="web"), ServiceConfig(name="idle")
    job = ServiceConfig(name="job", restart=RestartPolicy("unless-stopped"))

    async def first() -> dict[str, str]:
        manager, records = daemon(store)
        assert restore(manager, project(web, idle), records) == ["web", "idle"]
        ids = {"job": manager.create(job)}
        await manager.up(["web", "idle", "job"])
        assert [manager.record(n).started for n in ("web", "idle", "job")] == [True] * 3
        await manager.stop("idle")
        assert manager.record("idle").stopped is True
        ids.update({name: manager.lookup(name).id for name in ("web", "idle")})
        await manager.down()
        return ids

    async def second(ids: dict[str, str]) -> None:
        manager, records = daemon(store)
        assert {r.name: r.origin for r in records} == {
            "web": ORIGIN_FILE, "idle": ORIGIN_FILE, "job": ORIGIN_API}
        assert restore(manager, project(web, idle), records) == ["web", "job"]
        assert {name: manager.lookup(name).id for name in ids} == ids
        await manager.start("idle")
        assert manager.record("idle").stopped is False
        await manager.down()

    ids = asyncio.run(first())
    asyncio.run(second(ids))


def test_remove_deletes_the_record_and_the_logs(tmp_path: Path) -> None:
    """``rm`` leaves no file of the service behind, and the next daemon does not bring it
    back."""
    store = FileServiceStore(tmp_path)

    async def scenario() -> None:
        manager, _ = daemon(store)
        target_id = manager.create(ServiceConfig(name="job"))
        manager.log("job").append("stdout", b"hello\n", 0)
        assert (store.services_dir / target_id).is_dir()
        await manager.remove("job")
        assert list(store.services_dir.iterdir()) == []
        await manager.down()

    run(scenario)
    assert store.load_services() == ([], [])


def test_an_orphan_is_kept_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A service gone from vigil.yaml while the daemon was down keeps its ID and logs, is not
    started by ``up`` (its restart policy decides) and is named in one warning."""
    store = FileServiceStore(tmp_path)

    async def scenario() -> None:
        manager, records = daemon(store)
        restore(manager, project(ServiceConfig(name="web"), ServiceConfig(name="old")), records)
        await manager.up()
        old = manager.lookup("old").id
        await manager.down()
        manager, records = daemon(store)
        with caplog.at_level(logging.WARNING, logger="vigil"):
            assert restore(manager, project(ServiceConfig(name="web")), records) == ["web"]
        assert manager.lookup("old").id == old
        assert [r.message for r in caplog.records] == [
            "Found orphan services (old) for this project. If you removed or renamed them "
            "in your vigil.yaml, you can remove them with `vigil rm`."]
        await manager.down()

    run(scenario)


def test_a_stored_config_that_no_longer_loads_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A record whose config this vigil refuses is named in one error line, not restored,
    and left on disk; the other services come back."""
    store = FileServiceStore(tmp_path)
    bad = ServiceRecord(TargetRecord(TargetRef("2" * 64, "bad"), 1),
                        {"healthcheck": {"interval": "-1s"}}, started=True)
    store.save_service(bad)

    async def scenario() -> None:
        manager, records = daemon(store)
        with caplog.at_level(logging.ERROR, logger="vigil"):
            assert restore(manager, project(ServiceConfig(name="web")), records) == ["web"]
        assert manager.names() == ["web"]
        [line] = [r.message for r in caplog.records]
        assert line.startswith(f"service bad ({bad.id}): stored config refused, not restored: ")
        assert "interval" in line
        await manager.down()

    run(scenario)
    assert (store.services_dir / bad.id / "service.json").exists()


def test_an_orphan_whose_dependency_is_gone_stays_down_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A kept service depending on one removed meanwhile is not started (one error line);
    the others still are."""
    store = FileServiceStore(tmp_path)
    lonely = ServiceRecord(TargetRecord(TargetRef("3" * 64, "lonely"), 1),
                           {"depends_on": {"gone": {"condition": "service_started"}},
                            "restart": "always"}, started=True)
    store.save_service(lonely)

    async def scenario() -> None:
        manager, records = daemon(store)
        with caplog.at_level(logging.ERROR, logger="vigil"):
            names = restore(manager, project(ServiceConfig(name="web")), records)
        assert names == ["web"]
        assert [r.message for r in caplog.records] == [
            'service lonely: not started: it depends on undefined service "gone"']
        assert await manager.up(names) == []
        assert manager.view("web").status == "running"
        assert manager.view("lonely").status == "created"
        await manager.down()

    run(scenario)


class FullDisk(MemoryServiceStore):
    def save_service(self, record: ServiceRecord) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_record_that_cannot_be_saved_breaks_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk costs the restart its knowledge of the change, said in one line per
    failed save; the service itself is created, started and stopped as usual."""

    async def scenario() -> None:
        clock = FakeClock()
        manager = Manager(clock=clock, engine=Engine(clock=clock), services=FullDisk(tmp_path))
        with caplog.at_level(logging.ERROR, logger="vigil"):
            manager.create(ServiceConfig(name="web"))
            await manager.start("web")
            await manager.stop("web")
        assert manager.view("web").status == "exited"
        assert len(caplog.records) >= 3
        assert {r.message for r in caplog.records} == {
            "service web: its record could not be saved, a restart of the daemon will not "
            "see this change: No space left on device"}
        await manager.down()

    run(scenario)
