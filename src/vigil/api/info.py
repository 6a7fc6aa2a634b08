"""``GET /info``: the daemon's own state, like Docker's ``SystemInfo``: how many services,
where history is kept, and ``Warnings`` (the history store's problem when its writes fail,
and in fleet mode the fleet store's: the daemon never loses state silently)."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at run time.

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from vigil.api.errors import DockerJSONResponse, error_responses
from vigil.api.params import ManagerDep
from vigil.api.schemas import Shape
from vigil.store import DurableStore, StateStore, redact

router = APIRouter(default_response_class=DockerJSONResponse)


class StoreInfo(Shape):
    Driver: str = Field(description="memory, sqlite or postgres")
    Location: str = Field(description="The file or server (password hidden); empty in memory")
    Problem: str = Field(description="Why history is not being kept as it should, or empty")


class InfoResponse(Shape):
    Services: int
    Store: StoreInfo
    Warnings: list[str]


def store_info(store: StateStore) -> dict[str, str]:
    durable = store if isinstance(store, DurableStore) else None
    return {
        "Driver": type(store).__module__.rpartition(".")[2],
        "Location": redact(durable.location) if durable is not None else "",
        "Problem": (durable.problem or "") if durable is not None else "",
    }


@router.get(
    "/info",
    operation_id="SystemInfo",
    response_model=InfoResponse,
    responses=error_responses(500),
)
async def info(request: Request, manager: ManagerDep) -> Any:
    store = store_info(manager.engine.store)
    warnings = [f"history store: {store['Problem']}"] if store["Problem"] else []
    fleet = getattr(request.app.state, "fleet", None)  # fleet mode: the node's own store too
    if fleet is not None and (problem := fleet.problem()):
        warnings.append(f"fleet store: {problem}")
    return {"Services": len(manager.names()), "Store": store, "Warnings": warnings}


__all__ = ["InfoResponse", "router", "store_info"]
