"""httpx (vigil.dockerd.client) against aiodocker on the same engine: CPU of this process per
inspect call, and per exec (create, start, read output, inspect), in one run, as a ratio.

    DOCKER_HOST=unix:///path/docker.sock .venv/bin/python bench/docker_client.py CONTAINER

aiodocker is not a dependency: install it where Python finds it to compare (e.g.
``pip install --target /tmp/aiod aiodocker`` and ``PYTHONPATH=/tmp/aiod``); without it only
httpx is measured.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

from vigil.dockerd.client import DockerClient

INSPECTS = 300
EXECS = 20


async def _cpu_per_call(call: Callable[[], Awaitable[object]], count: int) -> float:
    await call()  # warm: connection, version negotiation
    start = time.process_time()
    for _ in range(count):
        await call()
    return (time.process_time() - start) / count * 1000


async def _httpx(container: str) -> tuple[float, float]:
    async with DockerClient() as client:
        async def execute() -> None:
            exec_id = await client.exec_create(container, ["true"])
            [piece async for piece in client.exec_start(exec_id)]
            await client.exec_inspect(exec_id)
        return (await _cpu_per_call(lambda: client.inspect(container), INSPECTS),
                await _cpu_per_call(execute, EXECS))


async def _aiodocker(container: str) -> tuple[float, float] | None:
    try:
        import aiodocker  # type: ignore[import-not-found]
    except ImportError:
        return None
    docker = aiodocker.Docker(url=os.environ["DOCKER_HOST"])
    try:
        handle = await docker.containers.get(container)

        async def execute() -> None:
            run = await handle.exec(["true"])
            async with run.start(detach=False) as stream:
                while await stream.read_out() is not None:
                    pass
            await run.inspect()
        return (await _cpu_per_call(lambda: docker.containers.get(container), INSPECTS),
                await _cpu_per_call(execute, EXECS))
    finally:
        await docker.close()


def main() -> None:
    container = sys.argv[1]
    inspect_ms, exec_ms = asyncio.run(_httpx(container))
    print(f"httpx     inspect {inspect_ms:.2f} ms CPU/call, exec {exec_ms:.2f} ms CPU/probe")
    other = asyncio.run(_aiodocker(container))
    if other is None:
        print("aiodocker not installed: nothing to compare")
        return
    print(f"aiodocker inspect {other[0]:.2f} ms CPU/call, exec {other[1]:.2f} ms CPU/probe")
    print(f"ratio httpx/aiodocker: inspect {inspect_ms / other[0]:.2f}, "
          f"exec {exec_ms / other[1]:.2f}")


if __name__ == "__main__":
    main()
