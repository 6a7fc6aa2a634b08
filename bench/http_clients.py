"""aiohttp against httpx for what an HTTP probe does: fresh-connection GETs to a local server.

    python bench/http_clients.py [--seconds 5] [--concurrency 32] [--rounds 3]

Each client sends GETs with ``Connection: close`` and a new connection each time (aiohttp: a
``TCPConnector(force_close=True)``; httpx: ``Limits(max_keepalive_connections=0)``),
``--concurrency`` at once, for ``--seconds`` per client, in interleaved rounds (machine noise
hits both alike). Printed: requests/s and CPU per request of this process for each, and the
ratio. The server runs in its own process (bench/http_server.py).
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import httpx
from netbench import drive, local_http_server


async def _aiohttp(url: str, seconds: float, concurrency: int) -> tuple[int, float, float]:
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get() -> None:
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200, response.status

        return await drive(get, seconds, concurrency)


async def _httpx(url: str, seconds: float, concurrency: int) -> tuple[int, float, float]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits) as client:

        async def get() -> None:
            response = await client.get(url, headers={"Connection": "close"})
            assert response.status_code == 200, response.status_code

        return await drive(get, seconds, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seconds = min(max(args.seconds, 0.5), 60.0) / max(args.rounds, 1)
    totals = {"aiohttp": [0, 0.0, 0.0], "httpx": [0, 0.0, 0.0]}
    with local_http_server() as port:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(max(args.rounds, 1)):
            for name, run in (("aiohttp", _aiohttp), ("httpx", _httpx)):
                done, wall, cpu = asyncio.run(run(url, seconds, args.concurrency))
                total = totals[name]
                total[0] += done
                total[1] += wall
                total[2] += cpu
    rates = {}
    for name, (done, wall, cpu) in totals.items():
        rates[name] = done / wall
        print(f"{name:8} {done / wall:8.0f} req/s  {cpu / done * 1e3:.3f} ms CPU/req  "
              f"({done} requests)")
    print(f"aiohttp / httpx: {rates['aiohttp'] / rates['httpx']:.2f}x")


if __name__ == "__main__":
    main()
