"""The API application factory (`uvicorn --factory api.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import dagster as dg
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_fastapi_instrumentator import Instrumentator

from api import errors
from api.metrics import Metrics
from api.routes import canvas, exports, health, materializations, series
from api.routes import catalog as catalog_routes
from api.state import load_state
from resources.catalog import Catalog
from resources.settings import Settings


def create_app(
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    instance: dg.DagsterInstance | None = None,
) -> FastAPI:
    """Build the app; the lifespan loads catalog and resources once (tests may hand in their own)."""

    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with load_state(metrics, settings, catalog, instance) as state:
            yield state

    # /docs and /redoc load their scripts and styles from this app (a package's copy), never from a CDN.
    app = FastAPIOffline(
        title="DataHub",
        version="0.1.0",
        description="Aligned time series on demand (a drop-in for the NKZ DataHub BFF contract).",
        lifespan=lifespan,
    )
    errors.install(app)
    Instrumentator(registry=metrics.registry, excluded_handlers=["/metrics"]).instrument(app)
    for module in (health, catalog_routes, series, exports, materializations, canvas):
        app.include_router(module.router)
    return app
