"""``create_app``: the daemon's API (Docker Engine API style) over a ``Manager``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI

from vigil import __version__
from vigil.api import fleet as fleet_routes
from vigil.api import history, info, services, system
from vigil.api import metrics as metrics_routes
from vigil.api.budget import ApiBudget, Budgeted
from vigil.api.errors import add_error_handlers
from vigil.api.guard import BodyLimit, BrowserGuard, LastResort
from vigil.api.params import Backend
from vigil.api.streams import OpenStreams
from vigil.daemon.manager import Manager
from vigil.metrics import EngineMetrics

if TYPE_CHECKING:
    from vigil.api.fleet import Fleet


def create_app(
    manager: Manager,
    *,
    on_down: Callable[[], None] | None = None,
    budget: ApiBudget | None = None,
    metrics: EngineMetrics | None = None,
    fleet: Fleet | None = None,
) -> FastAPI:
    """The API over ``manager``. ``on_down`` is called after ``POST /down`` has answered.
    With a ``budget``, requests wait their turn for their share of the loop (the daemon's).
    ``metrics`` are served at ``/metrics`` (default: new ones of the manager's engine).
    ``fleet``: the fleet's view (``/fleet`` routes), None when not in fleet mode."""
    app = FastAPI(
        title="vigil",
        version=__version__,
        description="Docker's HEALTHCHECK model for local processes: the daemon's API.",
        openapi_url=None,  # served by the documented ``OpenAPI`` route instead
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.backend = Backend(manager, OpenStreams(), on_down)
    app.state.budget = budget
    app.state.metrics = metrics if metrics is not None else EngineMetrics(manager.engine)
    if budget is not None:
        app.add_middleware(Budgeted, budget=budget)
    add_error_handlers(app)
    # The last added is the outermost: LastResort sees what the others let through.
    app.add_middleware(BodyLimit)
    app.add_middleware(BrowserGuard)  # Origin only; serve() adds the Host check on TCP
    app.add_middleware(LastResort)
    app.include_router(system.router)
    app.include_router(services.router)
    app.include_router(metrics_routes.router)
    app.include_router(history.router)
    app.include_router(info.router)
    app.state.fleet = fleet
    app.include_router(fleet_routes.router)
    return app


def close_streams(app: object) -> None:
    """End every open stream and wait of an app made by ``create_app`` (server shutdown)."""
    backend = getattr(getattr(app, "state", None), "backend", None)
    if isinstance(backend, Backend):
        backend.streams.close_all()
