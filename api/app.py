"""The API application factory (`uvicorn --factory api.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api.routes import health


def create_app(resources: dict[str, Any] | None = None) -> FastAPI:
    """Build the app; the lifespan loads the catalog and resources once (or takes `resources` as given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        from api.state import load_state

        async with load_state(resources) as state:
            yield state

    app = FastAPI(title="DataHub", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    return app
