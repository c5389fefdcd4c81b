"""Prometheus metrics of one app: HTTP requests and latencies, rows served, lake reads and read-through
fetches, source errors and lineage recording. Series of a source carry its `tenant` as a label, so a
tenant's view (`tenant_view`) shows its own sources only."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

METRICS_SCOPE = "metrics:all"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rows_served = Counter("datahub_rows_served", "Grid rows answered", ["endpoint"], registry=r)
        self.cells_served = Counter("datahub_cells_served", "Grid cells answered (rows x series)", registry=r)
        self.read_through = Counter(
            "datahub_read_through_fetches", "Days fetched from a source because the lake lacked them",
            ["tenant", "source"], registry=r)
        self.lake_hits = Counter(
            "datahub_lake_partition_hits", "Daily partitions served from the lake (read-through not needed)",
            ["tenant", "source"], registry=r)
        self.source_errors = Counter("datahub_source_errors", "Failed source reads", ["tenant", "source"],
                                     registry=r)
        self.source_busy = Counter("datahub_source_busy", "Fetches refused: the source's queue was full",
                                   ["tenant", "source"], registry=r)
        self.cache_lookups = Counter("datahub_partition_cache_lookups",
                                     "Closed-day partitions looked up in the in-memory cache", ["result"], registry=r)
        self.exports = Counter("datahub_exports", "Exports produced", ["format"], registry=r)
        self.lineage_events = Counter("datahub_lineage_events", "Materialization events recorded", registry=r)
        self.lineage_failures = Counter("datahub_lineage_failures", "Events that could not be recorded", registry=r)
        self.lineage_dropped = Counter("datahub_lineage_dropped", "Records dropped: queue full", registry=r)


class _TenantView(Collector):
    """The registry's metrics without the samples labelled with another tenant."""

    def __init__(self, registry: CollectorRegistry, tenant: str) -> None:
        self.registry, self.tenant = registry, tenant

    def collect(self) -> Iterable[Metric]:
        for metric in self.registry.collect():
            samples = [s for s in metric.samples if s.labels.get("tenant", self.tenant) == self.tenant]
            kept = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            kept.samples = samples
            yield kept


def tenant_view(registry: CollectorRegistry, tenant: str) -> CollectorRegistry:
    view = CollectorRegistry(auto_describe=False)
    view.register(_TenantView(registry, tenant))
    return view
