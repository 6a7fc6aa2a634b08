"""The daemon's state directory: one directory per service, like Docker's
``/var/lib/docker/containers/<id>/``.

::

    <state dir>/
      daemon.lock                 flock'ed by the running daemon; holds its pid
      services/<id>/service.json  the ServiceRecord (config, intent, last exit, live run)
      services/<id>/<id>-json.log the service's log (json-file), rotated ones beside it

Writes are atomic: a temporary file in the same directory, then a rename, so a crash leaves
the old record or the new one, never a torn one. Files are 0600, directories 0700. A record
that cannot be read (garbage, a hand edit) is reported in one line naming its file and left
in place; the other records still load.

Write policy: a record is written when it changes: the daemon creates the service, its
process starts or dies, the user starts, stops or kills it; never per probe, and not at all
when nothing changed. What must survive a power cut (identity, config, origin, the user's
intent) is made durable: fsync of the file before the rename and of the directory after it
(about 8 ms on this machine's disk). What a power cut makes moot (the live run,
the last exit: every process is gone then) is only renamed into place, which survives the
daemon's own crash (the page cache is the kernel's) at a fraction of the cost (~0.3 ms):
starts and exits of a restart loop never wait for the disk.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from vigil.core.events import TargetRef
from vigil.exceptions import StoreError
from vigil.store import ServiceRecord, TargetRecord

FORMAT_VERSION = 1
LOCK_FILE = "daemon.lock"
SERVICES_DIR = "services"
RECORD_FILE = "service.json"
JAILS_FILE = "jails"  # the cgroup parent of the running daemon's jails, if any
_ID = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_T = TypeVar("_T")


def log_file(services_dir: Path, target_id: str) -> Path:
    """Docker's ``<id>/<id>-json.log``."""
    return services_dir / target_id / f"{target_id}-json.log"


class FileServiceStore:
    """A ``ServiceStore`` on disk under ``state_dir``, locked for one daemon at a time."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.services_dir = state_dir / SERVICES_DIR
        self._lock_fd: int | None = None
        self._written: dict[str, ServiceRecord] = {}  # as on disk, by ID

    # -- the lock ------------------------------------------------------------------------

    def lock(self) -> None:
        """Take the state directory for this process; StoreError naming the directory (and
        the holder's pid) when another daemon has it."""
        try:
            _make_dir(self.state_dir)
            _make_dir(self.services_dir)
            fd = os.open(self.state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot use state directory {self.state_dir}: "
                             f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreError(f"cannot lock state directory {self.state_dir}: "
                                 f"{exc.strerror}") from None
            raise StoreError(
                f"state directory {self.state_dir} is in use by another vigil daemon "
                f"(pid {holder}); stop it first or pass another --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (the daemon's last step)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # -- the jails' cgroup parent: what a successor kills if this daemon is killed --------

    def previous_jails(self) -> str | None:
        """The cgroup parent the previous daemon recorded (None if none, or unreadable:
        StoreError says why)."""
        path = self.state_dir / JAILS_FILE
        try:
            return path.read_text().strip() or None
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"{path}: cannot read the previous daemon's cgroup: {exc}") from None

    def record_jails(self, parent: str | None) -> None:
        """Record this daemon's cgroup parent (None: it has none); StoreError if it cannot."""
        path = self.state_dir / JAILS_FILE
        try:
            if parent is None:
                path.unlink(missing_ok=True)
            else:
                _write_atomic(path, f"{parent}\n".encode(), durable=False)
        except OSError as exc:
            raise StoreError(f"{path}: cannot record this daemon's cgroup: {exc}") from None

    # -- records -------------------------------------------------------------------------

    def load_services(self) -> tuple[list[ServiceRecord], list[str]]:
        records: list[ServiceRecord] = []
        problems: list[str] = []
        try:
            entries = sorted(os.scandir(self.services_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return records, problems
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            path = Path(entry.path) / RECORD_FILE
            try:
                records.append(_decode(path.read_bytes(), entry.name))
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                problems.append(f"{path}: {reason}; left in place, service not restored")
        records.sort(key=lambda r: (r.target.created_ns, r.id))
        self._written = {record.id: record for record in records}
        return records, problems

    def save_service(self, record: ServiceRecord) -> None:
        before = self._written.get(record.id)
        if before == record:
            return
        directory = self.services_dir / record.id
        _make_dir(directory)
        durable = before is None or _lasting(before) != _lasting(record)
        _write_atomic(directory / RECORD_FILE, _encode(record), durable=durable)
        self._written[record.id] = record

    def remove_service(self, target_id: str) -> None:
        if _ID.fullmatch(target_id):  # never a path of the caller's making
            shutil.rmtree(self.services_dir / target_id, ignore_errors=True)
            self._written.pop(target_id, None)

    def log_path(self, target_id: str) -> Path:
        return log_file(self.services_dir, target_id)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _lasting(record: ServiceRecord) -> tuple[object, ...]:
    """The part of a record that must survive a power cut."""
    return (record.target, dict(record.config), record.origin, record.stopped)


def _write_atomic(path: Path, data: bytes, *, durable: bool) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if not durable:
        return
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def _encode(record: ServiceRecord) -> bytes:
    data = {
        "version": FORMAT_VERSION,
        "id": record.id,
        "name": record.name,
        "created_ns": record.target.created_ns,
        "origin": record.origin,
        "config": dict(record.config),
        "stopped": record.stopped,
        "started": record.started,
        "exit_code": record.exit_code,
        "restart_count": record.restart_count,
        "started_at_ns": record.started_at_ns,
        "finished_at_ns": record.finished_at_ns,
        "run": None if record.run is None else dict(record.run),
    }
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode()


def _decode(raw: bytes, directory_name: str) -> ServiceRecord:
    """A record, or ValueError saying what is wrong with the file."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a service record: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a service record: a JSON object was expected")
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"unknown format version {data.get('version')!r}")
    target_id = _field(data, "id", str)
    if not _ID.fullmatch(target_id) or target_id != directory_name:
        raise ValueError(f"id {target_id!r} does not match its directory")
    name = _field(data, "name", str)
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid service name {name!r}")
    run = data.get("run")
    if run is not None and not isinstance(run, dict):
        raise ValueError("invalid field 'run': an object or null was expected")
    return ServiceRecord(
        TargetRecord(TargetRef(target_id, name), _field(data, "created_ns", int)),
        _field(data, "config", dict),
        origin=_field(data, "origin", str),
        stopped=_field(data, "stopped", bool),
        started=_field(data, "started", bool),
        exit_code=_field(data, "exit_code", int),
        restart_count=_field(data, "restart_count", int),
        started_at_ns=_field(data, "started_at_ns", int),
        finished_at_ns=_field(data, "finished_at_ns", int),
        run=run,
    )


def _field(data: Mapping[str, Any], key: str, kind: type[_T]) -> _T:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"missing or invalid field {key!r}: {kind.__name__} expected")
    return value


__all__ = ["FileServiceStore", "log_file"]
