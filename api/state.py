"""What the API holds for its lifetime: the catalog, the built resources and the Dagster instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import dagster as dg

from resources.catalog import load_catalog
from resources.registry import make_resources
from resources.settings import Settings


@asynccontextmanager
async def load_state(given: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
    """Lifespan state: `catalog`, `resources` (built, `${VAR}`s resolved), `instance`."""
    if given is not None:
        yield given
        return
    settings = Settings()
    catalog = load_catalog(settings.catalog)
    with dg.build_resources(make_resources(catalog, settings)) as built, dg.DagsterInstance.get() as instance:
        yield {"catalog": catalog, "resources": built, "instance": instance}
