"""Notifications as the daemon runs them: the thread pool, the dispatcher and the subscriber,
with each service's settings read from its current config.

A service's URLs are the daemon-wide ones (top-level ``notify:``, ``vigil up --notify``)
followed by its own ``notify:``, each once. Its ``notify_flap`` keys override the top-level
``notify_flap`` keys one by one. On shutdown what is queued gets ``DRAIN_NS`` to go out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from vigil.core.config import ProjectConfig, ServiceConfig
from vigil.core.events import TargetRef
from vigil.core.notify import FlapPolicy, merged_urls
from vigil.exceptions import VigilError
from vigil.notify import Notifier
from vigil.notify.apprise_notifier import AppriseNotifier
from vigil.notify.dispatch import Dispatcher
from vigil.notify.subscriber import Settings, SettingsFor, StatusNotifier
from vigil.notify.threads import SendThreads
from vigil.runtime.clock import Clock
from vigil.runtime.engine import Engine
from vigil.runtime.stream import EventStream

DRAIN_NS = 5 * 1_000_000_000


def settings_for(
    project: ProjectConfig, config_of: Callable[[str], ServiceConfig | None]
) -> SettingsFor:
    """Each service's ``Settings`` from its config (looked up by name when needed, so a
    service created over the API counts too) and the daemon-wide ones in ``project``."""
    daemon_flap = project.notify_flap or FlapPolicy()

    def settings(target: TargetRef) -> Settings | None:
        service = config_of(target.name)
        own = service.notify if service is not None else ()
        urls = merged_urls(project.notify, own)
        if not urls:
            return None
        flap = service.notify_flap if service is not None else None
        return Settings(urls, flap.over(daemon_flap) if flap else daemon_flap)

    return settings


class Notifications:
    """The running parts; ``make`` builds a destination's notifier (Apprise by default)."""

    def __init__(self, stream: EventStream, clock: Clock, settings: SettingsFor,
                 make: Callable[[str], Notifier] | None = None) -> None:
        self._clock = clock
        self.threads = SendThreads()

        def apprise(url: str) -> Notifier:
            return AppriseNotifier(url, self.threads)

        self.dispatcher = Dispatcher(make or apprise, clock)
        self.subscriber = StatusNotifier(stream, clock, self.dispatcher, settings)

    def start(self) -> None:
        self.subscriber.start()

    async def aclose(self, drain_ns: int = DRAIN_NS) -> None:
        """Stop listening, give queued messages ``drain_ns`` to go out, then stop."""
        await self.subscriber.aclose()
        await self.dispatcher.drain(drain_ns)
        await self.dispatcher.aclose()  # a thread still in a send ends with the process


class _Services(Protocol):
    def lookup(self, ref: str) -> _Entry: ...


class _Entry(Protocol):
    @property
    def config(self) -> ServiceConfig: ...


def start_notifications(
    engine: Engine, clock: Clock, project: ProjectConfig, services: _Services
) -> Notifications:
    """Notifications for the daemon's ``services`` (its manager: a service's config is looked
    up by name, so one created over the API counts), started."""

    def config_of(name: str) -> ServiceConfig | None:
        try:
            return services.lookup(name).config
        except VigilError:  # gone, or being removed
            return None

    notifications = Notifications(engine.stream, clock, settings_for(project, config_of))
    notifications.start()
    return notifications
