"""The Apprise destination: one URL, sent from a bounded thread pool, never on the loop.

Apprise's plugins are blocking (requests, smtplib). Each send builds a fresh plugin in a
worker thread (a send abandoned at its timeout may still run there, so two sends never share
one), with its connect and read timeouts cut to the send's own timeout: a thread is never
held much longer than that by a destination that does not answer.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor, ThreadPoolExecutor

from vigil.exceptions import NotifyError
from vigil.notify import Message
from vigil.notify.urls import load_plugin, mask_url

POOL_THREADS = 4  # sends in flight at once, all destinations together
SEND_TIMEOUT_S = 10.0  # per attempt; the dispatcher's deadline on the clock is the same


def notify_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="vigil-notify")


class AppriseNotifier:
    """``Notifier`` for one Apprise URL."""

    def __init__(self, url: str, executor: Executor, *, timeout_s: float = SEND_TIMEOUT_S):
        self._url = url
        self._executor = executor
        self._timeout_s = timeout_s
        self.name = mask_url(url)

    async def send(self, message: Message) -> None:
        loop = asyncio.get_running_loop()
        delivered = await loop.run_in_executor(self._executor, self._send, message)
        if not delivered:
            raise NotifyError(f"{self.name}: not delivered (see the apprise log lines)")

    def _send(self, message: Message) -> bool:
        try:
            plugin = load_plugin(self._url)
        except ValueError as error:
            raise NotifyError(f"{self.name}: {error}") from None
        plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, self._timeout_s)
        plugin.socket_read_timeout = min(plugin.socket_read_timeout, self._timeout_s)
        return bool(plugin.notify(body=message.body, title=message.title,
                                  notify_type=message.severity))
