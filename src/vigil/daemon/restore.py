"""Bringing back the services of an earlier daemon on the same state directory.

Which services start when ``vigil up`` starts:

- A service of ``vigil.yaml`` starts (``vigil up`` brings the file up, as ``compose up``
  does) unless the user stopped it (``stop`` or ``kill``) before the daemon went down.
- Every other service (created through the API with ``vigil run -d``, or stopped by the
  user) follows dockerd's rule on daemon start (moby ``daemon.restore``): it starts if it
  had been started before and its restart policy says so after its last exit with
  ``ShouldRestart(exitCode, HasBeenManuallyStopped)``: ``always`` always; ``unless-stopped``
  unless the user stopped it; ``on-failure[:N]`` if that exit was non-zero (a stop by the
  daemon's shutdown counts: 143 after SIGTERM) and fewer than N restarts happened; ``no``
  never.
- A service that came from ``vigil.yaml`` and is no longer in it (compose's *orphan*) is
  kept, with its ID and logs, and follows the second rule; one warning line names it, and
  ``vigil rm`` removes it.
"""

from __future__ import annotations

import logging

from vigil.compose.project import parse_service
from vigil.core.config import ProjectConfig, RestartPolicy
from vigil.core.lifecycle import RestartTracker, should_restart
from vigil.daemon.manager import Manager
from vigil.exceptions import ConfigError, InvalidParameterError
from vigil.store import ORIGIN_FILE, ServiceRecord

_log = logging.getLogger("vigil")
EXIT_UNKNOWN = 255  # moby's exit code for a container found dead after a daemon crash


def restore(manager: Manager, project: ProjectConfig, records: list[ServiceRecord]) -> list[str]:
    """Create the file's services and the earlier daemon's others; the names to start."""
    earlier = {record.name: record for record in records}
    to_start = []
    for config in project.services.values():
        record = earlier.pop(config.name, None)
        manager.create(config, origin=ORIGIN_FILE)
        if record is None or starts_on_daemon_start(record, config.restart, in_file=True):
            to_start.append(config.name)
    orphans = sorted(r.name for r in earlier.values() if r.origin == ORIGIN_FILE)
    if orphans:
        _log.warning(
            "Found orphan services (%s) for this project. If you removed or renamed them in "
            "your vigil.yaml, you can remove them with `vigil rm`.", " ".join(orphans))
    for record in earlier.values():
        try:
            config = parse_service(record.name, record.config, path=f"services.{record.name}",
                                   environ={})
            manager.create(config, origin=record.origin)
        except (ConfigError, InvalidParameterError) as error:
            _log.error("service %s (%s): stored config refused, not restored: %s",
                       record.name, record.id, str(error).replace("\n", "; "))
            continue
        if starts_on_daemon_start(record, config.restart, in_file=False):
            to_start.append(record.name)
    return _startable(manager, to_start)


def _startable(manager: Manager, names: list[str]) -> list[str]:
    """``names`` without those that depend, directly or not, on a service that no longer
    exists (an orphan whose dependency was removed): one error line each."""
    known = set(manager.names())
    result = []
    for name in names:
        missing = _missing_dependency(manager, name, known)
        if missing is None:
            result.append(name)
        else:
            _log.error('service %s: not started: it depends on undefined service "%s"',
                       name, missing)
    return result


def _missing_dependency(manager: Manager, name: str, known: set[str]) -> str | None:
    seen, pending = {name}, [name]
    while pending:
        for dependency in manager.lookup(pending.pop()).config.depends_on:
            if dependency not in known:
                return dependency
            if dependency not in seen:
                seen.add(dependency)
                pending.append(dependency)
    return None


def starts_on_daemon_start(record: ServiceRecord, policy: RestartPolicy, *, in_file: bool) -> bool:
    """The rule of the module docstring for one service."""
    if in_file and not record.stopped:
        return True
    if not record.started:
        return False  # moby: HasBeenStartedBefore
    tracker = RestartTracker(policy, restart_count=record.restart_count)
    decision = should_restart(tracker, exit_code=record.exit_code,
                              manually_stopped=record.stopped, uptime_ns=0)
    return decision.restart
