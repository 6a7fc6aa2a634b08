"""``on_unhealthy`` and ``hooks`` in the API's create body: taken as in vigil.yaml, refused
with the same path-prefixed problems."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from vigil.core.remediation import RemediationPolicy

if TYPE_CHECKING:
    from conftest import Api, ApiFactory


def scenario(factory: ApiFactory, body: Callable[[Api], Awaitable[None]]) -> None:
    async def main() -> None:
        async with factory() as api:
            await body(api)

    asyncio.run(main())


def test_create_takes_on_unhealthy_and_hooks(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        entry = {
            "command": ["sleep", "1000"],
            "on_unhealthy": {"action": "restart", "max_restarts": 2, "window": "1m"},
            "hooks": {"on_unhealthy": "echo down", "timeout": "2s"},
        }
        await api.create("web", entry)
        config = api.manager.lookup("web").config
        assert config.on_unhealthy == RemediationPolicy("restart", 2, 60 * 10**9)
        assert config.hooks.on_unhealthy == ("CMD-SHELL", "echo down")

    scenario(api_factory, body)


def test_create_refuses_bad_remediation_with_every_problem(api_factory: ApiFactory) -> None:
    async def body(api: Api) -> None:
        entry = {"on_unhealthy": "restart", "hooks": {"on_healthy": ["SHELL", "x"], "y": 1}}
        answer = await api.client.post("/services/create?name=web", json=entry)
        assert answer.status_code == 400
        assert answer.json()["message"].split("\n") == [
            'services.web.hooks.on_healthy: must start with "CMD" or "CMD-SHELL", not "SHELL"',
            "services.web.hooks: Additional property y is not allowed",
            'services.web.on_unhealthy: "restart" needs a command: vigil only watches this '
            "service (run something on it with hooks.on_unhealthy instead)",
        ]
        assert api.manager.names() == []

    scenario(api_factory, body)
