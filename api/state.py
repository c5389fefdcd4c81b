"""What the API holds for its lifetime: catalog, built resources, Dagster instance, read-through,
lineage writer and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio.to_thread
import dagster as dg

from api.auth import Authenticator
from api.lineage import LineageRecorder
from api.metrics import Metrics
from api.service import Context
from api.work import MemoryBudget
from datahub_assets.cache import PartitionCache
from datahub_assets.engine import kernels
from datahub_assets.window import ReadThrough, stored_events
from resources.catalog import Catalog, load_catalog
from resources.registry import EXPORTS, LAKE, make_resources
from resources.settings import Settings


@asynccontextmanager
async def load_state(
    metrics: Metrics,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    instance: dg.DagsterInstance | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Lifespan state: `context`, `resources`, `instance`, `lineage`, `metrics`. Given objects are used as
    they are (tests), the rest is built from the environment."""
    settings = settings or Settings()
    catalog = catalog or load_catalog(settings.catalog)
    kernels.warm()  # compiled or loaded before the first request, not during it
    async with AsyncExitStack() as stack:
        built = stack.enter_context(dg.build_resources(make_resources(catalog, settings)))
        if instance is None:
            instance = stack.enter_context(dg.DagsterInstance.get())
        lake = getattr(built, LAKE)
        lineage = LineageRecorder(instance, metrics, flush_seconds=settings.lineage_flush_seconds,
                                  maxsize=settings.lineage_queue_size)

        def labels(counter: Any, source: str) -> Any:
            return counter.labels(catalog.sources[source].tenant, source)

        through = ReadThrough(lake, catalog, built, max_days=settings.read_through_max_days,
                              max_waiting=settings.source_queue,
                              on_fetch=lambda source: labels(metrics.read_through, source).inc(),
                              on_error=lambda source: labels(metrics.source_errors, source).inc(),
                              on_busy=lambda source: labels(metrics.source_busy, source).inc(),
                              on_stored=lambda series, fetched, uri: lineage.record(
                                  stored_events(series, fetched, uri)),
                              on_lake_read=lambda source, n: labels(metrics.lake_hits, source).inc(n))
        # Blocking request work runs in AnyIO's thread pool; slow sources are bounded by their queues, so
        # a pool of this size leaves room for every other source and tenant.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        lineage.start()
        stack.callback(lineage.stop)
        context = Context(catalog=catalog, lake=lake, through=through, settings=settings, metrics=metrics,
                          budget=MemoryBudget(settings.max_bytes_in_flight), sources=built,
                          cache=PartitionCache(settings.partition_cache_bytes, on_lookup=lambda hit: metrics
                                               .cache_lookups.labels("hit" if hit else "miss").inc()))
        yield {"context": context, "resources": built, "exports": getattr(built, EXPORTS), "instance": instance,
               "lineage": lineage, "metrics": metrics, "auth": Authenticator.from_settings(settings)}
