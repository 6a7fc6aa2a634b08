"""The HTTP probes' connector: aiohttp's, with connections that leave no reference cycle.

CPython 3.11's selector transport keeps a bound method of itself (``_read_ready_cb``) after
its connection is lost, so every closed connection is cyclic garbage (the transport, its
``__dict__``, the method, two socket objects) that only the garbage collector can free. At
1,000 fresh-connection probes/s that is 5,000 objects/s of work for the collector, and those
caught in flight by a young pass are promoted to the old generation, whose full passes then
come sooner and walk every live object: the 0.1-0.7 s stalls that made the p99 lateness
(bench/README.md, "lateness tail"). Dropping the reference once the connection is lost lets
reference counting free it at once.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler


class _ProbeResponseHandler(ResponseHandler):
    # aiohttp forgets the transport when it closes it, before the loss is reported
    _own_transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._own_transport = transport
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        transport, self._own_transport = self._own_transport, None
        super().connection_lost(exc)
        # Only the plain selector transport has it; it is never called once the connection
        # is lost (closing removed the reader), so clearing it is safe.
        if getattr(transport, "_read_ready_cb", None) is not None:
            transport._read_ready_cb = None


def _response_handler(loop: asyncio.AbstractEventLoop) -> ResponseHandler:
    return _ProbeResponseHandler(loop)


def probe_connector() -> aiohttp.TCPConnector:
    """No pool (a fresh connection per request), no limit but the probes' own, no DNS
    cache; connections free themselves when closed."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0, ttl_dns_cache=None)
    # aiohttp has no public hook for the protocol; if its private factory ever changes
    # shape, probes keep working and only the collector does more work.
    factory: Any = getattr(connector, "_factory", None)
    if isinstance(factory, functools.partial) and factory.func is ResponseHandler:
        loop: asyncio.AbstractEventLoop = factory.keywords.get("loop") or asyncio.get_running_loop()
        connector._factory = functools.partial(_response_handler, loop=loop)
    return connector
