"""The Apprise destination: one URL, sent on a bounded set of daemon threads, never on the loop.

Apprise's plugins are blocking (requests, smtplib). Each send builds a fresh plugin in its
thread, with its connect and read timeouts cut to the send's own timeout. One send per
destination is in flight: when an attempt was abandoned at its deadline and its thread still
runs (a server that trickles bytes resets the read timeout), the next attempt waits for it,
so a hung destination holds one thread and delays only its own queue.
"""

from __future__ import annotations

import asyncio
from functools import partial

from vigil.exceptions import NotifyError
from vigil.notify import Message
from vigil.notify.threads import SendThreads
from vigil.notify.urls import load_plugin, mask_url, scheme_only

SEND_TIMEOUT_S = 10.0  # per attempt; the dispatcher's deadline on the clock is the same


class AppriseNotifier:
    """``Notifier`` for one Apprise URL."""

    def __init__(self, url: str, threads: SendThreads, *,
                 timeout_s: float = SEND_TIMEOUT_S) -> None:
        self._url = url
        self._threads = threads
        self._timeout_s = timeout_s
        self._in_flight: asyncio.Future[bool] | None = None
        # Apprise's privacy form once a thread has loaded Apprise (its first import takes
        # half a second: never on the loop); until then the scheme alone.
        self.name = scheme_only(url)

    @property
    def in_flight(self) -> asyncio.Future[bool] | None:
        """The last attempt's thread, while it runs."""
        future = self._in_flight
        return future if future is not None and not future.done() else None

    async def send(self, message: Message) -> None:
        if (running := self.in_flight) is not None:
            await asyncio.wait([running])  # the last attempt's thread still runs
        self._in_flight = await self._threads.submit(partial(self._send, message))
        if not await asyncio.shield(self._in_flight):
            raise NotifyError("not delivered (Apprise's log line above says why)")

    def _send(self, message: Message) -> bool:
        """In the thread: the plugin, its timeouts, the send."""
        self.name = mask_url(self._url).partition("?")[0]  # Apprise's options: noise here
        try:
            plugin = load_plugin(self._url)
        except ValueError as error:
            raise NotifyError(str(error)) from None
        plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, self._timeout_s)
        plugin.socket_read_timeout = min(plugin.socket_read_timeout, self._timeout_s)
        return bool(plugin.notify(body=message.body, title=message.title,
                                  notify_type=message.severity))
